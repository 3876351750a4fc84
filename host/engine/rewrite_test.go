package engine

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmtask/wasmtask/host/internal/wasmgen"
)

// fixturePool compiles testdata/<name>.wasm into e and returns its pooled
// pool, closed when the test ends.
func fixturePool(t testing.TB, e *Engine, name string) *Pool {
	t.Helper()
	mod, err := e.Compile(context.Background(), fixture(t, name))
	if err != nil {
		t.Fatal(err)
	}
	p := e.NewPool(mod, "acme", name, PolicyPool)
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

// TestInterrupt_NoLoops: recursion without loops, in a request, in
// _initialize and in a start section, is stopped at the deadline.
func TestInterrupt_NoLoops(t *testing.T) {
	const timeout = 200 * time.Millisecond
	e := newEngine(t, Config{Timeout: timeout})
	for _, where := range []string{"request", "init", "start"} {
		t.Run(where, func(t *testing.T) {
			mod, err := e.Compile(context.Background(), wasmgen.RecursionBomb(where))
			if err != nil {
				t.Fatal(err)
			}
			for _, policy := range []Policy{PolicyPool, PolicyFresh} {
				p := e.NewPool(mod, "acme", "rec", policy)
				start := time.Now()
				if where == "request" {
					err = p.Serve(context.Background(), testRequest(), &Response{})
				} else {
					err = p.Warm(context.Background())
				}
				took := time.Since(start)
				p.Close(context.Background())
				if !errors.Is(err, ErrTimeout) {
					t.Fatalf("%s: err = %v, want a timeout", policy, err)
				}
				if where != "request" && !strings.Contains(err.Error(), "initialising") {
					t.Fatalf("%s: err = %v, want it to say it happened while initialising", policy, err)
				}
				if took < timeout || took > timeout+time.Second {
					t.Fatalf("%s: stopped after %s, want the deadline (%s) plus a small margin", policy, took, timeout)
				}
			}
		})
	}
}

// TestInterrupt_Sleep: a guest sleeping in a loop (sleep.wat) is stopped at
// the deadline, not at the end of its sleep.
func TestInterrupt_Sleep(t *testing.T) {
	const timeout = 300 * time.Millisecond
	e := newEngine(t, Config{Timeout: timeout})
	p := fixturePool(t, e, "sleep")
	start := time.Now()
	if err := p.Serve(context.Background(), testRequest(), &Response{}); !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if took := time.Since(start); took > timeout+200*time.Millisecond {
		t.Fatalf("stopped after %s", took)
	}
}

// TestRewrite_Renumbering runs a module (renumber.wat) that reaches
// functions in every way an index can appear — call, call_indirect through
// an element segment, ref.func in a global and in code, table.get, an
// export, the start function — and checks it computes what it would
// without the rewrite.
func TestRewrite_Renumbering(t *testing.T) {
	e := newEngine(t, Config{})
	mod, err := e.Compile(context.Background(), fixture(t, "renumber"))
	if err != nil {
		t.Fatal(err)
	}
	if mod.resettable {
		t.Fatal("a module that sets table entries must not be reset by snapshot")
	}
	for _, policy := range []Policy{PolicyPool, PolicyFresh} {
		p := e.NewPool(mod, "acme", "renumber", policy)
		resp := &Response{}
		if err := p.Serve(context.Background(), testRequest(), resp); err != nil {
			t.Fatal(err)
		}
		p.Close(context.Background())
		if string(resp.Body) != "123453" {
			t.Fatalf("%s: body = %s, want 123453", policy, resp.Body)
		}
	}
}

// TestRewrite_Globals: mutable globals are exported for resets; a mutable
// reference global makes the module not resettable, without refusing it.
func TestRewrite_Globals(t *testing.T) {
	in := fixture(t, "globals")
	rw, err := rewrite(in, DefaultCodeLimits())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"__wt_global_0", "__wt_global_2", "__wt_global_3"}
	if strings.Join(rw.globals, ",") != strings.Join(want, ",") || !rw.resettable {
		t.Fatalf("globals = %v, resettable %v; want %v, true", rw.globals, rw.resettable, want)
	}
	e := newEngine(t, Config{})
	mod, err := e.Compile(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.rt.InstantiateModule(context.Background(), mod.code.Load().cm, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	if g := m.ExportedGlobal("__wt_global_0"); g == nil || int32(g.Get()) != -5 {
		t.Fatalf("global 0 = %v", g)
	}
	if _, ok := mod.code.Load().cm.ExportedFunctions()["wt_handle"]; !ok {
		t.Fatal("rewriting lost the original exports")
	}

	ref := fixture(t, "global-funcref")
	if rw, err := rewrite(ref, DefaultCodeLimits()); err != nil || rw.resettable {
		t.Fatalf("funcref global: %v, resettable %v", err, rw != nil && rw.resettable)
	}
	clash := fixture(t, "export-clash")
	if _, err := rewrite(clash, DefaultCodeLimits()); err == nil || !strings.Contains(err.Error(), "__wt_") {
		t.Fatalf("an export named like the host's: err = %v", err)
	}
}

// TestRewrite_Limits: modules over a code limit are refused before they
// are compiled, naming the limit.
func TestRewrite_Limits(t *testing.T) {
	// repeat is a guest whose wt_handle is unit n times, then i32.const 0.
	repeat := func(n int, unit ...byte) []byte {
		return wasmgen.Guest(nil, append(bytes.Repeat(unit, n), wasmgen.OpI32Const, 0)).Encode()
	}
	loops := func(n int) []byte { // (loop) n times
		return repeat(n, wasmgen.OpLoop, wasmgen.BlockEmpty, wasmgen.OpEnd)
	}
	ifs := func(n int) []byte { // (if (i32.const 1) (then)) n times
		return repeat(n, wasmgen.OpI32Const, 1, wasmgen.OpIf, wasmgen.BlockEmpty, wasmgen.OpEnd)
	}
	drops := func(n int) []byte { // (drop (i32.const 1)) n times: 3 bytes each
		return repeat(n, wasmgen.OpI32Const, 1, wasmgen.OpDrop)
	}
	lim := CodeLimits{MaxFunctions: 10, MaxFunctionBytes: 1000, MaxNesting: 20, MaxBrTable: 31, MaxLocals: 40,
		MaxLoops: 25, MaxControl: 120, MaxTotalLocals: 1000}
	tests := []struct {
		name     string
		ok, over []byte
		want     string
	}{
		{"nesting", wasmgen.NestedBlocks(18), wasmgen.NestedBlocks(20), "nest deeper than 20"},
		{"functions", wasmgen.ManyFunctions(9), wasmgen.ManyFunctions(10), "defines 11 functions (limit 10)"},
		{"br_table", wasmgen.BrTable(30), wasmgen.BrTable(31), "more than 31 br_table targets"},
		{"loops", loops(25), loops(26), "more than 25 loops"},
		{"control", ifs(120), ifs(121), "more than 120 blocks, branches and loops"},
		{"locals", wasmgen.ManyLocals(40), wasmgen.ManyLocals(41), "more than 40 locals"},
		{"function size", drops(150), drops(400), "bytes (limit 1000)"},
	}
	e := newEngine(t, Config{CodeLimits: lim})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.Compile(context.Background(), tc.ok); err != nil {
				t.Fatalf("at the limit: %v", err)
			}
			_, err := e.Compile(context.Background(), tc.over)
			if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("over the limit: err = %v, want %q", err, tc.want)
			}
		})
	}
}

// verifyChecks re-reads a rewritten module and reports a function that does
// not start with the budget check or a loop not followed by one.
func verifyChecks(t testing.TB, out []byte) {
	t.Helper()
	r := &reader{b: out, i: 8}
	var code []byte
	globals := uint32(0)
	imported := uint32(0)
	for r.i < len(out) {
		id := r.byte()
		size := int(r.u32())
		content := out[r.i : r.i+size]
		cr := &reader{b: content}
		switch id {
		case secImport:
			for n := cr.u32(); n > 0; n-- {
				cr.name()
				cr.name()
				if cr.byte() == 0 {
					cr.u32()
					imported++
				} else {
					cr.limits()
				}
			}
		case secGlobal:
			globals = cr.u32() - 2
		case secCode:
			code = content
		}
		r.i += size
	}
	rw := &rewriter{globals: globals, importedFuncs: imported - 2}
	// like reports whether b starts with the check pat, whatever its weight.
	like := func(b, pat []byte, at int) bool {
		return len(b) >= len(pat) && bytes.Equal(b[:at], pat[:at]) &&
			bytes.Equal(b[at+checkWeightLen:len(pat)], pat[at+checkWeightLen:])
	}
	entry, entryAt := rw.appendEntryCheck(nil)
	isCheck := func(b []byte) bool { return like(b, entry, entryAt) }
	isLoopCheck := func(b []byte) bool {
		if bytes.HasPrefix(b, []byte{0x02, 0x40, 0x03}) {
			return true // the $retry loop around an out-of-line loop, checked inside
		}
		lr := &reader{b: b}
		if lr.byte() != 0x20 {
			return false
		}
		counter := lr.u32()
		pat, at := rw.appendLoopCheck(nil, counter)
		if like(b, pat, at) {
			return true
		}
		head, at := rw.appendLoopHead(nil, []byte{0x03, 0x40}, counter)
		pat = head[bytes.LastIndex(head[:at], []byte{0x03, 0x40})+2:]
		return like(b, pat, at-(len(head)-len(pat)))
	}
	cr := &reader{b: code}
	for n := cr.u32(); n > 0; n-- {
		size := int(cr.u32())
		body := code[cr.i : cr.i+size]
		cr.i += size
		br := &reader{b: body}
		for d := br.u32(); d > 0; d-- {
			br.u32()
			br.byte()
		}
		if !isCheck(body[br.i:]) {
			t.Fatalf("a function does not start with the budget check")
		}
		for br.i < len(body) {
			op := br.byte()
			switch op {
			case 0x02, 0x04:
				br.leb(5)
			case 0x03:
				br.leb(5)
				if !isLoopCheck(body[br.i:]) {
					t.Fatalf("a loop at byte %d is not followed by the budget check", br.i)
				}
			case 0x0B:
			case 0x10, 0x12, 0xD2:
				br.u32()
			case 0x11, 0x13:
				br.u32()
				br.u32()
			case 0xFC:
				if _, err := skipFC(br, &rewriter{out: &rewritten{}}); err != nil {
					t.Fatal(err)
				}
			case 0x0E:
				for n := br.u32(); n > 0; n-- {
					br.u32()
				}
				br.u32()
			default:
				if err := skipImmediates(br, op, &rewriter{out: &rewritten{}}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// FuzzRewrite: the rewriter reads untrusted bytes before wazero does. On
// any input it must fail cleanly or produce a module in which every
// function entry and loop header is checked, that wazero compiles whenever
// it compiles the original, and that exports what the original does.
func FuzzRewrite(f *testing.F) {
	for _, where := range []string{"request", "init", "start"} {
		f.Add(wasmgen.RecursionBomb(where))
	}
	f.Add(fixture(f, "state"))
	f.Add(fixture(f, "abi"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x06\x06\x01\x7f\x01\x41\x00\x0b\x07\x01\x00"))
	ctx := context.Background()
	plain := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCoreFeatures(api.CoreFeaturesV2))
	e := newEngine(f, Config{})
	f.Fuzz(func(t *testing.T, in []byte) {
		rw, err := rewrite(in, DefaultCodeLimits())
		if err != nil {
			return
		}
		verifyChecks(t, rw.code)
		// Custom sections do not change what a module means; the host drops
		// or copies them, and wazero's decoder trusts their name lengths.
		orig, err := plain.CompileModule(ctx, stripCustom(in))
		if err != nil {
			return
		}
		defer orig.Close(ctx)
		got, err := e.rt.CompileModule(ctx, rw.code)
		if err != nil {
			t.Fatalf("the original compiles, the rewritten module does not: %v", err)
		}
		defer got.Close(ctx)
		for name := range orig.ExportedFunctions() {
			if _, ok := got.ExportedFunctions()[name]; !ok {
				t.Fatalf("export %s lost", name)
			}
		}
	})
}

// TestInterrupt_StackOverflow: unbounded recursion traps at the host's
// depth limit, cheaply: wazero alone doubled the call stack up to ~50 MB
// first (160 MB allocated per overflow), and the same instance's pool keeps
// serving.
func TestInterrupt_StackOverflow(t *testing.T) {
	e := newEngine(t, Config{})
	p := fixturePool(t, e, "stack-overflow")
	for _, path := range []string{"/f", "/gg"} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		req := testRequest()
		req.Path = path
		err := p.Serve(context.Background(), req, &Response{})
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrTrap) || !strings.Contains(err.Error(), "call stack exhausted") {
			t.Fatalf("%s: err = %v, want the call stack trap", path, err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 40<<20 {
			t.Errorf("%s: a stack overflow allocated %d MiB", path, alloc>>20)
		}
	}
	for i := 0; i < 3; i++ { // deep but bounded recursion, repeatedly, on one instance
		req := testRequest()
		req.Path = "/"
		if err := p.Serve(context.Background(), req, &Response{}); err != nil {
			t.Fatalf("request %d after the overflows: %v", i, err)
		}
		req.Path = "/hhh"
		if err := p.Serve(context.Background(), req, &Response{}); err != nil {
			t.Fatalf("bounded recursion 10,000 deep: %v", err)
		}
	}
}

// TestInterrupt_LargeHostCalls: a loop of host calls that each do a lot of
// work (1 MiB of random_get, of stdout, of request body) is stopped at the
// deadline: those calls check it themselves, since the rewriter charges a
// host call only a small fixed weight.
func TestInterrupt_LargeHostCalls(t *testing.T) {
	const timeout = 300 * time.Millisecond
	e := newEngine(t, Config{Timeout: timeout})
	p := fixturePool(t, e, "large-hostcalls")
	for _, path := range []string{"/r", "/wr", "/get"} {
		req := testRequest()
		req.Path, req.Body = path, make([]byte, 1<<20)
		start := time.Now()
		if err := p.Serve(context.Background(), req, &Response{}); !errors.Is(err, ErrTimeout) {
			t.Fatalf("%s: err = %v, want a timeout", path, err)
		}
		if took := time.Since(start); took > timeout+500*time.Millisecond {
			t.Errorf("%s: stopped after %s", path, took)
		}
	}
}

// TestCompile_Budget: the compiler's estimated memory counts against the
// server's memory budget: a large module is refused as overloaded when the
// budget cannot cover its compile, and the charge is given back after.
func TestCompile_Budget(t *testing.T) {
	e := newEngine(t, Config{MemoryBudget: 64 << 20})
	_, err := e.Compile(context.Background(), wasmgen.HugeFunction(256<<10-64))
	if !errors.Is(err, ErrOverloaded) {
		t.Fatalf("a 256 KiB function under a 64 MiB budget: err = %v, want ErrOverloaded", err)
	}
	if _, err := e.Compile(context.Background(), wasmgen.HugeFunction(16<<10)); err != nil {
		t.Fatalf("a 16 KiB function: %v", err)
	}
	if n := e.MemoryInUse(); n != 0 {
		t.Fatalf("%d bytes still charged after compiling", n)
	}
}

// TestRewrite_LoopShapes: loops with and without parameters, results and
// branches that leave them (br, br_if, br_table to outer labels) compute
// what they would without the rewrite, with the budget spent so that the
// slow paths run.
func TestRewrite_LoopShapes(t *testing.T) {
	e := newEngine(t, Config{})
	p := fixturePool(t, e, "loop-shapes")
	resp := &Response{}
	if err := p.Serve(context.Background(), testRequest(), resp); err != nil {
		t.Fatal(err)
	}
	// sum leaves at the first odd n (3000), withparams sums 1..3000, nested
	// stops past 5,000,000.
	if got, want := string(resp.Body), `"000030000450150005000001"`; got != want {
		t.Fatalf("body = %s, want %s", got, want)
	}
}

// stripCustom returns wasm without its custom sections (for comparisons).
func stripCustom(wasm []byte) []byte {
	out := append([]byte(nil), wasm[:min(8, len(wasm))]...)
	r := &reader{b: wasm, i: 8}
	for r.i < len(wasm) {
		start := r.i
		id := r.byte()
		size := int(r.u32())
		if r.err != nil || size > len(wasm)-r.i {
			return wasm
		}
		r.i += size
		if id != secCustom {
			out = append(out, wasm[start:r.i]...)
		}
	}
	return out
}

// TestRewriteCache: the rewritten module is kept beside wazero's cache so
// a restart does not rewrite again; a damaged cache file is ignored.
func TestRewriteCache(t *testing.T) {
	dir := t.TempDir()
	src := wasmgen.RecursionBomb("request")
	for _, damage := range []func(path string){
		nil, // first run writes the file
		nil, // second run reads it
		func(path string) { os.WriteFile(path, []byte("garbage"), 0o600) },
		func(path string) {
			b, _ := os.ReadFile(path)
			os.WriteFile(path, b[:len(b)-3], 0o600)
		},
	} {
		files, _ := filepath.Glob(filepath.Join(dir, "rewritten", "*"))
		if damage != nil {
			if len(files) != 1 {
				t.Fatalf("cache files: %v", files)
			}
			damage(files[0])
		}
		e := newEngine(t, Config{CacheDir: dir, Timeout: 100 * time.Millisecond})
		mod, err := e.Compile(context.Background(), src)
		if err != nil {
			t.Fatal(err)
		}
		p := e.NewPool(mod, "acme", "rec", PolicyPool)
		if err := p.Serve(context.Background(), testRequest(), &Response{}); !errors.Is(err, ErrTimeout) {
			t.Fatalf("from the cache the module must still be instrumented: err = %v", err)
		}
		p.Close(context.Background())
	}
}
