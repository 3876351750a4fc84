// Package engine runs webtask modules: it owns the wazero runtime and its
// on-disk compilation cache, validates uploaded modules against the host ABI,
// implements the ABI's host functions, and serves requests from per-webtask
// instance pools under memory and wall-time limits.
//
// The engine knows nothing about HTTP, tokens or storage: callers give it a
// Request and get back a Response (see request.go).
package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasmtask/wasmtask/abi"
)

// Config holds the engine's limits. The zero value of a field means its
// default (see DefaultConfig).
type Config struct {
	// CacheDir keeps compiled code across restarts; empty disables the cache.
	CacheDir string
	// MemoryLimitPages caps every instance's linear memory (64 KiB pages).
	MemoryLimitPages uint32
	// Timeout is the wall-time limit of one request, instantiation included.
	Timeout time.Duration
	// MaxResponseBytes caps a response: the guest's headers and body, in
	// bytes as sent (see abi/SPEC.md).
	MaxResponseBytes int
	// MaxIdle is how many idle instances a pool keeps per webtask.
	MaxIdle int
	// Logger receives guest log lines; nil drops them.
	Logger Logger
	// CodeLimits bound what compiling one module may cost.
	CodeLimits CodeLimits
	// FreshByInstantiate serves the fresh policy by instantiating a new
	// module per request instead of resetting used instances to their
	// post-initialisation snapshot (for comparison; slower).
	FreshByInstantiate bool
	// MemoryBudget caps, in bytes, the linear memories of all instances and
	// the pools' snapshots together (see budget.go). Zero means
	// DefaultMemoryBudget(): half of the machine's memory.
	MemoryBudget int64
	// MaxRunningPerContainer caps the guest calls one container runs at
	// once (slots.go); its other requests wait for a slot until their
	// deadline. Zero means half the cores, at least one.
	MaxRunningPerContainer int
	// Tiered serves a module whose compiled code is not in the on-disk
	// cache with wazero's interpreter as soon as that has compiled it (a
	// tenth of the compiler's time), while the compiler runs in the
	// background; instances move to the compiled code as they are
	// replaced (tier.go). Off, a module serves nothing until compiled.
	Tiered bool
}

// DefaultConfig returns the limits used for zero fields.
func DefaultConfig() Config {
	return Config{
		MemoryLimitPages: 2048, // 128 MiB, as Workers and Compute
		Timeout:          30 * time.Second,
		MaxResponseBytes: 8 << 20,
		MaxIdle:          4,
		MemoryBudget:     DefaultMemoryBudget(),
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MemoryLimitPages == 0 {
		c.MemoryLimitPages = d.MemoryLimitPages
	}
	if c.Timeout <= 0 {
		c.Timeout = d.Timeout
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = d.MaxResponseBytes
	}
	if c.MaxRunningPerContainer <= 0 {
		c.MaxRunningPerContainer = defaultRunning()
	}
	if c.MaxIdle <= 0 {
		c.MaxIdle = d.MaxIdle
	}
	if c.MemoryBudget <= 0 {
		c.MemoryBudget = d.MemoryBudget
	}
	c.CodeLimits = c.CodeLimits.withDefaults()
	return c
}

// Validate refuses values out of range; zero fields are not errors (they
// take their defaults).
func (c Config) Validate() error {
	switch {
	case c.MemoryLimitPages > 65536:
		return errors.New("engine: MemoryLimitPages (--memory-mb) must be at most 65536 pages (4 GiB, the wasm32 address space)")
	case c.Timeout < 0:
		return errors.New("engine: Timeout (--timeout) must be positive")
	case c.MaxResponseBytes < 0:
		return errors.New("engine: MaxResponseBytes (--max-response-bytes) must be positive")
	case c.MaxIdle < 0:
		return errors.New("engine: MaxIdle (--pool-idle) must be positive")
	case c.MemoryBudget < 0:
		return errors.New("engine: MemoryBudget (--memory-budget) must be positive")
	case c.MaxRunningPerContainer < 0:
		return errors.New("engine: MaxRunningPerContainer (--max-running-per-container) must be positive")
	}
	l := c.CodeLimits
	for _, v := range []int{l.MaxFunctions, l.MaxFunctionBytes, l.MaxNesting, l.MaxBrTable, l.MaxLoops,
		l.MaxControl, l.MaxLocals, l.MaxTotalLocals, l.MaxStackBytes} {
		if v < 0 {
			return errors.New("engine: CodeLimits must be positive")
		}
	}
	return nil
}

// Logger receives log lines of guests: from the ABI's log function and from
// WASI stdout/stderr. msg is only valid during the call.
type Logger interface {
	Log(container, name, requestID string, level uint32, msg []byte)
}

// Engine compiles modules once per content hash and creates pools.
// It is safe for concurrent use.
type Engine struct {
	cfg Config
	rt  wazero.Runtime
	// irt is the interpreter's runtime, with the same host modules as rt;
	// nil unless Config.Tiered (tier.go).
	irt   wazero.Runtime
	cache wazero.CompilationCache
	// wazeroDir is the name of wazero's directory in the cache, empty when
	// there is no cache or it cannot be found; absCacheDir is the cache
	// directory's absolute path, which error messages leave out (cache.go).
	wazeroDir, absCacheDir string

	// imports lists every function a module may import, by module then name.
	imports map[string]map[string]api.FunctionDefinition

	mu       sync.Mutex
	compiled map[string]*compileEntry
	// cacheUse counts, per cache file (relative to the cache directory),
	// the modules in compiled that use it (cache.go).
	cacheUse map[string]int
	lanes    compileLanes
	slots    sync.Map // container → *runSlots (slots.go)

	// acct is the memory budget; pools are the open pools, which trimming
	// walks (budget.go).
	acct *memAccount
	// closing is held (read) by compiles in wazero and (write) by Close,
	// which sets closed.
	closing sync.RWMutex
	closed  bool
	poolsMu sync.Mutex
	pools   map[*Pool]struct{}
	trimMu  sync.Mutex

	stats counters
	// tierHold, when set (by tests), holds background compiles (tier.go)
	// until it is closed.
	tierHold chan struct{}
}

// counters are the engine's event counts (Stats): one atomic add each.
type counters struct {
	live, instantiations, reuses             [2]atomic.Int64 // by Policy
	resets                                   atomic.Int64
	memHits, memMisses, diskHits, diskMisses atomic.Int64
	interpreting                             atomic.Int64
}

// Stats are the engine's counts, for metrics. Arrays are indexed by
// Policy (PolicyPool, PolicyFresh).
type Stats struct {
	// Live is the instances that exist now, busy or idle; Idle those
	// waiting in a pool.
	Live, Idle [2]int64
	// Instantiations counts instances created; Reuses requests served by
	// an idle instance; Resets used fresh instances restored to their
	// snapshot.
	Instantiations, Reuses [2]int64
	Resets                 int64
	// MemoryHits and MemoryMisses count Loads that found the module
	// compiled (or compiling) in memory or not; DiskHits and DiskMisses
	// the compiles that found wazero's code in the on-disk cache or not.
	MemoryHits, MemoryMisses, DiskHits, DiskMisses int64
	// Interpreting is the modules served by the interpreter now while
	// the compiler compiles them in the background (Config.Tiered).
	Interpreting int64
}

// Stats returns the engine's counts. It walks the open pools for their
// idle instances: call it per scrape, not per request.
func (e *Engine) Stats() Stats {
	c := &e.stats
	s := Stats{Resets: c.resets.Load(), MemoryHits: c.memHits.Load(), MemoryMisses: c.memMisses.Load(),
		DiskHits: c.diskHits.Load(), DiskMisses: c.diskMisses.Load(), Interpreting: c.interpreting.Load()}
	for p := range s.Live {
		s.Live[p], s.Instantiations[p], s.Reuses[p] = c.live[p].Load(), c.instantiations[p].Load(), c.reuses[p].Load()
	}
	e.poolsMu.Lock()
	for p := range e.pools {
		s.Idle[p.policy&1] += int64(len(p.idle))
	}
	e.poolsMu.Unlock()
	return s
}

type compileEntry struct {
	done chan struct{}
	mod  *Module
	err  error
	// rewritten names the module's rewritten file in the cache; files are
	// the cache files the module uses, under e.mu.
	rewritten string
	files     []string
}

// Module is a compiled, validated webtask module.
type Module struct {
	SHA256 string
	Size   int
	// code is what instances are made from: the compiler's code, or the
	// interpreter's until the compiler's is ready (tier.go).
	code atomic.Pointer[moduleCode]
	// tier is the background compile of a module that started
	// interpreted, nil for one compiled at once; evicted is set, under
	// e.mu, when Evict has closed the module's code.
	tier    *tierUp
	evicted bool
	// globals are the exports the host added for the module's mutable
	// globals (see rewrite.go); resettable says whether an
	// instance's state can be restored from a snapshot at all.
	globals    []string
	resettable bool
	// start: the module's start function, exported by the rewriter, runs
	// before _initialize.
	start bool
	// initBytes is the initial size of the module's memory, which each new
	// instance reserves from the memory budget.
	initBytes int64
	// library is the module's custom section abi.LibrarySection, read with
	// the library host function (library.go).
	library library
}

// New creates an engine with its runtime, host modules and cache.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	rc := wazero.NewRuntimeConfig().
		WithCoreFeatures(api.CoreFeaturesV2).
		WithMemoryLimitPages(cfg.MemoryLimitPages).
		WithDebugInfoEnabled(false)
	var cache wazero.CompilationCache
	if cfg.CacheDir != "" {
		var err error
		if cache, err = wazero.NewCompilationCacheWithDir(cfg.CacheDir); err != nil {
			return nil, fmt.Errorf("engine: compilation cache: %w", err)
		}
		rc = rc.WithCompilationCache(cache)
	}
	e := &Engine{cfg: cfg, rt: wazero.NewRuntimeWithConfig(ctx, rc), cache: cache,
		compiled: map[string]*compileEntry{}, cacheUse: map[string]int{},
		acct: &memAccount{limit: cfg.MemoryBudget}, pools: map[*Pool]struct{}{}}
	if cache != nil {
		e.absCacheDir, _ = filepath.Abs(cfg.CacheDir)
		e.wazeroDir = findWazeroDir(cfg.CacheDir)
	}
	if err := e.addHostModules(ctx, e.rt); err != nil {
		return nil, err
	}
	if cfg.Tiered {
		e.irt = wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().
			WithCoreFeatures(api.CoreFeaturesV2).
			WithMemoryLimitPages(cfg.MemoryLimitPages).
			WithDebugInfoEnabled(false))
		if err := e.addHostModules(ctx, e.irt); err != nil {
			return nil, err
		}
	}
	e.imports = map[string]map[string]api.FunctionDefinition{}
	for _, name := range []string{wasi_snapshot_preview1.ModuleName, abi.ModuleName} {
		e.imports[name] = e.rt.Module(name).ExportedFunctionDefinitions()
	}
	return e, nil
}

// addHostModules instantiates in rt the modules a webtask may import.
func (e *Engine) addHostModules(ctx context.Context, rt wazero.Runtime) error {
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return fmt.Errorf("engine: wasi: %w", err)
	}
	if _, err := e.hostModule(rt).Instantiate(ctx); err != nil {
		return fmt.Errorf("engine: host module: %w", err)
	}
	if _, err := e.rtModule(rt).Instantiate(ctx); err != nil {
		return fmt.Errorf("engine: runtime module: %w", err)
	}
	return nil
}

// Config returns the engine's effective configuration.
func (e *Engine) Config() Config { return e.cfg }

// Close releases the runtime and every instance.
func (e *Engine) Close(ctx context.Context) error {
	// Wait for compiles in wazero: closing the runtime under one makes
	// wazero panic (a nil map in its compiled-module registry).
	e.closing.Lock()
	e.closed = true
	e.closing.Unlock()
	e.acct.close()
	err := e.rt.Close(ctx)
	if e.irt != nil {
		err = firstErr(err, e.irt.Close(ctx))
	}
	if e.cache != nil {
		_ = e.cache.Close(ctx)
	}
	return err
}

// SHA256 is the hex content hash that identifies a module.
func SHA256(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return hex.EncodeToString(sum[:])
}

// Compile validates and compiles wasm, or returns the module already compiled
// from the same bytes. Concurrent calls for the same content compile once.
func (e *Engine) Compile(ctx context.Context, wasm []byte) (*Module, error) {
	return e.Load(ctx, SHA256(wasm), func() ([]byte, error) { return wasm, nil })
}

// Load returns the compiled module with the given hash, calling fetch for
// its bytes only when it is not compiled yet. With a cache directory it
// compiles from the on-disk cache when it can; a damaged cache entry is
// deleted and the module compiled again, and a module refused leaves
// nothing in the cache (cache.go).
func (e *Engine) Load(ctx context.Context, sha string, fetch func() ([]byte, error)) (*Module, error) {
	e.mu.Lock()
	if ce, ok := e.compiled[sha]; ok {
		e.mu.Unlock()
		e.stats.memHits.Add(1)
		select {
		case <-ce.done:
			return ce.mod, ce.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	ce := &compileEntry{done: make(chan struct{})}
	e.compiled[sha] = ce
	e.stats.memMisses.Add(1)
	if e.cfg.CacheDir != "" {
		ce.rewritten = e.rewrittenName(sha)
		e.useFileLocked(ce, filepath.Join(rewrittenDir, ce.rewritten))
	}
	e.mu.Unlock()

	ce.mod, ce.err = e.compile(ctx, ce, sha, fetch)
	if ce.err != nil { // do not remember failures: the next upload may differ
		e.mu.Lock()
		if e.compiled[sha] == ce { // not evicted (and loaded again) meanwhile
			delete(e.compiled, sha)
		}
		e.dropFailedLocked(sha, e.releaseFilesLocked(ce), ce.err)
		e.mu.Unlock()
	}
	close(ce.done)
	return ce.mod, ce.err
}

// Compiled reports whether the module sha is compiled (or compiling) in
// memory, i.e. has not been evicted.
func (e *Engine) Compiled(sha string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.compiled[sha]
	return ok
}

// Evict forgets the compiled module with the given hash, once no webtask uses
// it. Instances already created keep working. Its entry in the on-disk cache
// stays (see Forget).
func (e *Engine) Evict(ctx context.Context, sha string) {
	e.mu.Lock()
	ce, ok := e.compiled[sha]
	delete(e.compiled, sha)
	e.mu.Unlock()
	if ok {
		<-ce.done
		e.mu.Lock()
		e.releaseFilesLocked(ce)
		var code *moduleCode
		if ce.mod != nil {
			// Under e.mu, where a background compile swaps the code in
			// (tier.go): from now on it closes what it compiled itself.
			ce.mod.evicted = true
			code = ce.mod.code.Load()
		}
		e.mu.Unlock()
		if code != nil {
			_ = code.cm.Close(ctx)
		}
	}
}

func (e *Engine) compile(ctx context.Context, ce *compileEntry, sha string, fetch func() ([]byte, error)) (*Module, error) {
	wasm, err := fetch()
	if err != nil {
		return nil, err
	}
	if SHA256(wasm) != sha {
		return nil, fmt.Errorf("engine: module %s: content does not match its hash", sha)
	}
	if len(wasm) < 4 || string(wasm[:4]) != "\x00asm" {
		return nil, fmt.Errorf("%w: not a WebAssembly binary (it does not start with \\0asm); "+
			"build for wasm32-wasi: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared, "+
			"clang --target=wasm32-wasi -mexec-model=reactor, rustc --target wasm32-wasi --crate-type cdylib, "+
			"or wat2wasm for text", ErrInvalidModule)
	}
	rw, rerr := e.rewriteCached(sha, ce.rewritten, wasm)
	var ie *importError
	var le *limitError
	switch {
	case errors.As(rerr, &ie):
		return nil, fmt.Errorf("%w: %v", ErrUnknownImport, ie)
	case errors.As(rerr, &le):
		return nil, fmt.Errorf("%w: too costly to compile: %v", ErrInvalidModule, le)
	case rerr != nil:
		return nil, fmt.Errorf("%w: %v", ErrInvalidModule, rerr)
	}
	var entry wazeroEntry
	if e.cache != nil && e.wazeroDir != "" {
		entry = e.cacheEntry(ce, sha, rw.code)
	}
	if !entry.whole && e.tiers() {
		return e.compileTiered(ctx, ce, sha, wasm, rw, entry)
	}
	cm, err := e.compileOptimized(ctx, rw, &entry, false)
	if err != nil {
		return nil, err
	}
	if e.cfg.CacheDir != "" {
		e.writeIndex(sha, ce.rewritten, entry)
	}
	return newModule(sha, wasm, rw, &moduleCode{cm: cm, rt: e.rt}), nil
}

// compileOptimized compiles rw's code with the compiler, in a compile lane
// (a background one if background), through wazero's file cache entry,
// counts whether that entry was used, and validates the result.
func (e *Engine) compileOptimized(ctx context.Context, rw *rewritten, entry *wazeroEntry, background bool) (wazero.CompiledModule, error) {
	var cm wazero.CompiledModule
	err := e.inLane(ctx, rw.compileMicros, background, rw.compileBytes, func(ctx context.Context) (err error) {
		cm, err = e.compileCode(ctx, entry, e.rt, rw.code)
		return err
	})
	if err != nil {
		return nil, err
	}
	if entry.whole {
		e.stats.diskHits.Add(1)
	} else if entry.path != "" {
		e.stats.diskMisses.Add(1)
	}
	if err := e.validate(cm); err != nil {
		_ = cm.Close(ctx)
		return nil, err
	}
	return cm, nil
}

// newModule is the Module of wasm, rewritten as rw, compiled as code.
func newModule(sha string, wasm []byte, rw *rewritten, code *moduleCode) *Module {
	initBytes := int64(code.cm.ExportedMemories()[abi.ExportMemory].Min()) * pageSize // validate checked it exists
	m := &Module{SHA256: sha, Size: len(wasm), globals: rw.globals, start: rw.start,
		resettable: rw.resettable && resetSupported, initBytes: initBytes, library: parseLibrary(wasm)}
	m.code.Store(code)
	return m
}

// inLane runs compile, a compile estimated at micros and bytes, in a
// compile lane (lanes.go; the background lane if background), with bytes
// reserved from the memory budget and the engine kept open: closing the
// runtime under a compile makes wazero panic (a nil map in its
// compiled-module registry).
func (e *Engine) inLane(ctx context.Context, micros int, background bool, bytes int64, compile func(context.Context) error) error {
	release, err := e.lanes.acquire(ctx, micros, background, e.cfg.Timeout)
	if err != nil {
		return err
	}
	defer release()
	if err := e.reserve(bytes, nil); err != nil {
		return err
	}
	defer e.acct.release(bytes)
	workers := 2
	if background || micros > heavyCompile {
		workers = 1 // a heavy or background compile holds one core
	}
	ctx = experimental.WithCompilationWorkers(ctx, workers)
	e.closing.RLock()
	defer e.closing.RUnlock()
	if e.closed {
		return ErrClosed
	}
	return compile(ctx)
}

// validate checks a compiled module against the ABI: what it imports and
// what it exports.
func (e *Engine) validate(cm wazero.CompiledModule) error {
	for _, def := range cm.ImportedFunctions() {
		mod, name, _ := def.Import()
		if mod == rtModule { // added by the rewriter, which refuses it in uploads
			continue
		}
		if strings.HasPrefix(mod, abi.ModulePrefix) && mod != abi.ModuleName {
			return fmt.Errorf("%w: module targets ABI %s (imports %s.%s); this server speaks v%d (%s)",
				ErrABIVersion, strings.TrimPrefix(mod, "wasmtask_"), mod, name, abi.Version, abi.ModuleName)
		}
		fns, ok := e.imports[mod]
		if !ok {
			hint := ""
			if mod == "env" && name == "abort" {
				hint = " (AssemblyScript: build with --use abort=<your function>, as guests/assemblyscript does)"
			}
			return fmt.Errorf("%w: function %s.%s: the host offers only %s and %s%s",
				ErrUnknownImport, mod, name, abi.ModuleName, wasi_snapshot_preview1.ModuleName, hint)
		}
		want, ok := fns[name]
		if !ok {
			return fmt.Errorf("%w: function %s.%s does not exist", ErrUnknownImport, mod, name)
		}
		if !sameSignature(def, want) {
			return fmt.Errorf("%w: function %s.%s has signature %s, want %s",
				ErrUnknownImport, mod, name, signature(def), signature(want))
		}
	}
	if ims := cm.ImportedMemories(); len(ims) > 0 {
		mod, name, _ := ims[0].Import()
		return fmt.Errorf("%w: memory %s.%s: a module must define and export its own memory", ErrUnknownImport, mod, name)
	}
	exports := cm.ExportedFunctions()
	if _, ok := exports["_start"]; ok {
		return fmt.Errorf("%w: module is a WASI command (exports _start); build a reactor that exports %s "+
			"(Go: -buildmode=c-shared, C: -mexec-model=reactor, Rust: --crate-type cdylib)", ErrMissingExport, abi.ExportHandle)
	}
	h, ok := exports[abi.ExportHandle]
	if !ok {
		return fmt.Errorf("%w: module does not export %s () -> i32 (Go: import the SDK guests/go/wasmtask; "+
			"C: -Wl,--export=wt_handle; Rust: #[no_mangle] pub extern \"C\" fn wt_handle() -> i32; "+
			"AssemblyScript: export function wt_handle(): i32)", ErrMissingExport, abi.ExportHandle)
	}
	if len(h.ParamTypes()) != 0 || len(h.ResultTypes()) != 1 || h.ResultTypes()[0] != api.ValueTypeI32 {
		return fmt.Errorf("%w: %s has signature %s, want () -> i32", ErrMissingExport, abi.ExportHandle, signature(h))
	}
	if init, ok := exports[abi.ExportInitialize]; ok && (len(init.ParamTypes()) != 0 || len(init.ResultTypes()) != 0) {
		return fmt.Errorf("%w: %s has signature %s, want () -> ()", ErrMissingExport, abi.ExportInitialize, signature(init))
	}
	if _, ok := cm.ExportedMemories()[abi.ExportMemory]; !ok {
		return fmt.Errorf("%w: module does not export its memory as %q", ErrMissingExport, abi.ExportMemory)
	}
	return nil
}

func sameSignature(a, b api.FunctionDefinition) bool {
	return string(a.ParamTypes()) == string(b.ParamTypes()) && string(a.ResultTypes()) == string(b.ResultTypes())
}

func signature(f api.FunctionDefinition) string {
	names := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return strings.Join(s, ", ")
	}
	return "(" + names(f.ParamTypes()) + ") -> (" + names(f.ResultTypes()) + ")"
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
