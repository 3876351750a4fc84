package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/auth"
	"github.com/wasmtask/wasmtask/host/deploy"
	"github.com/wasmtask/wasmtask/store"
)

// webtaskInfo is how the API describes a webtask. Secrets appear by name only.
type webtaskInfo struct {
	Container string `json:"container"`
	Name      string `json:"name"`
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
	URL       string `json:"url"`
	// WebtaskURL is URL again, by the name sandboxjs reads.
	WebtaskURL string `json:"webtask_url,omitempty"`
	Policy     string `json:"policy"`
	// Language is "javascript" or "wasm".
	Language string            `json:"language"`
	Meta     map[string]string `json:"meta"`
	Secrets  []string          `json:"secrets"`
	Created  time.Time         `json:"created"`
	Updated  time.Time         `json:"updated"`
	// Damaged says why the stored record cannot be read (the other fields
	// are then empty); such a webtask can only be deleted.
	Damaged string `json:"damaged,omitempty"`
	// Token is the token the webtask carries (jtn = its name, ten = its
	// container), issued from the token that created it: revoking that
	// token (or an ancestor) stops the webtask. Running needs no key.
	Token string `json:"token,omitempty"`
}

// uploadJSON is the JSON form of PUT /api/webtask/{container}/{name}.
type uploadJSON struct {
	// Code is a module, base64-encoded, or JavaScript source: code that
	// base64-decodes to a WebAssembly binary (\0asm…) is wasm, any other
	// is JavaScript.
	Code string `json:"code"`
	// URL, instead of Code, is an http(s) address the code is fetched
	// from once, now (deploy.Registry.URLCode), as wt-cli's PUT sends it.
	URL     string            `json:"url"`
	Secrets map[string]string `json:"secrets"`
	Meta    map[string]string `json:"meta"`
	// Params become the pctx of the webtask's token; ParseBody and
	// MergeBody its pb and mb (0 or 1).
	Params    map[string]string `json:"params"`
	ParseBody int               `json:"pb"`
	MergeBody int               `json:"mb"`
}

// handleWebtask serves /api/webtask/{container}[/{name}].
func (s *Server) handleWebtask(ctx *fasthttp.RequestCtx, rest string) error {
	container, name := split(rest)
	if err := checkName("container", container); err != nil {
		return err
	}
	if name != "" {
		if err := checkName("webtask", name); err != nil {
			return err
		}
	}
	t, err := s.authorize(ctx, container)
	if err != nil {
		return err
	}
	method := string(ctx.Method())
	if name != "" && (method == "PUT" || method == "POST" || method == "PATCH") {
		reserved, err := s.readBody(ctx, s.uploadLimit())
		if err != nil {
			return err
		}
		defer s.inflight.release(reserved)
	} else if err := noBody(ctx); err != nil {
		return err
	}
	switch {
	case name == "" && method == "GET":
		return s.listWebtasks(ctx, container)
	case name == "":
		return methodNotAllowed(ctx, "GET")
	case method == "GET":
		return s.getWebtask(ctx, t, container, name)
	case method == "PUT" || method == "POST":
		return s.putWebtask(ctx, t, container, name)
	case method == "PATCH":
		return s.patchWebtask(ctx, t, container, name)
	case method == "DELETE":
		if err := s.reg.Delete(container, name); err != nil {
			return err
		}
		ctx.SetStatusCode(204)
		return nil
	}
	return methodNotAllowed(ctx, "GET, PUT, PATCH, DELETE")
}

// uploadLimit is the largest upload body: a module base64-encoded in JSON,
// with room for secrets and meta.
func (s *Server) uploadLimit() int { return s.cfg.MaxModuleBytes/3*4 + 64<<10 }

func (s *Server) runURL(ctx *fasthttp.RequestCtx, container, name string) string {
	base := s.cfg.PublicURL
	if base == "" {
		base = "http://" + string(ctx.Host())
	}
	return strings.TrimRight(base, "/") + "/api/run/" + container + "/" + name
}

func (s *Server) info(ctx *fasthttp.RequestCtx, w store.Webtask) webtaskInfo {
	if w.Damaged != "" {
		return webtaskInfo{Container: w.Container, Name: w.Name, Damaged: w.Damaged, Secrets: []string{}, Meta: map[string]string{}}
	}
	secrets := s.reg.SecretNames(w)
	if secrets == nil {
		secrets = []string{}
	}
	meta := w.Meta
	if meta == nil {
		meta = map[string]string{}
	}
	return webtaskInfo{Container: w.Container, Name: w.Name, SHA256: w.ModuleSHA256, Size: w.ModuleSize,
		URL: s.runURL(ctx, w.Container, w.Name), WebtaskURL: s.runURL(ctx, w.Container, w.Name), Policy: s.reg.EffectivePolicy(w), Language: deploy.Language(w), Meta: meta, Secrets: secrets,
		Created: w.Created, Updated: w.Updated, Token: w.Token}
}

// listWebtasks serves GET /api/webtask/{container}[?meta=key:value…]
// [&offset=N][&limit=N]: the webtasks whose meta has every key:value given,
// by name, a page at a time (limit defaults to and is at most maxPage; the
// x-wt-total header counts them all).
func (s *Server) listWebtasks(ctx *fasthttp.RequestCtx, container string) error {
	filters, offset, limit, err := listArgs(ctx)
	if err != nil {
		return err
	}
	ws, err := s.reg.List(container)
	if err != nil {
		return err
	}
	out, total := []webtaskInfo{}, 0
next:
	for _, w := range ws {
		for k, v := range filters {
			if w.Meta[k] != v {
				continue next
			}
		}
		if total >= offset && len(out) < limit {
			out = append(out, s.info(ctx, w))
		}
		total++
	}
	ctx.Response.Header.Set("x-wt-total", strconv.Itoa(total))
	return writeJSON(ctx, 200, out)
}

// maxPage is the most entries one list answer holds.
const maxPage = 1000

// listArgs reads a list's ?meta=key:value filters and its page, offset
// and limit (default and at most maxPage).
func listArgs(ctx *fasthttp.RequestCtx) (filters map[string]string, offset, limit int, err error) {
	args := ctx.QueryArgs()
	if filters, err = pairs(args.PeekMulti("meta"), "meta filter"); err != nil {
		return nil, 0, 0, err
	}
	if offset, err = intArg(args.Peek("offset"), "offset", 0, 1<<30, 0); err != nil {
		return nil, 0, 0, err
	}
	limit, err = intArg(args.Peek("limit"), "limit", 1, maxPage, maxPage)
	return filters, offset, limit, err
}

// intArg parses an optional integer argument in [lo, hi]; def when absent.
func intArg(v []byte, name string, lo, hi, def int) (int, error) {
	if len(v) == 0 {
		return def, nil
	}
	n, err := strconv.Atoi(string(v))
	if err != nil || n < lo || n > hi {
		return 0, fail(deploy.ErrBadRequest, name+" must be a whole number from "+strconv.Itoa(lo)+" to "+strconv.Itoa(hi))
	}
	return n, nil
}

// getWebtask serves GET /api/webtask/{container}/{name}: the description,
// with webtask_url (the run URL, as sandboxjs reads it); with fetch_code=1
// the code (JavaScript text, or a base64 module); with decrypt=1 the
// secrets as an object of values instead of a list of names — for the
// token that created the webtask or one it was issued from (as decrypting
// an ectx), 403 for another.
func (s *Server) getWebtask(ctx *fasthttp.RequestCtx, t *deploy.Token, container, name string) error {
	w, err := s.reg.Get(container, name)
	if err != nil {
		return err
	}
	args := ctx.QueryArgs()
	on := func(k string) bool { v := args.Peek(k); return len(v) > 0 && string(v) != "0" }
	info := s.info(ctx, w)
	out := webtaskDetail{webtaskInfo: info, Secrets: info.Secrets}
	if w.Damaged == "" && on("fetch_code") {
		if out.Code, err = s.reg.Code(w); err != nil {
			return err
		}
	}
	if w.Damaged == "" && on("decrypt") {
		wc, err := s.signer.Parse(w.Token)
		if !t.Claims.IsRoot() && (err != nil || (wc.ID != t.Claims.ID && !wc.HasAncestor(t.Claims.ID))) {
			return fail(deploy.ErrForbidden, "decrypt: only the token that created the webtask, or one it was issued from, may read its secrets in clear")
		}
		if out.Secrets, err = s.reg.Secrets(w); err != nil {
			return err
		}
	}
	return writeJSON(ctx, 200, out)
}

// webtaskDetail is GET /api/webtask/{container}/{name}'s answer: the
// description, with the code when asked and the secrets' values (a map in
// place of the names) when decrypted.
type webtaskDetail struct {
	webtaskInfo
	Secrets any    `json:"secrets"`
	Code    string `json:"code,omitempty"`
}

func (s *Server) putWebtask(ctx *fasthttp.RequestCtx, t *deploy.Token, container, name string) error {
	up, err := s.parseUpload(ctx)
	if err != nil {
		return err
	}
	up.Container, up.Name = container, name
	w, _, err := s.reg.Deploy(t, up)
	if err != nil {
		return err
	}
	// 200 whether created or replaced, as the original platform answered
	// (wt-cli's PUT accepts nothing else).
	return writeJSON(ctx, 200, s.info(ctx, w))
}

// parseUpload reads an upload: raw application/wasm bytes, raw JavaScript
// (application/javascript or text/javascript, unless the bytes are a wasm
// binary), or the JSON form with code, secrets and meta. Query parameters
// ?meta=k:v, ?secret=k:v, ?param=k:v, ?pb=1 and ?mb=1 add to the raw forms.
func (s *Server) parseUpload(ctx *fasthttp.RequestCtx) (deploy.Upload, error) {
	body := ctx.PostBody()
	ct := string(ctx.Request.Header.ContentType())
	js := isJavaScriptType(ct) // the registry still tells wasm from the bytes
	if !js && (strings.HasPrefix(ct, "application/json") || (!strings.HasPrefix(ct, "application/wasm") && len(body) > 0 && body[0] == '{')) {
		return s.parseUploadJSON(body)
	}
	var up deploy.Upload
	if js {
		up.JS = bytes.Clone(body)
	} else {
		up.Wasm = bytes.Clone(body)
	}
	args := ctx.QueryArgs()
	var err error
	if up.Meta, err = pairs(args.PeekMulti("meta"), "meta parameter"); err != nil {
		return up, err
	}
	if up.Secrets, err = pairs(args.PeekMulti("secret"), "secret parameter"); err != nil {
		return up, err
	}
	if up.Params, err = pairs(args.PeekMulti("param"), "param parameter"); err != nil {
		return up, err
	}
	if up.ParseBody, err = flag01(args.Peek("pb"), "pb"); err != nil {
		return up, err
	}
	up.MergeBody, err = flag01(args.Peek("mb"), "mb")
	return up, err
}

func (s *Server) parseUploadJSON(body []byte) (deploy.Upload, error) {
	var j uploadJSON
	if err := json.Unmarshal(body, &j); err != nil {
		return deploy.Upload{}, fail(deploy.ErrBadRequest, "invalid JSON body: "+err.Error())
	}
	if (j.Code == "") == (j.URL == "") {
		return deploy.Upload{}, fail(deploy.ErrBadRequest, `JSON upload needs "code" (a base64 module or JavaScript source) or "url" (where to fetch it), not both`)
	}
	up := deploy.Upload{Secrets: j.Secrets, Meta: j.Meta, Params: j.Params, ParseBody: j.ParseBody, MergeBody: j.MergeBody}
	if err := s.setCode(&up, j.Code, j.URL); err != nil {
		return deploy.Upload{}, err
	}
	return up, nil
}

// setCode sets up's code from a code field or, when url is given, from
// what the url serves (fetched once, under the url-token rules).
func (s *Server) setCode(up *deploy.Upload, code, url string) error {
	if url == "" {
		return s.uploadCode(up, code)
	}
	b, err := s.reg.URLCode(url)
	if err != nil {
		return err
	}
	if deploy.IsWasm(b) {
		up.Wasm = b
	} else {
		up.JS = b
	}
	return nil
}

// uploadCode sets up's code from a code field (the JSON upload's, or the
// code claim of an issue that creates a webtask): a base64 module, or
// JavaScript source.
func (s *Server) uploadCode(up *deploy.Upload, code string) error {
	if base64.StdEncoding.DecodedLen(len(code)) > s.cfg.MaxModuleBytes+3 {
		return fail(deploy.ErrTooLarge, "module exceeds the limit of "+strconv.Itoa(s.cfg.MaxModuleBytes)+" bytes")
	}
	wasm, err := base64.StdEncoding.DecodeString(code)
	switch {
	case err == nil && deploy.IsWasm(wasm):
		up.Wasm = wasm
	case s.jsEnabled() || looksLikeJS(code):
		up.JS = []byte(code)
	case err != nil:
		return fail(deploy.ErrBadRequest, `"code" is not valid base64: `+err.Error())
	default:
		up.Wasm = wasm // not wasm: refused with the compiler's message, as before JavaScript
	}
	return nil
}

// jsModules serves GET /api/js/modules: {"modules": [names]}, the modules
// a JavaScript webtask may require (deploy.JSModules). Public: it lists
// names only, and an upload refused for a require points here.
func (s *Server) jsModules(ctx *fasthttp.RequestCtx) error {
	if m := string(ctx.Method()); m != "GET" && m != "HEAD" {
		return methodNotAllowed(ctx, "GET")
	}
	if err := noBody(ctx); err != nil {
		return err
	}
	return writeJSON(ctx, 200, map[string][]string{"modules": deploy.JSModules()})
}

// isJavaScriptType reports whether a Content-Type says JavaScript.
func isJavaScriptType(ct string) bool {
	ct, _, _ = strings.Cut(ct, ";")
	switch strings.ToLower(strings.TrimSpace(ct)) {
	case "application/javascript", "text/javascript", "application/x-javascript":
		return true
	}
	return false
}

// looksLikeJS reports whether JSON code that is not base64 wasm is meant as
// JavaScript on a server without the engine (which then says so): it holds
// a character base64 never does. Plain base64 of something else keeps the
// compiler's "not a WebAssembly binary" answer.
func looksLikeJS(code string) bool {
	return strings.ContainsAny(code, " \n\t(){};.'\"")
}

// jsEnabled reports whether the server runs JavaScript.
func (s *Server) jsEnabled() bool { return s.cfg.JSEngine != "" }

// pairs parses repeated key:value arguments; nil when there are none.
func pairs(args [][]byte, what string) (map[string]string, error) {
	var m map[string]string
	for _, a := range args {
		k, v, ok := strings.Cut(string(a), ":")
		if !ok || k == "" {
			return nil, fail(deploy.ErrBadRequest, what+" must be key:value, got "+strconv.Quote(string(a)))
		}
		if m == nil {
			m = map[string]string{}
		}
		m[k] = v
	}
	return m, nil
}

// flag01 parses an optional 0/1 argument.
func flag01(v []byte, name string) (int, error) {
	switch string(v) {
	case "", "0":
		return 0, nil
	case "1":
		return 1, nil
	}
	return 0, fail(deploy.ErrBadRequest, name+" parameter must be 0 or 1")
}

// nodeModulesPath is the original platform's module API, which wt-cli's
// `wt modules` and sandboxjs use: GET …/{name} lists a module's versions,
// POST … asks for modules to be installed.
const nodeModulesPath = "/api/env/node/modules"

// nodeModule is one entry of that API: a module, a version and its state.
type nodeModule struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	State   string `json:"state"`
}

// nodeModules serves the module API with the built-in modules (this server
// installs none): GET /api/env/node/modules/{name} lists the one version
// of a built-in module (none for another: []), POST /api/env/node/modules
// {"modules": [{name, version}]} answers each "available" with the built-in
// version, or "failed" (not built in). Public for GET, as the original.
// nodeModuleVersion is the version of a module this server provides ("" if
// none): a built-in JavaScript module, or the middleware the host runs
// itself (host/auth) and the compiler wt-cli names with it, in whatever
// version was asked.
func nodeModuleVersion(name, asked string) string {
	if v := deploy.JSModuleVersion(name); v != "" {
		return v
	}
	if name == middlewareCompiler || slices.Contains(auth.Middleware(), name) {
		if asked == "" || strings.ContainsAny(asked, "^~*<>| ") {
			return "1.0.0"
		}
		return asked
	}
	return ""
}

// middlewareCompiler is the wt-compiler wt-cli sets with --middleware: the
// host runs the middleware itself, so it compiles nothing.
const middlewareCompiler = "@webtask/middleware-compiler"

func (s *Server) nodeModules(ctx *fasthttp.RequestCtx, rest string) error {
	if rest == "" && ctx.IsPost() {
		if _, err := s.caller(ctx); err != nil {
			return err
		}
		reserved, err := s.readBody(ctx, maxTokenBody)
		if err != nil {
			return err
		}
		defer s.inflight.release(reserved)
		var req struct {
			Modules []struct{ Name, Version string } `json:"modules"`
		}
		if err := json.Unmarshal(ctx.PostBody(), &req); err != nil {
			return fail(deploy.ErrBadRequest, `the body must be {"modules": [{"name": …, "version": …}]}`)
		}
		out := make([]nodeModule, 0, len(req.Modules))
		for _, m := range req.Modules {
			if v := nodeModuleVersion(m.Name, m.Version); v != "" {
				out = append(out, nodeModule{m.Name, v, "available"})
			} else {
				out = append(out, nodeModule{m.Name, m.Version, "failed"})
			}
		}
		return writeJSON(ctx, 200, out)
	}
	name, ok := strings.CutPrefix(rest, "/")
	if !ok || name == "" || strings.Contains(name, "/") && !strings.HasPrefix(name, "@") {
		return fail(deploy.ErrNotFound, "use GET "+nodeModulesPath+"/{name} or POST "+nodeModulesPath)
	}
	if !ctx.IsGet() {
		return methodNotAllowed(ctx, "GET")
	}
	if err := noBody(ctx); err != nil {
		return err
	}
	out := []nodeModule{}
	if v := nodeModuleVersion(name, ""); v != "" {
		out = append(out, nodeModule{name, v, "available"})
	}
	return writeJSON(ctx, 200, out)
}
