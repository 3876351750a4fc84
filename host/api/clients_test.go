package api_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/host/api"
	"github.com/wasmtask/wasmtask/store"
)

// The Webtask clients the original platform's users have — wt-cli 11.0.2
// and sandboxjs 5.0.0 — are pinned by testdata/clients/package-lock.json
// and driven here unchanged, as subprocesses, against a real server.
// `make clients` installs them with `npm ci` into a cache outside the
// repository, one folder per lock; clientsDir finds that folder the same
// way (or installs it the same way when `go test` runs alone).

const clientsSrc = "testdata/clients"

// needClients fails the test under CI=true, where a missing client is a
// broken machine, and skips it elsewhere with the reason.
func needClients(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// clientsDir returns the folder whose node_modules holds the pinned
// clients: $WASMTASK_CLIENTS_DIR, or
// ${XDG_CACHE_HOME:-$HOME/.cache}/wasmtask/clients-<first 12 hex digits of
// the lock's sha256> as `make clients` makes it, installed here if missing.
func clientsDir(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		needClients(t, "node is not installed: the wt-cli and sandboxjs tests need Node.js 18+ (%v)", err)
	}
	dir := os.Getenv("WASMTASK_CLIENTS_DIR")
	if dir == "" {
		lock, err := os.ReadFile(filepath.Join(clientsSrc, "package-lock.json"))
		if err != nil {
			t.Fatal(err)
		}
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				needClients(t, "no cache folder for the clients: %v (set WASMTASK_CLIENTS_DIR)", err)
			}
			cache = filepath.Join(home, ".cache")
		}
		sum := sha256.Sum256(lock)
		dir = filepath.Join(cache, "wasmtask", "clients-"+hex.EncodeToString(sum[:])[:12])
	}
	if _, err := os.Stat(filepath.Join(dir, ".installed")); err == nil {
		return dir
	}
	if err := installClients(dir); err != nil {
		needClients(t, "the pinned clients are not installed in %s (make clients): %v", dir, err)
	}
	return dir
}

// installClients does what `make clients` does: npm ci of the committed
// lock in a fresh folder beside dir, renamed to dir when complete, then the
// stamp.
func installClients(dir string) error {
	if _, err := exec.LookPath("npm"); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, f := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(clientsSrc, f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(tmp, f), b, 0o644); err != nil {
			return err
		}
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return errors.New("npm ci: " + err.Error() + "\n" + string(out))
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, ".installed")); serr == nil {
			return nil // another installer finished first
		}
		return err
	}
	return os.WriteFile(filepath.Join(dir, ".installed"), nil, 0o644)
}

// wtCLI runs the real wt binary with its own HOME (wt keeps its profile in
// ~/.webtask).
type wtCLI struct {
	t    *testing.T
	bin  string
	home string
}

func newWT(t *testing.T) *wtCLI {
	t.Helper()
	bin := filepath.Join(clientsDir(t), "node_modules", ".bin", "wt")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("wt-cli is not in the clients folder: %v", err)
	}
	return &wtCLI{t: t, bin: bin, home: t.TempDir()}
}

func (w *wtCLI) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, w.bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+w.home, "NO_UPDATE_NOTIFIER=1")
	return cmd
}

// run runs `wt args…`, requires exit 0 and returns its stdout.
func (w *wtCLI) run(args ...string) string {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := w.command(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		w.t.Fatalf("wt %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.String()
}

// runJSON runs `wt args… --output json` and decodes its stdout into v.
func (w *wtCLI) runJSON(v any, args ...string) {
	w.t.Helper()
	out := w.run(append(args, "--output", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		w.t.Fatalf("wt %s printed %q: %v", strings.Join(args, " "), out, err)
	}
}

// TestE2E_ClientsWtCLI manages a JavaScript webtask with seed 001's code
// the way a user of the original platform does, with wt-cli 11.0.2.
func TestE2E_ClientsWtCLI(t *testing.T) {
	w := newWT(t)
	ts := start(t, api.Config{JSEngine: jsEngine(t)})
	w.run("init", "--url", ts.URL, "--token", ts.Admin, "--container", "acme")

	file := filepath.Join(t.TempDir(), "seed001.js")
	if err := os.WriteFile(file, []byte(seed001Secrets), 0o644); err != nil {
		t.Fatal(err)
	}
	var created struct{ URL, Name, Container string }
	w.runJSON(&created, "create", file, "--name", "seed", "-s", "auth-secret=open-sesame", "--meta", "owner=wt-cli")
	if created.Name != "seed" || created.Container != "acme" || created.URL != ts.URL+"/api/run/acme/seed" {
		t.Fatalf("wt create printed %+v", created)
	}
	wantSeed001(t, ts, "after wt create")

	w.run("update", "seed", file)
	wantSeed001(t, ts, "after wt update") // the secret was kept

	var list []struct {
		Container, Name, URL string
		Meta                 map[string]string
	}
	w.runJSON(&list, "ls")
	if len(list) != 1 || list[0].Name != "seed" || list[0].Meta["owner"] != "wt-cli" {
		t.Errorf("wt ls = %+v, want seed with meta owner=wt-cli", list)
	}

	var inspected struct {
		Ten, Jtn, Code string
		Ectx, Meta     map[string]string
	}
	w.runJSON(&inspected, "inspect", "seed", "--decrypt", "--fetch-code")
	switch {
	case inspected.Ten != "acme" || inspected.Jtn != "seed":
		t.Errorf("wt inspect: ten %q jtn %q", inspected.Ten, inspected.Jtn)
	case inspected.Ectx["auth-secret"] != "open-sesame":
		t.Errorf("wt inspect --decrypt: ectx = %v", inspected.Ectx)
	case inspected.Code != seed001Secrets:
		t.Errorf("wt inspect --fetch-code: code = %q", inspected.Code)
	case inspected.Meta["owner"] != "wt-cli":
		t.Errorf("wt inspect: meta = %v", inspected.Meta)
	}

	wtTokens(t, w, ts)
	wtLogs(t, w, ts)
	wtLogs(t, w, ts, "--verbose")

	w.run("rm", "seed")
	if r := ts.req("GET", "/api/webtask/acme/seed", ts.Admin, nil); r.Status != 404 {
		t.Errorf("GET after wt rm = %d %s, want 404", r.Status, r.Body)
	}
	if r := ts.req("GET", "/api/run/acme/seed?secret=open-sesame", "", nil); r.Status != 404 {
		t.Errorf("run after wt rm = %d %s, want 404", r.Status, r.Body)
	}
}

// wantSeed001 runs the seed webtask with the right and a wrong secret.
func wantSeed001(t *testing.T, ts *testServer, when string) {
	t.Helper()
	for query, status := range map[string]int{"?secret=open-sesame": 200, "?secret=wrong": 403, "": 403} {
		if r := ts.req("GET", "/api/run/acme/seed"+query, "", nil); r.Status != status {
			t.Errorf("%s: GET /api/run/acme/seed%s = %d %s, want %d", when, query, r.Status, r.Body, status)
		}
	}
}

// wtTokens: `wt token create` prints tokens the server accepts, `wt token
// inspect` reads one back, `wt token revoke` makes the server refuse it.
func wtTokens(t *testing.T, w *wtCLI, ts *testServer) {
	t.Helper()
	for _, args := range [][]string{{"token", "create"}, {"token", "create", "--ten", "acme"}} {
		token := strings.TrimSpace(w.run(args...))
		if r := ts.req("GET", "/api/webtask/acme", token, nil); r.Status != 200 {
			t.Errorf("wt %s printed %q; the server says %d %s", strings.Join(args, " "), token, r.Status, r.Body)
		}
	}
	var token string
	w.runJSON(&token, "token", "create", "--ten", "acme")
	var claims struct {
		Jti, Ten string
		Revoked  bool
	}
	w.runJSON(&claims, "token", "inspect", token)
	if claims.Ten != "acme" || claims.Jti == "" || claims.Revoked {
		t.Errorf("wt token inspect = %+v, want ten acme, a jti, not revoked", claims)
	}
	w.run("token", "revoke", token)
	if r := ts.req("GET", "/api/webtask/acme", token, nil); r.Status != 401 {
		t.Errorf("a token wt token revoke revoked: GET = %d %s, want 401", r.Status, r.Body)
	}
	w.runJSON(&claims, "token", "inspect", token)
	if !claims.Revoked {
		t.Errorf("wt token inspect after revoke = %+v, want revoked", claims)
	}
}

// wtLogs: `wt logs [flags]` streams the container's logs and shows a
// webtask's console.log, at level INFO (wt-cli prints "LVL<level>" for a
// level that is not a bunyan number). It never exits by itself: it is
// killed when done.
func wtLogs(t *testing.T, w *wtCLI, ts *testServer, flags ...string) {
	t.Helper()
	const line = "hello from the wt logs test"
	file := filepath.Join(t.TempDir(), "logger.js")
	src := "module.exports = function (cb) { console.log('" + line + "'); cb(null, 'ok'); };\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	w.run("create", file, "--name", "logger")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append([]string{"logs"}, flags...)
	cmd := w.command(ctx, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()

	// wt says "connected" when its socket opens, maybe before the server
	// has subscribed it: run the webtask every half second until wt shows
	// the line.
	done := make(chan struct{})
	defer close(done)
	var seen []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		seen = append(seen, sc.Text())
		switch {
		case strings.Contains(sc.Text(), "connected to streaming logs"):
			go func() {
				for {
					if r := ts.req("GET", "/api/run/acme/logger", "", nil); r.Status != 200 {
						t.Errorf("run logger = %d %s", r.Status, r.Body)
						return
					}
					select {
					case <-done:
						return
					case <-time.After(500 * time.Millisecond):
					}
				}
			}()
		case strings.Contains(sc.Text(), line):
			if !strings.Contains(sc.Text(), "INFO") {
				t.Errorf("wt %s printed %q, want level INFO", strings.Join(args, " "), sc.Text())
			}
			return
		}
	}
	t.Errorf("wt %s ended (%v) without the console.log line; it printed:\n%s\nstderr:\n%s",
		strings.Join(args, " "), ctx.Err(), strings.Join(seen, "\n"), stderr.Bytes())
}

// TestE2E_ClientsWtCron manages a cron job with wt-cli 11.0.2: create
// --no-auth (which also creates the webtask; sandboxjs reads the url claim
// of its token), ls, get, reschedule, history (empty, then with a run), rm.
func TestE2E_ClientsWtCron(t *testing.T) {
	w := newWT(t)
	ts := start(t, api.Config{JSEngine: jsEngine(t), CronSeconds: true})
	w.run("init", "--url", ts.URL, "--token", ts.Admin, "--container", "acme")
	if out := w.run("cron", "ls"); !strings.Contains(out, "No scheduled webtasks") {
		t.Errorf("wt cron ls with no job printed %q", out)
	}

	file := filepath.Join(t.TempDir(), "tick.js")
	if err := os.WriteFile(file, []byte("module.exports = function (cb) { cb(null, 'tick'); };\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Schedules due once a year (1 and 2 January): never while the test runs.
	w.run("cron", "create", "--no-auth", "--schedule", "0 0 1 1 *", "--name", "tick", file)
	if r := ts.req("GET", "/api/run/acme/tick", "", nil); r.Status != 200 || string(r.Body) != `"tick"` {
		t.Fatalf("the webtask wt cron create made: %d %s", r.Status, r.Body)
	}

	type job struct{ Container, Name, Schedule, State, TZ string }
	var jobs []job
	w.runJSON(&jobs, "cron", "ls")
	if len(jobs) != 1 || jobs[0] != (job{"acme", "tick", "0 0 1 1 *", "active", "UTC"}) {
		t.Errorf("wt cron ls = %+v", jobs)
	}
	if out := w.run("cron", "reschedule", "tick", "--schedule", "0 0 2 1 *"); !strings.Contains(out, "0 0 2 1 *") {
		t.Errorf("wt cron reschedule printed %q", out) // it has no --output json
	}
	var got job
	w.runJSON(&got, "cron", "get", "tick")
	if got != (job{"acme", "tick", "0 0 2 1 *", "active", "UTC"}) {
		t.Errorf("wt cron get = %+v", got)
	}
	var history []cronRun
	w.runJSON(&history, "cron", "history", "tick")
	if len(history) != 0 {
		t.Errorf("wt cron history of a job that has not run = %v", history)
	}

	// Let it run: every second (a schedule wt-cli does not send, 6 fields,
	// accepted behind CronSeconds), with the token wt gave the job, then
	// paused once a run is recorded.
	tickJob := decode[cronJob](t, ts.req("GET", "/api/cron/acme/tick", ts.Admin, nil), 200)
	every, _ := json.Marshal(map[string]string{"schedule": "* * * * * *", "token": tickJob.Token})
	decode[cronJob](t, ts.req("PUT", "/api/cron/acme/tick", ts.Admin, every), 200)
	waitFor(t, "a run of tick", func() bool { return len(ts.cronHistory("acme", "tick")) > 0 })
	decode[cronJob](t, ts.req("PUT", "/api/cron/acme/tick/state", ts.Admin, []byte(`{"state":"inactive"}`)), 200)
	w.runJSON(&history, "cron", "history", "tick")
	if len(history) == 0 {
		t.Fatal("wt cron history after a run printed no run")
	}
	for _, r := range history {
		if r.Type != "success" || r.StatusCode != 200 || r.Body != `"tick"` || r.ScheduledAt.IsZero() || r.CompletedAt.Before(r.StartedAt) {
			t.Errorf("wt cron history: run %+v, want a success 200 answering \"tick\"", r)
		}
	}
	out := w.run("cron", "history", "tick", "--limit", "1")
	for _, want := range []string{"type:", "success", "statusCode:", "200", `"tick"`, "scheduled_at:", "completed_at:"} {
		if !strings.Contains(out, want) {
			t.Errorf("wt cron history printed %q, without %q", out, want)
		}
	}
	w.run("cron", "rm", "tick")
	if r := ts.req("GET", "/api/cron/acme/tick", ts.Admin, nil); r.Status != 404 {
		t.Errorf("GET after wt cron rm = %d %s, want 404", r.Status, r.Body)
	}

	// Without --no-auth, wt-cli adds @webtask/cron-auth-middleware to the
	// webtask's meta (it resolves the version on unpkg.com first, which
	// this offline test cannot reach, so the meta is set as wt-cli would):
	// the public URL then answers only the webtask's own token, while the
	// job's runs go through.
	tick, _ := os.ReadFile(file)
	ts.uploadJS("acme", "guarded", string(tick), "?meta="+url.QueryEscape("wt-compiler:@webtask/middleware-compiler")+
		"&meta="+url.QueryEscape("wt-middleware:@webtask/cron-auth-middleware@1.2.1"))
	tok, _ := ts.req("GET", "/api/webtask/acme/guarded", ts.Admin, nil).JSON(t)["token"].(string)
	if r := ts.req("PUT", "/api/cron/acme/guarded", ts.Admin, []byte(`{"schedule":"0 0 1 1 *","token":"`+tok+`"}`)); r.Status != 200 {
		t.Fatalf("job: %d %s", r.Status, r.Body)
	}
	wantError(t, ts.req("GET", "/api/run/acme/guarded", "", nil), 401, "missing Authorization")
	wantError(t, ts.req("GET", "/api/run/acme/guarded", "", nil, "Authorization: Bearer "+ts.issue(ts.Admin, `{"ten":"acme","jtn":"other"}`)), 401, "its own token")
	var j struct{ Token string }
	if r := ts.req("GET", "/api/cron/acme/guarded", ts.Admin, nil); r.Status != 200 || json.Unmarshal(r.Body, &j) != nil || j.Token == "" {
		t.Fatalf("the job: %d %s", r.Status, r.Body)
	}
	if r := ts.req("GET", "/api/run/acme/guarded", "", nil, "Authorization: Bearer "+j.Token); r.Status != 200 || string(r.Body) != `"tick"` {
		t.Fatalf("the public URL with the webtask's token: %d %s", r.Status, r.Body)
	}
	if status, body, err := ts.RunCronJob(context.Background(), store.CronJob{Container: "acme", Name: "guarded", Token: j.Token}); err != nil || status != 200 {
		t.Fatalf("a run of the job: %d %s %v", status, body, err)
	}
}
