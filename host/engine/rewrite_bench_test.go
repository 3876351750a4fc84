package engine

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// BenchmarkInstrumentation compares the same loop-heavy code (a tight loop,
// a check per iteration, and recursion, a check per call: the two shapes of
// work the budget checks cost most on; testdata/loop-heavy.wat) compiled
// three ways: as is ("none": no way to stop it), with wazero's own
// termination checks ("wazero-close-on-done", what the host used before the
// rewriter) and rewritten with the host's budget checks ("budget"):
//
//	go test -run '^$' -bench Instrumentation ./host/engine/
func BenchmarkInstrumentation(b *testing.B) {
	ctx := context.Background()
	src := fixture(b, "loop-heavy")
	rw, err := rewrite(src, DefaultCodeLimits())
	if err != nil {
		b.Fatal(err)
	}
	e := newEngine(b, Config{})
	plain := func(close bool) wazero.Runtime {
		rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
			WithCoreFeatures(api.CoreFeaturesV2).WithCloseOnContextDone(close))
		b.Cleanup(func() { rt.Close(ctx) })
		return rt
	}
	variants := []struct {
		name string
		rt   wazero.Runtime
		code []byte
	}{
		{"none", plain(false), src},
		{"wazero-close-on-done", plain(true), src},
		{"budget", e.rt, rw.code},
	}
	for _, work := range []struct {
		fn  string
		arg uint64
	}{{"loop", 1_000_000}, {"fib", 25}} {
		for _, v := range variants {
			b.Run(work.fn+"/"+v.name, func(b *testing.B) {
				cm, err := v.rt.CompileModule(ctx, v.code)
				if err != nil {
					b.Fatal(err)
				}
				m, err := v.rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName(""))
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close(ctx)
				fn := m.ExportedFunction(work.fn)
				stack := []uint64{work.arg}
				for b.Loop() {
					stack[0] = work.arg
					if err := fn.CallWithStack(ctx, stack); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkInstrumentation_Guests measures the checks on real guests doing
// real work, one request on a live instance: the module as built ("none",
// which nothing could stop) against the rewritten one ("budget"). Seed 003
// in Rust and Go issues an HS256 token (JSON, HMAC-SHA256, base64); seed
// 004 in C parses a JSON body.
//
//	go test -run '^$' -bench Instrumentation_Guests ./host/engine/
func BenchmarkInstrumentation_Guests(b *testing.B) {
	ctx := context.Background()
	jwtReq := func() *Request {
		r := &Request{Method: "POST", Path: "/jwt", Container: "bench", Name: "jwt", RequestID: "1",
			Body:    []byte(`{"username":"twilio","password":"ahoy"}`),
			Headers: []KV{{"content-type", "application/json"}},
			Secrets: []KV{{"jwt-secret", "secret_key"}, {"password", "ahoy"}, {"username", "twilio"}}}
		r.Data = MergeData(nil, nil, r.Secrets)
		return r
	}
	smsReq := func() *Request {
		return &Request{Method: "POST", Path: "/", Container: "bench", Name: "sms", RequestID: "1",
			Body:    []byte(`{"recipient":"+1 555 0100","body":"Your verification code is 123456, valid for 10 minutes.","sender":"+1 555 0199"}`),
			Headers: []KV{{"content-type", "application/json"}}}
	}
	e := newEngine(b, Config{})
	for _, g := range []struct {
		lang, name string
		req        func() *Request
	}{{"rust", "jwt", jwtReq}, {"go", "jwt", jwtReq}, {"c", "sms", smsReq}} {
		src, err := os.ReadFile(filepath.Join("..", "..", "guests", "build", g.lang, g.name+".wasm"))
		if err != nil {
			b.Skipf("guests not built (make guests): %v", err)
		}
		rw, err := rewrite(src, DefaultCodeLimits())
		if err != nil {
			b.Fatal(err)
		}
		for _, v := range []struct {
			name string
			code []byte
		}{{"none", src}, {"budget", rw.code}} {
			b.Run(g.lang+"-"+g.name+"/"+v.name, func(b *testing.B) {
				cm, err := e.rt.CompileModule(ctx, v.code)
				if err != nil {
					b.Fatal(err)
				}
				m, err := e.rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName("").
					WithStartFunctions().WithSysWalltime().WithSysNanotime().WithRandSource(rand.Reader))
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close(ctx)
				rc := newReqCtx()
				rc.depth, _ = m.ExportedGlobal(depthExport).(api.MutableGlobal)
				stack := make([]uint64, 1)
				deadline := time.Now().Add(time.Hour)
				for _, name := range []string{startExport, "_initialize"} {
					if fn := m.ExportedFunction(name); fn != nil {
						if err := rc.run(fn, stack, deadline); err != nil {
							b.Fatal(err)
						}
					}
				}
				handle := m.ExportedFunction("wt_handle")
				resp := &Response{}
				for b.Loop() {
					resp.Reset()
					rc.call = call{req: g.req(), resp: resp, maxResp: 1 << 20}
					if err := rc.run(handle, stack, deadline); err != nil {
						b.Fatal(err)
					}
					if resp.Status >= 300 {
						b.Fatalf("status %d: %s", resp.Status, resp.Body)
					}
				}
			})
		}
	}
}
