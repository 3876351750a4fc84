package main

// CLI tests of flags and paths run_test.go does not cover: what run sends,
// create's body and parameter flags, the environment, a missing toolchain,
// server errors and their exit code, dev's flags and create --watch.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// echoed is what testdata/echo.wasm answers: the request as the guest sees it.
type echoed struct {
	Method    string              `json:"method"`
	Path      string              `json:"path"`
	Query     map[string][]string `json:"query"`
	Headers   map[string][]string `json:"headers"`
	Body      string              `json:"body"`
	Secrets   map[string]string   `json:"secrets"`
	Params    map[string]string   `json:"params"`
	Meta      map[string]string   `json:"meta"`
	Data      map[string]string   `json:"data"`
	Container string              `json:"container"`
	Name      string              `json:"name"`
}

// runEcho runs the CLI's run with -b and decodes the echo guest's answer.
func runEcho(t *testing.T, a ...string) echoed {
	t.Helper()
	code, out, errOut := wt(append(a, "-b")...)
	var e echoed
	if code != 0 || json.Unmarshal([]byte(out), &e) != nil {
		shown := append([]string{}, a...)
		for i := range shown {
			if i > 0 && shown[i-1] == "--token" {
				shown[i] = "…" // the test's own admin token, kept out of the log anyway
			}
		}
		t.Fatalf("run %v: %d %q %q", shown, code, out, errOut)
	}
	return e
}

// TestCLI_RunRequest checks that run sends the method, headers, body,
// query and path it is given (the echo guest answers what it received).
func TestCLI_RunRequest(t *testing.T) {
	url, admin := startServer(t)
	c := conn(url, admin, "acme")
	if code, out, errOut := wt(args(c, "create", "testdata/echo.wasm", "--name", "echo")...); code != 0 {
		t.Fatalf("create: %d %q %q", code, out, errOut)
	}
	e := runEcho(t, args(c, "run", "echo", "-X", "put", "-d", `{"a":"1"}`, "-H", "Content-Type: application/json",
		"-H", "X-Test: yes", "-H", "X-Test: again", "--query", "q=1", "--path", "/users/7")...)
	if e.Method != "PUT" || e.Path != "/users/7" || e.Body != `{"a":"1"}` || strings.Join(e.Headers["x-test"], ",") != "yes,again" ||
		strings.Join(e.Headers["content-type"], ",") != "application/json" || strings.Join(e.Query["q"], ",") != "1" {
		t.Fatalf("the guest received %+v", e)
	}
	if _, ok := e.Headers["authorization"]; ok {
		t.Fatalf("the token went to a named webtask without --auth: %+v", e.Headers)
	}
	// -d alone is a POST; -d @FILE sends the file.
	body := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(body, []byte(`{"from":"file"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if e = runEcho(t, args(c, "run", "echo", "-d", "@"+body)...); e.Method != "POST" || e.Body != `{"from":"file"}` {
		t.Fatalf("-d @FILE: the guest received %+v", e)
	}
	if e = runEcho(t, args(c, "run", "echo")...); e.Method != "GET" || e.Body != "" {
		t.Fatalf("no -d: the guest received %+v", e)
	}
	code, _, errOut := wt(args(c, "run", "echo", "-H", "no colon")...)
	if code != exitUsage || !strings.Contains(errOut, "-H: want 'Name: value'") {
		t.Fatalf("bad -H: %d %q", code, errOut)
	}
}

// TestCLI_CreateBodyFlags deploys the echo guest with --param,
// --parse-body and --no-merge and checks what a run of each sees; update
// keeps them, or sets them with =0.
func TestCLI_CreateBodyFlags(t *testing.T) {
	url, admin := startServer(t)
	c := conn(url, admin, "acme")
	for name, flags := range map[string][]string{
		"merged":   {"--param", "greeting=hi", "--param", "lang=en"},
		"unmerged": {"--no-merge"},
		"parsed":   {"--parse-body", "--no-merge"},
	} {
		if code, out, errOut := wt(args(c, append([]string{"create", "testdata/echo.wasm", "--name", name}, flags...)...)...); code != 0 {
			t.Fatalf("create %s: %d %q %q", name, code, out, errOut)
		}
	}
	post := func(name, body string) []string {
		return args(c, "run", name, "-d", body, "-H", "Content-Type: application/json")
	}
	// --param: the webtask's parameters; the body merged into data (the default).
	e := runEcho(t, post("merged", `{"a":"from the body"}`)...)
	if e.Params["greeting"] != "hi" || e.Params["lang"] != "en" || e.Data["greeting"] != "hi" || e.Data["a"] != "from the body" {
		t.Fatalf("merged: the guest saw params %v, data %v", e.Params, e.Data)
	}
	// --no-merge: the body stays out of data.
	if e = runEcho(t, post("unmerged", `{"a":"from the body"}`)...); e.Body != `{"a":"from the body"}` || e.Data["a"] != "" {
		t.Fatalf("--no-merge: the guest saw body %q, data %v", e.Body, e.Data)
	}
	// --parse-body: a body that is not JSON is refused before the guest
	// runs (400, exit 5); without it the guest gets it as it came.
	if e = runEcho(t, post("unmerged", `{not json`)...); e.Body != `{not json` {
		t.Fatalf("unparsed: the guest saw body %q", e.Body)
	}
	code, out, errOut := wt(post("parsed", `{not json`)...)
	if code != exitBadRequest || !strings.HasPrefix(out, "HTTP/1.1 400 Bad Request\n") ||
		!strings.HasPrefix(errOut, "wasmtask run: parsed: 400 Bad Request: pb: ") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("--parse-body with a bad body: %d %q %q", code, out, errOut)
	}
	// update keeps the body flags unless given, =0 included.
	if code, out, errOut := wt(args(c, "update", "parsed", "testdata/echo.wasm", "--param", "x=1")...); code != 0 {
		t.Fatalf("update: %d %q %q", code, out, errOut)
	}
	if code, _, _ := wt(post("parsed", `{not json`)...); code != exitBadRequest {
		t.Fatalf("update dropped --parse-body: exit %d", code)
	}
	if code, out, errOut := wt(args(c, "update", "parsed", "testdata/echo.wasm", "--parse-body=0")...); code != 0 {
		t.Fatalf("update --parse-body=0: %d %q %q", code, out, errOut)
	}
	if e = runEcho(t, post("parsed", `{not json`)...); e.Body != `{not json` || e.Params["x"] != "1" {
		t.Fatalf("after update --parse-body=0: %+v", e)
	}
	if code, out, errOut := wt(args(c, "update", "unmerged", "testdata/echo.wasm", "--no-merge=0")...); code != 0 {
		t.Fatalf("update --no-merge=0: %d %q %q", code, out, errOut)
	}
	if e = runEcho(t, post("unmerged", `{"a":"from the body"}`)...); e.Data["a"] != "from the body" {
		t.Fatalf("after update --no-merge=0: data %v", e.Data)
	}
	if code, out, errOut := wt(args(c, "create", "testdata/echo.wasm", "--name", "parsed", "--parse-body", "--no-merge")...); code != 0 {
		t.Fatalf("create over: %d %q %q", code, out, errOut)
	}
	// The flags are the claims of the webtask's own token.
	code, out, _ = wt(args(c, "inspect", "parsed", "-o", "json")...)
	var info webtaskInfo
	if code != 0 || json.Unmarshal([]byte(out), &info) != nil || info.Token == "" {
		t.Fatalf("inspect: %d %q", code, out)
	}
	code, out, _ = wt("token", "inspect", info.Token, "--url", url, "--token", admin, "-o", "json")
	var claims map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &claims) != nil || claims["pb"] != 1.0 || claims["mb"] != nil {
		t.Fatalf("the webtask's token: %d %q", code, out)
	}
}

// TestCLI_Env reaches the server through WASMTASK_URL, WASMTASK_TOKEN and
// WASMTASK_CONTAINER alone, with the flags winning over them.
func TestCLI_Env(t *testing.T) {
	url, admin := startServer(t)
	t.Setenv("WASMTASK_URL", url)
	t.Setenv("WASMTASK_TOKEN", admin)
	t.Setenv("WASMTASK_CONTAINER", "envbox")
	if code, out, errOut := wt("create", "testdata/logger.wasm"); code != 0 || !strings.Contains(out, url+"/api/run/envbox/logger") {
		t.Fatalf("create through the environment: %d %q %q", code, out, errOut)
	}
	if code, out, errOut := wt("ls"); code != 0 || !strings.Contains(out, "logger") {
		t.Fatalf("ls through the environment: %d %q %q", code, out, errOut)
	}
	t.Setenv("WASMTASK_TOKEN", "not-a-token")
	if code, _, errOut := wt("ls"); code != exitAuth || !strings.Contains(errOut, "401") {
		t.Fatalf("a bad WASMTASK_TOKEN: %d %q", code, errOut)
	}
	if code, out, errOut := wt("ls", "--token", admin); code != 0 || !strings.Contains(out, "logger") {
		t.Fatalf("--token over WASMTASK_TOKEN: %d %q %q", code, out, errOut)
	}
	t.Setenv("WASMTASK_URL", "http://127.0.0.1:1")
	if code, _, errOut := wt("ls", "--token", admin); code != exitError || !strings.Contains(errOut, "cannot reach http://127.0.0.1:1") {
		t.Fatalf("WASMTASK_URL elsewhere: %d %q", code, errOut)
	}
	if code, _, errOut := wt("ls", "--token", admin, "--url", url); code != 0 {
		t.Fatalf("--url over WASMTASK_URL: %d %q", code, errOut)
	}
}

// TestCLI_MissingToolchain builds with an empty PATH: create fails with one
// line naming the Debian package to install, exit 1.
func TestCLI_MissingToolchain(t *testing.T) {
	url, admin := startServer(t)
	c := conn(url, admin, "acme")
	src := t.TempDir()
	for _, f := range []string{"main.go", "hello.c", "index.ts"} {
		if err := os.WriteFile(filepath.Join(src, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", t.TempDir())
	t.Setenv("CLANG", "")
	tests := []struct{ file, want string }{
		{"testdata/logger.wat", "wat2wasm not found; install it: apt-get install wabt"},
		{filepath.Join(src, "hello.c"), "clang-14 not found; install it: apt-get install clang-14 lld-14"},
		{filepath.Join(src, "main.go"), "go not found; install it: apt-get install golang-go"},
		{filepath.Join(src, "index.ts"), "node not found; install it: apt-get install nodejs npm"},
	}
	for _, tc := range tests {
		t.Run(filepath.Ext(tc.file), func(t *testing.T) {
			code, out, errOut := wt(args(c, "create", tc.file)...)
			if code != exitError || out != "" || !strings.HasPrefix(errOut, "wasmtask create: toolchain missing: ") ||
				!strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d and %q on one line", code, out, errOut, exitError, tc.want)
			}
		})
	}
}

// TestCLI_ServerErrors: a server error is exit 1 with one line on stderr,
// from a guest that traps (run by name and by token) and from the API;
// a 504 is exit 6.
func TestCLI_ServerErrors(t *testing.T) {
	url, admin := startServer(t)
	c := conn(url, admin, "acme")
	if code, out, errOut := wt(args(c, "create", "testdata/panic.wasm", "--name", "panic")...); code != 0 {
		t.Fatalf("create: %d %q %q", code, out, errOut)
	}
	code, out, errOut := wt(args(c, "run", "panic")...)
	if code != exitError || !strings.HasPrefix(out, "HTTP/1.1 500 Internal Server Error\n") ||
		errOut != "wasmtask run: panic: 500 Internal Server Error: webtask trapped: wasm error: unreachable\n" || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("a trapping guest: %d %q %q", code, out, errOut)
	}
	_, tok, _ := wt("token", "create", "--url", url, "--token", admin, "--ten", "acme", "--name", "panic")
	code, _, errOut = wt(args(conn(url, strings.TrimSpace(tok), "acme"), "run", "-o", "json")...)
	if code != exitError || !strings.HasPrefix(errOut, "wasmtask run: the token's code: 500 Internal Server Error") {
		t.Fatalf("a trapping guest through the token: %d %q", code, errOut)
	}
	// The management API: a server answering 5xx.
	for status, want := range map[int]int{500: exitError, 502: exitError, 503: exitError, 504: exitTimeout} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = fmt.Fprintf(w, `{"code":%d,"error":"internal","message":"the store is down"}`, status)
		}))
		code, _, errOut := wt(args(conn(srv.URL, "x", "acme"), "ls")...)
		srv.Close()
		if code != want || !strings.Contains(errOut, "internal: the store is down") {
			t.Fatalf("ls answered %d: exit %d %q; want %d", status, code, errOut, want)
		}
	}
}

// TestCLI_DevCommand runs dev through the command line (its flags, with
// --secret, --param, --meta, --name and --container) until its context
// ends.
func TestCLI_DevCommand(t *testing.T) {
	var out, errOut syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- runContext(ctx, []string{"dev", "testdata/echo.wasm", "--addr", "127.0.0.1:0", "--no-watch", "--name", "devecho", "-c", "mine",
			"--secret", "API_KEY=abc", "--param", "p=1", "--meta", "team=a"}, &out, &errOut)
	}()
	runURL := waitRunURL(t, &out, func() {
		select {
		case code := <-done:
			t.Fatalf("dev ended: %d %q %q", code, out.String(), errOut.String())
		default:
		}
	})
	base, _, _ := strings.Cut(runURL, "/api/")
	if !strings.HasSuffix(runURL, "/api/run/mine/devecho") {
		t.Fatalf("run URL %q", runURL)
	}
	e := runEcho(t, "run", "--url", base, "-c", "mine", "devecho")
	if e.Secrets["API_KEY"] != "abc" || e.Params["p"] != "1" || e.Meta["team"] != "a" || e.Container != "mine" || e.Name != "devecho" {
		t.Fatalf("dev's webtask saw %+v", e)
	}
	cancel()
	waitExit0(t, done, "dev after its context ended", &errOut)
	if code, _, errOut := wt("dev", "testdata/echo.wasm", "--secret", "novalue"); code != exitUsage || !strings.Contains(errOut, "--secret: want key=value") {
		t.Fatalf("dev --secret novalue: %d %q", code, errOut)
	}
}

// TestCLI_CreateWatch runs create --watch, follows the webtask's logs, and
// uploads the file again when it changes.
func TestCLI_CreateWatch(t *testing.T) {
	url, admin := startServer(t)
	c := conn(url, admin, "acme")
	file := filepath.Join(t.TempDir(), "watched.wasm")
	logger, _ := os.ReadFile("testdata/logger.wasm")
	echo, _ := os.ReadFile("testdata/echo.wasm")
	if err := os.WriteFile(file, logger, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- runContext(ctx, args(c, "create", file, "--watch"), &out, &errOut) }()
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(errOut.String(), "Watching") }, "the watch")
	// The logs stream once connected: run until a line arrives.
	waitFor(t, 10*time.Second, func() bool {
		if code, _, e := wt(args(c, "run", "watched")...); code != 0 {
			t.Fatalf("run: %d %q", code, e)
		}
		return strings.Contains(out.String(), "logged by the guest")
	}, "the guest's log line")
	if err := os.WriteFile(file, echo, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(errOut.String(), "uploaded watched") }, "the upload")
	if e := runEcho(t, args(c, "run", "watched")...); e.Name != "watched" {
		t.Fatalf("after the change: %+v", e)
	}
	cancel()
	waitExit0(t, done, "create --watch after its context ended", &errOut)
}
