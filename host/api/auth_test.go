package api

import (
	"context"
	"strings"
	"testing"

	"github.com/wasmtask/wasmtask/host/token"
)

// FuzzAuthenticate feeds arbitrary credentials to the server's token check
// (cache, signature, claims, ten, ectx, revocation): never a panic, never a
// success for anything but a token the server issued.
func FuzzAuthenticate(f *testing.F) {
	s, err := New(context.Background(), Config{DataDir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(s.Close)
	admin, _ := s.signer.Verify(s.AdminToken())
	good, _, err := s.signer.Issue(admin, &token.Request{Containers: "/^a-[0-9]+$/", Code: "AGFzbQEAAAA=",
		EncryptedContext: map[string]string{"k": "v"}})
	if err != nil {
		f.Fatal(err)
	}
	valid := map[string]bool{good: true, s.AdminToken(): true}
	gc, _ := s.signer.Verify(good)
	ids := map[string]bool{gc.ID: true, admin.ID: true}
	f.Add(good)
	f.Add(s.AdminToken())
	f.Add(strings.ToUpper(good))
	f.Add(good + "x")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		at, ae := s.authenticate([]byte(raw))
		if ae != nil {
			if ae.status != 401 || ae.msg == "" {
				t.Fatalf("failure %d %q", ae.status, ae.msg)
			}
			return
		}
		if !valid[raw] {
			// Only base64 padding-bit variants of a valid token can verify;
			// they must carry exactly its claims.
			if !ids[at.c.ID] {
				t.Fatalf("forged token accepted: %+v", at.c)
			}
		}
		at.ten.Allows("a-1")
	})
}
