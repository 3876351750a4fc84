package bench

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Load is one closed-loop load-generator run: Concurrency connections, each
// sending requests back to back (GET unless Method says otherwise),
// connection i to Targets[i%len(Targets)] (targets may be on several
// hosts: each host has its own client). Requests in the first Warmup are
// not counted; the run then lasts Duration or MaxRequests counted requests,
// whichever comes first.
type Load struct {
	Targets     []string
	Concurrency int
	Warmup      time.Duration
	Duration    time.Duration
	MaxRequests int // 0: no limit

	// The request every connection sends: Method ("" is GET), Headers
	// (name, value) and Body (nil: none; shared by the connections, never
	// written).
	Method  string
	Headers [][2]string
	Body    []byte
}

// LoadResult is what a run measured. Latencies are in microseconds.
type LoadResult struct {
	Requests  int     `json:"requests"`
	Errors    int     `json:"errors"`
	FirstErr  string  `json:"first_error,omitempty"`
	Seconds   float64 `json:"seconds"`
	RPS       float64 `json:"rps"`
	P50       float64 `json:"p50_us"`
	P90       float64 `json:"p90_us"`
	P99       float64 `json:"p99_us"`
	Max       float64 `json:"max_us"`
	PerTarget []int   `json:"-"` // counted requests per target
	samples   []int64 // latencies in ns, at most maxSamples
}

// maxSamples bounds the latency samples a run keeps (about 16 MB).
const maxSamples = 2 << 20

// RunLoad runs l with fasthttp's HostClient, one connection per worker.
// Every response must be 200; anything else counts as an error.
func RunLoad(l Load) (LoadResult, error) {
	if len(l.Targets) == 0 || l.Concurrency <= 0 {
		return LoadResult{}, errors.New("bench: load needs targets and a concurrency")
	}
	// One HostClient per host: a HostClient sends every request to its
	// Addr, whatever the request's URI says.
	clients := map[string]*fasthttp.HostClient{}
	hosts := make([]*fasthttp.HostClient, len(l.Targets))
	for i, t := range l.Targets {
		u, err := url.Parse(t)
		if err != nil {
			return LoadResult{}, err
		}
		hc := clients[u.Host]
		if hc == nil {
			hc = &fasthttp.HostClient{
				Addr:                   u.Host,
				MaxConns:               l.Concurrency,
				ReadTimeout:            60 * time.Second,
				WriteTimeout:           60 * time.Second,
				MaxIdleConnDuration:    time.Minute,
				DisablePathNormalizing: true,
			}
			clients[u.Host] = hc
			defer hc.CloseIdleConnections()
		}
		hosts[i] = hc
	}

	start := time.Now()
	measure := start.Add(l.Warmup)
	end := measure.Add(l.Duration)
	var (
		counted  atomic.Int64
		mu       sync.Mutex
		res      LoadResult
		samples  [][]int64
		lastDone time.Time
		wg       sync.WaitGroup
	)
	res.PerTarget = make([]int, len(l.Targets))
	perWorker := maxSamples / l.Concurrency
	for w := 0; w < l.Concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			target := w % len(l.Targets)
			hc := hosts[target]
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(l.Targets[target])
			if l.Method != "" {
				req.Header.SetMethod(l.Method)
			}
			for _, h := range l.Headers {
				req.Header.Set(h[0], h[1])
			}
			if l.Body != nil {
				req.SetBodyRaw(l.Body)
			}
			lat := make([]int64, 0, min(perWorker, 4096))
			n, errs, firstErr := 0, 0, ""
			for {
				t0 := time.Now()
				if !t0.Before(end) {
					break
				}
				counting := !t0.Before(measure)
				if counting && l.MaxRequests > 0 && counted.Add(1) > int64(l.MaxRequests) {
					break
				}
				err := hc.Do(req, resp)
				d := time.Since(t0)
				if err == nil && resp.StatusCode() != 200 {
					err = fmt.Errorf("status %d: %.200s", resp.StatusCode(), resp.Body())
				}
				if err != nil {
					if counting {
						errs++
					}
					if firstErr == "" {
						firstErr = err.Error()
					}
					time.Sleep(time.Millisecond) // do not spin on a refused connection
					continue
				}
				if counting {
					n++
					if len(lat) < perWorker {
						lat = append(lat, d.Nanoseconds())
					}
				}
			}
			done := time.Now()
			mu.Lock()
			res.Requests += n
			res.Errors += errs
			res.PerTarget[target] += n
			if res.FirstErr == "" {
				res.FirstErr = firstErr
			}
			samples = append(samples, lat)
			if done.After(lastDone) {
				lastDone = done
			}
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	res.Seconds = lastDone.Sub(measure).Seconds()
	if res.Seconds > 0 {
		res.RPS = float64(res.Requests) / res.Seconds
	}
	res.samples = slices.Concat(samples...)
	res.setPercentiles()
	if res.Requests == 0 {
		return res, fmt.Errorf("bench: no successful request to %s: %s", l.Targets[0], res.FirstErr)
	}
	return res, nil
}

// setPercentiles computes the latency percentiles from r's samples.
func (r *LoadResult) setPercentiles() {
	slices.Sort(r.samples)
	pct := func(p float64) float64 {
		if len(r.samples) == 0 {
			return 0
		}
		return float64(r.samples[int(p*float64(len(r.samples)-1))]) / 1e3
	}
	r.P50, r.P90, r.P99, r.Max = pct(0.50), pct(0.90), pct(0.99), pct(1)
}

// merge combines the results of several runs of one target: counts and
// seconds add up, latencies are pooled.
func merge(rs []LoadResult) LoadResult {
	var m LoadResult
	for _, r := range rs {
		m.Requests += r.Requests
		m.Errors += r.Errors
		m.Seconds += r.Seconds
		if m.FirstErr == "" {
			m.FirstErr = r.FirstErr
		}
		if len(m.samples)+len(r.samples) <= maxSamples {
			m.samples = append(m.samples, r.samples...)
		}
	}
	if m.Seconds > 0 {
		m.RPS = float64(m.Requests) / m.Seconds
	}
	m.setPercentiles()
	return m
}
