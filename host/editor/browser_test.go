package editor_test

import (
	"context"
	"encoding/json"
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

// sharedCache is one compilation cache for the servers of this package's
// tests, so the JavaScript engine is compiled once, not once a test.
var sharedCache string

// TestMain makes the shared compilation cache, and removes it after the
// tests.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wasmtask-editor-cache-")
	if err != nil {
		panic(err)
	}
	sharedCache = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a real wasmtask server on a loopback port.
type server struct {
	URL, Admin string
}

// start runs a server on 127.0.0.1:0 (as host/api's tests do), with the
// package's compilation cache, and stops it when the test ends.
func start(t *testing.T, cfg api.Config) server {
	t.Helper()
	cfg.DataDir = t.TempDir()
	cfg.CacheDir, cfg.SharedCache = sharedCache, true
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
	err := b.poll(func(left time.Duration) error {
		_, err := chromedp.Run(b.ctx, chromedp.PollFunction[bool](
			`(sel, want) => { const e = document.querySelector(sel); return !!e && e.textContent.includes(want); }`,
			chromedp.WithPollingArgs(sel, want), chromedp.WithPollingTimeout(left), chromedp.WithPollingInterval(50*time.Millisecond)))
		return err
	})
	if err != nil {
		b.t.Fatalf("waiting for %q in %s: %v; it holds %q; status %q", want, sel, err, b.text(sel), b.text("#status"))
	}
}

// poll runs a polling action with what is left of 15 s, again when it
// failed because the page's JavaScript context went away under it (a
// navigation the app or the test made; chromedp then answers "Cannot find
// context with specified id" until it tracks the new document).
func (b *browser) poll(action func(left time.Duration) error) error {
	end := time.Now().Add(15 * time.Second)
	for {
		err := action(time.Until(end))
		gone := err != nil && (strings.Contains(err.Error(), "Cannot find context") || strings.Contains(err.Error(), "context was destroyed"))
		if !gone || time.Until(end) <= 0 {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// until waits until the JavaScript expression js is true, and fails
// saying what it waited for after 15 s.
func (b *browser) until(what, js string) {
	b.t.Helper()
	err := b.poll(func(left time.Duration) error {
		_, err := chromedp.Run(b.ctx, chromedp.Poll[bool](js,
			chromedp.WithPollingTimeout(left), chromedp.WithPollingInterval(50*time.Millisecond)))
		return err
	})
	if err != nil {
		b.t.Fatalf("waiting for %s: %v; status %q", what, err, b.text("#status"))
	}
}

// texts returns the text of every element sel matches, joined by "|".
func (b *browser) texts(sel string) string {
	b.t.Helper()
	return b.eval(fmt.Sprintf(`[...document.querySelectorAll(%q)].map(e => e.textContent).join('|')`, sel))
}

// value returns the value of the form control sel.
func (b *browser) value(sel string) string {
	b.t.Helper()
	return b.eval(fmt.Sprintf(`document.querySelector(%q).value`, sel))
}

// choose selects value in the select sel as a user's choice does: the
// value, then a change event.
func (b *browser) choose(sel, value string) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		const s = document.querySelector(%q);
		s.value = %q;
		if (s.value !== %q) throw new Error('no option ' + %q);
		s.dispatchEvent(new Event('change', { bubbles: true }));
	})()`, sel, value, value, value)))
}

// show opens panel (runner, logs, secrets, settings) with its toggle
// button, unless it is open.
func (b *browser) show(panel string) { b.t.Helper(); b.toggle(panel, true) }

// hide closes panel with its toggle button, unless it is closed.
func (b *browser) hide(panel string) { b.t.Helper(); b.toggle(panel, false) }

func (b *browser) toggle(panel string, on bool) {
	b.t.Helper()
	button := "#toggle-" + panel
	if b.eval(fmt.Sprintf(`document.querySelector(%q).getAttribute('aria-pressed')`, button)) != strconv.FormatBool(on) {
		b.click(button)
	}
	if b.eval(fmt.Sprintf(`String(document.getElementById(%q).hidden)`, panel)) != strconv.FormatBool(!on) {
		b.t.Fatalf("the %s panel does not %s", panel, map[bool]string{true: "open", false: "close"}[on])
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
	return b.runParam("secret", value)
}

// runParam sets the first URL param to key=value, runs with the Run
// button and returns the status and body shown.
func (b *browser) runParam(key, value string) (status, body string) {
	b.t.Helper()
	b.set("#run-params .kv-row .k", key)
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
// token it is given opens the container; a webtask is created by
// uploading a module in the create dialog, shows the module's facts, runs
// with its duration and response headers shown, and is deleted after a
// confirming second click; both of wt-cli's addresses open a webtask.
func TestEditor_SignInAndWasm(t *testing.T) {
	b := newBrowser(t)
	s := start(t, api.Config{})
	tenant := s.issue(t, `{"ten":"acme"}`)
	b.do(chromedp.Navigate(s.URL + "/edit/acme"))
	b.do(chromedp.WaitVisible(chromedp.CSS("#signin")))
	if got := b.value("#signin-container"); got != "acme" {
		t.Errorf("container = %q", got)
	}
	b.set("#signin-token", "not-a-token")
	b.click("#signin button[type=submit]")
	b.wait("#signin-why", "refused the token")
	b.set("#signin-token", tenant)
	b.click("#signin button[type=submit]")
	b.wait("#webtasks", "No webtasks yet.")

	// New, "a WebAssembly module", the file: the module is the webtask.
	module, err := filepath.Abs(filepath.Join("..", "api", "testdata", "status.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	b.click("#new")
	b.set("#create-name", "status")
	b.click(`input[name=create-kind][value=wasm]`)
	b.do(chromedp.SetUploadFiles(chromedp.CSS("#create-file"), []string{module}, chromedp.NodeVisible))
	b.click("#create-save")
	b.wait("#status", "Created status.")
	b.wait("#where", "acme / status")
	b.wait("#wasm-imports", "wasmtask_v1.set_header (func)")
	if got := b.texts("#webtasks .name"); got != "status" {
		t.Errorf("the list = %q", got)
	}
	if resp, body := s.req(t, "GET", "/api/run/acme/status?status=202", "", ""); resp.StatusCode != 202 || resp.Header.Get("X-Guest") != "yes" {
		t.Fatalf("the uploaded webtask answers %d %v %s", resp.StatusCode, resp.Header, body)
	}

	// The run shows its status, duration and response headers.
	if status, _ := b.runParam("status", "201"); status != "201" {
		t.Errorf("run status = %s", status)
	}
	if got := b.text("#run-time"); !regexp.MustCompile(`^\d+ ms$`).MatchString(got) {
		t.Errorf("the duration shown = %q", got)
	}
	b.click("#run-result summary")
	b.do(chromedp.WaitVisible(chromedp.CSS("#run-resp-headers")))
	if got := b.text("#run-resp-headers"); !strings.Contains(got, "x-guest: yes") {
		t.Errorf("the response headers shown:\n%s", got)
	}

	// wt edit hello: {url}/edit/{container}#/{name}/{token} (also with an
	// editor version before the container), and the path naming the
	// webtask with the token alone in the fragment, in another tab that
	// signs out after each (no token left in its sessionStorage).
	wasm, err := os.ReadFile(filepath.Join("..", "api", "testdata", "hello.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := s.req(t, "PUT", "/api/webtask/acme/hello", tenant, string(wasm), "Content-Type: application/wasm"); resp.StatusCode != 200 {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	tab := b.tab()
	for _, addr := range []string{"/edit/acme#/hello/" + tenant, "/edit/v2/acme#/hello/" + tenant, "/edit/acme/hello#/" + tenant} {
		tab.do(chromedp.Navigate("about:blank"), chromedp.Navigate(s.URL+addr))
		tab.wait("#wasm-facts", "wt_handle")
		tab.wait("#where", "acme / hello")
		if got := tab.eval(`location.href`); got != s.URL+"/edit/acme/hello" {
			t.Errorf("%s: address = %s", addr, got)
		}
		tab.wait("#wasm-imports", "wasmtask_v1.result (func)")
		tab.wait("#wasm-facts", "WAT (hand-written)")
		if status, body := tab.run("x"); status != "200" || !strings.Contains(body, "hello") {
			t.Errorf("%s: run: %s %s", addr, status, body)
		}
		tab.click("#signout")
		tab.do(chromedp.WaitVisible(chromedp.CSS("#signin")))
		if got := tab.eval(`String(sessionStorage.getItem('wasmtask.token'))`); got != "null" {
			t.Fatalf("after sign-out the token is %q", got)
		}
	}

	// Delete: the first click asks, the second deletes.
	b.click(`#webtasks button[aria-label="Delete status"]`)
	b.wait(`#webtasks button[aria-label="Delete status"]`, "Delete?")
	if resp, _ := s.req(t, "GET", "/api/webtask/acme/status", tenant, ""); resp.StatusCode != 200 {
		t.Fatalf("one click deleted the webtask: %d", resp.StatusCode)
	}
	b.click(`#webtasks button[aria-label="Delete status"]`)
	b.wait("#status", "Deleted status.")
	b.until("the list without status", `[...document.querySelectorAll('#webtasks .name')].map(e => e.textContent).join() === 'hello'`)
	if resp, _ := s.req(t, "GET", "/api/webtask/acme/status", tenant, ""); resp.StatusCode != 404 {
		t.Errorf("after the delete the webtask answers %d", resp.StatusCode)
	}
	if got := b.eval(`location.pathname + ' ' + document.getElementById('empty').hidden + ' ' + document.getElementById('where').textContent`); got != "/edit/acme false acme" {
		t.Errorf("after deleting the open webtask: %s", got)
	}
}

// The webtasks of TestEditor_Panels: logger logs at info and warn and
// tells the length of its secret k (never the value); other logs a line
// of its own.
const (
	panelsLogger = `module.exports = function(context, cb) {
  console.log('guest says ' + context.query.n);
  console.warn('guest warns ' + context.query.n);
  cb(null, { length: (context.secrets.k || '').length, names: Object.keys(context.secrets) });
};
`
	panelsOther = `module.exports = function(context, cb) {
  console.log('other says');
  cb(null, 'ok');
};
`
)

// putJS creates the JavaScript webtask acme/name with secrets.
func (s server) putJS(t *testing.T, token, name, code string, secrets map[string]string) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"code": code, "secrets": secrets})
	if err != nil {
		t.Fatal(err)
	}
	if resp, out := s.req(t, "PUT", "/api/webtask/acme/"+name, token, string(body), "Content-Type: application/json"); resp.StatusCode != 200 {
		t.Fatalf("PUT %s: %d %s", name, resp.StatusCode, out)
	}
}

// getJSON gets path with token and decodes its 200 answer into v.
func (s server) getJSON(t *testing.T, token, path string, v any) {
	t.Helper()
	resp, body := s.req(t, "GET", path, token, "")
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

// logLine returns "level who msg" of the first log line that holds msg,
// or "" when none does.
func (b *browser) logLine(msg string) string {
	b.t.Helper()
	return b.eval(fmt.Sprintf(`(() => {
		const li = [...document.querySelectorAll('#log-lines li')].find(e => e.querySelector('.msg').textContent.includes(%q));
		return li ? ['.lvl', '.who', '.msg'].map(s => li.querySelector(s).textContent).join(' ') : '';
	})()`, msg))
}

// TestEditor_Panels works the logs, secrets and settings panels of a
// JavaScript webtask, then checks the page at a phone's width.
func TestEditor_Panels(t *testing.T) {
	engine := jsEngine(t)
	b := newBrowser(t)
	s := start(t, api.Config{JSEngine: engine})
	tenant := s.issue(t, `{"ten":"acme"}`)
	s.putJS(t, tenant, "logger", panelsLogger, map[string]string{"k": "first-value"})
	s.putJS(t, tenant, "other", panelsOther, nil)
	run := func(name, query string) {
		t.Helper()
		if resp, body := s.req(t, "GET", "/api/run/acme/"+name+query, "", ""); resp.StatusCode != 200 {
			t.Fatalf("run %s: %d %s", name, resp.StatusCode, body)
		}
	}

	b.do(chromedp.Navigate(s.URL + "/edit/acme/logger#/" + tenant))
	b.wait("#where", "acme / logger")
	b.wait("#log-state", "live")

	// Logs: the host's record and the guest's console.log and console.warn.
	b.runParam("n", "1")
	b.wait("#log-lines", "guest warns 1")
	if got := b.logLine("guest says 1"); got != "info logger guest says 1" {
		t.Errorf("the guest's console.log = %q", got)
	}
	if got := b.logLine("guest warns 1"); got != "warn logger guest warns 1" {
		t.Errorf("the guest's console.warn = %q", got)
	}
	if got := b.logLine("new webtask request"); !strings.HasPrefix(got, "info logger ") {
		t.Errorf("the host's record = %q", got)
	}
	// By webtask: "this one" (the default) leaves other's line out, "all"
	// shows it, "logger" leaves it out again.
	run("other", "")
	b.choose("#log-name", "")
	b.wait("#log-lines", "other says")
	b.choose("#log-name", "logger")
	if got := b.text("#log-lines"); strings.Contains(got, "other says") || !strings.Contains(got, "guest says 1") {
		t.Errorf("filtered on logger, the logs show:\n%s", got)
	}
	b.choose("#log-name", "=")
	// By level: warn and up shows the console.warn only.
	b.choose("#log-level", "40")
	if got := b.texts("#log-lines .msg"); got != "guest warns 1" {
		t.Errorf("warn and up shows %q", got)
	}
	b.choose("#log-level", "0")
	// Pause holds new lines, says how many, and shows them on resume.
	b.click("#log-pause")
	b.wait("#log-pause", "Resume")
	run("logger", "?n=2")
	b.until("the pause button counting the request's 3 lines",
		`+(/^Resume \((\d+) new\)$/.exec(document.getElementById('log-pause').textContent) || [0, 0])[1] >= 3`)
	if got := b.text("#log-lines"); strings.Contains(got, "guest says 2") {
		t.Errorf("paused, the logs show the new lines:\n%s", got)
	}
	b.click("#log-pause")
	b.wait("#log-lines", "guest says 2")
	if got := b.text("#log-pause"); got != "Pause" {
		t.Errorf("the pause button says %q after resume", got)
	}
	// Clear empties the panel; what comes after shows alone.
	b.click("#log-clear")
	if n := b.eval(`String(document.querySelectorAll('#log-lines li').length)`); n != "0" {
		t.Errorf("after clear, %s log lines", n)
	}
	run("logger", "?n=3")
	b.wait("#log-lines", "guest warns 3")
	if got := b.texts("#log-lines .msg"); strings.Contains(got, "guest says 1") || strings.Contains(got, "guest says 2") {
		t.Errorf("after clear the logs show %q", got)
	}

	// Secrets: replace k, then delete it (after a confirming second
	// click); no value is ever on the page.
	b.show("secrets")
	b.wait("#secret-list", "k")
	b.click(`#secret-list button[aria-label="Replace k"]`)
	b.wait("#secret-form-title", "Replace secret k")
	if got := b.eval(`document.getElementById('secret-key').value + ' ' + document.getElementById('secret-key').readOnly`); got != "k true" {
		t.Errorf("the replace form's key = %q", got)
	}
	b.set("#secret-value", "second-value-xyz")
	b.click("#secret-save")
	b.wait("#status", "Saved secret k.")
	b.wait("#secret-form-title", "Add secret")
	if _, body := b.runParam("n", "4"); !strings.Contains(body, `"length": 16`) {
		t.Errorf("after the replace the webtask reads %s", body)
	}
	b.click(`#secret-list button[aria-label="Delete k"]`)
	b.wait(`#secret-list button[aria-label="Delete k"]`, "Delete?")
	var w struct {
		Secrets []string          `json:"secrets"`
		Meta    map[string]string `json:"meta"`
		Policy  string            `json:"policy"`
	}
	if s.getJSON(t, tenant, "/api/webtask/acme/logger", &w); len(w.Secrets) != 1 {
		t.Fatalf("one click deleted the secret: %v", w.Secrets)
	}
	b.click(`#secret-list button[aria-label="Delete k"]`)
	b.wait("#status", "Deleted secret k.")
	b.wait("#secret-list", "No secrets.")
	if _, body := b.runParam("n", "5"); !strings.Contains(body, `"names": []`) {
		t.Errorf("after the delete the webtask reads %s", body)
	}
	page := b.eval(`document.body.innerText + [...document.querySelectorAll('input, textarea')].map(e => e.value).join() +
		JSON.stringify(sessionStorage) + JSON.stringify(localStorage)`)
	for _, v := range []string{"first-value", "second-value-xyz"} {
		if strings.Contains(page, v) {
			t.Errorf("the page holds the secret value %q", v)
		}
	}
	b.hide("secrets")

	// Settings: storage shown and saved, the policy, a cron schedule.
	if resp, body := s.req(t, "PUT", "/api/webtask/acme/logger/data", tenant, `{"data":"{\"count\":1}"}`, "Content-Type: application/json"); resp.StatusCode != 200 {
		t.Fatalf("PUT data: %d %s", resp.StatusCode, body)
	}
	b.hide("runner") // the settings at the top of the side
	b.show("settings")
	b.until("the stored data", `document.getElementById('storage').value === '{\n  "count": 1\n}'`)
	// An edit of the data outlives applying the policy, then is saved.
	b.set("#storage", `{"count": 2, "by": "editor"}`)
	b.set("#policy", "fresh")
	b.click("#meta-form button[type=submit]")
	b.wait("#status", "Settings applied.")
	if s.getJSON(t, tenant, "/api/webtask/acme/logger", &w); w.Meta["wt-instance"] != "fresh" || w.Policy != "fresh" {
		t.Errorf("after apply: meta %v, policy %q", w.Meta, w.Policy)
	}
	b.wait("#webtasks", "fresh")
	b.click("#storage-form button[type=submit]")
	b.wait("#status", "Storage saved.")
	var doc struct{ Data string }
	s.getJSON(t, tenant, "/api/webtask/acme/logger/data", &doc)
	var data map[string]any
	if err := json.Unmarshal([]byte(doc.Data), &data); err != nil || data["count"] != 2.0 || data["by"] != "editor" {
		t.Errorf("the stored data = %s (%v)", doc.Data, err)
	}

	b.set("#cron-schedule", "*/5 * * * *")
	b.click("#cron-form button[type=submit]")
	b.wait("#status", "Scheduled.")
	b.wait("#cron-info", "active; next run")
	var job struct{ Schedule, State, TZ string }
	if s.getJSON(t, tenant, "/api/cron/acme/logger", &job); job.Schedule != "*/5 * * * *" || job.State != "active" || job.TZ != "UTC" {
		t.Errorf("the cron job = %+v", job)
	}
	b.screenshot("settings")

	// Read back after a reload: the policy and the schedule; pool applies.
	b.do(chromedp.Navigate("about:blank"), chromedp.Navigate(s.URL+"/edit/acme/logger"))
	b.wait("#where", "acme / logger")
	b.show("settings")
	b.wait("#cron-info", "active; next run")
	if got := b.value("#policy") + " " + b.value("#cron-schedule"); got != "fresh */5 * * * *" {
		t.Errorf("after a reload the settings show %q", got)
	}
	b.set("#policy", "pool")
	b.click("#meta-form button[type=submit]")
	b.wait("#status", "Settings applied.")
	if s.getJSON(t, tenant, "/api/webtask/acme/logger", &w); w.Meta["wt-instance"] != "pool" {
		t.Errorf("after apply: meta %v", w.Meta)
	}
	b.click("#cron-delete")
	b.wait("#status", "Schedule removed.")
	b.wait("#cron-info", "Not scheduled.")
	if resp, _ := s.req(t, "GET", "/api/cron/acme/logger", tenant, ""); resp.StatusCode != 404 {
		t.Errorf("after remove the cron job answers %d", resp.StatusCode)
	}

	// A phone's width: every panel open, no control past the right edge,
	// and the runner still runs.
	b.do(chromedp.EmulateViewport(600, 900))
	for _, panel := range []string{"runner", "logs", "secrets", "settings"} {
		b.show(panel)
	}
	if bad := b.eval(narrowCheck); bad != "" {
		t.Errorf("at 600 px: %s", bad)
	}
	if status, body := b.runParam("n", "6"); status != "200" || !strings.Contains(body, `"length": 0`) {
		t.Errorf("the run at 600 px: %s %s", status, body)
	}
}

// narrowCheck lists the page's main controls that are not shown or reach
// past the viewport's sides, a page wider than the viewport, and a main
// panel narrower than three quarters of it (on a narrow screen the panels
// are one column).
const narrowCheck = `(() => {
	const width = document.documentElement.clientWidth, bad = [];
	if (document.documentElement.scrollWidth > width) bad.push('the page is ' + document.documentElement.scrollWidth + ' px wide');
	const controls = ['.tools button', '#new', '#webtasks .open', '#webtasks .del', '#code', '#run-method', '#run-params input',
		'#run-params button', '#add-param', '#run-body', '#run-submit', '#secret-key', '#secret-value', '#secret-save', '#policy',
		'#middleware', '#storage', '#cron-schedule', '#cron-tz', '#log-name', '#log-level', '#log-pause', '#log-clear',
		'#log-lines', '#url', '#copy'];
	for (const sel of controls) {
		const all = document.querySelectorAll(sel);
		if (!all.length) bad.push(sel + ' is missing');
		for (const e of all) {
			const r = e.getBoundingClientRect();
			if (!r.width || !r.height) bad.push(sel + ' is not shown');
			else if (r.left < 0 || r.right > width + 0.5) bad.push(sel + ' spans ' + Math.round(r.left) + '..' + Math.round(r.right) + ' px');
		}
	}
	for (const sel of ['#code', '#side', '#log-lines']) {
		const r = document.querySelector(sel).getBoundingClientRect();
		if (r.width < 0.75 * width) bad.push(sel + ' is ' + Math.round(r.width) + ' px wide, too narrow to use');
	}
	return bad.join('; ');
})()`
