package bench

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/api"
	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/host/keys"
	"github.com/wasmtask/wasmtask/host/token"
	"github.com/wasmtask/wasmtask/store"
)

// TestTestdataUpToDate rebuilds testdata/*.wat with wat2wasm (when it is
// installed) and checks the committed .wasm files match.
func TestTestdataUpToDate(t *testing.T) {
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Skip("wat2wasm not installed (Debian wabt)")
	}
	wats, _ := filepath.Glob("testdata/*.wat")
	if len(wats) == 0 {
		t.Fatal("no testdata/*.wat")
	}
	for _, wat := range wats {
		out := filepath.Join(t.TempDir(), "m.wasm")
		if b, err := exec.Command("wat2wasm", "-o", out, wat).CombinedOutput(); err != nil {
			t.Fatalf("wat2wasm %s: %v: %s", wat, err, b)
		}
		want, _ := os.ReadFile(out)
		got, err := os.ReadFile(strings.TrimSuffix(wat, ".wat") + ".wasm")
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s.wasm is stale: run make -C bench", strings.TrimSuffix(wat, ".wat"))
		}
	}
}

// TestVariant checks a variant is another module that the engine accepts
// and that answers the same.
func TestVariant(t *testing.T) {
	ctx := context.Background()
	e, err := engine.New(ctx, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	for _, g := range []struct {
		name string
		wasm []byte
	}{{"hello", Testdata("hello")}, {"rust", rustHello(t)}} {
		seen := map[string]string{}
		for _, tag := range []string{"", "c0001/w3", "c0001/w4", strings.Repeat("x", 300)} {
			// The host drops custom sections and wazero shares identical
			// modules: what is left must differ for every tag.
			code := string(withoutCustomSections(t, Variant(g.wasm, tag)))
			if code == string(withoutCustomSections(t, g.wasm)) {
				t.Fatalf("%s variant %q: only a custom section differs from the original", g.name, tag)
			}
			if other, ok := seen[code]; ok {
				t.Fatalf("%s variants %q and %q differ only in custom sections", g.name, other, tag)
			}
			seen[code] = tag
		}
	}
	base := Testdata("hello")
	for _, tag := range []string{"", "c0001/w3", strings.Repeat("x", 300)} {
		v := Variant(base, tag)
		if engine.SHA256(v) == engine.SHA256(base) {
			t.Fatalf("variant %q has the original's hash", tag)
		}
		mod, err := e.Compile(ctx, v)
		if err != nil {
			t.Fatalf("variant %q: %v", tag, err)
		}
		resp := &engine.Response{}
		if err := e.NewPool(mod, "c", "n", engine.PolicyFresh).Serve(ctx, &engine.Request{Method: "GET", Path: "/"}, resp); err != nil {
			t.Fatal(err)
		}
		if string(resp.Body) != helloBody {
			t.Fatalf("variant %q answered %q", tag, resp.Body)
		}
	}
}

func TestParseBench(t *testing.T) {
	out := []byte(`goos: linux
BenchmarkPool_Serve/pool-2         	    2000	      3054 ns/op	     584 B/op	       3 allocs/op
BenchmarkHostCall/get_method-2     	    2000	    118151 ns/op	       118.2 ns/call	     176 B/op	       3 allocs/op
PASS
`)
	rows := ParseBench(out)
	if len(rows) != 2 {
		t.Fatalf("rows = %+v", rows)
	}
	if r := rows[0]; r.Name != "Pool_Serve/pool" || r.NsOp != 3054 || r.BOp != 584 || r.Allocs != 3 {
		t.Errorf("row 0 = %+v", r)
	}
	if r := rows[1]; r.Extra["ns/call"] != 118.2 || r.Allocs != 3 {
		t.Errorf("row 1 = %+v", r)
	}
}

// TestRun_smoke runs the in-process sections with tiny sizes and only the
// embedded guest, and renders the report: a few seconds. The process-level
// sections (cold, scale, memory, soak, cluster) build the server and take longer; set
// WASMTASK_BENCH_SMOKE=1 to include them.
func TestRun_smoke(t *testing.T) {
	opts := QuickOptions()
	opts.GuestsDir = t.TempDir() // no built guests: only wat-min
	opts.Concurrency, opts.Rounds = []int{1, 4}, 2
	opts.Warmup, opts.Duration, opts.FairDuration, opts.ExtismDuration = 20*time.Millisecond,
		40*time.Millisecond, 100*time.Millisecond, 40*time.Millisecond
	opts.Tenants = 3
	// js is skipped at once here (no engine in the empty guests dir): the
	// smoke checks it skips cleanly; WASMTASK_BENCH_SMOKE=1 runs it on the
	// engine make guests built, when there is one.
	opts.Only = []string{"overhead", "fairness", "extism", "js", "platform"}
	// platform, small: 20 gets and sets, 4 writers × 5 writes, 10 cron
	// jobs every second for 2 s (~2.5 s of the smoke's time).
	opts.StorageOps, opts.StorageWriters, opts.StorageWrites = 20, 4, 5
	opts.CronJobs, opts.CronWindow = 10, 2*time.Second
	smoke := os.Getenv("WASMTASK_BENCH_SMOKE") != ""
	if smoke {
		opts.Only = append(opts.Only, "cold", "scale", "memory", "soak")
		opts.ColdReps, opts.ScaleContainers, opts.ScalePer, opts.MemInstances = 1, 2, 3, 2
		opts.SoakDuration, opts.SoakContainers, opts.SoakPer, opts.SoakClients = 3*time.Second, 4, 3, 10
		if root, err := FindRoot(); err == nil {
			opts.JSEngine = filepath.Join(root, "guests", "build", "js", "engine.wasm")
		}
		opts.JSWebtasks = 3
		opts.Only = append(opts.Only, "cluster")
		opts.ClusterConcurrency, opts.ClusterStoreConcurrency, opts.ClusterRounds = []int{4}, []int{1}, 2
		opts.ClusterDuration, opts.ClusterDeploys, opts.ClusterRevocations = 50*time.Millisecond, 2, 3
	}
	if testing.Verbose() {
		opts.Log = os.Stderr
	}
	res, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range res.Notes {
		if !strings.Contains(n, "not built") && !strings.Contains(n, "node not found") {
			t.Errorf("note: %s", n)
		}
	}
	want := map[string]bool{"native": false, "extism-http": false, "extism-http-limits": false, MinimalLang + "/pool": false,
		MinimalLang + "/fresh": false, MinimalLang + "/fresh-instantiate": false}
	for _, o := range res.Overhead {
		if _, ok := want[o.Target]; ok {
			want[o.Target] = true
		}
		if o.Errors > 0 || o.Requests == 0 || o.Ratio <= 0 {
			t.Errorf("overhead row %+v", o)
		}
	}
	for k, ok := range want {
		if !ok {
			t.Errorf("no overhead row for %s", k)
		}
	}
	if len(res.Fairness) != 3 || len(res.Extism) < 3 {
		t.Errorf("fairness %d rows, extism %d rows", len(res.Fairness), len(res.Extism))
	}
	if _, err := os.Stat(opts.JSEngine); smoke && err == nil {
		if js := res.JS; js == nil || len(js.Throughput) == 0 || js.Cold == nil || len(js.Memory) != 2 {
			t.Errorf("js section incomplete: %+v", js)
		}
	} else if res.JS != nil {
		t.Errorf("js section ran without an engine: %+v", res.JS)
	}
	if pl := res.Platform; pl == nil || pl.Storage == nil || pl.Cron == nil {
		t.Errorf("platform section incomplete: %+v", pl)
	} else {
		if s := pl.Storage; !s.NoLostUpdate || s.Acked != 20 || s.Set.N != 20 || s.Get.P50 <= 0 {
			t.Errorf("platform storage: %+v", s)
		}
		if c := pl.Cron; c.Runs == 0 || c.Unaccounted != 0 || c.Errors != 0 {
			t.Errorf("platform cron: %+v", c)
		}
	}
	if c := res.Cluster; smoke && (c == nil || len(c.Throughput) != 1 || len(c.Store) != 1 || c.Deploy == nil ||
		c.Deploy.N != 2 || c.Revoke == nil || c.Revoke.N != 3) {
		t.Errorf("cluster section incomplete: %+v", c)
	}
	if s := res.Soak; s != nil && (!s.Pass || s.Requests == 0) {
		t.Errorf("soak: %s, %d requests", s.Verdict, s.Requests)
	}
	paths, err := Write(res, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(paths[0])
	svg, _ := os.ReadFile(paths[2])
	if !bytes.Contains(md, []byte("## Targets of issue 5")) || !bytes.Contains(md, []byte("wat-min/fresh")) ||
		!bytes.Contains(md, []byte("## 8. Platform")) {
		t.Errorf("markdown lacks sections:\n%s", md)
	}
	if !bytes.HasPrefix(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("wat-min/pool")) {
		t.Errorf("svg:\n%s", svg)
	}
}

func TestSoakVerdict(t *testing.T) {
	const mb = 1 << 20
	base := SoakSample{RSS: 200 * mb, FDs: 12, Threads: 10}
	tests := []struct {
		name  string
		after SoakSample
		flat  bool
	}{
		{"same", base, true},
		{"lower", SoakSample{RSS: 150 * mb, FDs: 11}, true},
		{"at the limit", SoakSample{RSS: 250*mb + 32*mb, FDs: 22}, true},
		{"RSS over", SoakSample{RSS: 250*mb + 33*mb, FDs: 12}, false},
		{"fds leaked", SoakSample{RSS: 200 * mb, FDs: 23}, false},
		{"fds far below", SoakSample{RSS: 200 * mb, FDs: 1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			flat, verdict := soakVerdict(base, tc.after)
			if flat != tc.flat || strings.HasPrefix(verdict, "flat") != tc.flat {
				t.Errorf("flat = %v (%s), want %v", flat, verdict, tc.flat)
			}
		})
	}
}

func Test_slope(t *testing.T) {
	var samples []SoakSample
	for i := 0; i < 20; i++ { // flat in the first half, +2 MiB a second in the second
		rss := int64(100 << 20)
		if i >= 10 {
			rss += int64(i-10) * 2 << 20
		}
		samples = append(samples, SoakSample{Sec: float64(i), Phase: "load", RSS: rss},
			SoakSample{Sec: float64(i) + 0.5, Phase: "idle", RSS: 1})
	}
	if got := slope(samples, "load"); got < 119.9 || got > 120.1 {
		t.Errorf("slope = %.2f MiB/min, want 120", got)
	}
	if got := slope(samples[:2], "load"); got != 0 {
		t.Errorf("slope of one sample = %v", got)
	}
}

func Test_forge(t *testing.T) {
	for _, tok := range []string{"aGVhZA.Y2xhaW1z.c2lnbmF0dXJlAAAA", "h.c.AAAAAAAAAAAA"} {
		f := forge(tok)
		i := strings.LastIndexByte(tok, '.')
		if len(f) != len(tok) || f[:i] != tok[:i] || f == tok {
			t.Errorf("forge(%q) = %q: want the same header and claims, another signature", tok, f)
		}
	}
}

func TestProcStats(t *testing.T) {
	threads, fds, err := procStats(os.Getpid())
	if err != nil {
		t.Skip(err) // not Linux
	}
	if threads < 1 || fds < 3 {
		t.Errorf("threads %d, fds %d", threads, fds)
	}
}

// Micro benchmarks of costs that span packages (run by the harness with
// -bench Micro):
//
//	cd bench && go test -run '^$' -bench Micro -benchmem .

// BenchmarkMicro_Handler is one request through a handler without the
// network: the fasthttp request parsing done, everything after it measured.
// native writes the same bytes; wasmtask is the whole server's handler with
// the embedded hello guest, pooled and fresh.
func BenchmarkMicro_Handler(b *testing.B) {
	srv, err := api.Open(context.Background(), api.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	for _, fresh := range []bool{false, true} {
		if err := upload(base, srv.AdminToken(), "bench", map[bool]string{false: "pool", true: "fresh"}[fresh],
			Testdata("hello"), fresh); err != nil {
			b.Fatal(err)
		}
	}
	nat := func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("x-wt-request-id", "1700000000000.1")
		ctx.SetStatusCode(200)
		ctx.Response.Header.Set("content-type", "application/json")
		ctx.Response.Header.Set("x-wt-response-source", "webtask")
		ctx.SetBody([]byte(helloBody))
	}
	for _, tc := range []struct {
		name string
		h    fasthttp.RequestHandler
		path string
	}{
		{"native", nat, "/"},
		{"wasmtask-pool", srv.Handler(), "/api/run/bench/pool"},
		{"wasmtask-fresh", srv.Handler(), "/api/run/bench/fresh"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var req fasthttp.Request
			req.SetRequestURI("http://127.0.0.1:8080" + tc.path + "?a=1")
			req.Header.Set("User-Agent", "fasthttp")
			req.Header.Set("Accept", "*/*")
			var ctx fasthttp.RequestCtx
			ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
			b.ReportAllocs()
			for b.Loop() {
				req.CopyTo(&ctx.Request)
				ctx.Response.Reset()
				tc.h(&ctx)
				if ctx.Response.StatusCode() != 200 {
					b.Fatalf("%d %s", ctx.Response.StatusCode(), ctx.Response.Body())
				}
			}
		})
	}
}

// BenchmarkMicro_TokenVerify verifies a webtask token (HS256, claims
// decoding, checks), as every management call and token run does.
func BenchmarkMicro_TokenVerify(b *testing.B) {
	k, _, err := keys.LoadOrCreate(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	s := token.NewSigner(k)
	raw, err := s.Sign(&token.Claims{Depth: 1, Containers: "acme"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Verify(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMicro_StoreGetWebtask reads one webtask record from bbolt, as the
// first request of a webtask after a restart does.
func BenchmarkMicro_StoreGetWebtask(b *testing.B) {
	st, err := store.Open(filepath.Join(b.TempDir(), "db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if _, err := st.PutWebtask(store.Webtask{Container: "acme", Name: "hello", ModuleSHA256: engine.SHA256(Testdata("hello")),
		Meta: map[string]string{"k": "v"}}, Testdata("hello")); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.GetWebtask("acme", "hello"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRun is one request over loopback HTTP (the client in the same
// process): native fasthttp and the embedded hello through wasmtask. The
// harness's load generator measures the same thing at fixed concurrencies.
func BenchmarkRun(b *testing.B) {
	srv, err := startInProc(api.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	nat, err := startNative("application/json", []byte(helloBody))
	if err != nil {
		b.Fatal(err)
	}
	defer nat.Close()
	for _, fresh := range []bool{false, true} {
		if err := upload(srv.URL(), srv.Admin(), "bench", map[bool]string{false: "pool", true: "fresh"}[fresh],
			Testdata("hello"), fresh); err != nil {
			b.Fatal(err)
		}
	}
	for _, tc := range []struct{ name, url string }{
		{"native", nat.url + "/"},
		{"wasmtask-pool", runURL(srv.URL(), "bench", "pool")},
		{"wasmtask-fresh", runURL(srv.URL(), "bench", "fresh")},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(tc.url)
			for b.Loop() {
				if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
					b.Fatalf("%v %d", err, resp.StatusCode())
				}
			}
		})
	}
}

// TestDeployVersion: each deployed version of the hello answers its own
// body, of the hello's length.
func TestDeployVersion(t *testing.T) {
	w1, b1, err := deployVersion(1)
	if err != nil {
		t.Fatal(err)
	}
	w2, b2, _ := deployVersion(2)
	if b1 == b2 || len(b1) != len(helloBody) || bytes.Equal(w1, w2) || !bytes.Contains(w1, []byte(b1)) {
		t.Fatalf("versions: %q %q", b1, b2)
	}
}

// withoutCustomSections returns wasm without its custom sections.
func withoutCustomSections(t *testing.T, wasm []byte) []byte {
	t.Helper()
	out := append([]byte(nil), wasm[:8]...)
	if !sections(wasm, func(id byte, off, _, end int) bool {
		if id != 0 {
			out = append(out, wasm[off:end]...)
		}
		return true
	}) {
		t.Fatal("malformed module")
	}
	return out
}

// rustHello is the Rust hello when the guests are built (a module with
// many types), else the WAT hello again.
func rustHello(t *testing.T) []byte {
	b, err := os.ReadFile(filepath.Join("..", "guests", "build", "rust", "hello.wasm"))
	if err != nil {
		return Testdata("hello")
	}
	return b
}
