package engine

import (
	"context"
	"errors"
	"time"

	"github.com/tetratelabs/wazero"
)

// Tiered compilation (Config.Tiered). wazero's optimising compiler takes
// 10-30 ms for a C or Rust hello on this project's 2-core machine and over
// a second for a Go one, and a module served nothing until it finished: an
// upload's first response waited for it. wazero's interpreter accepts the
// same rewritten module in about a tenth of the time (C 3 ms, Rust 5.5 ms,
// Go 0.35 s, against 30, 54 and 3,000 ms on the same run) and runs it 3-10
// times slower. So a module whose compiled code is not in the on-disk
// cache is compiled twice:
//
//   - at once by the interpreter's runtime (Engine.irt, with the same host
//     modules as the compiler's), in a compile lane chosen for a tenth of
//     the compiler's estimate. Load returns the module when that is done,
//     and its first instances are interpreted. The interpreter's code
//     lives in the Go heap (rewritten.interpretedBytes estimates it: 32
//     bytes per byte of code and 2.5 KiB per function), and that is
//     charged to the memory budget until the module is compiled; at most
//     maxInterpreting modules are interpreted at once (past that, a module
//     is compiled without tiering, as a burst of uploads would otherwise
//     pile up background compiles);
//   - in the background by the compiler, in a background lane (one
//     compile at a time per lane, on one core; lanes.go) with its memory charged to
//     the budget as any compile's, retrying while the server is
//     overloaded. When it is done, under e.mu, the module's code is
//     swapped and the interpreter's closed (an instance made from it keeps
//     working: wazero's compiled module only leaves its registry).
//
// Pools make new instances from whatever code the module has then, and drop
// an instance made from older code instead of keeping it idle (acquire and
// release compare inst.code): a pooled webtask moves to compiled code as
// its instances cycle. A snapshot (pool.go) is bytes and global values, the
// same whichever runtime produced them, so a fresh pool's snapshot taken
// from an interpreted instance is restored into compiled ones.
//
// A module found in the cache (a restart, a redeploy of the same code) is
// compiled directly: the compiler reads its code back in about as long as
// the interpreter would take. Interpreted code is checked for its deadline
// at the same places as compiled code (rewrite.go), so a runaway guest is
// stopped as late as its slower pace makes the checks come: tens of
// milliseconds past the deadline instead of a few.

// interpreterSpeedup is how many times faster the interpreter compiles a
// module than the compiler, as measured (about 10, see above); it scales
// the compile estimate that picks the interpreter's lane.
const interpreterSpeedup = 10

// maxInterpreting caps the modules interpreted at once, waiting for their
// compiler: past it a module is compiled at once, without tiering. A burst
// of uploads (interpreted ten times as fast as they compile) would
// otherwise pile up background compiles, each holding an interpreted
// module.
const maxInterpreting = 8

// tierRetry is how long a background compile refused for overload (no
// lane or no memory budget) waits before trying again.
const tierRetry = 250 * time.Millisecond

// moduleCode is a module compiled by one of the engine's runtimes.
type moduleCode struct {
	rt          wazero.Runtime
	cm          wazero.CompiledModule
	interpreted bool
}

// tierUp is the background compile of a module that started interpreted.
type tierUp struct {
	done chan struct{} // closed when it has ended
	err  error         // why the module stays interpreted; read after done
}

// Interpreted reports whether new instances of the module run on wazero's
// interpreter: its compiled code is not ready yet (Config.Tiered), or
// could not be made.
func (m *Module) Interpreted() bool { return m.code.Load().interpreted }

// WaitCompiled waits until the module's compiled code is ready, and
// returns why it never will be (the module was evicted, the engine closed,
// the compiler refused it) or ctx's error. A module compiled at once
// returns nil at once.
func (m *Module) WaitCompiled(ctx context.Context) error {
	if m.tier == nil {
		return nil
	}
	select {
	case <-m.tier.done:
		return m.tier.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tiers reports whether a module whose compiled code is not in the cache
// is to be interpreted first, and if so counts it in e.stats.interpreting
// (which compileTiered takes over).
func (e *Engine) tiers() bool {
	if e.irt == nil {
		return false
	}
	if e.stats.interpreting.Add(1) > maxInterpreting {
		e.stats.interpreting.Add(-1)
		return false
	}
	return true
}

// compileTiered compiles sha with the interpreter and starts its compile by
// the compiler in the background; entry is its entry in wazero's file
// cache, not whole. The module is counted in e.stats.interpreting (tiers).
func (e *Engine) compileTiered(ctx context.Context, ce *compileEntry, sha string, wasm []byte, rw *rewritten, entry wazeroEntry) (*Module, error) {
	held := rw.interpretedBytes
	ended := func() {
		e.acct.release(held)
		e.stats.interpreting.Add(-1)
	}
	if err := e.reserve(held, nil); err != nil {
		e.stats.interpreting.Add(-1)
		return nil, err
	}
	var cm wazero.CompiledModule
	err := e.inLane(ctx, rw.compileMicros/interpreterSpeedup, false, 0, func(ctx context.Context) (err error) {
		cm, err = e.compileCode(ctx, &wazeroEntry{}, e.irt, rw.code)
		return err
	})
	if err == nil {
		if err = e.validate(cm); err != nil {
			_ = cm.Close(ctx)
		}
	}
	if err != nil {
		ended()
		return nil, err
	}
	mod := newModule(sha, wasm, rw, &moduleCode{rt: e.irt, cm: cm, interpreted: true})
	mod.tier = &tierUp{done: make(chan struct{})}
	go e.compileBehind(ce, mod, rw, entry, ended)
	return mod, nil
}

// compileBehind compiles mod with the compiler and swaps its code in, then
// calls ended.
func (e *Engine) compileBehind(ce *compileEntry, mod *Module, rw *rewritten, entry wazeroEntry, ended func()) {
	t := mod.tier
	defer func() {
		ended()
		close(t.done)
	}()
	if e.tierHold != nil {
		<-e.tierHold
	}
	ctx := context.Background()
	var cm wazero.CompiledModule
	for {
		if t.err = e.tierGone(mod); t.err != nil {
			return
		}
		cm, t.err = e.compileOptimized(ctx, rw, &entry, true)
		if !errors.Is(t.err, ErrOverloaded) {
			break
		}
		time.Sleep(tierRetry)
	}
	if t.err != nil {
		return
	}
	if e.cfg.CacheDir != "" && e.tierGone(mod) == nil {
		e.writeIndex(mod.SHA256, ce.rewritten, entry)
	}
	e.mu.Lock()
	old := cm
	if mod.evicted {
		t.err = errEvicted
	} else {
		old = mod.code.Swap(&moduleCode{rt: e.rt, cm: cm}).cm
	}
	e.mu.Unlock()
	_ = old.Close(ctx)
}

// errEvicted: the module was evicted before its compiled code was ready.
var errEvicted = errors.New("engine: module evicted before it was compiled")

// tierGone reports why a background compile of mod has no one to serve:
// the module was evicted or the engine closed.
func (e *Engine) tierGone(mod *Module) error {
	e.mu.Lock()
	evicted := mod.evicted
	e.mu.Unlock()
	if evicted {
		return errEvicted
	}
	e.closing.RLock()
	defer e.closing.RUnlock()
	if e.closed {
		return ErrClosed
	}
	return nil
}
