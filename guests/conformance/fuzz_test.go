package conformance_test

import (
	"context"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/host/engine"
)

// fuzzPool compiles a built guest into a pooled engine pool for a fuzz
// target: requests go straight to the engine, no HTTP. A 2 s time limit
// turns a guest stuck in a loop into a failure. (Go's fuzzer spends up to a
// minute minimizing each new interesting input, during which it reports
// 0 execs/sec; -fuzzminimizetime 5s keeps it fuzzing.)
func fuzzPool(f *testing.F, lang, name string) *engine.Pool {
	f.Helper()
	ctx := context.Background()
	e, err := engine.New(ctx, engine.Config{CacheDir: sharedCache, Timeout: 2 * time.Second})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = e.Close(ctx) })
	mod, err := e.Compile(ctx, guest(f, lang, name).code)
	if err != nil {
		f.Fatal(err)
	}
	return e.NewPool(mod, "fuzz", name, engine.PolicyPool)
}

// FuzzC_SMSBody sends any body to seed 004's C receiver: its JSON reader
// (wt_json_string in the C SDK) must answer 200 or 400, never trap.
//
//	go test -run '^$' -fuzz FuzzC_SMSBody -fuzztime 60s -fuzzminimizetime 5s ./guests/conformance/
func FuzzC_SMSBody(f *testing.F) {
	for _, s := range []string{
		`{"recipient":"+12223334444","body":"Your code is > 326162","sender":"+11111111"}`,
		`{"recipient":"\ud83d\ude00","body":"\u00e9\n","sender":"x","extra":[1,{"a":"}"}]}`,
		`{"recipient":"\ud83d","body":"x","sender":"y"}`, `{"a":`, `{"a":"\`, `{"":""}`, `[`, ``, `{`, `"`,
	} {
		f.Add([]byte(s))
	}
	pool := fuzzPool(f, "c", "sms")
	f.Fuzz(func(t *testing.T, body []byte) {
		req := &engine.Request{Method: "POST", Path: "/", Body: body, Container: "fuzz", Name: "sms", RequestID: "1"}
		var resp engine.Response
		if err := pool.Serve(context.Background(), req, &resp); err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
		if resp.Status != 200 && resp.Status != 400 {
			t.Fatalf("body %q: status %d %s", body, resp.Status, resp.Body)
		}
	})
}

// FuzzRust_BearerToken sends any bearer token to seed 003's Rust port: its
// hand-written base64url, JSON and HS256 checks must answer 401 (or 200 for
// a valid token), never trap.
//
//	go test -run '^$' -fuzz FuzzRust_BearerToken -fuzztime 60s -fuzzminimizetime 5s ./guests/conformance/
func FuzzRust_BearerToken(f *testing.F) {
	for _, tc := range []string{
		"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ0d2lsaW8iLCJleHAiOjk5OTk5OTk5OTl9.AAAA",
		"eyJhbGciOiJub25lIn0.e30.", "a.b.c", "...", "eyJ", "e30.e30.e30", "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOiIxIn0.x",
	} {
		f.Add(tc)
	}
	pool := fuzzPool(f, "rust", "jwt")
	secrets := []engine.KV{{Key: "jwt-secret", Value: "secret_key"}, {Key: "password", Value: "ahoy"}, {Key: "username", Value: "twilio"}}
	f.Fuzz(func(t *testing.T, token string) {
		req := &engine.Request{Method: "GET", Path: "/bearer", Container: "fuzz", Name: "jwt", RequestID: "1",
			Headers: []engine.KV{{Key: "authorization", Value: "Bearer " + token}}, Secrets: secrets}
		var resp engine.Response
		if err := pool.Serve(context.Background(), req, &resp); err != nil {
			t.Fatalf("token %q: %v", token, err)
		}
		if resp.Status != 401 && resp.Status != 200 {
			t.Fatalf("token %q: status %d %s", token, resp.Status, resp.Body)
		}
	})
}
