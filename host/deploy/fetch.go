package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wasmtask/wasmtask/host/engine"
)

// fetcher fetches the modules that tokens' http(s) "url" claims point at.
//
// SSRF stance: the server fetches only from hosts the operator listed
// (Config.FetchAllow); by default none. Redirects are not followed (a 3xx is
// an error), proxies from the environment are ignored, the body is capped at
// the module limit and the whole fetch at FetchTimeout. A fetched module is
// identified by its hash: the url's hash is remembered for FetchTTL, the
// compiled code lives in the engine's cache under that hash.
type fetcher struct {
	allow  []allowEntry
	client *http.Client
	max    int
	ttl    time.Duration

	mu      sync.Mutex
	entries map[string]*fetchEntry
}

type allowEntry struct {
	host   string // lower case, without port
	port   string // "" for any port
	suffix bool   // "*.host": any subdomain of host
}

type fetchEntry struct {
	done    chan struct{}
	sha     string
	wasm    []byte // kept until the module is compiled
	err     error
	expires time.Time
}

const maxFetchEntries = 256

func newFetcher(allow []string, maxBytes int, timeout, ttl time.Duration) (*fetcher, error) {
	f := &fetcher{max: maxBytes, ttl: ttl, entries: map[string]*fetchEntry{}}
	for _, a := range allow {
		a = strings.ToLower(strings.TrimSpace(a))
		if a == "" {
			continue
		}
		var e allowEntry
		if rest, ok := strings.CutPrefix(a, "*."); ok {
			e.suffix, a = true, rest
		}
		if h, p, err := net.SplitHostPort(a); err == nil {
			if _, err := strconv.ParseUint(p, 10, 16); err != nil {
				return nil, fmt.Errorf("deploy: fetch allow-list entry %q: bad port", a)
			}
			e.host, e.port = h, p
		} else {
			e.host = strings.Trim(a, "[]")
		}
		if e.host == "" || strings.ContainsAny(e.host, "/?#@ ") {
			return nil, fmt.Errorf("deploy: fetch allow-list entry %q is not a host, host:port or *.domain", a)
		}
		f.allow = append(f.allow, e)
	}
	f.client = &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 nil, // never through HTTP_PROXY: the allow-list is about the real destination
			DialContext:           (&net.Dialer{Timeout: timeout}).DialContext,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       30 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return f, nil
}

// allowed reports whether the allow-list admits u's host and port.
func (f *fetcher) allowed(u *url.URL) bool {
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	for _, e := range f.allow {
		if e.port != "" && e.port != port {
			continue
		}
		if host == e.host || (e.suffix && strings.HasSuffix(host, "."+e.host)) {
			return true
		}
	}
	return false
}

// get returns the hash of the module at raw and, when it was fetched now,
// its bytes. Concurrent calls for one url fetch once.
func (f *fetcher) get(ctx context.Context, raw string, u *url.URL) (sha string, wasm []byte, err error) {
	now := time.Now()
	f.mu.Lock()
	e := f.entries[raw]
	if e != nil {
		select {
		case <-e.done:
			if now.After(e.expires) {
				e = nil
			}
		default:
		}
	}
	if e != nil {
		f.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			return "", nil, ctx.Err()
		}
		if e.err != nil {
			return "", nil, e.err
		}
		f.mu.Lock()
		wasm = e.wasm
		f.mu.Unlock()
		return e.sha, wasm, nil
	}
	if len(f.entries) >= maxFetchEntries {
		for k, old := range f.entries {
			select {
			case <-old.done:
				delete(f.entries, k)
			default:
			}
			if len(f.entries) < maxFetchEntries {
				break
			}
		}
	}
	e = &fetchEntry{done: make(chan struct{})}
	f.entries[raw] = e
	f.mu.Unlock()

	wasm, err = f.fetch(ctx, u)
	if err == nil {
		sha = engine.SHA256(wasm)
	}
	e.sha, e.wasm, e.err, e.expires = sha, wasm, err, time.Now().Add(f.ttl)
	close(e.done)
	if err != nil {
		f.forget(raw, e) // do not cache failures
		return "", nil, err
	}
	return sha, wasm, nil
}

// forget drops the cached entry of raw (if it is still e).
func (f *fetcher) forget(raw string, e *fetchEntry) {
	f.mu.Lock()
	if cur := f.entries[raw]; cur == e || e == nil {
		delete(f.entries, raw)
	}
	f.mu.Unlock()
}

// compiled drops the bytes of raw once its module is compiled.
func (f *fetcher) compiled(raw string) {
	f.mu.Lock()
	if e := f.entries[raw]; e != nil {
		select {
		case <-e.done:
			e.wasm = nil
		default:
		}
	}
	f.mu.Unlock()
}

func (f *fetcher) fetch(ctx context.Context, u *url.URL) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFetch, err)
	}
	req.Header.Set("Accept", "application/wasm")
	res, err := f.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && ue.Timeout() {
			return nil, fmt.Errorf("%w: the fetch took longer than %s", ErrFetch, f.client.Timeout)
		}
		return nil, fmt.Errorf("%w: the server cannot be reached", ErrFetch)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: the url answered HTTP %d (redirects are not followed)", ErrFetch, res.StatusCode)
	}
	if res.ContentLength > int64(f.max) {
		return nil, fmt.Errorf("%w: the module is larger than the limit of %d bytes", ErrFetch, f.max)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, int64(f.max)+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the body failed", ErrFetch)
	}
	if len(b) > f.max {
		return nil, fmt.Errorf("%w: the module is larger than the limit of %d bytes", ErrFetch, f.max)
	}
	return b, nil
}
