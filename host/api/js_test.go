package api_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/host/api"
)

// The tests below run JavaScript webtasks on the engine `make guests`
// builds (guests/build/js/engine.wasm, not committed): they skip without
// it, and fail with CI=true, where make test has built it.

// jsEngine returns the engine's path, or skips the test.
func jsEngine(t testing.TB) string {
	t.Helper()
	p := filepath.Join(guestsDir(), "js", "engine.wasm")
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the JavaScript engine is not built: run make guests (%v)", err)
		}
		t.Skipf("the JavaScript engine is not built: run make guests (%v)", err)
	}
	return p
}

// The three versions of seed 001's webtask, character for character.
const (
	seed001Simple = `module.exports = function(context, cb) {
  if(context.query.secret !== 'open-sesame') {
    cb(new Error('Not Authorized'));
  } else {
    cb(null, { question: 'Am I secure?', answer: 'Yes!' });
  }
};
`
	seed001Raw = `module.exports = function(context, request, response) {
  if(context.query.secret !== 'open-sesame') {
    response.writeHead(403);
    response.end();
  } else {
    response.writeHead(200, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify({ question: 'Am I secure?', answer: 'Yes!' }));
  }
};
`
	seed001Secrets = `module.exports = function(context, request, response) {
  if(context.query.secret !== context.secrets['auth-secret']) {
    response.writeHead(403);
    response.end();
  } else {
    response.writeHead(200, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify({ question: 'Am I secure?', answer: 'Yes!' }));
  }
};
`
)

// uploadJS PUTs JavaScript as a raw application/javascript body and
// requires success.
func (ts *testServer) uploadJS(container, name, src, query string) map[string]any {
	ts.t.Helper()
	r := ts.req("PUT", "/api/webtask/"+container+"/"+name+query, ts.Admin, []byte(src), "Content-Type: application/javascript")
	if r.Status != 200 && r.Status != 201 {
		ts.t.Fatalf("upload %s/%s: %d %s", container, name, r.Status, r.Body)
	}
	return r.JSON(ts.t)
}

// TestE2E_JSSeed001 runs the three versions of seed 001 as JavaScript,
// uploaded raw and as JSON, in both programming models.
func TestE2E_JSSeed001(t *testing.T) {
	ts := start(t, api.Config{JSEngine: jsEngine(t)})
	info := ts.uploadJS("acme", "simple", seed001Simple, "")
	if info["language"] != "javascript" {
		t.Errorf("language = %v, want javascript", info["language"])
	}
	ts.uploadJS("acme", "raw", seed001Raw, "")
	body, _ := json.Marshal(map[string]any{"code": seed001Secrets, "secrets": map[string]string{"auth-secret": "s3cr3t"}})
	if r := ts.req("PUT", "/api/webtask/acme/secrets", ts.Admin, body, "Content-Type: application/json"); r.Status != 200 {
		t.Fatalf("JSON upload = %d %s", r.Status, r.Body)
	}
	const yes = `{"question":"Am I secure?","answer":"Yes!"}`
	tests := []struct {
		name, path string
		status     int
		body       string
	}{
		{"simple, wrong key", "/api/run/acme/simple?secret=wrong-key", 400, `{"code":400,"error":"Script returned an error.","message":"Not Authorized"}`},
		{"simple, right key", "/api/run/acme/simple?secret=open-sesame", 200, yes},
		{"raw, wrong key", "/api/run/acme/raw?secret=wrong-key", 403, ""},
		{"raw, right key", "/api/run/acme/raw?secret=open-sesame", 200, yes},
		{"secrets, wrong key", "/api/run/acme/secrets?secret=open-sesame", 403, ""},
		{"secrets, right key", "/api/run/acme/secrets?secret=s3cr3t", 200, yes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.req("GET", tt.path, "", nil)
			if r.Status != tt.status || string(r.Body) != tt.body {
				t.Fatalf("%d %s; want %d %s", r.Status, r.Body, tt.status, tt.body)
			}
			if src := r.Header.Get("x-wt-response-source"); src != "webtask" {
				t.Errorf("x-wt-response-source = %q", src)
			}
			if tt.status == 200 && r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("content-type = %q", r.Header.Get("Content-Type"))
			}
		})
	}
	if r := ts.req("GET", "/api/webtask/acme/raw", ts.Admin, nil); r.Status != 200 || r.JSON(t)["language"] != "javascript" {
		t.Fatalf("get = %d %s", r.Status, r.Body)
	}
}

// TestE2E_JSUploads: how code is told apart (from the bytes, never the
// name), and what a broken upload gets.
func TestE2E_JSUploads(t *testing.T) {
	ts := start(t, api.Config{JSEngine: jsEngine(t)})
	wasm := fixture(t, "shared-secret-simple")

	t.Run("JSON base64 wasm is wasm", func(t *testing.T) {
		body, _ := json.Marshal(map[string]string{"code": base64.StdEncoding.EncodeToString(wasm)})
		r := ts.req("PUT", "/api/webtask/acme/w", ts.Admin, body, "Content-Type: application/json")
		if r.Status != 200 || r.JSON(t)["language"] != "wasm" {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("wasm sent as javascript is wasm", func(t *testing.T) {
		r := ts.req("PUT", "/api/webtask/acme/w2", ts.Admin, wasm, "Content-Type: application/javascript")
		if r.Status != 200 || r.JSON(t)["language"] != "wasm" {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("a syntax error names line and column, nothing stored", func(t *testing.T) {
		src := "module.exports = function (ctx, cb) {\n  cb(null, {a: });\n};\n"
		for _, ct := range []string{"application/javascript", "text/javascript; charset=utf-8"} {
			r := ts.req("PUT", "/api/webtask/acme/bad", ts.Admin, []byte(src), "Content-Type: "+ct)
			wantError(t, r, 400, "SyntaxError")
			t.Logf("%s", r.Body)
			if m := r.JSON(t); m["error"] != "invalid_module" || !strings.Contains(m["message"].(string), "(webtask.js:2:") {
				t.Fatalf("%s", r.Body)
			}
		}
		body, _ := json.Marshal(map[string]string{"code": src})
		wantError(t, ts.req("PUT", "/api/webtask/acme/bad", ts.Admin, body), 400, "(webtask.js:2:")
		wantError(t, ts.req("GET", "/api/webtask/acme/bad", ts.Admin, nil), 404, "no webtask bad")
	})
	t.Run("code that throws while evaluated", func(t *testing.T) {
		r := ts.req("PUT", "/api/webtask/acme/throws", ts.Admin, []byte("throw new Error('no config');\n"), "Content-Type: application/javascript")
		wantError(t, r, 400, "no config")
	})
	t.Run("a token's url naming a JavaScript webtask's source runs it", func(t *testing.T) {
		info := ts.uploadJS("acme", "byurl", "module.exports = function (ctx, cb) { cb(null, 1) }", "")
		tok := ts.issue(ts.Admin, `{"url":"sha256:`+info["sha256"].(string)+`"}`)
		for i := 0; i < 2; i++ { // the second run finds the code's pool
			if r := ts.req("GET", "/api/run/acme", tok, nil); r.Status != 200 || string(r.Body) != "1" {
				t.Fatalf("by url = %d %s", r.Status, r.Body)
			}
		}
		if r := ts.req("GET", "/api/run/acme/byurl", "", nil); r.Status != 200 {
			t.Fatalf("by name = %d %s", r.Status, r.Body)
		}
	})
	t.Run("fresh policy from meta", func(t *testing.T) {
		src := "var n = 0;\nmodule.exports = function (ctx, cb) { n++; cb(null, {n: n, name: ctx.query.name}); };\n"
		ts.uploadJS("acme", "fresh", src, "?meta=wt-instance:fresh")
		ts.uploadJS("acme", "pooled", src, "")
		for i := 1; i <= 3; i++ {
			if r := ts.req("GET", "/api/run/acme/fresh?name=x", "", nil); r.Status != 200 || string(r.Body) != `{"n":1,"name":"x"}` {
				t.Fatalf("fresh run %d = %d %s", i, r.Status, r.Body)
			}
		}
		ts.req("GET", "/api/run/acme/pooled", "", nil)
		if r := ts.req("GET", "/api/run/acme/pooled", "", nil); r.Status != 200 || string(r.Body) != `{"n":2}` {
			t.Fatalf("pooled second run = %d %s", r.Status, r.Body)
		}
		if m := ts.req("GET", "/api/webtask/acme/fresh", ts.Admin, nil).JSON(t); m["policy"] != "fresh" {
			t.Fatalf("policy = %v", m["policy"])
		}
	})
}

// A runaway loop gets the wall-time limit's 504, and the webtask answers
// again afterwards.
func TestE2E_JSRunaway(t *testing.T) {
	cfg := api.Config{JSEngine: jsEngine(t)}
	cfg.Engine.Timeout = 2 * time.Second
	ts := start(t, cfg)
	ts.uploadJS("acme", "loop", "module.exports = function (ctx, cb) {\n  if (ctx.query.loop) { while(true){} }\n  cb(null, 'ok');\n};\n", "")
	wantError(t, ts.req("GET", "/api/run/acme/loop?loop=1", "", nil), 504, "")
	if r := ts.req("GET", "/api/run/acme/loop", "", nil); r.Status != 200 || string(r.Body) != `"ok"` {
		t.Fatalf("after the timeout = %d %s", r.Status, r.Body)
	}
}

// A JavaScript webtask survives a restart: it is loaded from the store on
// the engine, whose compiled code the start's cache sweep keeps.
func TestE2E_JSRestart(t *testing.T) {
	engine := jsEngine(t)
	data := t.TempDir()
	cache := filepath.Join(data, "cache") // its own: the start sweeps it
	a := start(t, api.Config{DataDir: data, CacheDir: cache, JSEngine: engine})
	a.uploadJS("acme", "hello", "module.exports = function (ctx, cb) { cb(null, {hello: ctx.query.name}) }", "?secret=k:v")
	a.uploadJS("acme", "secrets", seed001Secrets, "?secret=auth-secret:s3cr3t&meta=wt-instance:fresh")
	a.Server.Close()
	before := cacheFiles(t, cache)

	b := start(t, api.Config{DataDir: data, CacheDir: cache, JSEngine: engine})
	if r := b.req("GET", "/api/run/acme/hello?name=again", "", nil); r.Status != 200 || string(r.Body) != `{"hello":"again"}` {
		t.Fatalf("after restart = %d %s", r.Status, r.Body)
	}
	if r := b.req("GET", "/api/run/acme/secrets?secret=s3cr3t", "", nil); r.Status != 200 {
		t.Fatalf("after restart, secrets = %d %s", r.Status, r.Body)
	}
	after := cacheFiles(t, cache)
	for f := range before {
		if _, ok := after[f]; !ok {
			t.Errorf("the restart's cache sweep deleted %s (the engine's compiled code)", f)
		}
	}
	b.Server.Close()

	// Without the engine the webtask is still listed; running it says why not.
	c := start(t, api.Config{DataDir: data, CacheDir: cache})
	wantError(t, c.req("GET", "/api/run/acme/hello", "", nil), 501, "make guests")
	if m := c.req("GET", "/api/webtask/acme/hello", c.Admin, nil).JSON(t); m["language"] != "javascript" {
		t.Fatalf("language = %v", m["language"])
	}
}

// A server started without the engine refuses JavaScript with how to get
// it, and still takes wasm.
func TestE2E_JSDisabled(t *testing.T) {
	ts := start(t, api.Config{})
	src := []byte("module.exports = function (ctx, cb) { cb(null, 1) }")
	r := ts.req("PUT", "/api/webtask/acme/js", ts.Admin, src, "Content-Type: application/javascript")
	wantError(t, r, 501, "make guests")
	if m := r.JSON(t); m["error"] != "no_js_engine" {
		t.Fatalf("error = %v", m["error"])
	}
	body, _ := json.Marshal(map[string]string{"code": string(src)})
	wantError(t, ts.req("PUT", "/api/webtask/acme/js", ts.Admin, body), 501, "--js-engine")
	if m := ts.upload("acme", "w", fixture(t, "shared-secret-simple"), ""); m["language"] != "wasm" {
		t.Fatalf("language = %v", m["language"])
	}
}

// TestE2E_JSUploadCheck: esbuild's check at upload, which needs no
// engine — syntax errors with line:column and requires of modules that
// are not built in are refused, nothing stored — and the public list of
// built-in modules.
func TestE2E_JSUploadCheck(t *testing.T) {
	ts := start(t, api.Config{})
	t.Run("GET /api/js/modules, public", func(t *testing.T) {
		r := ts.req("GET", "/api/js/modules", "", nil)
		if r.Status != 200 || string(r.Body) != `{"modules":["body-parser","buffer","crypto","events","express","jsonwebtoken","querystring","request","timers","url","util","webtask-tools"]}` {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		wantError(t, ts.req("POST", "/api/js/modules", "", nil), 405, "use GET")
	})
	tests := []struct {
		name, src, msg string
	}{
		{"a syntax error", "module.exports = function (ctx, cb) {\n  cb(null, {a: });\n};\n",
			`the JavaScript code does not load: SyntaxError: Unexpected "}" (webtask.js:2:16)`},
		{"an unknown require", "var pad = require('left-pad');\nmodule.exports = function (ctx, cb) { cb(null, pad('x', 3)) };\n",
			`requires "left-pad", which is not a built-in module of this server (the built-in modules: body-parser, buffer, crypto, events, express, jsonwebtoken, querystring, request, timers, url, util, webtask-tools; GET /api/js/modules lists them)`},
		{"an ES module importing an unknown module", "import pad from 'left-pad';\nexport default function (ctx, cb) { cb(null, pad('x', 3)) };\n", `requires "left-pad"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.req("PUT", "/api/webtask/acme/bad", ts.Admin, []byte(tt.src), "Content-Type: application/javascript")
			wantError(t, r, 400, tt.msg)
			if m := r.JSON(t); m["error"] != "invalid_module" {
				t.Fatalf("error = %v", m["error"])
			}
			body, _ := json.Marshal(map[string]string{"code": tt.src})
			wantError(t, ts.req("PUT", "/api/webtask/acme/bad", ts.Admin, body), 400, tt.msg)
			wantError(t, ts.req("GET", "/api/webtask/acme/bad", ts.Admin, nil), 404, "no webtask bad")
		})
	}
}

// TestE2E_JSBuiltinModules: code requiring the built-in modules (also as
// node:NAME, and imported by an ES module) is accepted at upload and runs.
func TestE2E_JSBuiltinModules(t *testing.T) {
	ts := start(t, api.Config{JSEngine: jsEngine(t)})
	tests := []struct {
		name, src, query, body string
	}{
		{"CommonJS", `var EventEmitter = require('events'), util = require('util'), qs = require('querystring');
var url = require('url'), nodeURL = require('node:url');
module.exports = function (ctx, cb) {
  var e = new EventEmitter(), got = [];
  e.on('hit', function (v) { got.push(v); });
  e.emit('hit', util.format('%s=%d', 'n', 42));
  var u = url.parse('http://h.com/p?' + qs.stringify({ q: ctx.query.q }), true);
  cb(null, { got: got, q: u.query.q, same: url === nodeURL, host: new nodeURL.URL('https://Ex.com/a').host });
};
`, "?q=a+b", `{"got":["n=42"],"q":"a b","same":true,"host":"ex.com"}`},
		{"an ES module", `import { URL, URLSearchParams } from 'node:url';
import { EventEmitter } from 'events';
import util from 'node:util';
export default async function (ctx) {
  const sp = new URLSearchParams({ a: '1 2' });
  return { href: new URL('/x?' + sp, 'http://h').href, ee: typeof EventEmitter, inspect: util.inspect({ a: [1] }) };
}
`, "", `{"href":"http://h/x?a=1+2","ee":"function","inspect":"{ a: [ 1 ] }"}`},
	}
	for i, tt := range tests {
		name := "b" + strconv.Itoa(i)
		t.Run(tt.name, func(t *testing.T) {
			ts.uploadJS("acme", name, tt.src, "")
			if r := ts.req("GET", "/api/run/acme/"+name+tt.query, "", nil); r.Status != 200 || string(r.Body) != tt.body {
				t.Fatalf("%d %s; want 200 %s", r.Status, r.Body, tt.body)
			}
		})
	}
}

// TestE2E_JSModules runs ES modules (esbuild makes them CommonJS at
// upload): the source is what is stored and described, and what runs
// after a restart.
func TestE2E_JSModules(t *testing.T) {
	engine := jsEngine(t)
	data := t.TempDir()
	ts := start(t, api.Config{DataDir: data, CacheDir: filepath.Join(data, "cache"), JSEngine: engine})
	tests := []struct {
		name, src, query, body string
	}{
		{"export default (context, cb)", "export default function (ctx, cb) {\n  cb(null, {hello: ctx.query.name});\n}\n", "?name=esm", `{"hello":"esm"}`},
		{"export default async", "const greet = (n = 'you') => `hi ${n}`;\nexport default async function (ctx) {\n  return {greeting: greet(ctx.query.name)};\n}\n", "", `{"greeting":"hi you"}`},
		{"use latest, CommonJS", "'use latest';\nconst {a = 1, ...rest} = {b: 2};\nmodule.exports = async (ctx) => ({a, rest, n: ctx.query.n ?? 'none'});\n", "", `{"a":1,"rest":{"b":2},"n":"none"}`},
		{"export default (context, req, res)", "export default (ctx, req, res) => {\n  res.writeHead(200, {'Content-Type': 'text/plain'});\n  res.end('raw ' + req.method);\n};\n", "", "raw GET"},
	}
	for i, tt := range tests {
		name := "m" + strconv.Itoa(i)
		t.Run(tt.name, func(t *testing.T) {
			info := ts.uploadJS("acme", name, tt.src, "")
			if sum := sha256.Sum256([]byte(tt.src)); info["sha256"] != hex.EncodeToString(sum[:]) || info["size"] != float64(len(tt.src)) {
				t.Errorf("sha256, size = %v, %v: not the source's", info["sha256"], info["size"])
			}
			if r := ts.req("GET", "/api/run/acme/"+name+tt.query, "", nil); r.Status != 200 || string(r.Body) != tt.body {
				t.Fatalf("%d %s; want 200 %s", r.Status, r.Body, tt.body)
			}
		})
	}
	t.Run("an ES module without a default export", func(t *testing.T) {
		r := ts.req("PUT", "/api/webtask/acme/named", ts.Admin, []byte("export function f(ctx, cb) { cb() }\n"), "Content-Type: application/javascript")
		wantError(t, r, 400, "module.exports must be a function")
	})
	ts.Server.Close()
	b := start(t, api.Config{DataDir: data, CacheDir: filepath.Join(data, "cache"), JSEngine: engine})
	if r := b.req("GET", "/api/run/acme/m0?name=again", "", nil); r.Status != 200 || string(r.Body) != `{"hello":"again"}` {
		t.Fatalf("after a restart = %d %s", r.Status, r.Body)
	}
}

// seed000JS is the code a seed 000 token fixes, in JavaScript: it shows
// what the platform gives it.
const seed000JS = `module.exports = function (context, cb) {
  cb(null, { secret: context.secrets.secret, data: context.data.secret, name: context.query.name });
};
`

// TestE2E_JSSeed000 is seed 000 with JavaScript code: a token fixes the
// code by url (fetched, or a webtask's source on this server) or by its
// code claim (the JavaScript text, as the original platform's tokens and
// wt-cli carry it) and carries an encrypted secret that wins over the
// query; a token that fixes no code runs JavaScript posted as the body.
func TestE2E_JSSeed000(t *testing.T) {
	ms := serveModules(t, map[string][]byte{"seed000.js": []byte(seed000JS), "bad.js": []byte("module.exports = function (ctx, cb) {\n  cb(null, {a: });\n};\n")})
	ts := start(t, api.Config{JSEngine: jsEngine(t), FetchAllow: []string{ms.host()}})
	tenant := ts.issue(ts.Admin, `{"ten":"acme"}`)
	info := ts.uploadJS("acme", "stored", seed000JS, "")
	code, _ := json.Marshal(seed000JS)
	want := `{"secret":"abc!123","data":"abc!123","name":"Tomek"}`
	for _, claim := range []string{
		`"url":"` + ms.URL + `/seed000.js"`,
		`"url":"sha256:` + info["sha256"].(string) + `"`,
		`"code":` + string(code),
	} {
		param := ts.issue(tenant, `{`+claim+`,"ectx":{"secret":"abc!123"}}`)
		for i := 0; i < 2; i++ {
			r := ts.req("POST", "/api/run/acme?name=Tomek&secret=other", param, nil)
			if r.Status != 200 || string(r.Body) != want {
				t.Fatalf("%s: %d %s, want %s", claim, r.Status, r.Body, want)
			}
		}
	}
	t.Run("JavaScript posted with a token that fixes no code", func(t *testing.T) {
		r := ts.req("POST", "/api/run/acme?name=Tomek", tenant, []byte(seed000JS), "Content-Type: application/javascript")
		if r.Status != 200 || string(r.Body) != `{"name":"Tomek"}` {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		wantError(t, ts.req("POST", "/api/run/acme", tenant, []byte("module.exports = ;")), 400, "SyntaxError")
	})
	t.Run("a code claim that does not parse is refused at issue", func(t *testing.T) {
		r := ts.issueResp(tenant, `{"code":"module.exports = function (ctx, cb) {\n  cb(null, {a: });\n};"}`)
		wantError(t, r, 400, "(webtask.js:2:16)")
	})
	t.Run("wt create from a url: jtn with url deploys what the url serves", func(t *testing.T) {
		r := ts.issueResp(tenant, `{"jtn":"fromurl","url":"`+ms.URL+`/seed000.js","ectx":{"secret":"abc!123"}}`)
		if r.Status != 200 || !strings.HasSuffix(r.Header.Get("Location"), "/api/run/acme/fromurl") {
			t.Fatalf("create from url: %d %v %s", r.Status, r.Header, r.Body)
		}
		hits := ms.hits.Load()
		if r := ts.req("GET", "/api/run/acme/fromurl?name=Tomek", "", nil); r.Status != 200 || string(r.Body) != want {
			t.Fatalf("run: %d %s", r.Status, r.Body)
		}
		if ms.hits.Load() != hits {
			t.Errorf("running the webtask fetched the url again; it runs the code fetched at create")
		}
		wantError(t, ts.issueResp(tenant, `{"jtn":"fromurl","url":"`+ms.URL+`/missing.js"}`), 502, "HTTP 404")
		wantError(t, ts.issueResp(tenant, `{"jtn":"fromurl","url":"`+ms.URL+`/bad.js"}`), 400, "(webtask.js:2:16)")
		wantError(t, ts.issueResp(tenant, `{"jtn":"fromurl","url":"sha256:`+info["sha256"].(string)+`"}`), 400, "sha256: url cannot create")
		if r := ts.req("GET", "/api/run/acme/fromurl?name=Tomek", "", nil); r.Status != 200 || string(r.Body) != want {
			t.Fatalf("after refused updates the webtask must be unchanged: %d %s", r.Status, r.Body)
		}
	})
	t.Run("PUT with a url in the JSON body deploys what the url serves", func(t *testing.T) {
		put := func(body string) response {
			return ts.req("PUT", "/api/webtask/acme/puturl", tenant, []byte(body), "Content-Type: application/json")
		}
		r := put(`{"url":"` + ms.URL + `/seed000.js","secrets":{"secret":"abc!123"}}`)
		if m := r.JSON(t); r.Status != 200 || m["language"] != "javascript" || m["sha256"] != info["sha256"] {
			t.Fatalf("PUT with url: %d %s", r.Status, r.Body)
		}
		hits := ms.hits.Load()
		if r := ts.req("GET", "/api/run/acme/puturl?name=Tomek", "", nil); r.Status != 200 || string(r.Body) != want {
			t.Fatalf("run: %d %s", r.Status, r.Body)
		}
		if ms.hits.Load() != hits {
			t.Errorf("running the webtask fetched the url again; it runs the code fetched at the PUT")
		}
		wantError(t, put(`{"url":"`+ms.URL+`/missing.js"}`), 502, "HTTP 404")
		wantError(t, put(`{"url":"http://example.com/x.js"}`), 403, "does not fetch code from example.com")
		wantError(t, put(`{"url":"`+ms.URL+`/seed000.js","code":"module.exports = 1"}`), 400, `"code"`)
		wantError(t, put(`{"secrets":{"secret":"abc!123"}}`), 400, `"url"`)
		if r := ts.req("GET", "/api/run/acme/puturl?name=Tomek", "", nil); r.Status != 200 || string(r.Body) != want {
			t.Fatalf("after refused PUTs the webtask must be unchanged: %d %s", r.Status, r.Body)
		}
	})
	t.Run("JavaScript at a url that does not parse", func(t *testing.T) {
		param := ts.issue(tenant, `{"url":"`+ms.URL+`/bad.js"}`)
		r := ts.req("GET", "/api/run/acme", param, nil)
		if r.Status < 400 || !strings.Contains(string(r.Body), "(webtask.js:2:16)") {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
}

// TestE2E_JSModulePositions: an ES module runs as esbuild's translation,
// yet its runtime errors name the author's line and column (the line
// table, host/deploy/jsmap.go), as CommonJS code's do.
func TestE2E_JSModulePositions(t *testing.T) {
	ts := start(t, api.Config{JSEngine: jsEngine(t)})
	src := "'use latest';\nimport util from 'util';\n\nconst a = 1;\nexport default function (ctx, cb) {\n  if (ctx.query.x === 'throw') {\n    null.boom;\n  }\n  cb(null, { ok: util.format('%s', a) });\n}\n"
	ts.uploadJS("acme", "esm", src, "")
	if r := ts.req("GET", "/api/run/acme/esm", "", nil); r.Status != 200 || string(r.Body) != `{"ok":"1"}` {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	r := ts.req("GET", "/api/run/acme/esm?x=throw", "", nil)
	if r.Status != 500 || !strings.Contains(string(r.Body), "(webtask.js:7:") {
		t.Fatalf("%d %s, want the source's line 7", r.Status, r.Body)
	}
}

// TestE2E_CreateByToken is how wt-cli and sandboxjs create and update a
// named webtask: POST /api/tokens/issue with jtn and code (JavaScript
// text), ectx as its secrets, pctx as its params, pb and mb its body
// options, meta, numbers as strings; the answer is the
// webtask's token with its run URL in Location. Inspecting that token with
// decrypt, fetch_code and meta gives back what wt update needs.
func TestE2E_CreateByToken(t *testing.T) {
	ts := start(t, api.Config{JSEngine: jsEngine(t)})
	tenant := ts.issue(ts.Admin, `{"ten":"acme"}`)
	code, _ := json.Marshal(seed001Secrets)
	claims := `{"ten":"acme","dd":"0","jtn":"s001","code":` + string(code) +
		`,"ectx":{"auth-secret":"open-sesame"},"meta":{"team":"blue"},"mb":1,"dr":1,"host":"ignored.example"}`
	r := ts.issueResp(tenant, claims)
	if r.Status != 200 || !strings.HasSuffix(r.Header.Get("Location"), "/api/run/acme/s001") {
		t.Fatalf("create: %d %s (Location %q)", r.Status, r.Body, r.Header.Get("Location"))
	}
	wtoken := string(r.Body)
	if r := ts.req("GET", "/api/run/acme/s001?secret=open-sesame", "", nil); r.Status != 200 {
		t.Fatalf("run: %d %s", r.Status, r.Body)
	}
	if r := ts.req("GET", "/api/run/acme/s001?secret=wrong", "", nil); r.Status != 403 {
		t.Fatalf("run with the wrong secret: %d %s", r.Status, r.Body)
	}

	r = ts.req("GET", "/api/tokens/inspect?token="+wtoken+"&decrypt=1&fetch_code=1&meta=1", tenant, nil)
	m := r.JSON(t)
	ectx, _ := m["ectx"].(map[string]any)
	meta, _ := m["meta"].(map[string]any)
	if r.Status != 200 || m["jtn"] != "s001" || ectx["auth-secret"] != "open-sesame" || m["code"] != seed001Secrets || meta["team"] != "blue" {
		t.Fatalf("inspect: %d %s", r.Status, r.Body)
	}
	if r := ts.req("GET", "/api/tokens/inspect?token="+wtoken, tenant, nil); strings.Contains(string(r.Body), "open-sesame") || strings.Contains(string(r.Body), `"code"`) {
		t.Fatalf("inspect without decrypt or fetch_code shows them: %s", r.Body)
	}
	other := ts.issue(ts.Admin, `{"ten":"other"}`)
	wantError(t, ts.req("GET", "/api/tokens/inspect?token="+wtoken+"&decrypt=1", other, nil), 403, "secrets in clear")

	// Updating keeps what the claims give again, as wt update sends them.
	r = ts.issueResp(tenant, strings.Replace(claims, `"meta":{"team":"blue"}`, `"meta":{"team":"red"}`, 1))
	if r.Status != 200 {
		t.Fatalf("update: %d %s", r.Status, r.Body)
	}
	if r := ts.req("GET", "/api/webtask/acme/s001", tenant, nil); !strings.Contains(string(r.Body), `"team":"red"`) {
		t.Fatalf("after update: %s", r.Body)
	}

	// pctx becomes the webtask's params, pb parses the body before the code
	// runs, mb merges its fields into context.data (under the query, params
	// and secrets); the flags may come as strings, and an update changes them.
	echo, _ := json.Marshal(`module.exports = function (ctx, cb) { cb(null, { params: ctx.params, data: ctx.data }); };`)
	r = ts.issueResp(tenant, `{"ten":"acme","jtn":"echo","code":`+string(echo)+`,"pctx":{"region":"eu","plan":"gold"},"pb":"1","mb":1}`)
	if r.Status != 200 {
		t.Fatalf("create echo: %d %s", r.Status, r.Body)
	}
	if m := ts.req("GET", "/api/tokens/inspect?token="+string(r.Body), tenant, nil).JSON(t); fmt.Sprint(m["pctx"], m["pb"], m["mb"]) != "map[plan:gold region:eu] 1 1" {
		t.Errorf("the echo webtask's token: %v", m)
	}
	const body = `{"fromBody":"yes","region":"from-body","q":"from-body"}`
	r = ts.req("POST", "/api/run/acme/echo?q=1", "", []byte(body), "Content-Type: application/json")
	if want := `{"params":{"plan":"gold","region":"eu"},"data":{"fromBody":"yes","plan":"gold","q":"1","region":"eu"}}`; r.Status != 200 || string(r.Body) != want {
		t.Fatalf("run with pctx, pb and mb: %d %s, want %s", r.Status, r.Body, want)
	}
	wantError(t, ts.req("POST", "/api/run/acme/echo", "", []byte(`{"broken`), "Content-Type: application/json"), 400, "pb: the token asks to parse the body")
	if r := ts.issueResp(tenant, `{"ten":"acme","jtn":"echo","code":`+string(echo)+`,"pb":0,"mb":"0"}`); r.Status != 200 {
		t.Fatalf("update echo: %d %s", r.Status, r.Body)
	}
	if r := ts.req("POST", "/api/run/acme/echo?q=1", "", []byte(body), "Content-Type: application/json"); r.Status != 200 || string(r.Body) != `{"params":{},"data":{"q":"1"}}` {
		t.Fatalf("run after the update without pctx, pb and mb: %d %s", r.Status, r.Body)
	}
	if r := ts.req("POST", "/api/run/acme/echo", "", []byte(`{"broken`), "Content-Type: application/json"); r.Status != 200 {
		t.Fatalf("a body that is not JSON without pb: %d %s", r.Status, r.Body)
	}

	wantError(t, ts.issueResp(tenant, `{"ten":"a,b","jtn":"x","code":"module.exports = 1"}`), 400, "name the one container")
	wantError(t, ts.issueResp(tenant, `{"ten":"other","jtn":"x","code":"module.exports = 1"}`), 403, "container other")
	wantError(t, ts.issueResp(tenant, `{"jtn":"x","url":"http://example.com/x.js"}`), 403, "does not fetch code from example.com")
	wantError(t, ts.issueResp(tenant, `{"jtn":"x","url":"http://example.com/x.js","code":"module.exports = 1"}`), 400, "url and code")
	wantError(t, ts.issueResp(tenant, `{"jtn":"bad","code":"module.exports = function (ctx, cb) {\n  cb(null, {a: });\n};"}`), 400, "(webtask.js:2:16)")
	wantError(t, ts.req("GET", "/api/webtask/acme/bad", tenant, nil), 404, "no webtask bad")
}

// TestE2E_JSStorage: context.storage as on the original platform — get
// and set with callbacks, kept between requests and shared with the HTTP
// data routes, a set that would lose an update is a 409, force overwrites,
// a set over 500 KB calls back a 413 and writes nothing, and code a token
// fixes has no storage.
func TestE2E_JSStorage(t *testing.T) {
	ts := start(t, api.Config{JSEngine: jsEngine(t)})
	ts.uploadJS("acme", "counter", `module.exports = function (ctx, cb) {
  if (ctx.query.blind) return ctx.storage.set({ n: -1 }, ctx.query.force ? { force: 1 } : {}, function (err) { cb(err, 'set'); });
  if (ctx.query.pad) return ctx.storage.set({ p: 'x'.repeat(+ctx.query.pad) }, { force: 1 }, function (err) {
    cb(null, err ? { code: err.code, message: err.message } : 'set');
  });
  ctx.storage.get(function (err, data) {
    if (err) return cb(err);
    data = data || { n: 0 };
    data.n++;
    ctx.storage.set(data, function (err) { cb(err, data); });
  });
};
`, "")
	for i := 1; i <= 3; i++ {
		if r := ts.req("GET", "/api/run/acme/counter", "", nil); r.Status != 200 || string(r.Body) != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("run %d: %d %s", i, r.Status, r.Body)
		}
	}
	r := ts.req("GET", "/api/webtask/acme/counter/data", ts.Admin, nil)
	if m := r.JSON(t); r.Status != 200 || m["data"] != `{"n":3}` {
		t.Fatalf("data over HTTP: %d %s", r.Status, r.Body)
	}
	if r := ts.req("PUT", "/api/webtask/acme/counter/data", ts.Admin, []byte(`{"data":"{\"n\":10}"}`)); r.Status != 200 {
		t.Fatalf("put over HTTP: %d %s", r.Status, r.Body)
	}
	if r := ts.req("GET", "/api/run/acme/counter", "", nil); r.Status != 200 || string(r.Body) != `{"n":11}` {
		t.Fatalf("after the HTTP write: %d %s", r.Status, r.Body)
	}
	// A set without a get while data is stored would lose an update.
	r = ts.req("GET", "/api/run/acme/counter?blind=1", "", nil)
	if r.Status != 409 || !strings.Contains(string(r.Body), "changed since it was read") {
		t.Fatalf("blind set: %d %s", r.Status, r.Body)
	}
	if r := ts.req("GET", "/api/run/acme/counter?blind=1&force=1", "", nil); r.Status != 200 {
		t.Fatalf("forced set: %d %s", r.Status, r.Body)
	}
	if r := ts.req("GET", "/api/webtask/acme/counter/data", ts.Admin, nil); r.JSON(t)["data"] != `{"n":-1}` {
		t.Fatalf("after the forced set: %s", r.Body)
	}
	// 500 KB of JSON text ({"p":"xx…"} is 8 bytes and the pad), even with
	// force: one byte over calls back a 413 and nothing changes.
	before := ts.getStorage("/api/webtask/acme/counter/data", ts.Admin)
	const limit = 500 << 10
	r = ts.req("GET", fmt.Sprintf("/api/run/acme/counter?pad=%d", limit-8+1), "", nil)
	if r.Status != 200 || string(r.Body) != `{"code":413,"message":"context.storage: the data is over the 500 KB limit"}` {
		t.Fatalf("set over 500 KB: %d %s", r.Status, r.Body)
	}
	if after := ts.getStorage("/api/webtask/acme/counter/data", ts.Admin); after.ETag != before.ETag || *after.Data != `{"n":-1}` {
		t.Fatalf("a set over 500 KB changed the storage: %+v, was %+v", after, before)
	}
	if r := ts.req("GET", fmt.Sprintf("/api/run/acme/counter?pad=%d", limit-8), "", nil); r.Status != 200 || string(r.Body) != `"set"` {
		t.Fatalf("set of exactly 500 KB: %d %.200s", r.Status, r.Body)
	}
	if after := ts.getStorage("/api/webtask/acme/counter/data", ts.Admin); len(*after.Data) != limit {
		t.Fatalf("after a set of exactly 500 KB: %d bytes stored", len(*after.Data))
	}
	// Code a token fixes has no storage.
	tenant := ts.issue(ts.Admin, `{"ten":"acme"}`)
	r = ts.req("POST", "/api/run/acme", tenant, []byte(`module.exports = function (ctx, cb) { ctx.storage.get(cb); };`))
	if r.Status != 404 || !strings.Contains(string(r.Body), "no storage") {
		t.Fatalf("token code: %d %s", r.Status, r.Body)
	}
}

// TestE2E_NodeModules: the original platform's module API (wt modules,
// sandboxjs listNodeModuleVersions/ensureNodeModules) answers with the
// built-in modules.
func TestE2E_NodeModules(t *testing.T) {
	ts := start(t, api.Config{})
	if r := ts.req("GET", "/api/env/node/modules/express", "", nil); r.Status != 200 || string(r.Body) != `[{"name":"express","version":"4.22.3","state":"available"}]` {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	if r := ts.req("GET", "/api/env/node/modules/left-pad", "", nil); r.Status != 200 || string(r.Body) != `[]` {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	r := ts.req("POST", "/api/env/node/modules", ts.Admin, []byte(`{"modules":[{"name":"crypto","version":"*"},{"name":"lodash","version":"4.17.21"}]}`))
	if r.Status != 200 || string(r.Body) != `[{"name":"crypto","version":"20.0.0","state":"available"},{"name":"lodash","version":"4.17.21","state":"failed"}]` {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	wantError(t, ts.req("POST", "/api/env/node/modules", "", []byte(`{}`)), 401, "")
	wantError(t, ts.req("POST", "/api/env/node/modules", ts.Admin, []byte(`nope`)), 400, "modules")
	wantError(t, ts.req("DELETE", "/api/env/node/modules/express", ts.Admin, nil), 405, "use GET")
}

// TestE2E_GetWebtaskAsSandboxjs: GET /api/webtask/{c}/{n} gives what
// sandboxjs's getWebtask reads — webtask_url, code with fetch_code=1, the
// secrets' values with decrypt=1 (for the creator's line of tokens only).
func TestE2E_GetWebtaskAsSandboxjs(t *testing.T) {
	ts := start(t, api.Config{JSEngine: jsEngine(t)})
	tenant := ts.issue(ts.Admin, `{"ten":"acme"}`)
	r := ts.req("PUT", "/api/webtask/acme/s?secret=auth-secret:open-sesame", tenant, []byte(seed001Secrets), "Content-Type: application/javascript")
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	m := ts.req("GET", "/api/webtask/acme/s", tenant, nil).JSON(t)
	if m["webtask_url"] != m["url"] || m["code"] != nil || fmt.Sprint(m["secrets"]) != "[auth-secret]" {
		t.Fatalf("plain GET: %v", m)
	}
	m = ts.req("GET", "/api/webtask/acme/s?fetch_code=1&decrypt=1", tenant, nil).JSON(t)
	if sec, _ := m["secrets"].(map[string]any); m["code"] != seed001Secrets || sec["auth-secret"] != "open-sesame" {
		t.Fatalf("fetch_code and decrypt: %v", m)
	}
	sibling := ts.issue(ts.Admin, `{"ten":"acme"}`) // not the creator's line
	wantError(t, ts.req("GET", "/api/webtask/acme/s?decrypt=1", sibling, nil), 403, "secrets in clear")
	if m := ts.req("GET", "/api/webtask/acme/s?decrypt=1", ts.Admin, nil).JSON(t); m["secrets"] == nil {
		t.Fatalf("admin decrypt: %v", m)
	}
}
