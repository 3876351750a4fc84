package api

import (
	"bytes"
	"errors"
	"strings"

	"github.com/valyala/fasthttp"
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
		return errors.New(kind + " name must be 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	return nil
}

// handle routes a request. Paths follow the Webtask API (BRIEF.md).
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	switch {
	case bytes.HasPrefix(path, []byte("/api/run/")):
		s.handleRun(ctx, string(path[len("/api/run/"):]))
	case bytes.HasPrefix(path, []byte("/api/webtask/")):
		s.handleWebtask(ctx, string(path[len("/api/webtask/"):]))
	case bytes.HasPrefix(path, []byte("/api/tokens/")):
		s.handleTokens(ctx, string(path[len("/api/tokens/"):]))
	case bytes.HasPrefix(path, []byte("/api/logs/tenant/")):
		s.handleLogs(ctx, string(path[len("/api/logs/tenant/"):]))
	case string(path) == "/healthz":
		writeJSON(ctx, 200, map[string]string{"status": "ok"})
	default:
		writeError(ctx, 404, errNotFound, "no API at "+string(path))
	}
}

// split cuts "a/b/c" into its first segment and the rest.
func split(p string) (first, rest string) {
	first, rest, _ = strings.Cut(p, "/")
	return first, rest
}

// authorize verifies the caller's token and that it may manage container:
// the admin token, or a token whose ten allows container and that does not
// fix code (url, code, jtn). On failure it writes the error and returns nil.
func (s *Server) authorize(ctx *fasthttp.RequestCtx, container string) *authToken {
	at := s.caller(ctx)
	if at == nil {
		return nil
	}
	if !at.ten.Allows(container) {
		writeError(ctx, 403, errForbidden, "token does not grant access to container "+container+" (ten)")
		return nil
	}
	if at.c.FixesCode() {
		writeError(ctx, 403, errForbidden, "token only runs code (url, code or jtn); it cannot manage webtasks")
		return nil
	}
	return at
}
