package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/api"
	"github.com/wasmtask/wasmtask/host/metrics"
)

// client is the harness's HTTP client for everything but load: uploads,
// probes, first requests.
var client = &fasthttp.Client{
	ReadTimeout:              5 * time.Minute,
	WriteTimeout:             5 * time.Minute,
	MaxIdleConnDuration:      time.Second,
	MaxConnsPerHost:          64,
	DisablePathNormalizing:   true,
	NoDefaultUserAgentHeader: true,
}

// response is one answer the harness received.
type response struct {
	Status      int
	ContentType string
	Body        []byte
}

// do sends one request; body nil means none.
func do(method, url, token string, body []byte, contentType string) (response, error) {
	return doWith(client, method, url, token, body, contentType)
}

// doWith is do with another client.
func doWith(client *fasthttp.Client, method, url, token string, body []byte, contentType string) (response, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(url)
	req.Header.SetMethod(method)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.SetBodyRaw(body)
		req.Header.SetContentType(contentType)
	}
	if err := client.Do(req, resp); err != nil {
		return response{}, err
	}
	return response{Status: resp.StatusCode(), ContentType: string(resp.Header.ContentType()),
		Body: bytes.Clone(resp.Body())}, nil
}

// get is a GET that must answer 200.
func get(url string) (response, error) {
	r, err := do("GET", url, "", nil, "")
	if err == nil && r.Status != 200 {
		err = fmt.Errorf("GET %s: %d %.300s", url, r.Status, r.Body)
	}
	return r, err
}

// upload PUTs a module as raw application/wasm and waits until the server
// runs it compiled (waitCompiled); fresh selects the fresh instance policy
// through the wt-instance meta.
func upload(base, admin, container, name string, wasm []byte, fresh bool) error {
	return uploadWith(client, base, admin, container, name, wasm, fresh)
}

// uploadWith is upload with another client.
func uploadWith(client *fasthttp.Client, base, admin, container, name string, wasm []byte, fresh bool) error {
	if err := uploadCode(client, base, admin, container, name, wasm, "application/wasm", fresh); err != nil {
		return err
	}
	return waitCompiled(base, admin)
}

// waitCompiled waits until the server at base runs no module on wazero's
// interpreter (its modules_interpreted gauge reads 0): a server tiers new
// modules (engine.Config.Tiered), and a steady-state measurement must not
// time their interpreted first requests. It polls /metrics every 5 ms.
func waitCompiled(base, admin string) error {
	const gauge = "\n" + metrics.Namespace + "_modules_interpreted "
	deadline := time.Now().Add(5 * time.Minute)
	for {
		r, err := do("GET", base+"/metrics", admin, nil, "")
		if err != nil {
			return err
		}
		i := bytes.Index(r.Body, []byte(gauge))
		if r.Status != 200 || i < 0 {
			return fmt.Errorf("bench: GET /metrics: %d, no %s gauge", r.Status, strings.TrimSpace(gauge))
		}
		if bytes.HasPrefix(r.Body[i+len(gauge):], []byte("0\n")) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: modules still interpreted after 5 minutes")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// uploadCode PUTs code as a raw body of contentType: application/wasm, or
// application/javascript for a JavaScript webtask.
func uploadCode(client *fasthttp.Client, base, admin, container, name string, code []byte, contentType string, fresh bool) error {
	u := base + "/api/webtask/" + container + "/" + name
	if fresh {
		u += "?meta=" + api.MetaPolicy + ":fresh"
	}
	r, err := doWith(client, "PUT", u, admin, code, contentType)
	if err != nil {
		return fmt.Errorf("upload %s/%s: %w", container, name, err)
	}
	if r.Status != 200 && r.Status != 201 {
		return fmt.Errorf("upload %s/%s: %d %.300s", container, name, r.Status, r.Body)
	}
	return nil
}

func runURL(base, container, name string) string {
	return base + "/api/run/" + container + "/" + name
}

// server is a wasmtask server the harness talks to over loopback.
type server interface {
	URL() string
	Admin() string
	Close()
}

// inproc is a wasmtask server in the harness's process: the real api.Server
// on a loopback listener, as the end-to-end tests start it.
type inproc struct {
	srv  *api.Server
	url  string
	done chan struct{}
}

func startInProc(cfg api.Config) (*inproc, error) {
	cfg.Engine.Tiered = true // as wasmtask serve, by default
	srv, err := api.Open(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return nil, err
	}
	s := &inproc{srv: srv, url: "http://" + ln.Addr().String(), done: make(chan struct{})}
	go func() { _ = srv.Serve(ln); close(s.done) }()
	return s, nil
}

// waitURL polls url every 200 µs until it answers 200, for at most limit.
func waitURL(url string, limit time.Duration) error {
	for deadline := time.Now().Add(limit); ; time.Sleep(200 * time.Microsecond) {
		r, err := do("GET", url, "", nil, "")
		if err == nil && r.Status == 200 {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("status %d: %s", r.Status, r.Body)
			}
			return fmt.Errorf("bench: %s not 200 after %s: %v", url, limit, err)
		}
	}
}

func (s *inproc) URL() string   { return s.url }
func (s *inproc) Admin() string { return s.srv.AdminToken() }
func (s *inproc) Close()        { s.srv.Close(); <-s.done }

// native is the baseline: a plain fasthttp server, configured as wasmtask's,
// whose handler writes the same status, headers and body a hello guest's
// response carries through wasmtask (including a request id built the same
// way), without any Wasm.
type native struct {
	srv  *fasthttp.Server
	ln   net.Listener
	url  string
	done chan struct{}
}

func startNative(contentType string, body []byte) (*native, error) {
	prefix := strconv.FormatInt(time.Now().UnixMilli(), 10) + "."
	var seq atomic.Uint64
	h := func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("x-wt-request-id", prefix+strconv.FormatUint(seq.Add(1), 10))
		ctx.SetStatusCode(200)
		ctx.Response.Header.Set("content-type", contentType)
		ctx.Response.Header.Set("x-wt-response-source", "webtask")
		ctx.SetBody(body)
	}
	return serveHandler(h)
}

func serveHandler(h fasthttp.RequestHandler) (*native, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &native{
		srv: &fasthttp.Server{Handler: h, Name: "native", NoDefaultServerHeader: true, NoDefaultContentType: true,
			ReadTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, CloseOnShutdown: true},
		ln:   ln,
		url:  "http://" + ln.Addr().String(),
		done: make(chan struct{}),
	}
	go func() { _ = s.srv.Serve(ln); close(s.done) }()
	return s, nil
}

// Close shuts the server down and closes its listener too: fasthttp's
// Shutdown closes only the listeners its Serve had registered, and the
// goroutine calling Serve may not have run yet.
func (s *native) Close() { _ = s.srv.Shutdown(); _ = s.ln.Close(); <-s.done }

// child is `wasmtask serve` in its own process, for what only a process
// shows: its RSS and the time a restart takes.
type child struct {
	cmd     *exec.Cmd
	url     string
	admin   string
	data    string
	stderr  *lockedWriter
	spawned time.Time
	ready   time.Time // first 200 from /readyz
	exited  chan struct{}
}

// spawnChild starts bin serve on a free loopback port with data dir data,
// and returns as soon as the process runs (not when it is ready).
func spawnChild(bin, data string, args ...string) (*child, error) {
	return spawnChildEnv(nil, bin, data, args...)
}

// spawnChildEnv is spawnChild with env added to the child's environment.
func spawnChildEnv(env []string, bin, data string, args ...string) (*child, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c := &child{url: "http://127.0.0.1:" + strconv.Itoa(port), data: data, stderr: &lockedWriter{w: &bytes.Buffer{}},
		exited: make(chan struct{})}
	c.cmd = exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:" + strconv.Itoa(port), "--data", data}, args...)...)
	c.cmd.Env = append(childEnv(), env...)
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c.cmd.Stderr = c.stderr
	c.spawned = time.Now()
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() { // drain; the harness does not depend on the banner's format
		}
	}()
	go func() { _ = c.cmd.Wait(); close(c.exited) }()
	return c, nil
}

// childEnv is the harness's environment without WASMTASK_* settings, so a
// developer's own configuration does not change what is measured.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WASMTASK_") {
			env = append(env, kv)
		}
	}
	return env
}

// startChild spawns a server and waits until it answers /readyz.
func startChild(bin, data string, args ...string) (*child, error) {
	return startChildEnv(nil, bin, data, args...)
}

// startChildEnv is startChild with env added to the child's environment.
func startChildEnv(env []string, bin, data string, args ...string) (*child, error) {
	c, err := spawnChildEnv(env, bin, data, args...)
	if err != nil {
		return nil, err
	}
	if err := c.waitReady(2 * time.Minute); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// waitReady polls /readyz every 200 µs until it answers 200.
func (c *child) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-c.exited:
			return fmt.Errorf("bench: server exited: %s", c.stderr.String())
		default:
		}
		if r, err := do("GET", c.url+"/readyz", "", nil, ""); err == nil && r.Status == 200 {
			c.ready = time.Now()
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: server not ready after %s: %s", limit, c.stderr.String())
		}
		time.Sleep(200 * time.Microsecond)
	}
	b, err := os.ReadFile(filepath.Join(c.data, "admin.token"))
	if err != nil {
		return fmt.Errorf("bench: admin token: %w", err)
	}
	c.admin = strings.TrimSpace(string(b))
	return nil
}

func (c *child) URL() string   { return c.url }
func (c *child) Admin() string { return c.admin }

// Close stops the server with SIGTERM (as an operator would) and waits.
func (c *child) Close() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// RSS is a process's resident set: VmRSS, and its anonymous part (heap,
// wasm memories, compiled code) and file-backed part (the binary, the
// bbolt file mapped into memory).
type RSS struct {
	Total int64 `json:"total_bytes"`
	Anon  int64 `json:"anon_bytes"`
	File  int64 `json:"file_bytes"`
}

// RSS reads the server process's resident set.
func (c *child) RSS() (RSS, error) { return procRSS(c.cmd.Process.Pid) }

func procRSS(pid int) (RSS, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return RSS{}, fmt.Errorf("bench: RSS needs Linux /proc: %w", err)
	}
	var r RSS
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &r.Total
		case "RssAnon":
			dst = &r.Anon
		case "RssFile":
			dst = &r.File
		default:
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if err != nil {
			return RSS{}, err
		}
		*dst = kb << 10
	}
	if r.Total == 0 {
		return RSS{}, errors.New("bench: no VmRSS in /proc status")
	}
	return r, nil
}

// procStats is what /proc shows of a process beyond its RSS: its threads
// (Go's Ms; goroutines are in the admin-only /metrics, which the soak
// does not read) and open descriptors.
func procStats(pid int) (threads, fds int, err error) {
	dir := "/proc/" + strconv.Itoa(pid)
	b, err := os.ReadFile(dir + "/status")
	if err != nil {
		return 0, 0, fmt.Errorf("bench: process stats need Linux /proc: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			threads, err = strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return 0, 0, err
			}
		}
	}
	ents, err := os.ReadDir(dir + "/fd")
	if err != nil {
		return 0, 0, err
	}
	return threads, len(ents), nil
}

// dirBytes is the size of the files below dir.
func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// settledRSS waits a moment for the server's background work (GC, the
// compile cache writer) to finish and returns the smallest of a few samples.
func (c *child) settledRSS(wait time.Duration) (RSS, error) {
	time.Sleep(wait)
	var best RSS
	for i := 0; i < 5; i++ {
		v, err := c.RSS()
		if err != nil {
			return RSS{}, err
		}
		if best.Total == 0 || v.Total < best.Total {
			best = v
		}
		time.Sleep(wait / 10)
	}
	return best, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w.Len() > 64<<10 {
		return len(p), nil
	}
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}
