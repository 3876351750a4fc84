package api

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/auth"
	"github.com/wasmtask/wasmtask/host/deploy"
	"github.com/wasmtask/wasmtask/host/engine"
)

// runSpec is what one run needs besides the HTTP request: where it runs and
// the maps the token and the webtask contribute.
type runSpec struct {
	container, name, sub string
	secrets, params      []engine.KV
	meta                 []engine.KV
	parseBody, mergeBody bool
	noBody               bool   // the body was the module (ad-hoc code)
	dropAuth             bool   // the Authorization header carried the run's token
	user                 []byte // the caller the webtask's auth verified (JWT claims)
}

// handleRun serves ANY /api/run/{container}/{name}[/sub/path] and
// ANY /api/run/{container} (code fixed by the caller's token). Named run URLs
// are public: the webtask itself decides who may call it (seed 001); the
// token the webtask carries still applies its window, revocation and limits.
func (s *Server) handleRun(ctx *fasthttp.RequestCtx, rest string) error {
	container, rest := split(rest)
	name, sub := split(rest)
	if err := checkName("container", container); err != nil {
		return err
	}
	if name == "" {
		return s.runFixed(ctx, container)
	}
	if !validName(name) {
		return fail(deploy.ErrNotFound, "no webtask "+strconv.Quote(name)+" in container "+container)
	}
	reserved, err := s.readBody(ctx, s.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	defer s.inflight.release(reserved)
	d, err := s.reg.Webtask(container, name)
	if err != nil {
		return err
	}
	if err := s.reg.AdmitWebtask(nil, container, d); err != nil {
		return err
	}
	spec := runSpec{container: container, name: name, sub: "/" + sub, secrets: d.Secrets, meta: d.Meta}
	if d.AuthErr != nil {
		return d.AuthErr
	}
	if d.Auth != nil { // the webtask's declared auth, before any of its code runs
		var den *auth.Denial
		if spec.user, den = s.auth.Check(d.Auth, container, name, ctx.Request.Header.Peek("Authorization")); den != nil {
			return den
		}
	}
	if t := d.Token; t != nil {
		spec.params = t.Params
		spec.parseBody, spec.mergeBody = t.Claims.ParseBody == 1, t.Claims.MergeBody == 1
	}
	return s.serve(ctx, d.Pool, &spec)
}

// runFixed serves ANY /api/run/{container}?key=T: the code T fixes — the
// named webtask of its jtn, the module of its url or code — or, for a token
// that fixes no code, a module POSTed as the body.
func (s *Server) runFixed(ctx *fasthttp.RequestCtx, container string) error {
	t, err := s.caller(ctx)
	if err != nil {
		return err
	}
	if err := checkTen(t, container); err != nil {
		return err
	}
	c := t.Claims
	spec := runSpec{container: container, sub: "/", secrets: t.SecretKV, params: t.Params, meta: t.Meta,
		parseBody: c.ParseBody == 1, mergeBody: c.MergeBody == 1,
		dropAuth: len(ctx.Request.Header.Peek("Authorization")) > 0}
	posted := !c.FixesCode()
	limit := s.cfg.MaxBodyBytes
	if posted {
		limit = s.cfg.MaxModuleBytes
	}
	reserved, err := s.readBody(ctx, limit)
	if err != nil {
		return err
	}
	defer s.inflight.release(reserved)
	if posted {
		if err := checkPosted(ctx); err != nil {
			return err
		}
	}
	if c.WebtaskName != "" {
		d, err := s.reg.Webtask(container, c.WebtaskName)
		if err != nil {
			return err
		}
		// The run is made as the webtask's token as well as the caller's:
		// the uploader's revocation and limits apply (docs/tokens.md).
		if err := s.reg.AdmitWebtask(t, container, d); err != nil {
			return err
		}
		spec.name, spec.secrets, spec.meta = c.WebtaskName, deploy.MergeSecrets(d.Secrets, t.Secrets), d.Meta
		return s.serve(ctx, d.Pool, &spec)
	}
	if err := s.reg.Admit(t, container, ""); err != nil {
		return err
	}
	var cp *deploy.CodePool
	if posted {
		cp, err = s.reg.PostedCode(t, container, bytes.Clone(ctx.PostBody()))
		spec.noBody = true
	} else {
		cp, err = s.reg.FixedCode(t, container)
	}
	if err != nil {
		return err
	}
	defer cp.Release()
	return s.serve(ctx, cp.Pool, &spec)
}

// checkPosted checks the body of a run by a token that fixes no code: it
// is the code to run, a Wasm module or JavaScript source (told apart from
// the bytes by the registry).
func checkPosted(ctx *fasthttp.RequestCtx) error {
	if !ctx.IsPost() {
		return fail(deploy.ErrBadRequest, "this token does not fix code (url, code or jtn): POST a Wasm module or JavaScript source as the body to run it")
	}
	if len(ctx.PostBody()) == 0 {
		return fail(deploy.ErrBadRequest, "this token does not fix code (url, code or jtn): the body is the code to run, and it is empty")
	}
	return nil
}

// runReq is the per-request state of a run, pooled: the engine's request
// and response, and what the lazy loader needs to fill the request.
type runReq struct {
	storage  webtaskStorage
	outbound webtaskOutbound
	req      engine.Request
	resp     engine.Response
	ctx      *fasthttp.RequestCtx
	spec     runSpec
	idBuf    []byte
}

var runReqs = sync.Pool{New: func() any { return &runReq{} }}

// serve runs one request on pool and writes the guest's response.
func (s *Server) serve(ctx *fasthttp.RequestCtx, pool *engine.Pool, spec *runSpec) error {
	rr := runReqs.Get().(*runReq)
	defer func() {
		rr.req.Reset()
		rr.resp.Reset()
		rr.ctx, rr.spec, rr.outbound = nil, runSpec{}, webtaskOutbound{}
		runReqs.Put(rr)
	}()
	rr.ctx, rr.spec = ctx, *spec
	req := &rr.req
	rr.idBuf = strconv.AppendUint(append(rr.idBuf[:0], s.reqPrefix...), s.reqSeq.Add(1), 10)
	req.Container, req.Name, req.RequestID = spec.container, spec.name, string(rr.idBuf)
	req.User = spec.user
	req.Method, req.Path = methodString(ctx.Method()), spec.sub
	if spec.name != "" { // a named webtask has storage (code a token fixes has none)
		rr.storage = webtaskStorage{s.reg.Storage(spec.container, spec.name)}
		req.Storage = &rr.storage
	}
	rr.outbound = webtaskOutbound{s: s, container: spec.container, name: spec.name, requestID: req.RequestID}
	req.Outbound = &rr.outbound
	if spec.parseBody || spec.mergeBody {
		// The body must parse before the guest runs: fill everything now.
		if err := fillRequest(req, ctx, spec); err != nil {
			return err
		}
	} else {
		req.Loader = rr // filled only if the guest reads the request
	}
	if s.hub.Listening(spec.container) {
		s.hub.Log(spec.container, spec.name, req.RequestID, 1, []byte("new webtask request "+req.RequestID))
	}
	resp := &rr.resp
	if err := pool.Serve(context.Background(), req, resp); err != nil {
		return &runFailure{err: s.runError(err), requestID: req.RequestID}
	}
	ctx.SetStatusCode(resp.Status)
	h := &ctx.Response.Header
	for _, kv := range resp.Headers {
		h.Add(kv.Key, kv.Value)
	}
	h.SetBytesV(headerRequestID, rr.idBuf)
	ctx.SetBody(resp.Body)
	return nil
}

// runError gives an engine error of a run its message.
func (s *Server) runError(err error) error {
	switch {
	case errors.Is(err, engine.ErrTimeout):
		return fail(engine.ErrTimeout, "webtask exceeded the wall-time limit of "+s.eng.Config().Timeout.String()+" (--timeout)")
	case errors.Is(err, engine.ErrClosed):
		return fail(engine.ErrClosed, "webtask is being replaced; retry")
	case errors.Is(err, engine.ErrOverloaded):
		return err
	}
	return &deploy.Error{Kind: errGuestFailed, Msg: err.Error(), Cause: err}
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

// reservedQuery reports query keys the host consumes: the token and the
// original platform's webtask_* controls.
func reservedQuery(k []byte) bool {
	return string(k) == "key" || strings.HasPrefix(string(k), "webtask_")
}

// fillRequest fills everything the guest may read, parsing the body when the
// token asks for it (ErrBadRequest when it does not parse).
func fillRequest(req *engine.Request, ctx *fasthttp.RequestCtx, spec *runSpec) error {
	var bodyFields []engine.KV
	if body := ctx.PostBody(); !spec.noBody && len(body) > 0 {
		var err error
		if bodyFields, err = parseBody(ctx); err != nil {
			return fail(deploy.ErrBadRequest, err.Error())
		}
	}
	fillHeaders(req, ctx, spec)
	fillMain(req, ctx, spec)
	if spec.mergeBody && len(bodyFields) > 0 {
		req.Data = mergeBodyFields(req.Data, bodyFields)
	}
	return nil
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
		req.RawQuery = rawQueryWithout(args)
	} else {
		req.RawQuery = string(ctx.URI().QueryString())
	}
	engine.SortKV(req.Query)
	req.Data = engine.MergeData(req.Query, req.Params, req.Secrets)
}

// rawQueryWithout is the query string without the reserved keys.
func rawQueryWithout(args *fasthttp.Args) string {
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
	return b.String()
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
