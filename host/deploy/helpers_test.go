package deploy

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/host/keys"
	"github.com/wasmtask/wasmtask/host/token"
	"github.com/wasmtask/wasmtask/store"
)

// testRegistry is a registry on a temporary bbolt store, with its engine
// and an admin token, closed when the test ends.
type testRegistry struct {
	*Registry
	st     *store.Bolt
	keys   *keys.Keys
	eng    *engine.Engine
	signer *token.Signer
	admin  *Token
}

func newTestRegistry(tb testing.TB, cfg Config) *testRegistry {
	tb.Helper()
	dir := tb.TempDir()
	st, err := store.Open(filepath.Join(dir, "wasmtask.db"))
	if err != nil {
		tb.Fatal(err)
	}
	k, _, err := keys.LoadOrCreate(dir)
	if err != nil {
		tb.Fatal(err)
	}
	eng, err := engine.New(context.Background(), engine.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	signer := token.NewSigner(k)
	r, err := New(st, eng, k, signer, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		r.Close()
		_ = eng.Close(context.Background())
		_ = st.Close()
	})
	raw, err := signer.Sign(&token.Claims{Depth: 10})
	if err != nil {
		tb.Fatal(err)
	}
	admin, err := r.Authenticate([]byte(raw))
	if err != nil {
		tb.Fatal(err)
	}
	return &testRegistry{Registry: r, st: st, keys: k, eng: eng, signer: signer, admin: admin}
}

// issue signs a token derived from parent with req's claims.
func (tr *testRegistry) issue(tb testing.TB, parent *Token, req *token.Request) string {
	tb.Helper()
	raw, _, err := tr.signer.Issue(parent.Claims, req)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}
