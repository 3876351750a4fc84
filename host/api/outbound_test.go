package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/host/api"
	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/host/outbound"
)

// provider is a local HTTP service webtasks call in these tests; hits
// counts the requests that reached it.
type provider struct {
	*httptest.Server
	hits atomic.Int64
	port string
}

func newProvider(t *testing.T, h http.HandlerFunc) *provider {
	p := &provider{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(p.Close)
	_, p.port, _ = net.SplitHostPort(p.Listener.Addr().String())
	return p
}

// decoy is a live HTTP listener on loopback that a test's policy does not
// list; accepts counts the connections made to it, so a test can show a
// denied call made none (not merely that nothing answered).
type decoy struct {
	*httptest.Server
	accepts atomic.Int64
	port    string
}

func newDecoy(t *testing.T) *decoy {
	d := &decoy{}
	d.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("decoy")) }))
	d.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			d.accepts.Add(1)
		}
	}
	d.Start()
	t.Cleanup(d.Close)
	_, d.port, _ = net.SplitHostPort(d.Listener.Addr().String())
	return d
}

// fetch runs the fetch probe (guests/go/examples/fetch) on u.
func (ts *testServer) fetch(u string, extra string) response {
	return ts.req("GET", "/api/run/acme/fetch?url="+url.QueryEscape(u)+extra, "", nil)
}

// wantGuestError checks an error the guest answered (the probe's 502).
func wantGuestError(t *testing.T, r response, status int, msgContains string) {
	t.Helper()
	if r.Status != status || !strings.Contains(string(r.Body), msgContains) {
		t.Fatalf("answer %d %s, want %d with %q", r.Status, r.Body, status, msgContains)
	}
}

// wantFetched checks a probe that got an answer.
func wantFetched(t *testing.T, r response, status int, body string) {
	t.Helper()
	var a struct {
		Status int
		Body   string
	}
	if r.Status != 200 || json.Unmarshal(r.Body, &a) != nil || a.Status != status || a.Body != body {
		t.Fatalf("fetch = %d %s, want an answer %d %q", r.Status, r.Body, status, body)
	}
}

// TestE2E_Outbound: a webtask calls out only as its container's policy
// says — nothing without one, only listed hosts and ports, never a
// private address reached through a name (DNS rebinding), redirects
// checked hop by hop — within the request's time, the response size
// limit and the call cap; only the admin sets the policy. A denied call
// makes no connection: the denied targets include a live listener (the
// decoy) that counts every connection it accepts.
func TestE2E_Outbound(t *testing.T) {
	var slow atomic.Bool
	p := newProvider(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Write([]byte(strings.Repeat("x", 2000)))
		case "/slow":
			if slow.Load() {
				time.Sleep(3 * time.Second)
			}
		case "/redirect-in":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/redirect-out":
			http.Redirect(w, r, "http://"+r.URL.Query().Get("to")+"/ok", http.StatusFound)
		case "/echo":
			fmt.Fprintf(w, "%s %s %s", r.Method, r.Header.Get("X-Probe"), r.Header.Get("User-Agent"))
		default:
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte("hello from " + r.URL.Path))
		}
	})
	resolve := func(_ context.Context, host string) ([]netip.Addr, error) {
		switch host {
		case "rebind.example": // a public name that resolves to loopback
			return []netip.Addr{netip.MustParseAddr("127.0.0.2")}, nil // loopback, not the listed 127.0.0.1
		case "metadata.example":
			return []netip.Addr{netip.MustParseAddr("169.254.169.254")}, nil
		case "rebind-live.example": // the listed 127.0.0.1, at the decoy's port
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		return nil, fmt.Errorf("no such host")
	}
	d := newDecoy(t)
	ts := start(t, api.Config{Engine: engine.Config{Timeout: time.Second}, Outbound: outbound.Options{Resolve: resolve}})
	ts.upload("acme", "fetch", goGuest(t, "fetch"), "")
	tenant := ts.issue(ts.Admin, `{"ten":"acme"}`)
	local := "http://127.0.0.1:" + p.port

	// No policy: nothing is called.
	wantGuestError(t, ts.fetch(local+"/ok", ""), 502, "denied: container acme has no outbound policy")
	wantGuestError(t, ts.fetch("http://127.0.0.1:"+d.port+"/ok", ""), 502, "denied: container acme has no outbound policy")

	// Only the admin sets a policy; the tenant may read it; bad policies are 400.
	wantError(t, ts.req("PUT", "/api/outbound/acme", tenant, []byte(`{"allow":["127.0.0.1"]}`)), 403, "only the admin")
	for body, msg := range map[string]string{
		`{"allow":["bad host!"]}`:              "not a host name",
		`{"allow":["a.example:99999"]}`:        "port must be",
		`{"allow":[],"max_calls":1000}`:        "max_calls",
		`{"allow":[],"max_response_bytes":-1}`: "max_response_bytes",
		`{"allowed":["a.example"]}`:            "unknown field",
		`not json`:                             "outbound policy",
	} {
		wantError(t, ts.req("PUT", "/api/outbound/acme", ts.Admin, []byte(body)), 400, msg)
	}
	policy := `{"allow":["127.0.0.1:` + p.port + `","rebind.example","metadata.example","rebind-live.example"],"max_calls":3,"max_response_bytes":1000}`
	if r := ts.req("PUT", "/api/outbound/acme", ts.Admin, []byte(policy)); r.Status != 200 {
		t.Fatalf("set policy: %d %s", r.Status, r.Body)
	}
	if got := ts.req("GET", "/api/outbound/acme", tenant, nil).JSON(t); fmt.Sprint(got["allow"]) != "[127.0.0.1:"+p.port+" rebind.example metadata.example rebind-live.example]" || got["max_calls"] != 3.0 {
		t.Fatalf("GET policy = %v", got)
	}

	wantFetched(t, ts.fetch(local+"/ok", ""), 200, "hello from /ok")
	r := ts.req("POST", "/api/run/acme/fetch?method=PUT&header=probe-1&url="+url.QueryEscape(local+"/echo"), "", []byte("body"))
	wantFetched(t, r, 200, "PUT probe-1 wasmtask")
	wantFetched(t, ts.fetch(local+"/redirect-in", ""), 200, "hello from /ok")

	hits := p.hits.Load()
	for _, c := range []struct{ url, msg string }{
		{"http://127.0.0.1:" + d.port + "/ok", "denied: 127.0.0.1:" + d.port + " is not on the container's outbound allow-list"},
		{"http://localhost:" + d.port + "/ok", "denied: localhost:" + d.port + " is not on the container's outbound allow-list"},
		{"http://other.example/ok", "denied: other.example:80 is not on the container's outbound allow-list"},
		{"http://rebind.example:" + p.port + "/ok", "denied: rebind.example resolves to 127.0.0.2"},
		{"http://rebind-live.example:" + d.port + "/ok", "denied: rebind-live.example resolves to 127.0.0.1"},
		{"http://metadata.example/latest/meta-data", "denied: metadata.example resolves to 169.254.169.254"},
		{local + "/redirect-out?to=rebind.example:" + p.port, "denied: rebind.example resolves to 127.0.0.2"},
		{local + "/redirect-out?to=rebind-live.example:" + d.port, "denied: rebind-live.example resolves to 127.0.0.1"},
		{local + "/redirect-out?to=127.0.0.1:" + d.port, "denied: redirect from 127.0.0.1:" + p.port + ": 127.0.0.1:" + d.port + " is not on the container's outbound allow-list"},
		{"ftp://127.0.0.1/x", "invalid: scheme"},
		{"http://user:pw@127.0.0.1:" + p.port + "/", "invalid: credentials in the url"},
		{"/relative", "invalid: the url is not an absolute http(s) url"},
	} {
		wantGuestError(t, ts.fetch(c.url, ""), 502, c.msg)
	}
	if got := p.hits.Load() - hits; got != 3 { // only the redirects' first hops reached it
		t.Errorf("denied calls reached the provider %d times, want only the 3 redirecting hops", got)
	}
	if n := d.accepts.Load(); n != 0 {
		t.Errorf("denied calls opened %d connections to the decoy, a live listener not on the list", n)
	}
	wantGuestError(t, ts.fetch(local+"/big", ""), 502, "too large: the response from 127.0.0.1:"+p.port+" is over the policy's limit")
	wantGuestError(t, ts.fetch(local+"/ok", "&n=4"), 502, "too many: a request may make 3 outbound calls")
	wantFetched(t, ts.fetch(local+"/ok", "&n=3"), 200, "hello from /ok")
	wantGuestError(t, ts.req("GET", "/api/run/acme/fetch?method=GET%0D%0AX&url="+url.QueryEscape(local), "", nil), 502, "invalid: method")

	// A call still waiting at the request's deadline ends it as a timeout.
	slow.Store(true)
	begin := time.Now()
	wantError(t, ts.fetch(local+"/slow", ""), 504, "wall-time limit")
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("the timeout took %s with a 1s limit", took)
	}
	slow.Store(false)

	// Deleting the policy closes the way out again.
	if r := ts.req("DELETE", "/api/outbound/acme", ts.Admin, nil); r.Status != 204 {
		t.Fatalf("delete policy: %d %s", r.Status, r.Body)
	}
	wantGuestError(t, ts.fetch(local+"/ok", ""), 502, "no outbound policy")
}

// TestE2E_OutboundLogs: every call is a host line in the container's logs
// with method, host and status — never the path, query or headers. A url
// that does not parse (a bad %-escape, a control character) is logged and
// answered to the guest by the kind of mistake, without quoting the url:
// its query holds the call's credentials.
func TestE2E_OutboundLogs(t *testing.T) {
	p := newProvider(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	ts := start(t, api.Config{})
	ts.upload("acme", "fetch", goGuest(t, "fetch"), "")
	if r := ts.req("PUT", "/api/outbound/acme", ts.Admin, []byte(`{"allow":["127.0.0.1:`+p.port+`"]}`)); r.Status != 200 {
		t.Fatalf("set policy: %d %s", r.Status, r.Body)
	}
	req, _ := http.NewRequest("GET", ts.URL+"/api/logs/tenant/acme?key="+ts.Admin, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	<-lines // the stream's opening comment
	const secret = "api_key=s3cr3t-k3y"
	local := "http://127.0.0.1:" + p.port
	wantFetched(t, ts.fetch(local+"/send?"+secret, "&header=Bearer%20s3cr3t-h3ader"), 200, "ok")
	bad := []struct{ url, msg string }{
		{local + "/send%zz?" + secret, "invalid: the url does not parse: a bad %-escape"},
		{local + "/send?" + secret + "\n", "invalid: the url does not parse: a control character"},
		{"http://127.0.0.1:port/" + secret, "invalid: the url does not parse: an invalid port"},
		{"/send?" + secret, "invalid: the url is not an absolute http(s) url"},
	}
	for _, c := range bad {
		r := ts.fetch(c.url, "")
		if strings.Contains(string(r.Body), "s3cr3t") {
			t.Errorf("the guest's error quotes the url: %s", r.Body)
		}
		wantGuestError(t, r, 502, c.msg)
	}
	// One line per call: the good one with its status, the others with
	// the kind of mistake.
	want := map[string]bool{"outbound GET 127.0.0.1:" + p.port + " 200 in ": false}
	for _, c := range bad {
		want["outbound GET (invalid url) failed after "] = false
		want[strings.TrimPrefix(c.msg, "invalid: ")] = false
	}
	deadline := time.After(10 * time.Second)
	for seen := 0; seen < len(want); {
		select {
		case line := <-lines:
			if strings.Contains(line, "s3cr3t") {
				t.Fatalf("a log line holds the call's credentials: %s", line)
			}
			for w, ok := range want {
				if !ok && strings.Contains(line, w) {
					want[w], seen = true, seen+1
				}
			}
		case <-deadline:
			t.Fatalf("log lines missing (seen %v)", want)
		}
	}
}
