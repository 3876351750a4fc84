package deploy

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/wasmtask/wasmtask/host/auth"
	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/host/token"
	"github.com/wasmtask/wasmtask/store"
)

// Deployment is a webtask ready to run: its record, its pool, and the maps
// its requests see. Immutable once built; replaced as a whole by a deploy.
type Deployment struct {
	Webtask store.Webtask
	Pool    *engine.Pool
	// Secrets are the stored secrets with the webtask token's ectx over
	// them; Meta the stored meta.
	Secrets, Meta []engine.KV
	// Token is the token the webtask runs with (jtn); nil for webtasks
	// stored before tokens existed. TokenErr (ErrUnauthorized) says why a
	// stored token cannot be used.
	Token    *Token
	TokenErr error
	// Auth is the declarative auth its meta asks for (nil: none), checked
	// before any of its code runs; AuthErr says why it cannot be read.
	Auth    *auth.Policy
	AuthErr error
}

// close stops the pool and releases the module it runs (for JavaScript,
// the engine, not the source's hash the record names).
func (d *Deployment) close(mods *modules) {
	d.Pool.Close(bg)
	mods.release(d.Pool.Module().SHA256)
}

// IsWasm reports whether code is a WebAssembly binary (starts with \0asm);
// anything else uploaded as code is JavaScript source.
func IsWasm(code []byte) bool { return len(code) >= 4 && string(code[:4]) == "\x00asm" }

// Language is the language of w's code: "javascript" or "wasm".
func Language(w store.Webtask) string {
	if w.Kind == store.KindJS {
		return "javascript"
	}
	return "wasm"
}

// Webtask returns the deployment of a webtask, loading it from the store
// (and compiling it, from the cache when warm) on its first use. Loads of
// different webtasks run in parallel. ErrNotFound when there is none.
func (r *Registry) Webtask(container, name string) (*Deployment, error) {
	k := key{container, name}
	r.mu.RLock()
	d := r.deps[k]
	r.mu.RUnlock()
	if d != nil {
		return d, nil
	}
	unlock := r.locks.lock(k)
	defer unlock()
	r.mu.RLock()
	d = r.deps[k] // loaded while this call waited
	r.mu.RUnlock()
	if d != nil {
		return d, nil
	}
	w, err := r.Get(container, name)
	if err != nil {
		return nil, err
	}
	mod, src, err := r.loadCode(w)
	if err != nil {
		return nil, err
	}
	if d, err = r.newDeployment(w, mod, src, nil); err != nil {
		r.mods.release(mod.SHA256)
		return nil, err
	}
	if err := r.install(k, d); err != nil {
		d.close(r.mods)
		return nil, err
	}
	return d, nil
}

// loadCode returns the module w runs, held, and the JavaScript code it
// runs (nil for a wasm webtask): a wasm module is compiled from the store
// (or the cache), a JavaScript webtask runs on the engine with its stored
// source, made CommonJS by esbuild when it is an ES module (runnableJS).
func (r *Registry) loadCode(w store.Webtask) (*engine.Module, []byte, error) {
	sha := w.ModuleSHA256
	switch w.Kind {
	case store.KindWasm:
		mod, err := r.mods.load(sha, func() ([]byte, error) { return r.st.GetModule(sha) })
		if err != nil {
			if errors.Is(err, engine.ErrOverloaded) {
				return nil, nil, err
			}
			return nil, nil, internal("cannot load webtask "+w.Name+": its module cannot be compiled", err)
		}
		return mod, nil, nil
	case store.KindJS:
		mod, err := r.jsModule()
		if err != nil {
			return nil, nil, err
		}
		src, err := r.st.GetModule(sha)
		if err != nil {
			r.mods.release(mod.SHA256)
			return nil, nil, internal("cannot load webtask "+w.Name+": its source cannot be read", err)
		}
		run, err := runnableJS(src)
		if err != nil {
			r.mods.release(mod.SHA256)
			return nil, nil, &Error{Kind: ErrInternal, Msg: "cannot load webtask " + w.Name + ": " + err.Error(), Cause: err}
		}
		return mod, run, nil
	}
	return nil, nil, internal("webtask "+w.Name+" has a kind of code this server does not know: "+strconv.Quote(w.Kind), nil)
}

// jsModule returns the JavaScript engine, held; ErrNoJSEngine without one.
func (r *Registry) jsModule() (*engine.Module, error) {
	if r.js == nil {
		return nil, noJSEngine()
	}
	r.mods.hold(r.js.SHA256)
	return r.js, nil
}

// newDeployment builds the deployment of w running mod (held by the
// caller, the deployment takes that hold over) with the JavaScript source
// src (nil for wasm). pool is used when not nil; on an error the caller
// still owns it.
func (r *Registry) newDeployment(w store.Webtask, mod *engine.Module, src []byte, pool *engine.Pool) (*Deployment, error) {
	policy, err := r.policy(w.Policy)
	if err != nil {
		return nil, internal("webtask "+w.Name+" has an unknown policy", err)
	}
	d := &Deployment{Webtask: w, Meta: ToKV(w.Meta)}
	if len(w.Secrets) > 0 {
		m, err := r.openSecrets(w)
		if err != nil {
			return nil, internal("stored secrets cannot be decrypted with this server's key", err)
		}
		d.Secrets = ToKV(m)
	}
	if w.Token != "" {
		c, err := r.signer.Parse(w.Token)
		if err == nil {
			d.Token, err = r.Prepare(c)
		}
		if err != nil {
			d.TokenErr = Fail(ErrUnauthorized, "webtask "+w.Name+": the webtask's token is not valid on this server: "+err.Error())
		} else {
			d.Secrets = MergeSecrets(d.Secrets, d.Token.Secrets)
		}
	}
	if d.Auth, err = auth.Parse(d.Meta, d.Secrets); err != nil {
		d.AuthErr = Fail(ErrInternal, "webtask "+w.Name+": its auth settings are not valid: "+err.Error())
	}
	if pool == nil {
		pool = r.eng.NewPoolSource(mod, w.Container, w.Name, policy, src)
	}
	d.Pool = pool
	return d, nil
}

// install makes d the deployment of k, closing the one it replaces.
func (r *Registry) install(k key, d *Deployment) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return engine.ErrClosed
	}
	old := r.deps[k]
	if d == nil {
		delete(r.deps, k)
	} else {
		r.deps[k] = d
	}
	r.mu.Unlock()
	if old != nil {
		old.close(r.mods)
	}
	return nil
}

// policy parses a stored policy; "" is the default.
func (r *Registry) policy(p string) (engine.Policy, error) {
	if p == "" {
		return r.cfg.DefaultPolicy, nil
	}
	return engine.ParsePolicy(p)
}

// Upload is a deploy: the code and what the webtask carries.
type Upload struct {
	Container, Name string
	// Wasm is a WebAssembly module; JS, when set instead, is JavaScript
	// source, run by the JavaScript engine (Config.JSEngine) — unless its
	// bytes are a WebAssembly binary, which is deployed as one.
	Wasm, JS      []byte
	Secrets, Meta map[string]string
	// Params become the pctx of the webtask's token; ParseBody and
	// MergeBody its pb and mb (0 or 1).
	Params               map[string]string
	ParseBody, MergeBody int
}

// Deploy creates or replaces a webtask: it compiles and starts the module
// (so a module that cannot run is refused before anything is stored),
// issues the webtask's token from issuer's (ten = container, jtn = name,
// the issuer's window and limits), then stores webtask and token in one
// transaction and swaps the running deployment. It returns the stored
// webtask and whether it was created.
func (r *Registry) Deploy(issuer *Token, u Upload) (store.Webtask, bool, error) {
	w := store.Webtask{Container: u.Container, Name: u.Name, Meta: u.Meta}
	policy := r.cfg.DefaultPolicy
	if p, ok := u.Meta[MetaPolicy]; ok {
		var err error
		if policy, err = engine.ParsePolicy(p); err != nil {
			return w, false, Fail(ErrBadRequest, "meta "+MetaPolicy+" must be pool or fresh")
		}
		w.Policy = policy.String()
	}
	if err := checkMapKeys(u.Secrets, "secret names"); err != nil {
		return w, false, err
	}
	if err := checkMapKeys(u.Meta, "meta keys"); err != nil {
		return w, false, err
	}
	if _, err := auth.Parse(ToKV(u.Meta), ToKV(u.Secrets)); err != nil {
		return w, false, Fail(ErrBadRequest, err.Error())
	}
	code, js := u.Wasm, false
	switch {
	case u.JS != nil && IsWasm(u.JS): // told from the bytes
		code = u.JS
	case u.JS != nil:
		code, js, w.Kind = u.JS, true, store.KindJS
	}
	if len(code) == 0 {
		return w, false, Fail(ErrBadRequest, "empty module: send the .wasm bytes (Content-Type: application/wasm), "+
			"JavaScript (Content-Type: application/javascript) or JSON {\"code\": base64 wasm or JavaScript}")
	}
	if len(code) > r.cfg.MaxModuleBytes {
		return w, false, Fail(ErrTooLarge, "module exceeds the limit of "+itoa(r.cfg.MaxModuleBytes)+" bytes")
	}
	var run []byte // the JavaScript the engine runs; the source is what is stored and shown
	if js {
		var err error
		if run, err = checkJS(code); err != nil {
			return w, false, err
		}
	}
	raw, _, err := r.signer.IssueWebtask(issuer.Claims, u.Container, u.Name, token.URLPrefixSHA256+engine.SHA256(code), u.Params, u.ParseBody, u.MergeBody, nil)
	if err != nil {
		return w, false, err
	}
	w.Token = raw
	mod, pool, err := r.start(&w, code, run, policy)
	if err != nil {
		return w, false, err
	}
	if len(u.Secrets) > 0 {
		b, _ := json.Marshal(u.Secrets)
		w.Secrets = r.keys.Seal(b, secretsPurpose(u.Container, u.Name))
	}
	return r.store(w, code, mod, pool)
}

// start compiles and starts the code of w (a wasm module, or JavaScript:
// source code running as run on the engine), so that code that cannot run
// is refused before anything is stored, and sets w.ModuleSHA256 (for
// JavaScript, the hash of the source). It returns the module held and the
// warm pool.
func (r *Registry) start(w *store.Webtask, code, run []byte, policy engine.Policy) (*engine.Module, *engine.Pool, error) {
	var mod *engine.Module
	var err error
	if run != nil {
		mod, err = r.jsModule()
		w.ModuleSHA256 = engine.SHA256(code)
	} else if mod, err = r.mods.compile(code, ""); err == nil {
		w.ModuleSHA256 = mod.SHA256
	}
	if err != nil {
		return nil, nil, err
	}
	pool := r.eng.NewPoolSource(mod, w.Container, w.Name, policy, run)
	if err := pool.Warm(bg); err != nil {
		pool.Close(bg)
		r.mods.release(mod.SHA256)
		if run != nil {
			return nil, nil, jsError(err)
		}
		return nil, nil, compileError("", err)
	}
	return mod, pool, nil
}

// store writes w (its module held, pool started) and swaps it in.
func (r *Registry) store(w store.Webtask, wasm []byte, mod *engine.Module, pool *engine.Pool) (store.Webtask, bool, error) {
	k := key{w.Container, w.Name}
	unlock := r.locks.lock(k)
	defer unlock()
	oldSHA, err := r.checkQuota(w.Container, w.Name, int64(len(wasm)))
	var created bool
	if err == nil {
		if created, err = r.st.PutWebtask(w, wasm); err != nil {
			err = internal("cannot store webtask", err)
		}
	}
	if err != nil {
		pool.Close(bg)
		r.mods.release(mod.SHA256)
		return w, false, err
	}
	r.mods.changed()
	if stored, err := r.st.GetWebtask(w.Container, w.Name); err == nil {
		w = stored
	}
	d, err := r.newDeployment(w, mod, nil, pool)
	if err == nil {
		err = r.install(k, d)
	}
	if err != nil {
		// Stored but not swapped in: drop the running one, the next run
		// loads what is stored.
		pool.Close(bg)
		r.mods.release(mod.SHA256)
		_ = r.install(k, nil)
	}
	r.mods.sweep(oldSHA)
	return w, created, nil
}

// checkQuota refuses a deploy of size bytes as container/name that would
// take the container past MaxWebtasks or MaxContainerBytes, and returns the
// module hash of the webtask it replaces ("" for a new one), read from the
// same list. Deploys of one container can race past a quota by the few
// that check at once (the per-webtask lock does not cover the container):
// quotas bound abuse, they are not exact.
func (r *Registry) checkQuota(container, name string, size int64) (replaced string, err error) {
	ws, err := r.st.ListWebtasks(container)
	if err != nil {
		return "", internal("cannot read the container's webtasks", err)
	}
	n, total := 1, size
	for _, w := range ws {
		if w.Name == name {
			replaced = w.ModuleSHA256
			continue
		}
		n++
		total += w.ModuleSize
	}
	if n > r.cfg.MaxWebtasks {
		return "", Fail(ErrQuota, "container "+container+" has "+itoa(n-1)+" webtasks, its quota (--max-webtasks); delete one first")
	}
	if total > r.cfg.MaxContainerBytes {
		return "", Fail(ErrQuota, "the modules of container "+container+" would take "+strconv.FormatInt(total, 10)+
			" bytes, over its quota of "+strconv.FormatInt(r.cfg.MaxContainerBytes, 10)+" (--max-container-bytes)")
	}
	return replaced, nil
}

// Delete deletes a webtask (its record and token, in one transaction) and
// stops its pool; ErrNotFound when there is none.
func (r *Registry) Delete(container, name string) error {
	k := key{container, name}
	unlock := r.locks.lock(k)
	defer unlock()
	old, err := r.Get(container, name)
	if err != nil && !errors.Is(err, store.ErrDamaged) { // a damaged record can be deleted
		return err
	}
	if err := r.st.DeleteWebtask(container, name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound(container, name)
		}
		return internal("cannot delete webtask", err)
	}
	r.mods.changed()
	_ = r.install(k, nil)
	r.mods.sweep(old.ModuleSHA256)
	return nil
}

// Get returns the stored webtask; ErrNotFound when there is none.
func (r *Registry) Get(container, name string) (store.Webtask, error) {
	w, err := r.st.GetWebtask(container, name)
	if errors.Is(err, store.ErrNotFound) {
		return w, notFound(container, name)
	}
	if err != nil {
		return w, internal("cannot read webtask", err)
	}
	return w, nil
}

// List returns the webtasks of container, sorted by name.
func (r *Registry) List(container string) ([]store.Webtask, error) {
	ws, err := r.st.ListWebtasks(container)
	if err != nil {
		return nil, internal("cannot list webtasks", err)
	}
	return ws, nil
}

// SecretNames returns the names of w's stored secrets, sorted (never their
// values); nil when they cannot be opened.
func (r *Registry) SecretNames(w store.Webtask) []string {
	m, err := r.Secrets(w)
	if err != nil || len(m) == 0 {
		return nil
	}
	return sortedKeys(m)
}

// Secrets returns w's stored secrets in clear. Only for a caller entitled
// to them (an ancestor of the webtask's token, as for decrypting an ectx).
func (r *Registry) Secrets(w store.Webtask) (map[string]string, error) {
	if len(w.Secrets) == 0 {
		return map[string]string{}, nil
	}
	m, err := r.openSecrets(w)
	if err != nil {
		return nil, internal("cannot open the secrets of webtask "+w.Name, err)
	}
	return m, nil
}

// Code returns w's code as the original platform's code claim carries it:
// JavaScript as its text, a module in base64.
func (r *Registry) Code(w store.Webtask) (string, error) {
	b, err := r.st.GetModule(w.ModuleSHA256)
	if err != nil {
		return "", internal("cannot read the code of webtask "+w.Name, err)
	}
	if IsWasm(b) {
		return base64.StdEncoding.EncodeToString(b), nil
	}
	return string(b), nil
}

// EffectivePolicy is the policy w runs with.
func (r *Registry) EffectivePolicy(w store.Webtask) string {
	if w.Policy == "" {
		return r.cfg.DefaultPolicy.String()
	}
	return w.Policy
}

func secretsPurpose(container, name string) string {
	return "webtask-secrets:" + container + "/" + name
}

func (r *Registry) openSecrets(w store.Webtask) (map[string]string, error) {
	pt, err := r.keys.Open(w.Secrets, secretsPurpose(w.Container, w.Name))
	if err != nil {
		return nil, err
	}
	var m map[string]string
	err = json.Unmarshal(pt, &m)
	return m, err
}

// checkMapKeys refuses empty keys and keys with NUL.
func checkMapKeys(m map[string]string, what string) error {
	for k := range m {
		if k == "" || strings.ContainsRune(k, 0) {
			return Fail(ErrBadRequest, what+" must be non-empty and contain no NUL")
		}
	}
	return nil
}

// CheckCodeClaims checks the code claims of a token issuer asks for that
// issuer does not already fix: a sha256 url must name a module of a webtask
// in a container issuer can manage (knowing a hash does not let one tenant
// run another's code); an http(s) url must be on the fetch allow-list;
// inline code must compile.
func (r *Registry) CheckCodeClaims(issuer *Token, req *token.Request) error {
	if issuer.Claims.FixesCode() {
		return nil
	}
	if req.URL != "" {
		if err := r.checkURLClaim(issuer, req.URL); err != nil {
			return err
		}
	}
	if req.Code != "" {
		b, _, js, err := token.CodeSHA256(req.Code)
		switch {
		case err != nil: // the token's own check names it
		case js:
			if _, err := checkJS(b); err != nil {
				return err
			}
		default:
			mod, err := r.mods.compile(b, "code: ")
			if err != nil {
				return err
			}
			r.mods.release(mod.SHA256)
		}
	}
	return nil
}

func (r *Registry) checkURLClaim(issuer *Token, raw string) error {
	if sha, ok := token.SHA256Ref(raw); ok {
		if !r.moduleVisible(issuer, sha) {
			return Fail(ErrBadRequest, "url: no module "+raw+" is deployed in the containers this token can manage")
		}
		return nil
	}
	u, err := token.ParseURL(raw)
	if err != nil {
		return Fail(ErrBadRequest, err.Error())
	}
	if !r.fetch.allowed(u) {
		return Fail(ErrForbidden, "url: this server does not fetch code from "+u.Host+
			" (the operator allows hosts with --fetch-allow); upload the module and use url \"sha256:<hex>\"")
	}
	return nil
}

// moduleVisible reports whether a webtask in a container t may manage uses
// the module sha.
func (r *Registry) moduleVisible(t *Token, sha string) bool {
	if t.Ten.Any() {
		return r.mods.deployed(sha)
	}
	errFound := errors.New("found")
	err := r.st.ForEachWebtask(func(w store.Webtask) error {
		if w.ModuleSHA256 == sha && t.Ten.Allows(w.Container) {
			return errFound
		}
		return nil
	})
	return errors.Is(err, errFound)
}

// nsWebtaskToken is the KV namespace where webtask tokens were kept before
// they moved into the webtask record.
const nsWebtaskToken = "webtask-token"

// migrateTokens moves webtask tokens from their old KV namespace into the
// webtask records, once; a token whose webtask is gone is dropped.
func (r *Registry) migrateTokens() error {
	old, err := r.st.KVList(nsWebtaskToken, "")
	if err != nil {
		return internal("cannot read stored webtask tokens", err)
	}
	for _, kv := range old {
		container, name, _ := strings.Cut(kv.Key, "/")
		w, err := r.st.GetWebtask(container, name)
		if err == nil && w.Token == "" {
			w.Token = string(kv.Value)
			_, err = r.st.PutWebtask(w, nil)
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return internal("cannot move the token of webtask "+kv.Key+" into its record", err)
		}
		if err := r.st.KVDelete(nsWebtaskToken, kv.Key); err != nil && !errors.Is(err, store.ErrNotFound) {
			return internal("cannot move webtask tokens", err)
		}
	}
	return nil
}
