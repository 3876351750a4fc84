package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/host/api"
)

// rawRequest writes head (request line and headers, without the final
// blank line) and then the first part of a body it never finishes, and
// returns the response the server sends without waiting for the rest.
func rawRequest(t testing.TB, addr, head string, partial int) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(addr, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(head + "\r\n\r\n" + strings.Repeat("x", partial))); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the body was sent: %v", err)
	}
	return res
}

// TestE2E_BodiesNotReadBeforeNeeded: a body over a route's limit is refused
// from its Content-Length, and a management body is not read before the
// caller's token is checked — the client sent 1 KiB of a declared 20 MiB
// and gets its answer at once.
func TestE2E_BodiesNotReadBeforeNeeded(t *testing.T) {
	ts := start(t, api.Config{})
	ts.upload("acme", "hello", fixture(t, "hello"), "")
	tests := []struct {
		name, head string
		status     int
	}{
		{"healthz takes no body", "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 20000000", 413},
		{"upload without a token", "PUT /api/webtask/acme/x HTTP/1.1\r\nHost: x\r\nContent-Length: 20000000", 401},
		{"upload over the limit", "PUT /api/webtask/acme/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + ts.Admin +
			"\r\nContent-Length: 40000000", 413},
		{"issue without a token", "POST /api/tokens/issue HTTP/1.1\r\nHost: x\r\nContent-Length: 20000000", 401},
		{"issue over the upload limit (it may carry a webtask's code)", "POST /api/tokens/issue HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + ts.Admin +
			"\r\nContent-Length: 40000000", 413},
		{"revoke over 64 KiB", "POST /api/tokens/revoke HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + ts.Admin +
			"\r\nContent-Length: 70000", 413},
		{"named run over the limit", "POST /api/run/acme/hello HTTP/1.1\r\nHost: x\r\nContent-Length: 20000000", 413},
		{"token run without a token", "POST /api/run/acme HTTP/1.1\r\nHost: x\r\nContent-Length: 20000000", 401},
		{"logs take no body", "GET /api/logs/tenant/acme HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + ts.Admin +
			"\r\nContent-Length: 100", 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := rawRequest(t, ts.URL, tc.head, 1024)
			res.Body.Close()
			if res.StatusCode != tc.status {
				t.Errorf("status %d, want %d", res.StatusCode, tc.status)
			}
		})
	}
	// A chunked body is cut off at the limit.
	big := strings.Repeat("y", 2<<20)
	r, err := http.Post(ts.URL+"/api/run/acme/hello", "text/plain", struct{ *strings.Reader }{strings.NewReader(big)})
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 413 || r.TransferEncoding != nil && r.StatusCode == 200 {
		t.Errorf("chunked body over the limit: %d, want 413", r.StatusCode)
	}
}

// TestE2E_InflightBodies: the bytes of bodies being received are capped
// server-wide; past the cap a new body gets 503 with Retry-After, and the
// server's memory does not follow what clients declare.
func TestE2E_InflightBodies(t *testing.T) {
	ts := start(t, api.Config{MaxInflightBodyBytes: 3 << 20})
	ts.upload("acme", "hello", fixture(t, "hello"), "")
	head := "POST /api/run/acme/hello HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000"
	var conns []net.Conn
	for i := 0; i < 3; i++ { // three bodies of ~1 MB, each stalled after 1 KiB
		conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write([]byte(head + "\r\n\r\n" + strings.Repeat("x", 1024))); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
	}
	// A whole 200 KB body on top of the stalled 3 MB is over the cap once
	// the server has read the stalled requests' headers (until then it is
	// served: retry).
	var res *http.Response
	probe := "POST /api/run/acme/hello HTTP/1.1\r\nHost: x\r\nContent-Length: 200000"
	for i := 0; i < 500; i++ { // up to 10 s: the server reads the stalled headers when it gets to them
		res = rawRequest(t, ts.URL, probe, 200000)
		res.Body.Close()
		if res.StatusCode == 503 {
			break
		}
		// A probe whose headers the server read before a stalled request's
		// may have got that one refused (503) in its place: stall it again.
		for j, c := range conns {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
			if n, _ := c.Read(make([]byte, 1)); n == 0 {
				continue
			}
			c.Close()
			conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			conns[j] = conn
			defer conns[j].Close()
			if _, err := conns[j].Write([]byte(head + "\r\n\r\n" + strings.Repeat("x", 1024))); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" {
		t.Fatalf("a fourth body past the cap: %d (Retry-After %q), want 503 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	for _, c := range conns {
		c.Close()
	}
	// Once they are gone, bodies are taken again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := ts.req("POST", "/api/run/acme/hello", "", []byte("ok"))
		if r.Status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the stalled clients left: %d %s", r.Status, r.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestE2E_UnauthenticatedBodiesCostNothing: 40 clients declaring 20 MiB
// uploads without a token, each sending 1 KiB, do not move the server's
// heap (a review measured 1.33 GB before bodies were read only when
// wanted).
func TestE2E_UnauthenticatedBodiesCostNothing(t *testing.T) {
	ts := start(t, api.Config{})
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := rawRequest(t, ts.URL, "PUT /api/webtask/acme/x HTTP/1.1\r\nHost: x\r\nContent-Length: 20971520", 1024)
			res.Body.Close()
			if res.StatusCode != 401 {
				t.Errorf("status %d, want 401", res.StatusCode)
			}
		}()
	}
	wg.Wait()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap grew by %.1f MiB for 40 unauthenticated 20 MiB uploads", float64(grew)/(1<<20))
	if grew > 64<<20 {
		t.Errorf("the heap grew by %d MiB for 40 unauthenticated uploads", grew>>20)
	}
}

func TestE2E_ListPaging(t *testing.T) {
	ts := start(t, api.Config{})
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		ts.upload("acme", n, fixture(t, "hello"), "")
	}
	r := ts.req("GET", "/api/webtask/acme?offset=1&limit=2", ts.Admin, nil)
	var names []string
	for _, w := range decodeList(t, r) {
		names = append(names, w["name"].(string))
	}
	if strings.Join(names, ",") != "b,c" || r.Header.Get("x-wt-total") != "5" {
		t.Errorf("page: %v, total %q", names, r.Header.Get("x-wt-total"))
	}
	for _, q := range []string{"limit=0", "limit=1001", "offset=-1", "limit=ten"} {
		wantError(t, ts.req("GET", "/api/webtask/acme?"+q, ts.Admin, nil), 400, "must be a whole number")
	}
}

func TestE2E_Quotas(t *testing.T) {
	ts := start(t, api.Config{MaxWebtasks: 2})
	ts.upload("acme", "a", fixture(t, "hello"), "")
	ts.upload("acme", "b", fixture(t, "hello"), "")
	r := ts.req("PUT", "/api/webtask/acme/c", ts.Admin, fixture(t, "hello"), "Content-Type: application/wasm")
	wantError(t, r, 403, "--max-webtasks")
	if id := r.JSON(t)["error"]; id != "quota_exceeded" {
		t.Errorf("error id %v, want quota_exceeded", id)
	}
	ts.upload("acme", "b", fixture(t, "echo"), "") // replacing stays within the quota
}

// TestE2E_MissingKeys: a data directory whose keys.json is gone while the
// database holds webtasks does not start (new keys would make every secret
// and token unusable), unless the operator asks for new keys.
func TestE2E_MissingKeys(t *testing.T) {
	dir := t.TempDir()
	srv, err := api.Open(context.Background(), api.Config{DataDir: dir, CacheDir: sharedCache, SharedCache: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	// An empty database may get new keys.
	if err := os.Remove(filepath.Join(dir, "keys.json")); err != nil {
		t.Fatal(err)
	}
	ts := start(t, api.Config{DataDir: dir})
	ts.upload("acme", "hello", fixture(t, "hello"), "")
	ts.Close()
	if err := os.Remove(filepath.Join(dir, "keys.json")); err != nil {
		t.Fatal(err)
	}
	admin, _ := os.ReadFile(filepath.Join(dir, "admin.token"))
	_, err = api.Open(context.Background(), api.Config{DataDir: dir, CacheDir: sharedCache, SharedCache: true})
	if err == nil || !strings.Contains(err.Error(), "keys.json is missing") || !strings.Contains(err.Error(), "--new-keys") {
		t.Fatalf("start without keys: %v", err)
	}
	if now, _ := os.ReadFile(filepath.Join(dir, "admin.token")); string(now) != string(admin) {
		t.Error("a refused start replaced admin.token")
	}
	srv, err = api.Open(context.Background(), api.Config{DataDir: dir, CacheDir: sharedCache, SharedCache: true, NewKeys: true})
	if err != nil {
		t.Fatalf("--new-keys: %v", err)
	}
	srv.Close()
}

func decodeList(t testing.TB, r response) []map[string]any {
	t.Helper()
	var out []map[string]any
	if r.Status != 200 {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}
	if err := json.Unmarshal(r.Body, &out); err != nil {
		t.Fatal(fmt.Errorf("list: %w", err))
	}
	return out
}

// TestE2E_RefusedBodyStillAnswered: a client that sends a whole body over
// the limit gets the 413 (with Connection: close), not a connection reset
// because the server closed on unread data.
func TestE2E_RefusedBodyStillAnswered(t *testing.T) {
	ts := start(t, api.Config{})
	ts.upload("acme", "hello", fixture(t, "hello"), "")
	body := make([]byte, 3<<20)
	for i := 0; i < 5; i++ {
		r, err := http.Post(ts.URL+"/api/run/acme/hello", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		r.Body.Close()
		if r.StatusCode != 413 || !r.Close {
			t.Fatalf("round %d: %d (close %v), want 413 with Connection: close", i, r.StatusCode, r.Close)
		}
	}
	if r := ts.req("GET", "/api/run/acme/hello", "", nil); r.Status != 200 {
		t.Errorf("after: %d", r.Status)
	}
}
