package bench

import (
	"fmt"
	"slices"

	"github.com/wasmtask/wasmtask/host/api"
)

// fairness measures Tenants containers sharing one in-process server, each
// with its own hello webtask (the scale language), against the baseline of
// one tenant taking all connections:
//   - equal: one connection per tenant, all sending back to back;
//   - noisy neighbour: the same plus 64 more connections for tenant 0.
//
// Every tenant always has a request waiting, so each one's fair share is
// the total over the number of tenants; the target is that no
// tenant gets less than half of it.
func (h *harness) fairness() error {
	g, err := h.guest(h.opts.ScaleLang)
	if err != nil {
		return err
	}
	srv, err := startInProc(api.Config{DataDir: h.tempDir("fairness")})
	if err != nil {
		return err
	}
	defer srv.Close()
	n := max(h.opts.Tenants, 2)
	urls := make([]string, n)
	for i := range urls {
		cn := fmt.Sprintf("t%03d", i)
		if err := upload(srv.URL(), srv.Admin(), cn, "hello", Variant(g.wasm, cn), false); err != nil {
			return err
		}
		urls[i] = runURL(srv.URL(), cn, "hello")
		if _, err := get(urls[i]); err != nil {
			return err
		}
	}
	run := func(targets []string) (LoadResult, error) {
		r, err := RunLoad(Load{Targets: targets, Concurrency: len(targets), Warmup: h.opts.Warmup,
			Duration: h.opts.FairDuration})
		if err == nil {
			h.logf("  %3d connections over %3d targets: %9.0f req/s  p99 %8.1f µs  errors %d",
				len(targets), len(slices.Compact(slices.Clone(targets))), r.RPS, r.P99, r.Errors)
		}
		return r, err
	}
	single := make([]string, n)
	for i := range single {
		single[i] = urls[0]
	}
	base, err := run(single)
	if err != nil {
		return err
	}
	h.res.Fairness = append(h.res.Fairness, FairnessRow{Scenario: "single tenant (baseline)", Tenants: 1,
		Connections: n, RPS: base.RPS, Ratio: 1, P99: base.P99})

	noisy := append(slices.Clone(urls), make([]string, 64)...)
	for i := n; i < len(noisy); i++ {
		noisy[i] = urls[0]
	}
	for _, sc := range []struct {
		name    string
		targets []string
	}{
		{fmt.Sprintf("%d tenants, 1 connection each", n), urls},
		{fmt.Sprintf("%d tenants, tenant 0 with 64 more connections", n), noisy},
	} {
		r, err := run(sc.targets)
		if err != nil {
			return err
		}
		per := map[string]int{}
		for i, t := range sc.targets {
			per[t] += r.PerTarget[i]
		}
		fair := float64(r.Requests) / float64(n)
		minS, maxS, sum, sumSq := -1.0, 0.0, 0.0, 0.0
		for _, u := range urls {
			x := float64(per[u])
			if minS < 0 || x < minS {
				minS = x
			}
			maxS = max(maxS, x)
			sum += x
			sumSq += x * x
		}
		h.res.Fairness = append(h.res.Fairness, FairnessRow{Scenario: sc.name, Tenants: n,
			Connections: len(sc.targets), RPS: r.RPS, Ratio: r.RPS / base.RPS, FairShare: fair,
			MinShare: minS / fair, MaxShare: maxS / fair, Jain: sum * sum / (float64(n) * sumSq), P99: r.P99})
	}
	return nil
}
