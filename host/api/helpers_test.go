package api_test

import (
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
)

// sharedCache is one compilation cache for the servers of this package's
// tests, so each Go guest compiles once per test run, not once per server.
var sharedCache string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wasmtask-api-cache-")
	if err != nil {
		panic(err)
	}
	sharedCache = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// guest returns the bytes of a built example guest.
func guest(t testing.TB, lang, name string) []byte {
	t.Helper()
	path := filepath.Join("..", "..", "guests", "build", lang, name+".wasm")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("guest %s/%s is not built (run `make guests`): %v", lang, name, err)
	}
	return b
}

// testServer is a real server on a loopback port.
type testServer struct {
	*api.Server
	t     testing.TB
	URL   string
	Admin string
	Data  string
}

// start runs a server on 127.0.0.1:0 with cfg (DataDir defaults to a temp
// dir, CacheDir to the shared cache) and stops it when the test ends.
func start(t testing.TB, cfg api.Config) *testServer {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = sharedCache
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
	var once sync.Once
	ts := &testServer{Server: srv, t: t, URL: "http://" + ln.Addr().String(), Admin: srv.AdminToken(), Data: cfg.DataDir}
	stop := func() { once.Do(func() { srv.Close(); wg.Wait() }) }
	t.Cleanup(stop)
	return ts
}

// response is what a test request got back.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map.
func (r response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %q", err, r.Body)
	}
	return m
}

var client = &http.Client{Timeout: 30 * time.Second}

// req sends one request; token "" sends none. hdr are extra "Name: value" pairs.
func (ts *testServer) req(method, path, token string, body []byte, hdr ...string) response {
	ts.t.Helper()
	r, err := http.NewRequest(method, ts.URL+path, bytes.NewReader(body))
	if err != nil {
		ts.t.Fatal(err)
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ":")
		r.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	res, err := client.Do(r)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		ts.t.Fatal(err)
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// upload PUTs a module as raw application/wasm and requires success.
func (ts *testServer) upload(container, name string, wasm []byte, query string) map[string]any {
	ts.t.Helper()
	r := ts.req("PUT", "/api/webtask/"+container+"/"+name+query, ts.Admin, wasm, "Content-Type: application/wasm")
	if r.Status != 200 && r.Status != 201 {
		ts.t.Fatalf("upload %s/%s: %d %s", container, name, r.Status, r.Body)
	}
	return r.JSON(ts.t)
}

// wantError checks a host-produced JSON error.
func wantError(t testing.TB, r response, status int, msgContains string) {
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
	m := r.JSON(t)
	if code, _ := m["code"].(float64); int(code) != status {
		t.Errorf("code = %v, want %d", m["code"], status)
	}
	msg, _ := m["message"].(string)
	if msg == "" {
		t.Errorf("error has no message: %s", r.Body)
	}
	if !strings.Contains(msg, msgContains) {
		t.Errorf("message %q does not contain %q", msg, msgContains)
	}
}
