package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The ABI's source function, on a WAT fixture: no toolchain needed.
func TestPool_Source(t *testing.T) {
	e := newEngine(t, Config{})
	mod, err := e.Compile(context.Background(), fixture(t, "source"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		source []byte
		policy Policy
		want   string
	}{
		{"pool with a source", []byte(`{"code":"module.exports = 1"}`), PolicyPool, `{"code":"module.exports = 1"}`},
		{"fresh with a source", []byte(`"from the snapshot"`), PolicyFresh, `"from the snapshot"`},
		{"empty source", []byte{}, PolicyPool, ``},
		{"no source", nil, PolicyPool, `-1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := e.NewPoolSource(mod, "acme", "src", tt.policy, tt.source)
			defer p.Close(context.Background())
			for i := 0; i < 3; i++ { // the fresh policy's later requests start from the snapshot
				var resp Response
				err := p.Serve(context.Background(), &Request{Method: "GET", Path: "/", Container: "acme", Name: "src", RequestID: "r"}, &resp)
				if tt.want == "" { // an empty result is not JSON: the fixture's result call traps
					if !errors.Is(err, ErrTrap) {
						t.Fatalf("err = %v, want a trap", err)
					}
					return
				}
				if err != nil || string(resp.Body) != tt.want {
					t.Fatalf("request %d: %q, %v; want %q", i, resp.Body, err, tt.want)
				}
			}
		})
	}
	t.Run("during a request it traps", func(t *testing.T) {
		p := e.NewPoolSource(mod, "acme", "src", PolicyPool, []byte(`1`))
		defer p.Close(context.Background())
		var resp Response
		err := p.Serve(context.Background(), &Request{Method: "DELETE", Path: "/", Container: "acme", Name: "src", RequestID: "r"}, &resp)
		if !errors.Is(err, ErrTrap) || !strings.Contains(err.Error(), "source called outside initialisation") {
			t.Fatalf("err = %v", err)
		}
	})
}

// A module that cannot start is refused with the first line it wrote to
// stderr.
func TestPool_InitStderr(t *testing.T) {
	e := newEngine(t, Config{})
	mod, err := e.Compile(context.Background(), fixture(t, "init-stderr"))
	if err != nil {
		t.Fatal(err)
	}
	p := e.NewPool(mod, "acme", "bad", PolicyPool)
	defer p.Close(context.Background())
	err = p.Warm(context.Background())
	want := `module failed to start: _initialize: webtask trapped: wasm error: unreachable; stderr: config: missing key "region"`
	if !errors.Is(err, ErrInit) || err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "second") {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

// ---- JavaScript ------------------------------------------------------------
//
// The tests below run the JavaScript engine, guests/build/js/engine.wasm.
// It is built by `make guests` (make -C guests js) from Debian's QuickJS
// source and is ~0.75 MB, so unlike the WAT fixtures it is not committed:
// these tests, and only these, skip when it is missing (and fail with
// CI=true, where make test has built it).

var jsWasm struct {
	once sync.Once
	b    []byte
	err  error
}

func jsEngineWasm(t testing.TB) []byte {
	t.Helper()
	jsWasm.once.Do(func() {
		jsWasm.b, jsWasm.err = os.ReadFile(filepath.Join("..", "..", "guests", "build", "js", "engine.wasm"))
	})
	if jsWasm.err != nil {
		if os.Getenv("CI") == "true" { // make test builds the guests first
			t.Fatalf("the JavaScript engine is not built: run make guests (%v)", jsWasm.err)
		}
		t.Skipf("the JavaScript engine is not built: run make guests (%v)", jsWasm.err)
	}
	return jsWasm.b
}

// levelLogs records log lines with their level.
type levelLogs struct {
	mu    sync.Mutex
	lines []string
}

func (l *levelLogs) Log(container, name, requestID string, level uint32, msg []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, strconv.Itoa(int(level))+" "+requestID+" "+string(msg))
}

func (l *levelLogs) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

func (l *levelLogs) find(sub string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, sub) {
			return line
		}
	}
	return ""
}

type jsEnv struct {
	e    *Engine
	mod  *Module
	logs *levelLogs
}

// jsTimeout is the JS tests' wall-time limit; jsMemoryPages their memory
// limit (64 MiB). The first deep recursion of an instance takes a few
// hundred milliseconds here (wazero grows its call stack to megabytes, and
// this machine is slow to fault new memory in), more under -race.
const (
	jsTimeout     = 5 * time.Second
	jsMemoryPages = 1024
)

// jsShared is the engine every JavaScript test shares: compiling the
// engine module takes a second or two, once.
var jsShared struct {
	once sync.Once
	env  *jsEnv
	err  error
}

func newJSEnv(t testing.TB) *jsEnv {
	t.Helper()
	wasm := jsEngineWasm(t)
	jsShared.once.Do(func() {
		lg := &levelLogs{}
		e, err := New(context.Background(), Config{Timeout: jsTimeout, MemoryLimitPages: jsMemoryPages, Logger: lg})
		if err != nil {
			jsShared.err = err
			return
		}
		mod, err := e.Compile(context.Background(), wasm)
		if err != nil {
			e.Close(context.Background())
			jsShared.err = fmt.Errorf("compile the JavaScript engine: %w", err)
			return
		}
		jsShared.env = &jsEnv{e: e, mod: mod, logs: lg}
	})
	if jsShared.err != nil {
		t.Fatal(jsShared.err)
	}
	return jsShared.env
}

func (env *jsEnv) pool(t testing.TB, policy Policy, src string) *Pool {
	t.Helper()
	p := env.e.NewPoolSource(env.mod, "acme", "js", policy, []byte(src))
	t.Cleanup(func() { p.Close(context.Background()) })
	if err := p.Warm(context.Background()); err != nil {
		t.Fatalf("warm: %v", err)
	}
	return p
}

var jsReqSeq struct {
	sync.Mutex
	n int
}

func jsRequest() *Request {
	jsReqSeq.Lock()
	jsReqSeq.n++
	id := "js-" + strconv.Itoa(jsReqSeq.n)
	jsReqSeq.Unlock()
	return &Request{Method: "GET", Path: "/", Container: "acme", Name: "js", RequestID: id}
}

func serve(t testing.TB, p *Pool, req *Request) (*Response, error) {
	t.Helper()
	resp := &Response{}
	err := p.Serve(context.Background(), req, resp)
	return resp, err
}

// answer serves req and returns status and body, failing on an error.
func answer(t testing.TB, p *Pool, req *Request) (int, string) {
	t.Helper()
	resp, err := serve(t, p, req)
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
	return resp.Status, string(resp.Body)
}

func header(resp *Response, name string) string {
	for _, h := range resp.Headers {
		if h.Key == name {
			return h.Value
		}
	}
	return ""
}

func TestJS(t *testing.T) {
	env := newJSEnv(t)
	tests := []struct {
		name   string
		src    string
		req    func(*Request)
		status int
		body   string // exact, or a prefix ending with "…"
		log    string // a log line containing this
	}{
		{name: "hello (context, cb)",
			src:    `module.exports = function (context, cb) { cb(null, { hello: context.query.name || 'world' }); };`,
			status: 200, body: `{"hello":"world"}`},
		{name: "seed 001 shared secret",
			src: `module.exports = function(context, cb) {
  if(context.query.secret !== 'open-sesame') {
    cb(new Error('Not Authorized'));
  } else {
    cb(null, { question: 'Am I secure?', answer: 'Yes!' });
  }
};`,
			req:    func(r *Request) { r.Query = []KV{{"secret", "open-sesame"}} },
			status: 200, body: `{"question":"Am I secure?","answer":"Yes!"}`},
		{name: "cb(err) is a script error",
			src:    `module.exports = function (context, cb) { cb(new Error('Not Authorized')); };`,
			status: 400, body: `{"code":400,"error":"Script returned an error.","message":"Not Authorized"}`},
		{name: "cb(err) with statusCode",
			src:    `module.exports = function (context, cb) { var e = new Error('go away'); e.statusCode = 403; cb(e); };`,
			status: 403, body: `{"code":403,"error":"Script returned an error.","message":"go away"}`},
		{name: "cb(string)",
			src:    `module.exports = function (context, cb) { cb('plain'); };`,
			status: 400, body: `{"code":400,"error":"Script returned an error.","message":"plain"}`},
		{name: "cb() answers an empty JSON 200",
			src:    `module.exports = function (context, cb) { cb(); };`,
			status: 200, body: ``},
		{name: "the original (cb)",
			src:    `module.exports = function (cb) { cb(null, 'Hello'); };`,
			status: 200, body: `"Hello"`},
		{name: "a bare function expression",
			src:    "function (context, cb) {\n  cb(null, 2 + 2);\n}",
			status: 200, body: `4`},
		{name: "async function and await",
			src: `module.exports = async function (context) {
  const v = await Promise.resolve(41);
  return { v: v + 1 };
};`,
			status: 200, body: `{"v":42}`},
		{name: "async (context, cb)",
			src: `module.exports = async (context, cb) => {
  const v = await new Promise((resolve) => setTimeout(() => resolve('later'), 20));
  cb(null, v);
};`,
			status: 200, body: `"later"`},
		{name: "a promise chain",
			src:    `module.exports = function (context, cb) { Promise.resolve(1).then(x => x + 1).then(x => cb(null, { x })); };`,
			status: 200, body: `{"x":2}`},
		{name: "async throw",
			src:    `module.exports = async function (context) { await null; throw new TypeError('bad input'); };`,
			status: 500, body: `{"code":500,"error":"Script returned an error.","message":"Uncaught (in promise) TypeError: bad input (webtask.js:1:…`,
			log: "Uncaught (in promise) TypeError: bad input"},
		{name: "raw model",
			src: `module.exports = function (context, req, res) {
  res.writeHead(201, { 'Content-Type': 'text/plain', 'X-Seen': req.headers['x-custom'] });
  res.write('made ');
  res.end(req.method + ' ' + req.url);
};`,
			req: func(r *Request) {
				r.Method, r.Path, r.RawQuery = "POST", "/a/b", "x=1"
				r.Headers = []KV{{"x-custom", "yes"}}
			},
			status: 201, body: `made POST /a/b?x=1`},
		{name: "seed 001 raw model, 403 without a body",
			src: `module.exports = function(context, request, response) {
  if(context.query.secret !== context.secrets['auth-secret']) {
    response.writeHead(403);
    response.end();
  } else {
    response.writeHead(200, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify({ question: 'Am I secure?', answer: 'Yes!' }));
  }
};`,
			req:    func(r *Request) { r.Query, r.Secrets = []KV{{"secret", "nope"}}, []KV{{"auth-secret", "open-sesame"}} },
			status: 403, body: ``},
		{name: "raw model statusCode, setHeader and bytes",
			src: `module.exports = function (context, req, res) {
  res.statusCode = 202;
  res.setHeader('Content-Length', 3); // the host's: dropped
  res.setHeader('Set-Cookie', ['a=1', 'b=2']);
  res.end(new Uint8Array([104, 105, 33]));
};`,
			status: 202, body: `hi!`},
		{name: "raw model reads the body",
			src: `module.exports = function (context, req, res) {
  let body = '';
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', () => res.end('got ' + body));
};`,
			req:    func(r *Request) { r.Method, r.Body = "POST", []byte("payload") },
			status: 200, body: `got payload`},
		{name: "context fields",
			src: `module.exports = function (context, cb) {
  cb(null, { query: context.query, secrets: context.secrets, params: context.params, meta: context.meta,
    data: context.data, body: context.body, ct: context.headers['content-type'],
    method: context.method, path: context.path, container: context.container, name: context.name });
};`,
			req: func(r *Request) {
				r.Method, r.Path = "POST", "/x"
				r.Query = []KV{{"a", "1"}, {"a", "2"}, {"name", "q"}}
				r.Secrets = []KV{{"name", "s"}}
				r.Params = []KV{{"p", "v"}}
				r.Meta = []KV{{"owner", "tomek"}}
				r.Headers = []KV{{"content-type", "application/json; charset=utf-8"}}
				r.Body = []byte(`{"n":[1,2],"ok":true}`)
				r.Data = MergeData(r.Query, r.Params, r.Secrets)
			},
			status: 200, body: `{"query":{"a":["1","2"],"name":"q"},"secrets":{"name":"s"},"params":{"p":"v"},"meta":{"owner":"tomek"},` +
				`"data":{"a":"1","name":"s","p":"v"},"body":{"n":[1,2],"ok":true},"ct":"application/json; charset=utf-8",` +
				`"method":"POST","path":"/x","container":"acme","name":"js"}`},
		{name: "JSON.stringify(context) shows every field",
			src:    `module.exports = function (context, cb) { cb(null, Object.keys(JSON.parse(JSON.stringify(context))).sort()); };`,
			status: 200, body: `["container","data","headers","meta","method","name","params","path","query","requestId","secrets"]`},
		{name: "a form body",
			src: `module.exports = function (context, cb) { cb(null, context.body); };`,
			req: func(r *Request) {
				r.Headers, r.Body = []KV{{"content-type", "application/x-www-form-urlencoded"}}, []byte("a=1+2&b=%C3%A9&a=3")
			},
			status: 200, body: `{"a":["1 2","3"],"b":"é"}`},
		{name: "an uncaught exception",
			src:    "module.exports = function (context, cb) {\n  nope();\n};",
			status: 500, body: `{"code":500,"error":"Script returned an error.","message":"Uncaught ReferenceError: 'nope' is not defined (webtask.js:2:3)"}`,
			log: "at <anonymous> (webtask.js:2:3)"},
		{name: "an exception thrown on line 1 has the author's column",
			src:    `module.exports = function (context, cb) { null.x; };`,
			status: 500, body: `{"code":500,"error":"Script returned an error.","message":"Uncaught TypeError: cannot read property 'x' of null (webtask.js:1:…`},
		{name: "a callback never called",
			src:    `module.exports = function (context, cb) {};`,
			status: 500, body: `{"code":500,"error":"Script returned an error.","message":"Error: The webtask did not respond: the callback was never called…`},
		{name: "res.end never called",
			src:    `module.exports = function (context, req, res) { res.write('partial'); };`,
			status: 500, body: `{"code":500,"error":"Script returned an error.","message":"Error: The webtask did not respond: res.end() was never called…`},
		{name: "an unhandled rejection",
			src:    `module.exports = function (context, cb) { Promise.reject(new Error('lost')); };`,
			status: 500, body: `{"code":500,"error":"Script returned an error.","message":"Unhandled promise rejection: Error: lost (webtask.js:1:…`},
		{name: "a result that is not JSON",
			src:    `module.exports = function (context, cb) { var o = {}; o.o = o; cb(null, o); };`,
			status: 500, body: `{"code":500,"error":"Script returned an error.","message":"The result cannot be sent as JSON: TypeError: circular reference…`},
		{name: "unbounded recursion",
			src:    `function f(n) { return f(n + 1) + 1; } module.exports = function (context, cb) { cb(null, f(0)); };`,
			status: 500, body: `{"code":500,"error":"Script returned an error.","message":"Uncaught InternalError: stack overflow (webtask.js:1:…`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := env.pool(t, PolicyPool, tt.src)
			req := jsRequest()
			if tt.req != nil {
				tt.req(req)
			}
			resp, err := serve(t, p, req)
			if err != nil {
				t.Fatalf("serve: %v", err)
			}
			body := string(resp.Body)
			if resp.Status != tt.status || !matches(body, tt.body) {
				t.Errorf("got %d %s\nwant %d %s", resp.Status, body, tt.status, tt.body)
			}
			if tt.log != "" && env.logs.find(tt.log) == "" {
				t.Errorf("no log line with %q in %q", tt.log, env.logs.all())
			}
		})
	}
}

// matches compares a body with an exact want, or a prefix ending in "…".
func matches(got, want string) bool {
	if p, ok := strings.CutSuffix(want, "…"); ok {
		return strings.HasPrefix(got, p)
	}
	return got == want
}

func TestJS_Headers(t *testing.T) {
	env := newJSEnv(t)
	p := env.pool(t, PolicyPool, `module.exports = function (context, req, res) {
  res.setHeader('Set-Cookie', ['a=1', 'b=2']);
  res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Wt-Mine': 'dropped' });
  res.end();
};`)
	resp, err := serve(t, p, jsRequest())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range resp.Headers {
		got = append(got, h.Key+": "+h.Value)
	}
	want := "set-cookie: a=1|set-cookie: b=2|content-type: text/plain"
	if strings.Join(got, "|") != want {
		t.Fatalf("headers %q, want %q", got, want)
	}
}

func TestJS_Console(t *testing.T) {
	env := newJSEnv(t)
	p := env.pool(t, PolicyPool, `console.log('evaluated'); module.exports = function (context, cb) {
  console.log('log %s %d', 'line', 42, { a: [1, 'x'] });
  console.warn('warn line');
  console.error(new Error('err line'));
  console.debug('debug line');
  cb(null, true);
};`)
	req := jsRequest()
	if _, err := serve(t, p, req); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"1  evaluated", // at initialisation: stdout, no request id
		"1 " + req.RequestID + " log line 42 { a: [ 1, 'x' ] }", // as Node prints it
		"2 " + req.RequestID + " warn line",
		"3 " + req.RequestID + " Error: err line\n    at <anonymous> (webtask.js:4:",
		"0 " + req.RequestID + " debug line",
	} {
		if env.logs.find(want) == "" {
			t.Errorf("no log line %q in %q", want, env.logs.all())
		}
	}
}

// Objects of a request kept by a pooled instance's code are dead in the
// next request: a context keeps what it read but reads nothing more (never
// a later request's fields), a response or callback answers nothing.
func TestJS_Stale(t *testing.T) {
	env := newJSEnv(t)
	p := env.pool(t, PolicyPool, `var old;
module.exports = function (context, req, res) {
  var seen = old ? [old.context.query.q, old.context.secrets === undefined, old.req.headers === undefined] : null;
  if (old) old.res.end('stale');
  old = { context: context, req: req, res: res };
  res.end(JSON.stringify({ q: context.query.q, seen: seen }));
};`)
	for i, want := range []string{`{"q":"1","seen":null}`, `{"q":"2","seen":["1",true,true]}`} {
		req := jsRequest()
		req.Query = []KV{{"q", strconv.Itoa(i + 1)}}
		if status, body := answer(t, p, req); status != 200 || body != want {
			t.Fatalf("request %d: %d %s, want %s", i+1, status, body, want)
		}
	}
	p = env.pool(t, PolicyPool, `var old;
module.exports = function (context, cb) {
  var prev = old;
  old = cb;
  if (prev) prev(null, 'stale');
  setTimeout(function () { cb(null, 'fresh'); }, 1);
};`)
	for i := 0; i < 2; i++ {
		if status, body := answer(t, p, jsRequest()); status != 200 || body != `"fresh"` {
			t.Fatalf("request %d: %d %s", i+1, status, body)
		}
	}
}

// Code that cannot load is refused when the pool warms, naming what and
// where.
func TestJS_LoadErrors(t *testing.T) {
	env := newJSEnv(t)
	tests := []struct{ name, src, want string }{
		{"syntax error", "module.exports = function (context, cb) {\n  cb(null, ;\n};",
			"SyntaxError: unexpected token in expression: ';' (webtask.js:2:12)"},
		{"exports not a function", `module.exports = { a: 1 };`,
			"TypeError: module.exports must be a function: (context, cb) or (context, req, res), not object"},
		{"throws while evaluated", "\n\nthrow new Error('no config');",
			"Error: no config (webtask.js:3:16)"},
		{"require", `const x = require('left-pad');`,
			"Error: Cannot find module 'left-pad'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := env.e.NewPoolSource(env.mod, "acme", "js", PolicyFresh, []byte(tt.src))
			defer p.Close(context.Background())
			err := p.Warm(context.Background())
			if !errors.Is(err, ErrInit) || !strings.Contains(err.Error(), "stderr: "+tt.want) {
				t.Fatalf("err = %v\nwant %s", err, tt.want)
			}
		})
	}
	t.Run("no source", func(t *testing.T) {
		p := env.e.NewPool(env.mod, "acme", "js", PolicyPool)
		defer p.Close(context.Background())
		err := p.Warm(context.Background())
		if !errors.Is(err, ErrInit) || !strings.Contains(err.Error(), "stderr: wasmtask js: no JavaScript source") {
			t.Fatalf("err = %v", err)
		}
	})
}

// state is a webtask that counts its requests and draws a random number.
const jsState = `var n = 0;
module.exports = function (context, cb) { n++; cb(null, { n: n, r: Math.random() }); };`

type jsCount struct {
	N int     `json:"n"`
	R float64 `json:"r"`
}

func countOf(t *testing.T, p *Pool) jsCount {
	t.Helper()
	status, body := answer(t, p, jsRequest())
	var c jsCount
	if err := json.Unmarshal([]byte(body), &c); status != 200 || err != nil {
		t.Fatalf("%d %s: %v", status, body, err)
	}
	return c
}

func TestJS_Policies(t *testing.T) {
	env := newJSEnv(t)
	t.Run("fresh: nothing survives a request, Math.random differs", func(t *testing.T) {
		p := env.pool(t, PolicyFresh, jsState)
		if !p.Resets() {
			t.Fatal("the engine's pool does not reset instances to a snapshot")
		}
		seen := map[float64]bool{}
		for i := 0; i < 5; i++ {
			c := countOf(t, p)
			if c.N != 1 || seen[c.R] {
				t.Fatalf("request %d: n=%d r=%v (seen %v)", i, c.N, c.R, seen)
			}
			seen[c.R] = true
		}
	})
	t.Run("pool: globals persist within the webtask", func(t *testing.T) {
		p := env.pool(t, PolicyPool, jsState)
		for i := 1; i <= 3; i++ {
			if c := countOf(t, p); c.N != i {
				t.Fatalf("request %d: n=%d", i, c.N)
			}
		}
		other := env.pool(t, PolicyPool, jsState) // another webtask sees none of them
		if c := countOf(t, other); c.N != 1 {
			t.Fatalf("another webtask: n=%d", c.N)
		}
	})
}

// The engine rehearses a request while it initialises (prelude.js,
// rehearse), before the webtask's code is loaded: the webtask sees none
// of it, not even through a built-in it replaces, in either model.
func TestJS_RehearsalUnseen(t *testing.T) {
	env := newJSEnv(t)
	for _, src := range []string{
		`var calls = 0, stringify = JSON.stringify;
JSON.stringify = function (v) { calls++; return stringify(v); };
module.exports = function (ctx, cb) { cb(null, { calls: calls }); };`,
		`var calls = 0, stringify = JSON.stringify;
JSON.stringify = function (v) { calls++; return stringify(v); };
module.exports = function (ctx, req, res) {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(stringify({ calls: calls }));
};`,
	} {
		for _, policy := range []Policy{PolicyFresh, PolicyPool} {
			p := env.pool(t, policy, src)
			if status, body := answer(t, p, jsRequest()); status != 200 || body != `{"calls":0}` {
				t.Fatalf("%v, first request: %d %s; want {\"calls\":0}\n%s", policy, status, body, src)
			}
		}
	}
}

// Hostile code: each failure is a clean error, and the instance that failed
// is replaced (the counter starts again).
func TestJS_Limits(t *testing.T) {
	env := newJSEnv(t)
	const src = `var n = 0;
module.exports = function (context, cb) {
  n++;
  switch (context.query.do) {
  case 'loop': while (true) {} break;
  case 'recurse': (function f() { f(); })(); break;
  case 'string': var s = 'x'.repeat(100 * 1024 * 1024); cb(null, s.length); return;
  case 'grow': var a = []; for (;;) a.push(new ArrayBuffer(1 << 20)); break;
  }
  cb(null, { n: n });
};`
	tests := []struct {
		do      string
		err     error  // a host error, or nil for a 500 answer
		msg     string // in the error or the 500 answer
		replace bool   // the instance is replaced
	}{
		{"loop", ErrTimeout, "", true},
		{"recurse", nil, "InternalError: stack overflow", false},
		{"string", nil, "InternalError: out of memory", false},
		{"grow", nil, "out of memory", true},
	}
	for _, tt := range tests {
		t.Run(tt.do, func(t *testing.T) {
			p := env.pool(t, PolicyPool, src)
			if c := countOf(t, p); c.N != 1 {
				t.Fatalf("first request: n=%d", c.N)
			}
			req := jsRequest()
			req.Query = []KV{{"do", tt.do}}
			start := time.Now()
			resp, err := serve(t, p, req)
			took := time.Since(start)
			switch {
			case tt.err != nil:
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				if errors.Is(err, ErrTimeout) && took > jsTimeout+500*time.Millisecond {
					t.Errorf("stopped after %v (limit %v)", took, jsTimeout)
				}
			case err != nil:
				if !errors.Is(err, ErrTrap) || !strings.Contains(err.Error(), tt.msg) {
					t.Fatalf("err = %v", err)
				}
			default:
				if resp.Status != 500 || !strings.Contains(string(resp.Body), tt.msg) {
					t.Fatalf("answer %d %s, want 500 with %q", resp.Status, resp.Body, tt.msg)
				}
			}
			c := countOf(t, p)
			if replaced := c.N == 1; replaced != tt.replace {
				t.Errorf("after %s: n=%d, want the instance replaced=%v", tt.do, c.N, tt.replace)
			}
		})
	}
}

// jsModulesSnippet exercises the built-in modules (events, util,
// querystring, url) at the top level of a webtask (so during
// initialisation: the snapshot has them loaded); jsModulesNode is what
// Node 20 prints for the same code followed by console.log(JSON.stringify(out)).
const jsModulesSnippet = `var EventEmitter = require('events'), util = require('util'), qs = require('querystring'), url = require('node:url');
var out = {};
// events
var e = new EventEmitter(), log = [];
e.on('x', function (a, b) { log.push('on:' + a + b); });
e.once('x', function (a) { log.push('once:' + a); });
e.prependListener('x', function () { log.push('first'); });
out.emit1 = e.emit('x', 1, 2);
out.emit2 = e.emit('x', 3, 4);
out.none = e.emit('nobody');
out.count = [e.listenerCount('x'), e.listeners('x').length, EventEmitter.listenerCount(e, 'x')];
function h() { log.push('h'); }
e.on('y', h); e.off('y', h); e.emit('y');
e.once('z', h); e.removeListener('z', h); e.emit('z');
out.names = e.eventNames();
e.removeAllListeners('x'); out.afterRemoveAll = e.listenerCount('x');
try { e.emit('error', new Error('boom')); } catch (err) { out.err1 = err.message; }
try { e.emit('error', 'str'); } catch (err) { out.err2 = [err.message, err.code]; }
e.on('error', function (er) { log.push('handled ' + er.message); });
e.emit('error', new Error('quiet'));
out.log = log;
out.isClass = [EventEmitter.EventEmitter === EventEmitter, e.setMaxListeners(20) === e, e.getMaxListeners()];
function Sub() { EventEmitter.call(this); }
util.inherits(Sub, EventEmitter);
var s = new Sub(); s.on('a', function (v) { out.sub = v; }); s.emit('a', 'inherited');
out.super_ = Sub.super_ === EventEmitter;
class K extends EventEmitter {}
var k = new K(); k.on('q', function () { out.cls = this instanceof K; }); k.emit('q');
// util
out.format = [
  util.format('%s:%d:%i:%f:%j %%', 'a', 42.5, 42.5, '3.25', { x: [1] }),
  util.format('%s', { a: { b: { c: 1 } } }),
  util.format('%o %o', 'str', 42),
  util.format('%O', { s: "it's", n: null, u: undefined }),
  util.format('a', 'b', 1, { c: 2 }),
  util.format('%d', '0x10', 'extra'),
  util.format('%s %s', 'only'),
  util.format(1, 2),
  util.format('%s', -0, 5n),
  util.format('%i', 5n),
];
var cyc = { name: 'c' }; cyc.self = cyc; cyc.list = [cyc];
out.inspect = [
  util.inspect(cyc),
  util.inspect({ a: { b: { c: { d: 1 } } } }),
  util.inspect({ a: { b: { c: { d: 1 } } } }, { depth: 0 }),
  util.inspect('str'),
  util.inspect([1, [2, [3, [4, [5]]]]]),
  util.inspect(new Map([['a', 1]])),
  util.inspect(new Set([1, 'x'])),
  util.inspect(function named() {}),
  util.inspect(null),
  util.inspect({ 'a-b': 1, c: [] , d: {} }),
  util.inspect({ long: 'x'.repeat(60), other: 'y'.repeat(20) }),
  util.inspect(Object.create(null)),
  util.inspect(new Sub().constructor === Sub),
  util.inspect([undefined, null, true, -0, 1.5]),
];
out.deep = [
  util.isDeepStrictEqual({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] }),
  util.isDeepStrictEqual({ a: 1 }, { a: '1' }),
  util.isDeepStrictEqual([1, 2], [1, 2, 3]),
  util.isDeepStrictEqual(new Date(5), new Date(5)),
  util.isDeepStrictEqual(NaN, NaN),
  util.isDeepStrictEqual(new Map([[1, { a: 1 }]]), new Map([[1, { a: 1 }]])),
];
out.types = [util.types.isPromise(Promise.resolve()), util.types.isPromise({ then: function () {} })];
// querystring
out.qsParse = qs.parse('a=1&b=x+y&a=2&c&d=%E2%82%AC&=e&&f=%ZZ');
out.qsDecode = qs.decode('a:1;b:2', ';', ':');
out.qsStringify = [
  qs.stringify({ a: [1, 2], b: 'x y', c: '', d: null, e: true, f: NaN, 'é': '€' }),
  qs.encode({ a: 1, b: 2 }, ';', ':'),
  qs.stringify({ a: [], b: 1 }),
  qs.stringify('nope'),
];
out.qsEscape = [qs.escape("a b&c/d?é!'()*~"), qs.unescape('a%20b+c%E2%82%AC'), qs.unescape('%E4%ZZ%41')];
// url (WHATWG)
var u = new URL('HTTPS://user:pa ss@Example.COM:443/a/./b/../c d?x=1&y=a+b#frag ment');
out.url = [u.href, u.protocol, u.username, u.password, u.host, u.hostname, u.port, u.pathname, u.search, u.hash, u.origin];
out.urlSP = [u.searchParams.get('y'), u.searchParams.get('none'), u.searchParams.has('x')];
u.searchParams.append('z', 'a b&c');
u.searchParams.set('x', '2');
out.urlAfter = u.href;
u.pathname = '/new path'; u.hash = ''; u.search = '?q=1';
out.urlSet = [u.href, u.searchParams.get('q')];
var rel = new URL('../d/e?f#g', 'http://h.com:8080/a/b/c');
out.rel = [rel.href, rel.port, new URL('//other.org/p', 'https://x.y/').href, new URL('?n=1', 'http://a/b/c?o=2#h').href, new URL('#only', 'http://a/b?c').href, new URL('/abs', 'http://a/b/c').href];
out.misc = [new URL('mailto:someone@example.com').pathname, new URL('file:///etc/passwd').href, new URL('http://a.com').href, String(new URL('ws://h:80/x')), JSON.stringify({ u: new URL('http://j/') })];
try { new URL('nope'); } catch (err) { out.bad = [err.name, err.code, err.message]; }
out.canParse = [URL.canParse('http://x'), URL.canParse('x')];
var sp = new URLSearchParams('?b=2&a=1&b=3&c=%20x+y');
sp.sort(); sp.delete('c');
out.sp = [sp.toString(), sp.getAll('b'), new URLSearchParams({ k: 'v w', n: 1 }).toString(), new URLSearchParams([['a', '~!*()\'']]).toString(), Array.from(new URLSearchParams('a=1&b=2').keys()), sp.size];
out.sameURL = url.URL === URL && url.URLSearchParams === URLSearchParams;
// url (legacy)
var p = url.parse('http://user:pass@Host.com:8080/p/a/t/h?query=string&q=2#hash');
out.parse = [p.protocol, p.slashes, p.auth, p.host, p.port, p.hostname, p.hash, p.search, p.query, p.pathname, p.path, p.href];
var pq = url.parse('/x/y?a=1&a=2&b=3', true);
out.parseQ = [pq.pathname, pq.search, pq.query.a, pq.query.b, pq.href, pq.host, pq.protocol];
out.parseNoQ = [url.parse('https://ex.com').pathname, url.parse('https://ex.com').href, url.parse('/p', true).search, JSON.stringify(url.parse('/p', true).query), url.parse('foo/bar').pathname];
out.urlFormat = [
  url.format({ protocol: 'https', hostname: 'ex.com', port: 8443, pathname: '/a b', query: { q: 'x y', r: [1, 2] }, hash: 'h' }),
  url.format({ protocol: 'http:', host: 'h.com', pathname: 'rel', search: 'a=1' }),
  url.format(url.parse('http://a.com/b?c=d#e')),
  url.format(new URL('http://w.com/x')),
];
out.resolve = [url.resolve('/one/two/three', 'four'), url.resolve('http://example.com/', '/one'), url.resolve('http://example.com/one', '/two')];
`

const jsModulesNode = `{"emit1":true,"emit2":true,"none":false,"count":[2,2,2],"names":["x"],"afterRemoveAll":0,"err1":"boom","err2":["Unhandled error. ('str')","ERR_UNHANDLED_ERROR"],"log":["first","on:12","once:1","first","on:34","handled quiet"],"isClass":[true,true,20],"sub":"inherited","super_":true,"cls":true,"format":["a:42.5:42:3.25:{\"x\":[1]} %","{ a: [Object] }","'str' 42","{ s: \"it's\", n: null, u: undefined }","a b 1 { c: 2 }","16 extra","only %s","1 2","-0 5n","5n"],"inspect":["<ref *1> { name: 'c', self: [Circular *1], list: [ [Circular *1] ] }","{ a: { b: { c: [Object] } } }","{ a: [Object] }","'str'","[ 1, [ 2, [ 3, [Array] ] ] ]","Map(1) { 'a' => 1 }","Set(2) { 1, 'x' }","[Function: named]","null","{ 'a-b': 1, c: [], d: {} }","{\n  long: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',\n  other: 'yyyyyyyyyyyyyyyyyyyy'\n}","[Object: null prototype] {}","true","[ undefined, null, true, -0, 1.5 ]"],"deep":[true,false,false,true,true,true],"types":[true,false],"qsParse":{"a":["1","2"],"b":"x y","c":"","d":"€","":"e","f":"%ZZ"},"qsDecode":{"a":"1","b":"2"},"qsStringify":["a=1&a=2&b=x%20y&c=&d=&e=true&f=&%C3%A9=%E2%82%AC","a:1;b:2","b=1",""],"qsEscape":["a%20b%26c%2Fd%3F%C3%A9!'()*~","a b+c€","�%ZZA"],"url":["https://user:pa%20ss@example.com/a/c%20d?x=1&y=a+b#frag%20ment","https:","user","pa%20ss","example.com","example.com","","/a/c%20d","?x=1&y=a+b","#frag%20ment","https://example.com"],"urlSP":["a b",null,true],"urlAfter":"https://user:pa%20ss@example.com/a/c%20d?x=2&y=a+b&z=a+b%26c#frag%20ment","urlSet":["https://user:pa%20ss@example.com/new%20path?q=1","1"],"rel":["http://h.com:8080/a/d/e?f#g","8080","https://other.org/p","http://a/b/c?n=1","http://a/b?c#only","http://a/abs"],"misc":["someone@example.com","file:///etc/passwd","http://a.com/","ws://h/x","{\"u\":\"http://j/\"}"],"bad":["TypeError","ERR_INVALID_URL","Invalid URL"],"canParse":[true,false],"sp":["a=1&b=2&b=3",["2","3"],"k=v+w&n=1","a=%7E%21*%28%29%27",["a","b"],3],"sameURL":true,"parse":["http:",true,"user:pass","host.com:8080","8080","host.com","#hash","?query=string&q=2","query=string&q=2","/p/a/t/h","/p/a/t/h?query=string&q=2","http://user:pass@host.com:8080/p/a/t/h?query=string&q=2#hash"],"parseQ":["/x/y","?a=1&a=2&b=3",["1","2"],"3","/x/y?a=1&a=2&b=3",null,null],"parseNoQ":["/","https://ex.com/",null,"{}","foo/bar"],"urlFormat":["https://ex.com:8443/a b?q=x%20y&r=1&r=2#h","http://h.com/rel?a=1","http://a.com/b?c=d#e","http://w.com/x"],"resolve":["/one/two/four","http://example.com/one","http://example.com/two"]}`

// TestJS_Modules runs jsModulesSnippet and compares its results with
// Node's, field by field; it also requires the modules during a request,
// and a module that is not built in.
func TestJS_Modules(t *testing.T) {
	env := newJSEnv(t)
	var want map[string]any
	if err := json.Unmarshal([]byte(jsModulesNode), &want); err != nil {
		t.Fatal(err)
	}
	for _, policy := range []Policy{PolicyPool, PolicyFresh} {
		p := env.pool(t, policy, jsModulesSnippet+"module.exports = function (ctx, cb) { cb(null, out); };\n")
		for i := 0; i < 2; i++ {
			status, body := answer(t, p, jsRequest())
			var got map[string]any
			if err := json.Unmarshal([]byte(body), &got); status != 200 || err != nil {
				t.Fatalf("%d %s (%v)", status, body, err)
			}
			for k, w := range want {
				if !reflect.DeepEqual(got[k], w) {
					gj, _ := json.Marshal(got[k])
					wj, _ := json.Marshal(w)
					t.Errorf("%s: %s\n  node: %s", k, gj, wj)
				}
			}
			if len(got) != len(want) {
				t.Errorf("%d results, node %d", len(got), len(want))
			}
		}
	}
	p := env.pool(t, PolicyPool, `module.exports = function (ctx, cb) {
  var name = ctx.query.m, r = [];
  r.push(require('events') === require('node:events'), typeof require('util').promisify, typeof URL, new URLSearchParams('a=1').get('a'));
  require('util').promisify(function (a, done) { setTimeout(done, 1, null, a * 2); })(21).then(function (v) {
    r.push(v);
    try { require(name); } catch (e) { r.push(e.code, e.message); }
    cb(null, r);
  });
};`)
	req := jsRequest()
	req.Query = []KV{{Key: "m", Value: "left-pad"}}
	if status, body := answer(t, p, req); status != 200 || body != `[true,"function","function","1",42,"MODULE_NOT_FOUND","Cannot find module 'left-pad': not a built-in module of this server"]` {
		t.Fatalf("%d %s", status, body)
	}
}

// jsHello is the JavaScript hello of the benchmarks.
const jsHello = `module.exports = function (context, cb) { cb(null, { message: 'hello, world' }); };`

// TestJS_Footprint checks the memory a JavaScript webtask holds once its
// code is evaluated (the goal: at most 1 MiB), and that a fresh
// request neither grows it (an instance would be replaced instead of reset)
// nor keeps anything.
func TestJS_Footprint(t *testing.T) {
	env := newJSEnv(t)
	p := env.e.NewPoolSource(env.mod, "acme", "js", PolicyFresh, []byte(jsHello))
	defer p.Close(context.Background())
	inst, err := p.instantiate(context.Background(), time.Now().Add(jsTimeout))
	if err != nil {
		t.Fatal(err)
	}
	size := inst.mod.Memory().Size()
	mem, _ := inst.mod.Memory().Read(0, size)
	held := 0 // the pages holding anything: the rest is the heap's headroom, never touched
	for off := 0; off < len(mem); off += 4096 {
		if !bytes.Equal(mem[off:min(off+4096, len(mem))], make([]byte, min(4096, len(mem)-off))) {
			held += 4096
		}
	}
	inst.close(context.Background())
	t.Logf("memory after init: %d KiB, of which %d KiB hold data", size>>10, held>>10)
	if held > 1<<20 {
		t.Errorf("memory after init holds %d KiB, more than 1 MiB", held>>10)
	}
	if size-uint32(held) < 2<<20 {
		t.Errorf("memory after init is %d KiB with %d KiB held: the 2 MiB heap headroom is missing", size>>10, held>>10)
	}
	for i := 0; i < 20; i++ {
		if status, body := answer(t, p, jsRequest()); status != 200 || body != `{"message":"hello, world"}` {
			t.Fatalf("%d %s", status, body)
		}
	}
	if inst := <-p.idle; inst.mod.Memory().Size() != size {
		t.Errorf("memory after fresh requests: %d KiB, after init %d KiB", inst.mod.Memory().Size()>>10, size>>10)
	} else {
		p.idle <- inst
	}
}

// BenchmarkJS_Serve is one request of the JavaScript hello: on a live
// instance (pool), a reset one (fresh) or a new one, evaluating the code
// again (fresh-instantiate).
func BenchmarkJS_Serve(b *testing.B) {
	wasm := jsEngineWasm(b)
	for _, tc := range []struct {
		name   string
		cfg    Config
		policy Policy
	}{
		{"pool", Config{}, PolicyPool},
		{"fresh", Config{}, PolicyFresh},
		{"fresh-instantiate", Config{FreshByInstantiate: true}, PolicyFresh},
	} {
		b.Run(tc.name, func(b *testing.B) {
			e := newEngine(b, tc.cfg)
			mod, err := e.Compile(context.Background(), wasm)
			if err != nil {
				b.Fatal(err)
			}
			p := e.NewPoolSource(mod, "bench", "hello", tc.policy, []byte(jsHello))
			defer p.Close(context.Background())
			if err := p.Warm(context.Background()); err != nil {
				b.Fatal(err)
			}
			req, resp := jsRequest(), &Response{}
			b.ReportAllocs()
			for b.Loop() {
				resp.Reset()
				if err := p.Serve(context.Background(), req, resp); err != nil {
					b.Fatal(err)
				}
			}
			if string(resp.Body) != `{"message":"hello, world"}` {
				b.Fatalf("body %q", resp.Body)
			}
		})
	}
}

// BenchmarkJS_Init is a new instance of a JavaScript webtask: instantiating
// the engine and evaluating the webtask's code (what a pooled instance costs
// when it is created, and fresh-instantiate per request).
func BenchmarkJS_Init(b *testing.B) {
	env := newJSEnv(b)
	p := env.e.NewPoolSource(env.mod, "bench", "hello", PolicyPool, []byte(jsHello))
	defer p.Close(context.Background())
	for b.Loop() {
		if err := p.Warm(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJS_Compile compiles the engine in a new Engine: cold (no cache)
// and from a warm on-disk compilation cache (a restart).
func BenchmarkJS_Compile(b *testing.B) {
	wasm := jsEngineWasm(b)
	compile := func(b *testing.B, dir string) {
		e, err := New(context.Background(), Config{CacheDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close(context.Background())
		if _, err := e.Compile(context.Background(), wasm); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			compile(b, "")
		}
	})
	b.Run("cache", func(b *testing.B) {
		dir := b.TempDir()
		compile(b, dir)
		for b.Loop() {
			compile(b, dir)
		}
	})
}

// TestJS_FreshRestoresWrittenPages: a fresh request sees the snapshot
// however much the previous ones wrote, wherever: each request writes a
// different part of a 2 MiB array made at initialisation (the image
// restore copies back exactly the pages written, memory_linux.go) and
// reads what the others wrote.
func TestJS_FreshRestoresWrittenPages(t *testing.T) {
	env := newJSEnv(t)
	src := `var big = new Uint8Array(2 << 20);
module.exports = function (ctx, cb) {
  var at = +ctx.path.slice(1), sum = 0;
  for (var i = 0; i < big.length; i += 4096) sum += big[i];
  for (var j = at; j < at + 65536; j++) big[j] = 1;
  globalThis.leak = (globalThis.leak || 0) + 1;
  cb(null, { sum: sum, leak: globalThis.leak });
};`
	p := env.e.NewPoolSource(env.mod, "acme", "js", PolicyFresh, []byte(src))
	defer p.Close(context.Background())
	for i, at := range []int{0, 1 << 20, 65536, 3 << 19, 0} {
		req := jsRequest()
		req.Path = "/" + strconv.Itoa(at)
		if status, body := answer(t, p, req); status != 200 || body != `{"sum":0,"leak":1}` {
			t.Fatalf("request %d (writing at %d): %d %s, want the snapshot's state", i, at, status, body)
		}
	}
}
