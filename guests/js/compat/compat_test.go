// Package compat_test compares the JavaScript engine's built-in modules
// (guests/js/lib) with the real npm packages they stand in for: each
// webtask in apps/ runs on plain Node.js with the packages of package.json
// (node-host.js) and on a wasmtask server, every request of apps/NAME.json
// goes to both, and the answers must be the same — status, body and
// headers, but for the ones either server sets on its own (date,
// connection, content-length, etag, x-wt-*).
//
// It needs node and `npm ci` here (guests/Makefile's js-compat target,
// run by make test); in CI a missing one fails the test, elsewhere skips it.
package compat_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/host/api"
)

// compatRequest is one request of apps/NAME.json.
type compatRequest struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// ignored are headers one server sets on its own.
var ignored = map[string]bool{"Date": true, "Connection": true, "Keep-Alive": true, "Content-Length": true,
	"Etag": true, "Server": true, "Transfer-Encoding": true}

func need(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s: %v", what, err)
	}
	t.Skipf("%s: %v", what, err)
}

func TestCompat(t *testing.T) {
	engine := filepath.Join("..", "..", "build", "js", "engine.wasm")
	_, err := os.Stat(engine)
	need(t, "the JavaScript engine is not built (make -C guests js)", err)
	_, err = exec.LookPath("node")
	need(t, "node is not installed", err)
	_, err = os.Stat(filepath.Join("node_modules", "express", "package.json"))
	need(t, "the npm packages are not installed (make -C guests js-compat)", err)

	srv, err := api.Open(context.Background(), api.Config{DataDir: t.TempDir(), JSEngine: engine})
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
	base := "http://" + ln.Addr().String()

	apps, _ := filepath.Glob(filepath.Join("apps", "*.js"))
	if len(apps) == 0 {
		t.Fatal("no apps")
	}
	for _, app := range apps {
		name := strings.TrimSuffix(filepath.Base(app), ".js")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(app)
			if err != nil {
				t.Fatal(err)
			}
			var reqs []compatRequest
			b, err := os.ReadFile(strings.TrimSuffix(app, ".js") + ".json")
			if err == nil {
				err = json.Unmarshal(b, &reqs)
			}
			if err != nil {
				t.Fatal(err)
			}
			put, _ := http.NewRequest("PUT", base+"/api/webtask/compat/"+name, bytes.NewReader(src))
			put.Header.Set("Authorization", "Bearer "+srv.AdminToken())
			put.Header.Set("Content-Type", "application/javascript")
			if r := do(t, put); r.status != 200 && r.status != 201 {
				t.Fatalf("upload: %d %s", r.status, r.body)
			}
			nodeURL := startNode(t, app)
			for _, rq := range reqs {
				wasm := send(t, base+"/api/run/compat/"+name, rq)
				node := send(t, nodeURL, rq)
				if diff := node.diff(wasm); diff != "" {
					t.Errorf("%s %s: %s\nnode:     %d %q %v\nwasmtask: %d %q %v", rq.Method, rq.Path, diff,
						node.status, node.body, node.header, wasm.status, wasm.body, wasm.header)
				}
			}
		})
	}
}

// startNode runs node-host.js on app and returns its URL.
func startNode(t *testing.T, app string) string {
	cmd := exec.Command("node", "node-host.js", app)
	cmd.Env = append(os.Environ(), "NODE_ENV=production") // Express's error pages without stacks, as wasmtask's
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	port := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		if s.Scan() {
			port <- strings.TrimSpace(s.Text())
		}
		close(port)
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case p, ok := <-port:
		if !ok {
			t.Fatal("node-host.js exited without a port")
		}
		return "http://127.0.0.1:" + p
	case <-time.After(30 * time.Second):
		t.Fatal("node-host.js did not start in 30 s")
	}
	return ""
}

type answer struct {
	status int
	header http.Header
	body   string
}

// diff says how two answers differ, "" when alike.
func (a answer) diff(b answer) string {
	var d []string
	if a.status != b.status {
		d = append(d, "status")
	}
	if a.body != b.body {
		d = append(d, "body")
	}
	keys := map[string]bool{}
	for k := range a.header {
		keys[k] = true
	}
	for k := range b.header {
		keys[k] = true
	}
	var names []string
	for k := range keys {
		if !ignored[k] && !strings.HasPrefix(k, "X-Wt-") && strings.Join(a.header[k], "\n") != strings.Join(b.header[k], "\n") {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	if len(names) > 0 {
		d = append(d, "headers "+strings.Join(names, ", "))
	}
	return strings.Join(d, "; ")
}

func send(t *testing.T, url string, rq compatRequest) answer {
	t.Helper()
	var body io.Reader
	if rq.Body != "" {
		body = strings.NewReader(rq.Body)
	}
	r, err := http.NewRequest(rq.Method, url+rq.Path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range rq.Headers {
		r.Header.Set(k, v)
	}
	return do(t, r)
}

var client = &http.Client{Timeout: 30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func do(t *testing.T, r *http.Request) answer {
	t.Helper()
	res, err := client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{res.StatusCode, res.Header, string(b)}
}
