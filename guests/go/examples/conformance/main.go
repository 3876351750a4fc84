//go:build wasip1

// Command conformance is the Go guest of the conformance kit
// (guests/conformance): the same routes, with the same answers, as every
// other language's conformance guest. guests/README.md describes the routes.
// It is also the kit's reference: the other languages' /context documents
// are compared with this one.
package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	"github.com/wasmtask/wasmtask/guests/go/wasmtask"
)

// The SDK's accessors return "" for a missing key; the kit also wants to
// see the host's NotFound (-1), so this guest imports get and get_value
// itself for those checks.
//
//go:wasmimport wasmtask_v1 get
func hostGet(field uint32, buf *byte, bufLen uint32) int32

//go:wasmimport wasmtask_v1 get_value
func hostGetValue(m uint32, key string, buf *byte, bufLen uint32) int32

//go:wasmimport wasmtask_v1 get_map
func hostGetMap(m uint32, buf *byte, bufLen uint32) int32

// Map ids of abi/SPEC.md.
const (
	mapQuery uint32 = iota
	mapHeaders
	mapSecrets
	mapParams
	mapMeta
	mapData
)

func init() {
	r := wasmtask.NewRouter()
	r.Get("/hello", wasmtask.Simple(hello))
	r.Any("/context", wasmtask.Simple(context))
	r.Get("/error", wasmtask.Simple(failWith))
	r.Get("/raw", raw)
	r.Get("/binary", binary)
	r.Post("/echo-body", echoBody)
	r.Get("/log", wasmtask.Simple(logLines))
	r.Get("/trap", func(*wasmtask.Context, *wasmtask.ResponseWriter) { panic("trap route") })
	r.Get("/empty", func(*wasmtask.Context, *wasmtask.ResponseWriter) {})
	wasmtask.HandleRaw(r.Serve)
}

func hello(ctx *wasmtask.Context) (any, error) {
	name := "world"
	if v, ok := ctx.QueryAll()["name"]; ok {
		name = v[0]
	}
	return map[string]string{"message": "hello, " + name}, nil
}

// pairs lists a map as [key, value] pairs in the host's order: sorted by
// key, repeated keys in arrival order.
func pairs(m map[string][]string) [][2]string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := [][2]string{}
	for _, k := range keys {
		for _, v := range m[k] {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}

func single(m map[string]string) [][2]string {
	multi := make(map[string][]string, len(m))
	for k, v := range m {
		multi[k] = []string{v}
	}
	return pairs(multi)
}

// lookup is get_value: the value, or nil when the host answers NotFound.
func lookup(m uint32, key string) *string {
	buf := make([]byte, 256)
	for {
		n := hostGetValue(m, key, unsafe.SliceData(buf), uint32(len(buf)))
		if n < 0 {
			return nil
		}
		if int(n) <= len(buf) {
			s := string(buf[:n])
			return &s
		}
		buf = make([]byte, n)
	}
}

func context(ctx *wasmtask.Context) (any, error) {
	return map[string]any{
		"method":     ctx.Method(),
		"path":       ctx.Path(),
		"raw_query":  ctx.RawQuery(),
		"body":       string(ctx.Body()),
		"container":  ctx.Container(),
		"name":       ctx.Name(),
		"request_id": ctx.RequestID(),
		"query":      pairs(ctx.QueryAll()),
		"headers":    pairs(ctx.Headers()),
		"secrets":    single(ctx.Secrets()),
		"params":     single(ctx.Params()),
		"meta":       single(ctx.MetaAll()),
		"data":       single(ctx.DataAll()),
		"lookup": map[string]*string{
			"query":   lookup(mapQuery, "x"),
			"header":  lookup(mapHeaders, "X-Custom"),
			"secret":  lookup(mapSecrets, "auth-secret"),
			"param":   lookup(mapParams, "p"),
			"meta":    lookup(mapMeta, "owner"),
			"data":    lookup(mapData, "name"),
			"missing": lookup(mapQuery, "no-such-key"),
		},
		"unknown": map[string]int32{
			"field": hostGet(99, nil, 0),
			"map":   hostGetMap(99, nil, 0),
			"value": hostGetValue(99, "x", nil, 0),
		},
	}, nil
}

func failWith(ctx *wasmtask.Context) (any, error) {
	status, _ := strconv.Atoi(ctx.Query("status"))
	msg := "Not Authorized"
	if v, ok := ctx.QueryAll()["message"]; ok {
		msg = v[0]
	}
	return nil, &wasmtask.Error{Status: status, Message: msg}
}

func raw(ctx *wasmtask.Context, w *wasmtask.ResponseWriter) {
	status := 200
	if s, err := strconv.Atoi(ctx.Query("status")); err == nil {
		status = s
	}
	w.SetStatus(status)
	w.SetHeader("content-type", "text/plain; charset=utf-8")
	w.SetHeader("x-replaced", "old")
	w.SetHeader("x-replaced", "new")
	w.AddHeader("x-multi", "a")
	w.AddHeader("x-multi", "b")
	if name, value, ok := strings.Cut(ctx.Query("header"), ":"); ok {
		w.AddHeader(name, value)
	}
	_, _ = w.WriteString("raw ")
	_, _ = w.WriteString("body")
}

func binary(_ *wasmtask.Context, w *wasmtask.ResponseWriter) {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	w.SetHeader("content-type", "application/octet-stream")
	_, _ = w.Write(b)
}

func echoBody(ctx *wasmtask.Context, w *wasmtask.ResponseWriter) {
	ct := ctx.Header("content-type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.SetHeader("content-type", ct)
	_, _ = w.Write(ctx.Body())
}

func logLines(*wasmtask.Context) (any, error) {
	wasmtask.Log(wasmtask.LevelDebug, "debug line")
	wasmtask.Log(wasmtask.LevelInfo, "info line")
	wasmtask.Log(wasmtask.LevelWarn, "warn line")
	wasmtask.Log(wasmtask.LevelError, "error line")
	wasmtask.Log(7, "level 7 line")
	fmt.Println("stdout line")
	fmt.Fprintln(os.Stderr, "stderr line")
	return map[string]bool{"logged": true}, nil
}

func main() {}
