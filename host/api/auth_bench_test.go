package api

import (
	"context"
	"testing"

	"github.com/wasmtask/wasmtask/host/token"
)

func benchServer(b *testing.B) (*Server, string) {
	s, err := New(context.Background(), Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	admin, _ := s.signer.Verify(s.AdminToken())
	raw, _, err := s.signer.Issue(admin, &token.Request{Containers: "acme", URL: "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		EncryptedContext: map[string]string{"secret": "abc!123"}, PublicContext: map[string]string{"p": "1"}})
	if err != nil {
		b.Fatal(err)
	}
	return s, raw
}

// BenchmarkAuthenticate_Cached is the per-request cost of a token seen
// before: cache lookup, validity window, revocation of the token and its
// ancestors.
func BenchmarkAuthenticate_Cached(b *testing.B) {
	s, raw := benchServer(b)
	_ = s.revoked.Revoke(&token.Claims{ID: "someone-else"}) // a non-empty revoked set
	rb := []byte(raw)
	if _, ae := s.authenticate(rb); ae != nil {
		b.Fatal(ae.msg)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ae := s.authenticate(rb); ae != nil {
			b.Fatal(ae.msg)
		}
	}
}

// BenchmarkAuthenticate_Cold is the cost of a token seen for the first time
// (or evicted): signature, claims, ten, ectx decryption, maps.
func BenchmarkAuthenticate_Cold(b *testing.B) {
	s, raw := benchServer(b)
	rb := []byte(raw)
	b.ReportAllocs()
	for b.Loop() {
		s.tokens.mu.Lock()
		delete(s.tokens.m, raw) // forget
		s.tokens.mu.Unlock()
		if _, ae := s.authenticate(rb); ae != nil {
			b.Fatal(ae.msg)
		}
	}
}

func TestAuthenticate_CachedAllocs(t *testing.T) {
	s, err := New(context.Background(), Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	raw := []byte(s.AdminToken())
	if _, ae := s.authenticate(raw); ae != nil {
		t.Fatal(ae.msg)
	}
	if n := testing.AllocsPerRun(100, func() { s.authenticate(raw) }); n != 0 {
		t.Fatalf("a cached token costs %v allocations per request", n)
	}
}
