package api

// The operator's view: GET /metrics (Prometheus), GET /readyz, and the
// server's own log lines (log/slog), one per request.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/deploy"
	"github.com/wasmtask/wasmtask/host/metrics"
	"github.com/wasmtask/wasmtask/store"
)

// readyNamespace is the KV namespace /readyz reads: a read of a key that
// does not exist proves the store answers, and writes nothing.
const readyNamespace = "wasmtask-ready"

// handleReady serves GET /readyz: 200 when the server can serve (its store
// answers, its keys are loaded, it is not shutting down) and has loaded
// the webtasks it warms at start (at most Config.WarmWait), else 503.
func (s *Server) handleReady(ctx *fasthttp.RequestCtx) error {
	if err := noBody(ctx); err != nil {
		return err
	}
	select {
	case <-s.done:
		return fail(deploy.ErrUnavailable, "not ready: the server is shutting down")
	default:
	}
	if s.signer == nil || s.admin == "" {
		return fail(deploy.ErrUnavailable, "not ready: keys are not loaded")
	}
	select {
	case <-s.warmed:
	default:
		return fail(deploy.ErrUnavailable, "not ready: warming (loading the webtasks used last; --warm-wait bounds it)")
	}
	if _, err := s.st.KVGet(readyNamespace, "probe"); err != nil && !errors.Is(err, store.ErrNotFound) {
		if errors.Is(err, store.ErrClosed) {
			return fail(deploy.ErrUnavailable, "not ready: the store is closed")
		}
		return fail(deploy.ErrUnavailable, "not ready: the store does not answer")
	}
	return writeJSON(ctx, 200, map[string]string{"status": "ready"})
}

// handleMetrics serves GET /metrics in the Prometheus text format, to the
// admin token only unless Config.MetricsPublic.
func (s *Server) handleMetrics(ctx *fasthttp.RequestCtx) error {
	if !ctx.IsGet() && !ctx.IsHead() {
		return methodNotAllowed(ctx, "GET")
	}
	if !s.cfg.MetricsPublic {
		t, err := s.caller(ctx)
		if err != nil {
			return err
		}
		if !t.Claims.IsRoot() {
			return fail(deploy.ErrForbidden, "metrics need the admin token (or a server started with --metrics-public)")
		}
	}
	if err := noBody(ctx); err != nil {
		return err
	}
	b, err := s.metrics.Text()
	if err != nil {
		return err // 500 internal: a collector failed
	}
	ctx.SetStatusCode(200)
	ctx.SetContentType(metrics.ContentType)
	ctx.SetBody(b)
	return nil
}

// observe counts an answered request and logs it: one line at debug, or,
// for a failure of the host (an error answered 5xx), at warn (error for
// one the error table does not know). A line holds the method, the path
// without its query (which may carry ?key=TOKEN), the status, the
// duration and for failures the error id; never a header, a query or a
// body.
func (s *Server) observe(ctx *fasthttp.RequestCtx, route metrics.Route, err error, began time.Time) {
	status := ctx.Response.StatusCode()
	if m := s.metrics; m != nil {
		m.Request(route, status)
		if route == metrics.RouteRun {
			m.Run(time.Since(began))
		}
		if m.PerContainer() {
			s.countContainer(ctx, route, err, status)
		}
	}
	level := slog.LevelDebug
	if err != nil && status >= 500 {
		level = slog.LevelWarn
	}
	if !s.log.Enabled(context.Background(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", string(ctx.Method())),
		slog.String("path", string(ctx.Path())),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(began)),
	}
	msg := "request"
	if level > slog.LevelDebug {
		_, id, _ := classify(err)
		msg, attrs = "request failed", append(attrs, slog.String("error", id))
		var rf *runFailure
		if errors.As(err, &rf) {
			// The guest's error text stays in the tenant's logs: it may
			// quote what the guest wrote. The id ties the two together.
			attrs = append(attrs, slog.String("request_id", rf.requestID))
		}
		if id == "internal" {
			// Not a kind the table knows: the host's own failure. Its
			// text names what failed (a store write, a file), no token.
			level, attrs = slog.LevelError, append(attrs, slog.String("cause", err.Error()))
		}
	}
	s.log.LogAttrs(context.Background(), level, msg, attrs...)
}

// countContainer counts a request by container (Config.MetricsPerContainer)
// when the container is known to mean something: the request succeeded,
// or reached a webtask that failed. A client guessing names creates no
// series.
func (s *Server) countContainer(ctx *fasthttp.RequestCtx, route metrics.Route, err error, status int) {
	var rf *runFailure
	if status >= 400 && !errors.As(err, &rf) {
		return
	}
	var prefix string
	switch route {
	case metrics.RouteRun:
		prefix = "/api/run/"
	case metrics.RouteWebtask, metrics.RouteStorage:
		prefix = "/api/webtask/"
	case metrics.RouteCron:
		prefix = "/api/cron/"
	case metrics.RouteLogs:
		prefix = "/api/logs/tenant/"
	default:
		return
	}
	rest := ctx.Path()[len(prefix):]
	if i := bytes.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	if c := string(rest); validName(c) {
		s.metrics.ContainerRequest(c, route, status)
	}
}

// warnf logs what a part of the server cannot tell a client (cron's
// failed writes) at warn.
func (s *Server) warnf(format string, args ...any) {
	s.log.Warn(fmt.Sprintf(format, args...))
}

// Metrics returns the server's metrics, nil with Config.NoMetrics. Code
// that counts events of its own (outbound calls: Metrics.OutboundCall)
// reports to it.
func (s *Server) Metrics() *metrics.Metrics { return s.metrics }

// watchSources connects the counters the server's parts keep to metrics.
func (s *Server) watchSources() {
	if s.metrics == nil {
		return
	}
	// The stats types mirror each other field for field: a conversion.
	s.metrics.Watch(metrics.Sources{
		Engine:   func() metrics.EngineStats { return metrics.EngineStats(s.eng.Stats()) },
		Registry: func() metrics.RegistryStats { return metrics.RegistryStats(s.reg.Stats()) },
		Cron:     func() metrics.CronStats { return metrics.CronStats(s.cron.Stats()) },
		Auth:     func() metrics.AuthStats { return metrics.AuthStats(s.auth.Stats()) },
		LogDrops: s.hub.Dropped,
	})
}
