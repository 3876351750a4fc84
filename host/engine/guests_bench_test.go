package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
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

// BenchmarkGuests_Restart is what a restart costs a webtask's first
// request, in process: a new engine on a cache directory that already
// holds the module's compiled code, then loading the module, a pool and
// one request — what happens after `wasmtask serve` restarts, without the
// HTTP around it. Sub-benchmarks per language and phase.
//
//	go test -run '^$' -bench Guests_Restart ./host/engine/
func BenchmarkGuests_Restart(b *testing.B) {
	for _, lang := range []string{"c", "rust", "assemblyscript"} {
		wasm, err := os.ReadFile(filepath.Join("..", "..", "guests", "build", lang, "hello.wasm"))
		if err != nil {
			b.Skipf("guests not built (make guests): %v", err)
		}
		cfg := Config{CacheDir: b.TempDir()}
		func() { // fill the cache
			e := newEngine(b, cfg)
			if _, err := e.Compile(context.Background(), wasm); err != nil {
				b.Fatal(err)
			}
			e.Close(context.Background())
		}()
		sha := SHA256(wasm)
		fetch := func() ([]byte, error) { return wasm, nil }
		req := &Request{Method: "GET", Path: "/", Container: "bench", Name: "hello", RequestID: "1"}
		for _, pol := range []struct {
			name   string
			policy Policy
		}{{"pool", PolicyPool}, {"fresh", PolicyFresh}} {
			b.Run(lang+"/"+pol.name, func(b *testing.B) {
				ctx := context.Background()
				var tNew, tLoad, tServe time.Duration
				for b.Loop() {
					t0 := time.Now()
					e, err := New(ctx, cfg)
					if err != nil {
						b.Fatal(err)
					}
					t1 := time.Now()
					mod, err := e.Load(ctx, sha, fetch)
					if err != nil {
						b.Fatal(err)
					}
					t2 := time.Now()
					p := e.NewPool(mod, "bench", "hello", pol.policy)
					resp := &Response{}
					if err := p.Serve(ctx, req, resp); err != nil || resp.Status != 200 {
						b.Fatalf("%v %d", err, resp.Status)
					}
					t3 := time.Now()
					tNew, tLoad, tServe = tNew+t1.Sub(t0), tLoad+t2.Sub(t1), tServe+t3.Sub(t2)
					p.Close(ctx)
					e.Close(ctx)
				}
				n := float64(b.N)
				b.ReportMetric(float64(tNew.Microseconds())/n, "new-µs/op")
				b.ReportMetric(float64(tLoad.Microseconds())/n, "load-µs/op")
				b.ReportMetric(float64(tServe.Microseconds())/n, "first-µs/op")
			})
		}
	}
}
