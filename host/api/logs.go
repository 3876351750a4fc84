package api

import (
	"bufio"
	"encoding/json"
	"time"

	"github.com/valyala/fasthttp"
)

// sseKeepalive is how often an idle log stream sends a comment, which also
// notices a client that went away.
const sseKeepalive = 15 * time.Second

// handleLogs serves GET /api/logs/tenant/{container}: the container's log
// lines in real time as Server-Sent Events, one JSON record per "data:" line.
func (s *Server) handleLogs(ctx *fasthttp.RequestCtx, container string) error {
	if err := checkName("container", container); err != nil {
		return err
	}
	if !ctx.IsGet() {
		return methodNotAllowed(ctx, "GET")
	}
	if _, err := s.authorize(ctx, container); err != nil {
		return err
	}
	if err := noBody(ctx); err != nil {
		return err
	}
	sub := s.hub.Subscribe(container)
	ctx.SetStatusCode(200)
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	done := s.done
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer s.hub.Unsubscribe(sub)
		tick := time.NewTicker(sseKeepalive)
		defer tick.Stop()
		if _, err := w.WriteString(": connected to " + container + "\n\n"); err != nil || w.Flush() != nil {
			return
		}
		for {
			select {
			case rec := <-sub.C:
				b, _ := json.Marshal(rec)
				w.WriteString("data: ")
				w.Write(b)
				w.WriteString("\n\n")
			case <-tick.C:
				w.WriteString(": keepalive\n\n")
			case <-done:
				return
			}
			if w.Flush() != nil {
				return
			}
		}
	})
	return nil
}
