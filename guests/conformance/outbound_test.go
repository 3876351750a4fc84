package conformance_test

import (
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wasmtask/wasmtask/host/api"
)

// requestJS exercises JavaScript's request module and global fetch
// against the echo server (its url is the webtask's secret ECHO, a host
// not on the allow-list is DENIED) and answers what each call saw.
const requestJS = `
const request = require('request');
module.exports = function (context, cb) {
  const base = context.secrets.ECHO, out = {};
  const pending = [];
  const wait = (name, run) => pending.push(new Promise((resolve) => run((v) => { out[name] = v; resolve(); })));
  wait('get', (done) => request.get(base + '/a?x=1', { qs: { q: 'a b&c', skip: undefined, n: 2 }, headers: { 'X-Probe': 'yes', 'Content-Length': '99' } },
    (err, res, body) => done(err ? String(err) : { status: res.statusCode, ct: res.headers['content-type'], body: JSON.parse(body) })));
  wait('json', (done) => request({ uri: base + '/j', method: 'POST', json: { a: 1 } },
    (err, res, body) => done(err ? String(err) : { status: res.statusCode, method: body.method, body: body.body, ct: body.headers['Content-Type'], accept: body.headers.Accept })));
  wait('form', (done) => request.post(base + '/f', { form: { a: 'x y', b: 'é' } },
    (err, res, body) => done(err ? String(err) : JSON.parse(body))));
  wait('binary', (done) => request.put(base + '/b', { body: Buffer.from([0, 1, 255]), encoding: null },
    (err, res, body) => done(err ? String(err) : { isBuffer: Buffer.isBuffer(body), hex: JSON.parse(body.toString()).hex })));
  wait('status', (done) => request(base + '/status/503', (err, res, body) => done(err ? String(err) : { status: res.statusCode, body: body })));
  wait('events', (done) => { const seen = []; request(base + '/e').on('response', (r) => seen.push('response ' + r.statusCode)).on('end', () => { seen.push('end'); done(seen); }); });
  wait('denied', (done) => request(context.secrets.DENIED, (err) => done({ code: err.code, errno: err.errno, message: err.message })));
  wait('fetch', (done) => fetch(base + '/fetch', { method: 'POST', headers: { 'content-type': 'application/json', 'x-a': '1' }, body: '{"k":"v"}' })
    .then((r) => r.json().then((j) => done({ status: r.status, ok: r.ok, ct: r.headers.get('content-type'), method: j.method, body: j.body, xa: j.headers['X-A'] })), (e) => done(String(e))));
  wait('fetch404', (done) => fetch(base + '/status/404').then((r) => r.clone().arrayBuffer().then((b) =>
    r.text().then((t) => done({ status: r.status, ok: r.ok, text: t, bytes: b.byteLength })))));
  wait('fetchDenied', (done) => fetch(context.secrets.DENIED).then(() => done('resolved'), (e) => done({ name: e.name, message: e.message, cause: e.cause && e.cause.code, why: e.cause && e.cause.message })));
  Promise.all(pending).then(() => cb(null, out));
};
`

// TestJS_Request: JavaScript's request module and global fetch make real
// calls through the host's outbound HTTP: request's qs, headers (the
// host's own dropped), json, form, binary bodies, statuses, events and
// the host's refusal as the callback's error with a code; fetch's
// Response (status, ok, headers.get, json, text, arrayBuffer) and its
// TypeError('fetch failed') with the host's reason as cause.
func TestJS_Request(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if st, ok := strings.CutPrefix(r.URL.Path, "/status/"); ok {
			w.Header().Set("Content-Type", "text/plain")
			code := map[string]int{"503": 503, "404": 404, "200": 200}[st]
			w.WriteHeader(code)
			_, _ = io.WriteString(w, "status "+st)
			return
		}
		h := map[string]string{}
		for k := range r.Header {
			h[k] = r.Header.Get(k)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery,
			"headers": h, "body": string(body), "hex": hex.EncodeToString(body)})
	}))
	t.Cleanup(echo.Close)
	s := start(t, api.Config{})
	host := strings.TrimPrefix(echo.URL, "http://")
	_, port, _ := net.SplitHostPort(host)
	s.setOutbound(t, "js-request", host)
	s.mustUpload(t, "js-request", "calls", guestCode{[]byte(requestJS), "application/javascript"},
		"?secret=ECHO:"+echo.URL+"&secret=DENIED:http://127.0.0.2:"+port+"/")
	r := s.get(t, "/api/run/js-request/calls")
	fromWebtask(t, r, 200, "application/json")
	var got map[string]any
	r.JSON(t, &got)
	str := func(v any) string { b, _ := json.Marshal(v); return string(b) }

	get, _ := got["get"].(map[string]any)
	gb, _ := get["body"].(map[string]any)
	gh, _ := gb["headers"].(map[string]any)
	if get["status"] != 200.0 || get["ct"] != "application/json" || gb["method"] != "GET" || gb["path"] != "/a" ||
		gb["query"] != "x=1&q=a%20b%26c&n=2" || gh["X-Probe"] != "yes" {
		t.Errorf("get = %s", str(get))
	}
	want := map[string]string{
		"json":        `{"accept":"application/json","body":"{\"a\":1}","ct":"application/json","method":"POST","status":200}`,
		"binary":      `{"hex":"0001ff","isBuffer":true}`,
		"status":      `{"body":"status 503","status":503}`,
		"events":      `["response 200","end"]`,
		"denied":      `{"code":"EWT_HTTP_DENIED","errno":-5,"message":"127.0.0.2:` + port + ` is not on the container's outbound allow-list"}`,
		"fetch":       `{"body":"{\"k\":\"v\"}","ct":"application/json","method":"POST","ok":true,"status":200,"xa":"1"}`,
		"fetch404":    `{"bytes":10,"ok":false,"status":404,"text":"status 404"}`,
		"fetchDenied": `{"cause":"EWT_HTTP_DENIED","message":"fetch failed","name":"TypeError","why":"127.0.0.2:` + port + ` is not on the container's outbound allow-list"}`,
	}
	for k, w := range want {
		if g := str(got[k]); g != w {
			t.Errorf("%s = %s\nwant %s", k, g, w)
		}
	}
	form, _ := got["form"].(map[string]any)
	fh, _ := form["headers"].(map[string]any)
	if form["body"] != "a=x%20y&b=%C3%A9" || fh["Content-Type"] != "application/x-www-form-urlencoded" {
		t.Errorf("form = %s", str(form))
	}
	if len(got) != len(want)+2 {
		t.Errorf("answers: %s", str(got))
	}
}
