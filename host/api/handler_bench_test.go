package api_test

import (
	"net"
	"os"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/api"
)

// BenchmarkHandler_Run measures the host's own cost of a run request: the
// fasthttp handler called in-process (no sockets), WAT and C hello guests,
// pooled and fresh, against a handler that writes the same bytes natively.
// Allocations per request are the figure to watch.
func BenchmarkHandler_Run(b *testing.B) {
	ts := start(b, api.Config{})
	for _, lang := range []string{"wat", "c"} {
		wasm, err := os.ReadFile("../../guests/build/" + lang + "/hello.wasm")
		if err != nil {
			b.Fatalf("guest %s/hello not built (run make guests): %v", lang, err)
		}
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
	for _, name := range []string{"wat-pool", "wat-fresh", "c-pool", "c-fresh"} {
		b.Run(name, func(b *testing.B) { run(b, h, "/api/run/acme/"+name) })
	}
}
