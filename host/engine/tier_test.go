package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/host/internal/wasmgen"
)

// tieredEngine is an engine with Config.Tiered whose background compiles
// wait until release is called.
func tieredEngine(t *testing.T, cfg Config) (e *Engine, release func()) {
	t.Helper()
	cfg.Tiered = true
	e = newEngine(t, cfg)
	e.tierHold = make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(e.tierHold) }) }
	t.Cleanup(release)
	return e, release
}

func serveBody(t *testing.T, p *Pool, path string) string {
	t.Helper()
	req, resp := testRequest(), &Response{}
	req.Path = path
	if err := p.Serve(context.Background(), req, resp); err != nil {
		t.Fatal(err)
	}
	return string(resp.Body)
}

// idleInterpreted takes the pool's idle instances, reports whether each was
// made from the interpreter's code, and puts them back.
func idleInterpreted(p *Pool) (interpreted []bool) {
	var insts []*instance
	for len(p.idle) > 0 {
		inst := <-p.idle
		insts = append(insts, inst)
		interpreted = append(interpreted, inst.code.interpreted)
	}
	for _, inst := range insts {
		p.idle <- inst
	}
	return interpreted
}

// TestTiered_PooledMovesToCompiled: a new module serves from the
// interpreter before its compiled code exists; once it does, the pool
// drops its interpreted instance (the counter starts again) and keeps
// compiled ones.
func TestTiered_PooledMovesToCompiled(t *testing.T) {
	e, release := tieredEngine(t, Config{})
	mod := mustCompile(t, e, "state")
	if !mod.Interpreted() || e.Stats().Interpreting != 1 {
		t.Fatalf("before the background compile: Interpreted() = %v, Stats().Interpreting = %d", mod.Interpreted(), e.Stats().Interpreting)
	}
	p := e.NewPool(mod, "acme", "state", PolicyPool)
	defer p.Close(context.Background())
	for _, want := range []string{"[1,1]", "[2,2]", "[3,3]"} {
		if got := serveBody(t, p, "/"); got != want {
			t.Fatalf("interpreted: %s, want %s", got, want)
		}
	}
	if got := idleInterpreted(p); fmt.Sprint(got) != "[true]" {
		t.Fatalf("idle instances interpreted: %v, want [true]", got)
	}
	release()
	if err := mod.WaitCompiled(context.Background()); err != nil {
		t.Fatal(err)
	}
	if mod.Interpreted() || e.Stats().Interpreting != 0 {
		t.Fatalf("after the background compile: Interpreted() = %v, Stats().Interpreting = %d", mod.Interpreted(), e.Stats().Interpreting)
	}
	for _, want := range []string{"[1,1]", "[2,2]"} { // a new, compiled instance
		if got := serveBody(t, p, "/"); got != want {
			t.Fatalf("compiled: %s, want %s", got, want)
		}
	}
	if got := idleInterpreted(p); fmt.Sprint(got) != "[false]" {
		t.Fatalf("idle instances interpreted: %v, want [false]", got)
	}
}

// TestTiered_FreshKeepsSnapshot: a fresh pool's snapshot, taken from an
// interpreted instance, is restored into compiled ones; it is not taken
// again, and every request still starts clean.
func TestTiered_FreshKeepsSnapshot(t *testing.T) {
	if !resetSupported {
		t.Skip("no snapshot reset on this platform")
	}
	for _, fixtureName := range []string{"state", "state-48pages"} { // copied, and a memory image
		t.Run(fixtureName, func(t *testing.T) {
			e, release := tieredEngine(t, Config{})
			mod := mustCompile(t, e, fixtureName)
			p := e.NewPool(mod, "acme", "state", PolicyFresh)
			defer p.Close(context.Background())
			for range 3 {
				if got := serveBody(t, p, "/"); got != "[1,1]" {
					t.Fatalf("interpreted: %s, want [1,1]", got)
				}
			}
			snap := p.currentSnapshot()
			if snap == nil {
				t.Fatal("no snapshot after interpreted requests")
			}
			release()
			if err := mod.WaitCompiled(context.Background()); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if got := serveBody(t, p, "/"); got != "[1,1]" {
					t.Fatalf("compiled: %s, want [1,1]", got)
				}
			}
			if p.currentSnapshot() != snap {
				t.Error("the snapshot was taken again after the module was compiled")
			}
			if got := idleInterpreted(p); fmt.Sprint(got) != "[false]" {
				t.Fatalf("idle instances interpreted: %v, want [false]", got)
			}
		})
	}
}

// TestTiered_ConcurrentSwap: requests served in parallel while the compiled
// code arrives all answer as a clean instance does (run with -race).
func TestTiered_ConcurrentSwap(t *testing.T) {
	e := newEngine(t, Config{Tiered: true, MaxRunningPerContainer: 4})
	mod := mustCompile(t, e, "state")
	p := e.NewPool(mod, "acme", "state", PolicyFresh)
	defer p.Close(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				req, resp := testRequest(), &Response{}
				req.Path = "/"
				if err := p.Serve(context.Background(), req, resp); err != nil || string(resp.Body) != "[1,1]" {
					errs <- fmt.Errorf("request %d: %v %q", i, err, resp.Body)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := mod.WaitCompiled(context.Background()); err != nil || mod.Interpreted() {
		t.Fatalf("WaitCompiled = %v, Interpreted() = %v", err, mod.Interpreted())
	}
}

// TestTiered_Timeout: interpreted code is stopped at its deadline too.
func TestTiered_Timeout(t *testing.T) {
	e, _ := tieredEngine(t, Config{Timeout: 100 * time.Millisecond})
	mod := mustCompile(t, e, "spin")
	p := e.NewPool(mod, "acme", "loop", PolicyPool)
	defer p.Close(context.Background())
	start := time.Now()
	req := testRequest()
	req.Path = "/loop"
	if err := p.Serve(context.Background(), req, &Response{}); !errors.Is(err, ErrTimeout) {
		t.Fatalf("runaway loop, interpreted: err = %v", err)
	}
	// About 0.2 s for a 0.1 s limit (interpreted, the checks come
	// later); over 2 s under -race.
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("interrupt took %s", d)
	}
	if got := serveBody(t, p, "/ok"); got != "1" || !mod.Interpreted() {
		t.Fatalf("after the timeout: %q (interpreted: %v)", got, mod.Interpreted())
	}
}

// TestTiered_CacheHitCompilesAtOnce: a module whose compiled code is in the
// on-disk cache is not interpreted.
func TestTiered_CacheHitCompilesAtOnce(t *testing.T) {
	dir := t.TempDir()
	e, release := tieredEngine(t, Config{CacheDir: dir})
	mod := mustCompile(t, e, "state")
	release()
	if err := mod.WaitCompiled(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := e.Stats(); s.DiskMisses != 1 {
		t.Fatalf("disk misses = %d, want 1 (the background compile)", s.DiskMisses)
	}
	e.Close(context.Background())

	e2, _ := tieredEngine(t, Config{CacheDir: dir}) // held: a tiered compile would never finish
	mod = mustCompile(t, e2, "state")
	if mod.Interpreted() || e2.Stats().DiskHits != 1 {
		t.Fatalf("from the cache: Interpreted() = %v, disk hits %d", mod.Interpreted(), e2.Stats().DiskHits)
	}
	p := e2.NewPool(mod, "acme", "state", PolicyPool)
	defer p.Close(context.Background())
	if got := serveBody(t, p, "/"); got != "[1,1]" {
		t.Fatalf("got %s", got)
	}
}

// TestTiered_EvictAndClose: a module evicted, or an engine closed, before
// the compiled code is ready ends the background compile without a
// compiled module left behind, and without a panic in wazero.
func TestTiered_EvictAndClose(t *testing.T) {
	e, release := tieredEngine(t, Config{})
	mod := mustCompile(t, e, "state")
	p := e.NewPool(mod, "acme", "state", PolicyPool)
	if got := serveBody(t, p, "/"); got != "[1,1]" {
		t.Fatalf("got %s", got)
	}
	e.Evict(context.Background(), mod.SHA256)
	if got := serveBody(t, p, "/"); got != "[2,2]" { // the instance made before keeps working
		t.Fatalf("after Evict: %s", got)
	}
	p.Close(context.Background())
	release()
	if err := mod.WaitCompiled(context.Background()); !errors.Is(err, errEvicted) {
		t.Fatalf("WaitCompiled after Evict = %v, want errEvicted", err)
	}
	if e.Stats().Interpreting != 0 {
		t.Fatalf("Stats().Interpreting = %d after the background compile ended", e.Stats().Interpreting)
	}

	e, release = tieredEngine(t, Config{})
	mod = mustCompile(t, e, "state")
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	release()
	if err := mod.WaitCompiled(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitCompiled after Close = %v, want ErrClosed", err)
	}
}

// TestTiered_Backlog: at most maxInterpreting modules wait interpreted for
// the compiler; the next is compiled at once. The budget charged for the
// interpreted modules is given back once they are compiled.
func TestTiered_Backlog(t *testing.T) {
	e, release := tieredEngine(t, Config{})
	var mods []*Module
	for i := range maxInterpreting + 1 {
		mod, err := e.Compile(context.Background(), wasmgen.Guest(nil, []byte{wasmgen.OpI32Const, byte(i)}).Encode())
		if err != nil {
			t.Fatal(err)
		}
		if want := i < maxInterpreting; mod.Interpreted() != want {
			t.Fatalf("module %d: Interpreted() = %v, want %v", i, mod.Interpreted(), want)
		}
		mods = append(mods, mod)
	}
	if n, used := e.Stats().Interpreting, e.acct.used.Load(); n != maxInterpreting || used == 0 {
		t.Fatalf("Stats().Interpreting = %d, budget used %d bytes; want %d modules charged", n, used, maxInterpreting)
	}
	release()
	for _, mod := range mods {
		if err := mod.WaitCompiled(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n, used := e.Stats().Interpreting, e.acct.used.Load(); n != 0 || used != 0 {
		t.Fatalf("after the compiles: Stats().Interpreting = %d, budget used %d bytes; want 0, 0", n, used)
	}
}

// TestTiered_WarmJudgesCompiled: an interpreted _initialize that runs out
// of time is tried again once the module is compiled, so a module is
// refused for its compiled speed, not its interpreter's; one that spins
// forever is still refused.
func TestTiered_WarmJudgesCompiled(t *testing.T) {
	const limit, compiledAfter = 200 * time.Millisecond, 400 * time.Millisecond
	e, release := tieredEngine(t, Config{Timeout: limit})
	mod := mustCompile(t, e, "init-spin")
	p := e.NewPool(mod, "acme", "slow", PolicyPool)
	defer p.Close(context.Background())
	time.AfterFunc(compiledAfter, release)
	start := time.Now()
	if err := p.Warm(context.Background()); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Warm of a spinning _initialize = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d < compiledAfter+limit {
		t.Fatalf("Warm gave up after %s, before trying the compiled code (ready after %s)", d, compiledAfter)
	}
	if mod.Interpreted() {
		t.Error("the module is still interpreted")
	}
}

// TestTiered_CompileBombs: the largest modules the code limits let through
// are taken by the interpreter within moments (well under the compiler's
// seconds), and what their interpreted code holds is charged to the budget
// while they wait for the compiler.
func TestTiered_CompileBombs(t *testing.T) {
	lim := DefaultCodeLimits()
	for _, b := range []struct {
		name string
		wasm []byte
	}{
		{"loops", wasmgen.NestedLoops(lim.MaxLoops)},
		{"br_table", wasmgen.BrTable(lim.MaxBrTable - 1)},
		{"nesting", wasmgen.NestedBlocks(lim.MaxNesting - 1)},
		{"control", wasmgen.Repeat(lim.MaxControl-1, []byte{0x02, 0x40, 0x0B})},
		{"function", wasmgen.HugeFunction(lim.MaxFunctionBytes - 64)},
		{"functions", wasmgen.ManyFunctions(lim.MaxFunctions - 1)},
	} {
		t.Run(b.name, func(t *testing.T) {
			e, _ := tieredEngine(t, Config{})
			start := time.Now()
			mod, err := e.Compile(context.Background(), b.wasm)
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); !mod.Interpreted() || d > 10*time.Second {
				t.Fatalf("Interpreted() = %v after %s", mod.Interpreted(), d)
			}
			rw, err := rewrite(b.wasm, lim)
			if err != nil {
				t.Fatal(err)
			}
			if used := e.acct.used.Load(); used < rw.interpretedBytes || rw.interpretedBytes < 30*int64(len(rw.code)) {
				t.Fatalf("budget used %d bytes, estimate %d for %d bytes of code", used, rw.interpretedBytes, len(rw.code))
			}
		})
	}
}
