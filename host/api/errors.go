package api

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/engine"
)

// Machine-readable error identifiers, the "error" member of every JSON error
// the host writes. "code" is the HTTP status and "message" is for people.
const (
	errBadRequest   = "bad_request"
	errInvalidName  = "invalid_name"
	errInvalidMod   = "invalid_module"
	errUnauthorized = "unauthorized"
	errForbidden    = "forbidden"
	errNotFound     = "not_found"
	errMethod       = "method_not_allowed"
	errTooLarge     = "too_large"
	errTimeout      = "timeout"
	errFailed       = "webtask_failed"
	errInternal     = "internal"
	errUnavailable  = "unavailable"
	errRateLimited  = "rate_limited"
	errOverloaded   = "overloaded"
	errFetchFailed  = "fetch_failed"
)

// Header names the host sets on every response.
const (
	headerSource    = "x-wt-response-source"
	headerRequestID = "x-wt-request-id"
)

// apiError is the JSON body of every error the host writes.
type apiError struct {
	Code    int    `json:"code"`
	Error   string `json:"error"`
	Message string `json:"message"`
}

// writeError answers with a JSON error produced by the host.
func writeError(ctx *fasthttp.RequestCtx, status int, id, msg string) {
	b, _ := json.Marshal(apiError{Code: status, Error: id, Message: msg})
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.Response.Header.Set(headerSource, "host")
	ctx.SetContentType("application/json")
	if id == errOverloaded {
		ctx.Response.Header.Set("Retry-After", "1")
	}
	ctx.SetBody(b)
}

// writeOverloaded answers 503 when err is engine.ErrOverloaded (the
// server's memory budget is spent, or every compile slot busy), reporting
// whether it did.
func writeOverloaded(ctx *fasthttp.RequestCtx, err error) bool {
	if !errors.Is(err, engine.ErrOverloaded) {
		return false
	}
	writeError(ctx, 503, errOverloaded, err.Error())
	return true
}

// compileError is the answer to an error of compiling or starting an
// uploaded module: 503 overloaded when the server lacks room for it now,
// else 400 invalid_module.
func compileError(err error) (status int, id string) {
	if errors.Is(err, engine.ErrOverloaded) {
		return 503, errOverloaded
	}
	return 400, errInvalidMod
}

// writeJSON answers with a JSON document produced by the host.
func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(ctx, 500, errInternal, "cannot encode response")
		return
	}
	ctx.SetStatusCode(status)
	ctx.Response.Header.Set(headerSource, "host")
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// fasthttpError maps errors fasthttp reports before a handler runs (a body
// over the server's limit, a malformed request) to JSON errors.
func fasthttpError(maxBody int) func(*fasthttp.RequestCtx, error) {
	return func(ctx *fasthttp.RequestCtx, err error) {
		if err == fasthttp.ErrBodyTooLarge {
			writeError(ctx, 413, errTooLarge, "request body exceeds the server limit of "+strconv.Itoa(maxBody)+" bytes")
			return
		}
		writeError(ctx, 400, errBadRequest, "malformed HTTP request")
	}
}
