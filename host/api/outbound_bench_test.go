package api_test

import (
	"net"
	"net/url"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/api"
	"github.com/wasmtask/wasmtask/host/auth"
)

// BenchmarkOutbound measures what an outbound call from a guest costs over
// the same call made directly with a fasthttp client, to the same local
// fasthttp server: "direct" is the bare client call; "guest-none" a run of
// the fetch probe that makes no call (?n=0 is read as 1, so the probe is
// run with a url the policy refuses before any connection: the cost of a
// run and a policy check); "guest-call" a run that makes the call. The
// overhead of the host's path is guest-call − guest-none, against direct.
func BenchmarkOutbound(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") }}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Shutdown() })
	target := "http://" + ln.Addr().String() + "/x"

	ts := start(b, api.Config{})
	ts.upload("acme", "fetch", goGuest(b, "fetch"), "")
	if r := ts.req("PUT", "/api/outbound/acme", ts.Admin, []byte(`{"allow":["`+ln.Addr().String()+`"]}`)); r.Status != 200 {
		b.Fatalf("policy: %d %s", r.Status, r.Body)
	}
	b.Run("direct", func(b *testing.B) {
		c := &fasthttp.Client{}
		var req fasthttp.Request
		var resp fasthttp.Response
		req.SetRequestURI(target)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if err := c.Do(&req, &resp); err != nil || resp.StatusCode() != 200 {
				b.Fatal(err)
			}
		}
	})
	h := ts.Handler()
	run := func(b *testing.B, path string, want int) {
		var ctx fasthttp.RequestCtx
		var req fasthttp.Request
		req.SetRequestURI(path)
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			ctx.Response.Reset()
			h(&ctx)
			if ctx.Response.StatusCode() != want {
				b.Fatalf("%s: %d %s", path, ctx.Response.StatusCode(), ctx.Response.Body())
			}
		}
	}
	b.Run("guest-none", func(b *testing.B) {
		run(b, "/api/run/acme/fetch?url="+url.QueryEscape("http://denied.example/x"), 502)
	})
	b.Run("guest-call", func(b *testing.B) {
		run(b, "/api/run/acme/fetch?url="+url.QueryEscape(target), 200)
	})
}

// BenchmarkAuth measures a request refused by a webtask's declared auth
// against one that passes and runs the guest (the Go hello, pooled): a
// refusal costs no instance, only the check and the error answer.
func BenchmarkAuth(b *testing.B) {
	ts := start(b, api.Config{})
	ts.upload("acme", "hello", goGuest(b, "hello"), middleware(auth.Bearer, "secret=wt-auth-secret:open-sesame"))
	h := ts.Handler()
	run := func(b *testing.B, authz string, want int) {
		var ctx fasthttp.RequestCtx
		var req fasthttp.Request
		req.SetRequestURI("/api/run/acme/hello")
		req.Header.Set("Authorization", authz)
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			ctx.Response.Reset()
			h(&ctx)
			if ctx.Response.StatusCode() != want {
				b.Fatalf("%d %s", ctx.Response.StatusCode(), ctx.Response.Body())
			}
		}
	}
	b.Run("run", func(b *testing.B) { run(b, "Bearer open-sesame", 200) })
	b.Run("refused", func(b *testing.B) { run(b, "Bearer wrong", 401) })
}
