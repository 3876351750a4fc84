package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/host/api"
)

// sharedCache is one compilation cache for the servers of this package's
// tests, so each module compiles once per test run, not once per server.
var sharedCache string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wasmtask-api-cache-")
	if err != nil {
		panic(err)
	}
	sharedCache = dir
	code := m.Run()
	os.RemoveAll(dir)
	if goGuests.dir != "" {
		os.RemoveAll(goGuests.dir)
	}
	os.Exit(code)
}

// fixture returns testdata/<name>.wasm, a tiny module committed beside the
// testdata/<name>.wat it is compiled from (`make -C guests fixtures`
// rebuilds it with wat2wasm). The tests of this package use these, so
// they need no guest toolchain.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// guestsDir is where `make guests` puts the example guests;
// WASMTASK_GUESTS_DIR overrides it (a missing folder shows what a clean
// clone without guest builds sees).
func guestsDir() string {
	if dir := os.Getenv("WASMTASK_GUESTS_DIR"); dir != "" {
		return dir
	}
	return filepath.Join("..", "..", "guests", "build")
}

// goGuests builds Go example guests on demand, once per test run.
var goGuests struct {
	sync.Mutex
	dir   string
	built map[string][]byte
}

// goGuest returns the Go example guest name (guests/go/examples/<name>):
// guests/build/go/<name>.wasm when `make guests` built it, else built here
// with the flags of guests/Makefile, once per test run. Only what is about
// Go itself should need it: everything else uses a fixture.
//
// Under the race detector a Go guest (3 MB) takes tens of seconds to
// compile, and tests compiling several at once time out: there the test is
// skipped (the run without -race covers it; the race run is for the host's
// own concurrency, which the other guests exercise).
func goGuest(t testing.TB, name string) []byte {
	t.Helper()
	if raceEnabled() {
		t.Skip("a Go guest compiles too slowly under the race detector; covered by the run without -race")
	}
	if b, err := os.ReadFile(filepath.Join(guestsDir(), "go", name+".wasm")); err == nil {
		return b
	}
	goGuests.Lock()
	defer goGuests.Unlock()
	if b, ok := goGuests.built[name]; ok {
		return b
	}
	if goGuests.dir == "" {
		dir, err := os.MkdirTemp("", "wasmtask-api-guests-")
		if err != nil {
			t.Fatal(err)
		}
		goGuests.dir, goGuests.built = dir, map[string][]byte{}
	}
	out := filepath.Join(goGuests.dir, name+".wasm")
	args := []string{"build"}
	if name != "command" { // the one plain WASI command; the rest are reactors
		args = append(args, "-buildmode=c-shared")
	}
	args = append(args, "-trimpath", "-ldflags=-s -w", "-o", out, "./guests/go/examples/"+name)
	cmd := exec.Command("go", args...)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	began := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build of guest %s: %v\n%s", name, err, b)
	}
	t.Logf("built Go guest %s in %s (make guests builds it once for good)", name, time.Since(began).Round(time.Millisecond))
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	goGuests.built[name] = b
	return b
}

// langGuest returns the example guest name of a language as `make guests`
// builds it (guests/build/<lang>/<name>.wasm); Go's is built here when
// missing (goGuest). Another language's guest that is not built skips the
// test with the command to build it, and fails it under CI=true, where
// make test has built it.
func langGuest(t testing.TB, lang, name string) []byte {
	t.Helper()
	if lang == "go" {
		return goGuest(t, name)
	}
	b, err := os.ReadFile(filepath.Join(guestsDir(), lang, name+".wasm"))
	if err != nil {
		msg := fmt.Sprintf("guest %s/%s is not built: run `make -C guests %s` (or make guests): %v", lang, name, lang, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return b
}

// raceEnabled reports whether the test binary was built with -race, under
// which wazero compiles several times slower.
func raceEnabled() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
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
		cfg.CacheDir, cfg.SharedCache = sharedCache, true
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
