package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServe_LogJSON runs the server in process with --log-format json at
// debug: every line it writes is a JSON object, requests are logged by
// path without their query, and neither the admin token nor a query or
// header that carries it appears anywhere.
func TestServe_LogJSON(t *testing.T) {
	dir := t.TempDir()
	opts, err := parseServe([]string{"--addr", "127.0.0.1:0", "--data", dir, "--log-format", "json", "--log-level", "debug"},
		func(string) (string, bool) { return "", false }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	stop, code := make(chan os.Signal, 1), make(chan int, 1)
	go func() { code <- serveUntil(opts, stdout, stderr, stop) }()

	// The "listening" record names the URL.
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == ""; time.Sleep(5 * time.Millisecond) {
		for _, line := range strings.Split(stderr.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "listening" {
				url, _ = rec["url"].(string)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening record within 10 s: %s", stderr.String())
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	admin := strings.TrimSpace(string(b))
	get := func(path string, hdr ...string) int {
		req, _ := http.NewRequest("GET", url+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	get("/api/webtask/acme?key=" + admin)
	get("/metrics", "Authorization", "Bearer "+admin)
	get("/api/run/acme/nothing?key=" + admin)
	get("/readyz")
	stop <- syscall.SIGTERM
	waitExit0(t, code, "serve after SIGTERM", stderr)

	if out := stdout.String(); out != "" {
		t.Errorf("stdout is not empty in JSON mode: %q", out)
	}
	var requests, shutdown int
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("not a JSON line: %q", line)
			continue
		}
		if strings.Contains(line, admin) || strings.Contains(line, "key=") {
			t.Errorf("a line holds the token or the query: %s", line)
		}
		switch rec["msg"] {
		case "request":
			requests++
			if rec["level"] != "DEBUG" || rec["path"] == nil || rec["status"] == nil || rec["duration"] == nil {
				t.Errorf("request line: %s", line)
			}
		case "shutting down":
			shutdown++
		}
	}
	if requests != 4 || shutdown != 1 {
		t.Errorf("%d request lines (want 4), %d shutdown lines (want 1):\n%s", requests, shutdown, stderr.String())
	}
}
