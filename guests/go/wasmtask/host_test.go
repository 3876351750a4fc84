//go:build !wasip1

package wasmtask

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/wasmtask/wasmtask/abi"
)

// fakeHost implements ABI v1 in Go for the tests: the request is fixed
// before a call to handle, and the response and every host call are
// recorded.
type fakeHost struct {
	fields map[abi.Field]string
	maps   map[abi.Map][][2]string // pairs, sorted as the host sends them

	calls   int // reads (get, get_value, get_map)
	status  uint32
	headers http.Header
	body    []byte
	res     []byte
	errStat uint32
	errMsg  string
	done    bool // result or error was called
	logs    []string

	// storage: none unless hasStorage; data is JSON text, nil when empty.
	hasStorage bool
	data       []byte
	etag       int

	// outbound: fetch answers each http_request (nil: every call is
	// denied); the last answer is kept for http_response.
	fetch   func(method, url string, headers map[string]string, body []byte) fakeResponse
	lastOut *fakeResponse
}

// fakeResponse is an outbound answer: code < 0 is a failure with msg.
type fakeResponse struct {
	code    int32
	msg     string
	headers string // NUL pairs
	body    string
}

func newFakeHost(t testing.TB) *fakeHost {
	h := &fakeHost{
		fields: map[abi.Field]string{
			abi.FieldMethod: "GET", abi.FieldPath: "/", abi.FieldQuery: "",
			abi.FieldBody: "", abi.FieldContainer: "acme", abi.FieldName: "hello",
			abi.FieldRequestID: "req-1", abi.FieldContextJSON: `{"method":"GET"}`,
		},
		maps:    map[abi.Map][][2]string{},
		headers: http.Header{},
	}
	old, oldHandler := nativeHost, handler
	nativeHost = h
	t.Cleanup(func() { nativeHost, handler = old, oldHandler })
	handler = nil
	return h
}

// set replaces map m with pairs, given as key, value, key, value, ….
func (h *fakeHost) set(m abi.Map, kv ...string) {
	var pairs [][2]string
	for i := 0; i+1 < len(kv); i += 2 {
		pairs = append(pairs, [2]string{kv[i], kv[i+1]})
	}
	sort.SliceStable(pairs, func(i, j int) bool { return pairs[i][0] < pairs[j][0] })
	h.maps[m] = pairs
}

// put applies the buffer rule: write only when v fits.
func put(v string, buf []byte) int32 {
	if len(v) <= len(buf) {
		copy(buf, v)
	}
	return int32(len(v))
}

func (h *fakeHost) get(f uint32, buf []byte) int32 {
	h.calls++
	v, ok := h.fields[f]
	if !ok {
		return abi.NotFound
	}
	return put(v, buf)
}

func (h *fakeHost) getValue(m uint32, key string, buf []byte) int32 {
	h.calls++
	pairs, ok := h.maps[m]
	if !ok && m > abi.MapData {
		return abi.NotFound
	}
	for _, p := range pairs {
		if p[0] == key || m == abi.MapHeaders && strings.EqualFold(p[0], key) {
			return put(p[1], buf)
		}
	}
	return abi.NotFound
}

func (h *fakeHost) getMap(m uint32, buf []byte) int32 {
	h.calls++
	pairs, ok := h.maps[m]
	if !ok && m > abi.MapData {
		return abi.NotFound
	}
	var b strings.Builder
	for _, p := range pairs {
		b.WriteString(p[0] + "\x00" + p[1] + "\x00")
	}
	return put(b.String(), buf)
}

func (h *fakeHost) storageGet(buf []byte) int32 {
	if !h.hasStorage {
		return abi.NotFound
	}
	data := "null"
	if h.data != nil {
		data = string(h.data)
	}
	return put(`{"data":`+data+`,"etag":"`+strconv.Itoa(h.etag)+`"}`, buf)
}

func (h *fakeHost) storageSet(data []byte, etag string, flags uint32, buf []byte) int32 {
	switch {
	case !h.hasStorage:
		return abi.NotFound
	case flags&abi.StorageForce == 0 && etag != strconv.Itoa(h.etag):
		return abi.StorageConflict
	case len(data) > 500<<10:
		return abi.StorageTooLarge
	}
	h.data, h.etag = append([]byte(nil), data...), h.etag+1
	return put(strconv.Itoa(h.etag), buf)
}

func (h *fakeHost) httpRequest(method, url string, headers, body []byte) int32 {
	r := fakeResponse{code: abi.HTTPDenied, msg: "no outbound policy"}
	if h.fetch != nil {
		hm := map[string]string{}
		decodePairs(string(headers), func(k, v string) { hm[k] = v })
		r = h.fetch(method, url, hm, append([]byte(nil), body...))
	}
	h.lastOut = &r
	return r.code
}

func (h *fakeHost) httpResponse(part uint32, buf []byte) int32 {
	r := h.lastOut
	switch {
	case r == nil:
		return abi.NotFound
	case part == abi.HTTPPartError && r.code < 0:
		return put(r.msg, buf)
	case part == abi.HTTPPartError, r.code < 0:
		return abi.NotFound
	case part == abi.HTTPPartHeaders:
		return put(r.headers, buf)
	case part == abi.HTTPPartBody:
		return put(r.body, buf)
	}
	return abi.NotFound
}

func (h *fakeHost) setStatus(s uint32)           { h.status = s }
func (h *fakeHost) setHeader(name, value string) { h.headers.Set(name, value) }
func (h *fakeHost) addHeader(name, value string) { h.headers.Add(name, value) }
func (h *fakeHost) writeBody(p []byte)           { h.body = append(h.body, p...) }
func (h *fakeHost) log(level uint32, msg string) {
	h.logs = append(h.logs, string('0'+rune(level))+" "+msg)
}

func (h *fakeHost) result(p []byte) {
	h.mustNotBeDone()
	h.res, h.done = append(h.res[:0], p...), true // reusing its buffer: no allocation of the fake counts against a request
}

func (h *fakeHost) error(status uint32, msg string) {
	h.mustNotBeDone()
	h.errStat, h.errMsg, h.done = status, msg, true
}

func (h *fakeHost) mustNotBeDone() {
	if h.done {
		panic("fake host: response already finished")
	}
}

// reset clears the recorded response between two requests.
func (h *fakeHost) reset() {
	h.status, h.headers, h.body, h.res = 0, http.Header{}, h.body[:0], nil
	h.errStat, h.errMsg, h.done, h.logs, h.calls = 0, "", false, nil, 0
}

func TestNative_panicsWithoutHost(t *testing.T) {
	old := nativeHost
	nativeHost = nil
	defer func() {
		nativeHost = old
		if r := recover(); r != errNotWasip1 {
			t.Fatalf("recover() = %v, want %q", r, errNotWasip1)
		}
	}()
	(&Context{}).Method()
}
