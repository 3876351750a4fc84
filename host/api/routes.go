package api

import (
	"bytes"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/deploy"
	"github.com/wasmtask/wasmtask/host/editor"
	"github.com/wasmtask/wasmtask/host/metrics"
)

// validName reports whether name is a valid container or webtask name: 1-64
// letters, digits, '.', '_' or '-', starting with a letter or digit — what
// fits in a URL path segment without escaping. (Hand-written: a regexp here
// was 17% of a trivial run.)
func validName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

func checkName(kind, name string) error {
	if !validName(name) {
		return fail(errInvalidName, kind+" name must be 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	return nil
}

// handle serves one request: route it, answer its error, say who answered,
// count and log it.
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	began := time.Now()
	route, err := s.route(ctx)
	if err != nil {
		writeError(ctx, err)
	}
	setSource(ctx, route == metrics.RouteRun && err == nil)
	if err != nil {
		lingerOnUnreadBody(ctx) // it sends the response as it is now
	}
	s.observe(ctx, route, err, began)
}

// route dispatches by path (the Webtask API, BRIEF.md) and returns the kind
// of API the path is; a run that returns no error answered with the
// guest's response.
func (s *Server) route(ctx *fasthttp.RequestCtx) (metrics.Route, error) {
	path := ctx.Path()
	switch {
	case bytes.HasPrefix(path, []byte("/api/run/")):
		return metrics.RouteRun, s.handleRun(ctx, string(path[len("/api/run/"):]))
	case bytes.HasPrefix(path, []byte("/api/webtask/")):
		rest := string(path[len("/api/webtask/"):])
		if c, n, ok := storagePath(rest); ok {
			return metrics.RouteStorage, s.handleStorage(ctx, c, n)
		}
		return metrics.RouteWebtask, s.handleWebtask(ctx, rest)
	case bytes.HasPrefix(path, []byte("/api/tokens/")):
		return metrics.RouteTokens, s.handleTokens(ctx, string(path[len("/api/tokens/"):]))
	case bytes.HasPrefix(path, []byte("/api/outbound/")):
		return metrics.RouteOther, s.handleOutbound(ctx, string(path[len("/api/outbound/"):]))
	case bytes.HasPrefix(path, []byte("/api/cron/")):
		return metrics.RouteCron, s.handleCron(ctx, string(path[len("/api/cron/"):]))
	case bytes.HasPrefix(path, []byte("/api/logs/tenant/")):
		return metrics.RouteLogs, s.handleLogs(ctx, string(path[len("/api/logs/tenant/"):]))
	case string(path) == deploy.JSModulesPath:
		return metrics.RouteModules, s.jsModules(ctx)
	case bytes.HasPrefix(path, []byte(nodeModulesPath)):
		return metrics.RouteModules, s.nodeModules(ctx, string(path[len(nodeModulesPath):]))
	case bytes.HasPrefix(path, []byte(editor.Prefix)):
		return metrics.RouteOther, editor.Serve(ctx)
	case string(path) == "/healthz":
		if err := noBody(ctx); err != nil {
			return metrics.RouteHealth, err
		}
		return metrics.RouteHealth, writeJSON(ctx, 200, map[string]string{"status": "ok"})
	case string(path) == "/readyz":
		return metrics.RouteHealth, s.handleReady(ctx)
	case string(path) == "/metrics" && s.metrics != nil:
		return metrics.RouteMetrics, s.handleMetrics(ctx)
	}
	return metrics.RouteOther, fail(deploy.ErrNotFound, "no API at "+string(path))
}

// methodNotAllowed answers a method a path does not take, listing those it
// does.
func methodNotAllowed(ctx *fasthttp.RequestCtx, allow string) error {
	ctx.Response.Header.Set("Allow", allow)
	return fail(errMethod, string(ctx.Method())+" is not allowed here; use "+allow)
}

// split cuts "a/b/c" into its first segment and the rest.
func split(p string) (first, rest string) {
	first, rest, _ = strings.Cut(p, "/")
	return first, rest
}

// caller authenticates the request's token.
func (s *Server) caller(ctx *fasthttp.RequestCtx) (*deploy.Token, error) {
	return s.reg.Authenticate(bearerBytes(ctx))
}

// authorize verifies the caller's token and that it may manage container:
// the admin token, or a token whose ten allows container and that does not
// fix code (url, code, jtn).
func (s *Server) authorize(ctx *fasthttp.RequestCtx, container string) (*deploy.Token, error) {
	t, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkTen(t, container); err != nil {
		return nil, err
	}
	if t.Claims.FixesCode() {
		return nil, fail(deploy.ErrForbidden, "token only runs code (url, code or jtn); it cannot manage webtasks")
	}
	return t, nil
}

// checkTen refuses a token whose ten does not allow container.
func checkTen(t *deploy.Token, container string) error {
	if !t.Ten.Allows(container) {
		return fail(deploy.ErrForbidden, "token does not grant access to container "+container+" (ten)")
	}
	return nil
}

// bearerBytes returns the request's token without copying: the bearer
// credential of the Authorization header, else the ?key= parameter.
func bearerBytes(ctx *fasthttp.RequestCtx) []byte {
	if h := ctx.Request.Header.Peek("Authorization"); len(h) > 7 && bytes.EqualFold(h[:7], []byte("bearer ")) {
		return bytes.TrimSpace(h[7:])
	}
	return ctx.QueryArgs().Peek("key")
}
