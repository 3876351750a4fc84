package editor_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/wasmtask/wasmtask/host/api"
	"github.com/wasmtask/wasmtask/host/editor"
)

// The three versions of seed 001's webtask, character for character (as
// host/api/js_test.go has them).
const (
	seed001Simple = `module.exports = function(context, cb) {
  if(context.query.secret !== 'open-sesame') {
    cb(new Error('Not Authorized'));
  } else {
    cb(null, { question: 'Am I secure?', answer: 'Yes!' });
  }
};
`
	seed001Raw = `module.exports = function(context, request, response) {
  if(context.query.secret !== 'open-sesame') {
    response.writeHead(403);
    response.end();
  } else {
    response.writeHead(200, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify({ question: 'Am I secure?', answer: 'Yes!' }));
  }
};
`
	seed001Secrets = `module.exports = function(context, request, response) {
  if(context.query.secret !== context.secrets['auth-secret']) {
    response.writeHead(403);
    response.end();
  } else {
    response.writeHead(200, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify({ question: 'Am I secure?', answer: 'Yes!' }));
  }
};
`
)

// server is a real wasmtask server on a loopback port.
type server struct {
	URL, Admin string
}

// start runs a server on 127.0.0.1:0 (as host/api's tests do) and stops it
// when the test ends.
func start(t *testing.T, cfg api.Config) server {
	t.Helper()
	cfg.DataDir = t.TempDir()
	srv, err := api.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	return server{URL: "http://" + ln.Addr().String(), Admin: srv.AdminToken()}
}

// req makes one request and returns the response with its body read.
func (s server) req(t *testing.T, method, path, token, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	r, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ": ")
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// skipOrFail skips the test for a missing prerequisite, and fails it under
// CI=true, where make test has installed everything.
func skipOrFail(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// jsEngine returns the JavaScript engine `make guests` builds.
func jsEngine(t *testing.T) string {
	t.Helper()
	p := filepath.Join("..", "..", "guests", "build", "js", "engine.wasm")
	if _, err := os.Stat(p); err != nil {
		skipOrFail(t, fmt.Sprintf("the JavaScript engine is not built: run make guests (%v)", err))
	}
	return p
}

// chromium returns the headless browser: Debian's chromium (make chromium
// installs it), or another Chrome on the PATH.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	skipOrFail(t, "no Chromium: run make chromium (apt-get install -y chromium)")
	return ""
}

// TestEditor_Serve: the page and its assets, with their types, cache
// headers and the Content-Security-Policy, and what is not there.
func TestEditor_Serve(t *testing.T) {
	s := start(t, api.Config{})
	tests := []struct {
		name, method, path string
		status             int
		contentType, cache string
	}{
		{"the page for a container", "GET", "/edit/acme", 200, "text/html; charset=utf-8", "no-cache"},
		{"the page for a webtask", "GET", "/edit/acme/shared-secret", 200, "text/html; charset=utf-8", "no-cache"},
		{"wt-cli's versioned path", "GET", "/edit/v2/acme", 200, "text/html; charset=utf-8", "no-cache"},
		{"sign-in", "GET", "/edit/", 200, "text/html; charset=utf-8", "no-cache"},
		{"HEAD", "HEAD", "/edit/acme", 200, "text/html; charset=utf-8", "no-cache"},
		{"a script", "GET", "/edit/assets/app.js", 200, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable"},
		{"the styles", "GET", "/edit/assets/editor.css", 200, "text/css; charset=utf-8", "public, max-age=31536000, immutable"},
		{"no such asset", "GET", "/edit/assets/none.js", 404, "", ""},
		{"too deep", "GET", "/edit/a/b/c", 404, "", ""},
		{"not a name", "GET", "/edit/a%20b", 404, "", ""},
		{"POST", "POST", "/edit/acme", 405, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := s.req(t, tt.method, tt.path, "", "")
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status != 200 { // the server's JSON error
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" || !strings.Contains(body, `"code":`+strconv.Itoa(tt.status)) {
					t.Errorf("error answer: %s %s", ct, body)
				}
				return
			}
			if got := resp.Header.Get("Content-Security-Policy"); got != editor.CSP {
				t.Errorf("CSP = %q", got)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q", got)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tt.contentType)
			}
			if got := resp.Header.Get("Cache-Control"); got != tt.cache {
				t.Errorf("Cache-Control = %q, want %q", got, tt.cache)
			}
		})
	}
	t.Run("the page's assets are versioned and there; 304 when current", func(t *testing.T) {
		resp, page := s.req(t, "GET", "/edit/acme", "", "")
		refs := regexp.MustCompile(`/edit/assets/[a-z]+\.(?:js|css)\?v=[0-9a-f]{12}`).FindAllString(page, -1)
		if len(refs) != 2 || strings.Contains(page, "VERSION") {
			t.Fatalf("references = %v in\n%s", refs, page)
		}
		for _, ref := range refs {
			if r, body := s.req(t, "GET", ref, "", ""); r.StatusCode != 200 || strings.Contains(body, "?v=VERSION") {
				t.Errorf("%s = %d", ref, r.StatusCode)
			}
		}
		if r, _ := s.req(t, "GET", "/edit/acme", "", "", "If-None-Match: "+resp.Header.Get("ETag")); r.StatusCode != 304 {
			t.Errorf("revalidation = %d, want 304", r.StatusCode)
		}
		if strings.Contains(page, "<script>") || strings.Contains(page, " style=") || strings.Contains(page, "onclick") {
			t.Error("the page has inline script or style, which the CSP refuses")
		}
	})
}

// browser is a headless Chromium tab, its viewport 1200x800.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // root in a container has no user namespaces
		chromedp.WindowSize(1200, 800),
		chromedp.Flag("hide-scrollbars", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx}
	b.do(chromedp.EmulateViewport(1200, 800))
	return b
}

// tab opens another tab of the same browser (its own sessionStorage).
func (b *browser) tab() *browser {
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	nb := &browser{t: b.t, ctx: ctx}
	nb.do(chromedp.EmulateViewport(1200, 800))
	return nb
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browser) click(sel string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

func (b *browser) set(sel, v string) { b.t.Helper(); b.do(chromedp.SetValue(chromedp.CSS(sel), v)) }

func (b *browser) eval(js string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("%s: %v", js, err)
	}
	return v
}

func (b *browser) text(sel string) string {
	return b.eval(fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ''`, sel))
}

// wait waits until the text of sel holds want, and fails with what it
// holds after 15 s.
func (b *browser) wait(sel, want string) {
	b.t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.PollFunction[bool](
		`(sel, want) => { const e = document.querySelector(sel); return !!e && e.textContent.includes(want); }`,
		chromedp.WithPollingArgs(sel, want), chromedp.WithPollingTimeout(15*time.Second), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		b.t.Fatalf("waiting for %q in %s: %v; it holds %q; status %q", want, sel, err, b.text(sel), b.text("#status"))
	}
}

// paste replaces the code with src as a paste does: one text insertion.
func (b *browser) paste(src string) {
	b.t.Helper()
	b.do(chromedp.Focus(chromedp.CSS("#code")), chromedp.Evaluate[chromedp.Void](`document.getElementById('code').select()`))
	if _, err := chromedp.Call(b.ctx, input.InsertText, input.InsertTextParams{Text: src}); err != nil {
		b.t.Fatal(err)
	}
	if got := b.eval(`document.getElementById('code').value`); got != src {
		b.t.Fatalf("the code after the paste is\n%s", got)
	}
}

// ctrl presses Ctrl and key.
func (b *browser) ctrl(key string) {
	b.t.Helper()
	b.do(chromedp.KeyEvent(key, chromedp.KeyModifiers(chromedp.ModifierCtrl)))
}

// run sets the first URL param to secret=value, runs with the Run button
// and returns the status and body shown.
func (b *browser) run(value string) (status, body string) {
	b.t.Helper()
	b.set("#run-params .kv-row .k", "secret")
	b.set("#run-params .kv-row .v", value)
	before := b.eval(`String(document.querySelectorAll('#run-history li button').length)`)
	b.click("#run-submit")
	b.waitRuns(before)
	return b.text("#run-status"), b.text("#run-output")
}

// waitRuns waits until the history has more runs than before.
func (b *browser) waitRuns(before string) {
	b.t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.PollFunction[bool](
		`(n) => document.querySelectorAll('#run-history li button').length > +n`,
		chromedp.WithPollingArgs(before), chromedp.WithPollingTimeout(15*time.Second)))
	if err != nil {
		b.t.Fatalf("no run: %v; status %q", err, b.text("#status"))
	}
}

// screenshot writes docs/editor-<name>.png when WASMTASK_SCREENSHOTS=1.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	if os.Getenv("WASMTASK_SCREENSHOTS") != "1" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatal(err)
	}
	p := filepath.Join("..", "..", "docs", "editor-"+name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("wrote %s (%d KB)", p, len(png)>>10)
}

// issue issues a token with claims from the admin token.
func (s server) issue(t *testing.T, claims string) string {
	t.Helper()
	resp, body := s.req(t, "POST", "/api/tokens/issue", s.Admin, claims, "Content-Type: application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("issue %s: %d %s", claims, resp.StatusCode, body)
	}
	return strings.TrimSpace(body)
}

// TestEditor_Seed001 follows seed 001 in the editor, in headless Chromium,
// with a tenant token for container acme, opened as wt-cli's `wt edit`
// opens it.
func TestEditor_Seed001(t *testing.T) {
	began := time.Now()
	engine := jsEngine(t)
	b := newBrowser(t)
	s := start(t, api.Config{JSEngine: engine})
	tenant := s.issue(t, `{"ten":"acme"}`)

	// wt edit: {url}/edit/{container}#/{token}
	b.do(chromedp.Navigate(s.URL + "/edit/acme#/" + tenant))
	b.wait("#log-state", "live")
	if got := b.eval(`location.href`); got != s.URL+"/edit/acme" {
		t.Errorf("the address still holds the token: %s", got)
	}
	if got := b.eval(`sessionStorage.getItem('wasmtask.token')`); got != tenant {
		t.Errorf("sessionStorage token = %q", got)
	}

	// Create empty, named shared-secret, Save; Run shows the template's answer.
	b.click("#new")
	b.set("#create-name", "shared-secret")
	b.click("#create-save")
	b.wait("#webtasks", "shared-secret")
	b.wait("#where", "acme / shared-secret")
	if got := b.eval(`location.pathname`); got != "/edit/acme/shared-secret" {
		t.Errorf("path = %s", got)
	}
	if status, body := b.run("x"); status != "200" || !strings.Contains(body, `"hello": "Anonymous"`) {
		t.Fatalf("the empty webtask: %s %s", status, body)
	}
	if got := b.eval(`document.getElementById('url').value`); got != s.URL+"/api/run/acme/shared-secret" {
		t.Errorf("footer URL = %s", got)
	}

	// The shared key: the first version, saved with Ctrl-S.
	b.paste(seed001Simple)
	if got := b.text("#highlight .t-keyword"); got != "function" {
		t.Errorf("the first keyword highlighted = %q, want function", got)
	}
	b.ctrl("s")
	b.wait("#status", "Saved shared-secret")
	b.screenshot("code")
	if status, body := b.run("open-sesame"); status != "200" || !strings.Contains(body, `"answer": "Yes!"`) {
		t.Fatalf("simple, open-sesame: %s %s", status, body)
	}
	if status, body := b.run("wrong-key"); status != "400" || !strings.Contains(body, `"message": "Not Authorized"`) {
		t.Fatalf("simple, wrong-key: %s %s", status, body)
	}
	b.screenshot("runner")

	// The raw model: 403 with no body; Ctrl-Enter saves and runs.
	b.paste(seed001Raw)
	before := b.eval(`String(document.querySelectorAll('#run-history li button').length)`)
	b.ctrl("\r")
	b.waitRuns(before)
	if status, body := b.text("#run-status"), b.text("#run-output"); status != "403" || body != "(empty body)" {
		t.Fatalf("raw, wrong-key: %s %q", status, body)
	}

	// The secrets panel: add auth-secret, then the third version.
	b.click("#toggle-secrets")
	b.set("#secret-key", "auth-secret")
	b.set("#secret-value", "open-sesame")
	b.click("#secret-save")
	b.wait("#status", "Saved secret auth-secret")
	b.wait("#secret-list", "auth-secret")
	if v := b.eval(`document.getElementById('secret-value').value + document.getElementById('secrets').textContent`); strings.Contains(v, "open-sesame") {
		t.Errorf("the secrets panel shows the value: %s", v)
	}
	b.paste(seed001Secrets)
	b.ctrl("s")
	b.wait("#status", "Saved shared-secret")
	b.screenshot("secrets")
	if status, body := b.run("open-sesame"); status != "200" || !strings.Contains(body, `"answer": "Yes!"`) {
		t.Fatalf("secrets, open-sesame: %s %s", status, body)
	}
	if status, _ := b.run("wrong-key"); status != "403" {
		t.Fatalf("secrets, wrong-key: %s", status)
	}
	// The history runs a past run again with one click.
	before = b.eval(`String(document.querySelectorAll('#run-history li button').length)`)
	b.click("#run-history li:nth-child(2) button")
	b.waitRuns(before)
	if got := b.text("#run-status"); got != "200" {
		t.Errorf("history run again = %s", got)
	}

	// The runs are in the logs panel, as the host's per-request records.
	b.wait("#log-lines", "new webtask request")
	if n := b.eval(`String(document.querySelectorAll('#log-lines li').length)`); n == "0" || n == "1" {
		t.Errorf("log lines = %s, want one per run", n)
	}
	b.click("#toggle-secrets")
	b.screenshot("logs")

	// A syntax error on save shows the server's line:column in place.
	b.paste("module.exports = function (ctx, cb) {\n  cb(null, {a: });\n};\n")
	b.ctrl("s")
	b.wait("#save-error", "(webtask.js:2:16)")
	b.wait("#status", "Not saved")
	if got := b.text("#gutter .error-line"); got != "2" {
		t.Errorf("the marked line = %q, want 2", got)
	}
	if resp, body := s.req(t, "GET", "/api/run/acme/shared-secret?secret=open-sesame", "", ""); resp.StatusCode != 200 {
		t.Errorf("after a refused save the webtask runs %d %s", resp.StatusCode, body)
	}

	// A tenant token cannot open another container.
	other := b.tab()
	other.do(chromedp.Navigate(s.URL + "/edit/other#token=" + tenant))
	other.wait("#status", "Cannot open container other")
	other.wait("#status", "does not grant access to container other")
	if got := other.eval(`location.hash`); got != "" {
		t.Errorf("hash = %q", got)
	}
	t.Logf("seed 001 in the browser: %s", time.Since(began).Round(time.Millisecond))
}

// TestEditor_SignInAndWasm: without a token the page asks for one, and a
// token it is given opens the container; a Wasm webtask shows its
// module's facts.
func TestEditor_SignInAndWasm(t *testing.T) {
	b := newBrowser(t)
	s := start(t, api.Config{})
	tenant := s.issue(t, `{"ten":"acme"}`)
	b.do(chromedp.Navigate(s.URL + "/edit/acme"))
	b.do(chromedp.WaitVisible(chromedp.CSS("#signin")))
	if got := b.eval(`document.getElementById('signin-container').value`); got != "acme" {
		t.Errorf("container = %q", got)
	}
	b.set("#signin-token", "not-a-token")
	b.click("#signin button[type=submit]")
	b.wait("#signin-why", "refused the token")
	b.set("#signin-token", tenant)
	b.click("#signin button[type=submit]")
	b.wait("#webtasks", "No webtasks yet.")

	wasm, err := os.ReadFile(filepath.Join("..", "api", "testdata", "hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := s.req(t, "PUT", "/api/webtask/acme/hello", tenant, string(wasm), "Content-Type: application/wasm"); resp.StatusCode != 200 {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	// wt edit hello: {url}/edit/{container}#/{name}/{token}
	b.do(chromedp.Navigate("about:blank"), chromedp.Navigate(s.URL+"/edit/acme#/hello/"+tenant))
	b.wait("#wasm-facts", "wt_handle")
	if got := b.eval(`location.href`); got != s.URL+"/edit/acme/hello" {
		t.Errorf("address = %s", got)
	}
	b.wait("#wasm-imports", "wasmtask_v1.result (func)")
	b.wait("#wasm-facts", "WAT (hand-written)")
	if status, body := b.run("x"); status != "200" || !strings.Contains(body, "hello") {
		t.Errorf("run: %s %s", status, body)
	}
}
