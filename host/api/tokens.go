package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/host/token"
	"github.com/wasmtask/wasmtask/store"
)

// maxIssueBody caps the body of POST /api/tokens/issue.
const maxIssueBody = 64 << 10

// handleTokens serves /api/tokens/{issue,revoke,inspect}.
func (s *Server) handleTokens(ctx *fasthttp.RequestCtx, op string) {
	method := string(ctx.Method())
	switch {
	case op == "issue" && method == "POST":
		s.issueToken(ctx)
	case op == "revoke" && method == "POST":
		s.revokeToken(ctx)
	case op == "inspect" && method == "GET":
		s.inspectToken(ctx)
	case op == "issue" || op == "revoke" || op == "inspect":
		allow := map[string]string{"issue": "POST", "revoke": "POST", "inspect": "GET"}[op]
		ctx.Response.Header.Set("Allow", allow)
		writeError(ctx, 405, errMethod, method+" is not allowed here; use "+allow)
	default:
		writeError(ctx, 404, errNotFound, "no API at /api/tokens/"+op+": use issue, revoke or inspect")
	}
}

// issueToken serves POST /api/tokens/issue: a JSON object of claims in, the
// token text out (text/plain, as the original platform, so that
// T=$(curl …/issue) works).
func (s *Server) issueToken(ctx *fasthttp.RequestCtx) {
	at := s.caller(ctx)
	if at == nil {
		return
	}
	body := ctx.PostBody()
	if len(body) > maxIssueBody {
		writeError(ctx, 413, errTooLarge, "issue request larger than 64 KiB")
		return
	}
	req, err := token.ParseRequest(body)
	if err != nil {
		status, id := tokenStatus(err)
		writeError(ctx, status, id, err.Error())
		return
	}
	// Code claims the parent does not already fix are checked against this
	// server: the module must exist (sha256) or be fetchable (http), or
	// compile (inline code). Derive checks the rest.
	if !at.c.FixesCode() {
		if req.URL != "" {
			if status, msg := s.checkURLClaim(at, req.URL); status != 0 {
				writeError(ctx, status, map[int]string{400: errBadRequest, 403: errForbidden}[status], msg)
				return
			}
		}
		if req.Code != "" {
			if wasm, sha, err := token.CodeSHA256(req.Code); err == nil {
				s.code.pin(sha)
				_, err = s.eng.Compile(context.Background(), wasm)
				s.code.unpin(sha)
				if err != nil {
					status, id := compileError(err)
					writeError(ctx, status, id, "code: "+err.Error())
					return
				}
			}
		}
	}
	raw, _, err := s.signer.Issue(at.c, req)
	if err != nil {
		status, id := tokenStatus(err)
		writeError(ctx, status, id, err.Error())
		return
	}
	ctx.SetStatusCode(200)
	ctx.Response.Header.Set(headerSource, "host")
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(raw)
}

// checkURLClaim checks a url claim a token asks for: a sha256 reference
// must name a module of a webtask in a container the issuer can manage (so
// knowing a hash does not let one tenant run another's code); an http(s) url
// must be on the fetch allow-list.
func (s *Server) checkURLClaim(at *authToken, raw string) (int, string) {
	if sha, ok := token.SHA256Ref(raw); ok {
		if !s.moduleVisible(at, sha) {
			return 400, "url: no module " + raw + " is deployed in the containers this token can manage"
		}
		return 0, ""
	}
	u, err := token.ParseURL(raw)
	if err != nil {
		return 400, err.Error()
	}
	if !s.fetch.allowed(u) {
		return 403, "url: this server does not fetch code from " + u.Host + " (the operator allows hosts with --fetch-allow); upload the module and use url \"sha256:<hex>\""
	}
	return 0, ""
}

// moduleVisible reports whether a webtask in a container at may manage uses
// the module sha.
func (s *Server) moduleVisible(at *authToken, sha string) bool {
	if at.ten.Any() {
		n, err := s.store.ModuleRefs(sha)
		return err == nil && n > 0
	}
	errFound := errors.New("found")
	err := s.store.ForEachWebtask(func(w store.Webtask) error {
		if w.ModuleSHA256 == sha && at.ten.Allows(w.Container) {
			return errFound
		}
		return nil
	})
	return errors.Is(err, errFound)
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
func (s *Server) revokeToken(ctx *fasthttp.RequestCtx) {
	at := s.caller(ctx)
	if at == nil {
		return
	}
	raw, ok := target(ctx)
	if !ok {
		writeError(ctx, 400, errBadRequest, `give the token to revoke as ?token=, {"token": "…"} or the plain-text body`)
		return
	}
	tc, err := s.signer.Parse(raw)
	if err != nil {
		writeError(ctx, 400, errBadRequest, "token to revoke: "+err.Error())
		return
	}
	switch {
	case tc.ID == at.c.ID && at.c.IsRoot():
		writeError(ctx, 403, errForbidden, "the admin token cannot revoke itself; to rotate it, delete admin.token, restart, and revoke the old one with the new one")
		return
	case tc.ID == at.c.ID && at.c.DenyRevokeSelf == 1:
		writeError(ctx, 403, errForbidden, "dr: this token may not revoke itself; ask a token it was issued from")
		return
	case tc.ID == at.c.ID, tc.HasAncestor(at.c.ID), at.c.IsRoot():
	default:
		writeError(ctx, 403, errForbidden, "only the token itself or a token it was issued from may revoke it")
		return
	}
	if err := s.revoked.Revoke(tc); err != nil {
		writeError(ctx, 500, errInternal, "cannot store the revocation")
		return
	}
	writeJSON(ctx, 200, map[string]any{"jti": tc.ID, "revoked": true})
}

// inspectToken serves GET /api/tokens/inspect?token=T[&decrypt=1]: the
// claims of T (the caller's own token when T is absent), with "revoked" and
// "expired" flags. ectx stays ciphertext unless decrypt=1 and the caller is
// an ancestor of T — never to T's own holder (seed 000).
func (s *Server) inspectToken(ctx *fasthttp.RequestCtx) {
	at := s.caller(ctx)
	if at == nil {
		return
	}
	raw, _ := target(ctx)
	tc, err := s.signer.Parse(raw)
	if err != nil {
		writeError(ctx, 400, errBadRequest, "token to inspect: "+err.Error())
		return
	}
	b, _ := json.Marshal(tc)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	if d := ctx.QueryArgs().Peek("decrypt"); len(d) > 0 && string(d) != "0" && tc.EncryptedContext != "" {
		if !tc.HasAncestor(at.c.ID) && !at.c.IsRoot() {
			writeError(ctx, 403, errForbidden, "decrypt: only a token this token was issued from may read its ectx in clear")
			return
		}
		m, err := s.signer.OpenContext(tc)
		if err != nil {
			writeError(ctx, 400, errBadRequest, "token to inspect: "+err.Error())
			return
		}
		out["ectx"] = m
	}
	out["revoked"] = s.revoked.IsRevoked(tc)
	out["expired"] = tc.CheckWindow(time.Now()) != nil
	writeJSON(ctx, 200, out)
}

// webtaskTokenKey is the KV key of a named webtask's token.
func webtaskTokenKey(container, name string) string { return container + "/" + name }

// nsWebtaskToken is the KV namespace of the tokens named webtasks carry.
const nsWebtaskToken = "webtask-token"

// webtaskToken loads the token a webtask carries; nil when it has none
// (stored before tokens existed), msg when it cannot be used.
func (s *Server) webtaskToken(container, name string) (at *authToken, raw string, msg string) {
	b, err := s.store.KVGet(nsWebtaskToken, webtaskTokenKey(container, name))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, "", ""
		}
		return nil, "", "the webtask's token cannot be read"
	}
	raw = string(b)
	c, err := s.signer.Parse(raw)
	if err == nil {
		at, err = s.prepare(c)
	}
	if err != nil {
		return nil, raw, "the webtask's token is not valid on this server: " + err.Error()
	}
	return at, raw, ""
}

// mergeSecrets is the secrets a webtask sees: its stored secrets, then the
// token's ectx over them (the token wins, SPEC.md).
func mergeSecrets(stored []engine.KV, tokenSecrets map[string]string) []engine.KV {
	if len(tokenSecrets) == 0 {
		return stored
	}
	m := make(map[string]string, len(stored)+len(tokenSecrets))
	for _, kv := range stored {
		m[kv.Key] = kv.Value
	}
	for k, v := range tokenSecrets {
		m[k] = v
	}
	return toKV(m)
}

// fixedKey is the code-pool key of code fixed by a token.
func fixedKey(container, sha, jti string) string {
	return strings.Join([]string{container, sha, jti}, "\x00")
}
