package bench

import (
	"fmt"
	"runtime"
	"syscall"
	"time"

	"github.com/wasmtask/wasmtask/host/api"
)

// coldCode is what the cold-start measurement deploys: a label, and for a
// tag, code the server has never seen (its bytes and content type) that
// answers like every other tag's.
type coldCode struct {
	Lang string
	code func(tag string) (body []byte, contentType string)
}

// wasmCold is a guest's hello as cold code: a Variant per tag.
func wasmCold(g Guest) coldCode {
	return coldCode{Lang: g.Lang, code: func(tag string) ([]byte, string) { return Variant(g.wasm, tag), "application/wasm" }}
}

// coldStart measures, per language:
//   - upload → first response: PUT of a module the server has never seen (a
//     Variant, so the compile cache misses), then the first run request;
//   - restart → first response with a warm compile cache: `wasmtask serve`
//     restarted on the same data dir; the first request to the webtask once
//     /readyz answers, and spawn → that response;
//   - the same first request after an in-process restart (api.Open);
//   - the first request after the webtask's idle instances were evicted;
//
// against two baselines of the same run: a warm pooled request to the same
// webtask, and spawn → /readyz of the same server without a webtask request.
func (h *harness) coldStart() error {
	var codes []coldCode
	for _, g := range h.guests {
		codes = append(codes, wasmCold(g))
	}
	rows, ready, err := h.coldOf(codes, api.Config{}, nil)
	if err != nil {
		return err
	}
	h.res.Restart = &RestartBase{ReadyMs: ready}
	h.res.Cold = append(h.res.Cold, rows...)
	return nil
}

// coldOf measures the cold starts of codes (see coldStart) on servers
// configured by cfg (its DataDir and IdleTimeout are set here) and, for
// the process restart, `wasmtask serve` with childArgs. It returns a row
// per code that deployed, and the restart baseline: the median of spawn →
// /readyz.
func (h *harness) coldOf(codes []coldCode, cfg api.Config, childArgs []string) ([]ColdRow, float64, error) {
	dir := h.tempDir("cold")
	cfg.DataDir = dir
	srv, err := startInProc(cfg)
	if err != nil {
		return nil, 0, err
	}
	reps := max(h.opts.ColdReps, 1)
	type acc struct{ up, first, total, warm, rfirst, rtotal, inproc, evicted []float64 }
	accs := map[string]*acc{}
	var langs []coldCode
	for rep := 0; rep < reps; rep++ {
		for _, g := range codes {
			if rep > 0 && accs[g.Lang] == nil {
				continue
			}
			name := webtaskName(g.Lang, fmt.Sprint(rep))
			v, ct := g.code(fmt.Sprintf("cold %s %d %d", g.Lang, rep, time.Now().UnixNano()))
			if err := settle(srv); err != nil {
				srv.Close()
				return nil, 0, err
			}
			t0 := time.Now()
			if err := uploadCode(client, srv.URL(), srv.Admin(), "cold", name, v, ct, false); err != nil {
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
	// Tiered modules compile in the background: the warm baseline, and the
	// restarts' compile cache, need them compiled.
	if err := waitCompiled(srv.URL(), srv.Admin()); err != nil {
		srv.Close()
		return nil, 0, err
	}
	// The warm baseline: sequential pooled requests to the rep-0 webtask.
	for _, g := range langs {
		u := runURL(srv.URL(), "cold", webtaskName(g.Lang, "0"))
		var lat []float64
		for i := 0; i < 200; i++ {
			t := time.Now()
			if _, err := get(u); err != nil {
				return nil, 0, err
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
			s, err := startInProc(cfg)
			if err != nil {
				return nil, 0, err
			}
			if err := waitURL(s.URL()+"/readyz", time.Minute); err != nil {
				s.Close()
				return nil, 0, err
			}
			t := time.Now()
			_, err = get(runURL(s.URL(), "cold", webtaskName(g.Lang, "0")))
			d := time.Since(t)
			s.Close()
			if err != nil {
				return nil, 0, err
			}
			accs[g.Lang].inproc = append(accs[g.Lang].inproc, ms(d))
		}
	}

	// First request after idle eviction: a server that evicts the idle
	// instances of webtasks unused for evictIdle; each webtask is warmed,
	// left alone past the eviction, then called.
	const evictIdle = 100 * time.Millisecond
	ecfg := cfg
	ecfg.IdleTimeout = evictIdle
	es, err := startInProc(ecfg)
	if err != nil {
		return nil, 0, err
	}
	for rep := 0; rep < reps; rep++ {
		for _, g := range langs {
			u := runURL(es.URL(), "cold", webtaskName(g.Lang, "0"))
			if _, err := get(u); err != nil {
				es.Close()
				return nil, 0, err
			}
			time.Sleep(3 * evictIdle) // eviction runs every evictIdle/4
			t := time.Now()
			_, err := get(u)
			d := time.Since(t)
			if err != nil {
				es.Close()
				return nil, 0, err
			}
			accs[g.Lang].evicted = append(accs[g.Lang].evicted, ms(d))
		}
	}
	es.Close()

	// Process restart, and its baseline: spawn → /readyz (of every spawn).
	var ready []float64
	for rep := 0; rep < reps; rep++ {
		c, err := startChild(h.bin, dir, childArgs...)
		if err != nil {
			return nil, 0, err
		}
		ready = append(ready, ms(c.ready.Sub(c.spawned)))
		c.Close()
		for _, g := range langs {
			c, err := startChild(h.bin, dir, childArgs...)
			if err != nil {
				return nil, 0, err
			}
			ready = append(ready, ms(c.ready.Sub(c.spawned)))
			t := time.Now()
			_, err = get(runURL(c.URL(), "cold", webtaskName(g.Lang, "0")))
			end := time.Now()
			c.Close()
			if err != nil {
				return nil, 0, err
			}
			a := accs[g.Lang]
			a.rfirst = append(a.rfirst, ms(end.Sub(t)))
			a.rtotal = append(a.rtotal, ms(end.Sub(c.spawned)))
		}
	}
	readyMs := median(ready)
	var rows []ColdRow
	for _, g := range langs {
		a := accs[g.Lang]
		row := ColdRow{Lang: g.Lang, UploadMs: median(a.up), FirstRunMs: median(a.first),
			UploadToFirstMs: median(a.total), WarmUs: median(a.warm), RestartFirstMs: median(a.rfirst),
			RestartTotalMs: median(a.rtotal), InProcFirstMs: median(a.inproc), EvictedFirstMs: median(a.evicted),
			Reps: len(a.total)}
		rows = append(rows, row)
		h.logf("  %-15s upload→first %8.1f ms (upload %8.1f)  restart first %6.2f ms (spawn→first %6.1f, ready %6.1f)  in-process %6.2f ms  after eviction %6.2f ms  warm %6.0f µs",
			g.Lang, row.UploadToFirstMs, row.UploadMs, row.RestartFirstMs, row.RestartTotalMs, readyMs,
			row.InProcFirstMs, row.EvictedFirstMs, row.WarmUs)
	}
	return rows, readyMs, nil
}

// settle lets the previous measurement's aftermath pass before the next
// upload is timed: the server is in this process, and uploading a Go
// guest (3 MB, ~1 GB of compiler garbage, a 10 MB cache file) left a
// garbage collection running and dirty pages that the next upload's
// bbolt commit had to wait for (ext4 orders a commit after the data
// written before it) — a C upload right behind a Go one took 8-17 ms
// against 2-3 ms alone. Each language's upload is measured on a settled
// server: one where the background compiles of earlier uploads (tiered
// compilation) have ended too.
func settle(srv server) error {
	if err := waitCompiled(srv.URL(), srv.Admin()); err != nil {
		return err
	}
	runtime.GC()
	syscall.Sync()
	return nil
}
