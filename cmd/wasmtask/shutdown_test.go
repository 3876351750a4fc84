package main

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/store"
)

// TestShutdown_SIGTERM: on SIGTERM the server stops accepting connections,
// lets the requests it is serving finish, closes the database and exits 0.
// Three requests to a guest that runs 1 s (testdata/slow.wat) are in the
// guest when the signal arrives (the test waits for each one's log line,
// through a log stream that stays open: it must not hold the shutdown up);
// they must answer 200, new connections must be refused (or answered 503)
// while they run, the process must exit 0 within 10 s after printing its
// shutdown line, and the database must open at once afterwards (no
// ErrLocked) with the data in it, and serve again from a restart.
func TestShutdown_SIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the server binary; skipped with -short")
	}
	const inflight = 3
	slow, err := os.ReadFile(filepath.Join("testdata", "slow.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	hello, err := os.ReadFile(filepath.Join("..", "..", "host", "api", "testdata", "hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	bin, dir := serverBinary(t), filepath.Join(t.TempDir(), "data")
	c := startChild(t, bin, dir)
	for name, wasm := range map[string][]byte{"slow": slow, "hello": hello} {
		if status, body, err := c.do("PUT", "/api/webtask/acme/"+name, c.admin, wasm, "application/wasm"); err != nil || status != 200 {
			t.Fatalf("upload %s: %d %s %v%s", name, status, body, err, c.tail())
		}
	}

	starts := logLines(t, c, "acme", "slow: start")
	type answer struct {
		status int
		body   string
		err    error
		at     time.Time
	}
	answers := make(chan answer, inflight)
	for i := 0; i < inflight; i++ {
		go func() {
			// A client of its own: one connection per request.
			cl := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			resp, err := cl.Get(c.url + "/api/run/acme/slow")
			a := answer{err: err}
			if err == nil {
				var b strings.Builder
				_, a.err = bufio.NewReader(resp.Body).WriteTo(&b)
				resp.Body.Close()
				a.status, a.body = resp.StatusCode, b.String()
			}
			a.at = time.Now()
			answers <- a
		}()
	}
	for i := 0; i < inflight; i++ {
		select {
		case <-starts:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d slow requests started within 10 s%s", i, inflight, c.tail())
		}
	}

	sigAt := time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(c.stdout.String(), "shutting down") {
		if time.Since(sigAt) > 5*time.Second {
			t.Fatalf("no shutdown line within 5 s of SIGTERM%s", c.tail())
		}
		time.Sleep(2 * time.Millisecond)
	}
	refusedAt, accepted := refusedSince(t, c, sigAt)

	ok, afterSignal, last := 0, 0, time.Time{}
	for i := 0; i < inflight; i++ {
		a := <-answers
		if a.err != nil || a.status != 200 || a.body != `{"slow":true}` {
			t.Errorf("a request in flight at SIGTERM: %d %q %v", a.status, a.body, a.err)
			continue
		}
		ok++
		if a.at.After(sigAt) {
			afterSignal++
		}
		if a.at.After(last) {
			last = a.at
		}
	}
	if afterSignal == 0 {
		t.Errorf("no slow request was still running at SIGTERM: the test proves nothing (a loaded machine?)")
	}
	if !refusedAt.IsZero() && !last.IsZero() && !refusedAt.Before(last) {
		t.Errorf("new connections were refused only %v after SIGTERM, after the in-flight requests ended (%v)", refusedAt.Sub(sigAt), last.Sub(sigAt))
	}
	if !c.wait(10 * time.Second) {
		t.Fatalf("still running 10 s after SIGTERM%s", c.tail())
	}
	exitAt := time.Now()
	if c.waitErr != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0%s", c.waitErr, c.tail())
	}
	if out := c.stdout.String(); !strings.Contains(out, "wasmtask: terminated, shutting down\n") {
		t.Errorf("stdout has no shutdown line%s", c.tail())
	}
	t.Logf("%d/%d in-flight requests answered 200 (%d after the signal, the last %v after it); new connections refused %v after SIGTERM "+
		"(%d accepted before); exit %v after SIGTERM", ok, inflight, afterSignal, last.Sub(sigAt).Round(time.Millisecond),
		refusedAt.Sub(sigAt).Round(time.Millisecond), accepted, exitAt.Sub(sigAt).Round(time.Millisecond))

	// Closed cleanly: the file lock is free at once and the data is there.
	st, err := store.Open(filepath.Join(dir, "wasmtask.db"), store.WithTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatalf("open the database after the shutdown: %v%s", err, c.tail())
	}
	ws, err := st.ListWebtasks("acme")
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil || len(ws) != 2 || ws[0].Name != "hello" || ws[1].Name != "slow" {
		t.Fatalf("webtasks in the database after the shutdown: %v %v", ws, err)
	}
	c2 := startChild(t, bin, dir)
	if status, body, err := c2.do("GET", "/api/run/acme/hello", "", nil, ""); err != nil || status != 200 || string(body) != `{"message":"hello, world"}` {
		t.Errorf("run hello after the restart: %d %s %v%s", status, body, err, c2.tail())
	}
	t.Logf("restart ready in %v", c2.ready.Round(time.Millisecond))
}

// logLines subscribes to container's real-time logs and sends on the
// returned channel once for each record whose message contains msg. It
// returns once the subscription is in place; the stream ends with the
// server.
func logLines(t *testing.T, c *child, container, msg string) <-chan struct{} {
	t.Helper()
	req, _ := http.NewRequest("GET", c.url+"/api/logs/tenant/"+container, nil)
	req.Header.Set("Authorization", "Bearer "+c.admin)
	resp, err := (&http.Client{}).Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("subscribe to the logs of %s: %v %v%s", container, resp, err, c.tail())
	}
	r := bufio.NewReader(resp.Body)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, ": connected") {
		t.Fatalf("log stream starts with %q %v", line, err)
	}
	out := make(chan struct{}, 64)
	go func() {
		defer resp.Body.Close()
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(line, "data: ") && strings.Contains(line, msg) {
				out <- struct{}{}
			}
		}
	}()
	return out
}

// refusedSince dials the server until a new connection is refused (or
// answered 503) and returns when that happened and how many connections
// were accepted and served before it. Once refused, it checks that a few
// more attempts are refused too.
func refusedSince(t *testing.T, c *child, since time.Time) (time.Time, int) {
	t.Helper()
	addr := strings.TrimPrefix(c.url, "http://")
	accepted := 0
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if !dialRefused(t, addr) {
			accepted++
			continue
		}
		at := time.Now()
		for i := 0; i < 5; i++ {
			if !dialRefused(t, addr) {
				t.Errorf("a new connection was served after one had been refused (%v after SIGTERM)", time.Since(since))
			}
		}
		return at, accepted
	}
	t.Errorf("new connections still served 2 s after the shutdown line (%d accepted)%s", accepted, c.tail())
	return time.Time{}, accepted
}

// dialRefused opens a new connection to addr and asks for /healthz: true if
// the connection is refused or the answer is 503.
func dialRefused(t *testing.T, addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	if err != nil {
		t.Errorf("dial %s during the shutdown: %v, want connection refused", addr, err)
		return true
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")); err != nil {
		return true // reset: closed while accepting
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return true // closed before an answer: not served
	}
	return strings.HasPrefix(line, "HTTP/1.1 503")
}
