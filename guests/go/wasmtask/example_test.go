package wasmtask_test

import (
	"fmt"

	"github.com/wasmtask/wasmtask/guests/go/wasmtask"
)

// The simple model: return a value for 200 application/json, or an error.
// In a guest this runs in func init; main stays empty.
func ExampleHandleSimple() {
	wasmtask.HandleSimple(func(ctx *wasmtask.Context) (any, error) {
		if s := ctx.Secret("auth-secret"); s == "" || ctx.Query("secret") != s {
			return nil, fmt.Errorf("Not Authorized") // 400
		}
		return map[string]string{"question": "Am I secure?", "answer": "Yes!"}, nil
	})
}

// The raw model: the handler writes status, headers and body itself.
func ExampleHandleRaw() {
	wasmtask.HandleRaw(func(ctx *wasmtask.Context, w *wasmtask.ResponseWriter) {
		w.SetStatus(200)
		w.SetHeader("content-type", "text/plain")
		fmt.Fprintf(w, "hello from %s %s\n", ctx.Method(), ctx.Path())
	})
}

// The Express style: several routes in one webtask.
func ExampleNewRouter() {
	r := wasmtask.NewRouter()
	r.Post("/", func(ctx *wasmtask.Context, w *wasmtask.ResponseWriter) {
		wasmtask.Println(string(ctx.Body())) // console.log(req.body)
		w.SetStatus(200)
	})
	r.Get("/health", func(_ *wasmtask.Context, w *wasmtask.ResponseWriter) {
		_ = w.WriteJSON(map[string]string{"status": "ok"})
	})
	wasmtask.HandleRaw(r.Serve)
}

// Errorf chooses the status of a simple-model error.
func ExampleErrorf() {
	wasmtask.HandleSimple(func(ctx *wasmtask.Context) (any, error) {
		return nil, wasmtask.Errorf(403, "container %s may not do that", ctx.Container())
	})
}
