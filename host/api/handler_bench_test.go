package api_test

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/api"
)

// BenchmarkHandler_Run measures the host's own cost of a run request: the
// fasthttp handler called in-process (no sockets), WAT and C hello guests
// (C only when built by make guests), pooled and fresh, against a handler
// that writes the same bytes natively.
// Allocations per request are the figure to watch.
func BenchmarkHandler_Run(b *testing.B) {
	ts := start(b, api.Config{})
	hellos := map[string][]byte{"wat": fixture(b, "hello")}
	if c, err := os.ReadFile(filepath.Join(guestsDir(), "c", "hello.wasm")); err == nil {
		hellos["c"] = c
	}
	for lang, wasm := range hellos {
		ts.upload("acme", lang+"-pool", wasm, "")
		ts.upload("acme", lang+"-fresh", wasm, "?meta=wt-instance:fresh")
	}
	h := ts.Handler()
	run := func(b *testing.B, handler fasthttp.RequestHandler, path string) {
		var ctx fasthttp.RequestCtx
		var req fasthttp.Request
		req.SetRequestURI(path + "?name=Tomek")
		req.Header.Set("User-Agent", "bench")
		req.Header.Set("Accept", "*/*")
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			ctx.Response.Reset()
			handler(&ctx)
			if ctx.Response.StatusCode() != 200 {
				b.Fatalf("%s: %d %s", path, ctx.Response.StatusCode(), ctx.Response.Body())
			}
		}
	}
	body := []byte(`{"message":"hello, world"}`)
	b.Run("native", func(b *testing.B) {
		run(b, func(ctx *fasthttp.RequestCtx) {
			ctx.SetContentType("application/json")
			ctx.SetBody(body)
		}, "/native")
	})
	for _, lang := range []string{"wat", "c"} {
		for _, policy := range []string{"pool", "fresh"} {
			b.Run(lang+"-"+policy, func(b *testing.B) {
				if hellos[lang] == nil {
					b.Skipf("guest %s/hello is not built (make guests)", lang)
				}
				run(b, h, "/api/run/acme/"+lang+"-"+policy)
			})
		}
	}
}
