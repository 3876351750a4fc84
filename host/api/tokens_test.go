package api_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wasmtask/wasmtask/host/api"
	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/host/keys"
	"github.com/wasmtask/wasmtask/host/token"
)

// ctxWasm is a 143-byte guest (WAT below, built with wat2wasm) that answers
// with its whole context JSON: small enough for the "code" claim.
//
//	(module
//	  (import "wasmtask_v1" "get" (func $get (param i32 i32 i32) (result i32)))
//	  (import "wasmtask_v1" "result" (func $result (param i32 i32)))
//	  (memory (export "memory") 2)
//	  (func (export "wt_handle") (result i32)
//	    (local $n i32)
//	    (local.set $n (call $get (i32.const 7) (i32.const 0) (i32.const 131072)))
//	    (if (i32.gt_u (local.get $n) (i32.const 131072)) (then (return (i32.const 1))))
//	    (call $result (i32.const 0) (local.get $n))
//	    (i32.const 0)))
const ctxWasm = "AGFzbQEAAAABEQNgA39/fwF/YAJ/fwBgAAF/AigCC3dhc210YXNrX3YxA2dldAAAC3dhc210YXNrX3YxBnJlc3VsdAABAwIBAgUDAQACBxYCBm1lbW9yeQIACXd0X2hhbmRsZQACCicBJQEBf0EHQQBBgIAIEAAhACAAQYCACEsEQEEBDwtBACAAEAFBAAs="

func ctxModule(t testing.TB) []byte {
	b, err := base64.StdEncoding.DecodeString(ctxWasm)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// issueResp asks for a token with tok; claims is JSON text or a value.
func (ts *testServer) issueResp(tok string, claims any) response {
	ts.t.Helper()
	body, ok := claims.(string)
	if !ok {
		b, err := json.Marshal(claims)
		if err != nil {
			ts.t.Fatal(err)
		}
		body = string(b)
	}
	return ts.req("POST", "/api/tokens/issue", tok, []byte(body), "Content-Type: application/json")
}

// issue asks for a token and requires success.
func (ts *testServer) issue(tok string, claims any) string {
	ts.t.Helper()
	r := ts.issueResp(tok, claims)
	if r.Status != 200 {
		ts.t.Fatalf("issue %v: %d %s", claims, r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		ts.t.Fatalf("issue content-type = %q", ct)
	}
	return string(r.Body)
}

// signer signs tokens with the server's own keys, to build tokens the API
// would never issue (expired, tampered).
func (ts *testServer) signer() *token.Signer {
	ts.t.Helper()
	k, _, err := keys.LoadOrCreate(ts.Data)
	if err != nil {
		ts.t.Fatal(err)
	}
	return token.NewSigner(k)
}

func (ts *testServer) claims(raw string) *token.Claims {
	ts.t.Helper()
	c, err := ts.signer().Parse(raw)
	if err != nil {
		ts.t.Fatal(err)
	}
	return c
}

// moduleServer serves guests over HTTP on loopback, counting fetches.
type moduleServer struct {
	*httptest.Server
	hits atomic.Int64
}

func serveModules(t *testing.T, mods map[string][]byte) *moduleServer {
	ms := &moduleServer{}
	ms.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ms.hits.Add(1)
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/echo.wasm", http.StatusFound)
			return
		}
		b, ok := mods[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/wasm")
		w.Write(b)
	}))
	t.Cleanup(ms.Close)
	return ms
}

func (ms *moduleServer) host() string { return strings.TrimPrefix(ms.URL, "http://") }

// echoCtx is what the echo guest answers.
type echoCtx struct {
	Query     map[string][]string `json:"query"`
	Headers   map[string][]string `json:"headers"`
	Body      string              `json:"body"`
	Secrets   map[string]string   `json:"secrets"`
	Params    map[string]string   `json:"params"`
	Meta      map[string]string   `json:"meta"`
	Data      map[string]string   `json:"data"`
	Container string              `json:"container"`
	Name      string              `json:"name"`
}

func decodeEcho(t testing.TB, r response) echoCtx {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("run = %d %s", r.Status, r.Body)
	}
	var e echoCtx
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("echo body: %v %s", err, r.Body)
	}
	return e
}

// ctxJSON is what ctxWasm answers (the context JSON of SPEC.md).
type ctxJSON struct {
	Query     map[string]string `json:"query"`
	Headers   map[string]string `json:"headers"`
	Secrets   map[string]string `json:"secrets"`
	Params    map[string]string `json:"params"`
	Meta      map[string]string `json:"meta"`
	Data      map[string]string `json:"data"`
	Container string            `json:"container"`
	Name      string            `json:"name"`
	Body      *string           `json:"body"`
}

func decodeCtx(t testing.TB, r response) ctxJSON {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("run = %d %s", r.Status, r.Body)
	}
	var c ctxJSON
	if err := json.Unmarshal(r.Body, &c); err != nil {
		t.Fatalf("context body: %v %s", err, r.Body)
	}
	return c
}

const secret = "abc!123"

// TestTokens_Seed000 is seed 000 exactly: a token restricted to the code at
// a URL, carrying an encrypted secret; whoever holds it runs the code with
// the secret, which wins over a query parameter of the same name, and
// cannot read it.
func TestTokens_Seed000(t *testing.T) {
	ms := serveModules(t, map[string][]byte{"echo.wasm": fixture(t, "echo")})
	ts := start(t, api.Config{FetchAllow: []string{ms.host()}})
	tenant := ts.issue(ts.Admin, `{"ten":"acme"}`)

	// export PARAMETERIZED_TOKEN=$(curl -s .../api/tokens/issue -H "Authorization: Bearer {webtask_token}"
	//   -H "Content-Type: application/json" --data-binary '{"url":"http://…","ectx":{"secret":"abc!123"}}')
	param := ts.issue(tenant, `{"url":"`+ms.URL+`/echo.wasm","ectx":{"secret":"`+secret+`"}}`)
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(param, ".")[1])
	if strings.Contains(param, secret) || bytes.Contains(payload, []byte(secret)) {
		t.Fatal("the issued token shows the secret")
	}

	// curl .../api/run/{webtask_container}?name=Tomek -H "Authorization: Bearer $PARAMETERIZED_TOKEN" -X POST
	e := decodeEcho(t, ts.req("POST", "/api/run/acme?name=Tomek&secret=other", param, nil))
	checks := []struct{ what, got, want string }{
		{"secrets.secret", e.Secrets["secret"], secret},
		{"data.secret (token wins over the query)", e.Data["secret"], secret},
		{"data.name", e.Data["name"], "Tomek"},
		{"query.secret", strings.Join(e.Query["secret"], ","), "other"},
		{"container", e.Container, "acme"},
		{"name", e.Name, ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if _, ok := e.Headers["authorization"]; ok {
		t.Error("the run's token reached the guest in its headers")
	}
	// ?key= works as the Bearer header does, and is not shown to the guest.
	e = decodeEcho(t, ts.req("GET", "/api/run/acme?key="+param+"&name=Tomek", "", nil))
	if e.Secrets["secret"] != secret || len(e.Query["key"]) != 0 {
		t.Fatalf("?key= run: secrets %v query %v", e.Secrets, e.Query)
	}
	if ms.hits.Load() != 1 {
		t.Errorf("the module was fetched %d times, want once (cached)", ms.hits.Load())
	}

	// The holder cannot read the secret: not from the token, not by inspecting.
	r := ts.req("GET", "/api/tokens/inspect?token="+param, param, nil)
	if r.Status != 200 || bytes.Contains(r.Body, []byte(secret)) || !bytes.Contains(r.Body, []byte(`"ectx":"`)) {
		t.Fatalf("inspect by the holder = %d %s", r.Status, r.Body)
	}
	wantError(t, ts.req("GET", "/api/tokens/inspect?decrypt=1&token="+param, param, nil), 403, "decrypt")
	// The tenant token that issued it can.
	r = ts.req("GET", "/api/tokens/inspect?decrypt=1&token="+param, tenant, nil)
	if r.Status != 200 || r.JSON(t)["ectx"].(map[string]any)["secret"] != secret {
		t.Fatalf("inspect decrypt=1 by the issuer = %d %s", r.Status, r.Body)
	}
}

// TestTokens_Seed002 is the multi-tenant guide of seed 002: the master token
// issues one tenant token per container; each manages its own container only.
func TestTokens_Seed002(t *testing.T) {
	ts := start(t, api.Config{})
	hello := fixture(t, "hello")
	acme := ts.issue(ts.Admin, `{"ten":"acme"}`)
	beta := ts.issue(ts.Admin, map[string]string{"ten": "beta"})
	if c := ts.claims(acme); c.Containers != "acme" || c.Depth != 9 || len(c.Ancestors) != 1 {
		t.Fatalf("tenant claims = %+v", c)
	}

	put := func(tok, path string) response {
		return ts.req("PUT", path, tok, hello, "Content-Type: application/wasm")
	}
	// The tenant manages its own container: create, update, get, list, run, logs, delete.
	if r := put(acme, "/api/webtask/acme/hello"); r.Status != 200 {
		t.Fatalf("tenant create = %d %s", r.Status, r.Body)
	}
	if r := put(acme, "/api/webtask/acme/hello"); r.Status != 200 {
		t.Fatalf("tenant update = %d %s", r.Status, r.Body)
	}
	if r := ts.req("GET", "/api/webtask/acme/hello", acme, nil); r.Status != 200 {
		t.Fatalf("tenant get = %d %s", r.Status, r.Body)
	}
	if r := ts.req("GET", "/api/webtask/acme", acme, nil); r.Status != 200 || !bytes.Contains(r.Body, []byte(`"hello"`)) {
		t.Fatalf("tenant list = %d %s", r.Status, r.Body)
	}
	if r := ts.req("GET", "/api/run/acme/hello", "", nil); r.Status != 200 {
		t.Fatalf("run = %d %s", r.Status, r.Body)
	}
	logs := logStream(t, ts, "acme", acme)
	logs.Close()
	// It issues narrower tokens for its container, and nothing wider.
	narrow := ts.issue(acme, `{"ten":"acme","dd":1,"lm":100}`)
	if r := ts.req("GET", "/api/webtask/acme", narrow, nil); r.Status != 200 {
		t.Fatalf("narrower token list = %d %s", r.Status, r.Body)
	}
	wantError(t, ts.issueResp(acme, `{"ten":"beta"}`), 403, `ten: container "beta"`)
	wantError(t, ts.issueResp(acme, `{"ten":"acme,beta"}`), 403, "ten")
	wantError(t, ts.issueResp(acme, `{"ten":"/.*/"}`), 403, "ten")

	// Anything on another tenant's container is refused, without saying whose it is.
	put(beta, "/api/webtask/beta/hello")
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/webtask/beta"}, {"GET", "/api/webtask/beta/hello"}, {"PUT", "/api/webtask/beta/x"},
		{"DELETE", "/api/webtask/beta/hello"}, {"GET", "/api/logs/tenant/beta"},
	} {
		r := ts.req(tc.method, tc.path, acme, hello)
		wantError(t, r, 403, "does not grant access to container beta")
		if bytes.Contains(r.Body, []byte("acme")) {
			t.Errorf("%s %s: message names the caller's own containers: %s", tc.method, tc.path, r.Body)
		}
	}
	if r := ts.req("GET", "/api/run/beta/hello", "", nil); r.Status != 200 {
		t.Fatalf("named run URLs stay public: %d", r.Status)
	}
	// The master token can do all.
	if r := ts.req("GET", "/api/webtask/beta", ts.Admin, nil); r.Status != 200 {
		t.Fatalf("admin list beta = %d", r.Status)
	}
	if r := ts.req("DELETE", "/api/webtask/acme/hello", acme, nil); r.Status != 204 {
		t.Fatalf("tenant delete = %d %s", r.Status, r.Body)
	}
}

func logStream(t *testing.T, ts *testServer, container, tok string) interface{ Close() error } {
	t.Helper()
	req, _ := http.NewRequest("GET", ts.URL+"/api/logs/tenant/"+container, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		res.Body.Close()
		t.Fatalf("logs = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	return res.Body
}

// TestTokens_Cases is the table of token cases through the real server:
// each bad token or claim gets its status and a message that explains it,
// and no message leaks a secret or another tenant's name.
func TestTokens_Cases(t *testing.T) {
	ms := serveModules(t, map[string][]byte{"echo.wasm": fixture(t, "echo")})
	ts := start(t, api.Config{FetchAllow: []string{ms.host()}})
	const other = "zeta-corp" // another tenant: never named unless the caller named it
	hello := fixture(t, "hello")
	ts.upload("acme", "hello", hello, "")
	ts.upload(other, "priv", fixture(t, "counter"), "")
	privSHA := engine.SHA256(fixture(t, "counter"))
	helloSHA := engine.SHA256(hello)

	tenant := ts.issue(ts.Admin, `{"ten":"acme","exp":`+strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)+`,"lm":1000}`)
	leaf := ts.issue(tenant, `{"dd":0}`)
	code := ts.issue(tenant, `{"url":"sha256:`+helloSHA+`"}`)
	selfish := ts.issue(tenant, `{"dr":1}`)
	victim := ts.issue(ts.Admin, `{"ten":"acme"}`)
	victimChild := ts.issue(victim, `{}`)
	revoked := ts.issue(tenant, `{}`)
	if r := ts.req("POST", "/api/tokens/revoke", tenant, []byte(revoked)); r.Status != 200 {
		t.Fatalf("revoke = %d %s", r.Status, r.Body)
	}
	if r := ts.req("POST", "/api/tokens/revoke?token="+victim, ts.Admin, nil); r.Status != 200 {
		t.Fatalf("revoke = %d %s", r.Status, r.Body)
	}

	sg := ts.signer()
	now := time.Now()
	forge := func(c *token.Claims) string {
		raw, err := sg.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	expired := forge(&token.Claims{Depth: 3, ExpiresAt: now.Add(-time.Minute).Unix()})
	early := forge(&token.Claims{Depth: 3, NotBefore: now.Add(time.Hour).Unix()})
	// A secret-carrying token re-signed with a flipped ectx byte: the
	// signature is good, the ciphertext does not open.
	withSecret := ts.claims(ts.issue(tenant, `{"code":"`+ctxWasm+`","ectx":{"s":"`+secret+`"}}`))
	b := []byte(withSecret.EncryptedContext)
	if b[5] == 'A' { // another base64url letter: decodes, does not open
		b[5] = 'B'
	} else {
		b[5] = 'A'
	}
	withSecret.EncryptedContext = string(b)
	tampered := forge(withSecret)
	// Foreign and unsigned tokens.
	foreignKeys, _ := keys.Generate()
	foreignKID := token.NewSigner(foreignKeys)
	unknownKID, _ := foreignKID.Sign(&token.Claims{Depth: 3})
	kid := ts.claims(ts.Admin) // any valid token; we only need the kid from the header
	_ = kid
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(ts.Admin, ".")[0])
	var h map[string]any
	json.Unmarshal(hdr, &h)
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"`+h["kid"].(string)+`"}`)) + "." +
		strings.Split(ts.Admin, ".")[1] + "."
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rs := jwt.NewWithClaims(jwt.SigningMethodRS256, &token.Claims{ID: "x", Depth: 9})
	rs.Header["kid"] = h["kid"]
	rsToken, _ := rs.SignedString(rsaKey)
	forged := ts.Admin[:len(ts.Admin)-4] + "AAAA"

	issue := func(claims string) (string, string, []byte, []string) {
		return "POST", "/api/tokens/issue", []byte(claims), []string{"Content-Type: application/json"}
	}
	type tcase struct {
		name   string
		method string
		path   string
		token  string
		body   []byte
		hdr    []string
		status int
		msg    string
	}
	mk := func(name, tok string, status int, msg string, m, p string, body []byte, hdr []string) tcase {
		return tcase{name, m, p, tok, body, hdr, status, msg}
	}
	iss := func(name, tok, claims string, status int, msg string) tcase {
		m, p, b, h := issue(claims)
		return mk(name, tok, status, msg, m, p, b, h)
	}
	list := func(name, tok string, status int, msg string) tcase {
		return mk(name, tok, status, msg, "GET", "/api/webtask/acme", nil, nil)
	}
	tests := []tcase{
		// Who is calling: 401.
		iss("no token", "", `{}`, 401, "missing token"),
		iss("garbage token", "garbage", `{}`, 401, "malformed"),
		iss("forged signature", forged, `{}`, 401, "signature is invalid"),
		iss("alg none", none, `{}`, 401, "not HS256"),
		iss("RS256 instead of HS256", rsToken, `{}`, 401, "not HS256"),
		iss("unknown kid", unknownKID, `{}`, 401, "unknown key id"),
		list("expired", expired, 401, "expired"),
		list("not yet valid", early, 401, "not valid before"),
		list("revoked", revoked, 401, "revoked"),
		list("ancestor revoked", victimChild, 401, "revoked"),
		mk("tampered ectx ciphertext", tampered, 401, "ectx) cannot be decrypted", "GET", "/api/run/acme", nil, nil),
		// What the token may do: 403.
		list("tenant token, own container", tenant, 200, ""),
		mk("tenant token, other container", tenant, 403, "container "+other, "GET", "/api/webtask/"+other, nil, nil),
		mk("code token, management", code, 403, "only runs code", "GET", "/api/webtask/acme", nil, nil),
		mk("code token, other container", code, 403, "container "+other, "GET", "/api/run/"+other, nil, nil),
		iss("wider ten", tenant, `{"ten":"`+other+`"}`, 403, "ten"),
		iss("wider dd", tenant, `{"dd":9}`, 403, "dd"),
		iss("dd 0 cannot issue", leaf, `{}`, 403, "dd"),
		iss("later exp", tenant, `{"exp":`+strconv.FormatInt(now.Add(2*time.Hour).Unix(), 10)+`}`, 403, "exp"),
		iss("higher container limit", tenant, `{"lm":1001}`, 403, "lm"),
		iss("child of code token, other code", code, `{"url":"sha256:`+privSHA+`"}`, 403, "url"),
		iss("url host not allowed", tenant, `{"url":"http://10.0.0.1/x.wasm"}`, 403, "fetch-allow"),
		mk("dr: may not revoke itself", selfish, 403, "dr", "POST", "/api/tokens/revoke", nil, nil),
		mk("revoke a token one did not issue", leaf, 403, "only the token itself", "POST", "/api/tokens/revoke?token="+tenant, nil, nil),
		mk("admin revokes itself", ts.Admin, 403, "admin token cannot revoke itself", "POST", "/api/tokens/revoke", nil, nil),
		mk("decrypt by a non-ancestor", leaf, 403, "decrypt", "GET", "/api/tokens/inspect?decrypt=1&token="+ts.issue(tenant, `{"code":"`+ctxWasm+`","ectx":{"s":"x"}}`), nil, nil),
		// What the claims say: 400.
		iss("invalid regex in ten", ts.Admin, `{"ten":"/[a-/"}`, 400, "invalid regular expression"),
		iss("regex too long", ts.Admin, `{"ten":"/`+strings.Repeat("a", 300)+`/"}`, 400, "longer than 256"),
		iss("negative limit", tenant, `{"ls":-1}`, 400, "ls must be between 0"),
		iss("huge limit", tenant, `{"ltd":10000000000}`, 400, "ltd must be between 0"),
		iss("limit of the wrong type", tenant, `{"lh":"five"}`, 400, "claim lh must be an integer"),
		iss("unknown claim", tenant, `{"tne":"acme"}`, 400, `unknown claim "tne"`),
		iss("server claim", tenant, `{"jti":"00"}`, 400, "jti is set by the server"),
		iss("not JSON", tenant, `{"ten":`, 400, "one JSON object"),
		iss("file url", tenant, `{"url":"file:///etc/passwd"}`, 400, "only http"),
		iss("url and code", tenant, `{"url":"sha256:`+helloSHA+`","code":"`+ctxWasm+`"}`, 400, "mutually exclusive"),
		iss("another tenant's module", tenant, `{"url":"sha256:`+privSHA+`"}`, 400, "no module"),
		iss("ectx without fixed code", tenant, `{"ectx":{"k":"`+secret+`"}}`, 400, "ectx needs url, code or jtn"),
		iss("code that is not a module", tenant, `{"code":"`+base64.StdEncoding.EncodeToString([]byte("\x00asm\x01\x00\x00\x00\xff"))+`"}`, 400, "code"),
		iss("nbf after exp", tenant, `{"nbf":`+strconv.FormatInt(now.Add(time.Minute).Unix(), 10)+`,"exp":`+strconv.FormatInt(now.Add(30*time.Second).Unix(), 10)+`}`, 400, "nbf must be before exp"),
		mk("inspect a forged token", tenant, 400, "signature", "GET", "/api/tokens/inspect?token="+forged, nil, nil),
		mk("run without fixed code, GET", tenant, 400, "POST a Wasm module", "GET", "/api/run/acme", nil, nil),
		mk("run without fixed code, JavaScript without an engine", tenant, 501, "no JavaScript engine", "POST", "/api/run/acme", []byte("hello"), nil),
		mk("run without fixed code, empty body", tenant, 400, "it is empty", "POST", "/api/run/acme", nil, nil),
		// The wrong verb or path.
		mk("issue with GET", tenant, 405, "use POST", "GET", "/api/tokens/issue", nil, nil),
		mk("unknown token API", tenant, 404, "issue, revoke or inspect", "GET", "/api/tokens/other", nil, nil),
	}
	if len(tests) < 25 {
		t.Fatalf("only %d cases", len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.req(tc.method, tc.path, tc.token, tc.body, tc.hdr...)
			if tc.status == 200 {
				if r.Status != 200 {
					t.Fatalf("status = %d %s", r.Status, r.Body)
				}
				return
			}
			wantError(t, r, tc.status, tc.msg)
			if bytes.Contains(r.Body, []byte(secret)) {
				t.Errorf("a secret leaked: %s", r.Body)
			}
			if !strings.Contains(tc.path+string(tc.body), other) && bytes.Contains(r.Body, []byte(other)) {
				t.Errorf("another tenant's name leaked: %s", r.Body)
			}
		})
	}
}

// TestTokens_RevocationCascade revokes a tenant token: every token issued
// from it and the webtasks it created stop at once and after a restart;
// siblings keep working.
func TestTokens_RevocationCascade(t *testing.T) {
	data := t.TempDir()
	ts := start(t, api.Config{DataDir: data, CacheDir: sharedCache})
	tenant := ts.issue(ts.Admin, `{"ten":"acme"}`)
	sibling := ts.issue(ts.Admin, `{"ten":"acme"}`)
	child := ts.issue(tenant, `{"dd":3}`)
	grandchild := ts.issue(child, `{"code":"`+ctxWasm+`","ectx":{"s":"x"}}`)
	if r := ts.req("PUT", "/api/webtask/acme/hello", child, fixture(t, "hello")); r.Status != 200 {
		t.Fatalf("create = %d %s", r.Status, r.Body)
	}
	sibW := ts.req("PUT", "/api/webtask/acme/sib", sibling, ctxModule(t))
	if sibW.Status != 200 {
		t.Fatalf("create = %d %s", sibW.Status, sibW.Body)
	}
	jtn, _ := sibW.JSON(t)["token"].(string)
	if c := ts.claims(jtn); c.WebtaskName != "sib" || c.Containers != "acme" || c.Depth != 0 || !c.HasAncestor(ts.claims(sibling).ID) {
		t.Fatalf("webtask token claims = %+v", c)
	}
	works := func(ts *testServer) {
		t.Helper()
		if r := ts.req("GET", "/api/run/acme", grandchild, nil); r.Status != 200 {
			t.Fatalf("before revocation: code run = %d %s", r.Status, r.Body)
		}
		if r := ts.req("GET", "/api/run/acme/hello", "", nil); r.Status != 200 {
			t.Fatalf("before revocation: webtask run = %d %s", r.Status, r.Body)
		}
	}
	works(ts)
	// A child may not revoke its parent.
	wantError(t, ts.req("POST", "/api/tokens/revoke?token="+tenant, child, nil), 403, "only the token itself")

	// The tenant revokes itself (no dr).
	r := ts.req("POST", "/api/tokens/revoke", tenant, nil)
	if r.Status != 200 || r.JSON(t)["jti"] != ts.claims(tenant).ID {
		t.Fatalf("self-revoke = %d %s", r.Status, r.Body)
	}
	stopped := func(ts *testServer) {
		t.Helper()
		for _, tok := range []string{tenant, child, grandchild} {
			wantError(t, ts.req("GET", "/api/run/acme", tok, nil), 401, "revoked")
		}
		wantError(t, ts.req("GET", "/api/webtask/acme", child, nil), 401, "revoked")
		wantError(t, ts.req("GET", "/api/run/acme/hello", "", nil), 401, "revoked")
		if r := ts.req("GET", "/api/run/acme/sib", "", nil); r.Status != 200 {
			t.Fatalf("sibling's webtask = %d %s", r.Status, r.Body)
		}
		if r := ts.req("GET", "/api/webtask/acme", sibling, nil); r.Status != 200 {
			t.Fatalf("sibling token = %d %s", r.Status, r.Body)
		}
		r := ts.req("GET", "/api/tokens/inspect?token="+grandchild, ts.Admin, nil)
		if r.Status != 200 || r.JSON(t)["revoked"] != true {
			t.Fatalf("inspect revoked = %d %s", r.Status, r.Body)
		}
	}
	stopped(ts)
	// Revoking again is fine; the target may come as JSON.
	if r := ts.req("POST", "/api/tokens/revoke", ts.Admin, []byte(`{"token":"`+child+`"}`)); r.Status != 200 {
		t.Fatalf("revoke twice = %d %s", r.Status, r.Body)
	}
	// Durable: after a restart nothing comes back.
	ts.Server.Close()
	stopped(start(t, api.Config{DataDir: data, CacheDir: sharedCache}))
}

// TestTokens_RateLimits: token and container limits answer 429 with
// Retry-After; the webtasks a tenant creates inherit its container limits;
// hour counters survive a restart.
func TestTokens_RateLimits(t *testing.T) {
	data := t.TempDir()
	ts := start(t, api.Config{DataDir: data, CacheDir: sharedCache})
	ts.upload("acme", "ctx", ctxModule(t), "")
	sha := engine.SHA256(ctxModule(t))

	perToken := ts.issue(ts.Admin, `{"url":"sha256:`+sha+`","lts":2}`)
	for i := 0; i < 2; i++ {
		if r := ts.req("GET", "/api/run/acme", perToken, nil); r.Status != 200 {
			// A second boundary may fall between requests; then the
			// counter started over, which is fine.
			t.Fatalf("request %d = %d %s", i, r.Status, r.Body)
		}
	}
	r := ts.req("GET", "/api/run/acme", perToken, nil)
	if r.Status == 429 {
		wantError(t, r, 429, "lts")
		if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra != 1 {
			t.Fatalf("Retry-After = %q", r.Header.Get("Retry-After"))
		}
	}

	// Container limit on a tenant: its webtasks and its code tokens share it.
	tenant := ts.issue(ts.Admin, `{"ten":"beta","lh":3}`)
	if r := ts.req("PUT", "/api/webtask/beta/ctx", tenant, ctxModule(t)); r.Status != 200 {
		t.Fatalf("create = %d %s", r.Status, r.Body)
	}
	codeTok := ts.issue(tenant, `{"url":"sha256:`+sha+`"}`)
	for _, run := range []func() response{
		func() response { return ts.req("GET", "/api/run/beta/ctx", "", nil) },
		func() response { return ts.req("GET", "/api/run/beta", codeTok, nil) },
		func() response { return ts.req("GET", "/api/run/beta/ctx", "", nil) },
	} {
		if r := run(); r.Status != 200 {
			t.Fatalf("within the limit = %d %s", r.Status, r.Body)
		}
	}
	r = ts.req("GET", "/api/run/beta/ctx", "", nil)
	wantError(t, r, 429, "3 requests per hour for this container (claim lh)")
	if ra, _ := strconv.Atoi(r.Header.Get("Retry-After")); ra < 1 || ra > 3600 {
		t.Fatalf("Retry-After = %q", r.Header.Get("Retry-After"))
	}
	wantError(t, ts.req("GET", "/api/run/beta", codeTok, nil), 429, "lh")
	// Other containers are not affected.
	if r := ts.req("GET", "/api/run/acme/ctx", "", nil); r.Status != 200 {
		t.Fatalf("other container = %d", r.Status)
	}
	// The hour counter survives a restart (Close flushes it).
	ts.Server.Close()
	ts2 := start(t, api.Config{DataDir: data, CacheDir: sharedCache})
	wantError(t, ts2.req("GET", "/api/run/beta/ctx", "", nil), 429, "lh")
}

// TestTokens_CodeFixed runs code fixed by tokens: inline code, an uploaded
// module by hash, a module fetched over HTTP, a named webtask (jtn), and a
// module posted with the request; with params, secrets and body parsing.
func TestTokens_CodeFixed(t *testing.T) {
	echo := fixture(t, "echo")
	ms := serveModules(t, map[string][]byte{"echo.wasm": echo, "big.wasm": make([]byte, len(echo)+2000), "bad.wasm": []byte("\x00asm\x01\x00\x00\x00\xff")})
	ts := start(t, api.Config{FetchAllow: []string{ms.host()}, MaxModuleBytes: len(echo) + 1000})
	ts.upload("acme", "echo", echo, "?secret=stored:s1&secret=shared:from-webtask")
	tenant := ts.issue(ts.Admin, `{"ten":"acme","pctx":{"plan":"gold"}}`)

	// Inline code, with pctx, ectx, pb and mb.
	inline := ts.issue(tenant, `{"code":"`+ctxWasm+`","pctx":{"p":"param","name":"from-pctx"},"ectx":{"s":"hidden"},"pb":1,"mb":1,"meta":{"m":"1"}}`)
	c := decodeCtx(t, ts.req("POST", "/api/run/acme?name=query&q=1", inline, []byte(`{"name":"body","b":"2","n":3,"s":"body-s"}`), "Content-Type: application/json"))
	checks := []struct{ what, got, want string }{
		{"params.p", c.Params["p"], "param"},
		{"params.plan (inherited)", c.Params["plan"], "gold"},
		{"secrets.s", c.Secrets["s"], "hidden"},
		{"data.name (pctx wins over query and body)", c.Data["name"], "from-pctx"},
		{"data.q (query)", c.Data["q"], "1"},
		{"data.b (merged body)", c.Data["b"], "2"},
		{"data.n (merged body, JSON text)", c.Data["n"], "3"},
		{"data.s (secret wins over body)", c.Data["s"], "hidden"},
		{"meta.m", c.Meta["m"], "1"},
		{"container", c.Container, "acme"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %q, want %q", ck.what, ck.got, ck.want)
		}
	}
	wantError(t, ts.req("POST", "/api/run/acme", inline, []byte(`{"broken`), "Content-Type: application/json"), 400, "not valid JSON")
	c = decodeCtx(t, ts.req("POST", "/api/run/acme", inline, []byte(`b=form&q=x`), "Content-Type: application/x-www-form-urlencoded"))
	if c.Data["b"] != "form" || c.Data["q"] != "x" {
		t.Errorf("form body merge: data = %v", c.Data)
	}

	// An uploaded module by hash.
	byHash := ts.issue(tenant, `{"url":"sha256:`+engine.SHA256(echo)+`","ectx":{"shared":"from-token"}}`)
	e := decodeEcho(t, ts.req("GET", "/api/run/acme?x=1", byHash, nil))
	if e.Secrets["shared"] != "from-token" || e.Name != "" || e.Data["x"] != "1" || e.Params["plan"] != "gold" {
		t.Errorf("sha256 run: %+v", e)
	}

	// A named webtask (jtn): the webtask's stored secrets, the token's ectx over them.
	named := ts.issue(tenant, `{"jtn":"echo","ectx":{"shared":"from-token"}}`)
	e = decodeEcho(t, ts.req("GET", "/api/run/acme", named, nil))
	if e.Name != "echo" || e.Secrets["stored"] != "s1" || e.Secrets["shared"] != "from-token" {
		t.Errorf("jtn run: %+v", e)
	}
	wantError(t, ts.req("GET", "/api/run/acme", ts.issue(tenant, `{"jtn":"nothing"}`), nil), 404, "no webtask nothing")

	// Fetched over HTTP: cached by hash, failures are 502 and not cached.
	fetched := ts.issue(tenant, `{"url":"`+ms.URL+`/echo.wasm"}`)
	for i := 0; i < 3; i++ {
		decodeEcho(t, ts.req("GET", "/api/run/acme", fetched, nil))
	}
	if n := ms.hits.Load(); n != 1 {
		t.Errorf("fetched %d times, want 1", n)
	}
	for _, tc := range []struct{ path, msg string }{
		{"/missing.wasm", "HTTP 404"},
		{"/redirect", "redirects are not followed"},
		{"/big.wasm", "larger than the limit"},
		{"/bad.wasm", "not usable"},
	} {
		tok := ts.issue(tenant, `{"url":"`+ms.URL+tc.path+`"}`)
		wantError(t, ts.req("GET", "/api/run/acme", tok, nil), 502, tc.msg)
	}
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "http://" + closed.Addr().String() + "/x.wasm"
	closed.Close()
	ts2 := start(t, api.Config{FetchAllow: []string{"127.0.0.1"}})
	wantError(t, ts2.req("GET", "/api/run/acme", ts2.issue(ts2.Admin, `{"url":"`+deadURL+`"}`), nil), 502, "cannot be reached")

	// A module posted with the request, by a token that fixes no code.
	c = decodeCtx(t, ts.req("POST", "/api/run/acme?a=1", tenant, ctxModule(t), "Content-Type: application/wasm"))
	if c.Data["a"] != "1" || c.Body != nil || c.Params["plan"] != "gold" {
		t.Errorf("posted module: %+v", c)
	}
	wantError(t, ts.req("POST", "/api/run/acme", tenant, []byte("\x00asm\x01\x00\x00\x00\xff")), 400, "invalid")

	// A removed module stops the tokens that name it.
	if r := ts.req("DELETE", "/api/webtask/acme/echo", ts.Admin, nil); r.Status != 204 {
		t.Fatal(r.Status)
	}
	wantError(t, ts.req("GET", "/api/run/acme", byHash, nil), 404, "no longer deployed")
}

// TestTokens_NamedWebtask: a webtask carries a jtn token issued from the
// token that created it, with params and body parsing from the upload.
func TestTokens_NamedWebtask(t *testing.T) {
	ts := start(t, api.Config{})
	tenant := ts.issue(ts.Admin, `{"ten":"acme","lts":100}`)
	r := ts.req("PUT", "/api/webtask/acme/ctx?param=region:eu&mb=1", tenant, ctxModule(t), "Content-Type: application/wasm")
	if r.Status != 200 {
		t.Fatalf("create = %d %s", r.Status, r.Body)
	}
	tok := r.JSON(t)["token"].(string)
	c := ts.claims(tok)
	if c.WebtaskName != "ctx" || c.Containers != "acme" || c.PublicContext["region"] != "eu" || c.MergeBody != 1 ||
		c.TokenLimitSecond != 100 || c.Ancestors[len(c.Ancestors)-1] != ts.claims(tenant).ID {
		t.Fatalf("webtask token = %+v", c)
	}
	if g := ts.req("GET", "/api/webtask/acme/ctx", tenant, nil); g.JSON(t)["token"] != tok {
		t.Fatalf("get does not show the token: %s", g.Body)
	}
	// Public run: params and merged body from the webtask's token.
	got := decodeCtx(t, ts.req("POST", "/api/run/acme/ctx", "", []byte(`{"x":"y"}`), "Content-Type: application/json"))
	if got.Params["region"] != "eu" || got.Data["x"] != "y" || got.Name != "ctx" {
		t.Fatalf("run = %+v", got)
	}
	// The same through /api/run/{container}?key=<webtask token>.
	got = decodeCtx(t, ts.req("GET", "/api/run/acme?key="+tok, "", nil))
	if got.Name != "ctx" || got.Params["region"] != "eu" {
		t.Fatalf("run by key = %+v", got)
	}
	// A webtask token runs; it does not manage.
	wantError(t, ts.req("GET", "/api/webtask/acme", tok, nil), 403, "only runs code")
	// JSON upload with params.
	body, _ := json.Marshal(map[string]any{"code": ctxWasm, "params": map[string]string{"k": "v"}, "pb": 1})
	if r := ts.req("PUT", "/api/webtask/acme/j", tenant, body, "Content-Type: application/json"); r.Status != 200 || ts.claims(r.JSON(t)["token"].(string)).PublicContext["k"] != "v" {
		t.Fatalf("JSON upload = %d %s", r.Status, r.Body)
	}
	wantError(t, ts.req("PUT", "/api/webtask/acme/k?pb=2", tenant, ctxModule(t)), 400, "pb")
	// A token with dd 0 may still create webtasks in its container.
	leaf := ts.issue(tenant, `{"dd":0}`)
	if r := ts.req("PUT", "/api/webtask/acme/leaf", leaf, ctxModule(t)); r.Status != 200 {
		t.Fatalf("dd 0 create = %d %s", r.Status, r.Body)
	}
}

// TestTokens_CodePoolsHammer runs many code tokens concurrently through a
// server that keeps only two code pools, so pools are evicted while in use.
func TestTokens_CodePoolsHammer(t *testing.T) {
	ts := start(t, api.Config{CodePools: 2})
	var toks []string
	for i := 0; i < 5; i++ {
		toks = append(toks, ts.issue(ts.Admin, `{"code":"`+ctxWasm+`","pctx":{"i":"`+strconv.Itoa(i)+`"}}`))
	}
	errs := make(chan string, 64)
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func(g int) {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 15; i++ {
				n := (g + i) % len(toks)
				r := ts.req("GET", "/api/run/acme", toks[n], nil)
				var c ctxJSON
				if r.Status != 200 || json.Unmarshal(r.Body, &c) != nil || c.Params["i"] != strconv.Itoa(n) {
					errs <- strconv.Itoa(r.Status) + " " + string(r.Body)
					return
				}
			}
		}(g)
	}
	for g := 0; g < 4; g++ {
		<-done
	}
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestTokens_WebtaskRunsAsUploader: a named webtask runs as its own token,
// issued from the uploader's, however it is called: revoking the uploader
// stops it by its public URL and by every jtn token, and the uploader's
// limits count every run. Secrets go to one container; a token limit holds
// across a token's children (issue 10).
func TestTokens_WebtaskRunsAsUploader(t *testing.T) {
	ts := start(t, api.Config{})
	up := ts.issue(ts.Admin, `{"ten":"acme","lh":2}`)
	if r := ts.req("PUT", "/api/webtask/acme/job", up, ctxModule(t)); r.Status != 200 {
		t.Fatalf("create = %d %s", r.Status, r.Body)
	}
	outsider := ts.issue(ts.Admin, `{"ten":"acme","jtn":"job"}`) // not from the uploader, no limits
	if r := ts.req("GET", "/api/run/acme/job", "", nil); r.Status != 200 {
		t.Fatalf("public run = %d %s", r.Status, r.Body)
	}
	if r := ts.req("GET", "/api/run/acme", outsider, nil); r.Status != 200 {
		t.Fatalf("jtn run = %d %s", r.Status, r.Body)
	}
	wantError(t, ts.req("GET", "/api/run/acme", outsider, nil), 429, "lh")
	wantError(t, ts.req("GET", "/api/run/acme/job", "", nil), 429, "lh")
	if r := ts.req("POST", "/api/tokens/revoke?token="+up, ts.Admin, nil); r.Status != 200 {
		t.Fatal(r.Status)
	}
	wantError(t, ts.req("GET", "/api/run/acme/job", "", nil), 401, "revoked")
	wantError(t, ts.req("GET", "/api/run/acme", outsider, nil), 401, "revoked")
	wantError(t, ts.issueResp(ts.Admin, `{"ten":"acme,mallory","jtn":"job","ectx":{"k":"v"}}`), 400, "exactly one container")

	kid := ts.issue(ts.Admin, `{"ten":"acme","lth":2}`)
	sha := engine.SHA256(ctxModule(t))
	ts.upload("acme", "ctx", ctxModule(t), "")
	n := 0
	for i := 0; i < 3; i++ {
		if ts.req("GET", "/api/run/acme", ts.issue(kid, `{"url":"sha256:`+sha+`"}`), nil).Status == 200 {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("three children of an lth=2 token made %d runs, want 2", n)
	}
}
