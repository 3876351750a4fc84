package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wasmtask/wasmtask/host/api"
)

// platform measures the figures of issue 12 (the services wt-cli and
// sandboxjs expect), through the whole server in process: a named
// webtask's storage over HTTP (get and set latency, and 16 concurrent
// read-modify-write writers: throughput, conflict rate, no lost update,
// the count kept across a restart), and the scheduling jitter of 100 cron
// jobs firing every second (CronSeconds, the server's test-only option).
// A part that fails is noted and the other still runs.
func (h *harness) platform() error {
	pr := &PlatformResult{}
	h.res.Platform = pr
	var errs []error
	if sr, err := h.platformStorage(); err != nil {
		errs = append(errs, fmt.Errorf("storage: %w", err))
	} else {
		pr.Storage = sr
	}
	if h.ctx.Err() != nil {
		return errors.Join(append(errs, h.ctx.Err())...)
	}
	if cr, err := h.platformCron(); err != nil {
		errs = append(errs, fmt.Errorf("cron: %w", err))
	} else {
		pr.Cron = cr
	}
	return errors.Join(errs...)
}

// storageDocument is the document the storage part writes: a counter, the
// writer that wrote it last, and padding to about storageDocBytes of JSON.
type storageDocument struct {
	Counter int    `json:"counter"`
	Writer  int    `json:"writer"`
	Pad     string `json:"pad"`
}

// storageDocBytes is the size of the document's JSON text.
const storageDocBytes = 1024

// storagePad makes a document's JSON text storageDocBytes long at counter
// and writer 0 (a few bytes more for larger values).
var storagePad = strings.Repeat("x", storageDocBytes-len(`{"counter":0,"writer":0,"pad":""}`))

// storageBody is the PUT body sandboxjs's updateStorage sends: the
// document's JSON text as a string, and the etag ("" for none).
func storageBody(d storageDocument, etag string, force bool) []byte {
	text, _ := json.Marshal(d)
	in := map[string]any{"data": string(text)}
	if etag != "" {
		in["etag"] = etag
	}
	if force {
		in["force"] = true
	}
	b, _ := json.Marshal(in)
	return b
}

// storageGet reads a webtask's storage: its document (zero when none is
// stored) and etag.
func storageGet(u, admin string) (storageDocument, string, response, error) {
	var d storageDocument
	r, err := do("GET", u, admin, nil, "")
	if err != nil {
		return d, "", r, err
	}
	if r.Status != 200 {
		return d, "", r, fmt.Errorf("GET %s: %d %.300s", u, r.Status, r.Body)
	}
	var doc struct {
		Data *string `json:"data"`
		ETag string  `json:"etag"`
	}
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		return d, "", r, fmt.Errorf("GET %s: %w: %.300s", u, err, r.Body)
	}
	if doc.Data != nil {
		if err := json.Unmarshal([]byte(*doc.Data), &d); err != nil {
			return d, "", r, fmt.Errorf("GET %s: data: %w", u, err)
		}
	}
	return d, doc.ETag, r, nil
}

// platformStorage measures a named webtask's storage over HTTP.
func (h *harness) platformStorage() (*StorageResult, error) {
	data := h.tempDir("platform-storage")
	srv, err := startInProc(api.Config{DataDir: data})
	if err != nil {
		return nil, err
	}
	defer func() { srv.Close() }()
	const container, name = "platform", "store"
	if err := upload(srv.URL(), srv.Admin(), container, name, Testdata("hello"), false); err != nil {
		return nil, err
	}
	u := srv.URL() + "/api/webtask/" + container + "/" + name + "/data"
	admin := srv.Admin()
	n := max(h.opts.StorageOps, 1)
	sr := &StorageResult{Ops: n, Writers: max(h.opts.StorageWriters, 1), WritesPerWriter: max(h.opts.StorageWrites, 1)}
	first, _ := json.Marshal(storageDocument{Pad: storagePad})
	sr.DocBytes = len(first)

	// Sequential: the baseline (a warm pooled run of the same webtask),
	// then n sets, each with the etag the previous one returned, then n
	// gets of the ~1 KB document.
	run := runURL(srv.URL(), container, name)
	for range 50 {
		if _, err := get(run); err != nil {
			return nil, err
		}
	}
	base := make([]float64, 0, n)
	for range n {
		t0 := time.Now()
		r, err := do("GET", run, "", nil, "")
		d := time.Since(t0)
		if err != nil || r.Status != 200 {
			return nil, fmt.Errorf("warm run: %d %v", r.Status, err)
		}
		base = append(base, float64(d.Nanoseconds())/1e3)
	}
	sr.Run = latencyOf(base)
	_, etag, _, err := storageGet(u, admin)
	if err != nil {
		return nil, err
	}
	sets := make([]float64, 0, n)
	for i := range n {
		body := storageBody(storageDocument{Counter: i + 1, Pad: storagePad}, etag, false)
		t0 := time.Now()
		r, err := do("PUT", u, admin, body, "application/json")
		d := time.Since(t0)
		if err != nil {
			return nil, err
		}
		if r.Status != 200 {
			return nil, fmt.Errorf("sequential set %d: %d %.300s", i, r.Status, r.Body)
		}
		var out struct {
			ETag string `json:"etag"`
		}
		if err := json.Unmarshal(r.Body, &out); err != nil || out.ETag == "" {
			return nil, fmt.Errorf("sequential set %d: no etag in %.300s", i, r.Body)
		}
		etag = out.ETag
		sets = append(sets, float64(d.Nanoseconds())/1e3)
	}
	sr.Set = latencyOf(sets)
	gets := make([]float64, 0, n)
	for i := range n {
		t0 := time.Now()
		r, err := do("GET", u, admin, nil, "")
		d := time.Since(t0)
		if err != nil || r.Status != 200 {
			return nil, fmt.Errorf("sequential get %d: %d %v", i, r.Status, err)
		}
		gets = append(gets, float64(d.Nanoseconds())/1e3)
	}
	sr.Get = latencyOf(gets)
	if doc, _, _, err := storageGet(u, admin); err != nil || doc.Counter != n {
		return nil, fmt.Errorf("after %d sequential sets the counter is %d (%v)", n, doc.Counter, err)
	}
	h.logf("  storage %d B: get p50 %.0f µs p99 %.0f µs, set p50 %.0f µs p99 %.0f µs (warm run p50 %.0f µs)",
		sr.DocBytes, sr.Get.P50, sr.Get.P99, sr.Set.P50, sr.Set.P99, sr.Run.P50)

	// Concurrent read-modify-write from a counter reset to 0.
	if r, err := do("PUT", u, admin, storageBody(storageDocument{Pad: storagePad}, "", true), "application/json"); err != nil || r.Status != 200 {
		return nil, fmt.Errorf("reset: %d %v", r.Status, err)
	}
	if err := h.storageWriters(sr, u, admin); err != nil {
		return nil, err
	}
	doc, _, _, err := storageGet(u, admin)
	if err != nil {
		return nil, err
	}
	sr.FinalCounter = doc.Counter
	srv.Close()
	if srv, err = startInProc(api.Config{DataDir: data}); err != nil {
		return nil, fmt.Errorf("restart: %w", err)
	}
	doc, _, _, err = storageGet(srv.URL()+"/api/webtask/"+container+"/"+name+"/data", srv.Admin())
	if err != nil {
		return nil, fmt.Errorf("after a restart: %w", err)
	}
	sr.RestartCounter = doc.Counter
	sr.NoLostUpdate = sr.Errors == 0 && sr.FinalCounter == sr.Acked && sr.RestartCounter == sr.Acked
	h.logf("  storage %d writers × %d writes: %.0f writes/s, %d PUTs, %d conflicts (%.1f%%), counter %d / restart %d / acknowledged %d",
		sr.Writers, sr.WritesPerWriter, sr.WritesPerSec, sr.Attempts, sr.Conflicts, 100*sr.ConflictRate,
		sr.FinalCounter, sr.RestartCounter, sr.Acked)
	if !sr.NoLostUpdate {
		h.note("platform: storage: LOST UPDATE or error: %d writes acknowledged, counter %d (after a restart %d), %d errors (first: %s)",
			sr.Acked, sr.FinalCounter, sr.RestartCounter, sr.Errors, sr.FirstErr)
	}
	return sr, nil
}

// storageWriters runs sr.Writers writers, each until sr.WritesPerWriter
// of its writes are acknowledged: get, increment the counter, put with
// the etag read; a 409 means another writer won, and the writer starts
// over. Bounded by storageWritersLimit.
func (h *harness) storageWriters(sr *StorageResult, u, admin string) error {
	var (
		mu   sync.Mutex
		rmw  []float64 // ms, first GET → acknowledged PUT
		wg   sync.WaitGroup
		stop = time.Now().Add(storageWritersLimit)
	)
	start := time.Now()
	for w := range sr.Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var acked, puts, conflicts, gets, errs int
			var firstErr string
			var lat []float64
			fail := func(s string) {
				errs++
				if firstErr == "" {
					firstErr = s
				}
			}
			t0 := time.Now()
			for acked < sr.WritesPerWriter && errs < 10 && time.Now().Before(stop) && h.ctx.Err() == nil {
				doc, etag, _, err := storageGet(u, admin)
				gets++
				if err != nil {
					fail(err.Error())
					continue
				}
				doc.Counter++
				doc.Writer = w
				r, err := do("PUT", u, admin, storageBody(doc, etag, false), "application/json")
				puts++
				switch {
				case err != nil:
					fail(err.Error())
				case r.Status == 200:
					acked++
					lat = append(lat, ms(time.Since(t0)))
					t0 = time.Now()
				case r.Status == 409:
					conflicts++
				default:
					fail(fmt.Sprintf("PUT: %d %.200s", r.Status, r.Body))
				}
			}
			if acked < sr.WritesPerWriter && firstErr == "" {
				fail(fmt.Sprintf("writer %d: %d of %d writes acknowledged when stopped", w, acked, sr.WritesPerWriter))
			}
			mu.Lock()
			defer mu.Unlock()
			sr.Acked += acked
			sr.Attempts += puts
			sr.Conflicts += conflicts
			sr.Gets += gets
			sr.Errors += errs
			if sr.FirstErr == "" {
				sr.FirstErr = firstErr
			}
			rmw = append(rmw, lat...)
		}()
	}
	wg.Wait()
	sr.Seconds = time.Since(start).Seconds()
	if sr.Seconds > 0 {
		sr.WritesPerSec = float64(sr.Acked) / sr.Seconds
	}
	if sr.Attempts > 0 {
		sr.ConflictRate = float64(sr.Conflicts) / float64(sr.Attempts)
	}
	slices.Sort(rmw)
	sr.WriteP50, sr.WriteP99, sr.WriteMax = percentile(rmw, 0.5), percentile(rmw, 0.99), percentile(rmw, 1)
	return h.ctx.Err()
}

// storageWritersLimit bounds the concurrent writers' part.
const storageWritersLimit = 3 * time.Minute

// latencyOf sorts xs (µs) and returns its percentiles.
func latencyOf(xs []float64) Latency {
	slices.Sort(xs)
	return Latency{N: len(xs), P50: percentile(xs, 0.5), P90: percentile(xs, 0.9), P99: percentile(xs, 0.99), Max: percentile(xs, 1)}
}

// cronSchedule is the jobs' schedule: every second (6 fields, which only
// a server with CronSeconds accepts).
const cronSchedule = "* * * * * *"

// cronJobView is what the part reads of a job and of its history.
type cronJobView struct {
	NextScheduledAt *time.Time `json:"next_scheduled_at"`
}

type cronRunView struct {
	ScheduledAt time.Time `json:"scheduled_at"`
	StartedAt   time.Time `json:"started_at"`
	CompletedAt time.Time `json:"completed_at"`
	Type        string    `json:"type"`
	StatusCode  int       `json:"statusCode"`
	Body        string    `json:"body"`
}

// missedCount reads how many slots a missed run records ("… N scheduled
// times, from … to …"; one otherwise).
var missedCount = regexp.MustCompile(`(\d+) scheduled times`)

// platformCron creates CronJobs jobs firing every second, spread over
// containers of the default job limit, each running its own deployed
// webtask (no token); lets them run for CronWindow; deactivates them one
// by one; and reads every job's history: the lateness of each run
// (started_at − scheduled_at), the slots recorded as missed, and the slots
// that due before the job's cutoff (its deactivation less a second) were
// neither run nor recorded.
func (h *harness) platformCron() (*CronResult, error) {
	srv, err := startInProc(api.Config{DataDir: h.tempDir("platform-cron"), CronSeconds: true})
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	jobs := max(h.opts.CronJobs, 1)
	per := api.DefaultConfig().MaxCronJobs
	cr := &CronResult{Jobs: jobs, PerContainer: per, Containers: (jobs + per - 1) / per, Schedule: cronSchedule,
		WindowSec: h.opts.CronWindow.Seconds()}
	type job struct {
		c, n   string
		first  time.Time
		cutoff time.Time
	}
	all := make([]job, jobs)
	wasm := Testdata("hello")
	for i := range all {
		all[i] = job{c: fmt.Sprintf("cron%02d", i/per), n: fmt.Sprintf("j%03d", i)}
		if err := upload(srv.URL(), srv.Admin(), all[i].c, all[i].n, wasm, false); err != nil {
			return nil, err
		}
	}
	jobURL := func(j job) string { return srv.URL() + "/api/cron/" + j.c + "/" + j.n }
	body, _ := json.Marshal(map[string]any{"schedule": cronSchedule, "tz": "UTC", "state": "active"})
	t0 := time.Now()
	for i, j := range all {
		r, err := do("PUT", jobURL(j), srv.Admin(), body, "application/json")
		if err != nil || r.Status != 200 {
			return nil, fmt.Errorf("PUT %s: %d %v %.300s", jobURL(j), r.Status, err, r.Body)
		}
		var v cronJobView
		if err := json.Unmarshal(r.Body, &v); err != nil || v.NextScheduledAt == nil {
			return nil, fmt.Errorf("PUT %s: no next_scheduled_at in %.300s", jobURL(j), r.Body)
		}
		all[i].first = *v.NextScheduledAt
	}
	cr.CreateSec = time.Since(t0).Seconds()
	h.logf("  %d cron jobs in %d containers created in %.2f s; running for %s", jobs, cr.Containers, cr.CreateSec, h.opts.CronWindow)
	select {
	case <-time.After(h.opts.CronWindow):
	case <-h.ctx.Done():
		return nil, h.ctx.Err()
	}
	state, _ := json.Marshal(map[string]string{"state": "inactive"})
	for i, j := range all {
		all[i].cutoff = time.Now().Add(-cronGrace)
		if r, err := do("PUT", jobURL(j)+"/state", srv.Admin(), state, "application/json"); err != nil || r.Status != 200 {
			return nil, fmt.Errorf("PUT %s/state: %d %v %.300s", jobURL(j), r.Status, err, r.Body)
		}
	}
	time.Sleep(cronGrace / 4) // the runs in flight (of slots after every cutoff) record their results

	var late, dur []float64
	var missedPerJob []float64
	for _, j := range all {
		r, err := do("GET", jobURL(j)+"/history?limit=100", srv.Admin(), nil, "")
		if err != nil || r.Status != 200 {
			return nil, fmt.Errorf("GET %s/history: %d %v %.300s", jobURL(j), r.Status, err, r.Body)
		}
		var runs []cronRunView
		if err := json.Unmarshal(r.Body, &runs); err != nil {
			return nil, fmt.Errorf("GET %s/history: %w", jobURL(j), err)
		}
		expected := 0
		for t := j.first; !t.After(j.cutoff); t = t.Add(time.Second) {
			expected++
		}
		accounted, missed := 0, 0
		for _, run := range runs {
			if run.Type == "missed" {
				n := 1
				if m := missedCount.FindStringSubmatch(run.Body); m != nil {
					n, _ = strconv.Atoi(m[1])
				}
				for k := range n {
					if !run.ScheduledAt.Add(time.Duration(k) * time.Second).After(j.cutoff) {
						missed++
					}
				}
				continue
			}
			if run.ScheduledAt.After(j.cutoff) {
				continue
			}
			accounted++
			cr.Runs++
			if run.Type != "success" || run.StatusCode != 200 {
				cr.Errors++
				if cr.FirstError == "" {
					cr.FirstError = fmt.Sprintf("%s/%s at %s: %s %d %.200s", j.c, j.n, run.ScheduledAt.Format(time.RFC3339),
						run.Type, run.StatusCode, run.Body)
				}
			}
			late = append(late, ms(run.StartedAt.Sub(run.ScheduledAt)))
			dur = append(dur, ms(run.CompletedAt.Sub(run.StartedAt)))
		}
		accounted += missed
		cr.Slots += expected
		cr.Missed += missed
		if missed > 0 {
			cr.JobsMissed++
		}
		missedPerJob = append(missedPerJob, float64(missed))
		if expected > accounted {
			cr.Unaccounted += expected - accounted
		}
	}
	slices.Sort(late)
	slices.Sort(dur)
	slices.Sort(missedPerJob)
	cr.LateP50, cr.LateP90, cr.LateP99, cr.LateMax = percentile(late, 0.5), percentile(late, 0.9), percentile(late, 0.99), percentile(late, 1)
	if len(late) > 0 {
		cr.LateMin = late[0]
	}
	cr.RunP50, cr.RunP99 = percentile(dur, 0.5), percentile(dur, 0.99)
	cr.MissedPerJobMax = percentile(missedPerJob, 1)
	if cr.Slots > 0 {
		cr.MissedRate = float64(cr.Missed) / float64(cr.Slots)
	}
	h.logf("  cron: %d slots, %d runs (%d errors), %d missed (%.2f%%, %d jobs), %d unaccounted; late p50 %.1f ms p99 %.1f ms max %.1f ms",
		cr.Slots, cr.Runs, cr.Errors, cr.Missed, 100*cr.MissedRate, cr.JobsMissed, cr.Unaccounted, cr.LateP50, cr.LateP99, cr.LateMax)
	if cr.Errors > 0 {
		h.note("platform: cron: %d runs were not a 200 success (first: %s)", cr.Errors, cr.FirstError)
	}
	if cr.Unaccounted > 0 {
		h.note("platform: cron: %d slots due before their job's cutoff were neither run nor recorded as missed", cr.Unaccounted)
	}
	return cr, nil
}

// cronGrace is how long before its deactivation a job's slots are
// counted: a slot due later may still be waiting for the scheduler.
const cronGrace = time.Second
