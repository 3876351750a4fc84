package conformance_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/host/api"
	"github.com/wasmtask/wasmtask/host/logs"
)

// sharedCache is one compilation cache for every server of this test
// binary, so each guest compiles once per run.
var sharedCache string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wasmtask-conformance-cache-")
	if err != nil {
		panic(err)
	}
	sharedCache = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// guestCode is a guest as the kit uploads it: a module, or the source of
// a JavaScript webtask (run by the JavaScript engine, jsEnginePath).
type guestCode struct {
	code        []byte
	contentType string // application/wasm or application/javascript
}

// jsEnginePath is where guests/Makefile puts the JavaScript engine.
var jsEnginePath = filepath.Join("..", "build", "js", "engine.wasm")

// guestPath is where guests/Makefile puts a built guest, or, for "js", the
// JavaScript source of a guest (nothing to build but the engine).
func guestPath(lang, name string) string {
	if lang == "js" {
		return filepath.Join("..", "js", "examples", name+".js")
	}
	return filepath.Join("..", "build", lang, name+".wasm")
}

// guest returns a guest of a language; a guest that is not built (for
// "js": the engine) fails the test (CI builds every guest before testing,
// so nothing is skipped).
func guest(t testing.TB, lang, name string) guestCode {
	t.Helper()
	if lang == "js" {
		if _, err := os.Stat(jsEnginePath); err != nil {
			t.Fatalf("the JavaScript engine is not built: run `make -C guests js` (or `make guests`) first: %v", err)
		}
		b, err := os.ReadFile(guestPath(lang, name))
		if err != nil {
			t.Fatalf("no JavaScript guest %s: %v", name, err)
		}
		return guestCode{b, "application/javascript"}
	}
	b, err := os.ReadFile(guestPath(lang, name))
	if err != nil {
		t.Fatalf("guest %s/%s is not built: run `make -C guests all` (or `make guests`) first: %v", lang, name, err)
	}
	return guestCode{b, "application/wasm"}
}

// server is a real wasmtask server on a loopback port.
type server struct {
	t     testing.TB
	URL   string
	Admin string
	logs  *logCollector
}

// start runs a server with cfg (DataDir defaults to a temp dir, CacheDir to
// the shared cache, JSEngine to the built engine when there is one: a test
// that needs it fails in guest without it) and stops it when the test ends.
func start(t testing.TB, cfg api.Config) *server {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir, cfg.SharedCache = sharedCache, true
	}
	if _, err := os.Stat(jsEnginePath); cfg.JSEngine == "" && err == nil {
		cfg.JSEngine = jsEnginePath
	}
	srv, err := api.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	return &server{t: t, URL: "http://" + ln.Addr().String(), Admin: srv.AdminToken()}
}

// response is what a request got back.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v and fails the test when it is not JSON.
func (r response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("body is not JSON: %v: %q", err, r.Body)
	}
}

var client = &http.Client{Timeout: 60 * time.Second}

// do sends one request with the given headers (added, so a name may repeat).
func (s *server) do(t testing.TB, method, path string, body []byte, hdr http.Header) response {
	t.Helper()
	r, err := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	res, err := client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// get is do without a body or headers.
func (s *server) get(t testing.TB, path string) response {
	t.Helper()
	return s.do(t, "GET", path, nil, nil)
}

// upload PUTs a guest (raw application/wasm or application/javascript)
// with ?query (secrets, meta) and returns the response without judging it.
func (s *server) upload(t testing.TB, container, name string, g guestCode, query string) response {
	t.Helper()
	return s.do(t, "PUT", "/api/webtask/"+container+"/"+name+query, g.code, http.Header{
		"Authorization": {"Bearer " + s.Admin}, "Content-Type": {g.contentType}})
}

// mustUpload is upload that requires success.
func (s *server) mustUpload(t testing.TB, container, name string, g guestCode, query string) {
	t.Helper()
	if r := s.upload(t, container, name, g, query); r.Status != 200 && r.Status != 201 {
		t.Fatalf("upload %s/%s: %d %s", container, name, r.Status, r.Body)
	}
}

// hostError checks a JSON error written by the host.
func hostError(t testing.TB, r response, status int, id, msgContains string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d; body %s", r.Status, status, r.Body)
	}
	if src := r.Header.Get("x-wt-response-source"); src != "host" {
		t.Errorf("x-wt-response-source = %q, want host", src)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("content-type = %q, want application/json", ct)
	}
	var e struct {
		Code    int    `json:"code"`
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	r.JSON(t, &e)
	if e.Code != status || (id != "" && e.Error != id) {
		t.Errorf("error = %s, want code %d and error %q", r.Body, status, id)
	}
	if !strings.Contains(e.Message, msgContains) {
		t.Errorf("message %q does not contain %q", e.Message, msgContains)
	}
}

// logRecord is one line of the real-time log stream.
type logRecord struct {
	Container string     `json:"container"`
	Name      string     `json:"name"`
	RequestID string     `json:"request_id"`
	Level     logs.Level `json:"level"`
	Msg       string     `json:"msg"`
}

// logCollector reads a container's SSE log stream into per-request lists.
type logCollector struct {
	mu    sync.Mutex
	cond  *sync.Cond
	byReq map[string][]logRecord
	err   error
}

// followLogs subscribes to GET /api/logs/tenant/{container} and returns once
// the stream is connected, so nothing logged afterwards is missed.
func (s *server) followLogs(t testing.TB, container string) *logCollector {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/api/logs/tenant/"+container+"?key="+s.Admin, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		t.Fatalf("log stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	c := &logCollector{byReq: map[string][]logRecord{}}
	c.cond = sync.NewCond(&c.mu)
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), ":") {
		cancel()
		t.Fatalf("log stream did not start with a comment: %q", sc.Text())
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var rec logRecord
			err := json.Unmarshal([]byte(data), &rec)
			c.mu.Lock()
			if err != nil && c.err == nil {
				c.err = err
			}
			c.byReq[rec.RequestID] = append(c.byReq[rec.RequestID], rec)
			c.cond.Broadcast()
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); res.Body.Close(); <-done })
	return c
}

// wait returns the records of one request once n have arrived, or what
// arrived by the deadline.
func (c *logCollector) wait(id string, n int, timeout time.Duration) []logRecord {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
	defer timer.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.byReq[id]) < n && time.Now().Before(deadline) {
		c.cond.Wait()
	}
	return append([]logRecord(nil), c.byReq[id]...)
}

// waitFor returns the records of one request once one of them matches,
// or what arrived by the deadline.
func (c *logCollector) waitFor(id string, match func(logRecord) bool, timeout time.Duration) []logRecord {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
	defer timer.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for time.Now().Before(deadline) {
		for _, r := range c.byReq[id] {
			if match(r) {
				return append([]logRecord(nil), c.byReq[id]...)
			}
		}
		c.cond.Wait()
	}
	return append([]logRecord(nil), c.byReq[id]...)
}

// all returns every record so far, of every request.
func (c *logCollector) all() []logRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []logRecord
	for _, recs := range c.byReq {
		out = append(out, recs...)
	}
	return out
}

// setOutbound sets a container's outbound policy (admin only) to allow.
func (s *server) setOutbound(t testing.TB, container string, allow ...string) {
	t.Helper()
	b, _ := json.Marshal(map[string][]string{"allow": allow})
	r := s.do(t, "PUT", "/api/outbound/"+container, b, http.Header{
		"Authorization": {"Bearer " + s.Admin}, "Content-Type": {"application/json"}})
	if r.Status != 200 {
		t.Fatalf("PUT /api/outbound/%s: %d %s", container, r.Status, r.Body)
	}
}
