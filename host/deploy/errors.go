package deploy

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/host/token"
	"github.com/wasmtask/wasmtask/store"
)

// Sentinel errors: the kinds of failure a caller answers differently. The
// registry returns them wrapped in an *Error whose message is meant for the
// user; match with errors.Is. Errors of the engine (engine.ErrOverloaded,
// engine.ErrTimeout, …) and of the token package pass through unchanged.
var (
	// ErrNotFound: no such webtask, or the module a token names is gone.
	ErrNotFound = errors.New("not found")
	// ErrBadRequest: the request is malformed (a claim, a meta key).
	ErrBadRequest = errors.New("bad request")
	// ErrUnauthorized: no token, or a token that is not valid (any more).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: a valid token that does not allow this.
	ErrForbidden = errors.New("forbidden")
	// ErrInvalidModule: the uploaded or referenced code is not a module
	// this host can run.
	ErrInvalidModule = errors.New("invalid module")
	// ErrNoJSEngine: JavaScript code on a server started without the
	// JavaScript engine (Config.JSEngine).
	ErrNoJSEngine = errors.New("no JavaScript engine")
	// ErrTooLarge: a module, or a webtask's storage data, over its size
	// limit.
	ErrTooLarge = errors.New("too large")
	// ErrConflict: a write of a webtask's storage gave an etag that is not
	// the stored document's (see *ConflictError).
	ErrConflict = errors.New("conflict")
	// ErrQuota: the container is at one of its quotas (webtasks, module
	// bytes).
	ErrQuota = errors.New("quota exceeded")
	// ErrRateLimited: a token's rate limit is spent (see *RateLimitError).
	ErrRateLimited = errors.New("rate limited")
	// ErrFetch: the code a token's url names cannot be fetched.
	ErrFetch = errors.New("cannot fetch the token's code")
	// ErrUnavailable: the webtask is changing; retrying will do.
	ErrUnavailable = errors.New("unavailable")
	// ErrInternal: the store or the key set failed; the message says what
	// the server could not do, never the underlying detail.
	ErrInternal = errors.New("internal error")
)

// Error is a failure of one kind (a sentinel above, or one of the caller's)
// with the message a user reads. Unwrap returns the kind, so errors.Is
// matches it; Cause, when set, is the underlying error, kept for logs and
// never shown.
type Error struct {
	Kind  error
	Msg   string
	Cause error
}

// Error returns the user's message.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns the kind.
func (e *Error) Unwrap() error { return e.Kind }

// Fail returns an *Error of kind with message msg.
func Fail(kind error, msg string) error { return &Error{Kind: kind, Msg: msg} }

// internal returns an ErrInternal saying what could not be done, keeping the
// cause out of the message (it may name files or keys) — except that a full
// disk (store.ErrFull), a damaged database (store.ErrDamaged) or a cluster
// out of reach (store.ErrUnavailable) keeps that kind and says so, since
// the operator can act on it (and the client can retry).
func internal(msg string, cause error) error {
	switch {
	case errors.Is(cause, store.ErrFull):
		return &Error{Kind: store.ErrFull, Msg: msg + ": the server's storage is full; nothing was changed", Cause: cause}
	case errors.Is(cause, store.ErrDamaged):
		return &Error{Kind: store.ErrDamaged, Msg: msg + ": the record or the database is damaged (the operator can check it with bbolt check)", Cause: cause}
	case errors.Is(cause, store.ErrUnavailable):
		return &Error{Kind: store.ErrUnavailable, Msg: msg + ": " + StoreUnavailable, Cause: cause}
	}
	return &Error{Kind: ErrInternal, Msg: msg, Cause: cause}
}

// StoreUnavailable is what a client reads when the store (an etcd
// cluster) does not answer: a write may or may not have been stored.
const StoreUnavailable = "the cluster store (etcd) does not answer: retry later (a change asked for may or may not have been stored)"

// Internal is internal for the API's own stores (e.g. outbound policies).
func Internal(msg string, cause error) error { return internal(msg, cause) }

// RateLimitError is an ErrRateLimited with when to retry.
type RateLimitError struct{ Denial token.Denial }

// Error returns the denial's message.
func (e *RateLimitError) Error() string { return e.Denial.Message() }

// Unwrap returns ErrRateLimited.
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// RetryAfter is the whole seconds until the limit's window ends.
func (e *RateLimitError) RetryAfter() string {
	return strconv.FormatInt(int64(e.Denial.RetryAfter/time.Second), 10)
}

// compileError is the error of compiling or starting code: overloaded (the
// server lacks room now) passes through, anything else is ErrInvalidModule
// with the engine's message after prefix.
func compileError(prefix string, err error) error {
	if errors.Is(err, engine.ErrOverloaded) {
		return err
	}
	return &Error{Kind: ErrInvalidModule, Msg: prefix + err.Error(), Cause: err}
}

// jsError is the error of JavaScript code that does not load: the engine's
// "module failed to start: …; stderr: SyntaxError: … (webtask.js:L:C)"
// becomes ErrInvalidModule with the JavaScript error, its line and column.
func jsError(err error) error {
	if errors.Is(err, engine.ErrOverloaded) {
		return err
	}
	msg := err.Error()
	if _, detail, ok := strings.Cut(msg, "; stderr: "); ok && detail != "" {
		msg = detail
	}
	return &Error{Kind: ErrInvalidModule, Msg: "the JavaScript code does not load: " + msg, Cause: err}
}

// noJSEngine is the error for JavaScript on a server without the engine.
func noJSEngine() error {
	return Fail(ErrNoJSEngine, "this server has no JavaScript engine: build it with `make guests` "+
		"(guests/build/js/engine.wasm) and start the server with --js-engine pointing at it")
}

// notFound is the error for a webtask that does not exist.
func notFound(container, name string) error {
	return Fail(ErrNotFound, "no webtask "+name+" in container "+container)
}
