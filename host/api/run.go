package api

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/host/token"
	"github.com/wasmtask/wasmtask/store"
)

// runSpec is what one run needs besides the HTTP request: where it runs and
// the maps the token and the webtask contribute.
type runSpec struct {
	container, name, sub string
	secrets, params      []engine.KV
	meta                 []engine.KV
	parseBody, mergeBody bool
	noBody               bool // the body was the module (ad-hoc code)
	dropAuth             bool // the Authorization header carried the run's token
}

// handleRun serves ANY /api/run/{container}/{name}[/sub/path] and
// ANY /api/run/{container} (code fixed by the caller's token). Named run URLs
// are public: the webtask itself decides who may call it (seed 001); the
// token the webtask carries still applies its window, revocation and limits.
func (s *Server) handleRun(ctx *fasthttp.RequestCtx, rest string) {
	container, rest := split(rest)
	name, sub := split(rest)
	if err := checkName("container", container); err != nil {
		writeError(ctx, 400, errInvalidName, err.Error())
		return
	}
	if name == "" {
		s.runFixed(ctx, container)
		return
	}
	if err := checkName("webtask", name); err != nil {
		writeError(ctx, 404, errNotFound, "no webtask "+strconv.Quote(name)+" in container "+container)
		return
	}
	if !s.checkBody(ctx) {
		return
	}
	d := s.loadDeployment(ctx, container, name)
	if d == nil {
		return
	}
	if d.tokErr != "" {
		writeError(ctx, 401, errUnauthorized, "webtask "+name+": "+d.tokErr)
		return
	}
	spec := runSpec{container: container, name: name, sub: "/" + sub, secrets: d.secrets, meta: d.meta}
	if d.tok != nil {
		if !s.admit(ctx, d.tok, container, "webtask "+name) {
			return
		}
		spec.params = d.tok.params
		spec.parseBody, spec.mergeBody = d.tok.c.ParseBody == 1, d.tok.c.MergeBody == 1
	}
	s.serve(ctx, d.pool, &spec)
}

// checkBody refuses a run body over the limit.
func (s *Server) checkBody(ctx *fasthttp.RequestCtx) bool {
	if len(ctx.PostBody()) > s.cfg.MaxBodyBytes {
		writeError(ctx, 413, errTooLarge, "request body exceeds the limit of "+strconv.Itoa(s.cfg.MaxBodyBytes)+" bytes")
		return false
	}
	return true
}

// loadDeployment returns the deployment or writes the error.
func (s *Server) loadDeployment(ctx *fasthttp.RequestCtx, container, name string) *deployment {
	d, err := s.deployment(container, name)
	if errors.Is(err, store.ErrNotFound) {
		writeError(ctx, 404, errNotFound, "no webtask "+name+" in container "+container)
		return nil
	}
	if err != nil {
		if !writeOverloaded(ctx, err) {
			writeError(ctx, 500, errInternal, "cannot load webtask: "+err.Error())
		}
		return nil
	}
	return d
}

// runFixed serves ANY /api/run/{container}?key=T: the code T fixes — the
// named webtask of its jtn, the module of its url or code — or, for a token
// that fixes no code, a module POSTed as the body.
func (s *Server) runFixed(ctx *fasthttp.RequestCtx, container string) {
	at := s.caller(ctx)
	if at == nil {
		return
	}
	if !at.ten.Allows(container) {
		writeError(ctx, 403, errForbidden, "token does not grant access to container "+container+" (ten)")
		return
	}
	c := at.c
	spec := runSpec{container: container, sub: "/", secrets: at.secKV, params: at.params, meta: at.meta,
		parseBody: c.ParseBody == 1, mergeBody: c.MergeBody == 1,
		dropAuth: len(ctx.Request.Header.Peek("Authorization")) > 0}
	adhoc := !c.FixesCode()
	if adhoc {
		if !ctx.IsPost() {
			writeError(ctx, 400, errBadRequest, "this token does not fix code (url, code or jtn): POST a Wasm module as the body to run it")
			return
		}
		if body := ctx.PostBody(); !bytes.HasPrefix(body, []byte("\x00asm")) {
			writeError(ctx, 400, errInvalidMod, "this token does not fix code, so the body must be a Wasm module (it does not start with \\0asm)")
			return
		} else if len(body) > s.cfg.MaxModuleBytes {
			writeError(ctx, 413, errTooLarge, "module exceeds the limit of "+strconv.Itoa(s.cfg.MaxModuleBytes)+" bytes")
			return
		}
	} else if !s.checkBody(ctx) {
		return
	}
	if !s.admit(ctx, at, container, "") {
		return
	}
	if c.WebtaskName != "" {
		d := s.loadDeployment(ctx, container, c.WebtaskName)
		if d == nil {
			return
		}
		spec.name, spec.secrets, spec.meta = c.WebtaskName, mergeSecrets(d.secrets, at.secrets), d.meta
		s.serve(ctx, d.pool, &spec)
		return
	}
	// Fast path: the token's module is known by hash and its pool is warm.
	if at.codeSHA != "" && s.stillDeployed(c, at.codeSHA) {
		if cp := s.code.get(fixedKey(container, at.codeSHA, c.ID)); cp != nil {
			defer s.code.release(cp)
			s.serve(ctx, cp.pool, &spec)
			return
		}
	}
	var mod *engine.Module
	var status int
	var id, msg string
	key := fixedKey(container, "", c.ID)
	policy := s.cfg.DefaultPolicy
	if adhoc {
		wasm := bytes.Clone(ctx.PostBody())
		sha := engine.SHA256(wasm)
		s.code.pin(sha)
		var err error
		if mod, err = s.eng.Compile(context.Background(), wasm); err != nil {
			s.code.unpin(sha)
			status, id := compileError(err)
			writeError(ctx, status, id, err.Error())
			return
		}
		// Posted code is one-off: a fresh instance, nothing kept.
		key, policy, spec.noBody = fixedKey(container, sha, "post:"+c.ID), engine.PolicyFresh, true
	} else {
		if mod, status, id, msg = s.fixedModule(c); mod == nil {
			writeError(ctx, status, id, msg)
			return
		}
		key = fixedKey(container, mod.SHA256, c.ID)
	}
	cp := s.code.acquire(key, mod, container, policy)
	s.code.unpin(mod.SHA256)
	defer s.code.release(cp)
	s.serve(ctx, cp.pool, &spec)
}

// fixedModule returns the compiled module a url or code claim fixes, pinned
// (the caller unpins it), or the error to answer.
func (s *Server) fixedModule(c *token.Claims) (mod *engine.Module, status int, id, msg string) {
	bg := context.Background()
	if c.Code != "" {
		wasm, sha, err := token.CodeSHA256(c.Code)
		if err != nil {
			return nil, 401, errUnauthorized, "invalid token: " + err.Error()
		}
		s.code.pin(sha)
		if mod, err = s.eng.Compile(bg, wasm); err != nil {
			s.code.unpin(sha)
			status, id := compileError(err)
			return nil, status, id, "code: " + err.Error()
		}
		return mod, 0, "", ""
	}
	if sha, ok := token.SHA256Ref(c.URL); ok {
		if !s.stillDeployed(c, sha) {
			return nil, 404, errNotFound, "module " + c.URL + " is no longer deployed on this server"
		}
		s.code.pin(sha)
		mod, err := s.eng.Load(bg, sha, func() ([]byte, error) { return s.store.GetModule(sha) })
		if err != nil {
			s.code.unpin(sha)
			if errors.Is(err, store.ErrModuleNotFound) {
				return nil, 404, errNotFound, "module " + c.URL + " is no longer deployed on this server"
			}
			return nil, 500, errInternal, "cannot load module " + c.URL
		}
		return mod, 0, "", ""
	}
	u, err := token.ParseURL(c.URL)
	if err != nil || u == nil {
		return nil, 401, errUnauthorized, "invalid token: url does not parse"
	}
	if !s.fetch.allowed(u) {
		return nil, 403, errForbidden, "url: this server does not fetch code from " + u.Host + " (--fetch-allow)"
	}
	sha, wasm, err := s.fetch.get(bg, c.URL, u)
	if err != nil {
		return nil, 502, errFetchFailed, err.Error() + " (" + c.URL + ")"
	}
	s.code.pin(sha)
	mod, err = s.eng.Load(bg, sha, func() ([]byte, error) {
		if wasm != nil {
			return wasm, nil
		}
		return s.fetch.fetch(bg, u) // compiled before, evicted since: fetch again
	})
	if err != nil {
		s.code.unpin(sha)
		s.fetch.forget(c.URL, nil)
		if errors.Is(err, errFetch) {
			return nil, 502, errFetchFailed, err.Error() + " (" + c.URL + ")"
		}
		return nil, 502, errInvalidMod, "the module at the token's url is not usable: " + err.Error()
	}
	s.fetch.compiled(c.URL)
	return mod, 0, "", ""
}

// stillDeployed reports whether the module a url "sha256:…" names is still
// deployed: the reference stands while a webtask uses the module, so deleting
// it stops its tokens at once, compiled or not. The answer is remembered
// until the next webtask change (modGen), keeping the store off the hot
// path. Other code claims are always available.
func (s *Server) stillDeployed(c *token.Claims, sha string) bool {
	if c.Code != "" || c.URL == "" {
		return true
	}
	gen := s.modGen.Load()
	if v, ok := s.deployedAt.Load(sha); ok && v.(uint64) == gen {
		return true
	}
	if n, err := s.store.ModuleRefs(sha); err != nil || n == 0 {
		return false
	}
	s.deployedAt.Store(sha, gen)
	return true
}

// runReq is the per-request state of a run, pooled: the engine's request
// and response, and what the lazy loader needs to fill the request.
type runReq struct {
	req   engine.Request
	resp  engine.Response
	ctx   *fasthttp.RequestCtx
	spec  runSpec
	idBuf []byte
}

var runReqs = sync.Pool{New: func() any { return &runReq{} }}

// serve runs one request on pool and writes the response.
func (s *Server) serve(ctx *fasthttp.RequestCtx, pool *engine.Pool, spec *runSpec) {
	rr := runReqs.Get().(*runReq)
	defer func() {
		rr.req.Reset()
		rr.resp.Reset()
		rr.ctx, rr.spec = nil, runSpec{}
		runReqs.Put(rr)
	}()
	rr.ctx, rr.spec = ctx, *spec
	req := &rr.req
	rr.idBuf = strconv.AppendUint(append(rr.idBuf[:0], s.reqPrefix...), s.reqSeq.Add(1), 10)
	req.Container, req.Name, req.RequestID = spec.container, spec.name, string(rr.idBuf)
	req.Method, req.Path = methodString(ctx.Method()), spec.sub
	if spec.parseBody || spec.mergeBody {
		// The body must parse before the guest runs: fill everything now.
		if msg := s.fillRequest(req, ctx, spec); msg != "" {
			writeError(ctx, 400, errBadRequest, msg)
			return
		}
	} else {
		req.Loader = rr // filled only if the guest reads the request
	}
	if s.hub.Listening(spec.container) {
		s.hub.Log(spec.container, spec.name, req.RequestID, 1, []byte("new webtask request "+req.RequestID))
	}
	resp := &rr.resp
	err := pool.Serve(context.Background(), req, resp)
	if err != nil {
		s.writeRunError(ctx, err, req.RequestID)
		return
	}
	ctx.SetStatusCode(resp.Status)
	h := &ctx.Response.Header
	for _, kv := range resp.Headers {
		h.Add(kv.Key, kv.Value)
	}
	h.Set(headerSource, "webtask")
	h.SetBytesV(headerRequestID, rr.idBuf)
	ctx.SetBody(resp.Body)
}

// methodString returns the method as a string, without allocating for the
// common ones.
func methodString(m []byte) string {
	for _, k := range [...]string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"} {
		if string(m) == k {
			return k
		}
	}
	return string(m)
}

// LoadRequest implements engine.RequestLoader.
func (rr *runReq) LoadRequest(r *engine.Request, part engine.Part) {
	if part == engine.PartHeaders {
		fillHeaders(r, rr.ctx, &rr.spec)
	} else {
		fillMain(r, rr.ctx, &rr.spec)
	}
}

// writeRunError maps an engine error to the host's JSON error.
func (s *Server) writeRunError(ctx *fasthttp.RequestCtx, err error, requestID string) {
	switch {
	case errors.Is(err, engine.ErrTimeout):
		writeError(ctx, 504, errTimeout, "webtask exceeded the wall-time limit of "+s.cfg.Engine.Timeout.String()+" (--timeout)")
	case errors.Is(err, context.Canceled):
		writeError(ctx, 499, errFailed, "request cancelled")
	case errors.Is(err, engine.ErrClosed):
		writeError(ctx, 503, errUnavailable, "webtask is being replaced; retry")
	case writeOverloaded(ctx, err):
	default:
		writeError(ctx, 500, errFailed, err.Error())
	}
	ctx.Response.Header.Set(headerRequestID, requestID)
}

// deployment returns the ready-to-run form of a webtask, loading it from the
// store (and compiling it, from the cache when warm) on first use.
func (s *Server) deployment(container, name string) (*deployment, error) {
	key := depKey{container, name}
	s.mu.RLock()
	d := s.deps[key]
	s.mu.RUnlock()
	if d != nil {
		return d, nil
	}
	// Compile outside writeMu: a first run that compiles (after a restart,
	// or a cache loss) must not hold up other webtasks' first runs or
	// deploys. The engine compiles each content once, however many ask.
	var w store.Webtask
	var mod *engine.Module
	for attempt := 0; ; attempt++ {
		var err error
		if w, err = s.store.GetWebtask(container, name); err != nil {
			return nil, err
		}
		sha := w.ModuleSHA256
		if mod, err = s.eng.Load(context.Background(), sha, func() ([]byte, error) {
			return s.store.GetModule(sha)
		}); err != nil {
			return nil, err
		}
		s.writeMu.Lock()
		s.mu.RLock()
		d = s.deps[key]
		s.mu.RUnlock()
		if d != nil {
			s.writeMu.Unlock()
			return d, nil
		}
		// A deploy may have replaced the webtask while it compiled.
		cur, err := s.store.GetWebtask(container, name)
		if err == nil && cur.ModuleSHA256 == sha {
			w = cur
			break
		}
		s.writeMu.Unlock()
		if err != nil {
			return nil, err
		}
		if attempt == 3 {
			return nil, errors.New("the webtask changed while it was loading; try again")
		}
	}
	defer s.writeMu.Unlock()
	var err error
	policy := s.cfg.DefaultPolicy
	if w.Policy != "" {
		if policy, err = engine.ParsePolicy(w.Policy); err != nil {
			return nil, err
		}
	}
	d = &deployment{w: w, pool: s.eng.NewPool(mod, container, name, policy), meta: toKV(w.Meta)}
	if len(w.Secrets) > 0 {
		m, err := s.openSecrets(w)
		if err != nil {
			return nil, errors.New("stored secrets cannot be decrypted with this server's key")
		}
		d.secrets = toKV(m)
	}
	d.tok, _, d.tokErr = s.webtaskToken(container, name)
	if d.tok != nil {
		d.secrets = mergeSecrets(d.secrets, d.tok.secrets)
	}
	s.mu.Lock()
	s.deps[key] = d
	s.mu.Unlock()
	return d, nil
}

// reservedQuery reports query keys the host consumes: the token and the
// original platform's webtask_* controls.
func reservedQuery(k []byte) bool {
	return string(k) == "key" || strings.HasPrefix(string(k), "webtask_")
}

// fillRequest fills everything the guest may read, parsing the body when the
// token asks for it; it returns a message when the body does not parse.
func (s *Server) fillRequest(req *engine.Request, ctx *fasthttp.RequestCtx, spec *runSpec) string {
	var bodyFields []engine.KV
	if body := ctx.PostBody(); !spec.noBody && len(body) > 0 {
		var err error
		if bodyFields, err = parseBody(ctx); err != nil {
			return err.Error()
		}
	}
	fillHeaders(req, ctx, spec)
	fillMain(req, ctx, spec)
	if spec.mergeBody && len(bodyFields) > 0 {
		req.Data = mergeBodyFields(req.Data, bodyFields)
	}
	return ""
}

// fillMain fills the body, query and maps the guest reads (engine.PartMain).
func fillMain(req *engine.Request, ctx *fasthttp.RequestCtx, spec *runSpec) {
	req.Secrets, req.Params, req.Meta = spec.secrets, spec.params, spec.meta
	if !spec.noBody {
		req.Body = ctx.PostBody()
	}
	args := ctx.QueryArgs()
	reserved := false
	args.VisitAll(func(k, v []byte) {
		if reservedQuery(k) {
			reserved = true
			return
		}
		req.Query = append(req.Query, engine.KV{Key: string(k), Value: string(v)})
	})
	if reserved {
		var b strings.Builder
		args.VisitAll(func(k, v []byte) {
			if reservedQuery(k) {
				return
			}
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.Write(fasthttp.AppendQuotedArg(nil, k))
			b.WriteByte('=')
			b.Write(fasthttp.AppendQuotedArg(nil, v))
		})
		req.RawQuery = b.String()
	} else {
		req.RawQuery = string(ctx.URI().QueryString())
	}
	engine.SortKV(req.Query)
	req.Data = engine.MergeData(req.Query, req.Params, req.Secrets)
}

// fillHeaders fills the request headers, names lower-cased (engine.PartHeaders).
func fillHeaders(req *engine.Request, ctx *fasthttp.RequestCtx, spec *runSpec) {
	ctx.Request.Header.VisitAll(func(k, v []byte) {
		if spec.dropAuth && strings.EqualFold(string(k), "Authorization") {
			return // the host consumed it: the token is not the guest's business
		}
		req.Headers = append(req.Headers, engine.KV{Key: strings.ToLower(string(k)), Value: string(v)})
	})
	engine.SortKV(req.Headers)
}
