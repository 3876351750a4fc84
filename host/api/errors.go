package api

import (
	"encoding/json"
	"errors"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/auth"
	"github.com/wasmtask/wasmtask/host/cron"
	"github.com/wasmtask/wasmtask/host/deploy"
	"github.com/wasmtask/wasmtask/host/editor"
	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/host/token"
	"github.com/wasmtask/wasmtask/store"
)

// Kinds of failure only the HTTP edge has; the registry's are in
// host/deploy/errors.go.
var (
	// errInvalidName: a container or webtask name in the path breaks the
	// naming rule.
	errInvalidName = errors.New("invalid name")
	// errMethod: the path exists, the method does not.
	errMethod = errors.New("method not allowed")
	// errGuestFailed: the guest trapped, exited or failed to answer.
	errGuestFailed = errors.New("webtask failed")
)

// errorTable is the one mapping from kinds of failure to HTTP: the status
// and the machine-readable "error" id of the JSON body. The first entry the
// error matches (errors.Is) wins; anything else is 500 "internal" and its
// message is not shown.
var errorTable = []struct {
	kind   error
	status int
	id     string
}{
	{errInvalidName, 400, "invalid_name"},
	{deploy.ErrBadRequest, 400, "bad_request"},
	{cron.ErrInvalid, 400, "bad_request"},
	{token.ErrMalformed, 400, "bad_request"},
	{deploy.ErrInvalidModule, 400, "invalid_module"},
	{deploy.ErrUnauthorized, 401, "unauthorized"},
	{token.ErrInvalid, 401, "unauthorized"},
	{token.ErrRevoked, 401, "unauthorized"},
	{deploy.ErrForbidden, 403, "forbidden"},
	{token.ErrTooWide, 403, "forbidden"},
	{deploy.ErrQuota, 403, "quota_exceeded"},
	{cron.ErrLimit, 403, "quota_exceeded"},
	{deploy.ErrNotFound, 404, "not_found"},
	{cron.ErrNotFound, 404, "not_found"},
	{editor.ErrNotFound, 404, "not_found"},
	{errMethod, 405, "method_not_allowed"},
	{editor.ErrMethod, 405, "method_not_allowed"},
	{deploy.ErrConflict, 409, "conflict"},
	{deploy.ErrTooLarge, 413, "too_large"},
	{deploy.ErrRateLimited, 429, "rate_limited"},
	{errGuestFailed, 500, "webtask_failed"},
	{deploy.ErrNoJSEngine, 501, "no_js_engine"},
	{store.ErrDamaged, 500, "storage_damaged"},
	{store.ErrFull, 507, "storage_full"},
	{deploy.ErrFetch, 502, "fetch_failed"},
	{deploy.ErrUnavailable, 503, "unavailable"},
	{store.ErrUnavailable, 503, "store_unavailable"},
	{engine.ErrClosed, 503, "unavailable"},
	{engine.ErrOverloaded, 503, "overloaded"},
	{engine.ErrTimeout, 504, "timeout"},
}

// Header names the host sets.
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

// classify returns the status, id and message err is answered with.
func classify(err error) (status int, id, msg string) {
	var den *auth.Denial
	if errors.As(err, &den) {
		id := map[int]string{401: "unauthorized", 403: "forbidden"}[den.Status]
		if id == "" {
			id = "auth_unavailable"
		}
		return den.Status, id, den.Message
	}
	for _, e := range errorTable {
		if errors.Is(err, e.kind) {
			return e.status, e.id, err.Error()
		}
	}
	return 500, "internal", "internal error"
}

// writeError answers err as a JSON error, with the headers its kind needs.
func writeError(ctx *fasthttp.RequestCtx, err error) {
	status, id, msg := classify(err)
	var body any = apiError{Code: status, Error: id, Message: msg}
	var conflict *deploy.ConflictError
	if errors.As(err, &conflict) {
		body = conflictError{body.(apiError), newStorageDoc(conflict.Current)}
	}
	b, _ := json.Marshal(body)
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	h := &ctx.Response.Header
	var rl *deploy.RateLimitError
	var den *auth.Denial
	switch {
	case errors.As(err, &den) && den.Status != 503:
		h.Set("WWW-Authenticate", den.WWWAuthenticate())
	case errors.As(err, &rl):
		h.Set("Retry-After", rl.RetryAfter())
	case errors.Is(err, engine.ErrOverloaded):
		h.Set("Retry-After", "1")
	}
	var rf *runFailure
	if errors.As(err, &rf) {
		h.Set(headerRequestID, rf.requestID)
	}
	ctx.SetBody(b)
}

// runFailure is a run's error with the id of the request, which the error
// answer carries as it would a guest's.
type runFailure struct {
	err       error
	requestID string
}

func (f *runFailure) Error() string { return f.err.Error() }
func (f *runFailure) Unwrap() error { return f.err }

// fail returns an error of kind with message msg.
func fail(kind error, msg string) error { return deploy.Fail(kind, msg) }

// writeJSON answers with a JSON document produced by the host.
func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return errors.New("cannot encode response")
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
	return nil
}

// setSource sets the header saying who produced the response: the guest
// ("webtask") or the host. The one place it is set.
func setSource(ctx *fasthttp.RequestCtx, guest bool) {
	if guest {
		ctx.Response.Header.Set(headerSource, "webtask")
	} else {
		ctx.Response.Header.Set(headerSource, "host")
	}
}

// fasthttpError answers errors fasthttp reports before a handler runs (a
// malformed request, headers over the read buffer).
func fasthttpError(ctx *fasthttp.RequestCtx, err error) {
	if _, ok := err.(*fasthttp.ErrSmallBuffer); ok {
		writeError(ctx, fail(deploy.ErrTooLarge, "request headers exceed the server's limit of 16 KiB"))
	} else {
		writeError(ctx, fail(deploy.ErrBadRequest, "malformed HTTP request"))
	}
	setSource(ctx, false)
}
