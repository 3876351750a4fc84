package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmtask/wasmtask/abi"
)

// Policy says whether instances are reused between requests.
type Policy uint8

// Instance policies.
const (
	// PolicyPool reuses an instance for later requests of the same webtask:
	// globals and memory survive between requests, as in http-wasm.
	PolicyPool Policy = iota
	// PolicyFresh creates a new instance for every request and closes it
	// afterwards: nothing survives between requests.
	PolicyFresh
)

// ParsePolicy reads "pool" or "fresh".
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "pool":
		return PolicyPool, nil
	case "fresh":
		return PolicyFresh, nil
	}
	return 0, fmt.Errorf("engine: unknown instance policy %q (want pool or fresh)", s)
}

// String returns "pool" or "fresh".
func (p Policy) String() string {
	if p == PolicyFresh {
		return "fresh"
	}
	return "pool"
}

// Pool serves the requests of one webtask. Its instances never serve another
// webtask, and each serves one request at a time. It is safe for concurrent use.
type Pool struct {
	e         *Engine
	mod       *Module
	container string
	name      string
	policy    Policy
	slots     *runSlots // the container's (slots.go)
	// source is the webtask's code for a module that interprets it
	// (NewPoolSource); nil for a module that is the webtask.
	source []byte
	idle   chan *instance
	// reset: the fresh policy is served by restoring used instances to a
	// snapshot taken right after _initialize, instead of instantiating.
	reset bool

	mu     sync.Mutex
	closed bool

	lastUsed    atomic.Int64 // unix nanoseconds of the last request, or of the pool's creation or preparation
	lastRequest atomic.Int64 // unix nanoseconds of the last request, 0 before the first

	// snapMu is held only by what drops the snapshot itself when it finds
	// the pool closed (newResettable, trimSnapshot; see Close): read, the
	// snapshot is in use by an instantiation; write, it is being taken or
	// dropped. snap is set and cleared under the write lock; resetInstance
	// reads it without the lock.
	snapMu sync.RWMutex
	snap   atomic.Pointer[snapshot]
}

// snapshot is the state of an instance right after _initialize: its memory
// and its mutable globals.
//
// A memory up to copyResetMax is kept as bytes (in the Go heap) and
// restored by copying back the 4 KiB pages that differ (comparing and
// copying cost about 1.7 µs per 64 KiB; pages a request never wrote are
// only read, and zero pages an instance never touched stay unbacked). A
// larger one is kept in a memfd image: every instance maps it
// copy-on-write when it is created, and is restored the same way, by
// copying back from a read-only view of the image the pages that differ
// (memImage.restoreInto). The pages a request wrote stay the instance's
// own, as a pooled instance's do.
//
// The image used to be restored with one madvise, which drops the written
// pages so they fault back in from the image when next touched. Measured
// on this project's 2-core machine (a VM with free page reporting),
// madvise costs a few µs but every page written after it costs ~150 µs to
// fault back in (the freed page went back to the hypervisor): the
// JavaScript engine (832 KiB then; 2,880 KiB since its 2 MiB heap
// headroom, TestJS_Footprint; ~30 pages written per request) served a
// fresh hello in 1.9 ms that way and in 48 µs by copying from the view
// (pooled: 38 µs; go test -bench BenchmarkJS_Serve ./host/engine/).
// madvise remains only for an instance whose pool dropped the image
// before its first restore.
//
// copyResetMax stays at 256 KiB: a copied snapshot lives in the Go heap
// for as long as its pool, while an image is a memfd (page cache) that
// stays out of it. With 2 MiB, the soak (bench, -only soak -full) kept
// 50-75 MiB more after idle eviction than at its baseline — 1,000
// webtasks' snapshots in the heap — and failed its flatness check.
type snapshot struct {
	bytes   []byte    // memories up to copyResetMax
	zero    []bool    // per 4 KiB page of bytes: all zeros (see copyChanged)
	image   *memImage // larger memories
	pages   uint32
	globals []uint64 // by Module.globals
	charged int64    // bytes charged to the budget
}

// copyResetMax is the largest memory restored by copying.
const copyResetMax = 256 << 10

// restore puts the instance's memory back to the snapshot.
func (s *snapshot) restore(inst *instance) error {
	mem := inst.mod.Memory()
	buf, ok := mem.Read(0, mem.Size())
	if !ok {
		return errors.New("memory view")
	}
	if s.bytes == nil {
		// Copy back from the image what differs; madvise only when the
		// image is gone (the pool dropped its snapshot meanwhile).
		if s.image.restoreInto(buf) != nil {
			return inst.mem.reset()
		}
		return nil
	}
	copyChanged(buf, s.bytes, s.zero)
	clear(buf[len(s.bytes):])
	return nil
}

// copyChanged copies src over dst, 4 KiB page by page, writing only the
// pages that differ. zero, when not nil, tells src's pages that are all
// zeros (zeroPages): such a page of dst is compared with one shared zero
// page, which stays in the CPU's cache, so only dst's page is read — and
// most of a small memory is zeros (31 of the 32 pages of the C and Rust
// hellos: a stack barely used, a heap not yet allocated). Measured, it
// saves little (C hello fresh 2.78 → 2.70 µs, BenchmarkGuests_Serve): the
// compare runs at cache speed either way, and what a reset of a small
// memory costs is reading it (about 1 µs per 128 KiB here).
func copyChanged(dst, src []byte, zero []bool) {
	dst = dst[:len(src)]
	for i, off := 0, 0; off < len(src); i, off = i+1, off+imagePage {
		end := min(off+imagePage, len(src))
		if zero != nil && zero[i] {
			if !zeroPage(dst[off:end]) {
				clear(dst[off:end])
			}
		} else if !bytes.Equal(dst[off:end], src[off:end]) {
			copy(dst[off:end], src[off:end])
		}
	}
}

// imagePage is the unit in which snapshots are compared and images skip
// zeros: the kernel's page.
const imagePage = 4096

var zeros [imagePage]byte

// zeroPage reports whether p (at most imagePage bytes) is all zeros.
func zeroPage(p []byte) bool { return bytes.Equal(p, zeros[:len(p)]) }

// zeroPages reports, per imagePage page of b, whether it is all zeros.
func zeroPages(b []byte) []bool {
	zero := make([]bool, 0, (len(b)+imagePage-1)/imagePage)
	for off := 0; off < len(b); off += imagePage {
		zero = append(zero, zeroPage(b[off:min(off+imagePage, len(b))]))
	}
	return zero
}

type instance struct {
	ctx      *reqCtx
	mem      *linearMemory // set when the instance can be reset
	initSize uint32        // memory size after initialisation (see keep)
	mod      api.Module
	code     *moduleCode         // what mod was made from (tier.go)
	globals  []api.MutableGlobal // the module's mutable globals (setGlobals)
	handle   api.Function
	stack    []uint64
	stdout   *lineWriter
	stderr   *lineWriter
	// live is the engine's count of live instances of the pool's policy,
	// which close decrements once (then sets it nil).
	live *atomic.Int64
}

// NewPool creates the pool of one webtask. No instance exists until Warm or
// the first request.
// Close it when done: the engine keeps a registry of open pools.
func (e *Engine) NewPool(mod *Module, container, name string, policy Policy) *Pool {
	return e.NewPoolSource(mod, container, name, policy, nil)
}

// NewPoolSource creates the pool of a webtask whose module is an
// interpreter and source its code: the JavaScript engine
// (guests/build/js/engine.wasm) and a webtask's JavaScript. Each instance
// reads source with the ABI's source function while it initialises, and
// evaluates it then (abi/SPEC.md, "The webtask's source"), so Warm proves
// the code loads and the snapshot the fresh policy restores already holds
// it evaluated: a request costs a restore, not an evaluation. One compiled
// module serves any number of such pools. The pool keeps source, which
// must not change afterwards; nil is no source (NewPool), and the module's
// source function answers NotFound.
func (e *Engine) NewPoolSource(mod *Module, container, name string, policy Policy, source []byte) *Pool {
	p := &Pool{e: e, mod: mod, container: container, name: name, policy: policy, source: source, slots: e.slotsFor(container),
		idle:  make(chan *instance, e.cfg.MaxIdle),
		reset: policy == PolicyFresh && mod.resettable && !e.cfg.FreshByInstantiate}
	p.lastUsed.Store(time.Now().UnixNano())
	e.register(p)
	return p
}

// Resets reports whether the pool serves the fresh policy by resetting
// instances to their post-initialisation snapshot.
func (p *Pool) Resets() bool { return p.reset }

// Module returns the compiled module the pool runs.
func (p *Pool) Module() *Module { return p.mod }

// Policy returns the pool's instance policy.
func (p *Pool) Policy() Policy { return p.policy }

// Warm creates one instance, proving the module starts (its _initialize
// runs within the time limit), then closes it: a deployed webtask holds no
// instance until it is called, so thousands of idle webtasks cost only
// their compiled code. A pool that resets instances keeps the snapshot the
// instance provided, so its first request starts from it cheaply.
//
// A module interpreted while it compiles (tier.go) initialises several
// times slower than it will compiled: when its _initialize runs out of
// time, Warm waits for the compiled code and judges the module by that.
func (p *Pool) Warm(ctx context.Context) error {
	inst, err := p.instantiate(ctx, time.Now().Add(p.e.cfg.Timeout))
	if errors.Is(err, ErrTimeout) && p.mod.tier != nil && p.mod.WaitCompiled(ctx) == nil {
		inst, err = p.instantiate(ctx, time.Now().Add(p.e.cfg.Timeout))
	}
	if err != nil {
		return err
	}
	inst.close(ctx)
	return nil
}

// Prepare creates one instance and keeps it idle for the next request, as
// a warm start does (deploy.Registry.Warm): that request then runs on it
// instead of instantiating (and, for a resetting pool, finds the snapshot
// taken). Like any idle instance it is closed once the pool has served
// nothing for the idle timeout (EvictIdle), counted from now. A fresh pool
// that instantiates per request has nothing to keep: Prepare does nothing.
//
// Preparing is the container's work, as a request is: it takes one of the
// container's run slots, and its initialisation gets at most
// prepareTimeout (or the request time limit, when shorter) — a tenant
// whose webtasks initialise slowly (upload allows up to the time limit)
// cannot hold a warm-up, which prepares webtasks one after the other, for
// long. Past it the instance is dropped and ErrTimeout returned; the
// webtask's first request instantiates as usual.
func (p *Pool) Prepare(ctx context.Context) error {
	if p.policy == PolicyFresh && !p.reset {
		return nil
	}
	deadline := time.Now().Add(min(p.e.cfg.Timeout, prepareTimeout))
	if err := p.slots.enter(deadline); err != nil {
		return err
	}
	defer p.slots.leave()
	inst, err := p.instantiate(ctx, deadline)
	if err != nil {
		return err
	}
	p.lastUsed.Store(time.Now().UnixNano())
	p.release(inst)
	return nil
}

// prepareTimeout bounds the initialisation Prepare runs.
const prepareTimeout = time.Second

// LastRequest is when the pool last began serving a request; the zero
// time when it has served none.
func (p *Pool) LastRequest() time.Time {
	if ns := p.lastRequest.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// EvictIdle closes the idle instances of a pool that has served no request
// for idleFor, returning how many it closed. The pool stays usable: the
// next request creates an instance again (from the snapshot when the pool
// resets instances, so cheaply). This bounds the memory of webtasks nobody
// calls.
func (p *Pool) EvictIdle(idleFor time.Duration) int {
	if time.Since(time.Unix(0, p.lastUsed.Load())) < idleFor {
		return 0
	}
	n := 0
	for {
		select {
		case inst := <-p.idle:
			inst.close(context.Background())
			n++
		default:
			return n
		}
	}
}

// Idle returns how many idle instances the pool holds.
func (p *Pool) Idle() int { return len(p.idle) }

// Close closes the idle instances and drops the snapshot; busy instances
// are closed when they finish.
func (p *Pool) Close(ctx context.Context) {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.e.unregister(p)
	// Whoever holds snapMu now is an instantiation, which drops the
	// snapshot when it ends and finds the pool closed, or trimming, which
	// drops it anyway. A reader that held the lock and dropped nothing
	// (resetInstance did, through currentSnapshot) made this TryLock fail
	// now and then and left the snapshot, and its charge, in the closed
	// pool: hence currentSnapshot takes no lock.
	if p.snapMu.TryLock() {
		p.dropSnapshotLocked()
		p.snapMu.Unlock()
	}
	for {
		select {
		case inst := <-p.idle:
			inst.close(ctx)
		default:
			return
		}
	}
}

// Serve runs one request. On success resp holds the guest's answer (status
// defaulted to 200). Errors match ErrTimeout, ErrTrap, ErrExit, ErrInit,
// ErrNoResponse or ErrClosed.
//
// The wall-time limit covers instantiation (for a new instance) and the call.
// The call itself runs under the instance's reusable request context, so a
// pooled request allocates no context or timer of its own.
func (p *Pool) Serve(ctx context.Context, req *Request, resp *Response) error {
	now := time.Now()
	p.lastUsed.Store(now.UnixNano())
	p.lastRequest.Store(now.UnixNano())
	deadline := now.Add(p.e.cfg.Timeout)
	if err := p.slots.enter(deadline); err != nil {
		return err
	}
	inst, err := p.acquire(ctx, deadline)
	if err != nil {
		p.slots.leave()
		return err
	}
	inst.stdout.requestID, inst.stderr.requestID = req.RequestID, req.RequestID
	rc := inst.ctx
	rc.call = call{req: req, resp: resp, maxResp: p.e.cfg.MaxResponseBytes, logger: p.e.cfg.Logger, slots: p.slots}
	err = rc.run(inst.handle, inst.stack, deadline)
	held := rc.call.slots // nil when a wait away from the CPU could not take a slot back
	rc.call = call{}
	inst.stdout.flush()
	inst.stderr.flush()
	if err != nil {
		inst.close(ctx)
		held.leave()
		if err = classify(err); err != nil {
			return err
		}
	} else {
		code := int32(inst.stack[0])
		p.release(inst) // a reset is the container's work too: still in its slot
		held.leave()
		if code != 0 && resp.Model == ModelNone {
			return fmt.Errorf("%w: %s returned %d", ErrNoResponse, abi.ExportHandle, code)
		}
	}
	if resp.Status == 0 {
		resp.Status = 200
	}
	return nil
}

// classify turns an error of a guest call into one of the package's
// sentinels; nil means the guest exited with code 0 after responding.
func classify(err error) error {
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case 0:
			return nil
		case sys.ExitCodeDeadlineExceeded:
			return ErrTimeout
		case sys.ExitCodeContextCanceled:
			return context.Canceled
		}
		return fmt.Errorf("%w with code %d", ErrExit, exit.ExitCode())
	}
	var v *ABIViolation
	if errors.As(err, &v) {
		return fmt.Errorf("%w: %s", ErrTrap, v.Error())
	}
	var so *stackOverflow
	if errors.As(err, &so) {
		return fmt.Errorf("%w: %s", ErrTrap, so.Error())
	}
	return fmt.Errorf("%w: %s", ErrTrap, firstLine(err.Error()))
}

func (p *Pool) acquire(ctx context.Context, deadline time.Time) (*instance, error) {
	for p.policy == PolicyPool || p.reset {
		var inst *instance
		select {
		case inst = <-p.idle:
		default:
			return p.instantiate(ctx, deadline)
		}
		if !inst.mod.IsClosed() && inst.code == p.mod.code.Load() {
			p.e.stats.reuses[p.policy&1].Add(1)
			return inst, nil
		}
		// Closed under it (the engine closing), or made from the
		// interpreter's code since replaced by the compiler's (tier.go).
		inst.close(ctx)
	}
	return p.instantiate(ctx, deadline)
}

func (p *Pool) release(inst *instance) {
	reusable := !inst.mod.IsClosed() && inst.code == p.mod.code.Load() &&
		(p.policy == PolicyPool && inst.keep() || p.reset && p.resetInstance(inst))
	if reusable {
		// Under p.mu, so Close (which sets closed under it, then drains
		// idle) cannot drain between the check and the send and leave the
		// instance, and the memory charged for it, in a closed pool.
		p.mu.Lock()
		if !p.closed {
			select {
			case p.idle <- inst:
				p.mu.Unlock()
				return
			default:
			}
		}
		p.mu.Unlock()
	}
	inst.close(context.Background())
}

// resetInstance restores a used instance to the snapshot: one madvise for
// the memory, a store per mutable global. An instance whose memory grew well
// past the snapshot is not reset but replaced (wasm memory cannot shrink).
func (p *Pool) resetInstance(inst *instance) bool {
	s := p.currentSnapshot()
	if inst.mem == nil || s == nil {
		return false
	}
	if inst.mod.Memory().Size()/pageSize != s.pages { // memory cannot shrink: replace
		return false
	}
	if s.restore(inst) != nil {
		return false
	}
	p.setGlobals(inst, s)
	p.e.stats.resets.Add(1)
	return true
}

const pageSize = 65536

// keepGrowth is the growth past its post-initialisation size that a pooled
// instance may keep while idle (see keep).
const keepGrowth = 16 << 20

// keep reports whether a pooled instance may wait idle for the next
// request. One whose memory grew to more than max(2× its size after
// initialisation, that size + 16 MiB) is closed instead: wasm memory
// cannot shrink, so an instance that once needed much more memory would
// hold it, idle, until evicted; a new instance starts small again. The
// slack leaves room for the ordinary growth of a guest's heap (a Go guest
// starts at a few MiB and grows its heap by steps).
func (inst *instance) keep() bool {
	size, init := uint64(inst.mod.Memory().Size()), uint64(inst.initSize)
	return size <= max(2*init, init+keepGrowth)
}

// dropSnapshotLocked forgets the snapshot and gives back its memory; the
// next new instance runs _initialize again and takes a new one. Instances
// that mapped the image keep their mappings. The caller holds snapMu.
func (p *Pool) dropSnapshotLocked() bool {
	s := p.snap.Swap(nil)
	if s == nil {
		return false
	}
	if s.image != nil {
		s.image.close()
	}
	p.e.acct.release(s.charged)
	return true
}

// trimIdle closes idle instances until enough returns true, reporting
// whether it did (trimming, budget.go).
func (p *Pool) trimIdle(enough func() bool) bool {
	for {
		select {
		case inst := <-p.idle:
			inst.close(context.Background())
			if enough() {
				return true
			}
		default:
			return false
		}
	}
}

// trimSnapshot drops the snapshot of a pool whose snapshot is not in use
// by an instantiation (trimming, budget.go).
func (p *Pool) trimSnapshot() bool {
	if !p.snapMu.TryLock() {
		return false
	}
	defer p.snapMu.Unlock()
	return p.dropSnapshotLocked()
}

// currentSnapshot returns the snapshot, nil when there is none. It takes
// no lock (see Close): a snapshot does not change once taken, and one
// dropped meanwhile can still be restored from (its bytes stay; an image's
// read-only view outlives its descriptor, and without a view the instance
// falls back to reset).
func (p *Pool) currentSnapshot() *snapshot { return p.snap.Load() }

func (p *Pool) setGlobals(inst *instance, s *snapshot) {
	if inst.globals == nil { // looked up once per instance, not per reset
		inst.globals = make([]api.MutableGlobal, len(p.mod.globals))
		for i, name := range p.mod.globals {
			inst.globals[i] = inst.mod.ExportedGlobal(name).(api.MutableGlobal)
		}
	}
	for i, g := range inst.globals {
		g.Set(s.globals[i])
	}
}

// newResettable creates an instance whose memory lives in its own region.
// The first one runs _initialize and becomes the snapshot; later ones skip
// _initialize and start from the snapshot, which is also faster.
func (p *Pool) newResettable(ctx context.Context, deadline time.Time) (*instance, error) {
	// Instances start from an existing snapshot concurrently (read lock);
	// the first one, which takes the snapshot, runs alone.
	p.snapMu.RLock()
	unlock := p.snapMu.RUnlock
	if p.snap.Load() == nil {
		p.snapMu.RUnlock()
		p.snapMu.Lock()
		unlock = p.snapMu.Unlock
	}
	defer func() {
		unlock()
		p.mu.Lock()
		closed := p.closed
		p.mu.Unlock()
		if closed { // Close found the snapshot in use: whoever ends last drops it
			p.snapMu.Lock()
			p.dropSnapshotLocked()
			p.snapMu.Unlock()
		}
	}()
	s := p.snap.Load()
	reserve := p.mod.initBytes
	if s != nil {
		reserve = max(reserve, int64(s.pages)*pageSize)
	}
	inst, err := p.instantiateWith(ctx, reserve, s == nil, deadline)
	if err != nil || inst.mem == nil {
		return inst, err // without a region the instance is used once
	}
	if s == nil {
		if s, err = p.takeSnapshot(inst); err != nil {
			return nil, err
		} else if s == nil {
			return inst, nil // used once
		}
	}
	mem := inst.mod.Memory()
	if cur := mem.Size() / pageSize; cur < s.pages {
		if _, ok := mem.Grow(s.pages - cur); !ok {
			inst.close(ctx)
			return nil, fmt.Errorf("%w: cannot grow memory to the snapshot's %d pages", ErrInit, s.pages)
		}
	}
	if s.image != nil {
		err = s.image.mapInto(inst.mem)
	} else {
		err = s.restore(inst)
	}
	if err != nil {
		inst.close(ctx)
		return nil, fmt.Errorf("%w: restore memory snapshot: %v", ErrInit, err)
	}
	p.setGlobals(inst, s)
	return inst, nil
}

// takeSnapshot makes the snapshot of a newly initialised instance the
// pool's, charging it to the budget. It returns a nil snapshot (and closes
// nothing) when no image can be made: the instance serves once, then
// closes.
func (p *Pool) takeSnapshot(inst *instance) (*snapshot, error) {
	mem := inst.mod.Memory()
	b, _ := mem.Read(0, mem.Size())
	if err := p.e.reserve(int64(len(b)), p); err != nil {
		inst.close(context.Background())
		return nil, err
	}
	s := &snapshot{pages: mem.Size() / pageSize, charged: int64(len(b))}
	if len(b) <= copyResetMax {
		s.bytes = bytes.Clone(b)
		s.zero = zeroPages(s.bytes)
	} else {
		var err error
		if s.image, err = newMemImage(b); err != nil {
			p.e.acct.release(s.charged)
			inst.mem = nil // serve this request, then close
			return nil, nil
		}
	}
	for _, name := range p.mod.globals {
		s.globals = append(s.globals, inst.mod.ExportedGlobal(name).Get())
	}
	p.snap.Store(s)
	return s, nil
}

func (p *Pool) instantiate(ctx context.Context, deadline time.Time) (*instance, error) {
	if p.reset {
		return p.newResettable(ctx, deadline)
	}
	return p.instantiateWith(ctx, p.mod.initBytes, true, deadline)
}

// instantiateWith creates an instance, first reserving reserve bytes of the
// budget for its memory; when init is set it runs the module's start
// function and _initialize, under the deadline.
func (p *Pool) instantiateWith(ctx context.Context, reserve int64, init bool, deadline time.Time) (*instance, error) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if err := p.e.reserve(reserve, p); err != nil {
		return nil, err
	}
	alloc := &memAllocator{acct: p.e.acct, reserved: reserve}
	ctx = experimental.WithMemoryAllocator(ctx, alloc)
	inst := &instance{
		ctx:    &reqCtx{library: p.mod.library},
		stack:  make([]uint64, 1),
		stdout: &lineWriter{logger: p.e.cfg.Logger, container: p.container, name: p.name, level: abi.LogInfo},
		stderr: &lineWriter{logger: p.e.cfg.Logger, container: p.container, name: p.name, level: abi.LogError},
	}
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(). // the host calls them, under its deadline
		WithStdout(inst.stdout).
		WithStderr(inst.stderr).
		WithSysWalltime().
		WithSysNanotime().
		WithNanosleep(inst.ctx.sleep).
		WithRandSource(deadlineReader{inst.ctx})
	inst.stdout.rc, inst.stderr.rc = inst.ctx, inst.ctx
	code := p.mod.code.Load()
	m, err := code.rt.InstantiateModule(ctx, code.cm, cfg)
	if err != nil && code != p.mod.code.Load() { // swapped and closed meanwhile (tier.go)
		code = p.mod.code.Load()
		m, err = code.rt.InstantiateModule(ctx, code.cm, cfg)
	}
	if err != nil {
		alloc.release()
		return nil, fmt.Errorf("%w: %s", ErrInit, firstLine(err.Error()))
	}
	mem := alloc.mem
	alloc.mem = nil // the module owns its memory now
	alloc.release() // a reservation no memory took
	inst.mod, inst.code = m, code
	if mem.resettable() {
		inst.mem = mem
	}
	inst.handle = m.ExportedFunction(abi.ExportHandle)
	inst.ctx.depth, _ = m.ExportedGlobal(depthExport).(api.MutableGlobal)
	if init {
		if err := p.initialise(ctx, inst, deadline); err != nil {
			return nil, err
		}
	}
	inst.initSize = m.Memory().Size()
	inst.live = &p.e.stats.live[p.policy&1]
	inst.live.Add(1)
	p.e.stats.instantiations[p.policy&1].Add(1)
	return inst, nil
}

// initialise runs the module's start function and _initialize under the
// deadline, with the pool's source readable. On failure it closes the
// instance, and the error ends with the first line the guest wrote to
// stderr, which is where a guest says why it cannot start (a Go panic, a
// JavaScript syntax error with its line and column).
func (p *Pool) initialise(ctx context.Context, inst *instance, deadline time.Time) error {
	m, rc := inst.mod, inst.ctx
	rc.initialising, rc.source = true, p.source
	inst.stderr.keepFirst = true
	defer func() {
		rc.initialising, rc.source = false, nil
		inst.stderr.keepFirst, inst.stderr.first = false, nil
	}()
	for _, name := range [...]string{startExport, abi.ExportInitialize} {
		fn := m.ExportedFunction(name)
		if fn == nil {
			continue
		}
		err := rc.run(fn, inst.stack, deadline)
		inst.stdout.flush()
		inst.stderr.flush()
		if err == nil && !m.IsClosed() {
			continue
		}
		inst.close(ctx)
		var cerr error // nil: proc_exit(0)
		if err != nil {
			cerr = classify(err)
		}
		why := ""
		if len(inst.stderr.first) > 0 {
			why = "; stderr: " + strings.ToValidUTF8(string(inst.stderr.first), "\uFFFD")
		}
		switch {
		case errors.Is(cerr, ErrTimeout):
			return fmt.Errorf("%w (while initialising)", ErrTimeout)
		case cerr == nil: // proc_exit(0)
			return fmt.Errorf("%w: %s exited%s", ErrInit, name, why)
		}
		return fmt.Errorf("%w: %s: %v%s", ErrInit, name, cerr, why)
	}
	return nil
}

func (i *instance) close(ctx context.Context) {
	if i.live != nil {
		i.live.Add(-1)
		i.live = nil
	}
	_ = i.mod.Close(ctx)
}

// lineWriter turns WASI stdout/stderr into log lines, one per '\n'.
type lineWriter struct {
	rc        *reqCtx // the instance's, for the deadline
	logger    Logger
	container string
	name      string
	requestID string
	level     uint32
	buf       []byte
	// keepFirst: keep the first line written (at most maxFirstLine bytes)
	// in first, for the error of an instance that fails to initialise.
	keepFirst bool
	first     []byte
}

// maxFirstLine caps the stderr line an initialisation error quotes.
const maxFirstLine = 1024

func (w *lineWriter) Write(b []byte) (int, error) {
	if len(b) >= largeCopy {
		checkDeadline(w.rc)
	}
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			room := maxLogLine - len(w.buf)
			if len(b) > room {
				w.buf = append(w.buf, b[:room]...)
				w.flush()
				b = b[room:]
				continue
			}
			w.buf = append(w.buf, b...)
			break
		}
		w.buf = append(w.buf, b[:i]...)
		w.flush()
		b = b[i+1:]
	}
	return n, nil
}

func (w *lineWriter) flush() {
	if len(w.buf) == 0 {
		return
	}
	if w.keepFirst && len(w.first) == 0 {
		w.first = append(w.first, w.buf[:min(len(w.buf), maxFirstLine)]...)
	}
	if w.logger != nil {
		line := w.buf
		if len(line) > maxLogLine {
			line = line[:maxLogLine]
		}
		w.logger.Log(w.container, w.name, w.requestID, w.level, line)
	}
	w.buf = w.buf[:0]
}
