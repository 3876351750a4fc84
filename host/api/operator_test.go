package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/api"
	"github.com/wasmtask/wasmtask/host/auth"
	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/store"
)

// scrape GETs /metrics with the admin token and returns its samples by
// series ("name{labels}" as written), failing the test on a non-200.
func (ts *testServer) scrape() (samples map[string]float64, text string) {
	ts.t.Helper()
	r := ts.req("GET", "/metrics", ts.Admin, nil)
	if r.Status != 200 {
		ts.t.Fatalf("GET /metrics: %d %s", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		ts.t.Errorf("content-type %q, want text/plain", ct)
	}
	return parseSamples(ts.t, r.Body), string(r.Body)
}

// parseSamples reads the Prometheus text format's sample lines.
func parseSamples(t testing.TB, text []byte) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("not a sample line: %q", line)
		}
		m[line[:i]] = v
	}
	return m
}

func TestMetrics_CountersMove(t *testing.T) {
	ts := start(t, api.Config{})
	const name, secret = "hush-webtask", "s3cr3t-value-x"
	ts.upload("acme", name, fixture(t, "hello"), "?secret=key:"+secret)
	ts.upload("acme", "fresh-one", fixture(t, "hello"), "?meta=wt-instance:fresh")
	tenant := ts.issue(ts.Admin, map[string]any{"ten": "acme"})

	before, _ := ts.scrape()
	const n = 5
	for i := 0; i < n; i++ {
		if r := ts.req("GET", "/api/run/acme/"+name+"?key="+tenant, "", nil); r.Status != 200 {
			t.Fatalf("run: %d %s", r.Status, r.Body)
		}
		if r := ts.req("GET", "/api/run/acme/fresh-one", "", nil); r.Status != 200 {
			t.Fatalf("run: %d %s", r.Status, r.Body)
		}
	}
	if r := ts.req("GET", "/api/run/acme/nothing-here", "", nil); r.Status != 404 {
		t.Fatalf("run of a missing webtask: %d", r.Status)
	}
	ts.req("GET", "/api/webtask/acme", tenant, nil) // a token verification, then a cache hit below
	ts.req("GET", "/api/webtask/acme", tenant, nil)
	const data = "/api/webtask/acme/" + name + "/data"
	if r := ts.req("PUT", data, ts.Admin, []byte(`{"data":"{\"v\":1}"}`)); r.Status != 200 {
		t.Fatalf("storage put: %d %s", r.Status, r.Body)
	}
	ts.req("GET", data, ts.Admin, nil)
	if r := ts.req("PUT", data, ts.Admin, []byte(`{"data":"{\"v\":2}","etag":"stale"}`)); r.Status != 409 {
		t.Fatalf("stale storage put: %d %s", r.Status, r.Body)
	}
	after, text := ts.scrape()

	delta := func(series string) float64 { return after[series] - before[series] }
	tests := []struct {
		series string
		min    float64
		exact  bool
	}{
		{`wasmtask_http_requests_total{route="run",status_class="2xx"}`, 2 * n, true},
		{`wasmtask_http_requests_total{route="run",status_class="4xx"}`, 1, true},
		{`wasmtask_http_requests_total{route="storage",status_class="4xx"}`, 1, true},
		{`wasmtask_http_requests_total{route="metrics",status_class="2xx"}`, 1, true},
		{`wasmtask_run_duration_seconds_count`, 2*n + 1, true},
		{`wasmtask_storage_operations_total{op="get"}`, 1, false},
		{`wasmtask_storage_operations_total{op="set"}`, 2, false},
		{`wasmtask_storage_conflicts_total`, 1, true},
		{`wasmtask_token_cache_hits_total`, 1, false},
	}
	for _, tc := range tests {
		d := delta(tc.series)
		if _, ok := after[tc.series]; !ok {
			t.Errorf("no series %s", tc.series)
		} else if tc.exact && d != tc.min || d < tc.min {
			t.Errorf("%s moved by %v, want %v", tc.series, d, tc.min)
		}
	}
	for _, series := range []string{
		`wasmtask_instantiations_total{policy="pool"}`,
		`wasmtask_instantiations_total{policy="fresh"}`,
		`wasmtask_instance_resets_total`,
		`wasmtask_token_verifications_total{result="ok"}`,
		`wasmtask_compile_cache_total{cache="memory",result="miss"}`,
		`wasmtask_instances_live{policy="pool"}`,
		`wasmtask_instances_idle{policy="pool"}`,
	} {
		if after[series] <= 0 {
			t.Errorf("%s = %v, want > 0", series, after[series])
		}
	}
	if v, ok := after[`wasmtask_modules_interpreted`]; !ok || v != 0 {
		t.Errorf("wasmtask_modules_interpreted = %v (present: %v), want 0 on a server that does not tier", v, ok)
	}
	if _, ok := after[`go_goroutines`]; !ok {
		t.Error("no series go_goroutines")
	}
	for _, leak := range []string{ts.Admin, tenant, secret, name, "container=", "acme"} {
		if strings.Contains(text, leak) {
			t.Errorf("/metrics holds %q", leak)
		}
	}

	// The counters the server's parts keep move with what they count,
	// each on a server of its own so that nothing else moves them.
	t.Run("rate limit", func(t *testing.T) {
		ts := start(t, api.Config{})
		hello := fixture(t, "hello")
		ts.upload("acme", "hello", hello, "")
		once := ts.issue(ts.Admin, `{"url":"sha256:`+engine.SHA256(hello)+`","lth":1}`)
		before, _ := ts.scrape()
		if r := ts.req("GET", "/api/run/acme", once, nil); r.Status != 200 {
			t.Fatalf("first run: %d %s", r.Status, r.Body)
		}
		wantError(t, ts.req("GET", "/api/run/acme", once, nil), 429, "lth")
		after, _ := ts.scrape()
		wantMoved(t, before, after, map[string]float64{`wasmtask_rate_limited_total`: 1})
	})
	t.Run("declared auth", func(t *testing.T) {
		ts := start(t, api.Config{})
		ts.upload("acme", "guarded", fixture(t, "hello"), middleware(auth.Bearer, "secret=wt-auth-secret:open-sesame"))
		before, _ := ts.scrape()
		ts.req("GET", "/api/run/acme/guarded", "", nil, "Authorization: Bearer open-sesame")
		ts.req("GET", "/api/run/acme/guarded", "", nil, "Authorization: Bearer guess")
		ts.req("GET", "/api/run/acme/guarded", "", nil)
		after, text := ts.scrape()
		wantMoved(t, before, after, map[string]float64{
			`wasmtask_auth_checks_total{middleware="bearer",result="ok"}`:           1,
			`wasmtask_auth_checks_total{middleware="bearer",result="unauthorized"}`: 2,
			`wasmtask_auth_checks_total{middleware="jwt",result="unauthorized"}`:    0,
		})
		if strings.Contains(text, "open-sesame") || strings.Contains(text, "guarded") {
			t.Error("/metrics holds the secret or the webtask's name")
		}
	})
	t.Run("cron", func(t *testing.T) {
		ts := start(t, api.Config{CronSeconds: true})
		ts.upload("c", "tick", fixture(t, "hello"), "")
		ts.upload("c", "boom", fixture(t, "panic"), "")
		before, _ := ts.scrape()
		for _, name := range []string{"tick", "boom"} {
			if r := ts.req("PUT", "/api/cron/c/"+name, ts.Admin, []byte(`{"schedule":"* * * * * *"}`)); r.Status != 200 {
				t.Fatalf("cron job %s: %d %s", name, r.Status, r.Body)
			}
		}
		waitFor(t, "a run of each job", func() bool {
			return len(ts.cronHistory("c", "tick")) >= 1 && len(ts.cronHistory("c", "boom")) >= 1
		})
		after, _ := ts.scrape()
		for _, series := range []string{`wasmtask_cron_runs_total{result="success"}`, `wasmtask_cron_runs_total{result="error"}`} {
			if d := after[series] - before[series]; d < 1 {
				t.Errorf("%s moved by %v, want at least 1", series, d)
			}
		}
	})
	t.Run("outbound", func(t *testing.T) {
		p := newProvider(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := ln.Addr().String()
		ln.Close()
		ts := start(t, api.Config{})
		ts.upload("acme", "fetch", goGuest(t, "fetch"), "")
		if r := ts.req("PUT", "/api/outbound/acme", ts.Admin, []byte(`{"allow":["127.0.0.1:`+p.port+`","`+closed+`"]}`)); r.Status != 200 {
			t.Fatalf("set policy: %d %s", r.Status, r.Body)
		}
		before, _ := ts.scrape()
		wantFetched(t, ts.fetch("http://127.0.0.1:"+p.port+"/", ""), 200, "ok")
		wantGuestError(t, ts.fetch("http://other.example/", ""), 502, "denied")
		wantGuestError(t, ts.fetch("http://"+closed+"/", ""), 502, "failed")
		wantGuestError(t, ts.fetch("/relative", ""), 502, "invalid")
		after, _ := ts.scrape()
		wantMoved(t, before, after, map[string]float64{
			`wasmtask_outbound_calls_total{result="ok"}`:     1,
			`wasmtask_outbound_calls_total{result="denied"}`: 1,
			`wasmtask_outbound_calls_total{result="error"}`:  1,
			`wasmtask_outbound_calls_total{result="other"}`:  1,
		})
	})
	t.Run("log drops", func(t *testing.T) {
		ts := start(t, api.Config{JSEngine: jsEngine(t)})
		// 2,000 lines of 8 KiB (the longest a line may be): 16 MB, more
		// than a stalled connection's buffers and the subscription's 256
		// records can hold.
		ts.uploadJS("acme", "chatty", `module.exports = function (ctx, cb) {
  var line = 'x'.repeat(8192);
  for (var i = 0; i < 2000; i++) console.log(line);
  cb(null, {});
};`, "")
		// A subscriber that reads the stream's opening and then nothing.
		c, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.(*net.TCPConn).SetReadBuffer(4096)
		fmt.Fprintf(c, "GET /api/logs/tenant/acme HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", ts.Admin)
		opening := make([]byte, 0, 512)
		for !bytes.Contains(opening, []byte("connected to acme")) {
			b := make([]byte, 64)
			n, err := c.Read(b)
			if err != nil {
				t.Fatalf("log stream: %v (%q)", err, opening)
			}
			opening = append(opening, b[:n]...)
		}
		before, _ := ts.scrape()
		if r := ts.req("GET", "/api/run/acme/chatty", "", nil); r.Status != 200 {
			t.Fatalf("run: %d %s", r.Status, r.Body)
		}
		after, _ := ts.scrape()
		if d := after[`wasmtask_log_records_dropped_total`] - before[`wasmtask_log_records_dropped_total`]; d < 1 {
			t.Errorf("a stalled subscriber of 2,000 lines lost %v, want some", d)
		}
	})
}

// wantMoved checks that each series moved by exactly its value between
// two scrapes (and exists).
func wantMoved(t *testing.T, before, after map[string]float64, want map[string]float64) {
	t.Helper()
	for series, d := range want {
		if _, ok := after[series]; !ok {
			t.Errorf("no series %s", series)
		} else if got := after[series] - before[series]; got != d {
			t.Errorf("%s moved by %v, want %v", series, got, d)
		}
	}
}

func TestMetrics_Access(t *testing.T) {
	private := start(t, api.Config{})
	public := start(t, api.Config{MetricsPublic: true})
	off := start(t, api.Config{NoMetrics: true})
	tenant := private.issue(private.Admin, map[string]any{"ten": "acme"})
	tests := []struct {
		name   string
		ts     *testServer
		token  string
		query  string
		status int
	}{
		{"no token", private, "", "", 401},
		{"invalid token", private, "not-a-token", "", 401},
		{"tenant token", private, tenant, "", 403},
		{"admin token", private, private.Admin, "", 200},
		{"admin token in the query", private, "", "?key=" + private.Admin, 200},
		{"public", public, "", "", 200},
		{"off", off, off.Admin, "", 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.ts.req("GET", "/metrics"+tc.query, tc.token, nil)
			if tc.status == 200 {
				if r.Status != 200 || !bytes.Contains(r.Body, []byte("wasmtask_http_requests_total")) {
					t.Fatalf("%d %.200s", r.Status, r.Body)
				}
				return
			}
			wantError(t, r, tc.status, "")
		})
	}
	wantError(t, private.req("POST", "/metrics", private.Admin, nil), 405, "use GET")
}

func TestMetrics_PerContainer(t *testing.T) {
	ts := start(t, api.Config{MetricsPerContainer: true})
	ts.upload("acme", "hello", fixture(t, "hello"), "")
	ts.req("GET", "/api/run/acme/hello", "", nil)
	ts.req("GET", "/api/run/guessed-name/hello", "", nil) // 404: no series
	samples, _ := ts.scrape()
	if v := samples[`wasmtask_container_requests_total{container="acme",route="run",status_class="2xx"}`]; v != 1 {
		t.Errorf("acme's runs = %v, want 1", v)
	}
	for series := range samples {
		if strings.Contains(series, "guessed-name") {
			t.Errorf("a series for a container that does not exist: %s", series)
		}
	}
}

func TestReadyz(t *testing.T) {
	ts := start(t, api.Config{})
	if r := ts.req("GET", "/readyz", "", nil); r.Status != 200 || r.JSON(t)["status"] != "ready" {
		t.Fatalf("readyz: %d %s", r.Status, r.Body)
	}

	// A store that closes under the server: not ready, in JSON.
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "wasmtask.db"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(context.Background(), api.Config{DataDir: dir, CacheDir: sharedCache, SharedCache: true}, st)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	get := func() *fasthttp.Response {
		var ctx fasthttp.RequestCtx
		var req fasthttp.Request
		req.SetRequestURI("/readyz")
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
		srv.Handler()(&ctx)
		var resp fasthttp.Response
		ctx.Response.CopyTo(&resp)
		return &resp
	}
	if r := get(); r.StatusCode() != 200 {
		t.Fatalf("readyz: %d %s", r.StatusCode(), r.Body())
	}
	st.Close()
	r := get()
	var body struct{ Error, Message string }
	if r.StatusCode() != 503 || json.Unmarshal(r.Body(), &body) != nil || body.Error != "unavailable" || !strings.Contains(body.Message, "store") {
		t.Fatalf("readyz with the store closed: %d %s", r.StatusCode(), r.Body())
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestLog_RequestLines: one line per request, at debug for an answer
// and at warn for a failure of the server (5xx) with its error id —
// a guest that traps, a token the host cannot judge — and never a token,
// a secret, a query or a body.
func TestLog_RequestLines(t *testing.T) {
	var out syncBuffer
	log := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ts := start(t, api.Config{Logger: log})
	const secret = "s3cr3t-value-x"
	ts.upload("acme", "hello", fixture(t, "hello"), "")
	ts.upload("acme", "boom", fixture(t, "panic"), "?secret=key:"+secret)
	ts.upload("acme", "sso", fixture(t, "hello"), middleware(auth.JWT, "meta="+url.QueryEscape(auth.MetaJWKS+":https://idp.example/jwks")))
	tenant := ts.issue(ts.Admin, map[string]any{"ten": "acme"})
	jwtTok := "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ1c2VyLXNlY3JldC1zdWIifQ.c2lnbmF0dXJlLXNlY3JldA"
	ts.req("GET", "/api/run/acme/hello?key="+tenant+"&q=query-text", tenant, []byte("body-text"))
	ts.req("GET", "/api/webtask/acme?key="+tenant, "", nil)
	ts.req("GET", "/api/run/acme/loop", "", nil)
	trap := ts.req("POST", "/api/run/acme/boom?q=query-text", tenant, []byte("body-text"))
	if trap.Status != 500 {
		t.Fatalf("a trapping guest: %d %s", trap.Status, trap.Body)
	}
	if r := ts.req("GET", "/api/run/acme/sso", "", nil, "Authorization: Bearer "+jwtTok); r.Status != 503 {
		t.Fatalf("a JWKS the container may not fetch: %d %s", r.Status, r.Body)
	}

	var runs int
	failures := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if rec["path"] == "/api/run/acme/hello" && rec["level"] == "DEBUG" && rec["status"] == 200.0 && rec["method"] == "GET" && rec["duration"] != nil {
			runs++
		}
		if p, _ := rec["path"].(string); rec["msg"] == "request failed" {
			failures[p] = rec
		}
		for _, leak := range []string{ts.Admin, tenant, jwtTok, "c2lnbmF0dXJlLXNlY3JldA", secret, "query-text", "body-text", "key="} {
			if strings.Contains(line, leak) {
				t.Errorf("log line holds %q: %s", leak, line)
			}
		}
	}
	if runs != 1 {
		t.Errorf("%d request lines for the run, want 1:\n%s", runs, out.String())
	}
	tests := []struct {
		path   string
		status float64
		id     string
	}{
		{"/api/run/acme/boom", 500, "webtask_failed"},
		{"/api/run/acme/sso", 503, "auth_unavailable"},
	}
	for _, tc := range tests {
		rec := failures[tc.path]
		if rec == nil || rec["level"] != "WARN" || rec["status"] != tc.status || rec["error"] != tc.id || rec["method"] == nil {
			t.Errorf("%s: failure line %v, want WARN, status %v, error %q", tc.path, rec, tc.status, tc.id)
		}
	}
	if id := failures["/api/run/acme/boom"]["request_id"]; id == nil || id != trap.Header.Get("x-wt-request-id") {
		t.Errorf("the trap's line has request_id %v, the answer %q", id, trap.Header.Get("x-wt-request-id"))
	}
	if len(failures) != len(tests) {
		t.Errorf("%d failure lines, want %d (a 4xx is not the server's failure): %v", len(failures), len(tests), failures)
	}
}
