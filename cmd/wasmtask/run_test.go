package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/host/api"
)

// isolateEnv points the user config folder at a temporary one and clears
// the client's environment variables for the whole test binary, so that no
// test reads or writes the real profiles (tests of profiles set their own
// folder with t.Setenv). It returns the cleanup.
func isolateEnv() func() {
	dir, err := os.MkdirTemp("", "wasmtask-config-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CONFIG_HOME", dir)
	for _, k := range []string{"WASMTASK_URL", "WASMTASK_SERVER", "WASMTASK_CONTAINER", "WASMTASK_TOKEN", "WASMTASK_PROFILE", "WASMTASK_SDK"} {
		os.Unsetenv(k)
	}
	return func() { os.RemoveAll(dir) }
}

// startServer runs a real server on a loopback port.
func startServer(t *testing.T) (url, admin string) {
	return startServerWith(t, api.Config{})
}

func startServerWith(t *testing.T, cfg api.Config) (url, admin string) {
	t.Helper()
	cfg.DataDir = t.TempDir()
	srv, err := api.Open(context.Background(), cfg)
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

// conn is the flags that name a server, a token and a container.
func conn(url, token, container string) []string {
	return []string{"--url", url, "--token", token, "--container", container}
}

func args(a []string, more ...string) []string { return append(append([]string{}, more...), a...) }

// repo is the repository's root, from this package's folder.
var repo = filepath.Join("..", "..")

// needTools skips a test whose toolchain is missing, except under CI=true
// where a missing toolchain fails.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tl := range tools {
		if _, err := exec.LookPath(tl); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed (CI=true: not skipping)", tl)
			}
			t.Skipf("%s is not installed", tl)
		}
	}
}

// TestCLI_CreateFromSource builds each language's hello example from source
// with `create` (and the `new` starter of each language), uploads it, and
// runs it. The builds run in parallel; each language is built once per kind.
func TestCLI_CreateFromSource(t *testing.T) {
	engine, _ := filepath.Abs(filepath.Join(repo, "guests", "build", "js", "engine.wasm"))
	cfg := api.Config{}
	if _, err := os.Stat(engine); err == nil {
		cfg.JSEngine = engine
	}
	url, admin := startServerWith(t, cfg)
	c := conn(url, admin, "langs")
	starters := t.TempDir()
	tests := []struct {
		lang, example string
		tools         []string
		want          string
	}{
		{"wat", "guests/wat/hello.wat", []string{"wat2wasm"}, `{"message":"hello, world"}`},
		{"c", "guests/c/examples/hello.c", []string{"clang-14", "wasm-ld-14"}, `{"message":"hello, Tomek"}`},
		{"rust", "guests/rust/examples/hello.rs", []string{"rustc"}, `{"message":"hello, Tomek"}`},
		{"assemblyscript", "guests/assemblyscript/assembly/examples/hello.ts", []string{"node"}, `{"message":"hello, Tomek"}`},
		{"go", "guests/go/examples/hello", []string{"go"}, `{"message":"hello, world"}`},
		{"javascript", "", nil, `{"message":"hello, Tomek"}`},
	}
	t.Run("group", func(t *testing.T) {
		for _, tc := range tests {
			t.Run(tc.lang, func(t *testing.T) {
				t.Parallel()
				needTools(t, tc.tools...)
				if tc.lang == "javascript" && cfg.JSEngine == "" {
					if os.Getenv("CI") == "true" {
						t.Fatal("no JavaScript engine: make -C guests js")
					}
					t.Skip("no JavaScript engine (make -C guests js)")
				}
				if tc.example != "" {
					name := "ex-" + tc.lang
					code, out, errOut := wt(args(c, "create", filepath.Join(repo, tc.example), "--name", name)...)
					if code != 0 || !strings.Contains(out, url+"/api/run/langs/"+name) || !strings.Contains(out, "("+langOf(tc.lang)+",") {
						t.Fatalf("create: %d %q %q", code, out, errOut)
					}
					code, out, errOut = wt(args(c, "run", name, "-q", "name=Tomek", "-b")...)
					if code != 0 || strings.TrimSpace(out) != tc.want {
						t.Fatalf("run: %d %q %q", code, out, errOut)
					}
				}
				// The starter project of `new`, built from its folder.
				dir := filepath.Join(starters, tc.lang)
				if code, out, errOut := wt("new", tc.lang, "st-"+tc.lang, "--dir", dir); code != 0 {
					t.Fatalf("new: %d %q %q", code, out, errOut)
				}
				code, out, errOut := wt(args(c, "create", dir, "--name", "st-"+tc.lang, "-o", "json")...)
				var info webtaskInfo
				if code != 0 || json.Unmarshal([]byte(out), &info) != nil || info.Name != "st-"+tc.lang {
					t.Fatalf("create the starter: %d %q %q", code, out, errOut)
				}
				code, out, errOut = wt(args(c, "run", "st-"+tc.lang, "-q", "name=you", "-b")...)
				if code != 0 || !strings.Contains(out, `"hello, `) {
					t.Fatalf("run the starter: %d %q %q", code, out, errOut)
				}
			})
		}
	})
}

func langOf(s string) string {
	if l, ok := newLangs[s]; ok {
		return l
	}
	return s
}

func TestCLI_CreateListInspectRemove(t *testing.T) {
	needTools(t, "wat2wasm")
	url, admin := startServer(t)
	c := conn(url, admin, "acme")
	env := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(env, []byte("FROM_FILE=dotenv\nSHARED=from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := wt(args(c, "create", "testdata/logger.wat", "--name", "secure", "--secret", "auth-secret=open-sesame", "--secret", "SHARED=from-flag",
		"--secrets-file", env, "--meta", "team=a", "--policy", "fresh")...)
	if code != 0 || !strings.Contains(out, url+"/api/run/acme/secure") {
		t.Fatalf("create: %d %q %q", code, out, errOut)
	}
	code, out, _ = wt(args(c, "ls")...)
	if code != 0 || !strings.Contains(out, "secure") || !strings.Contains(out, "fresh") || strings.Contains(out, "open-sesame") {
		t.Fatalf("ls: %d %q", code, out)
	}
	if code, out, _ = wt(args(c, "ls", "--meta", "team=b")...); code != 0 || !strings.Contains(out, "no webtasks") {
		t.Fatalf("ls filtered: %d %q", code, out)
	}
	code, out, _ = wt(args(c, "ls", "--meta", "team=a", "-o", "json")...)
	var items []webtaskInfo
	if code != 0 || json.Unmarshal([]byte(out), &items) != nil || len(items) != 1 || items[0].Meta["wt-instance"] != "fresh" {
		t.Fatalf("ls -o json: %d %q", code, out)
	}
	code, out, _ = wt(args(c, "inspect", "secure")...)
	if code != 0 || !strings.Contains(out, "secret:    auth-secret\n") || !strings.Contains(out, "secret:    FROM_FILE\n") || strings.Contains(out, "open-sesame") {
		t.Fatalf("inspect: %d %q", code, out)
	}
	code, out, _ = wt(args(c, "inspect", "secure", "--decrypt")...)
	if code != 0 || !strings.Contains(out, "auth-secret=open-sesame") || !strings.Contains(out, "FROM_FILE=dotenv") || !strings.Contains(out, "SHARED=from-flag") {
		t.Fatalf("inspect --decrypt (--secret wins over the file): %d %q", code, out)
	}
	// update keeps the secrets and meta, adds new ones.
	code, out, errOut = wt(args(c, "update", "secure", "testdata/logger.wat", "--secret", "more=1")...)
	if code != 0 || !strings.Contains(out, "updated") {
		t.Fatalf("update: %d %q %q", code, out, errOut)
	}
	code, out, _ = wt(args(c, "inspect", "secure", "--decrypt", "-o", "json")...)
	if code != 0 || !strings.Contains(out, `"auth-secret": "open-sesame"`) || !strings.Contains(out, `"more": "1"`) || !strings.Contains(out, `"team": "a"`) {
		t.Fatalf("after update: %d %q", code, out)
	}
	if code, out, errOut = wt(args(c, "rm", "secure")...); code != 0 || !strings.Contains(out, "Removed") {
		t.Fatalf("rm: %d %q %q", code, out, errOut)
	}
	code, _, errOut = wt(args(c, "rm", "secure")...)
	if code != exitNotFound || errOut != "wasmtask rm: 404 not_found: no webtask secure in container acme\n" {
		t.Fatalf("rm twice: %d %q", code, errOut)
	}
}

// TestCLI_TokenCreateRun issues a token that runs one webtask in one
// container, runs with it, and checks what it may not do; then the claims
// flags --meta, --parse-body and --merge-body.
func TestCLI_TokenCreateRun(t *testing.T) {
	url, admin := startServer(t)
	c := conn(url, admin, "acme")
	if code, out, errOut := wt(args(c, "create", "testdata/logger.wasm", "--name", "logger")...); code != 0 {
		t.Fatalf("create: %d %q %q", code, out, errOut)
	}
	code, out, errOut := wt("token", "create", "--url", url, "--token", admin, "--ten", "acme", "--name", "logger", "--limit", "lm=600", "--exp", "1h")
	if code != 0 || strings.Count(out, ".") != 2 {
		t.Fatalf("token create: %d %q %q", code, out, errOut)
	}
	tok := strings.TrimSpace(out)
	withTok := conn(url, tok, "acme")
	code, out, errOut = wt(args(withTok, "run", "-b")...)
	if code != 0 || strings.TrimSpace(out) != `{"logged":true}` {
		t.Fatalf("run with the token: %d %q %q", code, out, errOut)
	}
	code, out, _ = wt(args(withTok, "run", "--auth", "logger")...)
	if code != 0 || !strings.HasPrefix(out, "HTTP/1.1 200 OK\n") || !strings.Contains(out, "\ncontent-type: application/json\n") {
		t.Fatalf("run by name: %d %q", code, out)
	}
	code, out, _ = wt("token", "inspect", tok, "--url", url, "--token", admin)
	if code != 0 || !strings.Contains(out, `"ten": "acme"`) || !strings.Contains(out, `"jtn": "logger"`) {
		t.Fatalf("inspect: %d %q", code, out)
	}
	// --claims, through the old name of the command.
	code, out, errOut = wt("token", "issue", "--url", url, "--token", admin, "--claims", `{"ten":"acme","dd":0}`, "-o", "json")
	if code != 0 || !strings.Contains(out, `"token": "`) {
		t.Fatalf("token issue --claims: %d %q %q", code, out, errOut)
	}
	code, _, errOut = wt(args(conn(url, tok, "other"), "ls")...)
	if code != exitAuth || !strings.Contains(errOut, "403 forbidden") {
		t.Fatalf("another container: %d %q", code, errOut)
	}
	code, _, errOut = wt("token", "create", "--url", url, "--token", tok, "--ten", "other")
	if code != exitAuth || !strings.Contains(errOut, "403") {
		t.Fatalf("wider child: %d %q", code, errOut)
	}
	if code, _, errOut = wt("token", "revoke", tok, "--url", url, "--token", admin); code != 0 {
		t.Fatalf("revoke: %d %q", code, errOut)
	}
	code, out, errOut = wt(args(withTok, "run")...)
	if code != exitAuth || !strings.Contains(out, "401 Unauthorized") || !strings.HasPrefix(errOut, "wasmtask run: the token's code: 401 Unauthorized: ") {
		t.Fatalf("run with a revoked token: %d %q %q", code, out, errOut)
	}

	// --meta sets the meta claim; --parse-body and --merge-body set pb and
	// mb to 1, and =0 to 0, over --claims and over what the child would
	// inherit.
	issue := func(token string, flags ...string) string {
		t.Helper()
		code, out, errOut := wt(append([]string{"token", "create", "--url", url, "--token", token}, flags...)...)
		if code != 0 {
			t.Fatalf("token create %v: %d %q", flags, code, errOut)
		}
		return strings.TrimSpace(out)
	}
	inspect := func(tok string) map[string]any {
		t.Helper()
		code, out, errOut := wt("token", "inspect", tok, "--url", url, "--token", admin, "-o", "json")
		var claims map[string]any
		if code != 0 || json.Unmarshal([]byte(out), &claims) != nil {
			t.Fatalf("token inspect: %d %q %q", code, out, errOut)
		}
		return claims
	}
	parent := issue(admin, "--ten", "acme", "--parse-body", "--merge-body")
	if cl := inspect(parent); cl["pb"] != 1.0 || cl["mb"] != 1.0 {
		t.Fatalf("--parse-body --merge-body: %v", cl)
	}
	child := issue(parent, "--ten", "acme", "--meta", "owner=ops", "--meta", "team=a", "--parse-body=0")
	cl := inspect(child)
	meta, _ := cl["meta"].(map[string]any)
	if meta["owner"] != "ops" || meta["team"] != "a" || cl["pb"] != nil || cl["mb"] != 1.0 {
		t.Fatalf("--meta, --parse-body=0 (pb 0, mb inherited): %v", cl)
	}
	if cl = inspect(issue(admin, "--claims", `{"ten":"acme","pb":1,"mb":1}`, "--merge-body=false")); cl["pb"] != 1.0 || cl["mb"] != nil {
		t.Fatalf("--merge-body=false over --claims: %v", cl)
	}
	code, _, errOut = wt("token", "create", "--url", url, "--token", admin, "--meta", "novalue")
	if code != exitUsage || !strings.Contains(errOut, "--meta: want key=value") {
		t.Fatalf("--meta novalue: %d %q", code, errOut)
	}
}

// TestCLI_LogsFollow follows a container's logs and receives the line the
// guest logged (filtered by webtask and level).
func TestCLI_LogsFollow(t *testing.T) {
	url, admin := startServer(t)
	c := conn(url, admin, "acme")
	if code, out, errOut := wt(args(c, "create", "testdata/logger.wasm", "--name", "logger")...); code != 0 {
		t.Fatalf("create: %d %q %q", code, out, errOut)
	}
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(args(c, "logs", "--name", "logger", "--level", "warn", "--max", "1"), &out, &errOut)
	}()
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(errOut.String(), "Connected") }, "logs to connect")
	if code, _, e := wt(args(c, "run", "logger")...); code != 0 {
		t.Fatalf("run: %d %q", code, e)
	}
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(out.String(), "warn  logger: logged by the guest\n") {
			t.Fatalf("logs: %d %q %q", code, out.String(), errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no log line: %q", out.String())
	}
	code, _, e := wt(args(conn(url, "x", "acme"), "logs")...)
	if code != exitAuth || !strings.Contains(e, "401") {
		t.Fatalf("logs with a bad token: %d %q", code, e)
	}
}

func waitFor(t *testing.T, d time.Duration, ok func() bool, what string) {
	t.Helper()
	for end := time.Now().Add(d); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// waitExit0 fails the test unless what, running in the background with
// its exit code to come on done, exits 0 within 10 s (stderr is shown
// when it does not).
func waitExit0(t *testing.T, done <-chan int, what string, stderr *syncBuffer) {
	t.Helper()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("%s: exit %d %q", what, code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not exit within 10 s", what)
	}
}

// TestCLI_Cron schedules a webtask every second and sees the run in its
// history.
func TestCLI_Cron(t *testing.T) {
	url, admin := startServerWith(t, api.Config{CronSeconds: true})
	c := conn(url, admin, "acme")
	if code, out, errOut := wt(args(c, "create", "testdata/logger.wasm", "--name", "logger")...); code != 0 {
		t.Fatalf("create: %d %q %q", code, out, errOut)
	}
	code, out, errOut := wt(args(c, "cron", "create", "logger", "--schedule", "* * * * * *", "--meta", "k=v")...)
	if code != 0 || !strings.Contains(out, "state:     active") {
		t.Fatalf("cron create: %d %q %q", code, out, errOut)
	}
	waitFor(t, 15*time.Second, func() bool {
		_, out, _ := wt(args(c, "cron", "history", "logger")...)
		return strings.Contains(out, "success") && strings.Contains(out, `{"logged":true}`)
	}, "a run in the history")
	if code, out, _ = wt(args(c, "cron", "ls")...); code != 0 || !strings.Contains(out, "logger") {
		t.Fatalf("cron ls: %d %q", code, out)
	}
	if code, out, _ = wt(args(c, "cron", "pause", "logger")...); code != 0 || !strings.Contains(out, "inactive") {
		t.Fatalf("cron pause: %d %q", code, out)
	}
	if code, out, _ = wt(args(c, "cron", "resume", "logger", "-o", "json")...); code != 0 || !strings.Contains(out, `"state": "active"`) {
		t.Fatalf("cron resume: %d %q", code, out)
	}
	if code, out, _ = wt(args(c, "cron", "get", "logger")...); code != 0 || !strings.Contains(out, "* * * * * *") {
		t.Fatalf("cron get: %d %q", code, out)
	}
	if code, _, errOut = wt(args(c, "cron", "create", "x", "--schedule", "bad")...); code != exitBadRequest || !strings.Contains(errOut, "not a valid cron expression") {
		t.Fatalf("bad schedule: %d %q", code, errOut)
	}
	if code, _, _ = wt(args(c, "cron", "rm", "logger")...); code != 0 {
		t.Fatalf("cron rm: %d", code)
	}
	if code, _, errOut = wt(args(c, "cron", "get", "logger")...); code != exitNotFound {
		t.Fatalf("cron get after rm: %d %q", code, errOut)
	}
}

func TestCLI_Storage(t *testing.T) {
	url, admin := startServer(t)
	c := conn(url, admin, "acme")
	if code, out, errOut := wt(args(c, "create", "testdata/logger.wasm", "--name", "logger")...); code != 0 {
		t.Fatalf("create: %d %q %q", code, out, errOut)
	}
	if code, out, _ := wt(args(c, "storage", "get", "logger")...); code != 0 || out != "null\n" {
		t.Fatalf("get empty: %d %q", code, out)
	}
	code, out, errOut := wt(args(c, "storage", "set", "logger", `{"count":1}`)...)
	if code != 0 || !strings.HasPrefix(out, "etag: ") {
		t.Fatalf("set: %d %q %q", code, out, errOut)
	}
	etag := strings.TrimSpace(strings.TrimPrefix(out, "etag: "))
	code, out, errOut = wt(args(c, "storage", "get", "logger")...)
	if code != 0 || !strings.Contains(out, `"count": 1`) || !strings.Contains(errOut, "etag: "+etag) {
		t.Fatalf("get: %d %q %q", code, out, errOut)
	}
	if code, _, errOut = wt(args(c, "storage", "set", "logger", `{"count":2}`, "--etag", etag)...); code != 0 {
		t.Fatalf("set with the etag: %d %q", code, errOut)
	}
	code, _, errOut = wt(args(c, "storage", "set", "logger", `{"count":3}`, "--etag", etag)...)
	if code != exitBadRequest || !strings.Contains(errOut, "409 conflict") {
		t.Fatalf("stale etag: %d %q", code, errOut)
	}
	code, out, _ = wt(args(c, "storage", "get", "logger", "-o", "json")...)
	if code != 0 || !strings.Contains(out, `"data": "{\"count\":2}"`) {
		t.Fatalf("get -o json: %d %q", code, out)
	}
	if code, _, errOut = wt(args(c, "storage", "set", "logger", "not json")...); code != exitUsage {
		t.Fatalf("not JSON: %d %q", code, errOut)
	}
}

// TestCLI_Profiles saves profiles in a temporary config folder and uses
// them, with the environment and flags over them.
func TestCLI_Profiles(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("HOME", t.TempDir())
	url, admin := startServer(t)
	if code, _, errOut := wt("init", "--url", url, "--container", "acme", "--token", "wrong"); code != exitAuth || !strings.Contains(errOut, "profile not saved") {
		t.Fatalf("init with a bad token: %d %q", code, errOut)
	}
	code, out, errOut := wt("init", "--url", url, "--container", "acme", "--token", admin)
	if code != 0 || !strings.Contains(out, "Profile default saved") {
		t.Fatalf("init: %d %q %q", code, out, errOut)
	}
	path := filepath.Join(cfg, "wasmtask", "profiles.json")
	for p, mode := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != mode {
			t.Fatalf("%s: %v, mode %v; want %v", p, err, st.Mode().Perm(), mode)
		}
	}
	if code, out, errOut = wt("create", "testdata/logger.wasm"); code != 0 || !strings.Contains(out, url+"/api/run/acme/logger") {
		t.Fatalf("create through the profile: %d %q %q", code, out, errOut)
	}
	if code, out, _ = wt("ls"); code != 0 || !strings.Contains(out, "logger") {
		t.Fatalf("ls through the profile: %d %q", code, out)
	}
	t.Setenv("WASMTASK_CONTAINER", "empty")
	if code, out, _ = wt("ls"); code != 0 || !strings.Contains(out, "no webtasks in container empty") {
		t.Fatalf("WASMTASK_CONTAINER over the profile: %d %q", code, out)
	}
	if code, out, _ = wt("ls", "-c", "acme"); code != 0 || !strings.Contains(out, "logger") {
		t.Fatalf("--container over the environment: %d %q", code, out)
	}
	if code, out, errOut = wt("init", "--name", "other", "--url", "http://127.0.0.1:1", "--no-verify"); code != 0 {
		t.Fatalf("init other: %d %q %q", code, out, errOut)
	}
	code, out, _ = wt("profile", "ls")
	if code != 0 || !strings.Contains(out, "*  default") || !strings.Contains(out, "other") || strings.Contains(out, admin) {
		t.Fatalf("profile ls: %d %q", code, out)
	}
	if code, out, _ = wt("profile", "get", "default", "--show-token"); code != 0 || !strings.Contains(out, admin) {
		t.Fatalf("profile get: %d %q", code, out)
	}
	if code, _, errOut = wt("ls", "--profile", "other"); code != exitError || !strings.Contains(errOut, "cannot reach http://127.0.0.1:1") {
		t.Fatalf("--profile other: %d %q", code, errOut)
	}
	if code, _, errOut = wt("ls", "--profile", "nope"); code != exitNotFound || !strings.Contains(errOut, `no such profile "nope"`) {
		t.Fatalf("--profile nope: %d %q", code, errOut)
	}
	t.Setenv("WASMTASK_PROFILE", "other")
	if code, _, errOut = wt("ls", "--url", url, "--token", admin); code != 0 {
		t.Fatalf("--url over WASMTASK_PROFILE: %d %q", code, errOut)
	}
	if code, _, _ = wt("profile", "rm", "other"); code != 0 {
		t.Fatalf("profile rm: %d", code)
	}
	if code, _, errOut = wt("profile", "rm", "other"); code != exitNotFound {
		t.Fatalf("profile rm twice: %d %q", code, errOut)
	}
}

func TestCLI_Errors(t *testing.T) {
	url, admin := startServer(t)
	// A server that accepts and never answers: the client times out.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	c := conn(url, admin, "acme")
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no command", nil, exitUsage, "Usage:"},
		{"unknown command", []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"unknown subcommand", []string{"token", "frob"}, exitUsage, `wasmtask token: unknown command "frob": want create, inspect, revoke`},
		{"no subcommand", []string{"cron"}, exitUsage, "want a subcommand"},
		{"unknown flag", args(c, "ls", "--frob"), exitUsage, "unknown flag: --frob (see wasmtask ls --help)"},
		{"missing container", []string{"ls", "--url", url, "--token", "x"}, exitUsage, "--container is required"},
		{"bad output", args(c, "ls", "-o", "yaml"), exitUsage, "--output must be text or json"},
		{"bad token", args(conn(url, "x", "acme"), "ls"), exitAuth, "401 unauthorized"},
		{"unknown webtask", args(c, "inspect", "nope"), exitNotFound, "404 not_found: no webtask nope"},
		{"unknown webtask run", args(c, "run", "nope"), exitNotFound, "wasmtask run: nope: 404 Not Found: no webtask nope in container acme\n"},
		{"missing file", args(c, "create", "nope.wasm"), exitNotFound, "nope.wasm"},
		{"bad extension", args(c, "create", "../../README.md"), exitUsage, "cannot tell the language"},
		{"bad secret flag", args(c, "create", "testdata/logger.wasm", "--secret", "novalue"), exitUsage, "--secret: want key=value"},
		{"bad policy", args(c, "create", "testdata/logger.wasm", "--policy", "sometimes"), exitUsage, "--policy must be fresh or pool"},
		{"bad serve flag", []string{"serve", "--policy", "sometimes"}, exitUsage, "pool or fresh"},
		{"too many arguments", args(c, "rm", "a", "b"), exitUsage, "want 1 argument(s), got 2"},
		{"unreachable server", args(conn("http://127.0.0.1:1", "x", "acme"), "ls"), exitError, "cannot reach http://127.0.0.1:1"},
		{"timeout", args(conn("http://"+ln.Addr().String(), "x", "acme"), "ls", "--timeout", "200ms"), exitTimeout, "did not answer in time"},
		{"unknown language for new", []string{"new", "cobol", "x"}, exitUsage, `unknown language "cobol"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := wt(tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.msg) || strings.Count(errOut, "\n") > 1 && tc.args != nil {
				t.Fatalf("exit %d, stderr %q; want %d and %q on one line", code, errOut, tc.code, tc.msg)
			}
		})
	}
	// run prints the answer on stdout as for a 2xx, and one line on stderr.
	code, out, errOut := wt(args(c, "run", "nope")...)
	if code != exitNotFound || !strings.HasPrefix(out, "HTTP/1.1 404 Not Found\n") || !strings.HasSuffix(out, `"message":"no webtask nope in container acme"}`+"\n") ||
		errOut != "wasmtask run: nope: 404 Not Found: no webtask nope in container acme\n" {
		t.Fatalf("run nope: %d %q %q", code, out, errOut)
	}
	// A module the server refuses: 400, exit 5.
	bad := filepath.Join(t.TempDir(), "bad.wasm")
	if err := os.WriteFile(bad, []byte("\x00asm\x02\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := wt(args(c, "create", bad)...); code != exitBadRequest || !strings.Contains(errOut, "400 invalid_module") {
		t.Fatalf("invalid module: %d %q", code, errOut)
	}
}

// TestCLI_Outbound sets, reads and removes a container's outbound policy;
// a bad entry, a tenant's set and a missing --allow are clear errors.
func TestCLI_Outbound(t *testing.T) {
	url, admin := startServer(t)
	common := conn(url, admin, "acme")
	code, out, errOut := wt(args(common, "outbound", "set", "--allow", "api.example.com,*.example.net:443", "--allow", "10.0.0.0/8", "--max-calls", "3")...)
	if code != 0 || !strings.Contains(out, `"*.example.net:443"`) || !strings.Contains(out, `"max_calls": 3`) {
		t.Fatalf("set: %d %q %q", code, out, errOut)
	}
	if code, out, _ = wt(args(common, "outbound", "get")...); code != 0 || !strings.Contains(out, `"10.0.0.0/8"`) {
		t.Fatalf("get: %d %q", code, out)
	}
	code, _, errOut = wt(args(common, "outbound", "set", "--allow", "bad host")...)
	if code != exitBadRequest || !strings.Contains(errOut, "400") || !strings.Contains(errOut, "not a host name") {
		t.Fatalf("bad entry: %d %q", code, errOut)
	}
	if code, _, errOut = wt(args(common, "outbound", "set")...); code != exitUsage || !strings.Contains(errOut, "at least one --allow") {
		t.Fatalf("no --allow: %d %q", code, errOut)
	}
	_, tenant, _ := wt("token", "create", "--url", url, "--token", admin, "--ten", "acme")
	code, _, errOut = wt(args(conn(url, strings.TrimSpace(tenant), "acme"), "outbound", "set", "--allow", "x.example")...)
	if code != exitAuth || !strings.Contains(errOut, "403") || !strings.Contains(errOut, "only the admin") {
		t.Fatalf("tenant set: %d %q", code, errOut)
	}
	if code, out, _ = wt(args(common, "outbound", "rm")...); code != 0 || !strings.Contains(out, "calls nothing") {
		t.Fatalf("rm: %d %q", code, out)
	}
	if code, out, _ = wt(args(common, "outbound", "get")...); code != 0 || !strings.Contains(out, `"allow": []`) {
		t.Fatalf("get after rm: %d %q", code, out)
	}
	if code, _, errOut = wt("outbound", "frob", "--container", "acme"); code != exitUsage || !strings.Contains(errOut, "want get, rm, set") {
		t.Fatalf("bad subcommand: %d %q", code, errOut)
	}
}

// waitRunURL waits (20 s at most) for the run URL a dev server prints on
// out, calling check, when not nil, on every poll (to fail early).
func waitRunURL(t *testing.T, out *syncBuffer, check func()) string {
	t.Helper()
	var runURL string
	waitFor(t, 20*time.Second, func() bool {
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(l, "http://") {
				runURL = l
				return true
			}
		}
		if check != nil {
			check()
		}
		return false
	}, "dev to serve")
	return runURL
}

// TestCLI_Dev serves a WAT webtask on a server of its own, and serves the
// new code after the file changes.
func TestCLI_Dev(t *testing.T) {
	needTools(t, "wat2wasm")
	dir := t.TempDir()
	if code, _, errOut := wt("new", "wat", "devtask", "--dir", dir); code != 0 {
		t.Fatalf("new: %d %q", code, errOut)
	}
	var out, errOut syncBuffer
	g := &globals{stdout: &out, stderr: &errOut, timeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- devServe(ctx, g, &uploadOptions{watch: true, name: "devtask"}, "127.0.0.1:0", dir) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dev: %v", err)
		}
	}()
	runURL := waitRunURL(t, &out, nil)
	get := func() string {
		code, body, _ := wt("run", "--url", strings.SplitN(runURL, "/api/", 2)[0], "-c", "dev", "devtask", "-b")
		if code != 0 {
			return ""
		}
		return body
	}
	if body := get(); !strings.Contains(body, "hello, world") {
		t.Fatalf("dev serves %q (%s)", body, errOut.String())
	}
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(errOut.String(), "Watching") }, "the watch")
	src := filepath.Join(dir, "main.wat")
	b, _ := os.ReadFile(src)
	if err := os.WriteFile(src, bytes.ReplaceAll(b, []byte("hello, world"), []byte("hello, again")), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, func() bool { return strings.Contains(get(), "hello, again") }, "the rebuilt webtask")
	waitFor(t, 5*time.Second, func() bool { return strings.Contains(out.String(), "greeting the world") }, "the log line")
}

func Test_detect(t *testing.T) {
	dir := t.TempDir()
	mk := func(files ...string) string {
		d, _ := os.MkdirTemp(dir, "p")
		for _, f := range files {
			p := filepath.Join(d, f)
			_ = os.MkdirAll(filepath.Dir(p), 0o755)
			_ = os.WriteFile(p, nil, 0o644)
		}
		return d
	}
	tests := []struct {
		name  string
		path  string
		lang  string
		entry string // relative to path ("" for the folder itself)
		err   bool
	}{
		{"wasm file", "testdata/logger.wasm", langWasm, ".", false},
		{"wat file", "testdata/logger.wat", langWAT, ".", false},
		{"go folder", mk("go.mod", "main.go"), langGo, "", false},
		{"rust lib", mk("src/lib.rs", "src/util.rs"), langRust, "src/lib.rs", false},
		{"rust single", mk("hello.rs"), langRust, "hello.rs", false},
		{"c folder", mk("a.c", "b.c", "wasmtask.h"), langC, "", false},
		{"as index", mk("assembly/index.ts", "assembly/wasmtask.ts"), langAS, "assembly/index.ts", false},
		{"js", mk("index.js", "lib.js"), langJS, "index.js", false},
		{"ambiguous wat", mk("a.wat", "b.wat"), "", "", true},
		{"empty", mk(), "", "", true},
		{"unknown file", "../../README.md", "", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := detect(tc.path)
			if tc.err {
				var ue *usageError
				if !errors.As(err, &ue) {
					t.Fatalf("detect(%s) = %+v, %v; want a usage error", tc.path, s, err)
				}
				return
			}
			if err != nil || s.lang != tc.lang {
				t.Fatalf("detect(%s) = %+v, %v; want %s", tc.path, s, err, tc.lang)
			}
			want, _ := filepath.Abs(filepath.Join(tc.path, tc.entry))
			if tc.entry == "." {
				want, _ = filepath.Abs(tc.path)
			}
			if s.entry != want {
				t.Fatalf("entry %s, want %s", s.entry, want)
			}
		})
	}
}

func TestCLI_Completion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		if code, out, errOut := wt("completion", sh); code != 0 || !strings.Contains(out, "wasmtask") {
			t.Fatalf("completion %s: %d %q", sh, code, errOut)
		}
	}
	if code, out, _ := wt("create", "--help"); code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "--secrets-file") {
		t.Fatalf("create --help: %d %q", code, out)
	}
	if code, out, _ := wt("--help"); code != 0 || !strings.Contains(out, "Exit codes:") {
		t.Fatalf("--help: %d %q", code, out)
	}
	if code, out, _ := wt("version"); code != 0 || out != "wasmtask dev\n" {
		t.Fatalf("version: %d %q", code, out)
	}
}
