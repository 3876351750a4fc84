package bench

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// guest returns the guest of a language, or an error naming what exists.
func (h *harness) guest(lang string) (Guest, error) {
	for _, g := range h.guests {
		if g.Lang == lang {
			return g, nil
		}
	}
	return Guest{}, fmt.Errorf("no %s guest built", lang)
}

// parallel runs fn(i) for i in [0, n) on workers goroutines and returns the
// number of errors and the first.
func parallel(n, workers int, fn func(i int) error) (int, error) {
	var next, errs atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					errs.Add(1)
					once.Do(func() { first = err })
				}
			}
		}()
	}
	wg.Wait()
	return int(errs.Load()), first
}

// scale deploys ScaleContainers × ScalePer webtasks, each a distinct module
// (a Variant of the scale language's hello, as every tenant brings its own
// code), into `wasmtask serve` in its own process, and measures RSS and
// time-to-ready: after the uploads, after a restart (nothing loaded yet),
// after one request to each (every webtask then holds an idle instance),
// and once the restarted server's idle eviction has run. The baseline is
// the same server with nothing deployed.
func (h *harness) scale() error {
	g, err := h.guest(h.opts.ScaleLang)
	if err != nil {
		return err
	}
	sr := &ScaleResult{Containers: h.opts.ScaleContainers, PerContainer: h.opts.ScalePer, Lang: g.Lang}
	h.res.Scale = sr
	dir := h.tempDir("scale")
	c, err := startChild(h.bin, dir)
	if err != nil {
		return err
	}
	sr.EmptyReadyMs = ms(c.ready.Sub(c.spawned))
	if sr.EmptyRSS, err = c.settledRSS(500 * time.Millisecond); err != nil {
		c.Close()
		return err
	}
	n := sr.Containers * sr.PerContainer
	name := func(i int) (string, string) {
		return fmt.Sprintf("c%04d", i/sr.PerContainer), fmt.Sprintf("w%d", i%sr.PerContainer)
	}
	t0 := time.Now()
	errs, first := parallel(n, 4, func(i int) error {
		cn, wn := name(i)
		return uploadCode(client, c.URL(), c.Admin(), cn, wn, Variant(g.wasm, cn+"/"+wn), "application/wasm", false)
	})
	if err := waitCompiled(c.URL(), c.Admin()); err != nil { // the time counts: every module compiled
		c.Close()
		return err
	}
	sr.UploadSec = time.Since(t0).Seconds()
	sr.UploadErrors = errs
	if first != nil {
		h.note("scale: %d upload errors, first: %v", errs, first)
	}
	h.logf("  uploaded %d webtasks in %.1f s", n, sr.UploadSec)
	sr.DeployedRSS, err = c.settledRSS(2 * time.Second)
	c.Close()
	if err != nil {
		return err
	}

	// The restarted server evicts idle instances after scaleIdle, so the run
	// also sees the state a quiet server returns to.
	c, err = startChild(h.bin, dir, "--idle-timeout", scaleIdle.String())
	if err != nil {
		return err
	}
	defer c.Close()
	sr.ReadyMs = ms(c.ready.Sub(c.spawned))
	if sr.IdleRSS, err = c.settledRSS(500 * time.Millisecond); err != nil {
		return err
	}
	t0 = time.Now()
	errs, first = parallel(n, 8, func(i int) error {
		cn, wn := name(i)
		_, err := get(runURL(c.URL(), cn, wn))
		return err
	})
	touched := time.Now()
	sr.TouchSec = touched.Sub(t0).Seconds()
	sr.TouchErrors = errs
	if first != nil {
		h.note("scale: %d run errors, first: %v", errs, first)
	}
	if sr.TouchedRSS, err = c.settledRSS(2 * time.Second); err != nil {
		return err
	}
	// Eviction runs every scaleIdle/4 for pools unused for scaleIdle.
	time.Sleep(time.Until(touched.Add(scaleIdle * 3 / 2)))
	sr.EvictedRSS, err = c.settledRSS(2 * time.Second)
	h.logf("  RSS empty %s, deployed %s, after restart %s (ready in %.0f ms), after touching all %s (%.1f s), after idle eviction %s",
		mib(sr.EmptyRSS.Total), mib(sr.DeployedRSS.Total), mib(sr.IdleRSS.Total), sr.ReadyMs, mib(sr.TouchedRSS.Total),
		sr.TouchSec, mib(sr.EvictedRSS.Total))
	return err
}

// memory measures what one live, idle, pooled instance costs per language:
// a server process gets one webtask (its compiled module, its first
// instance), then MemInstances more webtasks of the same module, each
// called once so that its pool keeps one idle instance; the growth of the
// anonymous RSS over the second step divided by MemInstances is the cost of
// an instance (with its share of the server's per-webtask state).
func (h *harness) memory() error {
	for _, g := range h.guests {
		// Small instances need many more to rise above the Go heap's noise.
		k := max(h.opts.MemInstances, 1)
		if g.Size < 1<<20 {
			k *= 10
		}
		row, err := h.memoryOf(g, k)
		if err != nil {
			h.note("memory: %s skipped: %v", g.Lang, err)
			continue
		}
		h.res.Memory = append(h.res.Memory, row)
		h.logf("  %-15s %s per instance (%d instances)", g.Lang, mib(int64(row.BytesPerInstance)), k)
	}
	var base float64
	for _, r := range h.res.Memory {
		if r.Lang == MinimalLang {
			base = r.BytesPerInstance
		}
	}
	for i := range h.res.Memory {
		if base > 0 {
			h.res.Memory[i].Ratio = h.res.Memory[i].BytesPerInstance / base
		}
	}
	return nil
}

func (h *harness) memoryOf(g Guest, k int) (MemoryRow, error) {
	c, err := startChild(h.bin, h.tempDir("memory"))
	if err != nil {
		return MemoryRow{}, err
	}
	defer c.Close()
	if err := upload(c.URL(), c.Admin(), "mem", "m0", g.wasm, false); err != nil {
		return MemoryRow{}, err
	}
	if _, err := get(runURL(c.URL(), "mem", "m0")); err != nil {
		return MemoryRow{}, err
	}
	a, err := c.settledRSS(500 * time.Millisecond)
	if err != nil {
		return MemoryRow{}, err
	}
	for i := 1; i <= k; i++ {
		name := fmt.Sprintf("m%d", i)
		if err := upload(c.URL(), c.Admin(), "mem", name, g.wasm, false); err != nil {
			return MemoryRow{}, err
		}
		if _, err := get(runURL(c.URL(), "mem", name)); err != nil {
			return MemoryRow{}, err
		}
	}
	b, err := c.settledRSS(500 * time.Millisecond)
	if err != nil {
		return MemoryRow{}, err
	}
	// The anonymous part: wasm memories, instance state and Go heap; file
	// pages (the bbolt map) are shared and reclaimable.
	return MemoryRow{Lang: g.Lang, Instances: k, BytesPerInstance: float64(b.Anon-a.Anon) / float64(k), FirstRSS: a, RSS: b}, nil
}

// scaleIdle is the --idle-timeout of the restarted scale server: longer than
// touching every webtask and sampling its RSS takes.
const scaleIdle = 10 * time.Second

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
