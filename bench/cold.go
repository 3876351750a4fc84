package bench

import (
	"fmt"
	"time"

	"github.com/wasmtask/wasmtask/host/api"
)

// coldStart measures, per language:
//   - upload → first response: PUT of a module the server has never seen (a
//     Variant, so the compile cache misses), then the first run request;
//   - restart → first response with a warm compile cache: `wasmtask serve`
//     restarted on the same data dir; the first request to the webtask once
//     /healthz answers, and spawn → that response;
//   - the same first request after an in-process restart (api.Open);
//   - the first request after the webtask's idle instances were evicted;
//
// against two baselines of the same run: a warm pooled request to the same
// webtask, and spawn → /healthz of the same server without a webtask request.
func (h *harness) coldStart() error {
	dir := h.tempDir("cold")
	srv, err := startInProc(api.Config{DataDir: dir})
	if err != nil {
		return err
	}
	reps := max(h.opts.ColdReps, 1)
	type acc struct{ up, first, total, warm, rfirst, rtotal, inproc, evicted []float64 }
	accs := map[string]*acc{}
	var langs []Guest
	for rep := 0; rep < reps; rep++ {
		for _, g := range h.guests {
			if rep > 0 && accs[g.Lang] == nil {
				continue
			}
			name := webtaskName(g.Lang, fmt.Sprint(rep))
			v := Variant(g.wasm, fmt.Sprintf("cold %s %d %d", g.Lang, rep, time.Now().UnixNano()))
			t0 := time.Now()
			if err := upload(srv.URL(), srv.Admin(), "cold", name, v, false); err != nil {
				h.note("cold: %s skipped: %v", g.Lang, err)
				continue
			}
			t1 := time.Now()
			if _, err := get(runURL(srv.URL(), "cold", name)); err != nil {
				h.note("cold: %s skipped: %v", g.Lang, err)
				continue
			}
			t2 := time.Now()
			a := accs[g.Lang]
			if a == nil {
				a = &acc{}
				accs[g.Lang] = a
				langs = append(langs, g)
			}
			a.up = append(a.up, ms(t1.Sub(t0)))
			a.first = append(a.first, ms(t2.Sub(t1)))
			a.total = append(a.total, ms(t2.Sub(t0)))
		}
	}
	// The warm baseline: sequential pooled requests to the rep-0 webtask.
	for _, g := range langs {
		u := runURL(srv.URL(), "cold", webtaskName(g.Lang, "0"))
		var lat []float64
		for i := 0; i < 200; i++ {
			t := time.Now()
			if _, err := get(u); err != nil {
				return err
			}
			lat = append(lat, float64(time.Since(t).Nanoseconds())/1e3)
		}
		accs[g.Lang].warm = lat
	}
	srv.Close()

	// In-process restart: a new api.Server on the same data dir, then the
	// first request to the rep-0 webtask of one language.
	for rep := 0; rep < reps; rep++ {
		for _, g := range langs {
			s, err := startInProc(api.Config{DataDir: dir})
			if err != nil {
				return err
			}
			t := time.Now()
			_, err = get(runURL(s.URL(), "cold", webtaskName(g.Lang, "0")))
			d := time.Since(t)
			s.Close()
			if err != nil {
				return err
			}
			accs[g.Lang].inproc = append(accs[g.Lang].inproc, ms(d))
		}
	}

	// First request after idle eviction: a server that evicts the idle
	// instances of webtasks unused for evictIdle; each webtask is warmed,
	// left alone past the eviction, then called.
	const evictIdle = 100 * time.Millisecond
	es, err := startInProc(api.Config{DataDir: dir, IdleTimeout: evictIdle})
	if err != nil {
		return err
	}
	for rep := 0; rep < reps; rep++ {
		for _, g := range langs {
			u := runURL(es.URL(), "cold", webtaskName(g.Lang, "0"))
			if _, err := get(u); err != nil {
				es.Close()
				return err
			}
			time.Sleep(3 * evictIdle) // eviction runs every evictIdle/4
			t := time.Now()
			_, err := get(u)
			d := time.Since(t)
			if err != nil {
				es.Close()
				return err
			}
			accs[g.Lang].evicted = append(accs[g.Lang].evicted, ms(d))
		}
	}
	es.Close()

	// Process restart, and its baseline: spawn → /healthz (of every spawn).
	var ready []float64
	for rep := 0; rep < reps; rep++ {
		c, err := startChild(h.bin, dir)
		if err != nil {
			return err
		}
		ready = append(ready, ms(c.ready.Sub(c.spawned)))
		c.Close()
		for _, g := range langs {
			c, err := startChild(h.bin, dir)
			if err != nil {
				return err
			}
			ready = append(ready, ms(c.ready.Sub(c.spawned)))
			t := time.Now()
			_, err = get(runURL(c.URL(), "cold", webtaskName(g.Lang, "0")))
			end := time.Now()
			c.Close()
			if err != nil {
				return err
			}
			a := accs[g.Lang]
			a.rfirst = append(a.rfirst, ms(end.Sub(t)))
			a.rtotal = append(a.rtotal, ms(end.Sub(c.spawned)))
		}
	}
	h.res.Restart = &RestartBase{ReadyMs: median(ready)}
	for _, g := range langs {
		a := accs[g.Lang]
		row := ColdRow{Lang: g.Lang, UploadMs: median(a.up), FirstRunMs: median(a.first),
			UploadToFirstMs: median(a.total), WarmUs: median(a.warm), RestartFirstMs: median(a.rfirst),
			RestartTotalMs: median(a.rtotal), InProcFirstMs: median(a.inproc), EvictedFirstMs: median(a.evicted),
			Reps: len(a.total)}
		h.res.Cold = append(h.res.Cold, row)
		h.logf("  %-15s upload→first %8.1f ms (upload %8.1f)  restart first %6.2f ms (spawn→first %6.1f, ready %6.1f)  in-process %6.2f ms  after eviction %6.2f ms  warm %6.0f µs",
			g.Lang, row.UploadToFirstMs, row.UploadMs, row.RestartFirstMs, row.RestartTotalMs, h.res.Restart.ReadyMs,
			row.InProcFirstMs, row.EvictedFirstMs, row.WarmUs)
	}
	return nil
}
