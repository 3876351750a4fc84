package api

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/store"
)

// handleRun serves ANY /api/run/{container}/{name}[/sub/path]. Named run URLs
// are public: the webtask itself decides who may call it (seed 001).
func (s *Server) handleRun(ctx *fasthttp.RequestCtx, rest string) {
	container, rest := split(rest)
	name, sub := split(rest)
	if err := checkName("container", container); err != nil {
		writeError(ctx, 400, errInvalidName, err.Error())
		return
	}
	if name == "" {
		writeError(ctx, 404, errNotFound, "no webtask name in path: use /api/run/{container}/{name}")
		return
	}
	if err := checkName("webtask", name); err != nil {
		writeError(ctx, 404, errNotFound, "no webtask "+strconv.Quote(name)+" in container "+container)
		return
	}
	if len(ctx.PostBody()) > s.cfg.MaxBodyBytes {
		writeError(ctx, 413, errTooLarge, "request body exceeds the limit of "+strconv.Itoa(s.cfg.MaxBodyBytes)+" bytes")
		return
	}
	d, err := s.deployment(container, name)
	if errors.Is(err, store.ErrNotFound) {
		writeError(ctx, 404, errNotFound, "no webtask "+name+" in container "+container)
		return
	}
	if err != nil {
		writeError(ctx, 500, errInternal, "cannot load webtask: "+err.Error())
		return
	}
	req := s.buildRequest(ctx, d, "/"+sub)
	if s.hub.Listening(container) {
		s.hub.Log(container, name, req.RequestID, 1, []byte("new webtask request "+req.RequestID))
	}
	resp := &engine.Response{}
	err = d.pool.Serve(context.Background(), req, resp)
	ctx.Response.Header.Set(headerRequestID, req.RequestID)
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
	ctx.SetBody(resp.Body)
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
	default:
		writeError(ctx, 500, errFailed, err.Error())
	}
	ctx.Response.Header.Set(headerRequestID, requestID)
}

// deployment returns the ready-to-run form of a webtask, loading it from the
// store (and compiling it, from the cache when warm) on first use.
func (s *Server) deployment(container, name string) (*deployment, error) {
	key := container + "/" + name
	s.mu.RLock()
	d := s.deps[key]
	s.mu.RUnlock()
	if d != nil {
		return d, nil
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.RLock()
	d = s.deps[key]
	s.mu.RUnlock()
	if d != nil {
		return d, nil
	}
	w, err := s.store.GetWebtask(container, name)
	if err != nil {
		return nil, err
	}
	mod, err := s.eng.Load(context.Background(), w.ModuleSHA256, func() ([]byte, error) {
		return s.store.GetModule(w.ModuleSHA256)
	})
	if err != nil {
		return nil, err
	}
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

// buildRequest turns the HTTP request into what the guest reads.
func (s *Server) buildRequest(ctx *fasthttp.RequestCtx, d *deployment, sub string) *engine.Request {
	req := &engine.Request{
		Method:    string(ctx.Method()),
		Path:      sub,
		Body:      ctx.PostBody(),
		Container: d.w.Container,
		Name:      d.w.Name,
		RequestID: s.newRequestID(),
		Secrets:   d.secrets,
		Meta:      d.meta,
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
	ctx.Request.Header.VisitAll(func(k, v []byte) {
		req.Headers = append(req.Headers, engine.KV{Key: strings.ToLower(string(k)), Value: string(v)})
	})
	engine.SortKV(req.Headers)
	req.Data = engine.MergeData(req.Query, req.Params, req.Secrets)
	return req
}
