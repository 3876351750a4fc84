package api

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/wasmtask/wasmtask/host/engine"
)

// codeRunner keeps the instance pools of code run by tokens (url, code, or a
// module posted with the request) and decides when a compiled module may be
// dropped from the engine.
//
// Pools: one per container, module and token (jti), so instances — and the
// globals a guest keeps in them — are never shared across tenants or across
// token holders, exactly as a named webtask's pool is never shared across
// webtasks. At most max pools are kept; the least recently used is closed
// when a new one is needed (after its running requests finish).
//
// Modules: the engine caches compiled code by hash until evicted. A module is
// evicted when no code pool, no request being set up, no upload in progress
// (pin) and no stored webtask uses it.
type codeRunner struct {
	s   *Server
	max int

	mu    sync.Mutex
	pools map[string]*codePool
	lru   *list.List     // *codePool, most recently used first
	refs  map[string]int // module sha -> pins + live pools
}

type codePool struct {
	key  string
	sha  string
	pool *engine.Pool
	busy int  // requests using the pool
	dead bool // evicted from the LRU; closed when busy reaches 0
	el   *list.Element
}

func newCodeRunner(s *Server, max int) *codeRunner {
	return &codeRunner{s: s, max: max, pools: map[string]*codePool{}, lru: list.New(), refs: map[string]int{}}
}

// pin keeps the module sha from being evicted until unpin.
func (r *codeRunner) pin(sha string) {
	r.mu.Lock()
	r.refs[sha]++
	r.mu.Unlock()
}

// unpin releases a pin; the last reference evicts the module unless a stored
// webtask uses it.
func (r *codeRunner) unpin(sha string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unpinLocked(sha)
}

func (r *codeRunner) unpinLocked(sha string) {
	if r.refs[sha]--; r.refs[sha] > 0 {
		return
	}
	delete(r.refs, sha)
	// Under r.mu, so no request can pin the module between the check and
	// the eviction.
	if n, err := r.s.store.ModuleRefs(sha); err == nil && n == 0 {
		r.s.eng.Evict(context.Background(), sha)
	}
}

// inUse reports whether code run by tokens holds the module.
func (r *codeRunner) inUse(sha string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refs[sha] > 0
}

// get returns the pool of key marked busy, or nil when there is none.
func (r *codeRunner) get(key string) *codePool {
	r.mu.Lock()
	defer r.mu.Unlock()
	cp := r.pools[key]
	if cp != nil {
		r.lru.MoveToFront(cp.el)
		cp.busy++
	}
	return cp
}

// acquire returns the pool of key (creating it for mod with policy) marked
// busy; release it when the request is done. The caller holds a pin on mod.
func (r *codeRunner) acquire(key string, mod *engine.Module, container string, policy engine.Policy) *codePool {
	r.mu.Lock()
	if cp := r.pools[key]; cp != nil {
		r.lru.MoveToFront(cp.el)
		cp.busy++
		r.mu.Unlock()
		return cp
	}
	cp := &codePool{key: key, sha: mod.SHA256, pool: r.s.eng.NewPool(mod, container, "", policy), busy: 1}
	cp.el = r.lru.PushFront(cp)
	r.pools[key] = cp
	r.refs[cp.sha]++
	var done []*codePool
	for r.lru.Len() > r.max {
		old := r.lru.Remove(r.lru.Back()).(*codePool)
		delete(r.pools, old.key)
		old.dead = true
		if old.busy == 0 {
			done = append(done, old)
		}
	}
	for _, old := range done {
		r.closeLocked(old)
	}
	r.mu.Unlock()
	return cp
}

// release ends a request's use of cp.
func (r *codeRunner) release(cp *codePool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cp.busy--; cp.dead && cp.busy == 0 {
		r.closeLocked(cp)
	}
}

func (r *codeRunner) closeLocked(cp *codePool) {
	cp.pool.Close(context.Background())
	r.unpinLocked(cp.sha)
}

// evictIdle closes the idle instances of pools unused for idleFor.
func (r *codeRunner) evictIdle(idleFor time.Duration) (n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, cp := range r.pools {
		n += cp.pool.EvictIdle(idleFor)
	}
	return n
}

// closeAll closes every pool (server shutdown).
func (r *codeRunner) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, cp := range r.pools {
		cp.pool.Close(context.Background())
	}
	r.pools = map[string]*codePool{}
	r.lru.Init()
}
