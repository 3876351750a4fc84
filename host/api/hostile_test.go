package api_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/host/api"
	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/host/internal/wasmgen"
)

// Tests of a hostile tenant through the real server: whatever one tenant's
// code does, the server answers other tenants and stops the hostile code
// at its limits.

// TestE2E_HostileRecursion: two requests that would recurse for years, with
// no loop for a termination check to sit on, end with 504 at the deadline,
// while another tenant and /healthz are answered throughout — with garbage
// collections forced meanwhile (a collection has to stop every goroutine,
// including the ones running guest code). The same code in _initialize
// makes the upload fail at the deadline instead of hanging it.
func TestE2E_HostileRecursion(t *testing.T) {
	const timeout = time.Second
	ts := start(t, api.Config{Engine: engine.Config{Timeout: timeout}})
	// Two hostile containers: one container runs at most half the cores'
	// worth of guests at once (a second bomb there would wait for the
	// first's slot, see TestSlots_ContainerCap), and this test is about
	// guests that all run at once.
	for _, c := range []string{"hostile0", "hostile1"} {
		ts.upload(c, "bomb", wasmgen.RecursionBomb("request"), "")
	}
	ts.upload("good", "hello", fixture(t, "hello"), "")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var worst atomic.Int64
	var served atomic.Int64
	failures := make(chan string, 100)
	wg.Add(2)
	go func() { // another tenant, and the server's own health
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			path := "/api/run/good/hello"
			if i%2 == 1 {
				path = "/healthz"
			}
			begin := time.Now()
			r := ts.req("GET", path, "", nil)
			if d := int64(time.Since(begin)); d > worst.Load() {
				worst.Store(d)
			}
			if r.Status != 200 {
				failures <- fmt.Sprintf("%s: %d %s", path, r.Status, r.Body)
			}
			served.Add(1)
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				runtime.GC()
			}
		}
	}()

	var bombs sync.WaitGroup
	for i := 0; i < 2; i++ {
		bombs.Add(1)
		go func() {
			defer bombs.Done()
			begin := time.Now()
			r := ts.req("GET", fmt.Sprintf("/api/run/hostile%d/bomb", i), "", nil)
			took := time.Since(begin)
			if r.Status != 504 || !strings.Contains(string(r.Body), "timeout") {
				failures <- fmt.Sprintf("bomb: %d %s, want 504 timeout", r.Status, r.Body)
			}
			if took > timeout+time.Second {
				failures <- fmt.Sprintf("bomb stopped after %s, want about %s", took, timeout)
			}
		}()
	}
	bombs.Wait()
	close(stop)
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
	if served.Load() < 10 {
		t.Errorf("only %d requests of the other tenant were served meanwhile", served.Load())
	}
	if w := time.Duration(worst.Load()); w > time.Second { // unbounded before: 28-33 s
		t.Errorf("the other tenant waited up to %s while the bombs ran", w)
	}
	t.Logf("other tenant: %d requests, slowest %s", served.Load(), time.Duration(worst.Load()))

	begin := time.Now()
	r := ts.req("PUT", "/api/webtask/hostile0/initbomb", ts.Admin, wasmgen.RecursionBomb("init"), "Content-Type: application/wasm")
	wantError(t, r, 400, "initialising")
	if took := time.Since(begin); took > timeout+time.Second {
		t.Errorf("the upload took %s, want about %s", took, timeout)
	}
	if r := ts.req("GET", "/api/run/good/hello", "", nil); r.Status != 200 {
		t.Errorf("after the bombs: %d %s", r.Status, r.Body)
	}
}

// TestE2E_FreshLeak: under the fresh policy every request sees the state
// right after initialisation, whichever way the guest tries to leave a
// trace (testdata/fresh-leak.wat: memory size, memory contents, a mutable
// global and a table entry, answered as "[size,mem,global,table]");
// under the pool policy the same guest does see its traces (so the guest
// can tell). fresh-leak-table.wat also rewrites the table, which makes the
// host replace instances rather than reset them.
func TestE2E_FreshLeak(t *testing.T) {
	ts := start(t, api.Config{})
	for _, name := range []string{"fresh-leak", "fresh-leak-table"} {
		withTable := name == "fresh-leak-table"
		wasm := fixture(t, name)
		ts.upload("acme", name+"-fresh", wasm, "?meta=wt-instance:fresh")
		ts.upload("acme", name+"-pool", wasm, "")
		for i := 0; i < 5; i++ {
			r := ts.req("GET", "/api/run/acme/"+name+"-fresh", "", nil)
			if r.Status != 200 || string(r.Body) != "[1,0,0,0]" {
				t.Fatalf("%s fresh, request %d: %d %s, want [1,0,0,0]", name, i+1, r.Status, r.Body)
			}
		}
		want := []string{"[1,0,0,0]", "[2,1,1,1]"}
		if !withTable {
			want[1] = "[2,1,1,0]"
		}
		for i, w := range want {
			if r := ts.req("GET", "/api/run/acme/"+name+"-pool", "", nil); string(r.Body) != w {
				t.Fatalf("%s pool, request %d: %s, want %s", name, i+1, r.Body, w)
			}
		}
	}
}

// procStatus reads a field of /proc/self/status in bytes.
func procStatus(t testing.TB, field string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb << 10
		}
	}
	t.Skipf("no %s in /proc/self/status", field)
	return 0
}

// TestE2E_MemoryBombs: four concurrent requests that each grow memory to
// the 64 MiB limit and write all of it cost the process about 64 MiB each
// at the peak, not several times that, and give it back afterwards.
func TestE2E_MemoryBombs(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("RSS is read from /proc")
	}
	const limit = 64 << 20
	ts := start(t, api.Config{Engine: engine.Config{MemoryLimitPages: limit >> 16}})
	ts.upload("hostile", "mem", fixture(t, "memory-bomb"), "")
	ts.req("GET", "/healthz", "", nil)
	runtime.GC()
	base := procStatus(t, "VmRSS")
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the RSS high-water mark: %v", err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := ts.req("GET", "/api/run/hostile/mem", "", nil); r.Status != 200 {
				t.Errorf("memory bomb: %d %s", r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	peak := procStatus(t, "VmHWM") - base
	t.Logf("RSS: %d MiB before, peak +%d MiB for 4 bombs of %d MiB", base>>20, peak>>20, limit>>20)
	if peak > 4*limit+96<<20 {
		t.Errorf("4 bombs of %d MiB raised the peak RSS by %d MiB", limit>>20, peak>>20)
	}
	runtime.GC()
	if after := procStatus(t, "VmRSS") - base; after > limit {
		t.Errorf("after the bombs RSS stays %d MiB above where it was", after>>20)
	}
}

// TestE2E_CompileBombs: modules built to make the compiler work for minutes
// or gigabytes are refused at upload within a moment, the largest ones the
// limits let through compile within seconds, and meanwhile another tenant
// is served and a new small webtask deploys without waiting behind them.
func TestE2E_CompileBombs(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles for several seconds")
	}
	for _, tiered := range []bool{false, true} { // wasmtask serve tiers by default
		t.Run(fmt.Sprintf("tiered=%v", tiered), func(t *testing.T) {
			compileBombs(t, api.Config{Engine: engine.Config{Tiered: tiered}})
		})
	}
}

func compileBombs(t *testing.T, cfg api.Config) {
	ts := start(t, cfg)
	ts.upload("good", "hello", fixture(t, "hello"), "")
	lim := engine.DefaultCodeLimits()
	refused := []struct {
		name string
		wasm []byte
		want string
	}{
		{"nesting", wasmgen.NestedBlocks(lim.MaxNesting), "nest deeper"},
		{"loops", wasmgen.NestedLoops(50_000), "loops"},
		{"br_table", wasmgen.BrTable(lim.MaxBrTable + 1), "targets"},
		{"function", wasmgen.HugeFunction(15 << 20), "bytes (limit"},
		{"functions", wasmgen.ManyFunctions(1_000_000), "functions (limit"},
		{"locals", wasmgen.ManyLocals(1 << 30), "locals"},
		{"loops-count", wasmgen.NestedLoops(lim.MaxLoops + 1), "loops"},
		{"control", wasmgen.Repeat(lim.MaxControl, []byte{0x02, 0x40, 0x0B}), "blocks, branches"}, // + its own block
	}
	allowed := []struct { // quickest to compile first
		name string
		wasm []byte
	}{
		{"loops", wasmgen.NestedLoops(lim.MaxLoops)},
		{"br_table", wasmgen.BrTable(lim.MaxBrTable - 1)},
		{"nesting", wasmgen.NestedBlocks(lim.MaxNesting - 1)},
		{"function", wasmgen.HugeFunction(lim.MaxFunctionBytes - 64)},
		{"functions", wasmgen.ManyFunctions(lim.MaxFunctions - 1)},
	}
	if raceEnabled() {
		// The race detector makes compiling several times slower (the
		// 99,999 functions alone take ~37 s on two cores), and heavy
		// modules compile one at a time: the last would wait past the
		// client's timeout. Two still compile, one behind the other.
		allowed = allowed[:2]
	}

	stop := make(chan struct{})
	done := make(chan struct{})
	var worst atomic.Int64
	failures := make(chan string, 100)
	go func() { // another tenant throughout
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			begin := time.Now()
			if r := ts.req("GET", "/api/run/good/hello", "", nil); r.Status != 200 {
				failures <- fmt.Sprintf("good tenant: %d %s", r.Status, r.Body)
			}
			if d := int64(time.Since(begin)); d > worst.Load() {
				worst.Store(d)
			}
		}
	}()

	for _, b := range refused {
		begin := time.Now()
		r := ts.req("PUT", "/api/webtask/hostile/"+b.name, ts.Admin, b.wasm, "Content-Type: application/wasm")
		wantError(t, r, 400, b.want)
		if took := time.Since(begin); took > 4*time.Second {
			t.Errorf("%s (%d bytes): refused after %s", b.name, len(b.wasm), took)
		}
	}
	var heavy sync.WaitGroup
	for _, b := range allowed {
		heavy.Add(1)
		go func() {
			defer heavy.Done()
			begin := time.Now()
			r := ts.req("PUT", "/api/webtask/hostile/ok-"+b.name, ts.Admin, b.wasm, "Content-Type: application/wasm")
			if r.Status != 200 {
				failures <- fmt.Sprintf("%s at the limit: %d %s", b.name, r.Status, r.Body)
			}
			t.Logf("%s at the limit (%d bytes): %d after %s", b.name, len(b.wasm), r.Status, time.Since(begin))
		}()
	}
	// While those compile, a new small webtask deploys and answers promptly.
	time.Sleep(100 * time.Millisecond)
	begin := time.Now()
	ts.upload("other", "fresh-deploy", fixture(t, "hello"), "")
	if r := ts.req("GET", "/api/run/other/fresh-deploy", "", nil); r.Status != 200 {
		t.Errorf("small deploy beside the bombs: %d %s", r.Status, r.Body)
	}
	if took := time.Since(begin); took > 4*time.Second { // 11.5 s before the compile lanes
		t.Errorf("a small webtask took %s to deploy and answer beside the compile bombs", took)
	}
	heavy.Wait()
	close(stop)
	<-done
	close(failures)
	for f := range failures {
		t.Error(f)
	}
	if w := time.Duration(worst.Load()); w > 4*time.Second {
		t.Errorf("the other tenant waited up to %s during the compiles", w)
	}
	t.Logf("other tenant: slowest request %s", time.Duration(worst.Load()))
}
