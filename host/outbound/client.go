package outbound

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/engine"
)

// Options are a Client's settings besides its Policy.
type Options struct {
	// Resolve resolves a host name to addresses (nil: the system
	// resolver). Tests use it to play DNS rebinding.
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
	// TLSConfig is used for https (nil: the system's roots).
	TLSConfig *tls.Config
}

// Client makes one container's calls under its policy, with its own
// connection pool (one per host it calls): tenants never share a
// connection. It is safe for concurrent use.
type Client struct {
	r       *rules
	hc      *fasthttp.Client
	resolve func(ctx context.Context, host string) ([]netip.Addr, error)
}

// maxRedirects is how many redirects one call follows.
const maxRedirects = 5

// maxRequestBody caps what a guest may send in one call.
const maxRequestBody = MaxMaxResponseBytes

// NewClient returns a client for policy p.
func NewClient(p Policy, o Options) (*Client, error) {
	r, err := p.compile()
	if err != nil {
		return nil, err
	}
	c := &Client{r: r, resolve: o.Resolve}
	if c.resolve == nil {
		c.resolve = systemResolve
	}
	c.hc = &fasthttp.Client{
		Name:                      "wasmtask",
		DialTimeout:               c.dial,
		TLSConfig:                 o.TLSConfig,
		MaxConnsPerHost:           64,
		MaxConnWaitTimeout:        time.Second,
		MaxIdleConnDuration:       30 * time.Second,
		MaxIdemponentCallAttempts: 1, // never send a request twice
		ReadBufferSize:            16 << 10,
		MaxResponseBodySize:       r.maxResp,
		DisablePathNormalizing:    true,
	}
	return c, nil
}

// MaxCalls is how many calls one request may make.
func (c *Client) MaxCalls() int { return c.r.maxCalls }

// CloseIdle closes the client's idle connections (when its policy is
// replaced).
func (c *Client) CloseIdle() { c.hc.CloseIdleConnections() }

func systemResolve(ctx context.Context, host string) ([]netip.Addr, error) {
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	return addrs, err
}

// ErrTimeout marks (besides engine.ErrOutboundFailed) a call that got no
// answer before the request's deadline.
var ErrTimeout = errors.New("timeout")

// failedTimeout is engine.ErrOutboundFailed (its text too) that also
// matches ErrTimeout.
type failedTimeout struct{}

func (failedTimeout) Error() string   { return engine.ErrOutboundFailed.Error() }
func (failedTimeout) Unwrap() []error { return []error{engine.ErrOutboundFailed, ErrTimeout} }

// deniedError is a policy refusal found while dialling (the address a
// name resolved to); it crosses fasthttp's Do unchanged.
type deniedError struct{ msg string }

func (e *deniedError) Error() string { return e.msg }

// dial connects to addr (host:port) at an address the policy allows.
func (c *Client) dial(addr string, timeout time.Duration) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		ips, err = c.resolve(ctx, host)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("cannot resolve %s", host)
		}
	}
	var denied netip.Addr
	d := net.Dialer{Timeout: timeout}
	for _, ip := range ips {
		if special(ip) && !c.r.explicitIP(ip, port) {
			denied = ip
			continue
		}
		// Dial the checked address itself: nothing resolves the name again.
		return d.Dial("tcp", net.JoinHostPort(ip.Unmap().String(), port))
	}
	if denied.IsValid() {
		return nil, &deniedError{msg: fmt.Sprintf("%s resolves to %s, a private or loopback address the policy does not name", host, denied.Unmap())}
	}
	return nil, fmt.Errorf("%s has no address", host)
}

// Do makes one call (following redirects, each hop checked), giving up
// at deadline. It implements the heart of engine.Outbound; the caller
// counts calls.
func (c *Client) Do(deadline time.Time, in *engine.OutboundRequest) (*engine.OutboundResponse, error) {
	method := strings.ToUpper(in.Method)
	if method == "" {
		method = "GET"
	}
	if !validMethod(method) {
		return nil, fmt.Errorf("%w: method %q is not an HTTP method", engine.ErrOutboundInvalid, clip(in.Method))
	}
	if len(in.Body) > maxRequestBody {
		return nil, fmt.Errorf("%w: the body is over %d bytes", engine.ErrOutboundInvalid, maxRequestBody)
	}
	u, err := c.check(in.URL)
	if err != nil {
		return nil, err
	}
	for _, h := range in.Headers {
		if err := checkHeader(h.Key, h.Value); err != nil {
			return nil, err
		}
	}
	if deadline.IsZero() {
		deadline = time.Now().Add(30 * time.Second)
	}
	headers, body := in.Headers, in.Body
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	for hop := 0; ; hop++ {
		// A new request per hop: nothing of the previous hop (its Host) stays.
		req.Reset()
		req.Header.DisableNormalizing()
		req.URI().DisablePathNormalizing = true
		req.SetRequestURI(u.String())
		req.Header.SetMethod(method)
		for _, h := range headers {
			req.Header.Add(h.Key, h.Value)
		}
		if len(body) > 0 {
			req.SetBody(body)
		}
		if err := c.hc.DoDeadline(req, resp, deadline); err != nil {
			return nil, callError(u, err)
		}
		st := resp.StatusCode()
		loc := resp.Header.Peek("Location")
		if !isRedirect(st) || len(loc) == 0 {
			break
		}
		if hop == maxRedirects {
			return nil, fmt.Errorf("%w: more than %d redirects from %s", engine.ErrOutboundFailed, maxRedirects, u.Host)
		}
		next, err := u.Parse(string(loc))
		if err != nil {
			return nil, fmt.Errorf("%w: %s redirected to a location that does not parse", engine.ErrOutboundFailed, u.Host)
		}
		if next, err = c.check(next.String()); err != nil {
			return nil, fmt.Errorf("redirect from %s: %w", u.Host, err)
		}
		if st == 303 || (st == 301 || st == 302) && method == "POST" {
			method, body = "GET", nil
			headers = without(headers, "content-type")
		}
		if !strings.EqualFold(next.Host, u.Host) {
			// Credentials meant for one host never follow a redirect to another.
			headers = without(without(headers, "authorization"), "cookie")
		}
		u = next
	}
	out := &engine.OutboundResponse{Status: resp.StatusCode(), Body: append([]byte(nil), resp.Body()...)}
	for k, v := range resp.Header.All() {
		out.Headers = append(out.Headers, engine.KV{Key: strings.ToLower(string(k)), Value: string(v)})
	}
	engine.SortKV(out.Headers)
	return out, nil
}

// check parses raw and checks it against the policy before any
// connection: scheme, no credentials, a listed host and port.
//
// Its errors, like every error of Do, never quote the url: they name its
// host when it parses, else the kind of mistake. The same message goes to
// the guest and to the container's log (webtasks put credentials in
// paths and queries: ?api_key=…), so neither shows what a log must not.
func (c *Client) check(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: the url does not parse: %s", engine.ErrOutboundInvalid, parseProblem(err))
	case u.Host == "":
		return nil, fmt.Errorf("%w: the url is not an absolute http(s) url (no host)", engine.ErrOutboundInvalid)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%w: scheme %q: only http and https are called", engine.ErrOutboundInvalid, clip(u.Scheme))
	case u.User != nil:
		return nil, fmt.Errorf("%w: credentials in the url: send an Authorization header instead", engine.ErrOutboundInvalid)
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !c.r.explicitIP(ip, port) {
			return nil, fmt.Errorf("%w: %s is not on the container's outbound allow-list", engine.ErrOutboundDenied, net.JoinHostPort(host, port))
		}
		return u, nil
	}
	if !validHostname(host) {
		return nil, fmt.Errorf("%w: host %q is not a host name", engine.ErrOutboundInvalid, clip(host))
	}
	if !c.r.allowsName(host, port) {
		return nil, fmt.Errorf("%w: %s is not on the container's outbound allow-list", engine.ErrOutboundDenied, net.JoinHostPort(host, port))
	}
	return u, nil
}

// parseProblem names what url.Parse refused, without quoting the url
// (its errors do: *url.Error holds all of it).
func parseProblem(err error) string {
	var esc url.EscapeError
	var host url.InvalidHostError
	switch msg := err.Error(); {
	case errors.As(err, &esc):
		return "a bad %-escape"
	case errors.As(err, &host):
		return "an invalid character in the host"
	case strings.Contains(msg, "invalid control character"):
		return "a control character"
	case strings.Contains(msg, "invalid port"):
		return "an invalid port"
	case strings.Contains(msg, "missing protocol scheme"):
		return "no scheme"
	case strings.Contains(msg, "first path segment in URL cannot contain colon"):
		return "no scheme and a colon in the first path segment"
	}
	return "malformed"
}

// callError classifies an error of fasthttp's Do. Its message names the
// host and the kind of failure, never fasthttp's text: that can quote the
// answer's bytes (headers with cookies), which no log may show.
func callError(u *url.URL, err error) error {
	var de *deniedError
	switch {
	case errors.As(err, &de):
		return fmt.Errorf("%w: %s", engine.ErrOutboundDenied, de.msg)
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return fmt.Errorf("%w: the response from %s is over the policy's limit", engine.ErrOutboundTooLarge, u.Host)
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout):
		return fmt.Errorf("%w: %s did not answer in the request's time", failedTimeout{}, u.Host)
	case errors.Is(err, fasthttp.ErrNoFreeConns), errors.Is(err, fasthttp.ErrConnPoolStrategyNotImpl):
		return fmt.Errorf("%w: too many calls to %s at once", engine.ErrOutboundFailed, u.Host)
	}
	var ne *net.OpError
	if errors.As(err, &ne) && ne.Op == "dial" {
		return fmt.Errorf("%w: cannot connect to %s", engine.ErrOutboundFailed, u.Host)
	}
	var te tls.RecordHeaderError
	if errors.As(err, &te) || errors.Is(err, fasthttp.ErrTLSHandshakeTimeout) {
		return fmt.Errorf("%w: TLS with %s failed", engine.ErrOutboundFailed, u.Host)
	}
	if errors.Is(err, fasthttp.ErrConnectionClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %s closed the connection before answering", engine.ErrOutboundFailed, u.Host)
	}
	if ne != nil { // a read or write on the connection failed: the system's reason
		return fmt.Errorf("%w: %s: %v", engine.ErrOutboundFailed, u.Host, ne.Err)
	}
	return fmt.Errorf("%w: %s did not answer with valid HTTP", engine.ErrOutboundFailed, u.Host)
}

// without returns hs without the headers called name (a copy when any is
// dropped: hs may view guest memory).
func without(hs []engine.KV, name string) []engine.KV {
	var out []engine.KV
	for _, h := range hs {
		if !strings.EqualFold(h.Key, name) {
			out = append(out, h)
		}
	}
	return out
}

func isRedirect(st int) bool {
	return st == 301 || st == 302 || st == 303 || st == 307 || st == 308
}

// validMethod: an HTTP token of at most 16 bytes.
func validMethod(m string) bool {
	if m == "" || len(m) > 16 {
		return false
	}
	for i := 0; i < len(m); i++ {
		if !isTokenChar(m[i]) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// hostHeaders are the headers the client owns.
var hostHeaders = map[string]bool{"host": true, "content-length": true, "transfer-encoding": true, "connection": true,
	"keep-alive": true, "upgrade": true, "te": true, "trailer": true, "proxy-authorization": true, "proxy-connection": true}

// checkHeader checks one header the guest sends (never quoting its value:
// it may be a credential).
func checkHeader(k, v string) error {
	if k == "" || len(k) > 256 {
		return fmt.Errorf("%w: a header name is empty or over 256 bytes", engine.ErrOutboundInvalid)
	}
	for i := 0; i < len(k); i++ {
		if !isTokenChar(k[i]) {
			return fmt.Errorf("%w: header name %q is not an HTTP token", engine.ErrOutboundInvalid, clip(k))
		}
	}
	if hostHeaders[strings.ToLower(k)] {
		return fmt.Errorf("%w: header %s is set by the host", engine.ErrOutboundInvalid, k)
	}
	if len(v) > 8<<10 || strings.ContainsAny(v, "\r\n\x00") {
		return fmt.Errorf("%w: the value of header %s is over 8 KiB or holds CR, LF or NUL", engine.ErrOutboundInvalid, k)
	}
	return nil
}

// clip shortens what the guest gave for an error message.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}

// HTTPClient is a net/http client whose requests go through c (the
// policy, its limits and its connections), for libraries that fetch with
// net/http — such as the JWKS of a webtask's JWT check. Each request
// gives up after timeout.
func (c *Client) HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Transport: roundTripper{c: c, timeout: timeout}, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type roundTripper struct {
	c       *Client
	timeout time.Duration
}

func (rt roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	in := &engine.OutboundRequest{Method: r.Method, URL: r.URL.String()}
	for k, vs := range r.Header {
		for _, v := range vs {
			in.Headers = append(in.Headers, engine.KV{Key: k, Value: v})
		}
	}
	if r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		in.Body = b
	}
	deadline := time.Now().Add(rt.timeout)
	if d, ok := r.Context().Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	out, err := rt.c.Do(deadline, in)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	for _, kv := range out.Headers {
		h.Add(kv.Key, kv.Value)
	}
	return &http.Response{StatusCode: out.Status, Status: strconv.Itoa(out.Status) + " " + http.StatusText(out.Status),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h, Body: io.NopCloser(bytes.NewReader(out.Body)),
		ContentLength: int64(len(out.Body)), Request: r}, nil
}
