package deploy

import (
	"container/list"
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/host/token"
	"github.com/wasmtask/wasmtask/store"
)

// CodePool is the instance pool of code a token fixes (url, code) or a
// module posted with a request, leased to one request: call Release when
// the request is done.
type CodePool struct {
	// Pool runs the code.
	Pool *engine.Pool

	c    *codePools
	key  string
	sha  string
	busy int  // requests using the pool
	dead bool // evicted from the LRU; closed when busy reaches 0
	el   *list.Element
}

// Release ends the request's lease.
func (cp *CodePool) Release() { cp.c.release(cp) }

// codePools keeps the pools of code run by tokens: one per container,
// module and token (jti), so instances — and the globals a guest keeps in
// them — are never shared across tenants or token holders, exactly as a
// named webtask's pool is never shared across webtasks. At most max pools
// are kept; the least recently used is closed when a new one is needed
// (after its running requests finish). Each pool holds its module.
type codePools struct {
	mods *modules
	eng  *engine.Engine
	max  int

	mu    sync.Mutex
	pools map[string]*CodePool
	lru   *list.List // *CodePool, most recently used first
}

func newCodePools(mods *modules, eng *engine.Engine, max int) *codePools {
	return &codePools{mods: mods, eng: eng, max: max, pools: map[string]*CodePool{}, lru: list.New()}
}

// get returns the pool of key leased, or nil when there is none.
func (c *codePools) get(key string) *CodePool {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := c.pools[key]
	if cp != nil {
		c.lru.MoveToFront(cp.el)
		cp.busy++
	}
	return cp
}

// acquire returns the pool of key leased, creating it for mod (with the
// JavaScript source src when mod is the engine, nil otherwise) with
// policy. The caller holds mod; the pool takes its own hold.
func (c *codePools) acquire(key string, mod *engine.Module, src []byte, container string, policy engine.Policy) *CodePool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cp := c.pools[key]; cp != nil {
		c.lru.MoveToFront(cp.el)
		cp.busy++
		return cp
	}
	c.mods.hold(mod.SHA256)
	cp := &CodePool{Pool: c.eng.NewPoolSource(mod, container, "", policy, src), c: c, key: key, sha: mod.SHA256, busy: 1}
	cp.el = c.lru.PushFront(cp)
	c.pools[key] = cp
	for c.lru.Len() > c.max {
		old := c.lru.Remove(c.lru.Back()).(*CodePool)
		delete(c.pools, old.key)
		old.dead = true
		if old.busy == 0 {
			c.closeLocked(old)
		}
	}
	return cp
}

func (c *codePools) release(cp *CodePool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cp.busy--; cp.dead && cp.busy == 0 {
		c.closeLocked(cp)
	}
}

func (c *codePools) closeLocked(cp *CodePool) {
	cp.Pool.Close(context.Background())
	c.mods.release(cp.sha)
}

// evictIdle closes the idle instances of pools unused for idleFor.
func (c *codePools) evictIdle(idleFor time.Duration) (n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cp := range c.pools {
		n += cp.Pool.EvictIdle(idleFor)
	}
	return n
}

// closeAll closes every pool (shutdown).
func (c *codePools) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cp := range c.pools {
		cp.Pool.Close(context.Background())
	}
	c.pools = map[string]*CodePool{}
	c.lru.Init()
}

// codeKey is the pool key of code fixed by a token.
func codeKey(container, sha, jti string) string {
	return strings.Join([]string{container, sha, jti}, "\x00")
}

// FixedCode leases the pool of the code t fixes by url or code, for a run
// in container. Fast when the code is known by hash and its pool warm;
// otherwise it compiles, loads or fetches the code first.
func (r *Registry) FixedCode(t *Token, container string) (*CodePool, error) {
	c := t.Claims
	if t.CodeSHA != "" && r.codeDeployed(c, t.CodeSHA) {
		if cp := r.code.get(codeKey(container, t.CodeSHA, c.ID)); cp != nil {
			return cp, nil
		}
	}
	f, err := r.fixedCode(c)
	if err != nil {
		return nil, err
	}
	defer r.mods.release(f.mod.SHA256)
	return r.code.acquire(codeKey(container, f.sha, c.ID), f.mod, f.src, container, r.cfg.DefaultPolicy), nil
}

// PostedCode leases a one-off pool for code posted with a run by t (a
// token that fixes no code): a module, or JavaScript source, told apart
// by its bytes. A fresh instance per request, nothing kept across tokens.
func (r *Registry) PostedCode(t *Token, container string, code []byte) (*CodePool, error) {
	if len(code) > r.cfg.MaxModuleBytes {
		return nil, Fail(ErrTooLarge, "module exceeds the limit of "+itoa(r.cfg.MaxModuleBytes)+" bytes")
	}
	f, err := r.fixedBytes(code, !IsWasm(code), "")
	if err != nil {
		return nil, err
	}
	defer r.mods.release(f.mod.SHA256)
	return r.code.acquire(codeKey(container, f.sha, "post:"+t.Claims.ID), f.mod, f.src, container, engine.PolicyFresh), nil
}

// codeDeployed reports whether the code a url "sha256:…" names is still
// deployed: the reference stands while a webtask uses the module (or
// JavaScript source), so deleting it stops its tokens at once, compiled or
// not. Other code claims are always available.
func (r *Registry) codeDeployed(c *token.Claims, sha string) bool {
	if c.Code != "" || c.URL == "" {
		return true
	}
	return r.mods.deployed(sha)
}

// fixed is the code a token fixes: the module that runs it, held, and for
// JavaScript the source the engine evaluates; sha names the code (the
// module's hash, or the source's).
type fixed struct {
	mod *engine.Module
	src []byte
	sha string
}

// fixedBytes is code given as bytes (a code claim, a posted body) as
// fixed code: JavaScript source when js, else a module compiled (errors
// prefixed with what).
func (r *Registry) fixedBytes(b []byte, js bool, what string) (fixed, error) {
	if js {
		return r.fixedJS(b)
	}
	mod, err := r.mods.compile(b, what)
	if err != nil {
		return fixed{}, err
	}
	return fixed{mod: mod, sha: mod.SHA256}, nil
}

// fixedJS is JavaScript source as fixed code: checked (a syntax error or
// a module that is not built in is ErrInvalidModule), run by the engine.
func (r *Registry) fixedJS(src []byte) (fixed, error) {
	run, err := checkJS(src)
	if err != nil {
		return fixed{}, err
	}
	mod, err := r.jsModule()
	if err != nil {
		return fixed{}, err
	}
	return fixed{mod: mod, src: run, sha: engine.SHA256(src)}, nil
}

// fixedCode returns the code a url or code claim fixes, its module held
// (the caller releases it).
func (r *Registry) fixedCode(c *token.Claims) (fixed, error) {
	if c.Code != "" {
		b, js, err := token.DecodeCode(c.Code)
		if err != nil {
			return fixed{}, Fail(ErrUnauthorized, "invalid token: "+err.Error())
		}
		return r.fixedBytes(b, js, "code: ")
	}
	if sha, ok := token.SHA256Ref(c.URL); ok {
		return r.storedCode(c, sha)
	}
	return r.fetchedCode(c.URL)
}

// storedCode returns the code a url "sha256:…" names: a module or the
// source of a JavaScript webtask stored on this server.
func (r *Registry) storedCode(c *token.Claims, sha string) (fixed, error) {
	gone := Fail(ErrNotFound, "module "+c.URL+" is no longer deployed on this server")
	if !r.codeDeployed(c, sha) {
		return fixed{}, gone
	}
	var src []byte
	mod, err := r.mods.load(sha, func() ([]byte, error) {
		b, err := r.st.GetModule(sha)
		if err == nil && !IsWasm(b) {
			src = b
			return nil, errJSSource
		}
		return b, err
	})
	switch {
	case errors.Is(err, errJSSource):
		run, err := runnableJS(src)
		if err != nil {
			return fixed{}, err
		}
		mod, err := r.jsModule()
		return fixed{mod: mod, src: run, sha: sha}, err
	case errors.Is(err, store.ErrModuleNotFound):
		return fixed{}, gone
	case errors.Is(err, engine.ErrOverloaded):
		return fixed{}, err
	case err != nil:
		return fixed{}, internal("cannot load module "+c.URL, err)
	}
	return fixed{mod: mod, sha: sha}, nil
}

// URLCode fetches the code at an http(s) url for a named webtask that
// wt-cli creates from a url (jtn with url): the bytes (a module, or
// JavaScript source) are deployed like uploaded code, so the webtask does
// not depend on the url staying up. The fetch follows the same rules as a
// url token's (--fetch-allow, no redirects, the module limit). A
// "sha256:" url is refused: a hash someone learned from a token must not
// copy another webtask's source into a container that can read it.
func (r *Registry) URLCode(raw string) ([]byte, error) {
	if _, ok := token.SHA256Ref(raw); ok {
		return nil, Fail(ErrBadRequest, "jtn with url: a sha256: url cannot create a webtask; send its code in the code claim")
	}
	u, err := token.ParseURL(raw)
	if err != nil {
		return nil, Fail(ErrBadRequest, err.Error())
	}
	if !r.fetch.allowed(u) {
		return nil, Fail(ErrForbidden, "url: this server does not fetch code from "+u.Host+" (--fetch-allow)")
	}
	b, err := r.fetch.fetch(bg, u)
	if err != nil {
		return nil, &Error{Kind: ErrFetch, Msg: err.Error() + " (" + raw + ")", Cause: err}
	}
	return b, nil
}

// errJSSource: the code a url "sha256:…" names is JavaScript source, not
// a module to compile.
var errJSSource = errors.New("deploy: the module is JavaScript source")

// fetchedCode returns the code at an http(s) url claim (a module, or
// JavaScript source as seed 000's url names), its module held.
func (r *Registry) fetchedCode(raw string) (fixed, error) {
	u, err := token.ParseURL(raw)
	if err != nil || u == nil {
		return fixed{}, Fail(ErrUnauthorized, "invalid token: url does not parse")
	}
	if !r.fetch.allowed(u) {
		return fixed{}, Fail(ErrForbidden, "url: this server does not fetch code from "+u.Host+" (--fetch-allow)")
	}
	sha, code, err := r.fetch.get(bg, raw, u)
	if err != nil {
		return fixed{}, &Error{Kind: ErrFetch, Msg: err.Error() + " (" + raw + ")", Cause: err}
	}
	if code != nil && !IsWasm(code) {
		// JavaScript: the fetcher keeps the source until its entry expires
		// (never marked compiled), for the pools it may still create.
		f, err := r.fixedJS(code)
		if err != nil {
			r.fetch.forget(raw, nil)
			return fixed{}, &Error{Kind: ErrFetch, Msg: "the JavaScript at the token's url is not usable: " + err.Error(), Cause: err}
		}
		return f, nil
	}
	mod, err := r.mods.load(sha, func() ([]byte, error) {
		if code != nil {
			return code, nil
		}
		return r.fetch.fetch(bg, u) // compiled before, evicted since: fetch again
	})
	if err != nil {
		r.fetch.forget(raw, nil)
		switch {
		case errors.Is(err, ErrFetch):
			return fixed{}, &Error{Kind: ErrFetch, Msg: err.Error() + " (" + raw + ")", Cause: err}
		case errors.Is(err, engine.ErrOverloaded):
			return fixed{}, err
		}
		return fixed{}, &Error{Kind: ErrFetch, Msg: "the module at the token's url is not usable: " + err.Error(), Cause: err}
	}
	r.fetch.compiled(raw)
	return fixed{mod: mod, sha: sha}, nil
}
