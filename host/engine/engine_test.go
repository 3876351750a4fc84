package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/wasmtask/wasmtask/host/internal/wasmgen"
)

// fixture returns testdata/<name>.wasm, a tiny guest compiled from
// testdata/<name>.wat and committed beside it, so the tests need no WAT
// toolchain. `make guests` rebuilds it when the .wat changes.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".wasm"))
	if err != nil {
		t.Fatalf("test fixture: %v (run `make guests` to build it from its .wat)", err)
	}
	return b
}

// logs records what guests log.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) Log(container, name, requestID string, level uint32, msg []byte) {
	l.mu.Lock()
	l.lines = append(l.lines, container+"/"+name+" "+requestID+" "+string(msg))
	l.mu.Unlock()
}

func newEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	e, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

func testRequest() *Request {
	r := &Request{
		Method: "POST", Path: "/a/b", RawQuery: "x=1", Body: []byte("body!"),
		Container: "acme", Name: "abi", RequestID: "r1",
		Query:   []KV{{"x", "1"}, {"x", "2"}},
		Headers: []KV{{"content-type", "text/plain"}, {"x-custom", "v"}},
		Secrets: []KV{{"auth-secret", "open-sesame"}},
		Meta:    []KV{{"owner", "tomek"}},
	}
	r.Data = MergeData(r.Query, r.Params, r.Secrets)
	return r
}

// abiInstance instantiates abi.wat for direct calls of its t_* exports.
func abiInstance(t testing.TB, e *Engine) api.Module {
	t.Helper()
	mod, err := e.Compile(context.Background(), fixture(t, "abi"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.rt.InstantiateModule(context.Background(), mod.code.Load().cm, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	return m
}

func TestHostFunctions(t *testing.T) {
	e := newEngine(t, Config{MaxResponseBytes: 64})
	lg := &logs{}
	const page = 65536
	type step struct {
		fn   string
		args []uint64
	}
	tests := []struct {
		name string
		mem  map[uint32]string // memory contents before the last step
		pre  []step            // calls before the one under test
		call step
		ret  int32  // wanted result of the call, when it has one
		out  string // wanted bytes at offset 1000 after the call
		trap string // wanted ABI violation, "" for none
		resp func(*Response) string
	}{
		{name: "get method", call: step{"t_get", []uint64{0, 1000, 100}}, ret: 4, out: "POST"},
		{name: "get with small buffer writes nothing", call: step{"t_get", []uint64{1, 1000, 2}}, ret: 4, out: "\x00\x00\x00\x00"},
		{name: "get size only", call: step{"t_get", []uint64{3, 0, 0}}, ret: 5},
		{name: "get body", call: step{"t_get", []uint64{3, 1000, 5}}, ret: 5, out: "body!"},
		{name: "get unknown field", call: step{"t_get", []uint64{99, 1000, 10}}, ret: -1},
		{name: "get buffer past memory end", call: step{"t_get", []uint64{0, page - 2, 10}}, trap: "out of bounds"},
		{name: "get buffer at huge offset", call: step{"t_get", []uint64{0, 0xFFFFFFF0, 0x20}}, trap: "out of bounds"},
		{name: "get negative length", call: step{"t_get", []uint64{0, 1000, 0xFFFFFFFF}}, trap: "out of bounds"},
		{name: "get_value header ignores case", mem: map[uint32]string{2000: "X-Custom"},
			call: step{"t_get_value", []uint64{1, 2000, 8, 1000, 10}}, ret: 1, out: "v"},
		{name: "get_value query first of repeated", mem: map[uint32]string{2000: "x"},
			call: step{"t_get_value", []uint64{0, 2000, 1, 1000, 10}}, ret: 1, out: "1"},
		{name: "get_value secret", mem: map[uint32]string{2000: "auth-secret"},
			call: step{"t_get_value", []uint64{2, 2000, 11, 1000, 20}}, ret: 11, out: "open-sesame"},
		{name: "get_value data: secret over query", mem: map[uint32]string{2000: "auth-secret"},
			call: step{"t_get_value", []uint64{5, 2000, 11, 1000, 20}}, ret: 11, out: "open-sesame"},
		{name: "get_value missing key", mem: map[uint32]string{2000: "nope"},
			call: step{"t_get_value", []uint64{0, 2000, 4, 1000, 10}}, ret: -1},
		{name: "get_value unknown map", call: step{"t_get_value", []uint64{42, 2000, 1, 1000, 10}}, ret: -1},
		{name: "get_value key out of bounds", call: step{"t_get_value", []uint64{0, page, 1, 1000, 10}}, trap: "out of bounds"},
		{name: "get_map query", call: step{"t_get_map", []uint64{0, 1000, 100}}, ret: 8, out: "x\x001\x00x\x002\x00"},
		{name: "get_map empty", call: step{"t_get_map", []uint64{3, 1000, 100}}, ret: 0},
		{name: "set_status", call: step{"t_set_status", []uint64{418}},
			resp: func(r *Response) string { return check(r.Status == 418 && r.Model == ModelRaw, "status 418 raw") }},
		{name: "set_status 99", call: step{"t_set_status", []uint64{99}}, trap: "outside 200-599"},
		{name: "set_status 100", call: step{"t_set_status", []uint64{100}}, trap: "outside 200-599"},
		{name: "set_status negative", call: step{"t_set_status", []uint64{0xFFFFFFFF}}, trap: "outside 200-599"},
		{name: "set_header", mem: map[uint32]string{2000: "X-A", 2100: "1"},
			call: step{"t_set_header", []uint64{2000, 3, 2100, 1}},
			resp: func(r *Response) string {
				return check(len(r.Headers) == 1 && r.Headers[0] == KV{"x-a", "1"}, "one header x-a: 1")
			}},
		{name: "set_header replaces add_header", mem: map[uint32]string{2000: "X-A", 2100: "12"},
			pre:  []step{{"t_add_header", []uint64{2000, 3, 2100, 1}}, {"t_add_header", []uint64{2000, 3, 2100, 1}}},
			call: step{"t_set_header", []uint64{2000, 3, 2100, 2}},
			resp: func(r *Response) string {
				return check(len(r.Headers) == 1 && r.Headers[0].Value == "12", "x-a replaced")
			}},
		{name: "header value with CRLF", mem: map[uint32]string{2000: "X-A", 2100: "a\r\nb"},
			call: step{"t_set_header", []uint64{2000, 3, 2100, 4}}, trap: "CR, LF"},
		{name: "header name with space", mem: map[uint32]string{2000: "X A", 2100: "a"},
			call: step{"t_add_header", []uint64{2000, 3, 2100, 1}}, trap: "invalid header name"},
		{name: "empty header name", call: step{"t_add_header", []uint64{2000, 0, 2100, 1}}, trap: "invalid header name"},
		{name: "reserved header", mem: map[uint32]string{2000: "Content-Length", 2100: "1"},
			call: step{"t_set_header", []uint64{2000, 14, 2100, 1}}, trap: "set by the host"},
		{name: "server header", mem: map[uint32]string{2000: "Server", 2100: "1"},
			call: step{"t_set_header", []uint64{2000, 6, 2100, 1}}, trap: "set by the host"},
		{name: "x-wt header", mem: map[uint32]string{2000: "x-wt-response-source", 2100: "h"},
			call: step{"t_set_header", []uint64{2000, 20, 2100, 1}}, trap: "set by the host"},
		{name: "write_body appends", mem: map[uint32]string{2000: "abc"},
			pre:  []step{{"t_write_body", []uint64{2000, 3}}},
			call: step{"t_write_body", []uint64{2000, 3}},
			resp: func(r *Response) string { return check(string(r.Body) == "abcabc", "body abcabc") }},
		{name: "write_body over the response limit", call: step{"t_write_body", []uint64{2000, 65}}, trap: "exceeds the limit of 64"},
		{name: "result", mem: map[uint32]string{2000: `{"a":1}`}, call: step{"t_result", []uint64{2000, 7}},
			resp: func(r *Response) string {
				return check(r.Status == 200 && string(r.Body) == `{"a":1}` && r.Finished && r.Headers[0].Value == "application/json", "200 JSON")
			}},
		{name: "result not JSON", mem: map[uint32]string{2000: `{"a":`}, call: step{"t_result", []uint64{2000, 5}}, trap: "not valid JSON"},
		{name: "result twice", mem: map[uint32]string{2000: `1`}, pre: []step{{"t_result", []uint64{2000, 1}}},
			call: step{"t_result", []uint64{2000, 1}}, trap: "already finished"},
		{name: "write after result", mem: map[uint32]string{2000: `1`}, pre: []step{{"t_result", []uint64{2000, 1}}},
			call: step{"t_write_body", []uint64{2000, 1}}, trap: "already finished"},
		{name: "result after raw", mem: map[uint32]string{2000: `1`}, pre: []step{{"t_set_status", []uint64{200}}},
			call: step{"t_result", []uint64{2000, 1}}, trap: "after a raw-model call"},
		{name: "error default status", mem: map[uint32]string{2000: `Not "Authorized"`}, call: step{"t_error", []uint64{0, 2000, 16}},
			resp: func(r *Response) string {
				return check(r.Status == 400 && string(r.Body) == `{"code":400,"error":"Script returned an error.","message":"Not \"Authorized\""}`, "400 script error")
			}},
		{name: "error own status", call: step{"t_error", []uint64{404, 2000, 0}},
			resp: func(r *Response) string { return check(r.Status == 404, "404") }},
		{name: "error status 200", call: step{"t_error", []uint64{200, 2000, 0}}, trap: "outside 400-599"},
		{name: "log", mem: map[uint32]string{2000: "hi there"}, call: step{"t_log", []uint64{1, 2000, 8}},
			resp: func(*Response) string {
				lg.mu.Lock()
				defer lg.mu.Unlock()
				return check(len(lg.lines) > 0 && lg.lines[len(lg.lines)-1] == "acme/abi r1 hi there", "log line")
			}},
		{name: "log out of bounds", call: step{"t_log", []uint64{1, page - 1, 2}}, trap: "out of bounds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := abiInstance(t, e)
			for off, s := range tc.mem {
				m.Memory().WriteString(off, s)
			}
			resp := &Response{}
			ctx := context.WithValue(context.Background(), callKey{}, &call{req: testRequest(), resp: resp, maxResp: 64, logger: lg})
			for _, s := range tc.pre {
				if _, err := m.ExportedFunction(s.fn).Call(ctx, s.args...); err != nil {
					t.Fatalf("setup %s: %v", s.fn, err)
				}
			}
			res, err := m.ExportedFunction(tc.call.fn).Call(ctx, tc.call.args...)
			if tc.trap != "" {
				var v *ABIViolation
				if !errors.As(err, &v) || !strings.Contains(v.Msg, tc.trap) {
					t.Fatalf("err = %v, want ABI violation %q", err, tc.trap)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if len(res) == 1 && int32(res[0]) != tc.ret {
				t.Fatalf("returned %d, want %d", int32(res[0]), tc.ret)
			}
			if tc.out != "" {
				got, _ := m.Memory().Read(1000, uint32(len(tc.out)))
				if string(got) != tc.out {
					t.Fatalf("buffer = %q, want %q", got, tc.out)
				}
			}
			if tc.resp != nil {
				if msg := tc.resp(resp); msg != "" {
					t.Fatalf("response %+v: want %s", resp, msg)
				}
			}
		})
	}
}

func check(ok bool, want string) string {
	if ok {
		return ""
	}
	return want
}

func TestHostFunctions_OutsideRequest(t *testing.T) {
	e := newEngine(t, Config{})
	m := abiInstance(t, e)
	_, err := m.ExportedFunction("t_get").Call(context.Background(), 0, 1000, 10)
	var v *ABIViolation
	if !errors.As(err, &v) || !strings.Contains(v.Msg, "outside a request") {
		t.Fatalf("err = %v", err)
	}
}

func TestEngine_Validate(t *testing.T) {
	e := newEngine(t, Config{})
	tests := []struct {
		name    string
		fixture string // "" for the start of an ELF file
		want    error
		msg     string
	}{
		{"valid", "validate-valid", nil, ""},
		{"no handler", "validate-no-handler", ErrMissingExport, "does not export wt_handle"},
		{"handler signature", "validate-handler-signature", ErrMissingExport, "want () -> i32"},
		{"no memory", "validate-no-memory", ErrMissingExport, "memory"},
		{"command", "validate-command", ErrMissingExport, "WASI command"},
		{"ABI v2", "validate-abi-v2", ErrABIVersion, "ABI v2"},
		{"unknown host function", "validate-unknown-host-function", ErrUnknownImport, "wasmtask_v1.exec does not exist"},
		{"wrong signature", "validate-wrong-signature", ErrUnknownImport, "has signature (i32) -> (i32), want (i32, i32, i32) -> (i32)"},
		{"unknown module", "validate-unknown-module", ErrUnknownImport, "env.abort"},
		{"imported global", "validate-imported-global", ErrUnknownImport, "global env.g"},
		{"imported table", "validate-imported-table", ErrUnknownImport, "table env.t"},
		{"not wasm (ELF)", "", ErrInvalidModule, "wasm32-wasi"},
		{"imported memory", "validate-imported-memory", ErrUnknownImport, "memory env.memory"},
		{"wasi import", "validate-wasi-import", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bin := []byte("\x7fELF\x02\x01\x01")
			if tc.fixture != "" {
				bin = fixture(t, tc.fixture)
			}
			_, err := e.Compile(context.Background(), bin)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
	if _, err := e.Compile(context.Background(), []byte("\x00asm\x01\x00\x00\x00garbage")); !errors.Is(err, ErrInvalidModule) {
		t.Fatalf("garbage: err = %v", err)
	}
}

func TestPool_Serve(t *testing.T) {
	e := newEngine(t, Config{MaxIdle: 2})
	mod, err := e.Compile(context.Background(), fixture(t, "abi"))
	if err != nil {
		t.Fatal(err)
	}
	for _, policy := range []Policy{PolicyPool, PolicyFresh} {
		t.Run(policy.String(), func(t *testing.T) {
			p := e.NewPool(mod, "acme", "abi", policy)
			defer p.Close(context.Background())
			if err := p.Warm(context.Background()); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for g := 0; g < 8; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 50; i++ {
						resp := &Response{}
						if err := p.Serve(context.Background(), testRequest(), resp); err != nil {
							errs <- err
							return
						}
						if resp.Status != 200 || string(resp.Body) != `{"ok":true}` {
							errs <- errors.New("wrong response " + string(resp.Body))
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if p.Idle() > 2 {
				t.Fatalf("pool keeps %d idle instances, MaxIdle 2", p.Idle())
			}
		})
	}
}

// FuzzABI calls every host function with arbitrary arguments. The only
// acceptable outcomes are success and an ABI violation: anything else (a Go
// runtime error inside a host function) is a host bug.
func FuzzABI(f *testing.F) {
	e := newEngine(f, Config{MaxResponseBytes: 1 << 10})
	m := abiInstance(f, e)
	m.Memory().WriteString(2000, `{"a":1}`)
	fns := []struct {
		name string
		n    int
	}{{"t_get", 3}, {"t_get_value", 5}, {"t_get_map", 3}, {"t_set_status", 1}, {"t_set_header", 4},
		{"t_add_header", 4}, {"t_write_body", 2}, {"t_result", 2}, {"t_error", 3}, {"t_log", 3}}
	f.Add(uint8(0), uint32(0), uint32(1000), uint32(10), uint32(0), uint32(0))
	f.Add(uint8(1), uint32(1), uint32(2000), uint32(3), uint32(1000), uint32(100))
	f.Add(uint8(2), uint32(5), uint32(1000), uint32(65536), uint32(0), uint32(0))
	f.Add(uint8(4), uint32(2000), uint32(3), uint32(2000), uint32(7), uint32(0))
	f.Add(uint8(7), uint32(2000), uint32(7), uint32(0), uint32(0), uint32(0))
	f.Add(uint8(8), uint32(0), uint32(0xFFFFFFFF), uint32(0xFFFFFFFF), uint32(0), uint32(0))
	f.Fuzz(func(t *testing.T, which uint8, a, b, c, d, e uint32) {
		fn := fns[int(which)%len(fns)]
		args := []uint64{uint64(a), uint64(b), uint64(c), uint64(d), uint64(e)}[:fn.n]
		ctx := context.WithValue(context.Background(), callKey{}, &call{req: testRequest(), resp: &Response{}, maxResp: 1 << 10})
		_, err := m.ExportedFunction(fn.name).Call(ctx, args...)
		var v *ABIViolation
		if err != nil && !errors.As(err, &v) {
			t.Fatalf("%s%v: %v", fn.name, args, err)
		}
	})
}

// FuzzCompile feeds arbitrary bytes to module validation: it must refuse
// them with an error, never panic.
func FuzzCompile(f *testing.F) {
	e := newEngine(f, Config{})
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if mod, err := e.Compile(context.Background(), b); err == nil {
			e.Evict(context.Background(), mod.SHA256)
		}
	})
}

// TestPool_FreshState checks, with state.wat, that nothing a request leaves
// in globals or memory reaches the next request under the fresh policy,
// whether it is served by resetting instances or by instantiating, and that
// the pool policy does keep state.
func TestPool_FreshState(t *testing.T) {
	tests := []struct {
		name        string
		policy      Policy
		instantiate bool
		grow        bool   // request /grow: every request grows memory by a page
		fixture     string // state: 1 page of memory; state-48pages: 48 (a memory image)
		want        []string
		resets      bool
	}{
		{"pool keeps state", PolicyPool, false, false, "state", []string{"[1,1]", "[2,2]", "[3,3]"}, false},
		{"fresh by reset (copy)", PolicyFresh, false, false, "state", []string{"[1,1]", "[1,1]", "[1,1]"}, resetSupported},
		{"fresh by reset (copy), growing memory", PolicyFresh, false, true, "state", []string{"[1,1]"}, resetSupported},
		{"fresh by reset (image)", PolicyFresh, false, false, "state-48pages", []string{"[1,1]", "[1,1]", "[1,1]"}, resetSupported},
		{"fresh by reset (image), growing memory", PolicyFresh, false, true, "state-48pages", []string{"[1,1]"}, resetSupported},
		{"fresh by instantiation", PolicyFresh, true, false, "state", []string{"[1,1]", "[1,1]", "[1,1]"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, Config{FreshByInstantiate: tc.instantiate})
			mod, err := e.Compile(context.Background(), fixture(t, tc.fixture))
			if err != nil {
				t.Fatal(err)
			}
			if len(mod.globals) != 1 {
				t.Fatalf("exported globals = %v, want the one mutable global", mod.globals)
			}
			p := e.NewPool(mod, "acme", "state", tc.policy)
			defer p.Close(context.Background())
			if p.Resets() != tc.resets {
				t.Fatalf("Resets() = %v, want %v", p.Resets(), tc.resets)
			}
			n := len(tc.want)
			if tc.grow {
				n = 40 // past the growth slack: instances get replaced
			}
			for i := 0; i < n; i++ {
				req, resp := testRequest(), &Response{}
				if tc.grow {
					req.Path = "/grow"
				}
				if err := p.Serve(context.Background(), req, resp); err != nil {
					t.Fatal(err)
				}
				want := tc.want[min(i, len(tc.want)-1)]
				if string(resp.Body) != want {
					t.Fatalf("request %d answered %s, want %s", i+1, resp.Body, want)
				}
			}
		})
	}
}

// TestPool_Timeout: a runaway loop (spin.wat) is interrupted at the
// deadline (without a per-call watcher goroutine), its instance discarded,
// and the pool keeps serving — pooled and fresh.
func TestPool_Timeout(t *testing.T) {
	e := newEngine(t, Config{Timeout: 100 * time.Millisecond})
	mod, err := e.Compile(context.Background(), fixture(t, "spin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, policy := range []Policy{PolicyPool, PolicyFresh} {
		t.Run(policy.String(), func(t *testing.T) {
			p := e.NewPool(mod, "acme", "loop", policy)
			defer p.Close(context.Background())
			for i := 0; i < 3; i++ {
				req := testRequest()
				req.Path = "/loop"
				start := time.Now()
				if err := p.Serve(context.Background(), req, &Response{}); !errors.Is(err, ErrTimeout) {
					t.Fatalf("runaway loop: err = %v", err)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Fatalf("interrupt took %s", d)
				}
				resp := &Response{}
				req = testRequest()
				req.Path = "/ok"
				if err := p.Serve(context.Background(), req, resp); err != nil || string(resp.Body) != "1" {
					t.Fatalf("after a timeout: %v %q", err, resp.Body)
				}
			}
		})
	}
}

// TestEngine_CloseWhileCompiling: closing the engine while a module is being
// compiled waits for it or refuses it — never a panic inside wazero (a
// server shutting down under a slow compile crashed that way).
func TestEngine_CloseWhileCompiling(t *testing.T) {
	for _, delay := range []time.Duration{0, time.Millisecond, 20 * time.Millisecond} {
		e, err := New(context.Background(), Config{CacheDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := e.Compile(context.Background(), wasmgen.ManyFunctions(20_000))
			done <- err
		}()
		time.Sleep(delay)
		if err := e.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrInvalidModule) {
			t.Errorf("delay %v: compile during close: %v", delay, err)
		}
	}
}

// TestPool_PrepareIsBounded: a warm-up's Prepare gives a webtask's
// initialisation prepareTimeout, not the whole time limit, and keeps
// nothing when it runs out; a Prepare that works leaves an idle instance.
func TestPool_PrepareIsBounded(t *testing.T) {
	e := newEngine(t, Config{Timeout: 10 * time.Second})
	mod, err := e.Compile(context.Background(), fixture(t, "init-spin"))
	if err != nil {
		t.Fatal(err)
	}
	p := e.NewPool(mod, "acme", "slow", PolicyPool)
	defer p.Close(context.Background())
	start := time.Now()
	err = p.Prepare(context.Background())
	if d := time.Since(start); err == nil || d > prepareTimeout+2*time.Second {
		t.Fatalf("Prepare of a spinning _initialize: %v after %s, want an error after about %s", err, d, prepareTimeout)
	}
	if p.Idle() != 0 {
		t.Errorf("%d idle instances after a failed Prepare", p.Idle())
	}

	hello := e.NewPool(mustCompile(t, e, "state"), "acme", "state", PolicyPool)
	defer hello.Close(context.Background())
	if err := hello.Prepare(context.Background()); err != nil || hello.Idle() != 1 {
		t.Fatalf("Prepare = %v with %d idle instances, want one", err, hello.Idle())
	}
}

func mustCompile(t *testing.T, e *Engine, name string) *Module {
	t.Helper()
	mod, err := e.Compile(context.Background(), fixture(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return mod
}
