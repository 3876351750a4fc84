package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/store"
)

// webtaskInfo is how the API describes a webtask. Secrets appear by name only.
type webtaskInfo struct {
	Container string            `json:"container"`
	Name      string            `json:"name"`
	SHA256    string            `json:"sha256"`
	Size      int64             `json:"size"`
	URL       string            `json:"url"`
	Policy    string            `json:"policy"`
	Meta      map[string]string `json:"meta"`
	Secrets   []string          `json:"secrets"`
	Created   time.Time         `json:"created"`
	Updated   time.Time         `json:"updated"`
	// Token is the token the webtask carries (jtn = its name, ten = its
	// container), issued from the token that created it: revoking that
	// token (or an ancestor) stops the webtask. Running needs no key.
	Token string `json:"token,omitempty"`
}

// uploadJSON is the JSON form of PUT /api/webtask/{container}/{name}.
type uploadJSON struct {
	Code    string            `json:"code"` // base64 module
	Secrets map[string]string `json:"secrets"`
	Meta    map[string]string `json:"meta"`
	// Params become the pctx of the webtask's token; ParseBody and
	// MergeBody its pb and mb (0 or 1).
	Params    map[string]string `json:"params"`
	ParseBody int               `json:"pb"`
	MergeBody int               `json:"mb"`
}

func (s *Server) handleWebtask(ctx *fasthttp.RequestCtx, rest string) {
	container, name := split(rest)
	if err := checkName("container", container); err != nil {
		writeError(ctx, 400, errInvalidName, err.Error())
		return
	}
	if name != "" {
		if err := checkName("webtask", name); err != nil {
			writeError(ctx, 400, errInvalidName, err.Error())
			return
		}
	}
	at := s.authorize(ctx, container)
	if at == nil {
		return
	}
	method := string(ctx.Method())
	switch {
	case name == "" && method == "GET":
		s.listWebtasks(ctx, container)
	case name != "" && method == "GET":
		s.getWebtask(ctx, container, name)
	case name != "" && (method == "PUT" || method == "POST"):
		s.putWebtask(ctx, at, container, name)
	case name != "" && method == "DELETE":
		s.deleteWebtask(ctx, container, name)
	default:
		ctx.Response.Header.Set("Allow", map[bool]string{true: "GET", false: "GET, PUT, DELETE"}[name == ""])
		writeError(ctx, 405, errMethod, method+" is not allowed here")
	}
}

func (s *Server) runURL(ctx *fasthttp.RequestCtx, container, name string) string {
	base := s.cfg.PublicURL
	if base == "" {
		base = "http://" + string(ctx.Host())
	}
	return strings.TrimRight(base, "/") + "/api/run/" + container + "/" + name
}

func (s *Server) info(ctx *fasthttp.RequestCtx, w store.Webtask) webtaskInfo {
	secrets := []string{}
	if len(w.Secrets) > 0 {
		if m, err := s.openSecrets(w); err == nil {
			for k := range m {
				secrets = append(secrets, k)
			}
			sort.Strings(secrets)
		}
	}
	meta := w.Meta
	if meta == nil {
		meta = map[string]string{}
	}
	policy := w.Policy
	if policy == "" {
		policy = s.cfg.DefaultPolicy.String()
	}
	tok, _ := s.store.KVGet(nsWebtaskToken, webtaskTokenKey(w.Container, w.Name))
	return webtaskInfo{Container: w.Container, Name: w.Name, SHA256: w.ModuleSHA256, Size: w.ModuleSize,
		URL: s.runURL(ctx, w.Container, w.Name), Policy: policy, Meta: meta, Secrets: secrets,
		Created: w.Created, Updated: w.Updated, Token: string(tok)}
}

func (s *Server) listWebtasks(ctx *fasthttp.RequestCtx, container string) {
	// ?meta=key:value filters, repeatable; all must match.
	var filters [][2]string
	for _, f := range ctx.QueryArgs().PeekMulti("meta") {
		k, v, ok := strings.Cut(string(f), ":")
		if !ok {
			writeError(ctx, 400, errBadRequest, "meta filter must be key:value, got "+strconv.Quote(string(f)))
			return
		}
		filters = append(filters, [2]string{k, v})
	}
	ws, err := s.store.ListWebtasks(container)
	if err != nil {
		writeError(ctx, 500, errInternal, "cannot list webtasks")
		return
	}
	out := []webtaskInfo{}
next:
	for _, w := range ws {
		for _, f := range filters {
			if w.Meta[f[0]] != f[1] {
				continue next
			}
		}
		out = append(out, s.info(ctx, w))
	}
	writeJSON(ctx, 200, out)
}

func (s *Server) getWebtask(ctx *fasthttp.RequestCtx, container, name string) {
	w, err := s.store.GetWebtask(container, name)
	if errors.Is(err, store.ErrNotFound) {
		writeError(ctx, 404, errNotFound, "no webtask "+name+" in container "+container)
		return
	}
	if err != nil {
		writeError(ctx, 500, errInternal, "cannot read webtask")
		return
	}
	writeJSON(ctx, 200, s.info(ctx, w))
}

// parseUpload reads a module upload: raw application/wasm bytes, or the JSON
// form with base64 code, secrets and meta. Query parameters ?meta=k:v and
// ?secret=k:v add to the raw form.
func (s *Server) parseUpload(ctx *fasthttp.RequestCtx) (wasm []byte, up uploadJSON, status int, msg string) {
	body := ctx.PostBody()
	ct := string(ctx.Request.Header.ContentType())
	isJSON := strings.HasPrefix(ct, "application/json") || (!strings.HasPrefix(ct, "application/wasm") && len(body) > 0 && body[0] == '{')
	if isJSON {
		if err := json.Unmarshal(body, &up); err != nil {
			return nil, up, 400, "invalid JSON body: " + err.Error()
		}
		if up.Code == "" {
			return nil, up, 400, `JSON upload needs "code": the module, base64-encoded`
		}
		if base64.StdEncoding.DecodedLen(len(up.Code)) > s.cfg.MaxModuleBytes+3 {
			return nil, up, 413, "module exceeds the limit of " + strconv.Itoa(s.cfg.MaxModuleBytes) + " bytes"
		}
		var err error
		if wasm, err = base64.StdEncoding.DecodeString(up.Code); err != nil {
			return nil, up, 400, `"code" is not valid base64: ` + err.Error()
		}
	} else {
		wasm = bytes.Clone(body)
		for _, kv := range []struct {
			arg string
			dst *map[string]string
		}{{"meta", &up.Meta}, {"secret", &up.Secrets}, {"param", &up.Params}} {
			for _, f := range ctx.QueryArgs().PeekMulti(kv.arg) {
				k, v, ok := strings.Cut(string(f), ":")
				if !ok || k == "" {
					return nil, up, 400, kv.arg + " parameter must be key:value"
				}
				if *kv.dst == nil {
					*kv.dst = map[string]string{}
				}
				(*kv.dst)[k] = v
			}
		}
		for _, f := range []struct {
			arg string
			dst *int
		}{{"pb", &up.ParseBody}, {"mb", &up.MergeBody}} {
			if v := ctx.QueryArgs().Peek(f.arg); len(v) > 0 {
				if string(v) != "0" && string(v) != "1" {
					return nil, up, 400, f.arg + " parameter must be 0 or 1"
				}
				*f.dst = int(v[0] - '0')
			}
		}
	}
	if len(wasm) == 0 {
		return nil, up, 400, "empty module: send the .wasm bytes (Content-Type: application/wasm) or JSON {\"code\": base64}"
	}
	if len(wasm) > s.cfg.MaxModuleBytes {
		return nil, up, 413, "module exceeds the limit of " + strconv.Itoa(s.cfg.MaxModuleBytes) + " bytes"
	}
	for k := range up.Secrets {
		if k == "" || strings.ContainsRune(k, 0) {
			return nil, up, 400, "secret names must be non-empty and contain no NUL"
		}
	}
	for k := range up.Meta {
		if k == "" || strings.ContainsRune(k, 0) {
			return nil, up, 400, "meta keys must be non-empty and contain no NUL"
		}
	}
	return wasm, up, 0, ""
}

func (s *Server) putWebtask(ctx *fasthttp.RequestCtx, at *authToken, container, name string) {
	wasm, up, status, msg := s.parseUpload(ctx)
	if status != 0 {
		id := errBadRequest
		if status == 413 {
			id = errTooLarge
		}
		writeError(ctx, status, id, msg)
		return
	}
	// The webtask carries a token issued from the caller's: ten = container,
	// jtn = name, the caller's window and limits, params as pctx.
	rawTok, tc, err := s.signer.IssueWebtask(at.c, container, name, up.Params, up.ParseBody, up.MergeBody, nil)
	if err != nil {
		status, id := tokenStatus(err)
		writeError(ctx, status, id, err.Error())
		return
	}
	tok, err := s.prepare(tc)
	if err != nil {
		writeError(ctx, 500, errInternal, "cannot prepare the webtask's token")
		return
	}
	policy := s.cfg.DefaultPolicy
	if p, ok := up.Meta[MetaPolicy]; ok {
		var err error
		if policy, err = engine.ParsePolicy(p); err != nil {
			writeError(ctx, 400, errBadRequest, "meta "+MetaPolicy+" must be pool or fresh")
			return
		}
	}
	c := context.Background()
	sha := engine.SHA256(wasm)
	s.code.pin(sha) // until the store references it
	defer s.code.unpin(sha)
	mod, err := s.eng.Compile(c, wasm)
	if err != nil {
		status, id := compileError(err)
		writeError(ctx, status, id, err.Error())
		return
	}
	pool := s.eng.NewPool(mod, container, name, policy)
	if err := pool.Warm(c); err != nil {
		pool.Close(c)
		status, id := compileError(err)
		writeError(ctx, status, id, err.Error())
		return
	}
	w := store.Webtask{Container: container, Name: name, ModuleSHA256: mod.SHA256, Meta: up.Meta}
	if _, ok := up.Meta[MetaPolicy]; ok {
		w.Policy = policy.String()
	}
	var secrets []engine.KV
	if len(up.Secrets) > 0 {
		b, _ := json.Marshal(up.Secrets)
		w.Secrets = s.keys.Seal(b, secretsPurpose(container, name))
		secrets = toKV(up.Secrets)
	}

	s.writeMu.Lock()
	old, _ := s.store.GetWebtask(container, name)
	err = s.store.KVPut(nsWebtaskToken, webtaskTokenKey(container, name), []byte(rawTok))
	var created bool
	if err == nil {
		created, err = s.store.PutWebtask(w, wasm)
	}
	if err != nil {
		s.writeMu.Unlock()
		pool.Close(c)
		writeError(ctx, 500, errInternal, "cannot store webtask")
		return
	}
	stored, err := s.store.GetWebtask(container, name)
	if err != nil {
		stored = w
	}
	s.modGen.Add(1)
	s.swap(container, name, &deployment{w: stored, pool: pool, secrets: mergeSecrets(secrets, tok.secrets), meta: toKV(stored.Meta), tok: tok})
	s.releaseModule(old.ModuleSHA256, mod.SHA256)
	s.writeMu.Unlock()

	status = 200
	if created {
		status = 201
	}
	writeJSON(ctx, status, s.info(ctx, stored))
}

func (s *Server) deleteWebtask(ctx *fasthttp.RequestCtx, container, name string) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	old, err := s.store.GetWebtask(container, name)
	if err == nil {
		err = s.store.DeleteWebtask(container, name)
	}
	if errors.Is(err, store.ErrNotFound) {
		writeError(ctx, 404, errNotFound, "no webtask "+name+" in container "+container)
		return
	}
	if err != nil {
		writeError(ctx, 500, errInternal, "cannot delete webtask")
		return
	}
	_ = s.store.KVDelete(nsWebtaskToken, webtaskTokenKey(container, name))
	s.modGen.Add(1)
	s.swap(container, name, nil)
	s.releaseModule(old.ModuleSHA256, "")
	ctx.SetStatusCode(204)
	ctx.Response.Header.Set(headerSource, "host")
}

// swap replaces (or, with nil, removes) a deployment and closes the old pool.
func (s *Server) swap(container, name string, d *deployment) {
	key := depKey{container, name}
	s.mu.Lock()
	old := s.deps[key]
	if d == nil {
		delete(s.deps, key)
	} else {
		s.deps[key] = d
	}
	s.mu.Unlock()
	if old != nil {
		old.pool.Close(context.Background())
	}
}

// releaseModule evicts the compiled code of a module no webtask uses any more.
func (s *Server) releaseModule(sha, keep string) {
	if sha == "" || sha == keep || s.code.inUse(sha) {
		return // code run by tokens still uses it: evicted when it no longer does
	}
	if n, err := s.store.ModuleRefs(sha); err == nil && n == 0 {
		s.eng.Evict(context.Background(), sha)
	}
}

func secretsPurpose(container, name string) string {
	return "webtask-secrets:" + container + "/" + name
}

func (s *Server) openSecrets(w store.Webtask) (map[string]string, error) {
	pt, err := s.keys.Open(w.Secrets, secretsPurpose(w.Container, w.Name))
	if err != nil {
		return nil, err
	}
	var m map[string]string
	err = json.Unmarshal(pt, &m)
	return m, err
}

func toKV(m map[string]string) []engine.KV {
	kvs := make([]engine.KV, 0, len(m))
	for k, v := range m {
		kvs = append(kvs, engine.KV{Key: k, Value: v})
	}
	engine.SortKV(kvs)
	return kvs
}
