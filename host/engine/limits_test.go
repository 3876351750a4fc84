package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// counted is what a response counts against the response limit, computed
// here independently of the host: for the raw model every header as sent
// (name ": " value CRLF) plus the body; for the simple model the result, or
// the error message as JSON-encoded (the content-type header and the fixed
// part of the error body are the host's framing, like the status line).
func counted(r *Response) int {
	if r.Model == ModelSimple {
		if r.Status == 200 {
			return len(r.Body)
		}
		return len(r.Body) - len(`{"code":400,"error":"Script returned an error.","message":}`)
	}
	n := len(r.Body)
	for _, h := range r.Headers {
		n += len(h.Key) + len(": ") + len(h.Value) + len("\r\n")
	}
	return n
}

// TestHostFunctions_ResponseLimit: headers, the body and the JSON-encoded
// error message all count against MaxResponseBytes, in bytes as sent; every
// response that gets through stays within it.
func TestHostFunctions_ResponseLimit(t *testing.T) {
	const (
		name  = 100   // "x-a"
		value = 1000  // 'a' × 9000
		ff    = 20000 // 0xFF × 40000
		ctrl  = 62000 // 0x01 × 2000
		text  = 64000 // message

		message = `it <failed> & that's "that"`
	)
	mem := map[uint32]string{
		name:  "x-a",
		value: strings.Repeat("a", 9000),
		ff:    strings.Repeat("\xff", 40000),
		ctrl:  strings.Repeat("\x01", 2000),
		text:  message,
	}
	type step struct {
		fn   string
		args []uint64
	}
	header := func(fn string, n uint64) step { return step{fn, []uint64{name, 3, value, n}} }
	times := func(n int, s step) []step {
		steps := make([]step, n)
		for i := range steps {
			steps[i] = s
		}
		return steps
	}
	// jsonString puts `"aaa…"` of n bytes in total at offset value-1.
	jsonString := func(n int) map[uint32]string {
		return map[uint32]string{value - 1: `"` + strings.Repeat("a", n-2) + `"`}
	}
	tests := []struct {
		name  string
		limit int
		mem   map[uint32]string // on top of mem
		steps []step
		trap  string // wanted ABI violation (of any step), "" for none
		body  string // wanted body when there is no trap, "" for any
	}{
		{name: "header flood past the response limit", limit: 1024,
			steps: times(100, header("t_add_header", 100)), trap: "exceeds the limit of 1024 bytes"},
		{name: "headers then body past the limit", limit: 1024,
			steps: []step{header("t_add_header", 500), {"t_write_body", []uint64{value, 600}}}, trap: "exceeds the limit of 1024 bytes"},
		{name: "body then a header past the limit", limit: 1024,
			steps: []step{{"t_write_body", []uint64{value, 1000}}, header("t_set_header", 100)}, trap: "exceeds the limit of 1024 bytes"},
		{name: "headers and body exactly at the limit", limit: 1024,
			steps: []step{header("t_add_header", 100), {"t_write_body", []uint64{value, 1024 - 107}}}},
		{name: "one body byte past the limit", limit: 1024,
			steps: []step{header("t_add_header", 100), {"t_write_body", []uint64{value, 1024 - 106}}}, trap: "exceeds the limit of 1024 bytes"},
		{name: "set_header gives back the bytes it replaces", limit: 1024,
			steps: append(times(50, header("t_set_header", 500)), header("t_set_header", 10))},
		{name: "header value at 8 KiB", limit: 1 << 20, steps: []step{header("t_add_header", 8<<10)}},
		{name: "header value over 8 KiB", limit: 1 << 20,
			steps: []step{header("t_add_header", 8<<10+1)}, trap: "header value exceeds the limit of 8192 bytes"},
		{name: "headers over 64 KiB", limit: 1 << 20,
			steps: times(8, header("t_add_header", 8<<10)), trap: "headers exceed the limit of 65536 bytes"},
		{name: "result at the limit", limit: 1024, mem: jsonString(1024),
			steps: []step{{"t_result", []uint64{value - 1, 1024}}}},
		{name: "result past the limit", limit: 1024, mem: jsonString(1025),
			steps: []step{{"t_result", []uint64{value - 1, 1025}}}, trap: "exceeds the limit of 1024 bytes"},
		{name: "error message of the limit in 0xFF bytes", limit: 1024,
			steps: []step{{"t_error", []uint64{500, ff, 1024}}}, trap: "exceeds the limit of 1024 bytes"},
		{name: "error message of 40000 0xFF bytes", limit: 1 << 17,
			steps: []step{{"t_error", []uint64{500, ff, 40000}}}, trap: "exceeds the limit of 131072 bytes"},
		{name: "error message under the limit, over it JSON-encoded", limit: 1024,
			steps: []step{{"t_error", []uint64{400, ff, 200}}}, trap: "exceeds the limit of 1024 bytes"},
		{name: "error message of control bytes", limit: 1024,
			steps: []step{{"t_error", []uint64{400, ctrl, 200}}}, trap: "exceeds the limit of 1024 bytes"},
		{name: "error message exactly at the limit JSON-encoded", limit: 1024,
			steps: []step{{"t_error", []uint64{400, value, 1024 - 2}}}},
		{name: "error message one byte past the limit JSON-encoded", limit: 1024,
			steps: []step{{"t_error", []uint64{400, value, 1024 - 1}}}, trap: "exceeds the limit of 1024 bytes"},
		{name: "error message escaped", limit: 1024,
			steps: []step{{"t_error", []uint64{400, text, uint64(len(message))}}},
			body:  `{"code":400,"error":"Script returned an error.","message":"it \u003cfailed\u003e \u0026 that's \"that\""}`},
		{name: "error message of invalid UTF-8 at the limit", limit: 1024,
			steps: []step{{"t_error", []uint64{400, ff, (1024 - 2) / 6}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, Config{MaxResponseBytes: tc.limit})
			m := abiInstance(t, e)
			for off, s := range mem {
				m.Memory().WriteString(off, s)
			}
			for off, s := range tc.mem {
				m.Memory().WriteString(off, s)
			}
			resp := &Response{}
			ctx := context.WithValue(context.Background(), callKey{}, &call{req: testRequest(), resp: resp, maxResp: tc.limit})
			var err error
			for _, s := range tc.steps {
				if _, err = m.ExportedFunction(s.fn).Call(ctx, s.args...); err != nil {
					break
				}
			}
			if tc.trap != "" {
				var v *ABIViolation
				if !errors.As(err, &v) || !strings.Contains(v.Msg, tc.trap) {
					t.Fatalf("err = %v, want ABI violation %q (response is %d bytes)", err, tc.trap, counted(resp))
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if n := counted(resp); n > tc.limit {
				t.Fatalf("response is %d bytes as sent, over the limit of %d", n, tc.limit)
			}
			if tc.body != "" && string(resp.Body) != tc.body {
				t.Fatalf("body = %s, want %s", resp.Body, tc.body)
			}
		})
	}
}

// TestPool_ResponseLimit runs a guest that floods headers, writes a huge
// error message or fills the response to the limit: each is refused as an
// ABI violation naming the limit, and the pool keeps serving.
func TestPool_ResponseLimit(t *testing.T) {
	const limit = 1 << 20
	e := newEngine(t, Config{MaxResponseBytes: limit})
	mod, err := e.Compile(context.Background(), fixture(t, "limits"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		n    int    // request body length: the size the guest uses
		trap string // "" for a response within the limit
	}{
		{"100 headers of 1 MiB", "/flood", 1 << 20, "header value exceeds the limit of 8192 bytes"},
		{"100 headers of 8 KiB", "/flood", 8 << 10, "headers exceed the limit of 65536 bytes"},
		{"100 small headers", "/flood", 100, ""},
		{"error of the limit in 0xFF bytes", "/error", limit, "exceeds the limit of 1048576 bytes"},
		{"error of a quarter of the limit in 0xFF bytes", "/error", limit / 4, "exceeds the limit of 1048576 bytes"},
		{"error of 0xFF bytes that fits JSON-encoded", "/error", (limit - 2) / 6, ""},
		{"header and body at the limit", "/both", limit - 109, ""},
		{"header and body past the limit", "/both", limit - 108, "exceeds the limit of 1048576 bytes"},
	}
	for _, policy := range []Policy{PolicyPool, PolicyFresh} {
		t.Run(policy.String(), func(t *testing.T) {
			p := e.NewPool(mod, "acme", "limits", policy)
			defer p.Close(context.Background())
			for _, tc := range tests {
				req, resp := testRequest(), &Response{}
				req.Path, req.Body = tc.path, bytes.Repeat([]byte{'.'}, tc.n)
				err := p.Serve(context.Background(), req, resp)
				if tc.trap == "" {
					if err != nil {
						t.Fatalf("%s: %v", tc.name, err)
					}
					if n := counted(resp); n > limit {
						t.Fatalf("%s: response is %d bytes as sent, over the limit", tc.name, n)
					}
				} else {
					if !errors.Is(err, ErrTrap) || !strings.Contains(err.Error(), "ABI violation") || !strings.Contains(err.Error(), tc.trap) {
						t.Fatalf("%s: err = %v, want an ABI violation %q (response %d bytes as sent)", tc.name, err, tc.trap, counted(resp))
					}
				}
				// The pool keeps serving normal responses.
				req, resp = testRequest(), &Response{}
				req.Path = "/ok"
				if err := p.Serve(context.Background(), req, resp); err != nil {
					t.Fatalf("after %s: %v", tc.name, err)
				}
				want := []KV{{"x-a", "1"}, {"x-b", "two"}}
				if resp.Status != 200 || string(resp.Body) != "hello" || len(resp.Headers) != 2 || resp.Headers[0] != want[0] || resp.Headers[1] != want[1] {
					t.Fatalf("after %s: %d %v %q", tc.name, resp.Status, resp.Headers, resp.Body)
				}
			}
		})
	}
}

// jsonSamples are strings whose JSON encoding needs every kind of escape.
var jsonSamples = []string{
	"", "plain", `Not "Authorized"`, `back\slash`, "\b\f\n\r\t", "\x00\x01\x1f\x7f",
	"<script>&</script>", "é ü 日本", "\u2028\u2029", "\ufffd", "\xff\xfe", "a\xe6\x97b",
	"\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf", "\xf0\x9f\x98\x80 😀",
}

// TestAppendScriptError: the error body is what json.Marshal produces, and
// its size is known before encoding.
func TestAppendScriptError(t *testing.T) {
	for _, s := range jsonSamples {
		want, _ := json.Marshal(string(s))
		if got := appendJSONString(nil, []byte(s)); string(got) != string(want) {
			t.Errorf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
		if n := jsonStringLen([]byte(s)); n != len(want) {
			t.Errorf("jsonStringLen(%q) = %d, want %d", s, n, len(want))
		}
	}
	got := AppendScriptError([]byte("x"), 503, []byte(`"<hi>"`))
	if want := `x{"code":503,"error":"Script returned an error.","message":"\"\u003chi\u003e\""}`; string(got) != want {
		t.Errorf("AppendScriptError = %s, want %s", got, want)
	}
	buf := make([]byte, 0, 256)
	msg := []byte("not authorized: <token> is \xff")
	if n := testing.AllocsPerRun(100, func() { buf = AppendScriptError(buf[:0], 400, msg) }); n != 0 {
		t.Errorf("AppendScriptError allocates %v times", n)
	}
}

// FuzzAppendJSONString: for any message, the encoding matches json.Marshal
// and jsonStringLen its length, so the limit check is exact.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range jsonSamples {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		want, _ := json.Marshal(string(s))
		got := appendJSONString(nil, s)
		if !bytes.Equal(got, want) {
			t.Fatalf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
		if n := jsonStringLen(s); n != len(want) {
			t.Fatalf("jsonStringLen(%q) = %d, want %d", s, n, len(want))
		}
	})
}

// BenchmarkPool_ServeHeaders is a pooled raw-model response with two
// headers and a small body (set_header, add_header, write_body), the calls
// the response limit checks.
func BenchmarkPool_ServeHeaders(b *testing.B) {
	e := newEngine(b, Config{})
	mod, err := e.Compile(context.Background(), fixture(b, "limits"))
	if err != nil {
		b.Fatal(err)
	}
	p := e.NewPool(mod, "bench", "limits", PolicyPool)
	defer p.Close(context.Background())
	req, resp := testRequest(), &Response{}
	req.Path = "/ok"
	b.ReportAllocs()
	for b.Loop() {
		resp.Reset()
		if err := p.Serve(context.Background(), req, resp); err != nil {
			b.Fatal(err)
		}
	}
	if string(resp.Body) != "hello" || len(resp.Headers) != 2 {
		b.Fatalf("response %d %v %q", resp.Status, resp.Headers, resp.Body)
	}
}
