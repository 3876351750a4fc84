package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmtask/wasmtask/host/api"
)

// startServer runs a real server on a loopback port.
func startServer(t *testing.T) (url, admin string) {
	t.Helper()
	srv, err := api.Open(context.Background(), api.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = srv.Serve(ln); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return "http://" + ln.Addr().String(), srv.AdminToken()
}

// wt runs the CLI and returns exit code, stdout and stderr.
func wt(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCLI_CreateListRemove(t *testing.T) {
	url, admin := startServer(t)
	wasm := filepath.Join("..", "..", "guests", "build", "go", "shared-secret-simple.wasm")
	if _, err := os.Stat(wasm); err != nil {
		t.Fatalf("guest not built (run make guests): %v", err)
	}
	common := []string{"--server", url, "--token", admin, "--container", "acme"}

	code, out, errOut := wt(append([]string{"create", wasm, "--name", "secure", "--secret", "auth-secret=open-sesame", "--meta", "team=a"}, common...)...)
	if code != 0 || !strings.Contains(out, url+"/api/run/acme/secure") {
		t.Fatalf("create: %d %q %q", code, out, errOut)
	}
	code, out, _ = wt(append([]string{"ls"}, common...)...)
	if code != 0 || !strings.Contains(out, "secure") || !strings.Contains(out, "1 secret(s)") || strings.Contains(out, "open-sesame") {
		t.Fatalf("ls: %d %q", code, out)
	}
	code, out, _ = wt(append([]string{"ls", "--meta", "team=b"}, common...)...)
	if code != 0 || !strings.Contains(out, "no webtasks") {
		t.Fatalf("ls filtered: %d %q", code, out)
	}
	if code, out, errOut = wt(append([]string{"rm", "secure"}, common...)...); code != 0 {
		t.Fatalf("rm: %d %q %q", code, out, errOut)
	}
	code, _, errOut = wt(append([]string{"rm", "secure"}, common...)...)
	if code != 1 || !strings.Contains(errOut, "404 not_found: no webtask secure") {
		t.Fatalf("rm twice: %d %q", code, errOut)
	}
}

func TestCLI_Errors(t *testing.T) {
	url, _ := startServer(t)
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no command", nil, 2, "Usage"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"missing container", []string{"ls", "--server", url, "--token", "x"}, 1, "--container is required"},
		{"bad token", []string{"ls", "--server", url, "--token", "x", "--container", "acme"}, 1, "401 unauthorized"},
		{"missing file", []string{"create", "nope.wasm", "--server", url, "--container", "acme"}, 1, "nope.wasm"},
		{"not wasm", []string{"create", "run_test.go", "--server", url, "--container", "acme", "--token", "x"}, 1, "401"},
		{"unreachable server", []string{"ls", "--server", "http://127.0.0.1:1", "--container", "acme"}, 1, "cannot reach"},
		{"bad secret flag", []string{"create", "x.wasm", "--secret", "novalue"}, 2, "key=value"},
		{"bad serve flag", []string{"serve", "--policy", "sometimes"}, 2, "pool or fresh"},
		{"too many arguments", []string{"rm", "a", "b", "--container", "c"}, 2, "want 1 argument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := wt(tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.msg) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errOut, tc.code, tc.msg)
			}
		})
	}
}

// TestCLI_Tokens walks seed 002 with the CLI: a tenant token for one
// container manages it and nothing else, and revoking it takes effect.
func TestCLI_Tokens(t *testing.T) {
	url, admin := startServer(t)
	code, out, errOut := wt("token", "issue", "--server", url, "--token", admin, "--ten", "acme", "--limit", "lm=600")
	if code != 0 || strings.Count(out, ".") != 2 {
		t.Fatalf("issue: %d %q %q", code, out, errOut)
	}
	tenant := strings.TrimSpace(out)
	wasm := filepath.Join("..", "..", "guests", "build", "go", "hello.wasm")
	if code, _, errOut := wt("create", wasm, "--server", url, "--token", tenant, "--container", "acme"); code != 0 {
		t.Fatalf("tenant create in its container: %d %q", code, errOut)
	}
	code, _, errOut = wt("ls", "--server", url, "--token", tenant, "--container", "other")
	if code != 1 || !strings.Contains(errOut, "403") {
		t.Fatalf("tenant ls of another container: %d %q", code, errOut)
	}
	code, out, _ = wt("token", "inspect", tenant, "--server", url, "--token", admin)
	if code != 0 || !strings.Contains(out, `"ten": "acme"`) {
		t.Fatalf("inspect: %d %q", code, out)
	}
	code, _, errOut = wt("token", "issue", "--server", url, "--token", tenant, "--ten", "other")
	if code != 1 || !strings.Contains(errOut, "403") || !strings.Contains(errOut, "ten") {
		t.Fatalf("wider child: %d %q", code, errOut)
	}
	if code, _, errOut := wt("token", "revoke", tenant, "--server", url, "--token", admin); code != 0 {
		t.Fatalf("revoke: %d %q", code, errOut)
	}
	code, _, errOut = wt("ls", "--server", url, "--token", tenant, "--container", "acme")
	if code != 1 || !strings.Contains(errOut, "401") {
		t.Fatalf("revoked token still works: %d %q", code, errOut)
	}
	if code, _, errOut := wt("token", "frob"); code != 2 || !strings.Contains(errOut, "issue, revoke or inspect") {
		t.Fatalf("bad subcommand: %d %q", code, errOut)
	}
}

// TestCLI_Outbound sets, reads and removes a container's outbound policy;
// a bad entry, a tenant's set and a missing --allow are clear errors.
func TestCLI_Outbound(t *testing.T) {
	url, admin := startServer(t)
	common := []string{"--server", url, "--token", admin, "--container", "acme"}
	code, out, errOut := wt(append([]string{"outbound", "set", "--allow", "api.example.com,*.example.net:443", "--allow", "10.0.0.0/8", "--max-calls", "3"}, common...)...)
	if code != 0 || !strings.Contains(out, `"*.example.net:443"`) || !strings.Contains(out, `"max_calls": 3`) {
		t.Fatalf("set: %d %q %q", code, out, errOut)
	}
	if code, out, _ = wt(append([]string{"outbound", "get"}, common...)...); code != 0 || !strings.Contains(out, `"10.0.0.0/8"`) {
		t.Fatalf("get: %d %q", code, out)
	}
	code, _, errOut = wt(append([]string{"outbound", "set", "--allow", "bad host"}, common...)...)
	if code != 1 || !strings.Contains(errOut, "400") || !strings.Contains(errOut, "not a host name") {
		t.Fatalf("bad entry: %d %q", code, errOut)
	}
	if code, _, errOut = wt(append([]string{"outbound", "set"}, common...)...); code != 2 || !strings.Contains(errOut, "at least one --allow") {
		t.Fatalf("no --allow: %d %q", code, errOut)
	}
	_, tenant, _ := wt("token", "issue", "--server", url, "--token", admin, "--ten", "acme")
	code, _, errOut = wt("outbound", "set", "--allow", "x.example", "--server", url, "--token", strings.TrimSpace(tenant), "--container", "acme")
	if code != 1 || !strings.Contains(errOut, "403") || !strings.Contains(errOut, "only the admin") {
		t.Fatalf("tenant set: %d %q", code, errOut)
	}
	if code, out, _ = wt(append([]string{"outbound", "rm"}, common...)...); code != 0 || !strings.Contains(out, "calls nothing") {
		t.Fatalf("rm: %d %q", code, out)
	}
	if code, out, _ = wt(append([]string{"outbound", "get"}, common...)...); code != 0 || !strings.Contains(out, `"allow": []`) {
		t.Fatalf("get after rm: %d %q", code, out)
	}
	if code, _, errOut = wt("outbound", "frob", "--container", "acme"); code != 2 || !strings.Contains(errOut, "get, set or rm") {
		t.Fatalf("bad subcommand: %d %q", code, errOut)
	}
}
