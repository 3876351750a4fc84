package api_test

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wasmtask/wasmtask/host/api"
	"github.com/wasmtask/wasmtask/host/engine"
)

// rawRequest sends one request on its own connection and returns the
// response as it came over the wire: the header lines (status line
// first) and the body.
func (ts *testServer) rawRequest(method, path string, body []byte) (lines []string, respBody []byte, total int) {
	ts.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		ts.t.Fatal(err)
	}
	defer conn.Close()
	head := method + " " + path + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	if _, err := conn.Write(append([]byte(head), body...)); err != nil {
		ts.t.Fatal(err)
	}
	all, err := io.ReadAll(conn)
	if err != nil {
		ts.t.Fatal(err)
	}
	h, b, ok := bytes.Cut(all, []byte("\r\n\r\n"))
	if !ok {
		ts.t.Fatalf("no end of head in %.200q", all)
	}
	return strings.Split(string(h), "\r\n"), b, len(all)
}

// TestE2E_ResponseLimit: the response limit counts the guest's headers and
// its JSON-encoded error message, in bytes as sent. A guest that floods
// headers or errors with a message that grows when encoded fails with a
// host error naming the limit, and the server keeps serving.
func TestE2E_ResponseLimit(t *testing.T) {
	const limit = 1 << 20
	ts := start(t, api.Config{MaxBodyBytes: 2 << 20, Engine: engine.Config{MaxResponseBytes: limit}})
	// The engine's fixture, whose routes test the same limits one level down.
	mod, err := os.ReadFile(filepath.Join("..", "engine", "testdata", "limits.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	ts.upload("acme", "limits", mod, "")
	ts.upload("other", "limits", mod, "?meta=wt-instance:fresh")

	// run calls a route of the guest with a body of n bytes: the size it uses.
	run := func(container, route string, n int) response {
		return ts.req("POST", "/api/run/"+container+"/limits"+route, "", bytes.Repeat([]byte{'.'}, n))
	}
	wantOK := func(container string) {
		t.Helper()
		r := run(container, "/ok", 0)
		if r.Status != 200 || string(r.Body) != "hello" || r.Header.Get("x-a") != "1" || r.Header.Get("x-b") != "two" ||
			r.Header.Get("x-wt-response-source") != "webtask" {
			t.Fatalf("%s/limits/ok = %d %v %q", container, r.Status, r.Header, r.Body)
		}
	}
	wantOK("acme")

	tests := []struct {
		name  string
		route string
		n     int
		msg   string
	}{
		{"100 headers of 1 MiB", "/flood", 1 << 20, "header value exceeds the limit of 8192 bytes"},
		{"100 headers of 8 KiB", "/flood", 8 << 10, "response headers exceed the limit of 65536 bytes"},
		{"error of the limit in 0xFF bytes", "/error", limit, "response exceeds the limit of 1048576 bytes"},
		{"error of a quarter of the limit in 0xFF bytes", "/error", limit / 4, "response exceeds the limit of 1048576 bytes"},
		{"header and body one byte past the limit", "/both", limit - 108, "response exceeds the limit of 1048576 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := run("acme", tc.route, tc.n)
			wantError(t, r, 500, tc.msg)
			if id := r.JSON(t)["error"]; id != "webtask_failed" {
				t.Errorf("error = %v, want webtask_failed", id)
			}
			if len(r.Body) > 1<<10 {
				t.Errorf("error body is %d bytes", len(r.Body))
			}
			wantOK("other") // another webtask
			wantOK("acme")  // the same one, on a new instance
		})
	}

	// Responses within the limit go out whole, and what the guest put in
	// them is at most the limit on the wire; the host's framing (status
	// line, its own headers) is small.
	t.Run("header and body at the limit", func(t *testing.T) {
		lines, body, total := ts.rawRequest("POST", "/api/run/acme/limits/both", bytes.Repeat([]byte{'.'}, limit-109))
		if lines[0] != "HTTP/1.1 200 OK" {
			t.Fatalf("status line %q", lines[0])
		}
		guest := len(body)
		for _, l := range lines[1:] {
			if strings.HasPrefix(strings.ToLower(l), "x-pad: ") {
				guest += len(l) + len("\r\n")
			}
		}
		if guest != limit {
			t.Errorf("the guest's headers and body are %d bytes on the wire, want exactly the limit %d", guest, limit)
		}
		if total > limit+512 {
			t.Errorf("response is %d bytes on the wire: %d over the limit", total, total-limit)
		}
	})
	t.Run("error of 0xFF bytes that fits JSON-encoded", func(t *testing.T) {
		r := run("acme", "/error", (limit-2)/6)
		if r.Status != 500 || r.Header.Get("x-wt-response-source") != "webtask" {
			t.Fatalf("status %d from %s: %.200s", r.Status, r.Header.Get("x-wt-response-source"), r.Body)
		}
		if msg, _ := r.JSON(t)["message"].(string); msg != strings.Repeat("\ufffd", (limit-2)/6) {
			t.Errorf("message is not %d U+FFFD", (limit-2)/6)
		}
		if len(r.Body) > limit+100 {
			t.Errorf("error body is %d bytes", len(r.Body))
		}
	})
	t.Run("100 small headers", func(t *testing.T) {
		r := run("acme", "/flood", 100)
		if r.Status != 200 || len(r.Header.Values("x-flood")) != 100 {
			t.Fatalf("status %d, %d x-flood headers", r.Status, len(r.Header.Values("x-flood")))
		}
	})
}
