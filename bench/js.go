package bench

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wasmtask/wasmtask/host/api"
)

// jsHello is the JavaScript webtask of the js section, the simple model's
// hello: it answers the same 26 bytes as every hello guest.
const jsHello = "module.exports = function (context, cb) { cb(null, { message: 'hello, world' }); }\n"

// jsCode is jsHello with a comment carrying tag: the same function, other
// source, so the server treats it as code it has never seen.
func jsCode(tag string) []byte { return []byte(jsHello + "// " + tag + "\n") }

// nodeServerJS is the Node.js baseline (bench/node/server.js), written to
// the run's temp dir and run with `node`.
//
//go:embed node/server.js
var nodeServerJS []byte

// jsEnginePath is the JavaScript engine module the section runs.
func (h *harness) jsEnginePath() string {
	if h.opts.JSEngine != "" {
		return h.opts.JSEngine
	}
	return filepath.Join(h.opts.GuestsDir, "js", "engine.wasm")
}

// jsCheck says why the js section cannot run: no engine built.
func (h *harness) jsCheck() error {
	p := h.jsEnginePath()
	if _, err := os.Stat(p); err != nil {
		return fmt.Errorf("the JavaScript engine is not built (%s missing; make -C guests js)", p)
	}
	return nil
}

// js measures JavaScript webtasks (issue 11): throughput through the whole
// server, pooled and fresh, as ratios to native fasthttp and to Node.js
// running the same function; upload → first response and restart → first
// response, as coldStart measures wasm guests; and the memory per deployed
// and per running JavaScript webtask. A part that fails is noted and the
// others still run.
func (h *harness) js() error {
	eng, err := filepath.Abs(h.jsEnginePath())
	if err != nil {
		return err
	}
	b, err := os.ReadFile(eng)
	if err != nil {
		return err
	}
	jr := &JSResult{Engine: eng, EngineBytes: len(b), Code: jsHello}
	h.res.JS = jr
	node := h.opts.Node
	if node == "" {
		node = "node"
	}
	if node, err = exec.LookPath(node); err != nil {
		h.note("js: node not found (%v): the Node.js baseline is not measured", err)
		node = ""
	} else if out, err := exec.Command(node, "--version").Output(); err == nil {
		jr.Node = strings.TrimSpace(string(out))
	}
	h.logf("  engine %s (%d bytes), node %s", eng, len(b), jr.Node)

	if err := h.jsThroughput(jr, eng, node); err != nil {
		h.note("js: throughput: %v", err)
	}
	code := coldCode{Lang: "js", code: func(tag string) ([]byte, string) { return jsCode(tag), "application/javascript" }}
	rows, ready, err := h.coldOf([]coldCode{code}, api.Config{JSEngine: eng}, []string{"--js-engine", eng})
	switch {
	case err != nil:
		h.note("js: cold start: %v", err)
	case len(rows) == 1:
		jr.Cold, jr.ReadyMs = &rows[0], ready
	}
	for _, policy := range []string{"pool", "fresh"} {
		row, err := h.jsMemory(eng, policy, max(h.opts.JSWebtasks, 1))
		if err != nil {
			h.note("js: memory, %s: %v", policy, err)
			continue
		}
		jr.Memory = append(jr.Memory, row)
		h.logf("  memory %-5s %s per deployed, %s per running (anonymous %s / %s; %d webtasks)", policy,
			kib(row.PerDeployed), kib(row.PerRunning), kib(row.PerDeployedAnon), kib(row.PerRunningAnon), row.Webtasks)
	}
	return nil
}

// jsThroughput runs jsHello pooled and fresh through an in-process server,
// the native baseline answering the same bytes, and Node.js running the
// same code (when node is set). At each concurrency every target is
// warmed, then measured in Rounds rounds of one short run each, the order
// rotating from round to round; a ratio is the median over rounds of the
// target's req/s over the baseline's run of the same round.
func (h *harness) jsThroughput(jr *JSResult, eng, node string) error {
	srv, err := startInProc(api.Config{DataDir: h.tempDir("js"), JSEngine: eng})
	if err != nil {
		return err
	}
	defer srv.Close()
	type target struct{ name, url string }
	var wt []target
	var ref response
	for _, policy := range []string{"pool", "fresh"} {
		name := "hello-" + policy
		if err := uploadCode(client, srv.URL(), srv.Admin(), "js", name, []byte(jsHello), "application/javascript",
			policy == "fresh"); err != nil {
			return err
		}
		u := runURL(srv.URL(), "js", name)
		if ref, err = get(u); err != nil {
			return err
		}
		if string(ref.Body) != helloBody {
			return fmt.Errorf("js/%s answered %q, want %q", policy, ref.Body, helloBody)
		}
		wt = append(wt, target{"js/" + policy, u})
	}
	if err := waitCompiled(srv.URL(), srv.Admin()); err != nil { // the engine, tiered at start
		return err
	}
	nat, err := startNative(ref.ContentType, ref.Body)
	if err != nil {
		return err
	}
	defer nat.Close()
	all := []target{{"native", nat.url + "/"}}
	if node != "" {
		nd, err := startNode(node, h.tempDir("node"), jsHello)
		if err != nil {
			h.note("js: the Node.js baseline did not start: %v", err)
		} else {
			defer nd.Close()
			if r, err := get(nd.url + "/"); err != nil || string(r.Body) != helloBody {
				return fmt.Errorf("node answered %q (%v), want %q", r.Body, err, helloBody)
			}
			all = append(all, target{"node", nd.url + "/"})
		}
	}
	all = append(all, wt...)
	// Prime every target once, long enough for Node's JIT: a new node
	// process serves the hello at ~2,000 req/s for its first second and
	// ~14,000 after two (c=1, measured), longer than a quick warm-up.
	for _, t := range all {
		if _, err := RunLoad(Load{Targets: []string{t.url}, Concurrency: slices.Max(h.opts.Concurrency),
			Duration: max(jsPrime, 2*h.opts.Warmup)}); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	for _, c := range h.opts.Concurrency {
		for _, t := range all {
			if _, err := RunLoad(Load{Targets: []string{t.url}, Concurrency: c, Duration: h.opts.Warmup}); err != nil {
				return fmt.Errorf("%s at c=%d: %w", t.name, c, err)
			}
		}
		rps := map[string][]float64{}
		runs := map[string][]LoadResult{}
		for round := 0; round < max(h.opts.Rounds, 1); round++ {
			for i := range all {
				t := all[(i+round)%len(all)]
				r, err := h.slice(t.url, c)
				if err != nil {
					return fmt.Errorf("%s at c=%d: %w", t.name, c, err)
				}
				rps[t.name] = append(rps[t.name], r.RPS)
				runs[t.name] = append(runs[t.name], r)
			}
		}
		for _, t := range all {
			row := JSRow{Target: t.name, Concurrency: c, LoadResult: merge(runs[t.name])}
			row.Ratio, row.RatioMin, row.RatioMax = pairedRatio(rps[t.name], rps["native"])
			if rps["node"] != nil {
				row.NodeRatio, row.NodeRatioMin, row.NodeRatioMax = pairedRatio(rps[t.name], rps["node"])
			}
			jr.Throughput = append(jr.Throughput, row)
			h.logf("  c=%-3d %-8s %6.2f× native (%.2f–%.2f)  %6.2f× node (%.2f–%.2f)  %9.0f req/s  p50 %8.1f µs  p99 %9.1f µs",
				c, t.name, row.Ratio, row.RatioMin, row.RatioMax, row.NodeRatio, row.NodeRatioMin, row.NodeRatioMax,
				row.RPS, row.P50, row.P99)
		}
	}
	return nil
}

// pairedRatio is the median, min and max of xs[i]/base[i].
func pairedRatio(xs, base []float64) (med, lo, hi float64) {
	var r []float64
	for i := range min(len(xs), len(base)) {
		if base[i] > 0 {
			r = append(r, xs[i]/base[i])
		}
	}
	if len(r) == 0 {
		return 0, 0, 0
	}
	return median(r), slices.Min(r), slices.Max(r)
}

// jsMemory measures the memory of n JavaScript webtasks of one policy in
// `wasmtask serve` as its own process (see JSMemoryRow): per deployed, in
// the server that uploads them; per running, in that server restarted on
// the same data dir, so the uploads' garbage is not counted. The server
// runs with GOGC=jsMemoryGOGC: each upload leaves megabytes of garbage
// (esbuild's), and with the default GOGC=100 the heap may hold up to its
// live size again in garbage, which swamped the growth of n webtasks (a
// negative growth per deployed webtask, measured).
func (h *harness) jsMemory(eng, policy string, n int) (JSMemoryRow, error) {
	row := JSMemoryRow{Policy: policy, Webtasks: n}
	dir := h.tempDir("js-memory")
	env := []string{"GOGC=" + strconv.Itoa(jsMemoryGOGC)}
	// A first start compiles the engine into the data dir's cache and is
	// closed: that compile's garbage (~35 MiB) left the heap only over the
	// next seconds and made the growth per deployed webtask negative.
	c, err := startChildEnv(env, h.bin, dir, "--js-engine", eng)
	if err != nil {
		return row, err
	}
	if err := waitCompiled(c.URL(), c.Admin()); err != nil { // tiered: the engine compiles in the background
		c.Close()
		return row, err
	}
	c.Close()
	if c, err = startChildEnv(env, h.bin, dir, "--js-engine", eng); err != nil {
		return row, err
	}
	defer func() { c.Close() }()
	const settle = time.Second
	if row.EmptyRSS, err = c.settledRSS(settle / 2); err != nil {
		return row, err
	}
	name := func(i int) string { return fmt.Sprintf("m%d", i) }
	run := func(i int) error {
		_, err := get(runURL(c.URL(), "mem", name(i)))
		return err
	}
	for i := 0; i <= n; i++ {
		err := uploadCode(client, c.URL(), c.Admin(), "mem", name(i), jsCode(policy+" "+name(i)), "application/javascript",
			policy == "fresh")
		if err == nil && i == 0 {
			if err = run(0); err == nil {
				row.BaseRSS, err = c.settledRSS(settle)
			}
		}
		if err != nil {
			return row, err
		}
	}
	if row.DeployedRSS, err = c.settledRSS(settle); err != nil {
		return row, err
	}
	c.Close()
	if c, err = startChildEnv(env, h.bin, dir, "--js-engine", eng); err != nil {
		return row, err
	}
	for i := 0; i <= n; i++ {
		err := run(i)
		if err == nil && i == 0 {
			row.RestartRSS, err = c.settledRSS(settle)
		}
		if err != nil {
			return row, err
		}
	}
	if row.RunRSS, err = c.settledRSS(settle); err != nil {
		return row, err
	}
	per := func(a, b int64) float64 { return float64(b-a) / float64(n) }
	row.PerDeployed, row.PerDeployedAnon = per(row.BaseRSS.Total, row.DeployedRSS.Total), per(row.BaseRSS.Anon, row.DeployedRSS.Anon)
	row.PerRunning, row.PerRunningAnon = per(row.RestartRSS.Total, row.RunRSS.Total), per(row.RestartRSS.Anon, row.RunRSS.Anon)
	return row, nil
}

// jsPrime is how long each target of the throughput part is loaded once
// before the first measurement (see jsThroughput).
const jsPrime = 2 * time.Second

// jsMemoryGOGC is the GOGC of the memory part's server (see jsMemory).
const jsMemoryGOGC = 10

// nodeServer is the Node.js baseline (bench/node/server.js) in its own
// process.
type nodeServer struct {
	cmd    *exec.Cmd
	url    string
	stderr *lockedWriter
	exited chan struct{}
}

// startNode writes server.js and code into dir, starts node on a free
// loopback port and waits until it answers.
func startNode(node, dir, code string) (*nodeServer, error) {
	script, codeFile := filepath.Join(dir, "server.js"), filepath.Join(dir, "webtask.js")
	if err := os.WriteFile(script, nodeServerJS, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(codeFile, []byte(code), 0o644); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	n := &nodeServer{url: "http://127.0.0.1:" + strconv.Itoa(port), stderr: &lockedWriter{w: &bytes.Buffer{}},
		exited: make(chan struct{})}
	n.cmd = exec.Command(node, script, "--port", strconv.Itoa(port), "--code", codeFile)
	n.cmd.Stderr = n.stderr
	if err := n.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = n.cmd.Wait(); close(n.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-n.exited:
			return nil, fmt.Errorf("node exited: %s", n.stderr.String())
		default:
		}
		if r, err := do("GET", n.url+"/", "", nil, ""); err == nil && r.Status == 200 {
			return n, nil
		}
		if time.Now().After(deadline) {
			n.Close()
			return nil, fmt.Errorf("node not answering after 30 s: %s", n.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Close stops node with SIGTERM, then SIGKILL after 5 s, and waits.
func (n *nodeServer) Close() {
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(5 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.exited
	}
}
