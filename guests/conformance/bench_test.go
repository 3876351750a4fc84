package conformance_test

import (
	"context"
	"os"
	"testing"

	"github.com/wasmtask/wasmtask/guests/conformance"
	"github.com/wasmtask/wasmtask/host/engine"
)

// benchModules are the guests measured per language: the trivial hello
// (what bench/ drives through the whole server) and the conformance guest
// (a router, JSON and every ABI call: a more typical module).
var benchModules = []string{"hello", "conformance"}

// benchModes are the ways a request can get an instance:
//   - instantiate: a new wazero instance per request (fresh policy with
//     engine.Config.FreshByInstantiate): the instantiate time of the module;
//   - fresh: the fresh policy as configured by default (an instance reset
//     to its post-_initialize snapshot when the module allows it);
//   - pool: a warm pooled instance, the handler call alone.
var benchModes = []struct {
	name   string
	policy engine.Policy
	cfg    engine.Config
}{
	{"instantiate", engine.PolicyFresh, engine.Config{FreshByInstantiate: true}},
	{"fresh", engine.PolicyFresh, engine.Config{}},
	{"pool", engine.PolicyPool, engine.Config{}},
}

// BenchmarkInstantiate measures one request of the hello route per
// language, module and instance mode through the host engine (no HTTP):
//
//	go test -run '^$' -bench Instantiate -benchtime 2s ./guests/conformance/
//
// The module size is reported as module-bytes (for JavaScript the engine's
// and the source's together). guests/README.md holds a
// table of the results.
func BenchmarkInstantiate(b *testing.B) {
	ctx := context.Background()
	for _, lang := range conformance.Languages {
		for _, module := range benchModules {
			wasm, source := benchModule(b, lang, module)
			for _, mode := range benchModes {
				b.Run(lang+"/"+module+"/"+mode.name, func(b *testing.B) {
					cfg := mode.cfg
					cfg.CacheDir = sharedCache
					e, err := engine.New(ctx, cfg)
					if err != nil {
						b.Fatal(err)
					}
					defer e.Close(ctx)
					mod, err := e.Compile(ctx, wasm)
					if err != nil {
						b.Fatal(err)
					}
					pool := e.NewPoolSource(mod, "bench", lang, mode.policy, source)
					defer pool.Close(ctx)
					if err := pool.Warm(ctx); err != nil {
						b.Fatal(err)
					}
					req := &engine.Request{Method: "GET", Path: "/hello", Container: "bench", Name: lang, RequestID: "1"}
					var resp engine.Response
					serve := func() {
						resp.Reset()
						if err := pool.Serve(ctx, req, &resp); err != nil {
							b.Fatal(err)
						}
						if resp.Status != 200 || string(resp.Body) != `{"message":"hello, world"}` {
							b.Fatalf("hello = %d %q", resp.Status, resp.Body)
						}
					}
					serve()
					b.ReportMetric(float64(len(wasm)+len(source)), "module-bytes")
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						serve()
					}
				})
			}
		}
	}
}

// benchModule is what the engine runs for a guest: its module, or for
// JavaScript the engine and the guest's source.
func benchModule(b *testing.B, lang, name string) (wasm, source []byte) {
	b.Helper()
	g := guest(b, lang, name)
	if g.contentType != "application/javascript" {
		return g.code, nil
	}
	wasm, err := os.ReadFile(jsEnginePath)
	if err != nil {
		b.Fatal(err)
	}
	return wasm, g.code
}
