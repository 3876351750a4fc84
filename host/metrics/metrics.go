// Package metrics defines what a wasmtask server exports to Prometheus
// (GET /metrics): every metric's name, help and labels are in this file.
//
// It imports nothing of the host, so any package may report to it (the
// engine's outbound calls, OutboundCall). Counters that packages keep
// anyway — the engine's instances, the registry's tokens and storage,
// cron's runs, the declared-auth checker's verdicts, the log hub's drops
// — are not duplicated here: Watch reads them once per scrape through
// Sources. What only the HTTP edge sees
// (requests, run latency) is counted here, with label values resolved at
// construction, so counting a request is an atomic add and allocates
// nothing.
//
// Labels are bounded: route kind, status class, instance policy, auth
// middleware, result.
// No webtask name is ever a label; a container label exists only with
// Options.PerContainer.
//
// Each server has its own Metrics, with its own registry (not the global
// default one), so several servers in one process do not collide.
package metrics

import (
	"bytes"
	"io"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"
)

// Namespace prefixes every metric of the server's own.
const Namespace = "wasmtask"

// ContentType is the content type of Write's output: the Prometheus text
// exposition format, version 0.0.4.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Route is the kind of API a request went to, the "route" label of the
// request counters.
type Route uint8

// Route kinds.
const (
	// RouteOther is a path with no API (404) or a request fasthttp could
	// not parse.
	RouteOther Route = iota
	// RouteRun is /api/run/…: a webtask run.
	RouteRun
	// RouteWebtask is /api/webtask/{c}[/{n}]: managing webtasks.
	RouteWebtask
	// RouteStorage is /api/webtask/{c}/{n}/data: a webtask's storage.
	RouteStorage
	// RouteTokens is /api/tokens/….
	RouteTokens
	// RouteCron is /api/cron/….
	RouteCron
	// RouteLogs is /api/logs/tenant/…: a log stream (counted when it starts).
	RouteLogs
	// RouteModules is the JavaScript modules the host serves.
	RouteModules
	// RouteHealth is /healthz and /readyz.
	RouteHealth
	// RouteMetrics is /metrics.
	RouteMetrics
	numRoutes
)

var routeNames = [numRoutes]string{"other", "run", "webtask", "storage", "tokens", "cron", "logs", "modules", "health", "metrics"}

// String returns the route's label value.
func (r Route) String() string {
	if r < numRoutes {
		return routeNames[r]
	}
	return "other"
}

// Status classes, the "status_class" label: index status/100, 0 for a
// status out of range.
var classNames = [6]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

func statusClass(status int) int {
	if c := status / 100; c >= 1 && c <= 5 {
		return c
	}
	return 0
}

// Results of an outbound HTTP call from a guest (OutboundCall). Any other
// string counts as OutboundOther, so the label stays bounded.
const (
	OutboundOK       = "ok"        // an answer arrived (whatever its status)
	OutboundDenied   = "denied"    // the policy refused the host or address: no connection made
	OutboundError    = "error"     // connecting or reading failed
	OutboundTimeout  = "timeout"   // the request's time ran out while waiting
	OutboundTooLarge = "too_large" // the answer exceeded the response limit
	OutboundLimit    = "limit"     // the request's cap on calls was reached
	OutboundOther    = "other"
)

var outboundResults = [...]string{OutboundOK, OutboundDenied, OutboundError, OutboundTimeout, OutboundTooLarge, OutboundLimit, OutboundOther}

// Options configures New.
type Options struct {
	// PerContainer adds wasmtask_container_requests_total, requests by
	// container, route and status class (--metrics-per-container). Off by
	// default: one series per container and more is the cardinality
	// Prometheus warns about. Only requests that reached an existing
	// webtask or succeeded are counted by container (ContainerRequest's
	// caller decides), so unknown names create no series.
	PerContainer bool
}

// Metrics holds one server's metrics and their registry. Its methods are
// safe for concurrent use; a nil *Metrics counts nothing.
type Metrics struct {
	reg          *prometheus.Registry
	requests     [numRoutes][len(classNames)]prometheus.Counter
	runSeconds   prometheus.Histogram
	outbound     [len(outboundResults)]prometheus.Counter
	perContainer *prometheus.CounterVec // nil without Options.PerContainer

	watchOnce sync.Once
}

// runBuckets are the run latency histogram's upper bounds, in seconds:
// from a pooled trivial guest (µs) to the default 30 s time limit.
var runBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// New creates the metrics of one server, registered with a registry of
// their own together with the Go runtime and process collectors.
func New(o Options) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "http_requests_total",
		Help: "HTTP requests answered, by route kind (run, webtask, storage, tokens, cron, logs, modules, health, metrics, other) and status class.",
	}, []string{"route", "status_class"})
	for r := range m.requests {
		for c := range m.requests[r] {
			m.requests[r][c] = requests.WithLabelValues(routeNames[r], classNames[c])
		}
	}
	m.runSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "run_duration_seconds",
		Help:    "Time to answer a webtask run request (/api/run/…), from routing to the response written, errors included.",
		Buckets: runBuckets,
	})
	outbound := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "outbound_calls_total",
		Help: "Outbound HTTP calls made by guests, by result (ok, denied, error, timeout, too_large, limit, other).",
	}, []string{"result"})
	for i, r := range outboundResults {
		m.outbound[i] = outbound.WithLabelValues(r)
	}
	m.reg.MustRegister(requests, m.runSeconds, outbound,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if o.PerContainer {
		m.perContainer = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "container_requests_total",
			Help: "HTTP requests by container, route kind and status class (--metrics-per-container): requests that reached an existing webtask or succeeded.",
		}, []string{"container", "route", "status_class"})
		m.reg.MustRegister(m.perContainer)
	}
	return m
}

// Request counts one answered request of route r with status.
func (m *Metrics) Request(r Route, status int) {
	if m == nil {
		return
	}
	if r >= numRoutes {
		r = RouteOther
	}
	m.requests[r][statusClass(status)].Inc()
}

// Run records the duration of one run request.
func (m *Metrics) Run(d time.Duration) {
	if m == nil {
		return
	}
	m.runSeconds.Observe(d.Seconds())
}

// PerContainer reports whether requests are also counted by container.
func (m *Metrics) PerContainer() bool { return m != nil && m.perContainer != nil }

// ContainerRequest counts one request by container, when PerContainer;
// the caller passes only containers that exist or requests that succeeded.
func (m *Metrics) ContainerRequest(container string, r Route, status int) {
	if !m.PerContainer() {
		return
	}
	m.perContainer.WithLabelValues(container, r.String(), classNames[statusClass(status)]).Inc()
}

// OutboundCall counts one outbound HTTP call of a guest by its result, one
// of the Outbound* constants (anything else counts as OutboundOther). It
// allocates nothing.
func (m *Metrics) OutboundCall(result string) {
	if m == nil {
		return
	}
	for i, r := range outboundResults {
		if r == result {
			m.outbound[i].Inc()
			return
		}
	}
	m.outbound[len(outboundResults)-1].Inc()
}

// Registry returns the registry the metrics are registered with, for
// collectors of one's own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Write gathers every metric and writes them in the text format
// (ContentType).
func (m *Metrics) Write(w io.Writer) error {
	mfs, err := m.reg.Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	return nil
}

// Text is Write into a byte slice.
func (m *Metrics) Text() ([]byte, error) {
	var b bytes.Buffer
	err := m.Write(&b)
	return b.Bytes(), err
}
