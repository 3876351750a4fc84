package bench

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/version"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/wasmtask/wasmtask/store/etcd/etcdtest"
)

// cluster measures the figures of issue 16 on one etcd server embedded in
// the harness's process (one member, on loopback, fsync on) and three
// `wasmtask serve --store etcd` nodes as child processes:
//
//   - requests/s of the wat-min hello spread round-robin over the three
//     nodes vs the same load on one of them (same machine: the ratio is the
//     overhead of more processes, not a capacity);
//   - deploy → runnable everywhere: a new version uploaded on node 1, nodes
//     2 and 3 polled until they answer it;
//   - revocation propagation: a token issued on node 1, revoked on node 3,
//     node 1 polled until it refuses it;
//   - the cost of one run on etcd vs bbolt: the same hello through one node
//     on etcd and one on bbolt (a run reads nothing from the store).
//
// A part that fails is noted and the next still runs.
func (h *harness) cluster() error {
	cr := &ClusterResult{Nodes: 3, PollUs: float64(clusterPoll.Microseconds())}
	rounds, warmup, d := h.clusterRuns()
	cr.Rounds, cr.WarmupSec, cr.DurationSec = rounds, warmup.Seconds(), d.Seconds()
	h.res.Cluster = cr
	etcd, endpoint, err := startEmbeddedEtcd(h.tempDir("etcd"))
	if err != nil {
		return fmt.Errorf("embedded etcd: %w", err)
	}
	defer etcd.Close()
	cr.Etcd = "embedded etcd " + version.Version + ", 1 member on loopback, fsync on"

	kek := make([]byte, 32)
	if _, err := rand.Read(kek); err != nil {
		return err
	}
	kekFile := filepath.Join(h.tempDir("kek"), "kek")
	if err := os.WriteFile(kekFile, []byte(hex.EncodeToString(kek)+"\n"), 0o600); err != nil {
		return err
	}
	var nodes []*child
	defer func() {
		for _, n := range nodes {
			n.Close()
		}
	}()
	for i := range cr.Nodes {
		n, err := startChild(h.bin, h.tempDir(fmt.Sprintf("node%d", i+1)),
			"--store", "etcd", "--etcd-endpoints", endpoint, "--key-file", kekFile)
		if err != nil {
			return fmt.Errorf("node %d: %w", i+1, err)
		}
		nodes = append(nodes, n)
		cr.NodeReadyMs = append(cr.NodeReadyMs, ms(n.ready.Sub(n.spawned)))
	}
	n1 := nodes[0]
	const container, name = "bench", "hello"
	hello := Testdata("hello")
	if err := upload(n1.URL(), n1.Admin(), container, name, hello, false); err != nil {
		return err
	}
	var urls []string
	for _, n := range nodes {
		u := runURL(n.URL(), container, name)
		if _, err := get(u); err != nil { // uploaded on node 1, runnable on every node
			return err
		}
		urls = append(urls, u)
	}

	var errs []error
	part := func(what string, f func() error) {
		if h.ctx.Err() != nil {
			return
		}
		if err := f(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
	}
	part("throughput", func() error {
		for _, c := range h.opts.ClusterConcurrency {
			row, err := h.pairedLoad("3 nodes", "1 node", urls, urls[:1], c)
			if err != nil {
				return fmt.Errorf("c=%d: %w", c, err)
			}
			cr.Throughput = append(cr.Throughput, row)
		}
		return nil
	})
	part("deploy", func() error {
		d, err := h.clusterDeploys(nodes, container)
		cr.Deploy = d
		return err
	})
	part("revocation", func() error {
		r, err := h.clusterRevocations(nodes, container, name)
		cr.Revoke = r
		return err
	})
	part("etcd vs bbolt", func() error {
		// One node on etcd (the others stopped) against one on bbolt.
		for _, n := range nodes[1:] {
			n.Close()
		}
		nodes = nodes[:1]
		bolt, err := startChild(h.bin, h.tempDir("bolt"))
		if err != nil {
			return err
		}
		defer bolt.Close()
		cr.BoltReadyMs = ms(bolt.ready.Sub(bolt.spawned))
		if err := upload(bolt.URL(), bolt.Admin(), container, name, hello, false); err != nil {
			return err
		}
		boltURL := runURL(bolt.URL(), container, name)
		if _, err := get(boltURL); err != nil {
			return err
		}
		for _, c := range h.opts.ClusterStoreConcurrency {
			row, err := h.pairedLoad("etcd", "bbolt", urls[:1], []string{boltURL}, c)
			if err != nil {
				return fmt.Errorf("c=%d: %w", c, err)
			}
			cr.Store = append(cr.Store, row)
		}
		return nil
	})
	return errors.Join(errs...)
}

// clusterPoll is how long the propagation parts wait between two polls.
const clusterPoll = 250 * time.Microsecond

// clusterRuns are the paired loads' rounds, warm-up (as long as a run)
// and run length.
func (h *harness) clusterRuns() (rounds int, warmup, d time.Duration) {
	d = max(h.opts.ClusterDuration, time.Millisecond)
	return max(h.opts.ClusterRounds, 1), d, d
}

// pairedLoad measures targets against base at concurrency c as the
// overhead section does: a warm-up of each, then rounds of a pair of runs
// in alternating order; the ratio is the median of the per-round ratios of
// req/s.
func (h *harness) pairedLoad(name, baseName string, targets, base []string, c int) (ClusterLoadRow, error) {
	row := ClusterLoadRow{Target: name, Baseline: baseName, Concurrency: c}
	rounds, warmup, d := h.clusterRuns()
	for _, ts := range [][]string{targets, base} {
		if _, err := RunLoad(Load{Targets: ts, Concurrency: c, Duration: warmup}); err != nil {
			return row, err
		}
	}
	var runs, bases []LoadResult
	var ratios []float64
	shares := make([]int, len(targets))
	for round := range rounds {
		order := [][]string{base, targets}
		if round%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		var t, b LoadResult
		for i, ts := range order {
			r, err := RunLoad(Load{Targets: ts, Concurrency: c, Warmup: warmup / 10, Duration: d,
				MaxRequests: h.opts.MaxRequests})
			if err != nil {
				return row, err
			}
			if r.Errors > 0 {
				return row, fmt.Errorf("%d errors: %s", r.Errors, r.FirstErr)
			}
			if (i == 1) == (round%2 == 0) {
				t = r
				for k, n := range r.PerTarget {
					shares[k] += n
				}
			} else {
				b = r
			}
		}
		runs, bases = append(runs, t), append(bases, b)
		ratios = append(ratios, t.RPS/b.RPS)
	}
	tm, bm := merge(runs), merge(bases)
	row.Ratio, row.RatioMin, row.RatioMax = median(ratios), slices.Min(ratios), slices.Max(ratios)
	row.RPS, row.P50, row.P99 = tm.RPS, tm.P50, tm.P99
	row.BaseRPS, row.BaseP50, row.BaseP99 = bm.RPS, bm.P50, bm.P99
	if len(targets) > 1 {
		total := 0
		for _, n := range shares {
			total += n
		}
		for _, n := range shares {
			row.Shares = append(row.Shares, float64(n)/float64(max(total, 1)))
		}
	}
	h.logf("  c=%-3d %-8s %6.2f× %s (%.2f–%.2f)  %9.0f vs %9.0f req/s  p50 %6.0f / %6.0f µs  p99 %6.0f / %6.0f µs",
		c, name, row.Ratio, baseName, row.RatioMin, row.RatioMax, row.RPS, row.BaseRPS, row.P50, row.BaseP50, row.P99, row.BaseP99)
	return row, nil
}

// deployVersion is the module and the body of the i-th deployed version of the
// hello: the same 26 bytes but for its 12-byte greeting.
func deployVersion(i int) (wasm []byte, body string, err error) {
	greet := fmt.Sprintf("deploy %05d", i%100000)
	hello := Testdata("hello")
	if bytes.Count(hello, []byte("hello, world")) != 1 || len(greet) != len("hello, world") {
		return nil, "", errors.New("the hello module does not hold its greeting once")
	}
	return bytes.Replace(hello, []byte("hello, world"), []byte(greet), 1), strings.Replace(helloBody, "hello, world", greet, 1), nil
}

// clusterDeploys uploads ClusterDeploys versions of a webtask on node 1,
// each answering differently, and after each polls the other nodes until
// they answer the new version. Before each deploy every node runs the
// previous version from its pool, so what is measured is the watch
// replacing it.
func (h *harness) clusterDeploys(nodes []*child, container string) (*PropagationResult, error) {
	const name = "deploy"
	n1, others := nodes[0], nodes[1:]
	pr := &PropagationResult{}
	var put, after, total []float64
	for i := 0; i <= h.opts.ClusterDeploys && h.ctx.Err() == nil; i++ {
		wasm, want, err := deployVersion(i)
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		if err := upload(n1.URL(), n1.Admin(), container, name, wasm, false); err != nil {
			return pr, err
		}
		t1 := time.Now()
		var wg sync.WaitGroup
		done := make([]time.Time, len(others))
		for k, n := range others {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u := runURL(n.URL(), container, name)
				done[k] = pollUntil(t1, 10*time.Second, func() bool {
					r, err := do("GET", u, "", nil, "")
					return err == nil && r.Status == 200 && string(r.Body) == want
				})
			}()
		}
		wg.Wait()
		if i == 0 { // the first upload creates the webtask: warms every node
			continue
		}
		last := t1
		for _, d := range done {
			if d.IsZero() {
				pr.Timeouts++
				last = time.Time{}
				break
			}
			if d.After(last) {
				last = d
			}
		}
		if last.IsZero() {
			continue
		}
		put = append(put, ms(t1.Sub(t0)))
		after = append(after, ms(last.Sub(t1)))
		total = append(total, ms(last.Sub(t0)))
	}
	pr.set(put, after, total)
	h.logf("  deploy on node 1 → new version on nodes 2 and 3: p50 %.2f ms, max %.2f ms (PUT p50 %.2f ms, after it p50 %.2f ms, max %.2f ms; %d deploys, %d timeouts)",
		pr.TotalP50, pr.TotalMax, pr.WriteP50, pr.P50, pr.Max, pr.N, pr.Timeouts)
	if pr.Timeouts > 0 {
		return pr, fmt.Errorf("%d deploys not runnable on every node within 10 s", pr.Timeouts)
	}
	return pr, nil
}

// clusterRevocations issues ClusterRevocations tokens on node 1 (each
// running the webtask name through POST /api/run/{container}), revokes each
// on node 3 and polls node 1 until it refuses the token with 401.
func (h *harness) clusterRevocations(nodes []*child, container, name string) (*PropagationResult, error) {
	n1, n3 := nodes[0], nodes[len(nodes)-1]
	pr := &PropagationResult{}
	run := n1.URL() + "/api/run/" + container
	claims := []byte(`{"ten":"` + container + `","jtn":"` + name + `"}`)
	var revoke, after, total []float64
	for i := 0; i < h.opts.ClusterRevocations && h.ctx.Err() == nil; i++ {
		r, err := do("POST", n1.URL()+"/api/tokens/issue", n1.Admin(), claims, "application/json")
		if err != nil || r.Status != 200 {
			return pr, fmt.Errorf("issue on node 1: %d %.300s %v", r.Status, r.Body, err)
		}
		tok := strings.TrimSpace(string(r.Body))
		if r, err := do("GET", run, tok, nil, ""); err != nil || r.Status != 200 || string(r.Body) != helloBody {
			return pr, fmt.Errorf("run with the token on node 1: %d %.300s %v", r.Status, r.Body, err)
		}
		t0 := time.Now()
		r, err = do("POST", n3.URL()+"/api/tokens/revoke?token="+url.QueryEscape(tok), n3.Admin(), nil, "")
		if err != nil || r.Status != 200 {
			return pr, fmt.Errorf("revoke on node 3: %d %.300s %v", r.Status, r.Body, err)
		}
		t1 := time.Now()
		done := pollUntil(t1, 5*time.Second, func() bool {
			r, err := do("GET", run, tok, nil, "")
			return err == nil && r.Status == 401
		})
		if done.IsZero() {
			pr.Timeouts++
			continue
		}
		revoke = append(revoke, ms(t1.Sub(t0)))
		after = append(after, ms(done.Sub(t1)))
		total = append(total, ms(done.Sub(t0)))
	}
	pr.set(revoke, after, total)
	h.logf("  revoke on node 3 → 401 on node 1: p50 %.2f ms, p99 %.2f ms, max %.2f ms after the revoke answered (revoke p50 %.2f ms; %d tokens, %d timeouts)",
		pr.P50, pr.P99, pr.Max, pr.WriteP50, pr.N, pr.Timeouts)
	if pr.Timeouts > 0 {
		return pr, fmt.Errorf("%d revocations not seen by node 1 within 5 s", pr.Timeouts)
	}
	return pr, nil
}

// pollUntil calls cond every clusterPoll from now until it holds, and
// returns when it did (zero if not within limit of start).
func pollUntil(start time.Time, limit time.Duration, cond func() bool) time.Time {
	for {
		if cond() {
			return time.Now()
		}
		if time.Since(start) > limit {
			return time.Time{}
		}
		time.Sleep(clusterPoll)
	}
}

// set fills pr from the samples (ms): the write call, the time after it
// answered until every node saw it, and the two together.
func (pr *PropagationResult) set(write, after, total []float64) {
	pr.N = len(after)
	if pr.N == 0 {
		return
	}
	pct := func(xs []float64, p float64) float64 {
		s := slices.Clone(xs)
		slices.Sort(s)
		return s[int(p*float64(len(s)-1)+0.5)]
	}
	pr.WriteP50 = median(write)
	pr.Min, pr.P50, pr.P99, pr.Max = slices.Min(after), median(after), pct(after, 0.99), slices.Max(after)
	pr.TotalP50, pr.TotalP99, pr.TotalMax = median(total), pct(total, 0.99), slices.Max(total)
}

// startEmbeddedEtcd starts a one-member etcd cluster in this process, on
// loopback, with its data in dir; it returns its client endpoint
// (host:port). Close stops it.
func startEmbeddedEtcd(dir string) (*embed.Etcd, string, error) {
	client, err := etcdtest.FreeAddr()
	if err != nil {
		return nil, "", err
	}
	peer, err := etcdtest.FreeAddr()
	if err != nil {
		return nil, "", err
	}
	e, err := etcdtest.Start(etcdtest.Config("bench", dir, client, peer, ""))
	if err != nil {
		return nil, "", err
	}
	return e, client, nil
}
