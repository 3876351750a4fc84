package api_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/host/api"
	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/host/internal/wasmgen"
)

func TestE2E_Lifecycle(t *testing.T) {
	ts := start(t, api.Config{})
	hello := fixture(t, "hello")

	info := ts.upload("acme", "hello", hello, "")
	if info["sha256"] != engine.SHA256(hello) || int(info["size"].(float64)) != len(hello) {
		t.Fatalf("upload info = %v", info)
	}
	if info["url"] != ts.URL+"/api/run/acme/hello" {
		t.Fatalf("run url = %v", info["url"])
	}
	// Uploading again replaces; 200 either way, as the original platform.
	if r := ts.req("PUT", "/api/webtask/acme/hello", ts.Admin, hello); r.Status != 200 {
		t.Fatalf("re-upload status = %d %s", r.Status, r.Body)
	}

	list := ts.req("GET", "/api/webtask/acme", ts.Admin, nil)
	var items []map[string]any
	if err := json.Unmarshal(list.Body, &items); err != nil || len(items) != 1 || items[0]["name"] != "hello" {
		t.Fatalf("list = %d %s", list.Status, list.Body)
	}
	if r := ts.req("GET", "/api/webtask/other", ts.Admin, nil); r.Status != 200 || string(r.Body) != "[]" {
		t.Fatalf("list of an empty container = %d %s", r.Status, r.Body)
	}
	if r := ts.req("GET", "/api/webtask/acme/hello", ts.Admin, nil); r.Status != 200 || r.JSON(t)["name"] != "hello" {
		t.Fatalf("get = %d %s", r.Status, r.Body)
	}

	run := ts.req("GET", "/api/run/acme/hello", "", nil)
	if run.Status != 200 || string(run.Body) != `{"message":"hello, world"}` {
		t.Fatalf("run = %d %s", run.Status, run.Body)
	}
	if run.Header.Get("Content-Type") != "application/json" || run.Header.Get("x-wt-response-source") != "webtask" {
		t.Fatalf("run headers = %v", run.Header)
	}
	if run.Header.Get("x-wt-request-id") == "" {
		t.Fatal("run has no x-wt-request-id")
	}

	if r := ts.req("DELETE", "/api/webtask/acme/hello", ts.Admin, nil); r.Status != 204 {
		t.Fatalf("delete = %d %s", r.Status, r.Body)
	}
	wantError(t, ts.req("DELETE", "/api/webtask/acme/hello", ts.Admin, nil), 404, "no webtask hello")
	wantError(t, ts.req("GET", "/api/run/acme/hello", "", nil), 404, "no webtask hello")
	wantError(t, ts.req("GET", "/api/webtask/acme/hello", ts.Admin, nil), 404, "no webtask hello")
}

func TestE2E_JSONUploadAndContext(t *testing.T) {
	ts := start(t, api.Config{})
	body, _ := json.Marshal(map[string]any{
		"code":    base64.StdEncoding.EncodeToString(fixture(t, "echo")),
		"secrets": map[string]string{"auth-secret": "open-sesame", "name": "from-secret"},
		"meta":    map[string]string{"owner": "tomek"},
	})
	r := ts.req("PUT", "/api/webtask/acme/echo", ts.Admin, body, "Content-Type: application/json")
	if r.Status != 200 {
		t.Fatalf("upload = %d %s", r.Status, r.Body)
	}
	// Secrets are listed by name, never in clear.
	for _, got := range []response{r, ts.req("GET", "/api/webtask/acme/echo", ts.Admin, nil), ts.req("GET", "/api/webtask/acme", ts.Admin, nil)} {
		if bytes.Contains(got.Body, []byte("open-sesame")) || bytes.Contains(got.Body, []byte("from-secret")) {
			t.Fatalf("a secret value appears in %s", got.Body)
		}
		if !bytes.Contains(got.Body, []byte(`"auth-secret"`)) {
			t.Fatalf("secret names missing from %s", got.Body)
		}
	}
	// Meta filters on list.
	if r := ts.req("GET", "/api/webtask/acme?meta=owner:tomek", ts.Admin, nil); !bytes.Contains(r.Body, []byte(`"echo"`)) {
		t.Fatalf("meta filter owner:tomek = %s", r.Body)
	}
	if r := ts.req("GET", "/api/webtask/acme?meta=owner:else", ts.Admin, nil); string(r.Body) != "[]" {
		t.Fatalf("meta filter owner:else = %s", r.Body)
	}

	run := ts.req("POST", "/api/run/acme/echo/sub/path?name=Tomek&x=1&x=2&key=ignored&webtask_no_cache=1", "",
		[]byte("hello body"), "X-Custom: Value", "Content-Type: text/plain")
	if run.Status != 200 {
		t.Fatalf("run = %d %s", run.Status, run.Body)
	}
	var ctx struct {
		Method, Path, RawQuery, Body, Container, Name, RequestID string
		Query                                                    map[string][]string
		Headers                                                  map[string][]string
		Secrets, Params, Meta, Data                              map[string]string
	}
	// the guest uses snake_case keys
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(run.Body, &raw); err != nil {
		t.Fatalf("echo body: %v %s", err, run.Body)
	}
	remap := map[string]string{"raw_query": "RawQuery", "request_id": "RequestID"}
	fixed := map[string]json.RawMessage{}
	for k, v := range raw {
		if n, ok := remap[k]; ok {
			k = n
		}
		fixed[k] = v
	}
	b, _ := json.Marshal(fixed)
	if err := json.Unmarshal(b, &ctx); err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"method", ctx.Method, "POST"},
		{"path", ctx.Path, "/sub/path"},
		{"body", ctx.Body, "hello body"},
		{"container", ctx.Container, "acme"},
		{"name", ctx.Name, "echo"},
		{"request id", ctx.RequestID, run.Header.Get("x-wt-request-id")},
		{"query name", strings.Join(ctx.Query["name"], ","), "Tomek"},
		{"repeated query", strings.Join(ctx.Query["x"], ","), "1,2"},
		{"header", strings.Join(ctx.Headers["x-custom"], ","), "Value"},
		{"secret", ctx.Secrets["auth-secret"], "open-sesame"},
		{"meta", ctx.Meta["owner"], "tomek"},
		{"data from query", ctx.Data["x"], "1"},
		{"data: secret wins over query", ctx.Data["name"], "from-secret"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if _, ok := ctx.Query["key"]; ok {
		t.Error("reserved query key reached the guest")
	}
	if strings.Contains(ctx.RawQuery, "key=") || strings.Contains(ctx.RawQuery, "webtask_") {
		t.Errorf("raw query keeps reserved keys: %q", ctx.RawQuery)
	}
}

// TestE2E_Seed001 is the shared-secret flow of seed 001 in both models, the
// secret stored with the webtask as context.secrets['auth-secret'].
func TestE2E_Seed001(t *testing.T) {
	ts := start(t, api.Config{})
	ts.upload("acme", "simple", fixture(t, "shared-secret-simple"), "?secret=auth-secret:open-sesame")
	ts.upload("acme", "raw", fixture(t, "shared-secret-raw"), "?secret=auth-secret:open-sesame")
	const yes = `{"question":"Am I secure?","answer":"Yes!"}`

	r := ts.req("GET", "/api/run/acme/simple?secret=wrong-key", "", nil)
	if r.Status != 400 || string(r.Body) != `{"code":400,"error":"Script returned an error.","message":"Not Authorized"}` {
		t.Fatalf("simple, wrong key = %d %s", r.Status, r.Body)
	}
	if r := ts.req("GET", "/api/run/acme/simple?secret=open-sesame", "", nil); r.Status != 200 || string(r.Body) != yes {
		t.Fatalf("simple, right key = %d %s", r.Status, r.Body)
	}
	r = ts.req("GET", "/api/run/acme/raw?secret=wrong-key", "", nil)
	if r.Status != 403 || len(r.Body) != 0 || r.Header.Get("x-wt-response-source") != "webtask" {
		t.Fatalf("raw, wrong key = %d %q %v", r.Status, r.Body, r.Header)
	}
	r = ts.req("GET", "/api/run/acme/raw?secret=open-sesame", "", nil)
	if r.Status != 200 || string(r.Body) != yes || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("raw, right key = %d %s", r.Status, r.Body)
	}
}

func TestE2E_BadInput(t *testing.T) {
	small := fixture(t, "shared-secret-raw")
	// big is small with a 1 KiB custom section: a valid module over this
	// server's module limit, which small is under.
	big := wasmgen.AppendSection(bytes.Clone(small), 0, append([]byte("\x03pad"), make([]byte, 1<<10)...))
	ts := start(t, api.Config{MaxModuleBytes: len(small) + 512, MaxBodyBytes: 1 << 10})
	ts.upload("acme", "keep", small, "?secret=auth-secret:s")

	tests := []struct {
		name   string
		method string
		path   string
		token  string
		body   []byte
		hdr    []string
		status int
		msg    string
	}{
		{"garbage module", "PUT", "/api/webtask/acme/keep", ts.Admin, []byte("not wasm at all"), nil, 400, "invalid wasm module"},
		{"wrong ABI version", "PUT", "/api/webtask/acme/keep", ts.Admin, fixture(t, "badabi"), nil, 400, "ABI v2"},
		{"unknown import", "PUT", "/api/webtask/acme/keep", ts.Admin, fixture(t, "badimport"), nil, 400, "env.not_a_host_function"},
		{"WASI command", "PUT", "/api/webtask/acme/keep", ts.Admin, fixture(t, "command"), nil, 400, "reactor"},
		{"empty module", "PUT", "/api/webtask/acme/keep", ts.Admin, nil, nil, 400, "empty module"},
		{"oversized module", "PUT", "/api/webtask/acme/keep", ts.Admin, big, []string{"Content-Type: application/wasm"}, 413, "limit"},
		{"bad JSON", "PUT", "/api/webtask/acme/keep", ts.Admin, []byte(`{"code":`), []string{"Content-Type: application/json"}, 400, "invalid JSON"},
		{"bad base64", "PUT", "/api/webtask/acme/keep", ts.Admin, []byte(`{"code":"%%%"}`), []string{"Content-Type: application/json"}, 400, "base64"},
		{"bad policy", "PUT", "/api/webtask/acme/keep?meta=wt-instance:sometimes", ts.Admin, small, nil, 400, "pool or fresh"},
		{"bad container name", "PUT", "/api/webtask/ac$me/x", ts.Admin, small, nil, 400, "container name"},
		{"bad webtask name", "PUT", "/api/webtask/acme/-bad", ts.Admin, small, nil, 400, "webtask name"},
		{"no token", "PUT", "/api/webtask/acme/keep", "", small, nil, 401, "missing token"},
		{"bad token", "PUT", "/api/webtask/acme/keep", "not.a.token", small, nil, 401, "malformed"},
		{"forged token", "GET", "/api/webtask/acme", ts.Admin[:len(ts.Admin)-4] + "AAAA", nil, nil, 401, "signature"},
		{"no token on list", "GET", "/api/webtask/acme", "", nil, nil, 401, "missing token"},
		{"wrong method", "OPTIONS", "/api/webtask/acme/keep", ts.Admin, nil, nil, 405, "OPTIONS"},
		{"unknown container", "GET", "/api/run/nobody/keep", "", nil, nil, 404, "no webtask keep in container nobody"},
		{"unknown name", "GET", "/api/run/acme/nothing", "", nil, nil, 404, "no webtask nothing"},
		{"no name and no token", "GET", "/api/run/acme", "", nil, nil, 401, "missing token"},
		{"oversized body", "POST", "/api/run/acme/keep", "", bytes.Repeat([]byte("x"), 2<<10), nil, 413, "limit"},
		{"unknown API", "GET", "/api/nothing", "", nil, nil, 404, "no API"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, ts.req(tc.method, tc.path, tc.token, tc.body, tc.hdr...), tc.status, tc.msg)
		})
	}
	// Nothing stored was lost: the webtask under the same name still runs.
	if r := ts.req("GET", "/api/run/acme/keep?secret=s", "", nil); r.Status != 200 {
		t.Fatalf("after bad uploads the stored webtask answers %d %s", r.Status, r.Body)
	}
}

func TestE2E_Limits(t *testing.T) {
	ts := start(t, api.Config{Engine: engine.Config{Timeout: time.Second, MaxResponseBytes: 1 << 20}})
	ts.upload("acme", "loop", fixture(t, "loop"), "")
	ts.upload("acme", "panic", fixture(t, "panic"), "")
	ts.upload("acme", "status", fixture(t, "status"), "")
	ts.upload("other", "hello", fixture(t, "hello"), "")

	started := time.Now()
	wantError(t, ts.req("GET", "/api/run/acme/loop", "", nil), 504, "wall-time limit of 1s")
	if d := time.Since(started); d > 10*time.Second {
		t.Errorf("runaway loop took %s to stop", d)
	}
	// The server keeps serving, other webtasks and the same one.
	if r := ts.req("GET", "/api/run/other/hello", "", nil); r.Status != 200 {
		t.Fatalf("after a timeout, hello = %d %s", r.Status, r.Body)
	}
	wantError(t, ts.req("GET", "/api/run/acme/loop", "", nil), 504, "wall-time")

	wantError(t, ts.req("GET", "/api/run/acme/panic", "", nil), 500, "trapped")
	if r := ts.req("GET", "/api/run/acme/panic", "", nil); r.Status != 500 {
		t.Fatalf("second panic = %d", r.Status)
	}

	r := ts.req("GET", "/api/run/acme/status?status=418&body=teapot", "", nil)
	if r.Status != 418 || string(r.Body) != "teapot" || r.Header.Get("x-guest") != "yes" {
		t.Fatalf("raw status = %d %q %v", r.Status, r.Body, r.Header)
	}
	wantError(t, ts.req("GET", "/api/run/acme/status?size=2000000", "", nil), 500, "exceeds the limit of 1048576 bytes")
	if r := ts.req("GET", "/api/run/acme/status?size=1000", "", nil); r.Status != 200 || len(r.Body) != 1000 {
		t.Fatalf("response under the limit = %d, %d bytes", r.Status, len(r.Body))
	}
}

// TestE2E_Isolation checks the instance policies and that instances never
// cross webtasks or containers.
func TestE2E_Isolation(t *testing.T) {
	ts := start(t, api.Config{})
	counter := fixture(t, "counter")
	ts.upload("a", "counter", counter, "")
	ts.upload("b", "counter", counter, "")
	ts.upload("a", "fresh", counter, "?meta=wt-instance:fresh")
	count := func(path string) int {
		r := ts.req("GET", path, "", nil)
		if r.Status != 200 {
			t.Fatalf("%s = %d %s", path, r.Status, r.Body)
		}
		return int(r.JSON(t)["count"].(float64))
	}
	for i := 1; i <= 3; i++ {
		if got := count("/api/run/a/counter"); got != i {
			t.Fatalf("pooled request %d of a saw count %d", i, got)
		}
	}
	if got := count("/api/run/b/counter"); got != 1 {
		t.Fatalf("container b saw count %d: state leaked from container a", got)
	}
	for i := 0; i < 3; i++ {
		if got := count("/api/run/a/fresh"); got != 1 {
			t.Fatalf("fresh instance saw count %d", got)
		}
	}
	if r := ts.req("GET", "/api/webtask/a/fresh", ts.Admin, nil); r.JSON(t)["policy"] != "fresh" {
		t.Fatalf("policy not reported: %s", r.Body)
	}
	// Replacing a webtask starts from new instances.
	ts.upload("a", "counter", counter, "")
	if got := count("/api/run/a/counter"); got != 1 {
		t.Fatalf("after re-upload count = %d, want 1", got)
	}
}

// TestE2E_Restart checks that webtasks, secrets and the admin token survive a
// restart, and that the warm compilation cache is used instead of compiling.
func TestE2E_Restart(t *testing.T) {
	data := t.TempDir()
	cache := filepath.Join(data, "cache")
	a := start(t, api.Config{DataDir: data, CacheDir: cache})
	a.upload("acme", "raw", fixture(t, "shared-secret-raw"), "?secret=auth-secret:open-sesame")
	admin := a.Admin
	a.Server.Close()

	before := cacheFiles(t, cache)
	if len(before) == 0 {
		t.Fatal("the compilation cache is empty after an upload")
	}
	b := start(t, api.Config{DataDir: data, CacheDir: cache})
	if b.Admin != admin {
		t.Fatal("admin token changed across a restart")
	}
	if r := b.req("GET", "/api/run/acme/raw?secret=open-sesame", "", nil); r.Status != 200 {
		t.Fatalf("after restart run = %d %s", r.Status, r.Body)
	}
	if r := b.req("GET", "/api/webtask/acme/raw", admin, nil); r.Status != 200 {
		t.Fatalf("after restart get = %d", r.Status)
	}
	after := cacheFiles(t, cache)
	if len(after) != len(before) {
		t.Fatalf("cache files %d -> %d: the module was compiled again", len(before), len(after))
	}
	for name, mod := range before {
		if !after[name].Equal(mod) {
			t.Fatalf("cache file %s was rewritten: the module was compiled again", name)
		}
	}
}

func cacheFiles(t *testing.T, dir string) map[string]time.Time {
	t.Helper()
	out := map[string]time.Time{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			out[p] = fi.ModTime()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestE2E_Logs reads the real-time log stream while a webtask logs through
// the ABI and through WASI stdout.
func TestE2E_Logs(t *testing.T) {
	ts := start(t, api.Config{})
	ts.upload("acme", "echo", fixture(t, "echo"), "")

	wantError(t, ts.req("GET", "/api/logs/tenant/acme", "", nil), 401, "missing token")

	req, _ := http.NewRequest("GET", ts.URL+"/api/logs/tenant/acme?key="+ts.Admin, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content-type = %q", ct)
	}
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	if first := <-lines; !strings.HasPrefix(first, ":") {
		t.Fatalf("first SSE line = %q", first)
	}
	run := ts.req("GET", "/api/run/acme/echo/p", "", nil)
	id := run.Header.Get("x-wt-request-id")
	want := map[string]bool{"echo GET /p": false, "stdout line": false}
	deadline := time.After(10 * time.Second)
	for missing := len(want); missing > 0; {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("log stream ended")
			}
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok {
				continue
			}
			var rec struct {
				Container, Name, Msg, RequestID string
				Level, V                        int // bunyan: numeric level, v 0
			}
			if err := json.Unmarshal([]byte(strings.Replace(data, "request_id", "requestid", 1)), &rec); err != nil {
				t.Fatalf("log record %q: %v", data, err)
			}
			if rec.Level < 20 || rec.Level > 50 || !strings.Contains(data, `"v":0`) {
				t.Fatalf("log record %q is not a bunyan record", data)
			}
			if rec.Container != "acme" || rec.RequestID != id {
				t.Fatalf("record %+v, want container acme and request %s", rec, id)
			}
			if seen, ok := want[rec.Msg]; ok && !seen {
				want[rec.Msg] = true
				missing--
			}
		case <-deadline:
			t.Fatalf("log lines not seen: %v", want)
		}
	}
}

// TestE2E_IdleEviction: the idle instances of a webtask nobody calls are
// closed, and the next request still succeeds (from a new instance).
func TestE2E_IdleEviction(t *testing.T) {
	ts := start(t, api.Config{IdleTimeout: 50 * time.Millisecond})
	ts.upload("acme", "counter", fixture(t, "counter"), "")
	for i := 1; i <= 2; i++ {
		if r := ts.req("GET", "/api/run/acme/counter", "", nil); r.JSON(t)["count"].(float64) != float64(i) {
			t.Fatalf("request %d: %s", i, r.Body)
		}
	}
	time.Sleep(300 * time.Millisecond)
	// A new instance: the pooled count starts over.
	if r := ts.req("GET", "/api/run/acme/counter", "", nil); r.Status != 200 || r.JSON(t)["count"].(float64) != 1 {
		t.Fatalf("after idle eviction: %d %s", r.Status, r.Body)
	}
}

// TestE2E_WarmStart: a restarted server loads the webtasks that served
// requests before the stop, with an instance ready, before /readyz answers
// 200 — the first request then neither compiles nor instantiates; one that
// was never run is not loaded, and --warm 0 loads nothing.
func TestE2E_WarmStart(t *testing.T) {
	data := t.TempDir()
	cache := filepath.Join(data, "cache")
	a := start(t, api.Config{DataDir: data, CacheDir: cache})
	a.upload("acme", "used", fixture(t, "shared-secret-raw"), "?secret=auth-secret:open-sesame")
	a.upload("acme", "unused", fixture(t, "hello"), "")
	if r := a.req("GET", "/api/run/acme/used?secret=open-sesame", "", nil); r.Status != 200 {
		t.Fatalf("run before the restart: %d %s", r.Status, r.Body)
	}
	a.Server.Close()

	off := start(t, api.Config{DataDir: data, CacheDir: cache, WarmWebtasks: -1})
	waitReady(t, off)
	if st := off.Engine().Stats(); st.MemoryMisses != 0 || st.Live[engine.PolicyPool] != 0 {
		t.Errorf("with the warm-up off: %d modules loaded, %d instances", st.MemoryMisses, st.Live[engine.PolicyPool])
	}
	off.Server.Close()

	b := start(t, api.Config{DataDir: data, CacheDir: cache})
	waitReady(t, b)
	st := b.Engine().Stats()
	if st.MemoryMisses != 1 || st.Idle[engine.PolicyPool] != 1 {
		t.Fatalf("ready after the warm-up: %d modules loaded, %d idle instances; want 1 and 1 (acme/used only)", st.MemoryMisses, st.Idle[engine.PolicyPool])
	}
	if r := b.req("GET", "/api/run/acme/used?secret=open-sesame", "", nil); r.Status != 200 {
		t.Fatalf("first run after the restart: %d %s", r.Status, r.Body)
	}
	after := b.Engine().Stats()
	if after.MemoryMisses != st.MemoryMisses || after.Instantiations != st.Instantiations || after.Reuses[engine.PolicyPool] != st.Reuses[engine.PolicyPool]+1 {
		t.Errorf("the first request after the warm-up loaded or instantiated: before %+v after %+v", st, after)
	}
}

// TestE2E_WarmStartWithoutHotList: with no hot list (nothing served
// before the stop), a restarted server is ready at once and loads the
// webtasks updated last in the background.
func TestE2E_WarmStartWithoutHotList(t *testing.T) {
	data := t.TempDir()
	cache := filepath.Join(data, "cache")
	a := start(t, api.Config{DataDir: data, CacheDir: cache})
	a.upload("acme", "one", fixture(t, "hello"), "")
	a.upload("acme", "two", fixture(t, "counter"), "")
	a.Server.Close()

	b := start(t, api.Config{DataDir: data, CacheDir: cache, WarmWait: time.Hour})
	if r := b.req("GET", "/readyz", "", nil); r.Status != 200 {
		t.Fatalf("/readyz without a hot list: %d %s (it should not wait for a guess)", r.Status, r.Body)
	}
	for deadline := time.Now().Add(10 * time.Second); b.Engine().Stats().Idle[engine.PolicyPool] < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the webtasks updated last were not warmed: %+v", b.Engine().Stats())
		}
	}
}

// waitReady polls /readyz until it answers 200 (10 s at most).
func waitReady(t *testing.T, ts *testServer) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		r := ts.req("GET", "/readyz", "", nil)
		if r.Status == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d after 10s: %s", r.Status, r.Body)
		}
	}
}
