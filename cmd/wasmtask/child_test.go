package main

// Helpers for the tests that run the real binary as a child process
// (crash_test.go, shutdown_test.go): build it once, start it on a loopback
// port, read its URL and admin token from its stdout, talk HTTP to it, and
// show the tail of its output when a test fails.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// serverBin is the wasmtask binary the child-process tests share: built
// once, on first use, into a directory TestMain removes.
var serverBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	cleanup := isolateEnv() // run_test.go: no test reads or writes the real profiles
	code := m.Run()
	cleanup()
	if serverBin.dir != "" {
		_ = os.RemoveAll(serverBin.dir)
	}
	os.Exit(code)
}

// serverBinary builds cmd/wasmtask (this package) once per test binary and
// returns the path of the executable.
func serverBinary(t *testing.T) string {
	t.Helper()
	serverBin.once.Do(func() {
		start := time.Now()
		if serverBin.dir, serverBin.err = os.MkdirTemp("", "wasmtask-bin-"); serverBin.err != nil {
			return
		}
		serverBin.path = filepath.Join(serverBin.dir, "wasmtask")
		out, err := exec.Command("go", "build", "-o", serverBin.path, ".").CombinedOutput()
		if err != nil {
			serverBin.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		t.Logf("built the server in %v", time.Since(start).Round(time.Millisecond))
	})
	if serverBin.err != nil {
		t.Fatal(serverBin.err)
	}
	return serverBin.path
}

// child is one run of "wasmtask serve" as a child process.
type child struct {
	t       *testing.T
	cmd     *exec.Cmd
	dataDir string
	url     string // http://127.0.0.1:port
	admin   string // the admin token
	ready   time.Duration
	stdout  *syncBuffer
	stderr  *syncBuffer
	exited  chan struct{} // closed once the process is waited for
	waitErr error         // cmd.Wait's result, once exited is closed
	client  *http.Client
}

var (
	listeningRE  = regexp.MustCompile(`listening on (http://\S+) `)
	adminTokenRE = regexp.MustCompile(`admin token \(also in [^\n]*\):\n(\S+)\n`)
)

// startChild starts "wasmtask serve" on a free loopback port with its data
// in dataDir and waits until it prints its URL and admin token.
func startChild(t *testing.T, bin, dataDir string) *child {
	t.Helper()
	return startChildWith(t, bin, dataDir, nil)
}

// startChildWith is startChild with more environment variables and
// arguments.
func startChildWith(t *testing.T, bin, dataDir string, env []string, args ...string) *child {
	t.Helper()
	c := &child{t: t, dataDir: dataDir, stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	c.cmd = exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dataDir}, args...)...)
	c.cmd.Env = append(childEnv(), env...)
	c.cmd.Stdout, c.cmd.Stderr = c.stdout, c.stderr
	start := time.Now()
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { c.waitErr = c.cmd.Wait(); close(c.exited) }()
	t.Cleanup(c.kill)

	deadline := time.After(15 * time.Second)
	for {
		out := c.stdout.String()
		if u, tok := listeningRE.FindStringSubmatch(out), adminTokenRE.FindStringSubmatch(out); u != nil && tok != nil {
			c.url, c.admin, c.ready = u[1], tok[1], time.Since(start)
			break
		}
		select {
		case <-c.exited:
			t.Fatalf("the server exited before it was ready (%v)%s", c.waitErr, c.tail())
		case <-deadline:
			t.Fatalf("the server printed no URL and admin token within 15 s%s", c.tail())
		case <-time.After(5 * time.Millisecond):
		}
	}
	c.client = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	return c
}

// childEnv is this process's environment without WASMTASK_ variables, so
// that a developer's settings do not change what the child runs with.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WASMTASK_") {
			env = append(env, kv)
		}
	}
	return env
}

// kill ends the process with SIGKILL (if it still runs) and reaps it.
func (c *child) kill() {
	select {
	case <-c.exited:
	default:
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	if c.client != nil {
		c.client.CloseIdleConnections()
	}
}

// wait waits up to d for the process to exit and reports whether it did.
func (c *child) wait(d time.Duration) bool {
	select {
	case <-c.exited:
		return true
	case <-time.After(d):
		return false
	}
}

// tail is the end of the child's stderr and stdout, for failure messages.
func (c *child) tail() string {
	const n = 3000
	last := func(s string) string {
		if len(s) > n {
			s = "…" + s[len(s)-n:]
		}
		if s == "" {
			return "(empty)\n"
		}
		return s
	}
	return fmt.Sprintf("\n--- child stderr (tail) ---\n%s--- child stdout (tail) ---\n%s---", last(c.stderr.String()), last(c.stdout.String()))
}

// do sends one request with token (if not empty) as the bearer and returns
// the status and the whole body. An error means no complete answer came.
func (c *child) do(method, path, token string, body []byte, contentType string) (int, []byte, error) {
	req, err := http.NewRequest(method, c.url+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

// syncBuffer is a bytes.Buffer that a child's output copier writes while
// the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
