package bench

import (
	"fmt"
	"math"
	"slices"

	"github.com/wasmtask/wasmtask/host/api"
)

// overhead measures isolation overhead: the same trivial handler as a native
// fasthttp handler (the baseline), as Extism plugins behind fasthttp, and as
// a wasmtask guest of every language, pooled and fresh, through the real
// server on loopback, at each concurrency. Every target is measured in
// Rounds short runs alternating with runs of the native baseline; its ratio
// is the median of the per-round ratios.
func (h *harness) overhead() error {
	srv, err := startInProc(api.Config{DataDir: h.tempDir("overhead")})
	if err != nil {
		return err
	}
	defer srv.Close()
	// A second server serves the fresh policy by instantiating a module per
	// request (FreshByInstantiate) instead of resetting a used instance.
	cfg := api.Config{DataDir: h.tempDir("overhead-inst")}
	cfg.Engine.FreshByInstantiate = true
	inst, err := startInProc(cfg)
	if err != nil {
		return err
	}
	defer inst.Close()

	type target struct{ name, lang, policy, url string }
	var targets []target
	var ref *response
	for _, g := range h.guests {
		for _, policy := range []string{"pool", "fresh", "fresh-instantiate"} {
			srv := srv
			if policy == "fresh-instantiate" {
				if h.opts.InstantiateLangs != nil && !slices.Contains(h.opts.InstantiateLangs, g.Lang) {
					continue
				}
				srv = inst
			}
			name := webtaskName(g.Lang, policy)
			if err := upload(srv.URL(), srv.Admin(), "bench", name, g.wasm, policy != "pool"); err != nil {
				h.note("overhead: %s/%s skipped: %v", g.Lang, policy, err)
				continue
			}
			u := runURL(srv.URL(), "bench", name)
			r, err := get(u)
			if err != nil {
				h.note("overhead: %s/%s skipped: %v", g.Lang, policy, err)
				continue
			}
			if ref == nil {
				ref = &r
			}
			targets = append(targets, target{g.Lang + "/" + policy, g.Lang, policy, u})
		}
	}
	if ref == nil {
		return fmt.Errorf("no guest answered")
	}
	nat, err := startNative(ref.ContentType, ref.Body)
	if err != nil {
		return err
	}
	defer nat.Close()
	var peers []target
	for _, p := range []struct {
		name   string
		limits bool
	}{{"extism-http", false}, {"extism-http-limits", true}} {
		ext, err := startExtismHTTP(p.limits)
		if err != nil {
			h.note("overhead: %s skipped: %v", p.name, err)
			continue
		}
		defer ext.Close()
		peers = append(peers, target{name: p.name, url: ext.url + "/"})
	}
	// Prime the process (the load generator, the scheduler, the heap) so the
	// first baseline is not the run's warm-up.
	if _, err := RunLoad(Load{Targets: []string{nat.url + "/"}, Concurrency: slices.Max(h.opts.Concurrency),
		Duration: 2 * h.opts.Warmup}); err != nil {
		return fmt.Errorf("native baseline: %w", err)
	}
	all := append(peers, targets...)
	for _, c := range h.opts.Concurrency {
		var natives []LoadResult
		for _, t := range all {
			// Warm the target at this concurrency (instances, connections),
			// then alternate it with the native baseline: N T, T N, N T, ...
			// Each ratio compares runs a fraction of a second apart, so the
			// machine's drift cancels; the row reports the median ratio.
			if _, err := RunLoad(Load{Targets: []string{t.url}, Concurrency: c, Duration: h.opts.Warmup}); err != nil {
				h.note("overhead: %s at c=%d: %v", t.name, c, err)
				continue
			}
			var runs []LoadResult
			var ratios []float64
			var failed error
			for round := 0; round < max(h.opts.Rounds, 1) && failed == nil; round++ {
				order := []string{nat.url + "/", t.url}
				if round%2 == 1 {
					order[0], order[1] = order[1], order[0]
				}
				var n, x LoadResult
				for _, u := range order {
					r, err := h.slice(u, c)
					if err != nil {
						failed = err
						break
					}
					if u == t.url {
						x = r
					} else {
						n = r
					}
				}
				if failed == nil {
					natives = append(natives, n)
					runs = append(runs, x)
					ratios = append(ratios, x.RPS/n.RPS)
				}
			}
			if failed != nil {
				h.note("overhead: %s at c=%d: %v", t.name, c, failed)
				continue
			}
			row := OverheadRow{Target: t.name, Lang: t.lang, Policy: t.policy, Concurrency: c,
				Ratio: median(ratios), LoadResult: merge(runs)}
			row.RatioMin, row.RatioMax = slices.Min(ratios), slices.Max(ratios)
			h.res.Overhead = append(h.res.Overhead, row)
			h.logf("  c=%-3d %-32s %6.2f× native (%.2f–%.2f)  %9.0f req/s  p50 %8.1f µs  p99 %9.1f µs",
				c, t.name, row.Ratio, row.RatioMin, row.RatioMax, row.RPS, row.P50, row.P99)
		}
		if len(natives) == 0 {
			continue
		}
		rps := make([]float64, len(natives))
		for i, n := range natives {
			rps[i] = n.RPS
		}
		bl := BaselineRow{Concurrency: c, Runs: len(rps), Min: slices.Min(rps), Median: median(rps), Max: slices.Max(rps)}
		mean, sd := meanStd(rps)
		bl.CV = sd / mean
		h.res.Baselines = append(h.res.Baselines, bl)
		nr := merge(natives)
		h.res.Overhead = append(h.res.Overhead, OverheadRow{Target: "native", Concurrency: c, Ratio: 1, RatioMin: 1,
			RatioMax: 1, LoadResult: nr})
	}
	return nil
}

// slice is one short load run of the paired overhead measurement.
func (h *harness) slice(url string, c int) (LoadResult, error) {
	return RunLoad(Load{Targets: []string{url}, Concurrency: c, Warmup: h.opts.Warmup / 5,
		Duration: h.opts.Duration, MaxRequests: h.opts.MaxRequests})
}

func meanStd(xs []float64) (mean, sd float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(len(xs)))
}
