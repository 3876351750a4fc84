//go:build !wasip1

package wasmtask

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/wasmtask/wasmtask/abi"
)

func TestHandleSimple(t *testing.T) {
	tests := []struct {
		name       string
		fn         SimpleHandler
		wantResult string
		wantStatus uint32
		wantMsg    string
	}{
		{
			name:       "result",
			fn:         func(*Context) (any, error) { return map[string]string{"message": "hello, world"}, nil },
			wantResult: `{"message":"hello, world"}`,
		},
		{
			name:       "nil result",
			fn:         func(*Context) (any, error) { return nil, nil },
			wantResult: `null`,
		},
		{
			name:       "plain error is status 0",
			fn:         func(*Context) (any, error) { return nil, errors.New("Not Authorized") },
			wantStatus: 0, wantMsg: "Not Authorized",
		},
		{
			name:       "Errorf sets the status",
			fn:         func(*Context) (any, error) { return nil, Errorf(403, "no %s", "entry") },
			wantStatus: 403, wantMsg: "no entry",
		},
		{
			name: "wrapped Error keeps status and full message",
			fn: func(*Context) (any, error) {
				return "ignored", fmt.Errorf("sms: %w", &Error{Status: 502, Message: "gateway down"})
			},
			wantStatus: 502, wantMsg: "sms: gateway down",
		},
		{
			name:       "unencodable result",
			fn:         func(*Context) (any, error) { return make(chan int), nil },
			wantStatus: 500, wantMsg: "wasmtask: cannot encode the result as JSON: json: unsupported type: chan int",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHost(t)
			HandleSimple(tt.fn)
			if rc := handle(); rc != 0 {
				t.Fatalf("handle() = %d", rc)
			}
			if !h.done {
				t.Fatal("neither result nor error was called")
			}
			if string(h.res) != tt.wantResult || h.errStat != tt.wantStatus || h.errMsg != tt.wantMsg {
				t.Errorf("result %q, error (%d, %q); want %q, (%d, %q)",
					h.res, h.errStat, h.errMsg, tt.wantResult, tt.wantStatus, tt.wantMsg)
			}
		})
	}
}

// A result of a concrete type is encoded by its compiled encoder
// (jsonenc.go), the same bytes as encoding/json, errors included, with no
// allocation.
func TestHandleSimple_typed(t *testing.T) {
	type answer struct {
		Question string  `json:"question"`
		Answer   string  `json:"answer,omitempty"`
		Score    float64 `json:"score"`
	}
	var next answer
	var err error
	h := newFakeHost(t)
	HandleSimple(func(*Context) (answer, error) { return next, err })
	for _, tc := range []struct {
		v          answer
		err        error
		wantResult string
		wantStatus uint32
		wantMsg    string
	}{
		{v: answer{"Am I <secure>?", "Yes!", 0.5}, wantResult: `{"question":"Am I \u003csecure\u003e?","answer":"Yes!","score":0.5}`},
		{v: answer{Question: "q"}, wantResult: `{"question":"q","score":0}`},
		{v: answer{Score: math.Inf(1)}, wantStatus: 500, wantMsg: "wasmtask: cannot encode the result as JSON: json: unsupported value: +Inf"},
		{err: Errorf(403, "no"), wantStatus: 403, wantMsg: "no"},
	} {
		next, err = tc.v, tc.err
		h.done, h.res, h.errStat, h.errMsg = false, nil, 0, ""
		if rc := handle(); rc != 0 || !h.done {
			t.Fatalf("handle() = %d, answered %v", rc, h.done)
		}
		if string(h.res) != tc.wantResult || h.errStat != tc.wantStatus || h.errMsg != tc.wantMsg {
			t.Errorf("%+v: result %q, error (%d, %q); want %q, (%d, %q)",
				tc.v, h.res, h.errStat, h.errMsg, tc.wantResult, tc.wantStatus, tc.wantMsg)
		}
	}
	next, err = answer{"q", "a", 1}, nil
	if n := testing.AllocsPerRun(100, func() { h.done = false; handle() }); n != 0 {
		t.Errorf("a request allocates %v times, want 0", n)
	}
}

func TestHandleRaw(t *testing.T) {
	h := newFakeHost(t)
	HandleRaw(func(c *Context, w *ResponseWriter) {
		w.SetStatus(201)
		w.SetHeader("content-type", "text/plain")
		w.AddHeader("x-many", "1")
		w.AddHeader("x-many", "2")
		fmt.Fprintf(w, "%s %s", c.Method(), c.Path())
		_, _ = w.WriteString("!")
		_, _ = w.Write(nil)
	})
	if rc := handle(); rc != 0 {
		t.Fatalf("handle() = %d", rc)
	}
	want := http.Header{"Content-Type": {"text/plain"}, "X-Many": {"1", "2"}}
	if h.status != 201 || !reflect.DeepEqual(h.headers, want) || string(h.body) != "GET /!" {
		t.Errorf("got %d %v %q", h.status, h.headers, h.body)
	}
}

func TestResponseWriter_WriteJSON(t *testing.T) {
	h := newFakeHost(t)
	HandleRaw(func(c *Context, w *ResponseWriter) {
		if err := w.WriteJSON(map[string]bool{"ok": true}); err != nil {
			t.Error(err)
		}
		if err := w.WriteJSON(func() {}); err == nil {
			t.Error("WriteJSON(func) did not fail")
		}
	})
	handle()
	if got := h.headers.Get("content-type"); got != "application/json" || string(h.body) != `{"ok":true}` {
		t.Errorf("got content-type %q body %q", got, h.body)
	}
}

func TestHandle_noHandler(t *testing.T) {
	h := newFakeHost(t)
	if rc := handle(); rc == 0 {
		t.Error("handle() without a handler = 0, want non-zero")
	}
	if len(h.logs) != 1 || !strings.Contains(h.logs[0], "func init") {
		t.Errorf("logs = %q, want one line naming func init", h.logs)
	}
}

func TestRegister_twice(t *testing.T) {
	newFakeHost(t)
	HandleRaw(func(*Context, *ResponseWriter) {})
	defer func() {
		if recover() == nil {
			t.Error("a second registration did not panic")
		}
	}()
	HandleSimple(func(*Context) (any, error) { return nil, nil })
}

func TestLog(t *testing.T) {
	h := newFakeHost(t)
	Log(LevelWarn, "careful")
	Logf(LevelDebug, "n=%d", 3)
	Println("a", 1, true)
	want := []string{"2 careful", "0 n=3", "1 a 1 true"}
	if !reflect.DeepEqual(h.logs, want) {
		t.Errorf("logs = %q, want %q", h.logs, want)
	}
}

// TestHandle_allocs keeps the SDK's own cost of a request at zero
// allocations for a raw handler that reads the method and a short path.
func TestHandle_allocs(t *testing.T) {
	h := newFakeHost(t)
	h.fields[abi.FieldPath] = "/"
	HandleRaw(func(c *Context, w *ResponseWriter) {
		if c.Method() == "GET" && c.Path() == "/" {
			w.SetStatus(204)
			_, _ = w.WriteString("ok")
		}
	})
	allocs := testing.AllocsPerRun(100, func() {
		h.body = h.body[:0]
		handle()
	})
	if allocs != 0 {
		t.Errorf("a request allocates %v times, want 0", allocs)
	}
}

func BenchmarkHandleSimple(b *testing.B) {
	h := newFakeHost(b)
	h.set(abi.MapQuery, "secret", "open-sesame")
	h.set(abi.MapSecrets, "auth-secret", "open-sesame")
	type answer struct {
		Question string `json:"question"`
		Answer   string `json:"answer"`
	}
	ok := &answer{"Am I secure?", "Yes!"}
	HandleSimple(func(c *Context) (any, error) {
		if s := c.Secret("auth-secret"); s == "" || c.Query("secret") != s {
			return nil, errors.New("Not Authorized")
		}
		return ok, nil
	})
	b.ReportAllocs()
	for b.Loop() {
		h.done = false
		handle()
	}
}
