package bench

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The targets of issue 5 (reported, not asserted).
const (
	targetPooled   = 0.75    // pooled trivial guest ≥ 0.75× native
	targetFresh    = 0.5     // fresh instance per request ≥ 0.5× native (C, Rust, AssemblyScript, WAT)
	targetRestart  = 5.0     // ms, cold start after restart, C and Rust
	targetScaleRSS = 1 << 30 // 1,000 × 10 deployed idle webtasks ≤ 1 GiB RSS
	targetScaleN   = 10_000
	targetExtism   = 2.0 // ≥ 2× Extism's throughput on the same guest logic
)

// The targets of issue 11 (JavaScript webtasks; reported, not asserted).
const (
	targetJSPooled  = 1.0     // JS hello pooled ≥ 1.0× Node.js running the same function
	targetJSFresh   = 0.8     // JS hello fresh ≥ 0.8× Node.js
	targetJSUpload  = 50.0    // ms, upload → first response
	targetJSRestart = 10.0    // ms, restart → first response to an existing JS webtask
	targetJSMemory  = 1 << 20 // bytes per running JS webtask after init
)

// The target of issue 17's real work: C and Rust ≥ 0.5× native Go on the
// json and jwt tasks (reported, not asserted).
const targetWork = 0.5

// Issue 17's other targets (reported, not asserted).
const (
	targetFreshOfPooled = 0.95 // fresh ≥ 0.95× pooled, same language and concurrency
	targetGoFresh       = 0.3  // Go fresh ≥ 0.3× native
	targetGoPooled      = 0.8  // Go pooled ≥ 0.8× native
	targetUpload        = 5.0  // ms, upload → first response, C and Rust
	targetRestartFast   = 2.0  // ms, restart → first response, C and Rust
)

// freshOfPooledLangs are the languages issue 17's fresh ≥ 0.95× pooled
// target names (JavaScript is judged from the js section).
var freshOfPooledLangs = []string{"wat", "c", "rust", "assemblyscript"}

// freshLangs are the languages the fresh target names.
var freshLangs = []string{MinimalLang, "wat", "c", "rust", "assemblyscript"}

func status(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

// judge evaluates the issue's targets on a run.
func judge(r *Results) []TargetResult {
	var out []TargetResult
	add := func(t, got, st, why string) {
		out = append(out, TargetResult{Target: t, Got: got, Status: st, Why: why})
	}

	// Overhead: per language and policy, the worst ratio over the concurrencies.
	byTarget := map[string][]OverheadRow{}
	var order []string
	for _, o := range r.Overhead {
		if o.Lang == "" {
			continue
		}
		if _, ok := byTarget[o.Target]; !ok {
			order = append(order, o.Target)
		}
		byTarget[o.Target] = append(byTarget[o.Target], o)
	}
	for _, t := range order {
		rows := byTarget[t]
		lang, policy := rows[0].Lang, rows[0].Policy
		var parts []string
		worst := rows[0].Ratio
		for _, o := range rows {
			parts = append(parts, fmt.Sprintf("c=%d %.2f×", o.Concurrency, o.Ratio))
			worst = min(worst, o.Ratio)
		}
		got := strings.Join(parts, ", ")
		switch {
		case policy == "pool":
			add(fmt.Sprintf("%s pooled ≥ %.2f× native", lang, targetPooled), got, status(worst >= targetPooled),
				whyOverhead(worst, targetPooled))
		case policy == "fresh" && slices.Contains(freshLangs, lang): // the server's default fresh (reset)
			add(fmt.Sprintf("%s fresh ≥ %.1f× native", lang, targetFresh), got, status(worst >= targetFresh),
				whyOverhead(worst, targetFresh))
		}
	}
	if len(r.Overhead) == 0 {
		add("pooled ≥ 0.75× / fresh ≥ 0.5× native", "", "not measured", "overhead section not run")
	}

	// Cold start after restart, C and Rust.
	for _, lang := range []string{"c", "rust"} {
		i := slices.IndexFunc(r.Cold, func(c ColdRow) bool { return c.Lang == lang })
		if i < 0 {
			add(fmt.Sprintf("%s restart → first response ≤ %.0f ms", lang, targetRestart), "", "not measured",
				"no "+lang+" guest was built when this ran")
			continue
		}
		c := r.Cold[i]
		add(fmt.Sprintf("%s restart → first response ≤ %.0f ms", lang, targetRestart),
			fmt.Sprintf("%.2f ms first request after restart (spawn → first response %.1f ms)", c.RestartFirstMs, c.RestartTotalMs),
			status(c.RestartFirstMs <= targetRestart),
			"judged on the first request once the restarted server answers /readyz; spawn → first response includes the process start")
	}

	// Scale.
	if s := r.Scale; s != nil && s.TouchedRSS.Total > 0 {
		n := s.Containers * s.PerContainer
		worst := max(s.DeployedRSS.Total, s.TouchedRSS.Total, s.EvictedRSS.Total)
		got := fmt.Sprintf("%d webtasks: %s deployed, %s idle after restart, %s after one request each, %s after idle eviction",
			n, mib(s.DeployedRSS.Total), mib(s.IdleRSS.Total), mib(s.TouchedRSS.Total), mib(s.EvictedRSS.Total))
		if n >= targetScaleN {
			add("1,000 × 10 idle webtasks ≤ 1 GiB RSS", got, status(worst <= targetScaleRSS),
				"judged on the worst state: all uploaded, or after one request to each (every webtask then holds one idle instance until the idle timeout)")
		} else {
			per := float64(worst-s.EmptyRSS.Total) / float64(n)
			proj := float64(s.EmptyRSS.Total) + per*targetScaleN
			add("1,000 × 10 idle webtasks ≤ 1 GiB RSS", got+fmt.Sprintf("; linear projection to 10,000: %s", mib(int64(proj))),
				"not measured", "quick run deploys fewer webtasks; run the full mode for the target")
		}
	} else {
		add("1,000 × 10 idle webtasks ≤ 1 GiB RSS", "", "not measured", "scale section not run or failed")
	}

	// Fairness.
	for _, f := range r.Fairness {
		if f.Tenants < 2 {
			continue
		}
		add("no tenant below half its fair share: "+f.Scenario,
			fmt.Sprintf("worst tenant %.2f× fair share (Jain %.3f)", f.MinShare, f.Jain), status(f.MinShare >= 0.5), "")
	}
	for _, a := range r.Abuse {
		if a.Runaways > 0 || a.Ratio != 1 {
			add(fmt.Sprintf("p99 under abuse ≤ 2× alone (%d runaway loops)", AbuseLoops),
				fmt.Sprintf("%.2f× (%s µs vs alone)", a.Ratio, f0(a.P99)), status(a.Ratio <= 2), "issue 17: a well-behaved tenant beside another container's runaway guests")
		}
	}

	// Extism.
	for _, e := range r.Extism {
		add(fmt.Sprintf("≥ %.0f× Extism: %s", targetExtism, e.Case), fmt.Sprintf("%.2f×", e.Ratio),
			status(e.Ratio >= targetExtism), "in process, same logic; against the faster of Extism with wasmtask's limits and Extism without a timeout")
	}
	// Over HTTP: both rows are ratios to native runs taken beside them, so
	// their quotient compares the two without the machine's drift.
	ext := map[int]float64{}
	for _, o := range r.Overhead {
		if strings.HasPrefix(o.Target, "extism-http") { // the faster configuration
			ext[o.Concurrency] = max(ext[o.Concurrency], o.Ratio)
		}
	}
	for _, o := range r.Overhead {
		if o.Lang == MinimalLang && o.Policy == "pool" && ext[o.Concurrency] > 0 {
			ratio := o.Ratio / ext[o.Concurrency]
			add(fmt.Sprintf("≥ %.0f× Extism over HTTP, c=%d", targetExtism, o.Concurrency), fmt.Sprintf("%.2f×", ratio),
				status(ratio >= targetExtism), "wat-min/pool through the whole wasmtask server vs the same logic as an Extism plugin behind bare fasthttp, the faster of its two configurations (each as a ratio to native)")
		}
	}
	if len(r.Extism) == 0 {
		add("≥ 2× Extism's throughput", "", "not measured", "extism section not run or failed")
	}
	out = append(out, judgeJS(r.JS)...)
	out = append(out, judgePlatform(r.Platform)...)
	out = append(out, judgeWork(r.Work)...)
	out = append(out, judgeIssue17(r)...)
	out = append(out, judgeCluster(r.Cluster)...)
	for _, c := range r.Cold {
		if c.EvictedFirstMs > 0 && (c.Lang == "c" || c.Lang == "rust") {
			add(fmt.Sprintf("%s first request after idle eviction (reported, no target)", c.Lang),
				fmt.Sprintf("%.2f ms (%.0f× a warm request)", c.EvictedFirstMs, c.EvictedFirstMs*1e3/c.WarmUs), "reported", "")
		}
	}
	return out
}

// ratios collects a target's labelled ratios (per concurrency, policy…):
// the text the report shows and the worst of them.
type ratios struct {
	parts []string
	worst float64
}

func (r *ratios) add(label string, ratio float64) {
	if len(r.parts) == 0 || ratio < r.worst {
		r.worst = ratio
	}
	r.parts = append(r.parts, fmt.Sprintf("%s %.2f×", label, ratio))
}

// measured reports whether any ratio was added.
func (r *ratios) measured() bool { return len(r.parts) > 0 }

func (r *ratios) String() string { return strings.Join(r.parts, ", ") }

func whyOverhead(worst, target float64) string {
	if worst >= target {
		return ""
	}
	return fmt.Sprintf("worst concurrency at %.2f×; see the host hot-path notes in bench/README.md", worst)
}

// judgeJS evaluates the JavaScript targets of issue 11 on the js section.
func judgeJS(js *JSResult) []TargetResult {
	var out []TargetResult
	add := func(t, got, st, why string) {
		out = append(out, TargetResult{Target: "JS: " + t, Got: got, Status: st, Why: why})
	}
	if js == nil {
		add("JavaScript targets of issue 11", "", "not measured", "js section not run (or no JavaScript engine built)")
		return out
	}
	for _, t := range []struct {
		target string
		goal   float64
	}{{"js/pool", targetJSPooled}, {"js/fresh", targetJSFresh}} {
		name := fmt.Sprintf("hello %s ≥ %.1f× Node.js", strings.TrimPrefix(t.target, "js/"), t.goal)
		var rs ratios
		for _, row := range js.Throughput {
			if row.Target == t.target && row.NodeRatio != 0 {
				rs.add(fmt.Sprintf("c=%d", row.Concurrency), row.NodeRatio)
			}
		}
		if !rs.measured() {
			add(name, "", "not measured", "no Node.js baseline (node not found) or the throughput part failed")
			continue
		}
		add(name, rs.String(), status(rs.worst >= t.goal), "judged on the worst concurrency; Node.js is one process, one thread")
	}
	if c := js.Cold; c != nil {
		add(fmt.Sprintf("upload → first response ≤ %.0f ms", targetJSUpload), fmt.Sprintf("%.1f ms", c.UploadToFirstMs),
			status(c.UploadToFirstMs <= targetJSUpload), "")
		add(fmt.Sprintf("restart → first response ≤ %.0f ms", targetJSRestart),
			fmt.Sprintf("%.2f ms first request after restart (spawn → first response %.1f ms)", c.RestartFirstMs, c.RestartTotalMs),
			status(c.RestartFirstMs <= targetJSRestart), "judged on the first request once the restarted server answers /readyz, as for C and Rust")
	} else {
		add("upload / restart → first response", "", "not measured", "cold-start part failed")
	}
	for _, m := range js.Memory {
		add(fmt.Sprintf("memory per running webtask ≤ %s, %s", kib(targetJSMemory), m.Policy),
			fmt.Sprintf("%s per running, %s per deployed (N=%d)", kib(m.PerRunning), kib(m.PerDeployed), m.Webtasks),
			status(m.PerRunning <= targetJSMemory), "RSS growth over N webtasks each run once, divided by N")
	}
	if len(js.Memory) == 0 {
		add("memory per running webtask", "", "not measured", "memory part failed")
	}
	return out
}

// judgePlatform reports the figures of issue 12 (it sets no numbers) and
// judges what it requires: no lost update under concurrent writers, every
// cron slot run or recorded as missed.
func judgePlatform(pl *PlatformResult) []TargetResult {
	var out []TargetResult
	add := func(t, got, st, why string) {
		out = append(out, TargetResult{Target: "Platform: " + t, Got: got, Status: st, Why: why})
	}
	if pl == nil {
		add("storage and cron figures of issue 12", "", "not measured", "platform section not run")
		return out
	}
	if s := pl.Storage; s != nil {
		add("storage get / set latency (no target)", fmt.Sprintf("get p50 %s / p99 %s µs, set p50 %s / p99 %s µs (%s-byte document)",
			f0(s.Get.P50), f0(s.Get.P99), f0(s.Set.P50), f0(s.Set.P99), f0(float64(s.DocBytes))), "reported", "a set is a durable bbolt commit")
		add(fmt.Sprintf("%d concurrent writers: no lost update", s.Writers),
			fmt.Sprintf("%s acknowledged writes, counter %s (after a restart %s), %.1f%% of PUTs 409, %s writes/s", f0(float64(s.Acked)),
				f0(float64(s.FinalCounter)), f0(float64(s.RestartCounter)), 100*s.ConflictRate, f0(s.WritesPerSec)),
			status(s.NoLostUpdate), "")
	} else {
		add("storage", "", "not measured", "storage part failed")
	}
	if c := pl.Cron; c != nil {
		add(fmt.Sprintf("cron jitter at %d jobs (no target)", c.Jobs), fmt.Sprintf("late p50 %.1f / p99 %.1f / max %.1f ms, %d of %d slots missed",
			c.LateP50, c.LateP99, c.LateMax, c.Missed, c.Slots), "reported", "")
		add("every cron slot run or recorded as missed", fmt.Sprintf("%d unaccounted of %d", c.Unaccounted, c.Slots),
			status(c.Unaccounted == 0 && c.Slots > 0), "")
	} else {
		add("cron", "", "not measured", "cron part failed")
	}
	return out
}

// judgeWork evaluates issue 17's real-work target: for C and Rust, on the
// json and jwt tasks, the worst ratio to native over both policies and
// every concurrency.
func judgeWork(rows []WorkRow) []TargetResult {
	var out []TargetResult
	add := func(t, got, st, why string) {
		out = append(out, TargetResult{Target: "Work: " + t, Got: got, Status: st, Why: why})
	}
	if len(rows) == 0 {
		add("real work ≥ 0.5× native (C, Rust; json, jwt)", "", "not measured", "work section not run (or no work guest built)")
		return out
	}
	for _, lang := range []string{"c", "rust"} {
		for _, task := range []string{"json", "jwt"} {
			name := fmt.Sprintf("%s %s ≥ %.1f× native, pooled and fresh", lang, task, targetWork)
			var rs ratios
			for _, w := range rows {
				if w.Lang == lang && w.Task == task {
					rs.add(fmt.Sprintf("%s c=%d", w.Policy, w.Concurrency), w.Ratio)
				}
			}
			if !rs.measured() {
				add(name, "", "not measured", "no "+lang+" work guest was measured")
				continue
			}
			add(name, rs.String(), status(rs.worst >= targetWork), "judged on the worst policy and concurrency")
		}
	}
	return out
}

// judgeIssue17 evaluates issue 17's targets other than real work: fresh
// against pooled per language (each a ratio to the native run beside it,
// so the ratio of the two is fresh over pooled in the same run), Go
// against native, and the cold paths of C and Rust.
func judgeIssue17(r *Results) []TargetResult {
	var out []TargetResult
	add := func(t, got, st, why string) {
		out = append(out, TargetResult{Target: "Issue 17: " + t, Got: got, Status: st, Why: why})
	}
	type pair struct{ pool, fresh float64 }
	byLang := map[string]map[int]*pair{}
	note := func(lang, policy string, c int, ratio float64) {
		if byLang[lang] == nil {
			byLang[lang] = map[int]*pair{}
		}
		p := byLang[lang][c]
		if p == nil {
			p = &pair{}
			byLang[lang][c] = p
		}
		switch policy {
		case "pool":
			p.pool = ratio
		case "fresh":
			p.fresh = ratio
		}
	}
	for _, o := range r.Overhead {
		if slices.Contains(freshOfPooledLangs, o.Lang) || o.Lang == "go" {
			note(o.Lang, o.Policy, o.Concurrency, o.Ratio)
		}
	}
	if r.JS != nil {
		for _, j := range r.JS.Throughput {
			if lang, policy, ok := strings.Cut(j.Target, "/"); ok && lang == "js" {
				note("js", policy, j.Concurrency, j.Ratio)
			}
		}
	}
	for _, lang := range append(slices.Clone(freshOfPooledLangs), "js") {
		var rs ratios
		for _, c := range slices.Sorted(maps.Keys(byLang[lang])) {
			if p := byLang[lang][c]; p.pool > 0 && p.fresh > 0 {
				rs.add(fmt.Sprintf("c=%d", c), p.fresh/p.pool)
			}
		}
		name := fmt.Sprintf("%s fresh ≥ %.2f× pooled", lang, targetFreshOfPooled)
		if !rs.measured() {
			add(name, "", "not measured", "no "+lang+" pooled and fresh runs at one concurrency")
			continue
		}
		add(name, rs.String(), status(rs.worst >= targetFreshOfPooled), "judged on the worst concurrency")
	}
	for _, g := range []struct {
		policy string
		target float64
		ratio  func(*pair) float64
	}{
		{"fresh", targetGoFresh, func(p *pair) float64 { return p.fresh }},
		{"pooled", targetGoPooled, func(p *pair) float64 { return p.pool }},
	} {
		var rs ratios
		for _, c := range slices.Sorted(maps.Keys(byLang["go"])) {
			if ratio := g.ratio(byLang["go"][c]); ratio > 0 {
				rs.add(fmt.Sprintf("c=%d", c), ratio)
			}
		}
		name := fmt.Sprintf("go %s ≥ %.1f× native", g.policy, g.target)
		if !rs.measured() {
			add(name, "", "not measured", "no go guest was measured")
			continue
		}
		add(name, rs.String(), status(rs.worst >= g.target), "judged on the worst concurrency")
	}
	for _, lang := range []string{"c", "rust"} {
		i := slices.IndexFunc(r.Cold, func(c ColdRow) bool { return c.Lang == lang })
		if i < 0 {
			add(lang+" upload and restart → first response", "", "not measured", "no "+lang+" guest was built when this ran")
			continue
		}
		c := r.Cold[i]
		add(fmt.Sprintf("%s upload → first response ≤ %.0f ms", lang, targetUpload),
			fmt.Sprintf("%.1f ms (upload %.1f + run %.2f; median of %d)", c.UploadToFirstMs, c.UploadMs, c.FirstRunMs, r.Settings.ColdReps),
			status(c.UploadToFirstMs <= targetUpload), "the upload includes a durable bbolt commit")
		add(fmt.Sprintf("%s restart → first response ≤ %.0f ms", lang, targetRestartFast),
			fmt.Sprintf("%.2f ms", c.RestartFirstMs), status(c.RestartFirstMs <= targetRestartFast),
			"the first request once the restarted server answers /readyz")
	}
	return out
}

// targetRevokeMs is issue 16's bound: a token revoked on one node is
// refused by the others within one second.
const targetRevokeMs = 1000.0

// judgeCluster reports the figures of issue 16 and judges its one bound:
// a revocation reaches the other nodes within a second.
func judgeCluster(c *ClusterResult) []TargetResult {
	var out []TargetResult
	add := func(t, got, st, why string) {
		out = append(out, TargetResult{Target: "Cluster: " + t, Got: got, Status: st, Why: why})
	}
	if c == nil {
		add("cluster figures of issue 16", "", "not measured", "cluster section not run")
		return out
	}
	load := func(rows []ClusterLoadRow, name, why string) {
		var parts []string
		for _, r := range rows {
			parts = append(parts, fmt.Sprintf("c=%d %.2f× (%s vs %s req/s)", r.Concurrency, r.Ratio, f0(r.RPS), f0(r.BaseRPS)))
		}
		if len(parts) == 0 {
			add(name, "", "not measured", "part failed")
			return
		}
		add(name, strings.Join(parts, ", "), "reported", why)
	}
	load(c.Throughput, "hello over 3 nodes vs 1 node on the same etcd (no target)",
		"same machine: the overhead of more processes, not a capacity")
	if d := c.Deploy; d != nil && d.N > 0 {
		add("deploy → runnable on every node (no target)", fmt.Sprintf("p50 %.1f ms, max %.1f ms over %d deploys (PUT p50 %.1f ms)",
			d.TotalP50, d.TotalMax, d.N, d.WriteP50), "reported", "from the PUT on node 1 until nodes 2 and 3 answer the new version")
	} else {
		add("deploy → runnable on every node", "", "not measured", "part failed")
	}
	if v := c.Revoke; v != nil && v.N > 0 {
		add(fmt.Sprintf("revocation reaches another node within %.0f s", targetRevokeMs/1e3),
			fmt.Sprintf("p50 %.2f ms, p99 %.2f ms, max %.2f ms over %d tokens (%d timeouts)", v.P50, v.P99, v.Max, v.N, v.Timeouts),
			status(v.Timeouts == 0 && v.Max <= targetRevokeMs), "from the revoke's answer on node 3 until node 1 answers 401")
	} else {
		add("revocation reaches another node within 1 s", "", "not measured", "part failed")
	}
	load(c.Store, "one run on etcd vs bbolt (≈ 1 expected)", "a run reads nothing from the store on the hot path")
	return out
}
