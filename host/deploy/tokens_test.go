package deploy

import (
	"errors"
	"strings"
	"testing"

	"github.com/wasmtask/wasmtask/host/token"
)

// FuzzAuthenticate feeds arbitrary credentials to the token check (cache,
// signature, claims, ten, ectx, revocation): never a panic, never a success
// for anything but a token the server issued.
func FuzzAuthenticate(f *testing.F) {
	r := newTestRegistry(f, DefaultConfig())
	adminRaw, _ := r.signer.Sign(r.admin.Claims)
	good := r.issue(f, r.admin, &token.Request{Containers: "/^a-[0-9]+$/", Code: "AGFzbQEAAAA=",
		EncryptedContext: map[string]string{"k": "v"}})
	valid := map[string]bool{good: true, adminRaw: true}
	gc, _ := r.signer.Verify(good)
	ids := map[string]bool{gc.ID: true, r.admin.Claims.ID: true}
	for _, s := range []string{good, adminRaw, strings.ToUpper(good), good + "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := r.Authenticate([]byte(raw))
		if err != nil {
			if !errors.Is(err, ErrUnauthorized) || err.Error() == "" {
				t.Fatalf("failure %v", err)
			}
			return
		}
		if !valid[raw] && !ids[tok.Claims.ID] {
			// Only base64 padding-bit variants of a valid token can verify;
			// they must carry exactly its claims.
			t.Fatalf("forged token accepted: %+v", tok.Claims)
		}
		tok.Ten.Allows("a-1")
	})
}

func TestAuthenticate_CachedAllocs(t *testing.T) {
	r := newTestRegistry(t, DefaultConfig())
	raw := []byte(r.issue(t, r.admin, &token.Request{Containers: "acme"}))
	if _, err := r.Authenticate(raw); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = r.Authenticate(raw) }); n != 0 {
		t.Fatalf("a cached token costs %v allocations per request", n)
	}
}

func TestAuthenticate_Revoked(t *testing.T) {
	r := newTestRegistry(t, DefaultConfig())
	parent := r.issue(t, r.admin, &token.Request{Containers: "acme"})
	pt, err := r.Authenticate([]byte(parent))
	if err != nil {
		t.Fatal(err)
	}
	child := r.issue(t, pt, &token.Request{Containers: "acme"})
	if _, err := r.Authenticate([]byte(child)); err != nil {
		t.Fatal(err)
	}
	if err := r.Revoke(pt.Claims); err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{parent, child} {
		if _, err := r.Authenticate([]byte(raw)); !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "revoked") {
			t.Errorf("after revoking the parent: %v, want unauthorized (revoked)", err)
		}
	}
}

func benchToken(b *testing.B) (*testRegistry, []byte) {
	r := newTestRegistry(b, DefaultConfig())
	raw := r.issue(b, r.admin, &token.Request{Containers: "acme", URL: "sha256:" + strings.Repeat("0123456789abcdef", 4),
		EncryptedContext: map[string]string{"secret": "abc!123"}, PublicContext: map[string]string{"p": "1"}})
	return r, []byte(raw)
}

// BenchmarkAuthenticate_Cached is the per-request cost of a token seen
// before: cache lookup, validity window, revocation of the token and its
// ancestors.
func BenchmarkAuthenticate_Cached(b *testing.B) {
	r, raw := benchToken(b)
	_ = r.Revoke(&token.Claims{ID: "someone-else"}) // a non-empty revoked set
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Authenticate(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticate_Cold is the cost of a token seen for the first time
// (or evicted): signature, claims, ten, ectx decryption, maps.
func BenchmarkAuthenticate_Cold(b *testing.B) {
	r, raw := benchToken(b)
	b.ReportAllocs()
	for b.Loop() {
		r.tokens.mu.Lock()
		delete(r.tokens.m, string(raw)) // forget
		r.tokens.mu.Unlock()
		if _, err := r.Authenticate(raw); err != nil {
			b.Fatal(err)
		}
	}
}
