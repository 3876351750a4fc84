package api

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/deploy"
	"github.com/wasmtask/wasmtask/host/engine"
)

// Request bodies are never read before the server knows it wants them.
// fasthttp streams them (StreamRequestBody: at most 8 KiB is read with the
// headers), and each route reads its body itself, after authenticating the
// caller when the route needs a token, through readBody:
//
//   - a Content-Length over the route's limit is refused (413) before a byte
//     of the body is read;
//   - a chunked body is read up to the limit and refused past it;
//   - the bytes of all bodies being read or held at once are capped
//     (Config.MaxInflightBodyBytes): past it, 503 overloaded — so many slow
//     clients cannot make the server hold more than that, token or not.
//
// A handler never calls ctx.PostBody before readBody: on a chunked body it
// would read without a limit.

// maxTokenBody caps the body of the token endpoints (issue, revoke, inspect).
const maxTokenBody = 64 << 10

// inflight counts the body bytes reserved by requests being served.
type inflight struct {
	max  int64
	used atomic.Int64
}

// acquire reserves n bytes, reporting whether they fit.
func (f *inflight) acquire(n int64) bool {
	if f.used.Add(n) > f.max {
		f.used.Add(-n)
		return false
	}
	return true
}

func (f *inflight) release(n int64) { f.used.Add(-n) }

// readBody reads the request body, at most limit bytes, and returns the
// bytes it reserved in flight: release them with s.inflight.release when
// the request is done. After it, ctx.PostBody is the body.
func (s *Server) readBody(ctx *fasthttp.RequestCtx, limit int) (reserved int64, err error) {
	cl := ctx.Request.Header.ContentLength()
	switch {
	case cl == 0, cl == -2: // no body (-2: none declared, which HTTP/1.1 requests cannot have)
		return 0, nil
	case cl > limit:
		return 0, tooLarge(limit)
	}
	reserved = int64(cl)
	if cl < 0 { // chunked: the size is known only at the end
		reserved = int64(limit)
	}
	if !s.inflight.acquire(reserved) {
		return 0, deploy.Fail(engine.ErrOverloaded, "server overloaded: too many request bodies are being received; retry")
	}
	if cl >= 0 {
		ctx.PostBody() // exactly cl bytes, into fasthttp's pooled buffer
		return reserved, nil
	}
	stream := ctx.RequestBodyStream()
	if stream == nil {
		return reserved, nil
	}
	b, err := io.ReadAll(io.LimitReader(stream, int64(limit)+1))
	switch {
	case err != nil:
		s.inflight.release(reserved)
		return 0, deploy.Fail(deploy.ErrBadRequest, "cannot read the request body")
	case len(b) > limit:
		s.inflight.release(reserved)
		return 0, tooLarge(limit)
	}
	ctx.Request.SetBodyRaw(b)
	return reserved, nil
}

// lingerMax bounds what lingerOnUnreadBody discards, and lingerFor how long
// it waits for it.
const (
	lingerMax = 64 << 20
	lingerFor = 5 * time.Second
)

// lingerOnUnreadBody makes sure a client still sending a body the server
// answered without reading gets that answer. fasthttp drains up to 256 KiB
// of an unread body itself; past that it closes the connection at once,
// and closing a socket with unread data makes the kernel reset it — the
// client, still writing, loses the 413 or 401 it was sent. So the
// connection is hijacked: the response is written with Connection: close,
// the remaining input read and thrown away (at most lingerMax, for at most
// lingerFor, never held), and then the connection closed — nginx's
// lingering close.
func lingerOnUnreadBody(ctx *fasthttp.RequestCtx) {
	if ctx.RequestBodyStream() == nil {
		return // read, or none
	}
	if cl := ctx.Request.Header.ContentLength(); cl >= 0 && cl <= 256<<10 {
		return // fasthttp drains it and keeps the connection
	}
	ctx.Response.SetConnectionClose()
	resp := []byte(ctx.Response.String())
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(lingerFor))
		if _, err := c.Write(resp); err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(c, lingerMax))
	})
}

// noBody refuses a request that carries a body on a route that takes none.
func noBody(ctx *fasthttp.RequestCtx) error {
	if cl := ctx.Request.Header.ContentLength(); cl != 0 && cl != -2 {
		return deploy.Fail(deploy.ErrTooLarge, "this endpoint takes no request body")
	}
	return nil
}

func tooLarge(limit int) error {
	return deploy.Fail(deploy.ErrTooLarge, "request body exceeds the limit of "+strconv.Itoa(limit)+" bytes for this endpoint")
}

// quietLogger passes fasthttp's log lines on, except its warning that a
// handler reads a streamed body whole (readBody does that on purpose, after
// checking the body's size against the route's limit), and without the
// request fasthttp quotes when it cannot parse one: that text holds the
// client's token (Authorization, ?key=).
// Lines go to the server's logger at warn.
type quietLogger struct{ log *slog.Logger }

func (l quietLogger) Printf(format string, args ...any) {
	switch {
	case strings.HasPrefix(format, "WARNING: Request.Body() reads the entire stream"):
		return
	case strings.HasPrefix(format, "error when serving connection") && len(args) == 3:
		msg := fmt.Sprint(args[2])
		if i := strings.IndexByte(msg, '"'); i >= 0 {
			msg = msg[:i] + "(request withheld)"
		}
		l.log.Warn("error when serving connection", "local", fmt.Sprint(args[0]), "remote", fmt.Sprint(args[1]), "error", msg)
		return
	}
	l.log.Warn(strings.TrimSpace(fmt.Sprintf(format, args...)))
}
