//go:build !wasip1

package wasmtask

import (
	"testing"

	"github.com/wasmtask/wasmtask/abi"
)

func TestRouter_Serve(t *testing.T) {
	r := NewRouter()
	named := func(name string) RawHandler {
		return func(_ *Context, w *ResponseWriter) { _, _ = w.WriteString(name) }
	}
	r.Get("/", named("home"))
	r.Post("/sms", named("sms"))
	r.Get("/files/*", named("files"))
	r.Handle("delete", "/sms/", named("delete sms"))
	r.Any("/any", named("any"))
	r.Handle("*", "*", named("fallback for PUT"))

	tests := []struct {
		method, path string
		wantStatus   uint32
		wantBody     string
	}{
		{"GET", "/", 0, "home"},
		{"POST", "/", 0, "fallback for PUT"}, // "*" matches every method
		{"POST", "/sms", 0, "sms"},
		{"POST", "/sms/", 0, "sms"},
		{"DELETE", "/sms", 0, "delete sms"},
		{"GET", "/files/", 0, "files"},
		{"GET", "/files/a/b", 0, "files"},
		{"PATCH", "/any", 0, "any"},
		{"PUT", "/whatever", 0, "fallback for PUT"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			h := newFakeHost(t)
			h.fields[abi.FieldMethod], h.fields[abi.FieldPath] = tt.method, tt.path
			HandleRaw(r.Serve)
			handle()
			if h.status != tt.wantStatus || string(h.body) != tt.wantBody {
				t.Errorf("got %d %q, want %d %q", h.status, h.body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func TestRouter_notFound(t *testing.T) {
	r := NewRouter()
	r.Get("/", func(*Context, *ResponseWriter) {})
	r.Get("/files/*", func(*Context, *ResponseWriter) {})
	for _, tt := range []struct{ method, path, want string }{
		{"POST", "/", `{"code":404,"message":"no route for POST /"}`},
		{"GET", "/files", `{"code":404,"message":"no route for GET /files"}`},
		{"GET", "/nope", `{"code":404,"message":"no route for GET /nope"}`},
		{"GET", `/"q"`, `{"code":404,"message":"no route for GET /\"q\""}`},
	} {
		h := newFakeHost(t)
		h.fields[abi.FieldMethod], h.fields[abi.FieldPath] = tt.method, tt.path
		HandleRaw(r.Serve)
		handle()
		if h.status != 404 || h.headers.Get("content-type") != "application/json" || string(h.body) != tt.want {
			t.Errorf("%s %s: got %d %q %q, want 404 application/json %q", tt.method, tt.path,
				h.status, h.headers.Get("content-type"), h.body, tt.want)
		}
	}
}

func TestRouter_headUsesGet(t *testing.T) {
	r := NewRouter()
	r.Get("/files/*", func(_ *Context, w *ResponseWriter) { w.SetStatus(299) })
	h := newFakeHost(t)
	h.fields[abi.FieldMethod], h.fields[abi.FieldPath] = "HEAD", "/files/a"
	HandleRaw(r.Serve)
	handle()
	if h.status != 299 {
		t.Errorf("HEAD got status %d, want the GET route's 299", h.status)
	}
}

func TestSimple_inRouter(t *testing.T) {
	r := NewRouter()
	r.Get("/hello", Simple(func(*Context) (any, error) { return map[string]string{"message": "hi"}, nil }))
	r.Get("/denied", Simple(func(*Context) (any, error) { return nil, Errorf(403, "Not Authorized") }))
	r.Get("/raw", func(_ *Context, w *ResponseWriter) { w.SetStatus(201) })

	h := newFakeHost(t)
	h.fields[abi.FieldPath] = "/hello"
	HandleRaw(r.Serve)
	handle()
	if string(h.res) != `{"message":"hi"}` || h.status != 0 {
		t.Errorf("/hello: result %q, status %d", h.res, h.status)
	}
	h = newFakeHost(t)
	h.fields[abi.FieldPath] = "/denied"
	HandleRaw(r.Serve)
	handle()
	if h.errStat != 403 || h.errMsg != "Not Authorized" {
		t.Errorf("/denied: error %d %q", h.errStat, h.errMsg)
	}
	h = newFakeHost(t)
	h.fields[abi.FieldPath] = "/raw"
	HandleRaw(r.Serve)
	handle()
	if h.status != 201 || h.res != nil {
		t.Errorf("/raw: status %d, result %q", h.status, h.res)
	}
}
