// Package deploy is what is deployed, apart from HTTP: the registry of
// webtasks ready to run (their pools, secrets and tokens), the code tokens
// fix (inline, by hash, fetched by url), prepared tokens, rate limits and
// revocations, and the lifetime of compiled modules. It is built from a
// store.Store, the engine, the key set and the token signer, and knows
// nothing of fasthttp: host/api translates HTTP to its calls and its errors
// (errors.go) to HTTP.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/host/keys"
	"github.com/wasmtask/wasmtask/host/token"
	"github.com/wasmtask/wasmtask/store"
)

// Config configures a Registry. Use DefaultConfig and change what you need;
// New refuses values out of range instead of replacing them.
type Config struct {
	// DefaultPolicy is the instance policy of webtasks whose meta does not
	// choose one (MetaPolicy), and of code fixed by tokens.
	DefaultPolicy engine.Policy
	// MaxModuleBytes caps a module (uploaded, posted, fetched).
	MaxModuleBytes int
	// FetchAllow lists the hosts whose http(s) URLs a token's "url" claim
	// may fetch code from: "host" (any port), "host:port", or "*.example.com"
	// (its subdomains). Empty allows none (the SSRF guard, docs/tokens.md).
	FetchAllow []string
	// FetchTimeout bounds one fetch of a token's url.
	FetchTimeout time.Duration
	// FetchTTL is how long a fetched module is reused before its url is
	// fetched again.
	FetchTTL time.Duration
	// RateLimitFlush is how often rate-limit counters are saved to the
	// store; they are also saved on Close.
	RateLimitFlush time.Duration
	// CodePools caps the instance pools kept for code run by tokens, one per
	// container, module and token.
	CodePools int
	// IdleTimeout: the idle instances of a pool that has served no request
	// for this long are closed, freeing their memory.
	IdleTimeout time.Duration
	// MaxWebtasks caps the webtasks of one container.
	MaxWebtasks int
	// MaxContainerBytes caps the module bytes of one container's webtasks
	// together (a module two webtasks share counts twice).
	MaxContainerBytes int64
	// JSEngine is the JavaScript engine module
	// (guests/build/js/engine.wasm, built by make guests): New compiles
	// it once and keeps it for the registry's lifetime, and every
	// JavaScript webtask runs on it with its source. Nil disables
	// JavaScript: uploading it fails with ErrNoJSEngine.
	JSEngine []byte
	// SharedCache says the engine's compile cache is shared with other
	// servers (tests): New then does not sweep it of the modules this
	// store does not reference.
	SharedCache bool
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		DefaultPolicy:     engine.PolicyPool,
		MaxModuleBytes:    16 << 20,
		FetchTimeout:      10 * time.Second,
		FetchTTL:          5 * time.Minute,
		RateLimitFlush:    5 * time.Second,
		CodePools:         64,
		IdleTimeout:       5 * time.Minute,
		MaxWebtasks:       1000,
		MaxContainerBytes: 1 << 30,
	}
}

// Validate reports the first value out of range.
func (c Config) Validate() error {
	switch {
	case c.MaxModuleBytes <= 0:
		return errors.New("deploy: MaxModuleBytes must be positive")
	case c.FetchTimeout <= 0, c.FetchTTL <= 0, c.RateLimitFlush <= 0, c.IdleTimeout <= 0:
		return errors.New("deploy: FetchTimeout, FetchTTL, RateLimitFlush and IdleTimeout must be positive")
	case c.CodePools <= 0:
		return errors.New("deploy: CodePools must be positive")
	case c.MaxWebtasks <= 0, c.MaxContainerBytes <= 0:
		return errors.New("deploy: MaxWebtasks and MaxContainerBytes must be positive")
	}
	if c.DefaultPolicy != engine.PolicyPool && c.DefaultPolicy != engine.PolicyFresh {
		return errors.New("deploy: DefaultPolicy must be pool or fresh")
	}
	return nil
}

// MetaPolicy is the meta key that selects a webtask's instance policy.
const MetaPolicy = "wt-instance"

// Registry is what is deployed on this server. Safe for concurrent use.
type Registry struct {
	cfg     Config
	st      store.Store
	eng     *engine.Engine
	keys    *keys.Keys
	signer  *token.Signer
	revoked *token.Revocations
	limiter *token.Limiter

	mods   *modules
	js     *engine.Module // the JavaScript engine, held until Close; nil without one
	code   *codePools
	fetch  *fetcher
	tokens tokenCache
	locks  keyLocks

	mu     sync.RWMutex
	deps   map[key]*Deployment
	closed bool

	done chan struct{}
	bg   sync.WaitGroup

	hotMu    sync.Mutex // warm.go
	hotSaved []byte     // the hot list saved last
	hotPrev  []hotEntry // the list saved before, once read
	hotRead  bool

	stats counters
}

// counters are the registry's event counts (Stats): one atomic add each.
type counters struct {
	tokenVerified, tokenInvalid, tokenCacheHits atomic.Int64
	rateLimited                                 atomic.Int64
	storageGets, storageSets, storageConflicts  atomic.Int64
}

// Stats are the registry's counts since it was created, for metrics.
type Stats struct {
	// TokenVerified and TokenInvalid count token signatures checked, by
	// result; TokenCacheHits tokens found already verified (Authenticate).
	TokenVerified, TokenInvalid, TokenCacheHits int64
	// RateLimited counts runs refused by a rate limit (Admit, AdmitWebtask).
	RateLimited int64
	// StorageGets, StorageSets and StorageConflicts count webtask storage
	// reads, writes, and writes refused for a stale etag.
	StorageGets, StorageSets, StorageConflicts int64
}

// Stats returns the registry's counts.
func (r *Registry) Stats() Stats {
	c := &r.stats
	return Stats{TokenVerified: c.tokenVerified.Load(), TokenInvalid: c.tokenInvalid.Load(), TokenCacheHits: c.tokenCacheHits.Load(),
		RateLimited: c.rateLimited.Load(), StorageGets: c.storageGets.Load(), StorageSets: c.storageSets.Load(),
		StorageConflicts: c.storageConflicts.Load()}
}

// key identifies a webtask; a struct key needs no string building.
type key struct{ container, name string }

// New builds a registry on st. It does not own st, eng or k: Close stops
// the registry's pools and background work, and the caller closes the rest.
func New(st store.Store, eng *engine.Engine, k *keys.Keys, signer *token.Signer, cfg Config) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	fetch, err := newFetcher(cfg.FetchAllow, cfg.MaxModuleBytes, cfg.FetchTimeout, cfg.FetchTTL)
	if err != nil {
		return nil, err
	}
	r := &Registry{cfg: cfg, st: st, eng: eng, keys: k, signer: signer, fetch: fetch,
		deps: map[key]*Deployment{}, done: make(chan struct{})}
	r.mods = newModules(eng, st)
	if cfg.JSEngine != nil {
		r.mods.pinned = engine.SHA256(cfg.JSEngine)
		if r.js, err = r.mods.compile(cfg.JSEngine, ""); err != nil {
			return nil, fmt.Errorf("deploy: the JavaScript engine (Config.JSEngine) does not compile: %w", err)
		}
	}
	r.code = newCodePools(r.mods, eng, cfg.CodePools)
	if r.revoked, err = token.OpenRevocations(st); err != nil {
		return nil, err
	}
	if r.limiter, err = token.OpenLimiter(st, time.Now); err != nil {
		return nil, err
	}
	if err := r.migrateTokens(); err != nil {
		return nil, err
	}
	if !cfg.SharedCache {
		r.mods.sweepCache()
	}
	r.follow(st)
	r.bg.Add(3)
	go r.every(cfg.RateLimitFlush, func() { _ = r.limiter.Flush() }) // retried at the next tick; Close flushes again
	go r.every(hotSaveEvery, func() { _ = r.saveHot() })             // likewise
	go r.every(max(cfg.IdleTimeout/4, 10*time.Millisecond), r.evictIdle)
	return r, nil
}

// Config returns the registry's configuration.
func (r *Registry) Config() Config { return r.cfg }

// Close saves the hot list (warm.go), closes every pool, stops the
// background work and saves the rate-limit counters. Requests still
// running finish on their instances.
func (r *Registry) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	_ = r.saveHot() // a hint for the next start (warm.go): failing to save it costs only speed
	r.mu.Lock()
	if r.closed { // closed by another Close meanwhile
		r.mu.Unlock()
		return
	}
	r.closed = true
	deps := r.deps
	r.deps = map[key]*Deployment{}
	r.mu.Unlock()
	close(r.done)
	for _, d := range deps {
		d.close(r.mods)
	}
	r.bg.Wait()
	_ = r.limiter.Flush()
	r.code.closeAll()
	if r.js != nil {
		r.mods.release(r.js.SHA256) // pinned: its compiled code stays cached on disk
	}
}

// every runs fn every period until Close.
func (r *Registry) every(period time.Duration, fn func()) {
	defer r.bg.Done()
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			fn()
		case <-r.done:
			return
		}
	}
}

// evictIdle closes the idle instances of pools unused for IdleTimeout.
func (r *Registry) evictIdle() {
	n := 0
	r.mu.RLock()
	for _, d := range r.deps {
		n += d.Pool.EvictIdle(r.cfg.IdleTimeout)
	}
	r.mu.RUnlock()
	n += r.code.evictIdle(r.cfg.IdleTimeout)
	if n > 0 {
		debug.FreeOSMemory() // give the closed instances' memory back now, not at the scavenger's pace
	}
}

// keyLocks serialises the loads and writes of one webtask, and only of
// that one: a first run that compiles does not hold up other webtasks.
type keyLocks struct {
	mu sync.Mutex
	m  map[key]*keyLock
}

type keyLock struct {
	sync.Mutex
	users int
}

// lock locks k and returns its unlock.
func (l *keyLocks) lock(k key) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[key]*keyLock{}
	}
	kl := l.m[k]
	if kl == nil {
		kl = &keyLock{}
		l.m[k] = kl
	}
	kl.users++
	l.mu.Unlock()
	kl.Lock()
	return func() {
		kl.Unlock()
		l.mu.Lock()
		if kl.users--; kl.users == 0 {
			delete(l.m, k)
		}
		l.mu.Unlock()
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

var bg = context.Background()
