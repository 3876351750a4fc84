package wasmtask

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"unsafe"
)

// Error is an error with the HTTP status a simple-model handler answers
// with. Status must be 0 (which the host turns into 400) or 400–599; any
// other status makes the host fail the request with 500.
type Error struct {
	Status  int
	Message string
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given status and a message formatted as
// fmt.Sprintf does. A handler returning it answers
//
//	{"code":<status>,"error":"Script returned an error.","message":"<message>"}
func Errorf(status int, format string, args ...any) error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// result encodes simple-model results; reused so that the buffer's memory
// serves every request.
var (
	resultBuf bytes.Buffer
	resultEnc = json.NewEncoder(&resultBuf)
)

// warmJSON builds the JSON encoder of T (unless T is an interface) by
// encoding its zero value, so that the encoder is part of the module's
// initialised state. A type whose zero value cannot be encoded (a
// MarshalJSON that panics on it) is simply not warmed.
func warmJSON[T any]() {
	if reflect.TypeFor[T]().Kind() == reflect.Interface {
		return
	}
	defer func() { _ = recover(); resultBuf.Reset() }()
	var zero T
	_ = resultEnc.Encode(zero)
}

func init() {
	// The encoders of what handlers returning any most often answer.
	defer resultBuf.Reset()
	_ = resultEnc.Encode(map[string]any{"s": "", "n": 1.0, "b": true, "a": []any{nil, map[string]string{}}, "i": 1, "x": []string{}})
}

// serveSimple runs fn and finishes the request with result or error.
func serveSimple(fn SimpleHandler) {
	v, err := fn(&ctx)
	if err != nil {
		sendError(err)
		return
	}
	resultBuf.Reset()
	if err := resultEnc.Encode(v); err != nil {
		msg := "wasmtask: cannot encode the result as JSON: " + err.Error()
		hostLog(uint32(LevelError), msg)
		hostError(500, msg)
		return
	}
	b := bytes.TrimSuffix(resultBuf.Bytes(), []byte("\n"))
	hostResult(unsafe.SliceData(b), uint32(len(b)))
	if resultBuf.Cap() > maxScratch {
		resultBuf = bytes.Buffer{} // do not keep a large result's memory
	}
}

// sendJSON finishes a simple-model request with the JSON of the value at p
// by enc; false, having sent nothing, when the value holds what JSON
// cannot (NaN, ±Inf).
func sendJSON(enc encodeFunc, p unsafe.Pointer) bool {
	b, ok := encodeJSON(enc, resultBytes[:0], p)
	if !ok {
		return false
	}
	hostResult(unsafe.SliceData(b), uint32(len(b)))
	if resultBytes = b[:0]; cap(b) > maxScratch {
		resultBytes = nil // do not keep a large result's memory
	}
	return true
}

// resultBytes is sendJSON's buffer, reused like resultBuf.
var resultBytes []byte

// encodeJSON runs enc, reporting false when it met an unsupported value.
func encodeJSON(enc encodeFunc, b []byte, p unsafe.Pointer) (out []byte, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, is := r.(unsupportedJSON); !is {
				panic(r)
			}
			out, ok = nil, false
		}
	}()
	return enc(b, p), true
}

// sendError finishes a simple-model request with err: the status of the
// first *Error in its chain (errors.As), else 0 (400), and err's message.
func sendError(err error) {
	status := 0
	var e *Error
	if errors.As(err, &e) {
		status = e.Status
	}
	hostError(uint32(status), err.Error())
}

// Simple adapts a simple-model handler to a RawHandler, so one Router can
// serve routes of both models:
//
//	r.Get("/hello", wasmtask.Simple(hello))   // result or error
//	r.Post("/upload", upload)                  // raw
//
// The route answers exactly as HandleSimple(fn) would.
func Simple(fn SimpleHandler) RawHandler {
	if fn == nil {
		panic("wasmtask: Simple(nil)")
	}
	return func(*Context, *ResponseWriter) { serveSimple(fn) }
}
