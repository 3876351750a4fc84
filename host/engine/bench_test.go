package engine_test

// Micro benchmarks of the engine's hot path, with allocation counts:
//
//	go test -run '^$' -bench . -benchmem ./host/engine/
//
// The guests are the WAT modules of bench/testdata (built by `make -C bench`,
// committed): hello.wasm answers a constant JSON body with one host call;
// hostcalls.wasm makes len(body) host calls of the kind len(path) selects.
// Whole-system figures (HTTP, cold start, scale, Extism) live in bench/.

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/wasmtask/wasmtask/host/engine"
)

// benchWasm reads a module of bench/testdata.
func benchWasm(b *testing.B, name string) []byte {
	b.Helper()
	wasm, err := os.ReadFile(filepath.Join("..", "..", "bench", "testdata", name+".wasm"))
	if err != nil {
		b.Skipf("bench/testdata/%s.wasm missing (make -C bench): %v", name, err)
	}
	return wasm
}

// benchPool compiles a bench module into a new engine and returns its pool.
func benchPool(b *testing.B, name string, policy engine.Policy) *engine.Pool {
	return benchPoolWith(b, engine.Config{}, name, policy)
}

func benchPoolWith(b *testing.B, cfg engine.Config, name string, policy engine.Policy) *engine.Pool {
	b.Helper()
	ctx := context.Background()
	e, err := engine.New(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Close(ctx) })
	mod, err := e.Compile(ctx, benchWasm(b, name))
	if err != nil {
		b.Fatal(err)
	}
	p := e.NewPool(mod, "bench", name, policy)
	if err := p.Warm(ctx); err != nil {
		b.Fatal(err)
	}
	return p
}

func benchRequest() *engine.Request {
	return &engine.Request{
		Method: "GET", Path: "/", Container: "bench", Name: "hello", RequestID: "1700000000000.1",
		Query: []engine.KV{{Key: "a", Value: "1"}},
		Headers: []engine.KV{{Key: "accept", Value: "*/*"}, {Key: "content-type", Value: "application/json"},
			{Key: "host", Value: "127.0.0.1:8080"}, {Key: "user-agent", Value: "fasthttp"}},
	}
}

const helloBody = `{"message":"hello, world"}`

// servePolicies are the ways a pool can serve: pooled (a live instance),
// fresh by resetting a used instance to its snapshot (the default), and
// fresh by instantiating a new module per request.
var servePolicies = []struct {
	name   string
	cfg    engine.Config
	policy engine.Policy
}{
	{"pool", engine.Config{}, engine.PolicyPool},
	{"fresh", engine.Config{}, engine.PolicyFresh},
	{"fresh-instantiate", engine.Config{FreshByInstantiate: true}, engine.PolicyFresh},
}

// BenchmarkPool_Serve is one request of the trivial guest: the ABI call and
// the response, on a live instance (pool), a reset one (fresh) or a new one
// (fresh-instantiate).
func BenchmarkPool_Serve(b *testing.B) {
	for _, sp := range servePolicies {
		b.Run(sp.name, func(b *testing.B) {
			p := benchPoolWith(b, sp.cfg, "hello", sp.policy)
			ctx := context.Background()
			req, resp := benchRequest(), &engine.Response{}
			b.ReportAllocs()
			for b.Loop() {
				resp.Reset()
				if err := p.Serve(ctx, req, resp); err != nil {
					b.Fatal(err)
				}
			}
			if string(resp.Body) != helloBody {
				b.Fatalf("body = %q", resp.Body)
			}
		})
	}
}

// BenchmarkPool_ServeParallel is BenchmarkPool_Serve from GOMAXPROCS goroutines
// sharing one pool.
func BenchmarkPool_ServeParallel(b *testing.B) {
	for _, sp := range servePolicies {
		b.Run(sp.name, func(b *testing.B) {
			p := benchPoolWith(b, sp.cfg, "hello", sp.policy)
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req, resp := benchRequest(), &engine.Response{}
				for pb.Next() {
					resp.Reset()
					if err := p.Serve(ctx, req, resp); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkHostCall is the cost of one ABI host call made by a live
// instance: each op is one request making 1000 calls, so ns/call includes
// 1/1000 of a pooled Serve (about 1-2 ns).
func BenchmarkHostCall(b *testing.B) {
	const calls = 1000
	body := make([]byte, calls)
	for _, tc := range []struct{ name, path string }{
		{"get_method", "/"},
		{"get_value_query", "/q"},
		{"get_value_header", "/hh"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := benchPool(b, "hostcalls", engine.PolicyPool)
			ctx := context.Background()
			req, resp := benchRequest(), &engine.Response{}
			req.Path, req.Body = tc.path, body
			b.ReportAllocs()
			for b.Loop() {
				resp.Reset()
				if err := p.Serve(ctx, req, resp); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/calls, "ns/call")
		})
	}
}

// BenchmarkRequest_ContextJSON builds the context_json field (once per
// request that asks for it).
func BenchmarkRequest_ContextJSON(b *testing.B) {
	base := benchRequest()
	base.Secrets = []engine.KV{{Key: "auth-secret", Value: "open-sesame"}}
	base.Data = engine.MergeData(base.Query, base.Params, base.Secrets)
	b.ReportAllocs()
	for b.Loop() {
		r := *base
		if len(r.ContextJSON()) == 0 {
			b.Fatal("empty context")
		}
	}
}

// BenchmarkMergeData builds the data view of a request with a query, params
// and secrets (once per request).
func BenchmarkMergeData(b *testing.B) {
	q := []engine.KV{{Key: "a", Value: "1"}, {Key: "name", Value: "Tomek"}}
	params := []engine.KV{{Key: "p", Value: "x"}}
	secrets := []engine.KV{{Key: "auth-secret", Value: "open-sesame"}}
	b.ReportAllocs()
	for b.Loop() {
		if len(engine.MergeData(q, params, secrets)) != 4 {
			b.Fatal("wrong merge")
		}
	}
}

// BenchmarkEngine_Compile validates and compiles a tiny module whose bytes
// are new every time (a custom section carries a counter), without a cache.
func BenchmarkEngine_Compile(b *testing.B) {
	ctx := context.Background()
	e, err := engine.New(ctx, engine.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(ctx)
	wasm := benchWasm(b, "hello")
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		v := appendCustomSection(wasm, "bench", strconv.Itoa(i))
		mod, err := e.Compile(ctx, v)
		if err != nil {
			b.Fatal(err)
		}
		e.Evict(ctx, mod.SHA256)
	}
}

// appendCustomSection returns wasm with one more custom section, which
// changes its hash without changing what it does.
func appendCustomSection(wasm []byte, name, payload string) []byte {
	var body []byte
	body = binary.AppendUvarint(body, uint64(len(name)))
	body = append(body, name...)
	body = append(body, payload...)
	out := append([]byte(nil), wasm...)
	out = append(out, 0)
	out = binary.AppendUvarint(out, uint64(len(body)))
	return append(out, body...)
}
