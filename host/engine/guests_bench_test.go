package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkGuests_Serve is one request of each language's hello (as make
// guests builds it) on a live instance (pool) and on an instance reset to
// its snapshot (fresh): the reset's cost per language, which grows with
// the pages a request writes, not the memory's size.
//
//	go test -run '^$' -bench Guests_Serve ./host/engine/
func BenchmarkGuests_Serve(b *testing.B) {
	for _, lang := range []string{"c", "rust", "assemblyscript", "go"} {
		wasm, err := os.ReadFile(filepath.Join("..", "..", "guests", "build", lang, "hello.wasm"))
		if err != nil {
			b.Skipf("guests not built (make guests): %v", err)
		}
		for _, pol := range []struct {
			name   string
			policy Policy
		}{{"pool", PolicyPool}, {"fresh", PolicyFresh}} {
			b.Run(lang+"/"+pol.name, func(b *testing.B) {
				e := newEngine(b, Config{})
				mod, err := e.Compile(context.Background(), wasm)
				if err != nil {
					b.Fatal(err)
				}
				p := e.NewPool(mod, "bench", "hello", pol.policy)
				defer p.Close(context.Background())
				if err := p.Warm(context.Background()); err != nil {
					b.Fatal(err)
				}
				req, resp := &Request{Method: "GET", Path: "/", Container: "bench", Name: "hello", RequestID: "1",
					Query: []KV{{"name", "Tomek"}}}, &Response{}
				b.ReportAllocs()
				for b.Loop() {
					resp.Reset()
					if err := p.Serve(context.Background(), req, resp); err != nil {
						b.Fatal(err)
					}
					if resp.Status != 200 {
						b.Fatalf("status %d %s", resp.Status, resp.Body)
					}
				}
			})
		}
	}
}
