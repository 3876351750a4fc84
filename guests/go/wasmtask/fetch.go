package wasmtask

import (
	"errors"
	"sort"
	"unsafe"

	"github.com/wasmtask/wasmtask/abi"
)

// Errors of Fetch (abi/SPEC.md, "Outbound HTTP"). The error Fetch returns
// wraps one of them and says why (e.g. which host is not allowed).
var (
	// ErrHTTPDenied: the container's outbound policy refuses the url (a
	// host not on its allow-list, a private or loopback address); no
	// connection was made.
	ErrHTTPDenied = errors.New("wasmtask: outbound HTTP denied")
	// ErrHTTPFailed: the call failed (DNS, connect, TLS, no answer in the
	// request's time).
	ErrHTTPFailed = errors.New("wasmtask: outbound HTTP failed")
	// ErrHTTPTooLarge: the response is over the policy's size limit.
	ErrHTTPTooLarge = errors.New("wasmtask: outbound HTTP response too large")
	// ErrHTTPTooMany: this request made all the calls the policy allows.
	ErrHTTPTooMany = errors.New("wasmtask: too many outbound HTTP calls")
	// ErrHTTPInvalid: the method, url or a header is malformed.
	ErrHTTPInvalid = errors.New("wasmtask: invalid outbound HTTP request")
)

// HTTPRequest is an outbound call: Method ("" is GET), an absolute http(s)
// URL, headers and a body.
type HTTPRequest struct {
	Method string
	URL    string
	Header map[string]string
	Body   []byte
}

// HTTPResponse is the answer to an outbound call: its status, headers
// (names lower-cased) and body. A non-2xx status is a response, not an
// error.
type HTTPResponse struct {
	Status int
	Header map[string][]string
	Body   []byte
}

// HTTPError is a failed outbound call: Kind is one of the ErrHTTP…
// values (errors.Is matches it), Message the host's reason.
type HTTPError struct {
	Kind    error
	Message string
}

func (e *HTTPError) Error() string { return e.Kind.Error() + ": " + e.Message }

// Unwrap returns Kind.
func (e *HTTPError) Unwrap() error { return e.Kind }

// Fetch makes an outbound HTTP call through the host, which applies the
// container's policy, the request's time limit and a response size limit,
// and logs the call (method, host, status; never headers or bodies).
func (c *Context) Fetch(req HTTPRequest) (*HTTPResponse, error) {
	keys := make([]string, 0, len(req.Header))
	for k := range req.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var hdrs []byte
	for _, k := range keys {
		hdrs = append(append(append(append(hdrs, k...), 0), req.Header[k]...), 0)
	}
	st := hostHTTPRequest(req.Method, req.URL, unsafe.SliceData(hdrs), uint32(len(hdrs)),
		unsafe.SliceData(req.Body), uint32(len(req.Body)))
	if st < 0 {
		msg, _ := httpPart(abi.HTTPPartError)
		return nil, &HTTPError{Kind: httpErr(st), Message: string(msg)}
	}
	resp := &HTTPResponse{Status: int(st), Header: map[string][]string{}}
	h, _ := httpPart(abi.HTTPPartHeaders)
	decodePairs(string(h), func(k, v string) { resp.Header[k] = append(resp.Header[k], v) })
	resp.Body, _ = httpPart(abi.HTTPPartBody)
	return resp, nil
}

// httpPart reads a part of the last outbound response.
func httpPart(part uint32) ([]byte, bool) {
	buf := make([]byte, 256)
	n := hostHTTPResponse(part, unsafe.SliceData(buf), uint32(len(buf)))
	if n > int32(len(buf)) {
		buf = make([]byte, n)
		n = hostHTTPResponse(part, unsafe.SliceData(buf), uint32(len(buf)))
	}
	if n < 0 || n > int32(len(buf)) {
		return nil, false
	}
	return buf[:n], true
}

func httpErr(n int32) error {
	switch n {
	case abi.HTTPDenied:
		return ErrHTTPDenied
	case abi.HTTPTooLarge:
		return ErrHTTPTooLarge
	case abi.HTTPTooMany:
		return ErrHTTPTooMany
	case abi.HTTPInvalid:
		return ErrHTTPInvalid
	}
	return ErrHTTPFailed
}
