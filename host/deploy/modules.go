package deploy

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/store"
)

// modules is the one owner of compiled code's lifetime in the engine. Every
// user of a module holds it — a deployment's pool, a code pool, an upload
// or load in progress — and releases it when done. When the last hold goes
// and no stored webtask references the module, its compiled code is
// evicted from the engine. Nothing else evicts.
//
// It also keeps the generation of deployments: a counter bumped by every
// webtask write, so answers derived from the store ("is this module still
// deployed?") can be remembered until the next write.
type modules struct {
	eng *engine.Engine
	st  store.Store
	// pinned is a module kept for the registry's lifetime whatever its
	// holds and references (the JavaScript engine); set before use.
	pinned string

	mu    sync.Mutex
	holds map[string]int // module sha -> holders

	gen        atomic.Uint64
	deployedAt sync.Map // module sha -> gen at which a webtask used it
}

func newModules(eng *engine.Engine, st store.Store) *modules {
	return &modules{eng: eng, st: st, holds: map[string]int{}}
}

// hold keeps sha's compiled code until release.
func (m *modules) hold(sha string) {
	m.mu.Lock()
	m.holds[sha]++
	m.mu.Unlock()
}

// release ends one hold; the last one evicts sha unless a stored webtask
// references it.
func (m *modules) release(sha string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.holds[sha]--; m.holds[sha] > 0 {
		return
	}
	delete(m.holds, sha)
	m.evictUnusedLocked(sha)
}

// sweep evicts sha if nothing holds it and no stored webtask references it
// (after a webtask stopped using it).
func (m *modules) sweep(sha string) {
	if sha == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.holds[sha] == 0 {
		m.evictUnusedLocked(sha)
	}
}

// evictUnusedLocked evicts sha, from memory and from the compile cache on
// disk, when the store holds no reference. Under m.mu, so no one can hold
// sha between the check and the eviction.
func (m *modules) evictUnusedLocked(sha string) {
	if sha == m.pinned {
		return
	}
	if n, err := m.st.ModuleRefs(sha); err == nil && n == 0 {
		_ = m.eng.Forget(context.Background(), sha) // a file left behind goes at the next start's sweep
	}
}

// sweepCache deletes the compile-cache entries of modules no stored webtask
// references (left by refused uploads, deletes, crashes), keeping the
// pinned one's.
func (m *modules) sweepCache() {
	_, _ = m.eng.SweepCache(func(sha string) bool {
		if sha == m.pinned {
			return true
		}
		n, err := m.st.ModuleRefs(sha)
		return err != nil || n > 0
	})
}

// compile compiles wasm and returns the module held (release it when done).
// prefix starts the message of a compile error.
func (m *modules) compile(wasm []byte, prefix string) (*engine.Module, error) {
	sha := engine.SHA256(wasm)
	m.hold(sha)
	mod, err := m.eng.Compile(context.Background(), wasm)
	if err != nil {
		m.release(sha)
		return nil, compileError(prefix, err)
	}
	return mod, nil
}

// load returns the module sha held, compiling it from source() when the
// engine does not have it (release it when done). Errors are returned as
// they are.
func (m *modules) load(sha string, source func() ([]byte, error)) (*engine.Module, error) {
	m.hold(sha)
	mod, err := m.eng.Load(context.Background(), sha, source)
	if err != nil {
		m.release(sha)
		return nil, err
	}
	return mod, nil
}

// changed starts a new generation: a webtask was written or deleted.
func (m *modules) changed() { m.gen.Add(1) }

// deployed reports whether a stored webtask uses sha. The answer is
// remembered until the next change, keeping the store off the hot path.
func (m *modules) deployed(sha string) bool {
	gen := m.gen.Load()
	if v, ok := m.deployedAt.Load(sha); ok && v.(uint64) == gen {
		return true
	}
	if n, err := m.st.ModuleRefs(sha); err != nil || n == 0 {
		return false
	}
	m.deployedAt.Store(sha, gen)
	return true
}
