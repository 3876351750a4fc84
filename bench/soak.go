package bench

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/api"
)

// The soak's server settings and verdict margins. The server runs with a
// short idle timeout so that a quiet server evicts its instances within
// seconds, a short wall-time limit so that a runaway guest costs little CPU
// (it is also the limit of a Go guest's _initialize at upload, which takes
// milliseconds but must not fail on a busy shared machine: hence not less),
// and a small run-body limit so that an oversized body is cheap to send.
const (
	soakIdle    = 5 * time.Second // --idle-timeout
	soakTimeout = 2 * time.Second // --timeout: the runaway guest's 504
	soakMaxBody = 64 << 10        // --max-body-bytes: the oversized body's 413

	// Flat: RSS after the load, once idle, at most soakRSSFactor × the RSS
	// after the warm-up (idle too) plus soakRSSSlack, and open descriptors
	// within soakFDSlack of theirs.
	soakRSSFactor = 1.25
	soakRSSSlack  = 32 << 20
	soakFDSlack   = 10

	// One container in soakGoEvery holds a Go webtask (a 3 MB module whose
	// replacement compiles for about half a second); the rest are small.
	soakGoEvery = 25
	// Latency samples kept per kind of request.
	soakLatSamples = 1 << 16
	// How long a log stream may take to deliver a record while its
	// container's webtasks run: generous, for a busy shared machine.
	soakRecordWait = 10 * time.Second
)

// soakKinds are the soak's kinds of request and the statuses each expects;
// anything else, or a transport error, is unexpected and fails the soak.
var soakKinds = []struct {
	name   string
	expect []int
}{
	{"run pooled", []int{200}},
	{"run fresh", []int{200}},
	{"run deleted webtask", []int{404}},
	{"create", []int{200}},
	{"replace", []int{200}},
	{"delete", []int{204}},
	{"token issue", []int{200}},
	{"token use", []int{200}},
	{"token revoke", []int{200}},
	{"revoked token", []int{401}},
	{"log stream", []int{200}},
	{"oversized body", []int{413}},
	{"bad token", []int{401}},
	{"forged token", []int{401}},
	{"rate-limited token", []int{200, 429}},
	{"runaway guest", []int{504}},
}

// soakSlot is one tenant webtask. Runs hold mu for reading and changes
// (replace, delete, create) for writing, so that every response has one
// expected status: concurrency is across webtasks, not within one.
type soakSlot struct {
	mu        sync.RWMutex
	container string
	name      string
	guest     Guest
	fresh     bool
	exists    bool
	gen       int
}

// soakCounter tallies one kind of request.
type soakCounter struct {
	mu     sync.Mutex
	expect []int
	k      SoakKind
	lat    []float64 // ms
}

// soakRun is one soak in progress.
type soakRun struct {
	h        *harness
	c        *child
	hc       *fasthttp.Client
	sse      *http.Client
	start    time.Time
	slots    []*soakSlot
	per      int
	clients  int
	rateTok  string // fixes hostile/hello, 1 run a second
	forged   string // the admin token with a damaged signature
	big      []byte // an oversized run body
	counters map[string]*soakCounter
	done     atomic.Int64
	phase    atomic.Pointer[string]
	heavy    sync.Mutex // one upload of a large module at a time

	stopSampler func()

	mu      sync.Mutex
	samples []SoakSample
}

// soak starts `wasmtask serve` on a fresh data dir, deploys SoakContainers
// × SoakPer webtasks (the built hellos, pooled and fresh), and drives a mixed
// load for SoakDuration: runs, replacements, deletes and re-creates, token
// issue and revoke, log streams, hostile requests. After the warm-up and
// after the load it waits for idle eviction and samples the process; the
// verdict compares the two.
func (h *harness) soak() (err error) {
	t0 := time.Now()
	sr := &SoakResult{Containers: h.opts.SoakContainers, PerContainer: max(h.opts.SoakPer, 1),
		Clients: max(h.opts.SoakClients, 9), DurationSec: h.opts.SoakDuration.Seconds(), Verdict: "incomplete"}
	h.res.Soak = sr
	defer func() {
		if err != nil {
			sr.Verdict = "FAIL: incomplete: " + err.Error()
		}
	}()
	// The whole soak is bounded: setup, load and both idle waits.
	ctx, cancel := context.WithTimeout(h.ctx, h.opts.SoakDuration+90*time.Second)
	defer cancel()
	s, err := h.soakStart(ctx, sr)
	if err != nil {
		return err
	}
	defer func() {
		s.stopSampler()
		if s.c != nil {
			s.c.Close()
		}
	}()

	warm := min(max(h.opts.SoakDuration/6, 2*time.Second), 30*time.Second)
	sr.WarmupSec = warm.Seconds()
	h.logf("  warm-up %s", warm)
	s.load(ctx, "warm-up", warm)
	s.point(sr, "end of warm-up (connections open)", s.sample())
	base := s.idle(ctx, "warm-up idle")
	s.point(sr, fmt.Sprintf("after warm-up, idle %s", soakIdleWait()), base)

	h.logf("  load %s from %d clients", h.opts.SoakDuration-warm, sr.Clients)
	loadFrom := len(s.snapshot())
	s.load(ctx, "load", h.opts.SoakDuration-warm)
	end := s.sample()
	s.point(sr, "peak during load (each column its maximum)", peak(s.snapshot()[loadFrom:]))
	s.point(sr, "end of load (connections open)", end)
	after := s.idle(ctx, "after idle")
	s.point(sr, fmt.Sprintf("after load, idle %s", soakIdleWait()), after)
	if ctx.Err() != nil {
		return fmt.Errorf("stopped: %w", ctx.Err())
	}

	s.stopSampler()
	s.c.Close()
	sr.ServerExit = serverExit(s.c)
	s.c = nil
	sr.Samples = s.snapshot()
	sr.LoadSlopeMiBMin = slope(sr.Samples[loadFrom:], "load")
	s.finish(sr, base, after)
	sr.TotalSec = time.Since(t0).Seconds()
	h.logf("  %s (%.0f s in all)", sr.Verdict, sr.TotalSec)
	return nil
}

// soakIdleWait is how long the soak leaves the server alone before it
// samples it idle: past the idle timeout and the eviction pass after it.
func soakIdleWait() time.Duration { return soakIdle*3/2 + time.Second }

// soakStart starts the server and deploys the tenants.
func (h *harness) soakStart(ctx context.Context, sr *SoakResult) (*soakRun, error) {
	s := &soakRun{h: h, per: sr.PerContainer, clients: sr.Clients, counters: map[string]*soakCounter{},
		big: make([]byte, soakMaxBody+1),
		hc: &fasthttp.Client{ReadTimeout: time.Minute, WriteTimeout: time.Minute, MaxConnsPerHost: sr.Clients + 16,
			MaxIdleConnDuration: time.Minute, DisablePathNormalizing: true, NoDefaultUserAgentHeader: true},
		sse: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
	for _, k := range soakKinds {
		s.counters[k.name] = &soakCounter{expect: k.expect,
			k: SoakKind{Kind: k.name, Expected: joinInts(k.expect), Statuses: map[string]int{}}}
	}
	phase := "setup"
	s.phase.Store(&phase)
	sr.ServerArgs = []string{"--idle-timeout", soakIdle.String(), "--timeout", soakTimeout.String(),
		"--max-body-bytes", strconv.Itoa(soakMaxBody)}
	dir := h.tempDir("soak")
	c, err := startChild(h.bin, dir, sr.ServerArgs...)
	if err != nil {
		return nil, err
	}
	s.c, s.start = c, c.spawned
	empty, err := c.settledRSS(500 * time.Millisecond)
	if err != nil {
		c.Close()
		return nil, err
	}
	first := s.sample()
	first.RSS, first.Anon = empty.Total, empty.Anon
	s.point(sr, "empty server", first)
	s.stopSampler = s.sampler(ctx)
	if err := s.deploy(ctx, sr); err != nil {
		s.stopSampler()
		c.Close()
		return nil, err
	}
	sr.SetupSec = time.Since(c.spawned).Seconds()
	s.point(sr, "all deployed", s.sample())
	h.logf("  deployed %d webtasks (%s) in %.1f s", len(s.slots), strings.Join(sr.Langs, ", "), sr.SetupSec)
	return s, nil
}

// deploy uploads the tenants' webtasks and the hostile container: a runaway
// guest, and a hello run through a token limited to one run a second.
func (s *soakRun) deploy(ctx context.Context, sr *SoakResult) error {
	var small []Guest
	var goGuest *Guest
	for _, g := range s.h.guests {
		if g.Lang == "go" {
			goGuest = &g
		} else {
			small = append(small, g)
		}
	}
	for ci := 0; ci < sr.Containers; ci++ {
		for wi := 0; wi < sr.PerContainer; wi++ {
			g := small[(ci+wi)%len(small)]
			if goGuest != nil && ci%soakGoEvery == 0 && wi == sr.PerContainer-1 {
				g = *goGuest
			}
			s.slots = append(s.slots, &soakSlot{container: fmt.Sprintf("t%03d", ci), name: fmt.Sprintf("w%d", wi),
				guest: g, fresh: wi%2 == 1, exists: true})
		}
	}
	for _, g := range small {
		sr.Langs = append(sr.Langs, g.Lang)
	}
	if goGuest != nil && sr.Containers > 0 {
		sr.Langs = append(sr.Langs, fmt.Sprintf("go (one container in %d)", soakGoEvery))
	}
	errs, first := parallel(len(s.slots), 4, func(i int) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		sl := s.slots[i]
		r, err := s.put(sl)
		if err == nil && r.Status != 200 {
			err = fmt.Errorf("%d %.200s", r.Status, r.Body)
		}
		if err != nil {
			return fmt.Errorf("upload %s/%s: %w", sl.container, sl.name, err)
		}
		return nil
	})
	if errs > 0 {
		return fmt.Errorf("%d of %d uploads failed, first: %w", errs, len(s.slots), first)
	}
	base, admin := s.c.URL(), s.c.Admin()
	for name, wasm := range map[string][]byte{"hello": Testdata("hello"), "loop": Testdata("loop")} {
		if err := uploadWith(s.hc, base, admin, "hostile", name, wasm, false); err != nil {
			return err
		}
	}
	r, err := doWith(s.hc, "POST", base+"/api/tokens/issue", admin,
		[]byte(`{"ten":"hostile","jtn":"hello","lts":1}`), "application/json")
	if err == nil && r.Status != 200 {
		err = fmt.Errorf("%d %.200s", r.Status, r.Body)
	}
	if err != nil {
		return fmt.Errorf("issue the rate-limited token: %w", err)
	}
	s.rateTok = strings.TrimSpace(string(r.Body))
	s.forged = forge(admin)
	return nil
}

// forge damages a JWT's signature: a character in its middle, where every
// bit counts (the last one carries padding bits).
func forge(tok string) string {
	i := strings.LastIndexByte(tok, '.') + (len(tok)-strings.LastIndexByte(tok, '.'))/2
	b := []byte(tok)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// put uploads a slot's module (a Variant of its guest, new each generation,
// so that every replacement is a compile and a new cache entry). Uploads of
// modules over 1 MiB go one at a time, as the server compiles them: one
// waiting longer than 500 ms for that lane is refused with 503, a refusal
// for the client to retry, which would only blur the soak's error count.
func (s *soakRun) put(sl *soakSlot) (response, error) {
	if len(sl.guest.wasm) > 1<<20 {
		s.heavy.Lock()
		defer s.heavy.Unlock()
	}
	u := s.c.URL() + "/api/webtask/" + sl.container + "/" + sl.name
	if sl.fresh {
		u += "?meta=" + api.MetaPolicy + ":fresh"
	}
	wasm := Variant(sl.guest.wasm, fmt.Sprintf("%s/%s/%d", sl.container, sl.name, sl.gen))
	return doWith(s.hc, "PUT", u, s.c.Admin(), wasm, "application/wasm")
}

// load runs the workers for d (or until the server exits): eight clients
// are paced and do everything else, the rest run webtasks back to back.
func (s *soakRun) load(ctx context.Context, phase string, d time.Duration) {
	s.phase.Store(&phase)
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	go func() {
		select {
		case <-s.c.exited:
			s.h.note("soak: the server exited during the %s: %s", phase, serverExit(s.c))
			cancel()
		case <-ctx.Done():
		}
	}()
	type worker struct {
		n     int
		op    func(*rand.Rand)
		pause time.Duration
	}
	var hostile atomic.Int64
	workers := []worker{
		{s.clients - 8, s.runRandom, 0},
		{2, s.mutate, 20 * time.Millisecond},
		{2, s.tokens, 20 * time.Millisecond},
		{2, s.logs, 50 * time.Millisecond},
		{1, func(rng *rand.Rand) { s.hostile(rng, int(hostile.Add(1))) }, 25 * time.Millisecond},
		{1, s.runaway, 4 * soakTimeout}, // a core busy a fifth of the time
	}
	var wg sync.WaitGroup
	seed := uint64(time.Now().UnixNano())
	for _, w := range workers {
		for i := 0; i < max(w.n, 1); i++ {
			seed++
			wg.Add(1)
			go func(rng *rand.Rand) {
				defer wg.Done()
				for ctx.Err() == nil {
					w.op(rng)
					if w.pause > 0 {
						select {
						case <-ctx.Done():
						case <-time.After(w.pause):
						}
					}
				}
			}(rand.New(rand.NewPCG(seed, 0x50a4)))
		}
	}
	wg.Wait()
}

// idle closes the client's connections, leaves the server alone until its
// idle instances were evicted, and returns the smallest of a few samples.
func (s *soakRun) idle(ctx context.Context, phase string) SoakSample {
	s.phase.Store(&phase)
	s.hc.CloseIdleConnections()
	select {
	case <-ctx.Done():
	case <-time.After(soakIdleWait()):
	}
	best := s.sample()
	for i := 0; i < 2; i++ {
		time.Sleep(500 * time.Millisecond)
		v := s.sample()
		best.RSS, best.Anon = min(best.RSS, v.RSS), min(best.Anon, v.Anon)
		best.FDs, best.Threads = min(best.FDs, v.FDs), min(best.Threads, v.Threads)
	}
	return best
}

// record counts one response of a kind; err (a transport error, or a check
// that failed on a response) makes it unexpected whatever its status.
func (s *soakRun) record(kind string, status int, body []byte, err error, d time.Duration) {
	s.done.Add(1)
	c := s.counters[kind]
	c.mu.Lock()
	defer c.mu.Unlock()
	c.k.Requests++
	key := strconv.Itoa(status)
	if err != nil && status == 0 {
		key = "error"
	}
	c.k.Statuses[key]++
	if err == nil && !slices.Contains(c.expect, status) {
		err = fmt.Errorf("status %d: %.200s", status, body)
	}
	if err != nil {
		c.k.Unexpected++
		if c.k.FirstUnexpected == "" {
			c.k.FirstUnexpected = err.Error()
		}
	}
	if len(c.lat) < soakLatSamples { // then a uniform reservoir over the whole soak
		c.lat = append(c.lat, ms(d))
	} else if j := rand.IntN(c.k.Requests); j < soakLatSamples {
		c.lat[j] = ms(d)
	}
}

// call sends one request and records it as kind.
func (s *soakRun) call(kind, method, url, token string, body []byte, ct string) response {
	t0 := time.Now()
	r, err := doWith(s.hc, method, url, token, body, ct)
	s.record(kind, r.Status, r.Body, err, time.Since(t0))
	return r
}

// runRandom runs a random tenant webtask.
func (s *soakRun) runRandom(rng *rand.Rand) { s.run(s.slots[rng.IntN(len(s.slots))]) }

// run runs one webtask: 200 with the hello body if it is deployed, 404 if
// it was deleted.
func (s *soakRun) run(sl *soakSlot) {
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	kind := "run deleted webtask"
	switch {
	case sl.exists && sl.fresh:
		kind = "run fresh"
	case sl.exists:
		kind = "run pooled"
	}
	t0 := time.Now()
	r, err := doWith(s.hc, "GET", runURL(s.c.URL(), sl.container, sl.name), "", nil, "")
	if err == nil && r.Status == 200 && string(r.Body) != helloBody {
		err = fmt.Errorf("%s/%s answered %.100q", sl.container, sl.name, r.Body)
	}
	s.record(kind, r.Status, r.Body, err, time.Since(t0))
}

// mutate changes a random webtask: a deployed one is replaced by a new
// module (4 times in 5) or deleted, a deleted one is created again.
func (s *soakRun) mutate(rng *rand.Rand) {
	sl := s.slots[rng.IntN(len(s.slots))]
	sl.mu.Lock()
	defer sl.mu.Unlock()
	u := s.c.URL() + "/api/webtask/" + sl.container + "/" + sl.name
	kind := "create"
	if sl.exists {
		kind = "replace"
		if rng.IntN(5) == 0 {
			kind = "delete"
		}
	}
	t0 := time.Now()
	var r response
	var err error
	if kind == "delete" {
		r, err = doWith(s.hc, "DELETE", u, s.c.Admin(), nil, "")
	} else {
		sl.gen++
		r, err = s.put(sl)
	}
	s.record(kind, r.Status, r.Body, err, time.Since(t0))
	switch {
	case err != nil: // the state is unknown: ask
		d, derr := doWith(s.hc, "GET", u, s.c.Admin(), nil, "")
		if derr == nil {
			sl.exists = d.Status == 200
		}
	case r.Status == 200 || r.Status == 201:
		sl.exists = true
	case r.Status == 204 || r.Status == 404:
		sl.exists = false
	}
}

// tokens issues a tenant token for a random container, uses it, revokes
// it and checks it no longer works.
func (s *soakRun) tokens(rng *rand.Rand) {
	base, admin := s.c.URL(), s.c.Admin()
	ct := s.slots[rng.IntN(len(s.slots))].container
	r := s.call("token issue", "POST", base+"/api/tokens/issue", admin, []byte(`{"ten":"`+ct+`"}`), "application/json")
	if r.Status != 200 {
		return
	}
	tok := strings.TrimSpace(string(r.Body))
	s.call("token use", "GET", base+"/api/webtask/"+ct, tok, nil, "")
	s.call("token revoke", "POST", base+"/api/tokens/revoke?token="+tok, admin, nil, "")
	s.call("revoked token", "GET", base+"/api/webtask/"+ct, tok, nil, "")
}

// logs subscribes to a random container's log stream, runs one of its
// webtasks and waits for a record, holds the stream a moment, and
// disconnects. The server notices a subscriber that left only when a write
// fails — the second record (or keepalive) after it left — so two more runs
// in the container follow, as traffic would.
func (s *soakRun) logs(rng *rand.Rand) {
	ci, wi := rng.IntN(len(s.slots)/s.per), rng.IntN(s.per)
	sl := s.slots[ci*s.per+wi]
	t0 := time.Now()
	got, err := s.subscribe(ci, wi, time.Duration(100+rng.IntN(400))*time.Millisecond)
	s.record("log stream", got, nil, err, time.Since(t0))
	for i := 0; i < 2; i++ {
		s.run(sl)
	}
}

// subscribe opens the log stream of container ci, runs its webtasks from
// the wi-th on until a record arrives (at most soakRecordWait), holds the
// stream for hold, and closes it.
func (s *soakRun) subscribe(ci, wi int, hold time.Duration) (int, error) {
	ct := s.slots[ci*s.per].container
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), soakRecordWait+hold)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", s.c.URL()+"/api/logs/tenant/"+ct, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+s.c.Admin())
	resp, err := s.sse.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return resp.StatusCode, nil
	}
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, ": connected") {
		return resp.StatusCode, fmt.Errorf("log stream of %s: no greeting (%q, %v)", ct, line, err)
	}
	greeted := time.Since(t0)
	records := make(chan error, 1)
	var lines, sent, skipped atomic.Int64
	go func() {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				records <- fmt.Errorf("log stream of %s: no record in %s after the greeting at %s (%d other lines; "+
					"%d runs of its webtasks sent, %d skipped as deleted or changing): %w", ct,
					(time.Since(t0) - greeted).Round(time.Millisecond), greeted.Round(time.Millisecond), lines.Load(),
					sent.Load(), skipped.Load(), err)
				return
			}
			lines.Add(1)
			if strings.HasPrefix(line, "data: ") {
				records <- nil
				return
			}
		}
	}()
	// A deleted webtask logs nothing, and one being replaced is skipped
	// (its upload may take a second); runs of the others in the container
	// by this soak's other clients often arrive first anyway.
	for i := 0; ; i++ {
		select {
		case err := <-records:
			if err == nil {
				time.Sleep(hold)
			}
			return resp.StatusCode, err
		case <-time.After(time.Duration(min(i, 5)) * 50 * time.Millisecond):
			sl := s.slots[ci*s.per+(wi+i)%s.per]
			if !sl.mu.TryRLock() {
				skipped.Add(1)
				continue
			}
			exists := sl.exists
			sl.mu.RUnlock()
			if !exists {
				skipped.Add(1)
				continue
			}
			s.run(sl)
			sent.Add(1)
		}
	}
}

// hostile sends the i-th of the hostile requests, in turn: an oversized
// body, a malformed token, a forged token, a run over a token's rate limit.
func (s *soakRun) hostile(rng *rand.Rand, i int) {
	base := s.c.URL()
	ct := s.slots[rng.IntN(len(s.slots))].container
	switch i % 4 {
	case 0:
		s.call("oversized body", "POST", runURL(base, "hostile", "hello"), "", s.big, "application/octet-stream")
	case 1:
		s.call("bad token", "GET", base+"/api/webtask/"+ct, "not-a-token", nil, "")
	case 2:
		s.call("forged token", "GET", base+"/api/webtask/"+ct, s.forged, nil, "")
	case 3:
		s.call("rate-limited token", "GET", base+"/api/run/hostile?key="+s.rateTok, "", nil, "")
	}
}

// runaway runs the guest that never answers: 504 at the time limit.
func (s *soakRun) runaway(*rand.Rand) {
	s.call("runaway guest", "GET", runURL(s.c.URL(), "hostile", "loop"), "", nil, "")
}

// sample reads the server process now.
func (s *soakRun) sample() SoakSample {
	v := SoakSample{Sec: time.Since(s.start).Seconds(), Phase: *s.phase.Load(), Requests: int(s.done.Load())}
	if r, err := s.c.RSS(); err == nil {
		v.RSS, v.Anon = r.Total, r.Anon
	}
	v.Threads, v.FDs, _ = procStats(s.c.cmd.Process.Pid)
	v.DataBytes = dirBytes(s.c.data)
	s.mu.Lock()
	s.samples = append(s.samples, v)
	s.mu.Unlock()
	return v
}

func (s *soakRun) snapshot() []SoakSample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.samples)
}

// sampler samples every 2 s (1 s for soaks under a minute) until stopped.
func (s *soakRun) sampler(ctx context.Context) (stop func()) {
	every := 2 * time.Second
	if s.h.opts.SoakDuration < time.Minute {
		every = time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.c.exited:
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return func() { cancel(); <-done }
}

func (s *soakRun) point(sr *SoakResult, label string, v SoakSample) {
	sr.Points = append(sr.Points, SoakPoint{Label: label, SoakSample: v})
	s.h.logf("  %-44s t=%5.1fs RSS %s, %d threads, %d fds, data %s, %d requests", label, v.Sec, mib(v.RSS),
		v.Threads, v.FDs, mib(v.DataBytes), v.Requests)
}

// finish fills the kinds and the verdict.
func (s *soakRun) finish(sr *SoakResult, base, after SoakSample) {
	for _, k := range soakKinds {
		c := s.counters[k.name]
		slices.Sort(c.lat)
		c.k.P50, c.k.P99 = percentile(c.lat, 0.5), percentile(c.lat, 0.99)
		sr.Kinds = append(sr.Kinds, c.k)
		sr.Requests += c.k.Requests
		sr.Unexpected += c.k.Unexpected
	}
	sr.Flat, sr.Verdict = soakVerdict(base, after)
	sr.Pass = sr.Flat
	if sr.Unexpected > 0 {
		sr.Pass = false
		sr.Verdict += fmt.Sprintf("; %d unexpected responses", sr.Unexpected)
	}
	if sr.ServerExit != "exit 0" {
		sr.Pass = false
		sr.Verdict += "; server on SIGTERM: " + sr.ServerExit
	}
	if sr.Pass {
		sr.Verdict = "pass: " + sr.Verdict
	} else {
		sr.Verdict = "FAIL: " + sr.Verdict
	}
}

// soakVerdict says whether the server came back flat: after is the idle
// server after the load, base the idle server after the warm-up.
func soakVerdict(base, after SoakSample) (bool, string) {
	limit := int64(soakRSSFactor*float64(base.RSS)) + soakRSSSlack
	rssOK := after.RSS <= limit
	fdOK := after.FDs >= base.FDs-soakFDSlack && after.FDs <= base.FDs+soakFDSlack
	word := "flat"
	if !rssOK || !fdOK {
		word = "not flat"
	}
	return rssOK && fdOK, fmt.Sprintf("%s: RSS %s after the load vs %s after the warm-up (limit %.2f× + %s = %s), "+
		"fds %d vs %d (±%d), threads %d vs %d (not judged)", word, mib(after.RSS), mib(base.RSS), soakRSSFactor,
		mib(soakRSSSlack), mib(limit), after.FDs, base.FDs, soakFDSlack, after.Threads, base.Threads)
}

// slope is the least-squares slope of RSS over time, in MiB a minute, of
// the second half of the samples of phase.
func slope(samples []SoakSample, phase string) float64 {
	var in []SoakSample
	for _, v := range samples {
		if v.Phase == phase {
			in = append(in, v)
		}
	}
	in = in[len(in)/2:]
	if len(in) < 2 {
		return 0
	}
	var st, sy float64
	for _, v := range in {
		st += v.Sec
		sy += float64(v.RSS)
	}
	mt, my := st/float64(len(in)), sy/float64(len(in))
	var num, den float64
	for _, v := range in {
		num += (v.Sec - mt) * (float64(v.RSS) - my)
		den += (v.Sec - mt) * (v.Sec - mt)
	}
	if den == 0 {
		return 0
	}
	return num / den * 60 / (1 << 20)
}

// peak is the maximum of each column of samples.
func peak(samples []SoakSample) SoakSample {
	var p SoakSample
	for _, v := range samples {
		if v.RSS > p.RSS {
			p.RSS, p.Anon, p.Sec, p.Phase = v.RSS, v.Anon, v.Sec, v.Phase
		}
		p.Threads, p.FDs = max(p.Threads, v.Threads), max(p.FDs, v.FDs)
		p.DataBytes, p.Requests = max(p.DataBytes, v.DataBytes), max(p.Requests, v.Requests)
	}
	return p
}

// serverExit describes how the server process ended, and whether its
// stderr shows a panic.
func serverExit(c *child) string {
	st := c.cmd.ProcessState
	out := "unknown"
	if st != nil {
		out = "exit " + strconv.Itoa(st.ExitCode())
		if !st.Exited() {
			out = st.String()
		}
	}
	if e := c.stderr.String(); strings.Contains(e, "panic:") || strings.Contains(e, "fatal error:") {
		i := max(strings.Index(e, "panic:"), strings.Index(e, "fatal error:"))
		out += fmt.Sprintf(", stderr: %.300s", e[i:])
	}
	return out
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(p*float64(len(sorted)-1))]
}

func joinInts(xs []int) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, strconv.Itoa(x))
	}
	return strings.Join(parts, " or ")
}
