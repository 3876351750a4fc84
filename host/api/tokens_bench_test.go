package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/api"
	"github.com/wasmtask/wasmtask/host/engine"
)

// These benchmarks go through the real server on loopback with a fasthttp
// client, one request at a time: ns/op is the latency of one request. They
// put the cost of token verification (BenchmarkAuthenticate_*, in
// auth_bench_test.go) in proportion: run them together with
//
//	go test -run '^$' -bench 'Run_|Authenticate|Tokens_' -benchtime 2s ./host/api/

func benchClient(b *testing.B, ts *testServer) *fasthttp.HostClient {
	return &fasthttp.HostClient{Addr: strings.TrimPrefix(ts.URL, "http://"), MaxConns: 1, ReadTimeout: 30 * time.Second}
}

func benchDo(b *testing.B, hc *fasthttp.HostClient, method, uri, tok string, body []byte, want int) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	for b.Loop() {
		req.Reset()
		req.Header.SetMethod(method)
		req.SetRequestURI("http://" + hc.Addr + uri)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		if body != nil {
			req.SetBody(body)
		}
		if err := hc.Do(req, resp); err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode() != want {
			b.Fatalf("status %d: %s", resp.StatusCode(), resp.Body())
		}
	}
}

// BenchmarkRun_Hello is the reference: the Go hello guest (built on demand
// when make guests has not) as a named webtask, pooled, no token on the
// request.
func BenchmarkRun_Hello(b *testing.B) {
	ts := start(b, api.Config{})
	ts.upload("acme", "hello", goGuest(b, "hello"), "")
	benchDo(b, benchClient(b, ts), "GET", "/api/run/acme/hello", "", nil, 200)
}

// BenchmarkRun_HelloToken runs the same module through a token that fixes
// it (url "sha256:…", with a secret and a param): authentication, the
// revocation check and the code pool are on the path.
func BenchmarkRun_HelloToken(b *testing.B) {
	ts := start(b, api.Config{})
	hello := goGuest(b, "hello")
	ts.upload("acme", "hello", hello, "")
	tok := ts.issue(ts.Admin, `{"ten":"acme","url":"sha256:`+engine.SHA256(hello)+`","ectx":{"secret":"abc!123"},"pctx":{"p":"1"}}`)
	benchDo(b, benchClient(b, ts), "GET", "/api/run/acme", tok, nil, 200)
}

// BenchmarkRun_HelloTokenLimited adds a per-token and a per-container rate
// limit (never reached) to BenchmarkRun_HelloToken.
func BenchmarkRun_HelloTokenLimited(b *testing.B) {
	ts := start(b, api.Config{})
	hello := goGuest(b, "hello")
	ts.upload("acme", "hello", hello, "")
	tok := ts.issue(ts.Admin, `{"ten":"acme","url":"sha256:`+engine.SHA256(hello)+`","ls":1000000,"ltd":1000000000}`)
	benchDo(b, benchClient(b, ts), "GET", "/api/run/acme", tok, nil, 200)
}

// BenchmarkTokens_Issue is POST /api/tokens/issue of a tenant-style child:
// verify the caller, derive, sign.
func BenchmarkTokens_Issue(b *testing.B) {
	ts := start(b, api.Config{})
	tenant := ts.issue(ts.Admin, `{"ten":"acme"}`)
	body := []byte(`{"ten":"acme","dd":1,"lm":100,"pctx":{"plan":"gold"}}`)
	benchDo(b, benchClient(b, ts), "POST", "/api/tokens/issue", tenant, body, 200)
}

// BenchmarkTokens_IssueCode issues a token with inline code and a secret:
// the module is compiled to validate it, the ectx sealed.
func BenchmarkTokens_IssueCode(b *testing.B) {
	ts := start(b, api.Config{})
	tenant := ts.issue(ts.Admin, `{"ten":"acme"}`)
	body := []byte(`{"code":"` + ctxWasm + `","ectx":{"secret":"abc!123"},"lm":100}`)
	benchDo(b, benchClient(b, ts), "POST", "/api/tokens/issue", tenant, body, 200)
}

// BenchmarkTokens_Revoke is POST /api/tokens/revoke of a fresh token each
// time: one durable store write (fsync) per revocation.
func BenchmarkTokens_Revoke(b *testing.B) {
	ts := start(b, api.Config{})
	hc := benchClient(b, ts)
	// Issue the tokens outside the timed loop.
	var toks []string
	for i := 0; i < 2000; i++ {
		toks = append(toks, ts.issue(ts.Admin, `{"ten":"acme"}`))
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	i := 0
	for b.Loop() {
		if i == len(toks) {
			b.StopTimer()
			toks = append(toks, ts.issue(ts.Admin, `{"ten":"acme"}`))
			b.StartTimer()
		}
		req.Reset()
		req.Header.SetMethod("POST")
		req.SetRequestURI(ts.URL + "/api/tokens/revoke")
		req.Header.Set("Authorization", "Bearer "+ts.Admin)
		req.SetBodyString(toks[i])
		i++
		if err := hc.Do(req, resp); err != nil || resp.StatusCode() != 200 {
			b.Fatalf("%v %d %s", err, resp.StatusCode(), resp.Body())
		}
	}
}
