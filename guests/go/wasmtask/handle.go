package wasmtask

import (
	"reflect"
	"unsafe"
)

// SimpleHandler serves a request in the simple model: return a value to
// answer 200 with its JSON encoding, or an error (see Error).
type SimpleHandler func(ctx *Context) (any, error)

// RawHandler serves a request in the raw model: it writes the status,
// headers and body itself through w. Returning without writing anything
// answers 200 with an empty body.
type RawHandler func(ctx *Context, w *ResponseWriter)

// handler is what wt_handle runs; nil until a guest registers one.
var handler func() int32

// HandleSimple registers fn as the module's request handler in the simple
// model. Call it exactly once, from func init: a reactor's main is never run.
// It panics when a handler is already registered.
//
// Give fn its result's concrete type (func(*Context) (Greeting, error))
// rather than any: the JSON encoder for that type is then compiled while
// the module initialises (jsonenc.go), so it is in the snapshot a fresh
// instance starts from, and it encodes the result in place, several times
// faster than encoding/json, which encodes the types it does not handle.
func HandleSimple[T any](fn func(ctx *Context) (T, error)) {
	if fn == nil {
		panic("wasmtask: HandleSimple(nil)")
	}
	enc := compileJSON(reflect.TypeFor[T]())
	if enc == nil {
		warmJSON[T]()
		register(func() int32 {
			serveSimple(func(c *Context) (any, error) { return fn(c) })
			return 0
		})
		return
	}
	var result T // encoded in place: no interface, no allocation
	register(func() int32 {
		var err error
		if result, err = fn(&ctx); err != nil {
			sendError(err)
		} else if !sendJSON(enc, unsafe.Pointer(&result)) {
			serveSimple(func(*Context) (any, error) { return result, nil }) // encoding/json's error
		}
		var zero T
		result = zero // keep nothing of the request
		return 0
	})
}

// HandleRaw registers fn as the module's request handler in the raw model
// (pass Router.Serve to use a Router). Call it exactly once, from func init:
// a reactor's main is never run. It panics when a handler is already
// registered.
func HandleRaw(fn RawHandler) {
	if fn == nil {
		panic("wasmtask: HandleRaw(nil)")
	}
	register(func() int32 {
		fn(&ctx, &response)
		return 0
	})
}

func register(h func() int32) {
	if handler != nil {
		panic("wasmtask: a handler is already registered; call HandleSimple or HandleRaw once")
	}
	handler = h
}

// errNoHandler is logged when wt_handle runs before any registration.
const errNoHandler = "wasmtask: no handler registered: call wasmtask.HandleSimple or wasmtask.HandleRaw from func init (main does not run in a reactor)"

// handle is the body of the wt_handle export.
func handle() int32 {
	ctx = Context{}
	if handler == nil {
		hostLog(uint32(LevelError), errNoHandler)
		return 1
	}
	return handler()
}
