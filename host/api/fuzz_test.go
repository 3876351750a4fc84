package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"maps"
	"mime"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/wasmtask/wasmtask/host/deploy"
	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/host/token"
)

// Fuzz targets for every decoder of the HTTP edge: whole requests
// (FuzzRoute), the list query (FuzzListQuery), upload bodies
// (FuzzUploadJSON), run bodies for pb/mb (FuzzParseBody), the token of
// revoke and inspect (FuzzTarget) and issue requests (FuzzIssue). Each
// checks properties of the answer, not only that nothing panics, on one
// server per fuzzing process (fuzzServer). Seeds: the f.Add calls and
// testdata/fuzz/<target>/. `make fuzz-short` runs each briefly.
//
// The fuzzer cannot invent a valid module or token, so inputs may name
// them: fuzzServer.expand replaces $CODE (hello.wasm in base64), $SHA (its
// sha256), $ADMIN (the admin token) and $TOKEN (a token issued for the
// input) before the request is made.

// fuzzSecret is the secret acme/hello is deployed with: no host answer may
// show it.
const fuzzSecret = "fz-secret-value-5c0e9b21"

// fuzzServer is a server for one fuzz target: acme/hello deployed (with a
// secret, pb and mb), the admin token, a tenant token (ten acme, dd 0, dr 1: it may
// manage acme, not issue tokens nor revoke itself) and the admin's claims.
type fuzzServer struct {
	*Server
	dir         string
	hello       []byte
	tenant      string
	adminClaims *token.Claims
	ln          *fasthttputil.InmemoryListener // set by listen
	log         *leakLog                       // set by listen
}

func newFuzzServer(f *testing.F) *fuzzServer {
	f.Helper()
	dir := f.TempDir()
	s, err := Open(context.Background(), Config{DataDir: dir,
		Engine: engine.Config{Timeout: 2 * time.Second, MemoryLimitPages: 256}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(s.Close)
	hello, err := os.ReadFile(filepath.Join("testdata", "hello.wasm"))
	if err != nil {
		f.Fatal(err)
	}
	fs := &fuzzServer{Server: s, dir: dir, hello: hello}
	if fs.adminClaims, err = s.signer.Verify(s.admin); err != nil {
		f.Fatal(err)
	}
	fs.deployHello(f)
	fs.tenant = fs.mustIssue(f, s.admin, `{"ten":"acme","dd":0,"dr":1}`)
	return fs
}

// deployHello (re)deploys acme/hello with its secret, parsing and merging
// request bodies (pb, mb).
func (fs *fuzzServer) deployHello(tb testing.TB) {
	tb.Helper()
	body := `{"code":"` + base64.StdEncoding.EncodeToString(fs.hello) + `","secrets":{"api-key":"` + fuzzSecret + `"},"pb":1,"mb":1}`
	fs.mustDeploy(tb, "acme", "hello", body)
}

func (fs *fuzzServer) mustDeploy(tb testing.TB, container, name, body string) {
	tb.Helper()
	ctx := fs.do("PUT", "/api/webtask/"+container+"/"+name, fs.admin, "application/json", []byte(body))
	if st := ctx.Response.StatusCode(); st != 200 && st != 201 {
		tb.Fatalf("deploy %s/%s: %d %s", container, name, st, ctx.Response.Body())
	}
}

func (fs *fuzzServer) mustIssue(tb testing.TB, parent, claims string) string {
	tb.Helper()
	ctx := fs.do("POST", "/api/tokens/issue", parent, "application/json", []byte(claims))
	if ctx.Response.StatusCode() != 200 {
		tb.Fatalf("issue %s: %d %s", claims, ctx.Response.StatusCode(), ctx.Response.Body())
	}
	return string(ctx.Response.Body())
}

// do serves one request through the handler, without a connection, and
// returns its context: the request as the server saw it, and the answer.
func (fs *fuzzServer) do(method, uri, tok, contentType string, body []byte) *fasthttp.RequestCtx {
	ctx := newCtx(method, uri, tok, contentType, body)
	fs.Handler()(ctx)
	return ctx
}

// newCtx returns the context of a request as the handler gets it.
func newCtx(method, uri, tok, contentType string, body []byte) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	req.Header.SetHost("fuzz.test")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if contentType != "" {
		req.Header.SetContentType(contentType)
	}
	if len(body) > 0 {
		req.SetBody(body)
		req.Header.SetContentLength(len(body))
	}
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(&req, nil, nil)
	return ctx
}

// expand replaces the names of things the fuzzer cannot invent (see the
// file comment); victim is the token $TOKEN stands for.
func (fs *fuzzServer) expand(s, victim string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	return strings.NewReplacer("$CODE", base64.StdEncoding.EncodeToString(fs.hello), "$SHA", engine.SHA256(fs.hello),
		"$ADMIN", fs.admin, "$TOKEN", victim).Replace(s)
}

// victim issues a token for $TOKEN: ten acme, issued by the admin token.
func (fs *fuzzServer) victim(t *testing.T) string {
	raw, _, err := fs.signer.Issue(fs.adminClaims, &token.Request{Containers: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// Properties of every host answer.

// hostError checks a host answer of status 400 or more: a JSON apiError
// whose code is the status, whose id is the error table's for that status
// (errors.go), with a message.
func hostError(t *testing.T, resp *fasthttp.Response) apiError {
	t.Helper()
	status := resp.StatusCode()
	if ct := string(resp.Header.ContentType()); ct != "application/json" {
		t.Fatalf("error %d has content-type %q: %q", status, ct, resp.Body())
	}
	var e apiError
	dec := json.NewDecoder(bytes.NewReader(resp.Body()))
	if status != 409 { // a conflict carries the stored document beside the error (storage.go)
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error %d is not an error document: %v: %q", status, err, resp.Body())
	}
	if e.Code != status || e.Message == "" || !inErrorTable(status, e.Error) {
		t.Fatalf("error document %+v does not match its status %d and the error table", e, status)
	}
	return e
}

// inErrorTable reports whether status and id are a row of errorTable.
// "internal" (an error no row matches) is not: no input should reach one.
func inErrorTable(status int, id string) bool {
	for _, e := range errorTable {
		if e.status == status && e.id == id {
			return true
		}
	}
	return false
}

// noLeak fails if a host answer shows what it must not — the data
// directory, the secret of acme/hello, the admin or tenant token, a file
// path — unless reflected, the part of the request an answer may repeat
// (a path, a meta value), holds it too.
func (fs *fuzzServer) noLeak(t *testing.T, resp *fasthttp.Response, reflected []byte) {
	t.Helper()
	var answer []byte
	resp.Header.VisitAll(func(k, v []byte) { answer = append(append(answer, k...), v...) })
	answer = append(answer, resp.Body()...)
	for _, s := range []string{fs.dir, fuzzSecret, fs.admin, fs.tenant, "/tmp", "/root", "/home", "/var", ".go:"} {
		if bytes.Contains(answer, []byte(s)) && !bytes.Contains(reflected, []byte(s)) {
			t.Fatalf("answer shows %q: %q", s, answer)
		}
	}
}

// FuzzRoute sends whole requests — method, raw path, query, a credential,
// content type and body, with a Content-Length or chunked — over an
// in-memory connection to the real server. Properties: an answer always
// comes (no panic, no hang); only a run path has a guest answer; every
// other answer is the host's, its errors JSON documents of the error
// table, never "internal"; no answer shows a secret, a token, the data
// directory or a file path; no management path or token-run answers 2xx
// without a token that allows it.
func FuzzRoute(f *testing.F) {
	for _, s := range []struct {
		method, path, query string
		auth                uint8
		cred, ct            string
		body                string
		chunked             bool
	}{
		{"GET", "/api/run/acme/hello", "", 0, "", "", "", false},
		{"POST", "/api/run/acme/hello/sub/../../x", "a=1&a=2&key=z", 0, "", "application/json", `{"a":1}`, true},
		{"GET", "/api/run/acme/%2e%2e/hello", "", 0, "", "", "", false},
		{"GET", "/api/run/acme", "", 2, "", "", "", false},
		{"POST", "/api/run/acme", "", 1, "", "application/wasm", "\x00asm\x01\x00\x00\x00", false},
		{"GET", "/api/webtask/acme", "meta=a:b&limit=1", 1, "", "", "", false},
		{"GET", "/api/webtask/acme/hello", "", 4, "", "", "", false},
		{"GET", "/api/webtask/other", "", 4, "", "", "", false},
		{"PUT", "/api/webtask/acme/hello/data", "", 4, "", "application/json", `{"data":"{\"a\":1}","etag":"0"}`, false},
		{"GET", "/api/webtask/acme/hello/data", "", 1, "", "", "", false},
		{"DELETE", "/api/webtask/acme/hello", "", 3, "Bearer eyJhbGciOiJub25lIn0.e30.", "", "", false},
		{"PUT", "/api/webtask/acme/x\x00y", "", 0, "", "application/json", `{"code":"$CODE"}`, false},
		{"PUT", "/api/webtask/acme/new", "secret=a:b&pb=2", 1, "", "application/wasm", "\x00asm\x01\x00\x00\x00", false},
		{"POST", "/api/tokens/issue", "", 5, "", "application/json", `{"ten":"/^a/","dd":1}`, false},
		{"POST", "/api/tokens/revoke", "token=$ADMIN", 1, "", "", "", false},
		{"GET", "/api/tokens/inspect", "decrypt=1", 4, "", "", "", false},
		{"GET", "/api/logs/tenant/acme", "", 1, "", "", "", false},
		{"HEAD", "/healthz", "", 0, "", "", "", false},
		{"GET", "/api/webtask", "", 1, "", "", "", false},
		{"GET", "/" + strings.Repeat("a/", 9000), "", 0, "", "", "", false},
		{"OPTIONS", "*", "", 6, "$TOKEN", "", "x", true},
	} {
		f.Add(s.method, s.path, s.query, s.auth, s.cred, s.ct, []byte(s.body), s.chunked)
	}
	fs := newFuzzServer(f)
	fs.listen(f)
	f.Fuzz(func(t *testing.T, method, path, query string, auth uint8, cred, contentType string, body []byte, chunked bool) {
		var victim string
		if strings.Contains(path+query+cred+string(body), "$TOKEN") {
			victim = fs.victim(t)
		}
		path, query, cred = fs.expand(path, victim), fs.expand(query, victim), fs.expand(cred, victim)
		body = []byte(fs.expand(string(body), victim))
		raw := fs.rawRequest(method, path, query, auth, cred, contentType, body, chunked)
		req, reqOK := parseRequest(raw)
		resp := fs.roundTrip(t, raw, reqOK && req.Header.IsHead())
		fs.checkRoute(t, raw, req, reqOK, resp, []byte(method+path+query+string(body)))
		fs.log.check(t)
		if st := resp.StatusCode(); st < 300 && !req.Header.IsGet() && string(req.URI().Path()) == "/api/webtask/acme/hello" {
			fs.deployHello(t) // replaced or deleted
		}
	})
}

// listen serves fs on an in-memory listener until the fuzz target ends,
// the log package writing to fs.log.
func (fs *fuzzServer) listen(f *testing.F) {
	fs.log = &leakLog{secrets: []string{fs.admin, fs.tenant, fuzzSecret, fs.dir}}
	prev := log.Writer()
	log.SetOutput(fs.log)
	f.Cleanup(func() { log.SetOutput(prev) })
	fs.ln = fasthttputil.NewInmemoryListener()
	done := make(chan struct{})
	go func() { defer close(done); _ = fs.Serve(fs.ln) }()
	f.Cleanup(func() { fs.Close(); _ = fs.ln.Close(); <-done })
}

// leakLog takes the output of the log package while FuzzRoute runs: it
// keeps the first line that shows a token, the secret or the data
// directory, and prints nothing (fasthttp logs a line per malformed
// request).
type leakLog struct {
	secrets []string
	mu      sync.Mutex
	leak    string
}

func (l *leakLog) Write(line []byte) (int, error) {
	for _, s := range l.secrets {
		if bytes.Contains(line, []byte(s)) {
			l.mu.Lock()
			if l.leak == "" {
				l.leak = string(line)
			}
			l.mu.Unlock()
		}
	}
	return len(line), nil
}

// check fails if a log line showed a secret.
func (l *leakLog) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	leak := l.leak
	l.leak = ""
	l.mu.Unlock()
	if leak != "" {
		t.Fatalf("the server logged a secret: %.400s", leak)
	}
}

// rawRequest builds the bytes of a request. The fuzzer picks every part but
// not the framing: CR and LF are dropped from the request line and header
// values, and the body is framed by a correct Content-Length or chunked
// encoding. auth picks the credential: 0 none, 1 the admin token, 2 the
// admin token as ?key=, 3 cred as the whole Authorization header, 4 the
// tenant token, 5 the admin token followed by cred, 6 cred as ?key=.
func (fs *fuzzServer) rawRequest(method, path, query string, auth uint8, cred, contentType string, body []byte, chunked bool) []byte {
	line := strings.NewReplacer("\r", "", "\n", "")
	var header string
	switch auth % 7 {
	case 1:
		header = "Bearer " + fs.admin
	case 2:
		query = joinQuery(query, "key="+fs.admin)
	case 3:
		header = cred
	case 4:
		header = "Bearer " + fs.tenant
	case 5:
		header = "Bearer " + fs.admin + cred
	case 6:
		query = joinQuery(query, "key="+cred)
	}
	var b bytes.Buffer
	b.WriteString(line.Replace(method) + " " + line.Replace(path))
	if query != "" {
		b.WriteString("?" + line.Replace(query))
	}
	b.WriteString(" HTTP/1.1\r\nHost: fuzz.test\r\n")
	if header != "" {
		b.WriteString("Authorization: " + line.Replace(header) + "\r\n")
	}
	if contentType != "" {
		b.WriteString("Content-Type: " + line.Replace(contentType) + "\r\n")
	}
	switch {
	case chunked:
		b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		if len(body) > 0 {
			b.WriteString(strconv.FormatInt(int64(len(body)), 16) + "\r\n")
			b.Write(body)
			b.WriteString("\r\n")
		}
		b.WriteString("0\r\n\r\n")
	case len(body) > 0:
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
		b.Write(body)
	default:
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

func joinQuery(q, arg string) string {
	if q == "" {
		return arg
	}
	return q + "&" + arg
}

// parseRequest parses raw as the server does, to know the path, method
// and token it saw.
func parseRequest(raw []byte) (*fasthttp.Request, bool) {
	req := new(fasthttp.Request)
	err := req.Read(bufio.NewReaderSize(bytes.NewReader(raw), 16<<10))
	return req, err == nil
}

// roundTrip sends raw on a new in-memory connection and reads the answer
// (only the headers of a log stream, which does not end).
func (fs *fuzzServer) roundTrip(t *testing.T, raw []byte, head bool) *fasthttp.Response {
	t.Helper()
	c, err := fs.ln.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(raw); err != nil { // buffered: the server reads it when it wants
		t.Fatal(err)
	}
	resp := new(fasthttp.Response)
	br := bufio.NewReader(c)
	if err := resp.Header.Read(br); err != nil {
		t.Fatalf("no answer to %q: %v", raw, err)
	}
	st := resp.StatusCode()
	switch {
	case string(resp.Header.ContentType()) == "text/event-stream":
		c.Close()
		fs.endStream(t, raw)
	case !head && st != 204 && st != 304:
		if err := resp.ReadBody(br, 16<<20); err != nil {
			t.Fatalf("answer %d to %q: body: %v", st, raw, err)
		}
	}
	if resp.ConnectionClose() {
		// The server logs a failed connection, then closes it: after EOF
		// its log line, if any, is written.
		_, _ = io.Copy(io.Discard, br)
	}
	return resp
}

// endStream waits until the log stream of the request, its connection
// closed, ends, waking it with records: a stream notices a closed
// connection only when it writes.
func (fs *fuzzServer) endStream(t *testing.T, raw []byte) {
	t.Helper()
	req, ok := parseRequest(raw)
	container, found := strings.CutPrefix(string(req.URI().Path()), "/api/logs/tenant/")
	if !ok || !found {
		t.Fatalf("a log stream answered %q", raw)
	}
	for deadline := time.Now().Add(5 * time.Second); fs.hub.Listening(container); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the log stream of %s outlives its connection", container)
		}
		fs.hub.Log(container, "fuzz", "", 1, []byte("fuzz"))
	}
}

// checkRoute checks the properties of FuzzRoute on one answer.
func (fs *fuzzServer) checkRoute(t *testing.T, raw []byte, req *fasthttp.Request, reqOK bool, resp *fasthttp.Response, reflected []byte) {
	t.Helper()
	path := string(req.URI().Path())
	st := resp.StatusCode()
	switch src := string(resp.Header.Peek(headerSource)); {
	case src == "webtask":
		if !reqOK || !strings.HasPrefix(path, "/api/run/") {
			t.Fatalf("a guest answered %q", raw)
		}
	case src != "host":
		t.Fatalf("answer %d to %q has %s %q", st, raw, headerSource, src)
	case st >= 400 && !req.Header.IsHead(): // a HEAD answer has no body to check
		hostError(t, resp)
	case st != 200 && st != 201 && st != 204 && st < 400:
		t.Fatalf("host answered %d to %q", st, raw)
	}
	fs.noLeak(t, resp, reflected)
	if st < 200 || st >= 300 {
		return
	}
	if !reqOK {
		t.Fatalf("success %d for a request that does not parse: %q", st, raw)
	}
	if !fs.allows(req, path) {
		t.Fatalf("success %d without a token that allows it: %q", st, raw)
	}
}

// allows reports whether the token of req allows a success on path. Only
// the run of a named webtask, /healthz and /api/js/modules need none; the admin token may do
// anything; another token may use the token endpoints (issue only with a
// depth left, revoke only without dr: the tenant token has neither), and
// manage or run code in the containers its ten allows (manage: only if it
// fixes no code).
func (fs *fuzzServer) allows(req *fasthttp.Request, path string) bool {
	if rest, ok := strings.CutPrefix(path, "/api/run/"); ok {
		if _, name := split(rest); name != "" {
			return true
		}
	} else if !strings.HasPrefix(path, "/api/") || path == deploy.JSModulesPath {
		return true
	}
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(req, nil, nil)
	c, err := fs.signer.Verify(string(bearerBytes(ctx)))
	switch {
	case err != nil:
		return false
	case c.IsRoot():
		return true
	case path == "/api/tokens/issue":
		return c.Depth > 0
	case path == "/api/tokens/revoke":
		return c.DenyRevokeSelf == 0
	case path == "/api/tokens/inspect":
		return true
	}
	for _, p := range []string{"/api/run/", "/api/webtask/", "/api/logs/tenant/"} {
		if rest, ok := strings.CutPrefix(path, p); ok {
			container, _ := split(rest)
			return c.AllowsContainer(container) && (p == "/api/run/" || !c.FixesCode())
		}
	}
	return false
}

// listed is a webtask FuzzListQuery lists, in name order.
var listed = []struct{ name, meta string }{
	{"a", `{"team":"red","tier":"1"}`},
	{"b", `{"team":"blue","tier":"1"}`},
	{"c", `{"team":"red","tier":"2","x:y":"z:w"}`},
	{"d", `{}`},
}

// FuzzListQuery fuzzes the query of GET /api/webtask/{container} (meta=,
// offset=, limit=) on a container of four webtasks. Properties: 200 with
// the right page of the webtasks whose meta has every filter, in name
// order, x-wt-total counting them all — or 400 bad_request for an argument
// out of its range; nothing else.
func FuzzListQuery(f *testing.F) {
	for _, q := range []string{"", "meta=team:red", "meta=x:", "meta=team:red&meta=tier:2", "meta=team", "meta=:x",
		"meta=x:y:z:w", "offset=1&limit=2", "offset=-1", "limit=0", "limit=1001", "limit=%2B1", "offset=1073741824",
		"offset=99999999999999999999", "meta=team:red&meta=team:blue", "limit=1&limit=x", "offset=", "meta=tier:1#x"} {
		f.Add(q)
	}
	fs := newFuzzServer(f)
	for _, w := range listed {
		fs.mustDeploy(f, "lst", w.name, `{"code":"`+base64.StdEncoding.EncodeToString(fs.hello)+`","meta":`+w.meta+`}`)
	}
	f.Fuzz(func(t *testing.T, query string) {
		ctx := fs.do("GET", "/api/webtask/lst?"+uriSafe(query), fs.admin, "", nil)
		args := ctx.QueryArgs()
		filters, fOK := metaFilters(args.PeekMulti("meta"))
		offset, oOK := intOr(args.Peek("offset"), 0, 0, 1<<30)
		limit, lOK := intOr(args.Peek("limit"), maxPage, 1, maxPage)
		resp := &ctx.Response
		switch st := resp.StatusCode(); {
		case st == 400 && !(fOK && oOK && lOK):
			if e := hostError(t, resp); e.Error != "bad_request" {
				t.Fatalf("400 with error %q", e.Error)
			}
		case st == 200 && fOK && oOK && lOK:
			checkPage(t, resp, filters, offset, limit)
		default:
			t.Fatalf("query %q (valid: meta %v, offset %v, limit %v): %d %s", query, fOK, oOK, lOK, st, resp.Body())
		}
	})
}

// uriSafe escapes the bytes a request line cannot hold (controls, space,
// '#', non-ASCII): what a client sends for them. '%' stays, so that inputs
// may carry escapes of their own.
func uriSafe(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '#' {
			b.WriteString("%" + strings.ToUpper(strconv.FormatUint(uint64(c)|0x100, 16)[1:]))
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// metaFilters parses meta=key:value arguments; the last value of a key wins.
func metaFilters(args [][]byte) (map[string]string, bool) {
	m := map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(string(a), ":")
		if !ok || k == "" {
			return nil, false
		}
		m[k] = v
	}
	return m, true
}

// intOr parses an optional whole number in [lo, hi].
func intOr(v []byte, def, lo, hi int) (int, bool) {
	if len(v) == 0 {
		return def, true
	}
	n, err := strconv.Atoi(string(v))
	return n, err == nil && lo <= n && n <= hi
}

// checkPage checks a list answer against the webtasks of listed.
func checkPage(t *testing.T, resp *fasthttp.Response, filters map[string]string, offset, limit int) {
	t.Helper()
	var want []string
	for _, w := range listed {
		var meta map[string]string
		_ = json.Unmarshal([]byte(w.meta), &meta)
		if matches(meta, filters) {
			want = append(want, w.name)
		}
	}
	total := len(want)
	want = want[min(offset, total):min(offset+limit, total)]
	var page []webtaskInfo
	if err := json.Unmarshal(resp.Body(), &page); err != nil || page == nil {
		t.Fatalf("list is not a JSON array: %v: %s", err, resp.Body())
	}
	var got []string
	for _, w := range page {
		got = append(got, w.Name)
	}
	if !slices.Equal(got, want) || string(resp.Header.Peek("x-wt-total")) != strconv.Itoa(total) {
		t.Fatalf("filters %v offset %d limit %d: got %v (x-wt-total %s), want %v of %d",
			filters, offset, limit, got, resp.Header.Peek("x-wt-total"), want, total)
	}
}

// matches reports whether meta has every filter; as in listWebtasks, a
// missing key counts as the empty value (meta=k: lists the webtasks
// without k).
func matches(meta, filters map[string]string) bool {
	for k, v := range filters {
		if meta[k] != v {
			return false
		}
	}
	return true
}

// FuzzUploadJSON fuzzes the JSON body of PUT /api/webtask/{c}/{n} ($CODE
// is hello.wasm). Properties: a body parseUploadJSON refuses is answered
// with its error; any other is stored (200/201) or refused with a 4xx (or,
// JavaScript code on this engine-less server, 501 no_js_engine); a
// stored webtask's answer, and its GET, list the secrets by name only, its
// meta as sent, and carry a token with the params as pctx and no secret.
func FuzzUploadJSON(f *testing.F) {
	for _, s := range []string{
		`{"code":"$CODE","secrets":{"k":"a-secret-value"},"meta":{"m":"v"},"params":{"p":"q"},"pb":1,"mb":1}`,
		`{"code":"$CODE","secrets":{"":"x"}}`,
		`{"code":"$CODE","meta":{"wt-instance":"fresh"}}`,
		`{"code":"$CODE","meta":{"wt-instance":"bogus"}}`,
		`{"code":"$CODE","pb":2}`,
		`{"code":"$CODE","secrets":{"a":1}}`,
		`{"code":"AGFzbQEAAAA="}`,
		`{"code":"not base64!"}`,
		`{"code":""}`,
		`{"CODE":"$CODE","Secrets":{"K":"v"}}`,
		`{"code":"$CODE"} trailing`,
		`[]`,
		`{"code":"$CODE","secrets":{"k\u0000":"v"},"meta":{"\u00e9":"\ud800"}}`,
	} {
		f.Add([]byte(s))
	}
	fs := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		body = []byte(fs.expand(string(body), ""))
		up, perr := fs.parseUploadJSON(body)
		ctx := fs.do("PUT", "/api/webtask/up/w", fs.admin, "application/json", body)
		resp := &ctx.Response
		st := resp.StatusCode()
		fs.noLeak(t, resp, body)
		switch {
		case perr != nil:
			wantStatus, wantID, _ := classify(perr)
			if e := hostError(t, resp); st != wantStatus || e.Error != wantID || e.Message != perr.Error() {
				t.Fatalf("parseUploadJSON: %v (%d %s); the server answered %d %s", perr, wantStatus, wantID, st, resp.Body())
			}
		case st == 200 || st == 201:
			fs.checkStored(t, resp.Body(), up)
			fs.checkStored(t, fs.do("GET", "/api/webtask/up/w", fs.admin, "", nil).Response.Body(), up)
		case st >= 400 && st < 500:
			hostError(t, resp)
		case st == 501 && up.JS != nil: // JavaScript, on a server without the engine
			if e := hostError(t, resp); e.Error != "no_js_engine" {
				t.Fatalf("upload %q: %d %s", body, st, resp.Body())
			}
		default:
			t.Fatalf("upload %q: %d %s", body, st, resp.Body())
		}
	})
}

// checkStored checks the description of up/w against what was uploaded:
// every field is the one expected, so none can hold a secret value; the
// webtask's token carries only its container, name, params, pb and mb; and
// no string in the answer is a secret value unless it was also sent as a
// meta value or a secret name.
func (fs *fuzzServer) checkStored(t *testing.T, answer []byte, up deploy.Upload) {
	t.Helper()
	var w webtaskInfo
	dec := json.NewDecoder(bytes.NewReader(answer))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		t.Fatalf("stored webtask: %v: %s", err, answer)
	}
	names, meta := slices.Sorted(maps.Keys(up.Secrets)), up.Meta
	if names == nil {
		names = []string{}
	}
	if meta == nil {
		meta = map[string]string{}
	}
	code := up.Wasm
	if up.JS != nil {
		code = up.JS
	}
	if w.Container != "up" || w.Name != "w" || w.SHA256 != engine.SHA256(code) || w.Size != int64(len(code)) ||
		!slices.Equal(w.Secrets, names) || !maps.Equal(w.Meta, meta) || w.URL != "http://fuzz.test/api/run/up/w" {
		t.Fatalf("stored webtask %s; sent secrets %v, meta %v", answer, names, meta)
	}
	c, err := fs.signer.Parse(w.Token)
	if err != nil {
		t.Fatalf("webtask token: %v", err)
	}
	// url names the webtask's code (sandboxjs reads it), nothing else.
	if c.EncryptedContext != "" || c.Containers != "up" || c.WebtaskName != "w" || c.URL != "sha256:"+w.SHA256 || c.Code != "" ||
		c.Meta != nil || !maps.Equal(c.PublicContext, up.Params) || c.ParseBody != up.ParseBody || c.MergeBody != up.MergeBody {
		t.Fatalf("webtask token claims %+v; params sent %v", c, up.Params)
	}
	shown := slices.Concat([]string{w.Container, w.Name, w.SHA256, w.URL, w.Policy, w.Token}, w.Secrets, slices.Collect(maps.Values(w.Meta)))
	for _, v := range up.Secrets {
		if slices.Contains(shown, v) && !slices.Contains(names, v) && !slices.Contains(slices.Collect(maps.Values(meta)), v) {
			t.Fatalf("secret value %q in %s", v, answer)
		}
	}
}

// FuzzParseBody feeds parseBody (pb/mb) arbitrary content types and bodies,
// and merges its fields into a request's data. Properties: a JSON body is
// accepted exactly when it is valid JSON, and the fields of an object are
// its keys with their values (strings as they are, others as JSON of the
// same value); a form gives the first value of each key; other types give
// nothing; merged data keeps the request's own values, holds one value per
// key, no empty or NUL key, sorted.
func FuzzParseBody(f *testing.F) {
	for _, s := range [][2]string{
		{"application/json", `{"a":"x","b":1.50,"c":{"z":1,"a":[true,null]},"a":"last"}`},
		{"application/json; charset=utf-8", `{"q":"body","\u0000":"nul","":"empty"}`},
		{"application/vnd.api+json", `[1,2]`},
		{"APPLICATION/JSON", `null`},
		{"application/json", `{"a":1} {"b":2}`},
		{"application/json", `{"a":"\ud800"}`},
		{"application/x-www-form-urlencoded", `q=body&a=1&a=2&b=%zz&=x&c`},
		{"text/plain", `{"a":1}`},
		{"application/json;;", `{}`},
	} {
		f.Add(s[0], []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		contentType = strings.Trim(contentType, " \t") // as a header value arrives
		var req fasthttp.Request
		req.Header.SetContentType(contentType)
		req.SetBody(body)
		ctx := new(fasthttp.RequestCtx)
		ctx.Init(&req, nil, nil)
		fields, err := parseBody(ctx)
		mt, _, _ := mime.ParseMediaType(contentType)
		switch {
		case mt == "application/json" || strings.HasSuffix(mt, "+json"):
			if (err == nil) != json.Valid(body) {
				t.Fatalf("parseBody(%q) error %v; json.Valid says %v", body, err, json.Valid(body))
			}
			if err == nil {
				checkJSONFields(t, body, fields)
			}
		case mt == "application/x-www-form-urlencoded":
			checkFormFields(t, body, fields)
		case err != nil || fields != nil:
			t.Fatalf("content type %q parsed: %v %v", contentType, fields, err)
		}
		checkMerge(t, fields)
	})
}

// checkJSONFields checks the fields of a valid JSON body.
func checkJSONFields(t *testing.T, body []byte, fields []engine.KV) {
	t.Helper()
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil { // not an object: no fields
		if fields != nil {
			t.Fatalf("fields %v from %q", fields, body)
		}
		return
	}
	if len(fields) != len(obj) {
		t.Fatalf("%d fields from an object of %d keys: %v", len(fields), len(obj), fields)
	}
	for _, kv := range fields {
		raw, ok := obj[kv.Key]
		var s string
		switch {
		case !ok:
			t.Fatalf("field %q is not a key of %q", kv.Key, body)
		case json.Unmarshal(raw, &s) == nil:
			if kv.Value != s {
				t.Fatalf("field %q = %q, the body has %q", kv.Key, kv.Value, s)
			}
		case !reflect.DeepEqual(decodeJSON(raw), decodeJSON([]byte(kv.Value))):
			t.Fatalf("field %q = %s, the body has %s", kv.Key, kv.Value, raw)
		}
	}
}

func decodeJSON(b []byte) any {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return err.Error()
	}
	return v
}

// checkFormFields checks the fields of a form: each key once, with its
// first value.
func checkFormFields(t *testing.T, body []byte, fields []engine.KV) {
	t.Helper()
	var args fasthttp.Args
	args.ParseBytes(body)
	seen := map[string]bool{}
	for _, kv := range fields {
		if seen[kv.Key] || kv.Value != string(args.Peek(kv.Key)) {
			t.Fatalf("form %q: field %q=%q repeated or not its first value", body, kv.Key, kv.Value)
		}
		seen[kv.Key] = true
	}
	args.VisitAll(func(k, _ []byte) {
		if !seen[string(k)] {
			t.Fatalf("form %q: key %q missing from %v", body, k, fields)
		}
	})
}

// checkMerge merges fields into a request's data as mb does.
func checkMerge(t *testing.T, fields []engine.KV) {
	t.Helper()
	data := []engine.KV{{Key: "a", Value: "from-query"}, {Key: "q", Value: "from-secret"}}
	merged := mergeBodyFields(slices.Clone(data), fields)
	have := map[string]string{}
	for i, kv := range merged {
		if _, dup := have[kv.Key]; dup || kv.Key == "" || strings.ContainsRune(kv.Key+kv.Value, 0) ||
			(i > 0 && merged[i-1].Key > kv.Key) {
			t.Fatalf("merged data %v", merged)
		}
		have[kv.Key] = kv.Value
	}
	for _, kv := range data {
		if have[kv.Key] != kv.Value {
			t.Fatalf("the body replaced %s: %v", kv.Key, merged)
		}
	}
}

// FuzzTarget fuzzes the token a revoke or inspect is about (target: the
// ?token= query, a JSON body or a text body; $TOKEN is a token issued for
// the input, $ADMIN the admin token), then revokes or inspects it with the
// admin token. Properties: target takes the query first, then the body,
// then the caller's own token; inspect answers the claims of exactly that
// token, or 400; revoke revokes exactly that token, or 400 — and 403 for
// the admin token, which stays valid.
func FuzzTarget(f *testing.F) {
	for _, s := range []struct {
		query, ct, body string
		revoke          bool
	}{
		{"token=$TOKEN", "", "", true},
		{"", "application/json", `{"token":"$TOKEN"}`, true},
		{"", "text/plain", "  $TOKEN\n", false},
		{"", "", "", false},
		{"token=$ADMIN", "", "", true},
		{"", "", `{"token":"$ADMIN","token":""}`, true},
		{"", "", `{"TOKEN":"$TOKEN"}`, false},
		{"token=&decrypt=1", "", `{"token":1}`, false},
		{"token=x.y.z", "", "$TOKEN", true},
	} {
		f.Add(s.query, s.ct, []byte(s.body), s.revoke)
	}
	fs := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, query, contentType string, body []byte, revoke bool) {
		victim := fs.victim(t)
		query, body = uriSafe(fs.expand(query, victim)), []byte(fs.expand(string(body), victim))
		checkTarget(t, newCtx("GET", "/api/tokens/inspect?"+query, fs.tenant, contentType, body), fs.tenant)
		if revoke {
			fs.checkRevoke(t, fs.do("POST", "/api/tokens/revoke?"+query, fs.admin, contentType, body))
		} else {
			fs.checkInspect(t, fs.do("GET", "/api/tokens/inspect?"+query, fs.admin, contentType, body))
		}
	})
}

// checkTarget checks target on a request made with the caller's token.
func checkTarget(t *testing.T, ctx *fasthttp.RequestCtx, caller string) {
	t.Helper()
	raw, ok := target(ctx)
	q := ctx.QueryArgs().Peek("token")
	body := bytes.TrimSpace(ctx.PostBody())
	var v struct {
		Token string `json:"token"`
	}
	switch {
	case len(q) > 0:
		ok = ok && raw == string(q)
	case len(body) == 0:
		ok = ok && raw == caller
	case body[0] == '{':
		if json.Unmarshal(body, &v) != nil || v.Token == "" {
			ok = !ok && raw == ""
		} else {
			ok = ok && raw == v.Token
		}
	default:
		ok = ok && raw == string(body)
	}
	if !ok {
		t.Fatalf("target of query %q, body %q = %q", q, body, raw)
	}
}

// checkInspect checks an admin's inspect answer.
func (fs *fuzzServer) checkInspect(t *testing.T, ctx *fasthttp.RequestCtx) {
	t.Helper()
	raw, _ := target(ctx)
	c, perr := fs.signer.Parse(raw)
	resp := &ctx.Response
	switch st := resp.StatusCode(); {
	case st == 200 && perr == nil:
		var out map[string]any
		if err := json.Unmarshal(resp.Body(), &out); err != nil || out["jti"] != c.ID {
			t.Fatalf("inspect of %s: %s", c.ID, resp.Body())
		}
		for _, k := range []string{"revoked", "expired"} {
			if _, ok := out[k].(bool); !ok {
				t.Fatalf("inspect has no %s: %s", k, resp.Body())
			}
		}
	case st == 400 && perr != nil:
		hostError(t, resp)
	default:
		t.Fatalf("inspect of %q (parse: %v): %d %s", raw, perr, st, resp.Body())
	}
}

// checkRevoke checks an admin's revoke answer.
func (fs *fuzzServer) checkRevoke(t *testing.T, ctx *fasthttp.RequestCtx) {
	t.Helper()
	raw, _ := target(ctx)
	c, perr := fs.signer.Parse(raw)
	resp := &ctx.Response
	switch st := resp.StatusCode(); {
	case perr == nil && c.ID == fs.adminClaims.ID:
		if e := hostError(t, resp); e.Error != "forbidden" {
			t.Fatalf("the admin token revoking itself: %d %s", st, resp.Body())
		}
	case st == 200 && perr == nil:
		var out struct {
			JTI     string `json:"jti"`
			Revoked bool   `json:"revoked"`
		}
		if err := json.Unmarshal(resp.Body(), &out); err != nil || out.JTI != c.ID || !out.Revoked || !fs.reg.IsRevoked(c) {
			t.Fatalf("revoke of %s: %s (revoked: %v)", c.ID, resp.Body(), fs.reg.IsRevoked(c))
		}
	case st == 400 && perr != nil:
		hostError(t, resp)
	default:
		t.Fatalf("revoke of %q (parse: %v): %d %s", raw, perr, st, resp.Body())
	}
	if _, err := fs.reg.Authenticate([]byte(fs.admin)); err != nil {
		t.Fatalf("the admin token no longer works: %v", err)
	}
}

// FuzzIssue fuzzes the claims of POST /api/tokens/issue ($SHA and $CODE
// name hello.wasm), issued from the admin token or from a token restricted
// to acme and beta. Properties: 200 is a text token the server verifies,
// a child of the parent, with a smaller depth, exactly the containers
// asked for (the parent's when none are asked), none the parent lacks,
// secrets only with fixed code and one container; anything else is a 4xx
// error document, the parse error when the body does not parse.
func FuzzIssue(f *testing.F) {
	for _, s := range []struct {
		body string
		mid  bool
	}{
		{`{"ten":"acme","dd":1,"ls":5}`, false},
		{`{"ten":"acme,beta,gamma"}`, true},
		{`{"ten":"beta"}`, true},
		{`{"ten":"/^a/"}`, true},
		{`{"ten":"/(/"}`, false},
		{`{"ten":" acme , beta"}`, true},
		{`{"ten":"acme","url":"sha256:$SHA","ectx":{"k":"v"}}`, false},
		{`{"ten":"acme","code":"$CODE","ectx":{"k":"v"},"pctx":{"p":"1"}}`, true},
		{`{"ten":"acme,beta","jtn":"hello","ectx":{"k":"v"}}`, false},
		{`{"url":"http://example.com/x.wasm"}`, false},
		{`{"jti":"x"}`, false},
		{`{"dd":-1}`, false},
		{`{"dd":99}`, true},
		{`{"exp":1,"nbf":2}`, false},
		{`{"unknown":1}`, false},
		{``, true},
	} {
		f.Add([]byte(s.body), s.mid)
	}
	fs := newFuzzServer(f)
	mid := fs.mustIssue(f, fs.admin, `{"ten":"acme,beta","dd":3}`)
	midClaims, err := fs.signer.Verify(mid)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, fromMid bool) {
		parent, pc := fs.admin, fs.adminClaims
		if fromMid {
			parent, pc = mid, midClaims
		}
		body = []byte(fs.expand(string(body), ""))
		ctx := fs.do("POST", "/api/tokens/issue", parent, "application/json", body)
		resp := &ctx.Response
		req, perr := token.ParseRequest(body)
		switch st := resp.StatusCode(); {
		case perr != nil:
			if e := hostError(t, resp); e.Code != 400 || e.Message != perr.Error() {
				t.Fatalf("ParseRequest: %v; the server answered %s", perr, resp.Body())
			}
		case st == 200:
			if ct := string(resp.Header.ContentType()); ct != "text/plain; charset=utf-8" {
				t.Fatalf("issued token as %q", ct)
			}
			fs.checkIssued(t, string(resp.Body()), pc, req)
		case st >= 400 && st < 500:
			hostError(t, resp)
		default:
			t.Fatalf("issue %q: %d %s", body, st, resp.Body())
		}
		fs.noLeak(t, resp, body)
	})
}

// tenProbes are container names an issued token is checked on.
var tenProbes = []string{"acme", "beta", "gamma", "a", "b1", "wt-x-1", "acme2", "Acme", "x.y_z"}

// checkIssued checks an issued token against its parent and request.
func (fs *fuzzServer) checkIssued(t *testing.T, raw string, parent *token.Claims, req *token.Request) {
	t.Helper()
	c, err := fs.signer.Verify(raw)
	if err != nil {
		t.Fatalf("issued token does not verify: %v: %q", err, raw)
	}
	wantTen := parent.Containers
	if req.Containers != "" {
		wantTen = req.Containers
	}
	if c.Containers != wantTen || len(c.Ancestors) == 0 || c.Ancestors[len(c.Ancestors)-1] != parent.ID || c.Depth >= parent.Depth {
		t.Fatalf("issued %+v from %+v for ten %q", c, parent, req.Containers)
	}
	asked, _ := token.ParseContainers(req.Containers)
	probes := append(slices.Clone(tenProbes), strings.Split(req.Containers, ",")...)
	for _, name := range probes {
		name = strings.TrimSpace(name)
		if c.AllowsContainer(name) && (!parent.AllowsContainer(name) || !asked.Allows(name)) {
			t.Fatalf("issued ten %q allows %q: parent ten %q, asked %q", c.Containers, name, parent.Containers, req.Containers)
		}
	}
	if c.EncryptedContext != "" {
		ten, _ := token.ParseContainers(c.Containers)
		if _, one := ten.Single(); !one || !c.FixesCode() {
			t.Fatalf("secrets not bound to fixed code in one container: %+v", c)
		}
	}
}
