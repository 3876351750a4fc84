package engine

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

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
	out     outboundState // the last outbound HTTP call (outbound.go)
	slots   *runSlots     // the container's slot the call holds (slots.go); nil: none
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

// hostModule builds the wasmtask_v1 host module in rt. Every function works
// on the raw stack (api.GoModuleFunc): no reflection on the hot path.
func (e *Engine) hostModule(rt wazero.Runtime) wazero.HostModuleBuilder {
	i32 := api.ValueTypeI32
	b := rt.NewHostModuleBuilder(abi.ModuleName)
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
	fn(abi.FuncSource, hostSource, p(2), p(1))
	fn(abi.FuncLibrary, hostLibrary, p(4), p(1))
	fn(abi.FuncStorageGet, hostStorageGet, p(2), p(1))
	fn(abi.FuncStorageSet, hostStorageSet, p(7), p(1))
	fn(abi.FuncHTTPRequest, hostHTTPRequest, p(8), p(1))
	fn(abi.FuncHTTPResponse, hostHTTPResponse, p(3), p(1))
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
func out(ctx context.Context, mod api.Module, buf, bufLen uint64, n int, write func(dst []byte)) uint64 {
	if n >= largeCopy {
		checkDeadline(ctx)
	}
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

func outString(ctx context.Context, mod api.Module, buf, bufLen uint64, s string) uint64 {
	return out(ctx, mod, buf, bufLen, len(s), func(dst []byte) { copy(dst, s) })
}

// notFound is abi.NotFound (-1) as an i32 on the stack.
const notFound uint64 = 0xFFFFFFFF

func hostGet(ctx context.Context, mod api.Module, stack []uint64) {
	r := callOf(ctx).req
	field, buf, bufLen := uint32(stack[0]), stack[1], stack[2]
	switch field {
	case abi.FieldMethod, abi.FieldPath, abi.FieldContainer, abi.FieldName, abi.FieldRequestID, abi.FieldUser:
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
		stack[0] = out(ctx, mod, buf, bufLen, len(r.Body), func(dst []byte) { copy(dst, r.Body) })
		return
	case abi.FieldContainer:
		s = r.Container
	case abi.FieldName:
		s = r.Name
	case abi.FieldRequestID:
		s = r.RequestID
	case abi.FieldContextJSON:
		j := r.ContextJSON()
		stack[0] = out(ctx, mod, buf, bufLen, len(j), func(dst []byte) { copy(dst, j) })
		return
	case abi.FieldUser:
		if r.User == nil {
			stack[0] = absent(mod, buf, bufLen)
			return
		}
		stack[0] = out(ctx, mod, buf, bufLen, len(r.User), func(dst []byte) { copy(dst, r.User) })
		return
	default:
		stack[0] = absent(mod, buf, bufLen)
		return
	}
	stack[0] = outString(ctx, mod, buf, bufLen, s)
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
	stack[0] = outString(ctx, mod, buf, bufLen, v)
}

func hostGetMap(ctx context.Context, mod api.Module, stack []uint64) {
	r := callOf(ctx).req
	id, buf, bufLen := uint32(stack[0]), stack[1], stack[2]
	kvs, ok := r.mapOf(id)
	if !ok {
		stack[0] = absent(mod, buf, bufLen)
		return
	}
	stack[0] = outPairs(ctx, mod, buf, bufLen, kvs)
}

// outPairs answers kvs in the NUL-pair encoding, under the buffer rule.
func outPairs(ctx context.Context, mod api.Module, buf, bufLen uint64, kvs []KV) uint64 {
	return out(ctx, mod, buf, bufLen, encodedMapLen(kvs), func(dst []byte) {
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

// Response limits. Config.MaxResponseBytes (c.maxResp) caps what the guest
// puts in a response, in bytes as sent: every header it sets, as
// "name: value\r\n", plus the body it writes; for the simple model, the
// result as given, or the error message once JSON-encoded. Framing the host
// adds is not counted: the status line, its own headers (content-length,
// date, server, x-wt-*, the simple model's content-type) and the fixed part
// of a script error body, a few hundred bytes at most.
//
// The guest's headers are also capped on their own: 8 KiB per value (the
// usual per-line limit of servers and proxies) and 64 KiB for all of them,
// as sent. Clients and proxies refuse a head larger than their buffer
// (fasthttp's client and nginx read 4-8 KiB by default, Node.js 16 KiB), so
// a head is never worth megabytes of the host's memory.
const (
	maxHeaders     = 100      // response headers
	maxHeaderValue = 8 << 10  // bytes in one header value
	maxHead        = 64 << 10 // bytes of all the guest's headers, as sent
)

// headerSize is the size of a header as sent: name ": " value CRLF.
func headerSize(name, value int) int { return name + value + len(": \r\n") }

// checkSize traps unless n more bytes fit in the response limit. what names
// the call for the message.
func (c *call) checkSize(n int, what string) {
	if n > c.maxResp-c.resp.size() {
		violate("response exceeds the limit of " + strconv.Itoa(c.maxResp) +
			" bytes (headers and body, as sent) at " + what)
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
	if len(value) > maxHeaderValue {
		violate("header value exceeds the limit of " + strconv.Itoa(maxHeaderValue) + " bytes")
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
			} else {
				resp.head -= headerSize(len(h.Key), len(h.Value))
			}
		}
		clear(resp.Headers[len(kept):]) // drop the replaced strings
		resp.Headers = kept
	}
	if len(resp.Headers) >= maxHeaders {
		violate("more than " + strconv.Itoa(maxHeaders) + " response headers")
	}
	n := headerSize(len(key), len(value))
	if resp.head+n > maxHead {
		violate("response headers exceed the limit of " + strconv.Itoa(maxHead) + " bytes (as sent)")
	}
	if replace {
		c.checkSize(n, "set_header")
	} else {
		c.checkSize(n, "add_header")
	}
	resp.Headers = append(resp.Headers, KV{Key: key, Value: string(value)})
	resp.head += n
}

func hostWriteBody(ctx context.Context, mod api.Module, stack []uint64) {
	c := callOf(ctx)
	b := read(mod, stack[0], stack[1])
	resp := c.raw()
	c.checkSize(len(b), "write_body")
	resp.Body = append(resp.Body, b...)
}

func hostResult(ctx context.Context, mod api.Module, stack []uint64) {
	c := callOf(ctx)
	b := read(mod, stack[0], stack[1])
	c.checkSize(len(b), "result")
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
	// The message is sent JSON-encoded, 1 to 6 bytes per byte (an invalid
	// UTF-8 byte becomes \ufffd). Its length is a lower bound that refuses a
	// huge message without reading it; then the exact size, before encoding.
	c.checkSize(len(msg)+2, "error")
	c.checkSize(jsonStringLen(msg), "error (message JSON-encoded)")
	resp := c.simple()
	resp.Status = int(status)
	resp.Headers = append(resp.Headers, KV{"content-type", "application/json"})
	resp.Body = AppendScriptError(resp.Body, int(status), msg)
}

// AppendScriptError appends the original platform's error body for a
// simple-model error: {"code":400,"error":"Script returned an error.","message":"…"}.
// The message is encoded as json.Marshal encodes a string.
func AppendScriptError(dst []byte, status int, msg []byte) []byte {
	dst = append(dst, `{"code":`...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, `,"error":"`+abi.ScriptError+`","message":`...)
	dst = appendJSONString(dst, msg)
	return append(dst, '}')
}

// jsonEscape[b] is how encoding/json writes ASCII byte b inside a string
// (HTML-safe, as json.Marshal does): 0 as is, 'u' as \u00XX (control
// bytes, <, > and &), otherwise \ followed by that byte.
var jsonEscape = func() (t [utf8.RuneSelf]byte) {
	for b := range t {
		switch {
		case b == '"' || b == '\\':
			t[b] = byte(b)
		case b == '\b':
			t[b] = 'b'
		case b == '\f':
			t[b] = 'f'
		case b == '\n':
			t[b] = 'n'
		case b == '\r':
			t[b] = 'r'
		case b == '\t':
			t[b] = 't'
		case b < 0x20 || b == '<' || b == '>' || b == '&':
			t[b] = 'u'
		}
	}
	return t
}()

// jsonEscapedRune reports whether the rune r of size bytes at the start of
// a multi-byte sequence is written as a 6-byte escape: an invalid byte
// (\ufffd) and U+2028, U+2029 (\u2028, \u2029).
func jsonEscapedRune(r rune, size int) bool {
	return (r == utf8.RuneError && size == 1) || r == '\u2028' || r == '\u2029'
}

// appendJSONString appends s as a JSON string, byte for byte as
// json.Marshal(string(s)) writes it, without allocating.
func appendJSONString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			esc := jsonEscape[b]
			if esc == 0 {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			if esc == 'u' {
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			} else {
				dst = append(dst, '\\', esc)
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if jsonEscapedRune(r, size) {
			dst = append(dst, s[start:i]...)
			if size == 1 {
				dst = append(dst, `\ufffd`...)
			} else {
				dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
			}
			start = i + size
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// jsonStringLen is len(appendJSONString(nil, s)).
func jsonStringLen(s []byte) int {
	n := len(s) + 2
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			switch jsonEscape[b] {
			case 0:
			case 'u':
				n += 5
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if jsonEscapedRune(r, size) {
			n += 6 - size
		}
		i += size
	}
	return n
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

// hostSource hands the webtask's source to a module that interprets it
// (NewPoolSource), during initialisation only: the code is evaluated
// before the snapshot the fresh policy restores.
func hostSource(ctx context.Context, mod api.Module, stack []uint64) {
	rc, _ := ctx.(*reqCtx)
	if rc == nil || !rc.initialising {
		violate("source called outside initialisation (only the start function and _initialize may read the source)")
	}
	buf, bufLen := stack[0], stack[1]
	if rc.source == nil {
		stack[0] = absent(mod, buf, bufLen)
		return
	}
	stack[0] = out(ctx, mod, buf, bufLen, len(rc.source), func(dst []byte) { copy(dst, rc.source) })
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
	case "content-length", "transfer-encoding", "trailer", "connection", "server", "date":
		return true
	}
	return strings.HasPrefix(key, "x-wt-")
}
