package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Write saves r in dir as <mode>.json, <mode>.md and <mode>.svg, and the
// charts of the sections r has data for (<mode>-abuse.svg, <mode>-work.svg,
// <mode>-cluster.svg; see sectionCharts). It returns the paths written, in
// that order.
func Write(r *Results, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	overhead := r.Mode + ".svg"
	files := []struct {
		name string
		data string
	}{
		{r.Mode + ".md", Markdown(r, overhead)},
		{r.Mode + ".json", string(j) + "\n"},
		{overhead, SVG(r)},
	}
	for _, sc := range sectionCharts {
		files = append(files, struct{ name, data string }{chartName(overhead, sc.suffix), sc.build(r).svg()})
	}
	var paths []string
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if f.data == "" {
			// A section chart of a section r has no data for: remove the one
			// an earlier run may have left under that name, so no chart beside
			// the markdown (which does not embed it) passes for these results.
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return paths, err
			}
			continue
		}
		if err := os.WriteFile(p, []byte(f.data), 0o644); err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

func f0(v float64) string { return groupThousands(fmt.Sprintf("%.0f", v)) }

func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}

// Markdown renders r; svg is the overhead chart's file name beside it, and
// the section charts are named after it (chartName: "quick.svg" →
// "quick-work.svg"), each embedded where its section begins when r has data
// for it.
func Markdown(r *Results, svg string) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m := r.Machine
	p("# wasmtask benchmark results (%s)\n\n", r.Mode)
	p("Run %s, %.0f s. Machine: %s, %d CPUs (GOMAXPROCS %d), %s, Linux %s, load average %s at start. "+
		"%s, wazero %s, commit %s.\n\n", r.Started.Format("2006-01-02 15:04 UTC"), r.Seconds, m.CPU, m.NumCPU,
		m.GOMAXPROCS, m.MemTotal, m.Kernel, m.Load1, m.GoVersion, m.Wazero, m.Commit)
	p("Every figure is a ratio to a baseline measured in the same run (absolute numbers beside it). " +
		"The load generator, the servers and everything else on the machine share its CPUs: read the ratios, " +
		"and see bench/README.md for the method and caveats.\n\n")
	s := r.Settings
	p("Settings: concurrency %v; per target and concurrency a %.2g s warm-up, then %d rounds of %.2g s alternating with "+
		"the native baseline (at most %s requests a run); %d cold-start reps; scale %d × %d webtasks; %d instances for "+
		"memory; %d tenants.\n\n", s.Concurrency, s.WarmupSec, s.Rounds, s.DurationSec, f0(float64(s.MaxRequests)),
		s.ColdReps, s.ScaleContainers, s.ScalePer, s.MemInstances, s.Tenants)
	p("Guests: ")
	for i, g := range r.Guests {
		if i > 0 {
			p(", ")
		}
		p("%s (%s bytes)", g.Lang, f0(float64(g.Size)))
	}
	p(".\n\n")

	if len(r.Targets) > 0 {
		p("## Targets of issue 5 (and of issue 11, JavaScript; issue 12, platform; issue 16, cluster; issue 17, real work)\n\n| target | this run | status | note |\n|---|---|---|---|\n")
		for _, t := range r.Targets {
			p("| %s | %s | **%s** | %s |\n", t.Target, t.Got, t.Status, t.Why)
		}
		p("\n")
	}

	if len(r.Overhead) > 0 {
		concs := r.Settings.Concurrency
		p("## 1. Isolation overhead: the same trivial handler, requests/s as a ratio to native fasthttp\n\n")
		p("`native` is a fasthttp handler writing the same status, headers and body; `extism-http` is the same logic as an " +
			"Extism plugin behind bare fasthttp (a pool of plugin instances) without a timeout, Extism's fastest configuration, " +
			"and `extism-http-limits` the same with wasmtask's limits (30 s timeout, 128 MiB); `<lang>/pool` and `<lang>/fresh` are wasmtask " +
			"webtasks through the whole server (routing, request building, engine, response), pooled or with " +
			"`wt-instance: fresh`.\n\n")
		p("![isolation overhead](%s)\n\n", svg)
		p("| target |")
		for _, c := range concs {
			p(" c=%d: ×native (req/s) | p50 / p99 µs |", c)
		}
		p("\n|---|")
		for range concs {
			p("---|---|")
		}
		p("\n")
		for _, t := range overheadTargets(r) {
			p("| %s |", t)
			for _, c := range concs {
				i := slices.IndexFunc(r.Overhead, func(o OverheadRow) bool { return o.Target == t && o.Concurrency == c })
				if i < 0 {
					p(" – | – |")
					continue
				}
				o := r.Overhead[i]
				if o.Target == "native" {
					p(" 1 (%s) | %s / %s |", f0(o.RPS), f0(o.P50), f0(o.P99))
					continue
				}
				p(" **%.2f×** <sub>%.2f–%.2f</sub> (%s) | %s / %s |", o.Ratio, o.RatioMin, o.RatioMax, f0(o.RPS), f0(o.P50), f0(o.P99))
			}
			p("\n")
		}
		p("\nEach cell: the median over %d rounds of the target's req/s over the native run beside it (its range in small "+
			"type), the target's req/s, and its latency over all rounds. How much the machine moved — the native "+
			"baseline's runs at each concurrency:\n\n", r.Settings.Rounds)
		p("| c | runs | min req/s | median | max | coefficient of variation |\n|---|---|---|---|---|---|\n")
		for _, bl := range r.Baselines {
			p("| %d | %d | %s | %s | %s | %.1f%% |\n", bl.Concurrency, bl.Runs, f0(bl.Min), f0(bl.Median), f0(bl.Max), 100*bl.CV)
		}
		p("\n")
	}

	if len(r.Cold) > 0 {
		p("## 2. Cold start\n\n")
		p("Baselines: a warm pooled request to the same webtask (`warm`), and spawn → `/readyz` of `wasmtask serve` on "+
			"the same data dir (%.1f ms). Medians of %d reps.\n\n", r.Restart.ReadyMs, r.Cold[0].Reps)
		p("| lang | upload → first response | ×warm | restart: first request | ×warm | restart: spawn → first response | ×(spawn → /readyz) | in-process restart: first request | after idle eviction: first request | ×warm | warm |\n")
		p("|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, c := range r.Cold {
			w := c.WarmUs / 1e3
			p("| %s | %.1f ms (upload %.1f + run %.2f) | %s× | %.2f ms | %s× | %.1f ms | %.2f× | %.2f ms | %.2f ms | %s× | %.0f µs |\n",
				c.Lang, c.UploadToFirstMs, c.UploadMs, c.FirstRunMs, f0(c.UploadToFirstMs/w), c.RestartFirstMs,
				f0(c.RestartFirstMs/w), c.RestartTotalMs, c.RestartTotalMs/r.Restart.ReadyMs, c.InProcFirstMs,
				c.EvictedFirstMs, f0(c.EvictedFirstMs/w), c.WarmUs)
		}
		p("\nAfter idle eviction: an in-process server with a 100 ms idle timeout; the webtask is warmed, left alone for " +
			"300 ms (its pool's idle instances closed), then called: a new instance, no compile.\n\n")
	}

	if sc := r.Scale; sc != nil {
		n := sc.Containers * sc.PerContainer
		p("## 3. Scale\n\n")
		p("%d containers × %d webtasks = %s webtasks, each a distinct module (the %s hello with its own custom "+
			"section), in `wasmtask serve` as its own process. Baseline: the same server with nothing deployed.\n\n",
			sc.Containers, sc.PerContainer, f0(float64(n)), sc.Lang)
		p("| state | RSS | ×empty | anonymous / file-backed | time |\n|---|---|---|---|---|\n")
		row := func(state string, v RSS, t string) {
			ratio := "–"
			if sc.EmptyRSS.Total > 0 {
				ratio = fmt.Sprintf("%.1f×", float64(v.Total)/float64(sc.EmptyRSS.Total))
			}
			p("| %s | %s | %s | %s / %s | %s |\n", state, mib(v.Total), ratio, mib(v.Anon), mib(v.File), t)
		}
		row("empty server", sc.EmptyRSS, fmt.Sprintf("ready in %.0f ms", sc.EmptyReadyMs))
		row("all uploaded", sc.DeployedRSS,
			fmt.Sprintf("%.1f s to upload (%d errors)", sc.UploadSec, sc.UploadErrors))
		row("restarted, idle (nothing loaded)", sc.IdleRSS,
			fmt.Sprintf("ready in %.0f ms (%.2f× empty)", sc.ReadyMs, sc.ReadyMs/max(sc.EmptyReadyMs, 1e-9)))
		row("after one request to each", sc.TouchedRSS, fmt.Sprintf("%.1f s for all (%d errors)", sc.TouchSec, sc.TouchErrors))
		if sc.EvictedRSS.Total > 0 {
			row(fmt.Sprintf("then idle past --idle-timeout %s (instances evicted)", scaleIdle), sc.EvictedRSS, "")
		}
		p("\n")
	}
	if len(r.Memory) > 0 {
		p("Memory per live (idle, pooled) instance: growth of the anonymous RSS over N more webtasks of the same module, "+
			"each keeping one instance (includes the server's per-webtask state). Baseline: the %s instance.\n\n"+
			"| lang | per instance | ×%s | N |\n|---|---|---|---|\n", MinimalLang, MinimalLang)
		for _, mr := range r.Memory {
			p("| %s | %s | %.1f× | %d |\n", mr.Lang, kib(mr.BytesPerInstance), mr.Ratio, mr.Instances)
		}
		p("\n")
	}
	if len(r.Fairness) > 0 {
		p("Tenants sharing one server (each its own container and webtask, closed-loop connections). Baseline: one tenant " +
			"with as many connections.\n\n| scenario | connections | req/s | ×single tenant | worst tenant / fair share | " +
			"best / fair | Jain index | p99 µs |\n|---|---|---|---|---|---|---|---|\n")
		for _, f := range r.Fairness {
			if f.Tenants < 2 {
				p("| %s | %d | %s | 1.00× | – | – | – | %s |\n", f.Scenario, f.Connections, f0(f.RPS), f0(f.P99))
				continue
			}
			p("| %s | %d | %s | %.2f× | %.2f× | %.2f× | %.3f | %s |\n", f.Scenario, f.Connections, f0(f.RPS), f.Ratio,
				f.MinShare, f.MaxShare, f.Jain, f0(f.P99))
		}
		p("\n")
	}
	if len(r.Wrk) > 0 {
		p("Cross-check with an external load generator (`wrk`, its own process, 2 threads), same server and native baseline; " +
			"compare with the in-process generator's ratios above.\n\n| c | target | wrk req/s | ×native (wrk) | ×native (in process) |\n|---|---|---|---|---|\n")
		for _, w := range r.Wrk {
			in := "–"
			for _, o := range r.Overhead {
				if o.Concurrency == w.Concurrency && w.Target != "native" && o.Target == w.Target {
					in = fmt.Sprintf("%.2f×", o.Ratio)
				}
			}
			p("| %d | %s | %s | %.2f× | %s |\n", w.Concurrency, w.Target, f0(w.RPS), w.Ratio, in)
		}
		p("\n")
	}
	if len(r.Abuse) > 0 {
		p("Tail latency under abuse: one connection to a well-behaved tenant's hello, alone and while %d connections keep "+
			"another container's runaway guest busy (each request spins to the 2 s limit; the container runs at most "+
			"`--max-running-per-container` of them at once). Target: p99 within 2× of alone.\n\n"+
			"![tail latency under abuse](%s)\n\n| scenario | req/s | p50 µs | p99 µs | p99 ×alone |\n|---|---|---|---|---|\n",
			AbuseLoops, chartName(svg, "-abuse"))
		for _, a := range r.Abuse {
			p("| %s | %s | %s | %s | %.2f× |\n", a.Scenario, f0(a.RPS), f0(a.P50), f0(a.P99), a.Ratio)
		}
		p("\n")
	}

	if len(r.Micro) > 0 {
		p("## 4. Micro costs (`go test -bench -benchmem`)\n\n| package | benchmark | ns/op | B/op | allocs/op | other |\n|---|---|---|---|---|---|\n")
		for _, mr := range r.Micro {
			var extra []string
			for k, v := range mr.Extra {
				extra = append(extra, fmt.Sprintf("%.1f %s", v, k))
			}
			slices.Sort(extra)
			p("| %s | %s | %s | %s | %.0f | %s |\n", mr.Package, mr.Name, fmtNs(mr.NsOp), f0(mr.BOp), mr.Allocs,
				strings.Join(extra, ", "))
		}
		p("\n")
	}
	if len(r.Extism) > 0 {
		p("## 5. Extism, side by side (in process, same logic)\n\n")
		p("wasmtask's engine (`Pool.Serve`) and Extism's Go SDK v1.7.1 on the same wazero, answering the same 26 bytes: " +
			"bench/testdata/hello.wat (1 host call) vs bench/testdata/extism_hello.wat (alloc, 4 × store_u64, " +
			"output_set: the cheapest the Extism ABI allows). wasmtask runs with its defaults (30 s timeout, 128 MiB); " +
			"Extism with the same limits, and without a timeout (its fastest configuration). The ratio is against the " +
			"faster Extism configuration. ns/op is wall time per operation over all goroutines (an inverse throughput). " +
			"Over HTTP, see `extism-http` in section 1.\n\n")
		p("| case | wasmtask ns/op | allocs | Extism, same limits, ns/op | allocs | Extism, no timeout, ns/op | wasmtask throughput ×Extism |\n" +
			"|---|---|---|---|---|---|---|\n")
		for _, e := range r.Extism {
			p("| %s | %s | %.0f | %s | %.0f | %s | **%.2f×** |\n", e.Case, f0(e.WasmtaskNs), e.WasmtaskAllocs,
				f0(e.ExtismNs), e.ExtismAllocs, f0(e.ExtismNoTimeoutNs), e.Ratio)
		}
		p("\n")
	}

	if r.JS != nil {
		writeJS(&b, r.JS, r.Settings.Rounds)
	}
	if len(r.Work) > 0 {
		writeWork(&b, r, chartName(svg, "-work"))
	}
	if r.Soak != nil {
		writeSoak(&b, r.Soak)
	}
	if r.Platform != nil {
		writePlatform(&b, r.Platform)
	}
	if r.Cluster != nil {
		writeCluster(&b, r, chartName(svg, "-cluster"))
	}

	if len(r.Notes) > 0 {
		p("## Notes\n\n")
		for _, n := range r.Notes {
			p("- %s\n", n)
		}
	}
	return b.String()
}

// writeJS renders the JavaScript section: throughput as ratios to native
// and to Node.js, cold starts, memory per webtask.
func writeJS(b *strings.Builder, js *JSResult, rounds int) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	node := js.Node
	if node == "" {
		node = "not found: no Node.js baseline"
	}
	p("## 7. JavaScript (issue 11)\n\n")
	p("The webtask `%s` on the QuickJS engine (%s, %s bytes), through the whole server; `node` is Node.js %s "+
		"running the same code with the Webtask (context, cb) convention on a plain `http` server "+
		"(bench/node/server.js, one process, one thread); `native` is the fasthttp handler answering the same bytes. "+
		"Each target is first loaded for %.0f s (Node's JIT needs it); at each concurrency every target is warmed, then runs once per round in an order that rotates, for %d "+
		"rounds; each ratio is the median over rounds of the target's req/s over the baseline's in the same round "+
		"(the range in small type).\n\n", strings.TrimSpace(js.Code), js.Engine, f0(float64(js.EngineBytes)), node, jsPrime.Seconds(), rounds)
	if len(js.Throughput) > 0 {
		p("| target | c | req/s | ×native | ×node | p50 / p99 µs |\n|---|---|---|---|---|---|\n")
		for _, t := range js.Throughput {
			rat := func(v, lo, hi float64, self bool) string {
				switch {
				case self:
					return "1"
				case v == 0:
					return "–"
				}
				return fmt.Sprintf("**%.2f×** <sub>%.2f–%.2f</sub>", v, lo, hi)
			}
			p("| %s | %d | %s | %s | %s | %s / %s |\n", t.Target, t.Concurrency, f0(t.RPS),
				rat(t.Ratio, t.RatioMin, t.RatioMax, t.Target == "native"),
				rat(t.NodeRatio, t.NodeRatioMin, t.NodeRatioMax, t.Target == "node"), f0(t.P50), f0(t.P99))
		}
		p("\n")
	}
	if c := js.Cold; c != nil {
		w := c.WarmUs / 1e3
		p("Cold start, measured as for wasm guests (section 2; medians of %d reps): upload → first response "+
			"**%.1f ms** (upload %.1f + first run %.2f; the source is new each time, so it is checked and evaluated "+
			"anew); restart of `wasmtask serve --js-engine` on the same data dir, first request once `/readyz` "+
			"answers: **%.2f ms** (spawn → first response %.1f ms, spawn → `/readyz` %.1f ms); in-process "+
			"restart: %.2f ms; after idle eviction: %.2f ms; a warm pooled request: %.0f µs (restart first request "+
			"= %s× warm).\n\n", c.Reps, c.UploadToFirstMs, c.UploadMs, c.FirstRunMs, c.RestartFirstMs, c.RestartTotalMs,
			js.ReadyMs, c.InProcFirstMs, c.EvictedFirstMs, c.WarmUs, f0(c.RestartFirstMs/w))
	}
	if len(js.Memory) > 0 {
		p("Memory per JavaScript webtask, `wasmtask serve` in its own process. *Deployed*: RSS growth of the "+
			"uploading server over N uploads (each a distinct source), over the server already running one "+
			"JavaScript webtask — includes upload garbage the Go heap has not returned. *Running*: the server "+
			"restarted on the same data dir, RSS growth after one request to each of the N over the restarted server "+
			"after one request to the first (each pool then keeps its instance; fresh: its snapshot and reset "+
			"instance). The server runs with GOGC=%d in this part: each upload leaves megabytes of garbage, which the "+
			"default GOGC=100 lets the heap keep up to its live size, more than N webtasks add.\n\n", jsMemoryGOGC)
		p("| policy | N | per deployed | per running | anonymous: deployed / running | empty server | uploading: base → deployed | restarted: base → all run |\n" +
			"|---|---|---|---|---|---|---|---|\n")
		for _, m := range js.Memory {
			p("| %s | %d | %s | **%s** | %s / %s | %s | %s → %s | %s → %s |\n", m.Policy, m.Webtasks, kib(m.PerDeployed),
				kib(m.PerRunning), kib(m.PerDeployedAnon), kib(m.PerRunningAnon), mib(m.EmptyRSS.Total),
				mib(m.BaseRSS.Total), mib(m.DeployedRSS.Total), mib(m.RestartRSS.Total), mib(m.RunRSS.Total))
		}
		p("\n")
	}
}

// writeWork renders the work section: its chart (file name svg) when it has
// one, and per task every target's req/s and ratio to native at each
// concurrency.
func writeWork(b *strings.Builder, r *Results, svg string) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	ws := r.WorkSettings
	if ws == nil {
		ws = &WorkSettings{}
	}
	p("## 9. Real work (issue 17): guest vs native Go on the same logic\n\n")
	p("One webtask per language (guests/*/examples/work*), routed by path, through the whole server, pooled and fresh; "+
		"`native` is the same three handlers in Go (encoding/json, golang-jwt, crypto/hmac) as a fasthttp handler in "+
		"the same process, answering the same bytes (every guest's answers to the tasks and to refused tokens are checked "+
		"against native's before it is measured). **json**: POST a %s-byte JSON document, answer its "+
		"`order.customer.id` (`native` and the Go guest decode the whole document into a struct; the C, Rust and "+
		"AssemblyScript guests scan to the member with their SDK's scanner, as `native-scan` does in Go; JavaScript "+
		"gets it parsed by the engine); **jwt**: verify seed 003's HS256 token (Authorization: Bearer), answer its `sub`; "+
		"**hmac**: POST %s bytes, answer their HMAC-SHA256 in hex. At each concurrency every target is warmed %.2g s, "+
		"then runs %.2g s once per round for %d rounds in an order that rotates; the ratio is the median over rounds of "+
		"its req/s over native's in the same round (the range in small type).\n\n",
		f0(float64(ws.JSONBytes)), f0(float64(ws.HMACBytes)), ws.WarmupSec, ws.DurationSec, ws.Rounds)
	if workChart(r) != nil {
		p("![real work](%s)\n\n", svg)
	}
	concs := ws.Concurrency
	if len(concs) == 0 {
		for _, w := range r.Work {
			if !slices.Contains(concs, w.Concurrency) {
				concs = append(concs, w.Concurrency)
			}
		}
	}
	p("| task | target |")
	for _, c := range concs {
		p(" c=%d: ×native (req/s) | p50 / p99 µs |", c)
	}
	p("\n|---|---|")
	for range concs {
		p("---|---|")
	}
	p("\n")
	type key struct{ task, target string }
	var rows []key
	for _, w := range r.Work {
		if k := (key{w.Task, w.Target}); !slices.Contains(rows, k) {
			rows = append(rows, k)
		}
	}
	for _, k := range rows {
		p("| %s | %s |", k.task, k.target)
		for _, c := range concs {
			i := slices.IndexFunc(r.Work, func(w WorkRow) bool { return w.Task == k.task && w.Target == k.target && w.Concurrency == c })
			if i < 0 {
				p(" – | – |")
				continue
			}
			w := r.Work[i]
			if w.Target == "native" {
				p(" 1 (%s) | %s / %s |", f0(w.RPS), f0(w.P50), f0(w.P99))
				continue
			}
			p(" **%.2f×** <sub>%.2f–%.2f</sub> (%s) | %s / %s |", w.Ratio, w.RatioMin, w.RatioMax, f0(w.RPS), f0(w.P50), f0(w.P99))
		}
		p("\n")
	}
	p("\n")
}

// writeSoak renders the soak: its verdict, the process at the states it
// names, the requests by kind, and the samples over time.
func writeSoak(b *strings.Builder, sk *SoakResult) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("## 6. Soak\n\n")
	p("%d containers × %d webtasks (%s; even slots pooled, odd `fresh`), each a distinct module, in `wasmtask serve` "+
		"as its own process (`%s`), then %d clients for %.0f s (the first %.0f s a warm-up): %d run random webtasks back "+
		"to back; paced, 2 replace webtasks with new modules, delete and re-create them, 2 issue a tenant token, use it, "+
		"revoke it and check it is refused, 2 subscribe to a container's log stream until a record arrives and "+
		"disconnect, 1 sends hostile requests in turn (a body over `--max-body-bytes`, a malformed and a forged token, "+
		"runs over a token's 1-a-second limit) and 1 runs a runaway guest (504 at `--timeout`, then a pause 4 times as long). Setup (start and uploads) %.1f s; "+
		"the whole soak %.0f s.\n\n", sk.Containers, sk.PerContainer, strings.Join(sk.Langs, ", "),
		strings.Join(sk.ServerArgs, " "), sk.Clients, sk.DurationSec, sk.WarmupSec, sk.Clients-8, sk.SetupSec, sk.TotalSec)
	p("The process is read from /proc, not from the server's `GET /metrics` (which has `go_goroutines` and "+
		"`process_*` but the soak does not scrape it): RSS, threads (Go's OS threads, which never shrink) and open "+
		"descriptors; the data dir is the bbolt file and the "+
		"compile cache. **Flat** means: after the load, once idle, RSS ≤ %.2f× the RSS after the warm-up (idle "+
		"likewise) + %s, and open fds within ±%d of theirs. The soak passes when it is flat, every response had its "+
		"expected status and the server exited 0 on SIGTERM; otherwise `wasmtask-bench` exits 1.\n\n",
		soakRSSFactor, mib(soakRSSSlack), soakFDSlack)
	p("**%s**\n\n", sk.Verdict)
	p("RSS under load, second half of the load: %+.1f MiB a minute (not judged: under load no webtask is idle, so "+
		"each pool keeps up to `--pool-idle` instances, and a pooled Go instance's memory grows until its pool drops "+
		"it; the idle state after the load is what must come back).\n\n", sk.LoadSlopeMiBMin)
	if len(sk.Points) > 0 {
		p("| state | t | RSS | anonymous | threads | fds | data dir | requests done |\n|---|---|---|---|---|---|---|---|\n")
		for _, pt := range sk.Points {
			p("| %s | %.0f s | %s | %s | %d | %d | %s | %s |\n", pt.Label, pt.Sec, mib(pt.RSS), mib(pt.Anon), pt.Threads,
				pt.FDs, mib(pt.DataBytes), f0(float64(pt.Requests)))
		}
		p("\n")
	}
	if len(sk.Kinds) > 0 {
		p("%s requests, %d unexpected. Latency is the client's, on a machine the load saturates.\n\n",
			f0(float64(sk.Requests)), sk.Unexpected)
		p("| kind | expected | requests | unexpected | statuses | p50 / p99 ms | first unexpected |\n|---|---|---|---|---|---|---|\n")
		for _, k := range sk.Kinds {
			var st []string
			for code, n := range k.Statuses {
				st = append(st, fmt.Sprintf("%s: %s", code, f0(float64(n))))
			}
			slices.Sort(st)
			p("| %s | %s | %s | %d | %s | %.1f / %.1f | %s |\n", k.Kind, k.Expected, f0(float64(k.Requests)), k.Unexpected,
				strings.Join(st, ", "), k.P50, k.P99, strings.ReplaceAll(k.FirstUnexpected, "|", "\\|"))
		}
		p("\n")
	}
	if len(sk.Samples) > 0 {
		step := max(1, (len(sk.Samples)+23)/24)
		p("Over time (one sample in %d of %d):\n\n| t | phase | RSS | threads | fds | data dir | requests done |\n"+
			"|---|---|---|---|---|---|---|\n", step, len(sk.Samples))
		for i := 0; i < len(sk.Samples); i += step {
			v := sk.Samples[i]
			p("| %.0f s | %s | %s | %d | %d | %s | %s |\n", v.Sec, v.Phase, mib(v.RSS), v.Threads, v.FDs, mib(v.DataBytes),
				f0(float64(v.Requests)))
		}
		p("\n")
	}
}

// writePlatform renders the platform section (issue 12): storage latency
// and concurrent writers, cron scheduling jitter.
func writePlatform(b *strings.Builder, pl *PlatformResult) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("## 8. Platform (issue 12): storage and cron\n\n")
	if s := pl.Storage; s != nil {
		p("A named webtask's storage through the whole server in process, over HTTP as sandboxjs's `getStorage` / "+
			"`updateStorage` send it (`GET|PUT /api/webtask/{c}/{n}/data`, the admin token), a %s-byte JSON document. "+
			"Sequential, one connection: %s sets (each with the etag the previous one returned: a durable bbolt "+
			"commit each), then %s gets. Baseline: as many warm pooled runs of the same webtask (`/api/run/{c}/{n}`).\n\n",
			f0(float64(s.DocBytes)), f0(float64(s.Ops)), f0(float64(s.Ops)))
		p("| request | p50 µs | p90 µs | p99 µs | max µs | p50 ×warm run |\n|---|---|---|---|---|---|\n")
		for _, row := range []struct {
			name string
			l    Latency
		}{{"storage get", s.Get}, {"storage set", s.Set}, {"warm run (baseline)", s.Run}} {
			ratio := "1"
			if row.name != "warm run (baseline)" && s.Run.P50 > 0 {
				ratio = fmt.Sprintf("**%.1f×**", row.l.P50/s.Run.P50)
			}
			p("| %s | %s | %s | %s | %s | %s |\n", row.name, f0(row.l.P50), f0(row.l.P90), f0(row.l.P99), f0(row.l.Max), ratio)
		}
		lost := "**no update lost**"
		if !s.NoLostUpdate {
			lost = fmt.Sprintf("**UPDATES LOST or errors** (%d errors; first: %s)", s.Errors, s.FirstErr)
		}
		p("\n%d concurrent writers on the same document, each until %d of its writes are acknowledged, by "+
			"read-modify-write: get, increment the document's counter, put with the etag read; a 409 (another writer "+
			"won) starts over with a new get. The counter must end equal to the acknowledged writes, and still after "+
			"the server is restarted on the same data dir: %s.\n\n", s.Writers, s.WritesPerWriter, lost)
		p("| writers | acknowledged writes | writes/s | PUT attempts | 409s | conflict rate | attempts per write | gets | " +
			"write latency p50 / p99 / max ms (first get → ack) | counter / after restart | errors |\n" +
			"|---|---|---|---|---|---|---|---|---|---|---|\n")
		perWrite := 0.0
		if s.Acked > 0 {
			perWrite = float64(s.Attempts) / float64(s.Acked)
		}
		p("| %d | %s | **%s** | %s | %s | **%.1f%%** | %.1f | %s | %.1f / %.1f / %.1f | %s / %s | %d |\n\n", s.Writers,
			f0(float64(s.Acked)), f0(s.WritesPerSec), f0(float64(s.Attempts)), f0(float64(s.Conflicts)), 100*s.ConflictRate,
			perWrite, f0(float64(s.Gets)), s.WriteP50, s.WriteP99, s.WriteMax, f0(float64(s.FinalCounter)),
			f0(float64(s.RestartCounter)), s.Errors)
	}
	if c := pl.Cron; c != nil {
		p("%d cron jobs with the schedule `%s` (every second: the server's test-only `CronSeconds`), %d containers "+
			"of %d (the default job limit), each running its own deployed webtask (`wat-min`, no token: "+
			"`POST /api/run/{c}/{n}` in process); created in %.2f s, left running %.0f s, then deactivated one by one "+
			"and every history read. A job's slots are counted from its first to its deactivation less a second. "+
			"Lateness is `started_at − scheduled_at` of each run; a run is `completed_at − started_at`.\n\n",
			c.Jobs, c.Schedule, c.Containers, c.PerContainer, c.CreateSec, c.WindowSec)
		p("| jobs | slots | runs | not 200 | missed slots (jobs) | unaccounted | lateness min / p50 / p90 / p99 / max ms | run p50 / p99 ms |\n" +
			"|---|---|---|---|---|---|---|---|\n")
		p("| %d | %s | %s | %d | %d (%.2f%%; %d jobs, at most %.0f in one) | %d | %.1f / **%.1f** / %.1f / **%.1f** / %.1f | %.2f / %.2f |\n\n",
			c.Jobs, f0(float64(c.Slots)), f0(float64(c.Runs)), c.Errors, c.Missed, 100*c.MissedRate, c.JobsMissed,
			c.MissedPerJobMax, c.Unaccounted, c.LateMin, c.LateP50, c.LateP90, c.LateP99, c.LateMax, c.RunP50, c.RunP99)
	}
}

func fmtNs(v float64) string {
	if v < 100 {
		return fmt.Sprintf("%.1f", v)
	}
	return f0(v)
}

func kib(b float64) string {
	if b >= 1<<20 {
		return fmt.Sprintf("%.2f MiB", b/(1<<20))
	}
	return fmt.Sprintf("%.0f KiB", b/(1<<10))
}

// overheadTargets lists the overhead targets in report order: native, peers,
// then the guests as measured.
func overheadTargets(r *Results) []string {
	out := []string{"native"}
	for _, o := range r.Overhead {
		if !slices.Contains(out, o.Target) {
			out = append(out, o.Target)
		}
	}
	return out
}

// SVG draws the isolation-overhead ratios as horizontal bars, one group per
// target and one bar per concurrency, with the targets as lines.
func SVG(r *Results) string {
	targets := overheadTargets(r)
	concs := r.Settings.Concurrency
	colors := []string{"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2"}
	const (
		left, right, top, barH, gap = 170, 40, 56, 9, 10
		width                       = 900
	)
	groupH := len(concs)*barH + gap
	height := top + len(targets)*groupH + 40
	maxR := 1.2
	for _, o := range r.Overhead {
		maxR = max(maxR, o.Ratio, o.RatioMax)
	}
	plotW := float64(width - left - right)
	x := func(v float64) float64 { return float64(left) + plotW*v/maxR }
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n",
		width, height, width, height)
	p(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	p(`<text x="%d" y="18" font-size="14" font-weight="bold">Isolation overhead: requests/s as a ratio to native fasthttp (%s run, %s)</text>`+"\n",
		left-160, html.EscapeString(r.Mode), r.Started.Format("2006-01-02"))
	p(`<text x="%d" y="39" fill="#555" text-anchor="end">median of rounds; line: min–max</text>`+"\n", width-right)
	for i, c := range concs {
		p(`<rect x="%d" y="30" width="10" height="10" fill="%s"/><text x="%d" y="39">c=%d</text>`+"\n",
			left+i*70, colors[i%len(colors)], left+14+i*70, c)
	}
	for _, l := range []struct {
		v     float64
		label string
	}{{0.5, "0.5× fresh target"}, {0.75, "0.75× pooled target"}, {1, "native"}} {
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#888" stroke-dasharray="4 3"/>`+"\n", x(l.v), top-6, x(l.v), height-34)
		p(`<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>`+"\n", x(l.v), height-20, l.label)
	}
	for v := 0.0; v <= maxR+1e-9; v += 0.25 {
		p(`<text x="%.1f" y="%d" text-anchor="middle" fill="#999">%.2f</text>`+"\n", x(v), height-6, v)
	}
	for ti, t := range targets {
		y0 := top + ti*groupH
		p(`<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y0+len(concs)*barH/2+4, html.EscapeString(t))
		for ci, c := range concs {
			i := slices.IndexFunc(r.Overhead, func(o OverheadRow) bool { return o.Target == t && o.Concurrency == c })
			if i < 0 {
				continue
			}
			v := r.Overhead[i].Ratio
			y := y0 + ci*barH
			p(`<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s c=%d: %.2f× (%.0f req/s)</title></rect>`+"\n",
				left, y, x(v)-float64(left), barH-1, colors[ci%len(colors)], html.EscapeString(t), c, v, r.Overhead[i].RPS)
			o := r.Overhead[i]
			if o.RatioMax > o.RatioMin {
				p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#222" stroke-width="1"/>`+"\n",
					x(o.RatioMin), float64(y)+float64(barH-1)/2, x(o.RatioMax), float64(y)+float64(barH-1)/2)
			}
			p(`<text x="%.1f" y="%d" font-size="9" fill="#333">%.2f</text>`+"\n", max(x(v), x(o.RatioMax))+3, y+barH-1, v)
		}
	}
	p("</svg>\n")
	return b.String()
}

// Rerender reads a results JSON written by Write, judges its targets again
// and rewrites its markdown, JSON and SVGs beside it: for a change of the
// report without measuring again.
func Rerender(jsonPath string) ([]string, error) {
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		return nil, err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("bench: %s: %w", jsonPath, err)
	}
	r.Targets = judge(&r)
	return Write(&r, filepath.Dir(jsonPath))
}

// writeCluster renders the cluster section (issue 16) of r, with its chart
// (file name svg) when it has one.
func writeCluster(b *strings.Builder, r *Results, svg string) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	c := r.Cluster
	p("## 10. Cluster (issue 16): %d nodes on one etcd\n\n", c.Nodes)
	var ready []string
	for _, v := range c.NodeReadyMs {
		ready = append(ready, fmt.Sprintf("%.0f", v))
	}
	p("%s; %d `wasmtask serve --store etcd` nodes as child processes (spawn → `/readyz`: %s ms", c.Etcd, c.Nodes,
		strings.Join(ready, ", "))
	if c.BoltReadyMs > 0 {
		p("; a bbolt node: %.0f ms", c.BoltReadyMs)
	}
	p("). Everything shares the machine's CPUs with the load generator: the 3-node figure is the overhead of " +
		"spreading the same load over more processes, not a capacity.\n\n")
	if clusterChart(r) != nil {
		p("![cluster](%s)\n\n", svg)
	}
	rows := append(slices.Clone(c.Throughput), c.Store...)
	if len(rows) > 0 {
		p("The hello (`wat-min`) under closed-loop load, one connection per client; each side warmed %.2g s, then %d rounds "+
			"of a %.2g s run of each in alternating order; each ratio is the median over the rounds of the target's req/s "+
			"over the baseline's run beside it (range in small type).\n\n", c.WarmupSec, c.Rounds, c.DurationSec)
		p("| target | baseline | c | ×baseline | req/s | baseline req/s | p50 / p99 µs | baseline p50 / p99 µs | node shares |\n" +
			"|---|---|---|---|---|---|---|---|---|\n")
		for _, r := range rows {
			var sh []string
			for _, v := range r.Shares {
				sh = append(sh, fmt.Sprintf("%.0f%%", 100*v))
			}
			p("| %s | %s | %d | **%.2f×** <sub>%.2f–%.2f</sub> | %s | %s | %s / %s | %s / %s | %s |\n", r.Target, r.Baseline,
				r.Concurrency, r.Ratio, r.RatioMin, r.RatioMax, f0(r.RPS), f0(r.BaseRPS), f0(r.P50), f0(r.P99),
				f0(r.BaseP50), f0(r.BaseP99), strings.Join(sh, " / "))
		}
		p("\n`3 nodes`: connections round-robin over the three nodes' URLs; `1 node`: the same load on node 1 (nodes 2 " +
			"and 3 idle). `etcd` vs `bbolt`: one node on etcd (the others stopped) against `wasmtask serve` on its " +
			"bbolt file, the same webtask: a run reads nothing from the store, so ≈ 1.\n\n")
	}
	if c.Deploy != nil || c.Revoke != nil {
		p("Propagation, polled every %.0f µs (ms; *after the call*: from the call's answer until every other node "+
			"behaves accordingly; *total*: from the call's start):\n\n", c.PollUs)
		p("| change | n | call p50 | after the call: min / p50 / p99 / max | total p50 / p99 / max | timeouts |\n|---|---|---|---|---|---|\n")
		for _, x := range []struct {
			what string
			pr   *PropagationResult
		}{{"deploy of a new version on node 1 → nodes 2 and 3 answer it", c.Deploy},
			{"token revoked on node 3 → node 1 answers 401", c.Revoke}} {
			if x.pr == nil || x.pr.N == 0 {
				continue
			}
			pr := x.pr
			p("| %s | %d | %.2f | %.2f / **%.2f** / %.2f / **%.2f** | %.2f / %.2f / %.2f | %d |\n", x.what, pr.N, pr.WriteP50,
				pr.Min, pr.P50, pr.P99, pr.Max, pr.TotalP50, pr.TotalP99, pr.TotalMax, pr.Timeouts)
		}
		p("\n")
	}
}
