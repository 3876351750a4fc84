// Package wasmtask is the Go guest SDK for wasmtask: it turns a Go program
// into a webtask, a WebAssembly module that the wasmtask host runs once per
// HTTP request through host ABI v1 (import module "wasmtask_v1", see
// abi/SPEC.md in this repository).
//
// # Registering a handler — in init, not in main
//
// A webtask is built as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags="-s -w" -o hello.wasm .
//
// A reactor's main function is never run. The host calls the module's
// _initialize export once per instance, which runs the package init
// functions, and then calls wt_handle once per request. The SDK exports
// wt_handle itself, so a guest registers exactly one handler from
// func init and leaves main empty:
//
//	package main
//
//	import "github.com/wasmtask/wasmtask/guests/go/wasmtask"
//
//	func init() {
//		wasmtask.HandleSimple(func(ctx *wasmtask.Context) (any, error) {
//			return map[string]string{"message": "hello, " + ctx.Query("name")}, nil
//		})
//	}
//
//	func main() {}
//
// A module without a registered handler answers every request with 500.
//
// # Programming models
//
// The original Webtask platform offered three shapes of function; each maps
// onto one entry point of this package:
//
//   - simple, (context, cb): HandleSimple. Return a value, which is encoded
//     with encoding/json and sent as a 200 application/json response, or an
//     error, which becomes {"code":400,"error":"Script returned an error.",
//     "message":"..."}. Return an *Error (see Errorf) to choose the status.
//   - raw, (context, req, res): HandleRaw. Set the status, headers and body
//     yourself through a ResponseWriter.
//   - router, the Express style: NewRouter, then HandleRaw(router.Serve).
//
// # Reading the request
//
// Context reads the request lazily: each accessor is one host call (the
// method, path and other scalar fields are cached after the first call).
// Values are copied out of a reused scratch buffer, so the strings, slices
// and maps an accessor returns belong to the caller. A Context is valid only
// while the handler runs; do not keep it, or use it from another goroutine,
// after the handler returns.
//
// # Logs
//
// Log, Logf and Println write one log line to the webtask's container log
// (GET /api/logs/tenant/{container}). Anything written to os.Stdout (for
// example with fmt.Println) also becomes an info line, and os.Stderr an error
// line, one per "\n".
//
// # Failures
//
// The SDK does not recover panics. A Go panic (or a runtime error such as a
// nil dereference or an index out of range) prints its message and
// goroutine trace to stderr, which the host logs as error lines, and then
// traps: a module built with -buildmode=c-shared crashes with the Wasm
// unreachable instruction instead of calling proc_exit. The host answers 500
// and discards the instance. Recover in your own handler if you want to
// answer something else.
//
// # Instances are reused
//
// With the host's default pool policy an instance serves many requests of the
// same webtask one after another, so package-level variables survive between
// requests: use them for caches, never for per-request state.
//
// The package builds for every GOOS so that tools such as go vet and gopls
// work on any machine, but outside GOOS=wasip1 every call that reaches the
// host panics.
package wasmtask
