package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/host/internal/wasmgen"
)

// growPool compiles wasmgen.MemoryGrower(minPages, initPages) into e and
// returns a pool of it: its memory starts at minPages; _initialize (when
// initPages > 0) grows it to initPages. wt_handle grows it to as many pages
// as the request body has bytes (an empty body: until memory.grow fails),
// writes a byte in every 4 KiB of the whole memory, and answers 8 bytes:
// memory.size in pages and 1 if memory.grow returned -1 (little endian
// u32s). As text it is host/internal/wasmgen/testdata/grow.wat.
func growPool(t testing.TB, e *Engine, policy Policy, minPages, initPages int) *Pool {
	t.Helper()
	mod, err := e.Compile(context.Background(), wasmgen.MemoryGrower(minPages, initPages))
	if err != nil {
		t.Fatal(err)
	}
	p := e.NewPool(mod, "acme", "grow", policy)
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

// serveGrow runs one request of a growPool growing to target pages (0: until
// memory.grow fails), returning the pages it ended with and whether
// memory.grow failed.
func serveGrow(p *Pool, target int) (pages uint32, failed bool, err error) {
	req := testRequest()
	req.Body = make([]byte, target)
	resp := &Response{}
	if err := p.Serve(context.Background(), req, resp); err != nil {
		return 0, false, err
	}
	if len(resp.Body) != 8 {
		return 0, false, errors.New("answer of " + strconv.Itoa(len(resp.Body)) + " bytes")
	}
	return binary.LittleEndian.Uint32(resp.Body), binary.LittleEndian.Uint32(resp.Body[4:]) == 1, nil
}

// procStatus reads a field of /proc/self/status in bytes (VmRSS, VmHWM).
func procStatus(t testing.TB, field string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// settledRSS returns the resident set once the Go heap has given back
// what it can.
func settledRSS(t testing.TB) int64 {
	runtime.GC()
	debug.FreeOSMemory()
	return procStatus(t, "VmRSS")
}

const mib = 1 << 20

// TestPool_MemoryRSS: four pooled instances that each fill a 64 MiB memory
// cost the process about 4 × 64 MiB of RSS, also at the peak while they
// grow (wazero's default memory reallocated and copied on every grow, and
// the heap peaked near 4× that), and closing the pool gives it back.
func TestPool_MemoryRSS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/status")
	}
	const limitPages, n = 1024, 4 // 64 MiB
	const margin = 48 * mib
	e := newEngine(t, Config{MemoryLimitPages: limitPages, MaxIdle: n, MemoryBudget: 1 << 40})
	// _initialize fills the memory: the instances stay pooled (see keep).
	p := growPool(t, e, PolicyPool, 1, limitPages)

	base := settledRSS(t)
	peakKnown := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil // resets VmHWM
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	insts := make(chan *instance, n)
	for range n { // n instances at once: hold each until all exist
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			inst, err := p.acquire(context.Background(), time.Now().Add(time.Minute))
			if err != nil {
				errs <- err
				return
			}
			insts <- inst
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	close(insts)
	for inst := range insts {
		p.release(inst)
	}
	if p.Idle() != n {
		t.Fatalf("%d idle instances, want %d", p.Idle(), n)
	}
	for range n { // requests touch the memory again; the instances stay
		if pages, failed, err := serveGrow(p, 0); err != nil || pages != limitPages || !failed {
			t.Fatalf("request: %d pages, memory.grow failed %v, err %v", pages, failed, err)
		}
	}
	if peakKnown {
		peak := procStatus(t, "VmHWM") - base
		t.Logf("peak RSS while %d instances grew to %d MiB: +%d MiB", n, limitPages/16, peak/mib)
		if peak > n*limitPages*pageSize+margin {
			t.Errorf("peak RSS grew by %d MiB, want at most %d × %d MiB + %d MiB", peak/mib, n, limitPages/16, margin/mib)
		}
	}
	held := settledRSS(t) - base
	t.Logf("RSS of %d idle instances: +%d MiB", p.Idle(), held/mib)
	if held > int64(p.Idle())*limitPages*pageSize+margin || held < int64(p.Idle())*limitPages*pageSize*3/4 {
		t.Errorf("%d idle instances of %d MiB hold %d MiB of RSS", p.Idle(), limitPages/16, held/mib)
	}
	if got, want := e.MemoryInUse(), int64(p.Idle())*limitPages*pageSize; got != want {
		t.Errorf("MemoryInUse() = %d, want %d", got, want)
	}

	p.Close(context.Background())
	after := settledRSS(t) - base
	t.Logf("RSS after Close: %+d MiB", after/mib)
	if after > 16*mib {
		t.Errorf("after Close the process still holds %d MiB more than before", after/mib)
	}
	if got := e.MemoryInUse(); got != 0 {
		t.Errorf("MemoryInUse() after Close = %d", got)
	}
}

// TestPool_MemoryBudget_Grow: over the budget memory.grow fails in the
// guest (it returns -1) instead of the server growing, whatever the policy.
func TestPool_MemoryBudget_Grow(t *testing.T) {
	const budget = 16 * mib
	tests := []struct {
		name        string
		policy      Policy
		instantiate bool
	}{
		{"pool", PolicyPool, false},
		{"fresh", PolicyFresh, false},
		{"fresh-instantiate", PolicyFresh, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, Config{MemoryLimitPages: 1024, MemoryBudget: budget, FreshByInstantiate: tc.instantiate})
			p := growPool(t, e, tc.policy, 1, 0)
			for i := range 3 {
				pages, failed, err := serveGrow(p, 0)
				if err != nil {
					t.Fatal(err)
				}
				if !failed || int64(pages)*pageSize > budget || pages < 200 {
					t.Fatalf("request %d: grew to %d pages (memory.grow failed: %v) under a budget of %d pages",
						i+1, pages, failed, budget/pageSize)
				}
				if used := e.MemoryInUse(); used > budget {
					t.Fatalf("MemoryInUse() = %d, over the budget %d", used, budget)
				}
			}
		})
	}
}

// TestPool_MemoryBudget_Trim: a pool that needs memory for a new instance
// first closes idle instances of other pools, least recently used first,
// and fails with ErrOverloaded only when nothing idle is left.
func TestPool_MemoryBudget_Trim(t *testing.T) {
	e := newEngine(t, Config{MemoryBudget: 10 * mib})
	// older and newer each keep an idle instance of 3 MiB (_initialize).
	older := growPool(t, e, PolicyPool, 1, 48)
	newer := growPool(t, e, PolicyPool, 1, 48)
	for _, p := range []*Pool{older, newer} {
		if _, _, err := serveGrow(p, 1); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // distinct lastUsed
	}
	if used := e.MemoryInUse(); used != 6*mib {
		t.Fatalf("MemoryInUse() = %d MiB, want 6", used/mib)
	}

	// big starts with 6 MiB: one idle instance (the older pool's) must go.
	big := growPool(t, e, PolicyPool, 96, 0)
	inst, err := big.acquire(context.Background(), time.Now().Add(time.Minute))
	if err != nil {
		t.Fatalf("new instance when idle ones can be trimmed: %v", err)
	}
	if older.Idle() != 0 || newer.Idle() != 1 {
		t.Fatalf("idle after trimming: older %d, newer %d; want 0 and 1", older.Idle(), newer.Idle())
	}

	// With big's instance busy, a second one cannot fit even without newer's.
	_, err = big.acquire(context.Background(), time.Now().Add(time.Minute))
	if !errors.Is(err, ErrOverloaded) {
		t.Fatalf("second instance over the budget: err = %v, want ErrOverloaded", err)
	}
	if newer.Idle() != 0 {
		t.Fatal("the idle instance of the newer pool was not trimmed before failing")
	}
	if _, _, err := serveGrow(older, 1); err != nil { // 3 MiB fits again
		t.Fatal(err)
	}
	big.release(inst)
	if _, _, err := serveGrow(big, 1); err != nil { // reuses the idle instance
		t.Fatal(err)
	}
	if used := e.MemoryInUse(); used > 10*mib {
		t.Fatalf("MemoryInUse() = %d MiB, over the budget", used/mib)
	}
}

// TestPool_MemoryBudget_Snapshots: snapshots count (bytes copies and
// memfd images), trimming drops those of other pools when idle instances
// are not enough, and a pool that cannot take its snapshot answers
// ErrOverloaded.
func TestPool_MemoryBudget_Snapshots(t *testing.T) {
	if !resetSupported {
		t.Skip("no snapshots on this platform")
	}
	e := newEngine(t, Config{MemoryBudget: 8 * mib})
	image := growPool(t, e, PolicyFresh, 1, 64) // 4 MiB: a memfd image
	if err := image.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	if used := e.MemoryInUse(); used != 4*mib {
		t.Fatalf("MemoryInUse() with a 4 MiB snapshot = %d", used)
	}
	// 5 MiB for the new pool's first instance: the image must go.
	other := growPool(t, e, PolicyPool, 80, 0)
	if err := other.Warm(context.Background()); err != nil {
		t.Fatalf("Warm when a snapshot can be dropped: %v", err)
	}
	if image.currentSnapshot() != nil {
		t.Fatal("snapshot of the unused pool kept")
	}
	// The fresh pool takes a snapshot again: 4 MiB instance + 4 MiB image.
	if _, _, err := serveGrow(image, 1); err != nil {
		t.Fatal(err)
	}
	if used := e.MemoryInUse(); used != 8*mib { // its idle instance and its image
		t.Fatalf("MemoryInUse() = %d MiB, want 8", used/mib)
	}
	// A fresh pool whose 5 MiB instance fits once the other pool's idle
	// instance and image are gone, but whose snapshot then does not.
	tight := growPool(t, e, PolicyFresh, 80, 0)
	if _, _, err := serveGrow(tight, 1); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("snapshot over the budget: err = %v, want ErrOverloaded", err)
	}
	if image.Idle() != 0 || image.currentSnapshot() != nil {
		t.Fatal("the other pool was not trimmed first")
	}
	if used := e.MemoryInUse(); used != 0 {
		t.Fatalf("MemoryInUse() = %d after a failed snapshot, want 0", used)
	}
}

// TestEngine_MemoryInUse: whatever the pools did — every policy, growing
// memories, snapshots kept as bytes and as images, failed instantiations,
// instances dropped for growing — the budget is back to zero once they
// are closed.
func TestEngine_MemoryInUse(t *testing.T) {
	for _, instantiate := range []bool{false, true} {
		e := newEngine(t, Config{MemoryLimitPages: 280, MaxIdle: 2, FreshByInstantiate: instantiate})
		var pools []*Pool
		for _, policy := range []Policy{PolicyPool, PolicyFresh} {
			for _, init := range []int{0, 8} { // 64 KiB: bytes; 512 KiB: an image
				pools = append(pools, growPool(t, e, policy, 1, init))
			}
		}
		var wg sync.WaitGroup
		for _, p := range pools {
			for g := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 8 {
						target := []int{1, 16, 100, 0}[(g+i)%4] // 0: to the limit, past init + 16 MiB
						if _, _, err := serveGrow(p, target); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
		}
		wg.Wait()
		// Whichever request ran last, leave an idle instance in each pool
		// (one grown to the limit is dropped, and the container's run slots
		// decide the order).
		for _, p := range pools {
			if _, _, err := serveGrow(p, 1); err != nil {
				t.Fatal(err)
			}
		}
		if e.MemoryInUse() == 0 {
			t.Fatal("MemoryInUse() = 0 with idle instances")
		}
		// A module whose data segment does not fit its memory fails to
		// instantiate after wazero allocated the memory.
		mod, err := e.Compile(context.Background(), fixture(t, "data-out-of-bounds"))
		if err != nil {
			t.Fatal(err)
		}
		bad := e.NewPool(mod, "acme", "bad", PolicyPool)
		if err := bad.Warm(context.Background()); !errors.Is(err, ErrInit) {
			t.Fatalf("Warm of a module with an out-of-bounds data segment: %v", err)
		}
		bad.Close(context.Background())
		for _, p := range pools {
			p.Close(context.Background())
		}
		if used := e.MemoryInUse(); used != 0 {
			t.Fatalf("FreshByInstantiate %v: MemoryInUse() after closing every pool = %d", instantiate, used)
		}
		e.poolsMu.Lock()
		open := len(e.pools)
		e.poolsMu.Unlock()
		if open != 0 {
			t.Fatalf("%d pools still registered after Close", open)
		}
	}
}

// TestPool_MemoryBudget_Hammer: pools of every policy growing memories
// under a tight budget, trimming each other and being closed and replaced
// meanwhile: requests succeed or fail with ErrOverloaded (or ErrClosed for
// a replaced pool), the budget holds throughout, and it is back to zero
// at the end. Run with -race.
func TestPool_MemoryBudget_Hammer(t *testing.T) {
	const budget = 24 * mib
	e := newEngine(t, Config{MemoryLimitPages: 160, MaxIdle: 2, MemoryBudget: budget})
	mods := make([]*Module, 0, 2)
	for _, pages := range [][2]int{{32, 0}, {1, 64}} { // 2 MiB at start, 4 MiB after _initialize
		mod, err := e.Compile(context.Background(), wasmgen.MemoryGrower(pages[0], pages[1]))
		if err != nil {
			t.Fatal(err)
		}
		mods = append(mods, mod)
	}
	const slots = 6
	var mu sync.Mutex
	pools := make([]*Pool, slots)
	newPool := func(i int) *Pool {
		return e.NewPool(mods[i%2], "acme", "hammer"+strconv.Itoa(i), []Policy{PolicyPool, PolicyFresh}[i/2%2])
	}
	for i := range pools {
		pools[i] = newPool(i)
	}
	var wg sync.WaitGroup
	var overloaded, served sync.Map
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				slot := (g*7 + i) % slots
				mu.Lock()
				p := pools[slot]
				if i%13 == 0 { // replace the pool, as an upload does
					pools[slot] = newPool(slot)
					p.Close(context.Background())
					p = pools[slot]
				}
				mu.Unlock()
				_, _, err := serveGrow(p, []int{1, 40, 0, 100}[i%4])
				switch {
				case err == nil:
					served.Store(g*1000+i, true)
				case errors.Is(err, ErrOverloaded):
					overloaded.Store(g*1000+i, true)
				case !errors.Is(err, ErrClosed):
					t.Error(err)
					return
				}
				if used := e.MemoryInUse(); used > budget {
					t.Errorf("MemoryInUse() = %d MiB, over the budget", used/mib)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, p := range pools {
		p.Close(context.Background())
	}
	if used := e.MemoryInUse(); used != 0 {
		t.Fatalf("MemoryInUse() after closing every pool = %d", used)
	}
	count := func(m *sync.Map) (n int) {
		m.Range(func(any, any) bool { n++; return true })
		return n
	}
	t.Logf("%d requests served, %d overloaded", count(&served), count(&overloaded))
	if count(&served) == 0 {
		t.Fatal("no request served")
	}
}

// TestPool_DropsGrownInstances: a pooled instance whose memory grew past
// max(2× its post-initialisation size, that + 16 MiB) is closed at release
// instead of kept idle.
func TestPool_DropsGrownInstances(t *testing.T) {
	e := newEngine(t, Config{MemoryLimitPages: 1024})
	tests := []struct {
		name      string
		initPages int // after _initialize
		grow      int // pages the request grows to
		kept      bool
	}{
		{"small growth kept", 1, 200, true},                          // 12.5 MiB < 1 page + 16 MiB
		{"past init + 16 MiB dropped", 1, 300, false},                // 18.75 MiB
		{"large init: up to 2× kept", 320, 640, true},                // 40 MiB = 2 × 20 MiB
		{"large init: past 2× dropped", 320, 641, false},             // just over
		{"large init: within + 16 MiB of small init", 64, 300, true}, // 4 MiB + 16 MiB ≥ 18.75 MiB
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := growPool(t, e, PolicyPool, 1, tc.initPages)
			if pages, _, err := serveGrow(p, tc.grow); err != nil || int(pages) != max(tc.grow, tc.initPages) {
				t.Fatalf("grew to %d pages, err %v", pages, err)
			}
			if kept := p.Idle() == 1; kept != tc.kept {
				t.Fatalf("instance kept = %v, want %v", kept, tc.kept)
			}
			p.Close(context.Background())
		})
	}
}

// Test_linearMemory_heap: the fallback where no region can be reserved
// (other platforms) grows by copying, charges its capacity, fails over the
// budget, and gives everything back when freed.
func Test_linearMemory_heap(t *testing.T) {
	acct := &memAccount{limit: 4 * pageSize}
	m := &linearMemory{acct: acct, max: 16 * pageSize}
	if b := m.Reallocate(pageSize); len(b) != pageSize || acct.used.Load() != pageSize {
		t.Fatalf("one page: len %d, charged %d", len(b), acct.used.Load())
	}
	m.buf[10] = 7
	if b := m.Reallocate(4 * pageSize); len(b) != 4*pageSize || b[10] != 7 || acct.used.Load() != 4*pageSize {
		t.Fatalf("four pages: len %d, kept %d, charged %d", len(b), b[10], acct.used.Load())
	}
	if b := m.Reallocate(5 * pageSize); b != nil {
		t.Fatal("grew past the budget")
	}
	if b := m.Reallocate(17 * pageSize); b != nil {
		t.Fatal("grew past the maximum")
	}
	m.Free()
	m.Free()
	if used := acct.used.Load(); used != 0 {
		t.Fatalf("charged %d after Free", used)
	}
}

// TestDefaultMemoryBudget: half of the machine, within what it has.
func TestDefaultMemoryBudget(t *testing.T) {
	b := DefaultMemoryBudget()
	if b <= 0 {
		t.Fatalf("DefaultMemoryBudget() = %d", b)
	}
	if total := memTotal(); total > 0 && b > total/2 {
		t.Fatalf("DefaultMemoryBudget() = %d MiB, more than half of MemTotal (%d MiB)", b/mib, total/mib)
	}
	if c := cgroupLimit(); c > 0 && b > c/2 {
		t.Fatalf("DefaultMemoryBudget() = %d MiB, more than half of the cgroup limit (%d MiB)", b/mib, c/mib)
	}
	if got := (Config{}).withDefaults().MemoryBudget; got != b {
		t.Fatalf("zero MemoryBudget defaults to %d, want %d", got, b)
	}
}

// BenchmarkLinearMemory is the allocator's share of an instantiation: a
// region for a 128 MiB maximum, one 64 KiB page written at both ends,
// freed. "cached" reuses freed regions (the engine's way), "mmap" maps and
// unmaps one each time, faulting the pages in afresh.
func BenchmarkLinearMemory(b *testing.B) {
	for _, cached := range []bool{true, false} {
		name := "cached"
		if !cached {
			name = "mmap"
		}
		b.Run(name, func(b *testing.B) {
			acct := &memAccount{limit: 1 << 40}
			if !cached {
				acct.regions.flush() // keeps none
			}
			b.Cleanup(acct.close)
			for b.Loop() {
				a := &memAllocator{acct: acct, reserved: pageSize}
				m := a.Allocate(pageSize, 2048*pageSize).(*linearMemory)
				buf := m.Reallocate(pageSize)
				buf[0], buf[pageSize-1] = 1, 1
				m.Free()
			}
		})
	}
}

// TestCopyChanged restores every page a request may have written — one
// the snapshot holds zeros in (compared with the shared zero page) and one
// it holds data in, a partial last page included — with and without the
// zero-page map, and leaves what lies past the snapshot alone.
func TestCopyChanged(t *testing.T) {
	const n = 5*imagePage + 100 // a partial last page
	src := make([]byte, n)
	for _, off := range []int{0, 2*imagePage + 7, 5*imagePage + 50} { // pages 0, 2, 5 hold data
		src[off] = byte(off%251 + 1)
	}
	zero := zeroPages(src)
	if want := []bool{false, true, false, true, true, false}; !slices.Equal(zero, want) {
		t.Fatalf("zeroPages = %v, want %v", zero, want)
	}
	for _, z := range [][]bool{zero, nil} {
		dst := bytes.Clone(src)
		dst[imagePage+9] = 1       // a zero page written
		dst[2*imagePage+7] = 0     // a data page written
		dst[5*imagePage+99] = 0xff // the partial last page
		dst = append(dst, 0xee)    // past src: not copyChanged's
		copyChanged(dst, src, z)
		if !bytes.Equal(dst[:n], src) || dst[n] != 0xee {
			t.Fatalf("zero=%v: restored memory differs from the snapshot", z != nil)
		}
	}
}
