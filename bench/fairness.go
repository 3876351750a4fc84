package bench

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/api"
	"github.com/wasmtask/wasmtask/host/engine"
)

// fairness measures Tenants containers sharing one in-process server, each
// with its own hello webtask (the scale language), against the baseline of
// one tenant taking all connections:
//   - equal: one connection per tenant, all sending back to back;
//   - noisy neighbour: the same plus 64 more connections for tenant 0;
//   - abuse: one tenant's latency beside 50 runaway requests (abuse).
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
	return h.abuse(g)
}

// AbuseLoops is how many runaway requests the abuse scenario keeps going.
const AbuseLoops = 50

// abuse measures a well-behaved tenant's latency (one connection to its
// hello) alone, then while AbuseLoops connections keep a runaway guest of
// another container busy (each request spins until the 2 s time limit).
// The target: its p99 within 2× of its p99 alone.
func (h *harness) abuse(g Guest) error {
	srv, err := startInProc(api.Config{DataDir: h.tempDir("abuse"), Engine: engine.Config{Timeout: 2 * time.Second}})
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := upload(srv.URL(), srv.Admin(), "good", "hello", g.wasm, false); err != nil {
		return err
	}
	if err := upload(srv.URL(), srv.Admin(), "bad", "loop", Testdata("loop"), false); err != nil {
		return err
	}
	good := runURL(srv.URL(), "good", "hello")
	run := func(name string) (LoadResult, error) {
		r, err := RunLoad(Load{Targets: []string{good}, Concurrency: 1, Warmup: h.opts.Warmup, Duration: h.opts.FairDuration})
		if err == nil {
			h.logf("  %-40s %9.0f req/s  p50 %7.1f µs  p99 %8.1f µs  errors %d", name, r.RPS, r.P50, r.P99, r.Errors)
		}
		return r, err
	}
	alone, err := run("well-behaved tenant alone")
	if err != nil {
		return err
	}
	h.res.Abuse = append(h.res.Abuse, AbuseRow{Scenario: "well-behaved tenant alone", RPS: alone.RPS, P50: alone.P50, P99: alone.P99, Ratio: 1})

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var runaways atomic.Int64
	bad := runURL(srv.URL(), "bad", "loop")
	for i := 0; i < AbuseLoops; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &fasthttp.Client{ReadTimeout: 10 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				var req fasthttp.Request
				var resp fasthttp.Response
				req.SetRequestURI(bad)
				_ = c.Do(&req, &resp)
				runaways.Add(1)
			}
		}()
	}
	time.Sleep(200 * time.Millisecond) // every runaway request started
	abused, err := run(fmt.Sprintf("with %d runaway loops in another container", AbuseLoops))
	close(stop)
	wg.Wait()
	if err != nil {
		return err
	}
	h.res.Abuse = append(h.res.Abuse, AbuseRow{Scenario: fmt.Sprintf("with %d runaway loops in another container", AbuseLoops),
		RPS: abused.RPS, P50: abused.P50, P99: abused.P99, Ratio: abused.P99 / alone.P99, Runaways: int(runaways.Load())})
	return nil
}
