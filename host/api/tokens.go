package api

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/deploy"
	"github.com/wasmtask/wasmtask/host/token"
)

// handleTokens serves /api/tokens/{issue,revoke,inspect}.
func (s *Server) handleTokens(ctx *fasthttp.RequestCtx, op string) error {
	want := map[string]string{"issue": "POST", "revoke": "POST", "inspect": "GET"}[op]
	switch {
	case want == "":
		return fail(deploy.ErrNotFound, "no API at /api/tokens/"+op+": use issue, revoke or inspect")
	case string(ctx.Method()) != want:
		return methodNotAllowed(ctx, want)
	}
	t, err := s.caller(ctx)
	if err != nil {
		return err
	}
	limit := maxTokenBody
	if op == "issue" { // may carry a webtask's code (jtn with code, createNamed)
		limit = s.uploadLimit()
	}
	reserved, err := s.readBody(ctx, limit)
	if err != nil {
		return err
	}
	defer s.inflight.release(reserved)
	switch op {
	case "issue":
		return s.issueToken(ctx, t)
	case "revoke":
		return s.revokeToken(ctx, t)
	}
	return s.inspectToken(ctx, t)
}

// issueToken serves POST /api/tokens/issue: a JSON object of claims in, the
// token text out (text/plain, as the original platform, so that
// T=$(curl …/issue) works). Code claims are checked against this server:
// the module must exist (sha256) or be fetchable (http), or compile
// (inline code); token.Derive checks the rest.
func (s *Server) issueToken(ctx *fasthttp.RequestCtx, t *deploy.Token) error {
	req, err := token.ParseRequest(ctx.PostBody())
	if err != nil {
		return err
	}
	if req.WebtaskName != "" && (req.Code != "" || req.URL != "") {
		return s.createNamed(ctx, t, req)
	}
	if err := s.reg.CheckCodeClaims(t, req); err != nil {
		return err
	}
	raw, _, err := s.signer.Issue(t.Claims, req)
	if err != nil {
		return err
	}
	ctx.SetStatusCode(200)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(raw)
	return nil
}

// createNamed serves POST /api/tokens/issue with jtn and code or url: how
// wt-cli and sandboxjs create or update a named webtask. The code
// (JavaScript text, or a base64 module; or what the url serves, fetched
// once now under the url-token rules) is deployed as webtask jtn of the one
// container ten names, with ectx as its secrets, pctx its params, meta
// its meta and pb/mb its body options, exactly as a PUT of the webtask
// would; the answer is the webtask's token (text) with its run URL in
// Location, which sandboxjs reads as webtask_url.
func (s *Server) createNamed(ctx *fasthttp.RequestCtx, t *deploy.Token, req *token.Request) error {
	container := req.Containers
	if container == "" {
		container, _ = t.Ten.Single()
	}
	if err := checkName("container", container); err != nil {
		return fail(deploy.ErrBadRequest, "ten: name the one container to create webtask "+req.WebtaskName+" in")
	}
	if err := checkName("webtask", req.WebtaskName); err != nil {
		return err
	}
	if err := checkTen(t, container); err != nil {
		return err
	}
	if t.Claims.FixesCode() {
		return fail(deploy.ErrForbidden, "token only runs code (url, code or jtn); it cannot create webtasks")
	}
	if req.Code != "" && req.URL != "" { // as for any token, and a JSON PUT: never one silently dropped
		return fail(deploy.ErrBadRequest, "jtn: url and code are mutually exclusive; send the webtask's code or the url to fetch it from")
	}
	up := deploy.Upload{Container: container, Name: req.WebtaskName, Secrets: req.EncryptedContext,
		Meta: req.Meta, Params: req.PublicContext}
	if req.ParseBody != nil {
		up.ParseBody = *req.ParseBody
	}
	if req.MergeBody != nil {
		up.MergeBody = *req.MergeBody
	}
	if err := s.setCode(&up, req.Code, req.URL); err != nil {
		return err
	}
	w, _, err := s.reg.Deploy(t, up)
	if err != nil {
		return err
	}
	ctx.Response.Header.Set("Location", s.runURL(ctx, w.Container, w.Name))
	ctx.SetStatusCode(200)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(w.Token)
	return nil
}

// target returns the token a revoke or inspect request is about: ?token=,
// a JSON body {"token": …}, or a plain-text body; the caller's own token
// when none is given.
func target(ctx *fasthttp.RequestCtx) (string, bool) {
	if t := ctx.QueryArgs().Peek("token"); len(t) > 0 {
		return string(t), true
	}
	body := bytes.TrimSpace(ctx.PostBody())
	if len(body) == 0 {
		return string(bearerBytes(ctx)), true
	}
	if body[0] == '{' {
		var v struct {
			Token string `json:"token"`
		}
		if json.Unmarshal(body, &v) != nil || v.Token == "" {
			return "", false
		}
		return v.Token, true
	}
	return string(body), true
}

// revokeToken serves POST /api/tokens/revoke: the caller revokes its own
// token (unless it carries dr: 1) or one it is an ancestor of; the admin
// token may revoke any token. Revocation is durable and cascades to every
// descendant.
func (s *Server) revokeToken(ctx *fasthttp.RequestCtx, t *deploy.Token) error {
	raw, ok := target(ctx)
	if !ok {
		return fail(deploy.ErrBadRequest, `give the token to revoke as ?token=, {"token": "…"} or the plain-text body`)
	}
	tc, err := s.signer.Parse(raw)
	if err != nil {
		return fail(deploy.ErrBadRequest, "token to revoke: "+err.Error())
	}
	me := t.Claims
	switch {
	case tc.ID == me.ID && me.IsRoot():
		return fail(deploy.ErrForbidden, "the admin token cannot revoke itself; to rotate it, delete admin.token, restart, and revoke the old one with the new one")
	case tc.ID == me.ID && me.DenyRevokeSelf == 1:
		return fail(deploy.ErrForbidden, "dr: this token may not revoke itself; ask a token it was issued from")
	case tc.ID == me.ID, tc.HasAncestor(me.ID), me.IsRoot():
	default:
		return fail(deploy.ErrForbidden, "only the token itself or a token it was issued from may revoke it")
	}
	if err := s.reg.Revoke(tc); err != nil {
		return err
	}
	return writeJSON(ctx, 200, map[string]any{"jti": tc.ID, "revoked": true})
}

// inspectToken serves GET /api/tokens/inspect?token=T[&decrypt=1]: the
// claims of T (the caller's own token when T is absent), with "revoked" and
// "expired" flags. ectx stays ciphertext unless decrypt=1 and the caller is
// an ancestor of T — never to T's own holder (seed 000).
func (s *Server) inspectToken(ctx *fasthttp.RequestCtx, t *deploy.Token) error {
	raw, _ := target(ctx)
	tc, err := s.signer.Parse(raw)
	if err != nil {
		return fail(deploy.ErrBadRequest, "token to inspect: "+err.Error())
	}
	b, _ := json.Marshal(tc)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	if d := ctx.QueryArgs().Peek("decrypt"); len(d) > 0 && string(d) != "0" && tc.EncryptedContext != "" {
		if !tc.HasAncestor(t.Claims.ID) && !t.Claims.IsRoot() {
			return fail(deploy.ErrForbidden, "decrypt: only a token this token was issued from may read its ectx in clear")
		}
		m, err := s.signer.OpenContext(tc)
		if err != nil {
			return fail(deploy.ErrBadRequest, "token to inspect: "+err.Error())
		}
		out["ectx"] = m
	}
	if tc.WebtaskName != "" {
		if err := s.inspectNamed(ctx, t, tc, raw, out); err != nil {
			return err
		}
	}
	out["revoked"] = s.reg.IsRevoked(tc)
	out["expired"] = tc.CheckWindow(time.Now()) != nil
	return writeJSON(ctx, 200, out)
}

// inspectNamed adds to the inspection of a named webtask's own token what
// the original platform's token carried and wt update reads back to keep
// a webtask's settings: with decrypt=1 its secrets (ectx, for an ancestor
// of the token only), with fetch_code=1 its code, with meta=1 its meta.
// Another token naming the webtask gets nothing added.
func (s *Server) inspectNamed(ctx *fasthttp.RequestCtx, t *deploy.Token, tc *token.Claims, raw string, out map[string]any) error {
	ten, err := token.ParseContainers(tc.Containers)
	if err != nil {
		return nil
	}
	container, ok := ten.Single()
	if !ok {
		return nil
	}
	d, err := s.reg.Webtask(container, tc.WebtaskName)
	if err != nil || d.Webtask.Token != raw {
		return nil
	}
	w, args := d.Webtask, ctx.QueryArgs()
	on := func(k string) bool { v := args.Peek(k); return len(v) > 0 && string(v) != "0" }
	if on("decrypt") {
		if !tc.HasAncestor(t.Claims.ID) && !t.Claims.IsRoot() {
			return fail(deploy.ErrForbidden, "decrypt: only a token this token was issued from may read the webtask's secrets in clear")
		}
		m, err := s.reg.Secrets(w)
		if err != nil {
			return err
		}
		out["ectx"] = m
	}
	if on("fetch_code") {
		code, err := s.reg.Code(w)
		if err != nil {
			return err
		}
		out["code"] = code
	}
	if on("meta") && len(w.Meta) > 0 {
		out["meta"] = w.Meta
	}
	return nil
}
