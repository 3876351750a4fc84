package engine

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmtask/wasmtask/abi"
)

// ABIViolation is the trap raised when a guest breaks the ABI contract: a
// pointer out of bounds, a response call in the wrong phase, a bad header.
// The request fails with 500 and the instance is discarded.
type ABIViolation struct{ Msg string }

func (v *ABIViolation) Error() string { return "ABI violation: " + v.Msg }

func violate(msg string) { panic(&ABIViolation{Msg: msg}) }

// call is the per-request state host functions reach through the context.
type call struct {
	req     *Request
	resp    *Response
	maxResp int
	logger  Logger
}

type callKey struct{}

func callOf(ctx context.Context) *call {
	if rc, ok := ctx.(*reqCtx); ok && rc.call.req != nil {
		return &rc.call
	}
	c, _ := ctx.Value(callKey{}).(*call)
	if c == nil {
		violate("host function called outside a request (e.g. from _initialize)")
	}
	return c
}

// maxLogLine is where log lines are cut.
const maxLogLine = 8 << 10

// hostModule builds the wasmtask_v1 host module. Every function works on the
// raw stack (api.GoModuleFunc): no reflection on the hot path.
func (e *Engine) hostModule() wazero.HostModuleBuilder {
	i32 := api.ValueTypeI32
	b := e.rt.NewHostModuleBuilder(abi.ModuleName)
	fn := func(name string, f api.GoModuleFunc, params, results []api.ValueType) {
		b.NewFunctionBuilder().WithGoModuleFunction(f, params, results).Export(name)
	}
	p := func(n int) []api.ValueType {
		ts := make([]api.ValueType, n)
		for i := range ts {
			ts[i] = i32
		}
		return ts
	}
	fn(abi.FuncGet, hostGet, p(3), p(1))
	fn(abi.FuncGetValue, hostGetValue, p(5), p(1))
	fn(abi.FuncGetMap, hostGetMap, p(3), p(1))
	fn(abi.FuncSetStatus, hostSetStatus, p(1), nil)
	fn(abi.FuncSetHeader, hostSetHeader, p(4), nil)
	fn(abi.FuncAddHeader, hostAddHeader, p(4), nil)
	fn(abi.FuncWriteBody, hostWriteBody, p(2), nil)
	fn(abi.FuncResult, hostResult, p(2), nil)
	fn(abi.FuncError, hostError, p(3), nil)
	fn(abi.FuncLog, hostLog, p(3), nil)
	return b
}

// read returns a view of guest memory, trapping when out of bounds.
func read(mod api.Module, ptr, n uint64) []byte {
	b, ok := mod.Memory().Read(uint32(ptr), uint32(n))
	if !ok {
		violate("memory range out of bounds")
	}
	return b
}

// out implements the caller-supplied buffer rule for a value of length n:
// it checks the whole buffer, writes only when the value fits, and returns n.
func out(mod api.Module, buf, bufLen uint64, n int, write func(dst []byte)) uint64 {
	dst := read(mod, buf, bufLen)
	if n <= len(dst) {
		write(dst[:n])
	}
	return uint64(uint32(int32(n)))
}

// absent answers NotFound, still checking the buffer: a bad buffer is a
// violation whether or not the value exists.
func absent(mod api.Module, buf, bufLen uint64) uint64 {
	read(mod, buf, bufLen)
	return notFound
}

func outString(mod api.Module, buf, bufLen uint64, s string) uint64 {
	return out(mod, buf, bufLen, len(s), func(dst []byte) { copy(dst, s) })
}

// notFound is abi.NotFound (-1) as an i32 on the stack.
const notFound uint64 = 0xFFFFFFFF

func hostGet(ctx context.Context, mod api.Module, stack []uint64) {
	r := callOf(ctx).req
	field, buf, bufLen := uint32(stack[0]), stack[1], stack[2]
	switch field {
	case abi.FieldMethod, abi.FieldPath, abi.FieldContainer, abi.FieldName, abi.FieldRequestID:
	default:
		r.load(PartMain)
	}
	var s string
	switch field {
	case abi.FieldMethod:
		s = r.Method
	case abi.FieldPath:
		s = r.Path
	case abi.FieldQuery:
		s = r.RawQuery
	case abi.FieldBody:
		stack[0] = out(mod, buf, bufLen, len(r.Body), func(dst []byte) { copy(dst, r.Body) })
		return
	case abi.FieldContainer:
		s = r.Container
	case abi.FieldName:
		s = r.Name
	case abi.FieldRequestID:
		s = r.RequestID
	case abi.FieldContextJSON:
		j := r.ContextJSON()
		stack[0] = out(mod, buf, bufLen, len(j), func(dst []byte) { copy(dst, j) })
		return
	default:
		stack[0] = absent(mod, buf, bufLen)
		return
	}
	stack[0] = outString(mod, buf, bufLen, s)
}

func hostGetValue(ctx context.Context, mod api.Module, stack []uint64) {
	r := callOf(ctx).req
	id := uint32(stack[0])
	key := read(mod, stack[1], stack[2])
	buf, bufLen := stack[3], stack[4]
	kvs, ok := r.mapOf(id)
	if !ok {
		stack[0] = absent(mod, buf, bufLen)
		return
	}
	v, ok := lookup(kvs, key, id == abi.MapHeaders)
	if !ok {
		stack[0] = absent(mod, buf, bufLen)
		return
	}
	stack[0] = outString(mod, buf, bufLen, v)
}

func hostGetMap(ctx context.Context, mod api.Module, stack []uint64) {
	r := callOf(ctx).req
	id, buf, bufLen := uint32(stack[0]), stack[1], stack[2]
	kvs, ok := r.mapOf(id)
	if !ok {
		stack[0] = absent(mod, buf, bufLen)
		return
	}
	stack[0] = out(mod, buf, bufLen, encodedMapLen(kvs), func(dst []byte) {
		i := 0
		for _, kv := range kvs {
			i += copy(dst[i:], kv.Key)
			dst[i] = 0
			i++
			i += copy(dst[i:], kv.Value)
			dst[i] = 0
			i++
		}
	})
}

// raw checks that a raw-model call is allowed and marks the model.
func (c *call) raw() *Response {
	switch {
	case c.resp.Finished:
		violate("response already finished")
	case c.resp.Model == ModelSimple:
		violate("raw-model call after a simple-model call")
	}
	c.resp.Model = ModelRaw
	return c.resp
}

// simple checks that a simple-model call is allowed, marks it and finishes.
func (c *call) simple() *Response {
	switch {
	case c.resp.Finished:
		violate("response already finished")
	case c.resp.Model == ModelRaw:
		violate("simple-model call after a raw-model call")
	}
	c.resp.Model = ModelSimple
	c.resp.Finished = true
	return c.resp
}

func (c *call) checkSize(n int) {
	if n > c.maxResp {
		violate("response body exceeds the limit of " + strconv.Itoa(c.maxResp) + " bytes")
	}
}

func hostSetStatus(ctx context.Context, _ api.Module, stack []uint64) {
	c := callOf(ctx)
	status := int32(stack[0])
	if status < 200 || status > 599 { // 1xx would leave the client waiting for a final response
		violate("status " + strconv.Itoa(int(status)) + " is outside 200-599")
	}
	c.raw().Status = int(status)
}

func hostSetHeader(ctx context.Context, mod api.Module, stack []uint64) {
	setHeader(ctx, mod, stack, true)
}

func hostAddHeader(ctx context.Context, mod api.Module, stack []uint64) {
	setHeader(ctx, mod, stack, false)
}

func setHeader(ctx context.Context, mod api.Module, stack []uint64, replace bool) {
	c := callOf(ctx)
	name := read(mod, stack[0], stack[1])
	value := read(mod, stack[2], stack[3])
	if !validHeaderName(name) {
		violate("invalid header name")
	}
	if !validHeaderValue(value) {
		violate("header value contains CR, LF or NUL")
	}
	key := strings.ToLower(string(name))
	if reservedHeader(key) {
		violate("header " + key + " is set by the host")
	}
	resp := c.raw()
	if replace {
		kept := resp.Headers[:0]
		for _, h := range resp.Headers {
			if h.Key != key {
				kept = append(kept, h)
			}
		}
		resp.Headers = kept
	}
	if len(resp.Headers) >= 100 {
		violate("more than 100 response headers")
	}
	resp.Headers = append(resp.Headers, KV{Key: key, Value: string(value)})
}

func hostWriteBody(ctx context.Context, mod api.Module, stack []uint64) {
	c := callOf(ctx)
	b := read(mod, stack[0], stack[1])
	resp := c.raw()
	c.checkSize(len(resp.Body) + len(b))
	resp.Body = append(resp.Body, b...)
}

func hostResult(ctx context.Context, mod api.Module, stack []uint64) {
	c := callOf(ctx)
	b := read(mod, stack[0], stack[1])
	c.checkSize(len(b))
	if !json.Valid(b) {
		violate("result is not valid JSON")
	}
	resp := c.simple()
	resp.Status = 200
	resp.Headers = append(resp.Headers, KV{"content-type", "application/json"})
	resp.Body = append(resp.Body, b...)
}

func hostError(ctx context.Context, mod api.Module, stack []uint64) {
	c := callOf(ctx)
	status := int32(stack[0])
	msg := read(mod, stack[1], stack[2])
	if status == 0 {
		status = abi.DefaultErrorStatus
	}
	if status < 400 || status > 599 {
		violate("error status " + strconv.Itoa(int(status)) + " is outside 400-599")
	}
	if len(msg) > c.maxResp {
		violate("error message exceeds the response limit of " + strconv.Itoa(c.maxResp) + " bytes")
	}
	resp := c.simple()
	resp.Status = int(status)
	resp.Headers = append(resp.Headers, KV{"content-type", "application/json"})
	resp.Body = AppendScriptError(resp.Body, int(status), msg)
}

// AppendScriptError appends the original platform's error body for a
// simple-model error: {"code":400,"error":"Script returned an error.","message":"…"}.
func AppendScriptError(dst []byte, status int, msg []byte) []byte {
	m, _ := json.Marshal(string(msg)) // a string always marshals
	dst = append(dst, `{"code":`...)
	dst = append(dst, strconv.Itoa(status)...)
	dst = append(dst, `,"error":"`+abi.ScriptError+`","message":`...)
	dst = append(dst, m...)
	return append(dst, '}')
}

func hostLog(ctx context.Context, mod api.Module, stack []uint64) {
	c := callOf(ctx)
	level := uint32(stack[0])
	msg := read(mod, stack[1], stack[2])
	if level > abi.LogError {
		level = abi.LogInfo
	}
	if len(msg) > maxLogLine {
		msg = msg[:maxLogLine]
	}
	if c.logger != nil {
		c.logger.Log(c.req.Container, c.req.Name, c.req.RequestID, level, msg)
	}
}

func validHeaderName(b []byte) bool {
	if len(b) == 0 || len(b) > 256 {
		return false
	}
	for _, ch := range b {
		if !isTokenChar(ch) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func validHeaderValue(b []byte) bool {
	for _, ch := range b {
		if ch == '\r' || ch == '\n' || ch == 0 {
			return false
		}
	}
	return true
}

func reservedHeader(key string) bool {
	switch key {
	case "content-length", "transfer-encoding", "connection", "server", "date":
		return true
	}
	return strings.HasPrefix(key, "x-wt-")
}
