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
// server on loopback, at each concurrency. The native baseline runs before
// and after the other targets of a concurrency; ratios use their mean.
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
	if ext, err := startExtismHTTP(); err != nil {
		h.note("overhead: extism-http skipped: %v", err)
	} else {
		defer ext.Close()
		peers = append(peers, target{name: "extism-http", url: ext.url + "/"})
	}

	// Prime the process (the load generator, the scheduler, the heap) so the
	// first baseline is not the run's warm-up.
	if _, err := RunLoad(Load{Targets: []string{nat.url + "/"}, Concurrency: slices.Max(h.opts.Concurrency),
		Duration: 2 * h.opts.Warmup}); err != nil {
		return fmt.Errorf("native baseline: %w", err)
	}
	for _, c := range h.opts.Concurrency {
		before, err := h.load(nat.url+"/", c)
		if err != nil {
			return fmt.Errorf("native baseline: %w", err)
		}
		first := len(h.res.Overhead)
		for _, t := range append(peers, targets...) {
			r, err := h.load(t.url, c)
			if err != nil {
				h.note("overhead: %s at c=%d: %v", t.name, c, err)
				continue
			}
			h.res.Overhead = append(h.res.Overhead, OverheadRow{Target: t.name, Lang: t.lang, Policy: t.policy,
				Concurrency: c, LoadResult: r})
		}
		after, err := h.load(nat.url+"/", c)
		if err != nil {
			return fmt.Errorf("native baseline: %w", err)
		}
		mean := (before.RPS + after.RPS) / 2
		h.res.Baselines = append(h.res.Baselines, BaselineRow{Concurrency: c, Before: before.RPS, After: after.RPS,
			Mean: mean, Drift: math.Abs(after.RPS-before.RPS) / mean})
		nr := after
		nr.RPS = mean
		h.res.Overhead = append(h.res.Overhead, OverheadRow{Target: "native", Concurrency: c, LoadResult: nr})
		for i := first; i < len(h.res.Overhead); i++ {
			h.res.Overhead[i].Ratio = h.res.Overhead[i].RPS / mean
		}
	}
	return nil
}

// load runs the overhead load against one URL.
func (h *harness) load(url string, c int) (LoadResult, error) {
	r, err := RunLoad(Load{Targets: []string{url}, Concurrency: c, Warmup: h.opts.Warmup,
		Duration: h.opts.Duration, MaxRequests: h.opts.MaxRequests})
	if err == nil {
		h.logf("  %-40s c=%-3d %9.0f req/s  p50 %7.1f µs  p99 %8.1f µs  errors %d", url, c, r.RPS, r.P50, r.P99, r.Errors)
	}
	return r, err
}
