package conformance_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/guests/conformance"
	"github.com/wasmtask/wasmtask/host/api"
	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/host/logs"
)

// The kit's server limits: bodies up to maxBody bytes, 64 MiB of memory per
// instance (so a guest that leaks a large body per request on a pooled
// instance fails the repeat case below).
const (
	maxBody   = 1 << 20
	kitPages  = 1024
	container = "kit"
)

// kit is what a case needs: the server, the log stream and the run URL of
// the webtask under test.
type kit struct {
	s      *server
	logs   *logCollector
	base   string // /api/run/kit/<name>
	lang   string
	name   string
	policy string
	// context is the /context document with the per-webtask fields removed,
	// kept for the cross-language comparison.
	context map[string]any
}

func (k *kit) get(t *testing.T, path string) response { t.Helper(); return k.s.get(t, k.base+path) }

func (k *kit) do(t *testing.T, method, path string, body []byte, hdr http.Header) response {
	t.Helper()
	return k.s.do(t, method, k.base+path, body, hdr)
}

// fromWebtask checks a response the guest produced.
func fromWebtask(t *testing.T, r response, status int, contentType string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d; body %q", r.Status, status, r.Body)
	}
	if src := r.Header.Get("x-wt-response-source"); src != "webtask" {
		t.Errorf("x-wt-response-source = %q, want webtask", src)
	}
	if ct := r.Header.Get("Content-Type"); ct != contentType {
		t.Errorf("content-type = %q, want %q", ct, contentType)
	}
	if r.Header.Get("x-wt-request-id") == "" {
		t.Error("no x-wt-request-id")
	}
}

func wantBody(t *testing.T, r response, want string) {
	t.Helper()
	if string(r.Body) != want {
		t.Errorf("body = %q, want %q", r.Body, want)
	}
}

// tricky is a value that needs JSON escaping and is not ASCII.
const tricky = "Tomek \"the\" \\ ünïcödé\ttab/<&>"

var kitCases = []struct {
	name string
	run  func(t *testing.T, k *kit)
}{
	{"hello", func(t *testing.T, k *kit) {
		r := k.get(t, "/hello")
		fromWebtask(t, r, 200, "application/json")
		wantBody(t, r, `{"message":"hello, world"}`)
	}},
	{"hello escaped", func(t *testing.T, k *kit) {
		r := k.get(t, "/hello?name="+url.QueryEscape(tricky))
		fromWebtask(t, r, 200, "application/json")
		var v struct{ Message string }
		r.JSON(t, &v)
		if v.Message != "hello, "+tricky {
			t.Errorf("message = %q, want %q", v.Message, "hello, "+tricky)
		}
	}},
	{"context", func(t *testing.T, k *kit) {
		body := "hello \"body\"\n\tünï\x01"
		big := strings.Repeat("b", 2000) // past the SDKs' first read buffer
		hdr := http.Header{"X-Custom": {"Value"}, "X-Multi": {"a", "b"}, "X-Big": {big}, "Content-Type": {"text/plain"}}
		r := k.do(t, "POST", "/context?name=Tomek&x=1&x=2&key=ignored&webtask_no_cache=1", []byte(body), hdr)
		fromWebtask(t, r, 200, "application/json")
		var doc map[string]any
		r.JSON(t, &doc)
		pairs := func(kv ...string) []any {
			out := []any{}
			for i := 0; i < len(kv); i += 2 {
				out = append(out, []any{kv[i], kv[i+1]})
			}
			return out
		}
		want := map[string]any{
			"method": "POST", "path": "/context", "raw_query": "name=Tomek&x=1&x=2", "body": body,
			"container": container, "name": k.name, "request_id": r.Header.Get("x-wt-request-id"),
			"query":   pairs("name", "Tomek", "x", "1", "x", "2"),
			"secrets": pairs("auth-secret", "open-sesame", "name", "from-secret"),
			"params":  pairs(),
			"meta":    pairs("owner", "tomek", "wt-instance", k.policy),
			"data":    pairs("auth-secret", "open-sesame", "name", "from-secret", "x", "1"),
			"lookup": map[string]any{"query": "1", "header": "Value", "secret": "open-sesame", "param": nil,
				"meta": "tomek", "data": "from-secret", "missing": nil},
			"unknown": map[string]any{"field": -1.0, "map": -1.0, "value": -1.0},
		}
		if gap(t, k.lang, "context/unknown ids") {
			delete(want, "unknown")
		}
		for key, w := range want {
			if got := doc[key]; !reflect.DeepEqual(got, w) {
				t.Errorf("%s = %#v, want %#v", key, got, w)
			}
		}
		// Headers: names lower-cased, sorted, repeated values in order.
		headers, _ := doc["headers"].([]any)
		var seen []any
		for _, h := range headers {
			if p, _ := h.([]any); len(p) == 2 && strings.HasPrefix(p[0].(string), "x-") {
				seen = append(seen, h)
			}
		}
		w := pairs("x-big", big, "x-custom", "Value", "x-multi", "a", "x-multi", "b")
		if gap(t, k.lang, "context/repeated headers") {
			w = joinRepeated(w)
		}
		if !reflect.DeepEqual(seen, w) {
			t.Errorf("x- headers = %v, want %v", seen, w)
		}
		for key := range doc {
			if _, ok := want[key]; !ok && key != "headers" {
				t.Errorf("unexpected member %q", key)
			}
		}
		delete(doc, "request_id")
		delete(doc, "name")
		delete(doc, "meta") // names the policy
		k.context = doc
	}},
	{"context GET, trailing slash", func(t *testing.T, k *kit) {
		r := k.get(t, "/context/")
		fromWebtask(t, r, 200, "application/json")
		var doc struct{ Method, Path, Body, RawQuery string }
		r.JSON(t, &doc)
		if doc.Method != "GET" || doc.Path != "/context/" || doc.Body != "" || doc.RawQuery != "" {
			t.Errorf("context = %s", r.Body)
		}
	}},
	{"error default", func(t *testing.T, k *kit) {
		r := k.get(t, "/error")
		fromWebtask(t, r, 400, "application/json")
		wantBody(t, r, `{"code":400,"error":"Script returned an error.","message":"Not Authorized"}`)
	}},
	{"error with status", func(t *testing.T, k *kit) {
		r := k.get(t, "/error?status=403&message="+url.QueryEscape(tricky))
		fromWebtask(t, r, 403, "application/json")
		var e struct {
			Code           int
			Error, Message string
		}
		r.JSON(t, &e)
		if e.Code != 403 || e.Error != "Script returned an error." || e.Message != tricky {
			t.Errorf("error = %s", r.Body)
		}
		fromWebtask(t, k.get(t, "/error?status=599"), 599, "application/json")
	}},
	{"error status outside 400-599 traps", func(t *testing.T, k *kit) {
		hostError(t, k.get(t, "/error?status=200"), 500, "webtask_failed", "outside 400-599")
	}},
	{"raw", func(t *testing.T, k *kit) {
		r := k.get(t, "/raw?status=201&header="+url.QueryEscape("x-extra:yes, really"))
		fromWebtask(t, r, 201, "text/plain; charset=utf-8")
		wantBody(t, r, "raw body")
		if got := r.Header.Values("x-replaced"); !reflect.DeepEqual(got, []string{"new"}) {
			t.Errorf("x-replaced = %q, want [new]", got)
		}
		if got := r.Header.Values("x-multi"); !reflect.DeepEqual(got, []string{"a", "b"}) {
			t.Errorf("x-multi = %q, want [a b]", got)
		}
		if got := r.Header.Get("x-extra"); got != "yes, really" {
			t.Errorf("x-extra = %q", got)
		}
		r = k.get(t, "/raw?status=418")
		fromWebtask(t, r, 418, "text/plain; charset=utf-8")
		wantBody(t, r, "raw body")
	}},
	{"raw misuse traps", func(t *testing.T, k *kit) {
		hostError(t, k.get(t, "/raw?status=600"), 500, "webtask_failed", "outside 200-599")
		hostError(t, k.get(t, "/raw?header=content-length:5"), 500, "webtask_failed", "set by the host")
		hostError(t, k.get(t, "/raw?header="+url.QueryEscape("bad name:x")), 500, "webtask_failed", "invalid header name")
	}},
	{"binary", func(t *testing.T, k *kit) {
		r := k.get(t, "/binary")
		fromWebtask(t, r, 200, "application/octet-stream")
		want := make([]byte, 256)
		for i := range want {
			want[i] = byte(i)
		}
		if !bytes.Equal(r.Body, want) {
			t.Errorf("body = %v, want bytes 0..255", r.Body)
		}
	}},
	{"echo body at the limit", func(t *testing.T, k *kit) {
		body := make([]byte, maxBody)
		rand.New(rand.NewSource(1)).Read(body)
		if gap(t, k.lang, "echo body at the limit/binary body") {
			for i := range body {
				body[i] = 'a' + body[i]%26
			}
		}
		r := k.do(t, "POST", "/echo-body", body, http.Header{"Content-Type": {"application/x-test"}})
		fromWebtask(t, r, 200, "application/x-test")
		if !bytes.Equal(r.Body, body) {
			t.Errorf("echoed %d bytes, want the %d sent", len(r.Body), len(body))
		}
		r = k.do(t, "POST", "/echo-body", nil, nil)
		fromWebtask(t, r, 200, "application/octet-stream")
		wantBody(t, r, "")
		hostError(t, k.do(t, "POST", "/echo-body", append(body, 'x'), nil), 413, "too_large", "limit")
	}},
	{"log", func(t *testing.T, k *kit) {
		r := k.get(t, "/log")
		fromWebtask(t, r, 200, "application/json")
		wantBody(t, r, `{"logged":true}`)
		id := r.Header.Get("x-wt-request-id")
		want := []logRecord{
			{container, k.name, id, logs.LevelInfo, "new webtask request " + id},
			{container, k.name, id, logs.LevelDebug, "debug line"},
			{container, k.name, id, logs.LevelInfo, "info line"},
			{container, k.name, id, logs.LevelWarn, "warn line"},
			{container, k.name, id, logs.LevelError, "error line"},
			{container, k.name, id, logs.LevelInfo, "level 7 line"},
			{container, k.name, id, logs.LevelInfo, "stdout line"},
			{container, k.name, id, logs.LevelError, "stderr line"},
		}
		got := k.logs.wait(id, len(want), 10*time.Second)
		if !reflect.DeepEqual(got, want) {
			var b strings.Builder
			for i := 0; i < max(len(got), len(want)); i++ {
				var g, w logRecord
				if i < len(got) {
					g = got[i]
				}
				if i < len(want) {
					w = want[i]
				}
				mark := "  "
				if g != w {
					mark = "! "
				}
				fmt.Fprintf(&b, "%s%-5s %-36q want %-5s %q", mark, g.Level, g.Msg, w.Level, w.Msg)
				if g.Container != w.Container || g.Name != w.Name || g.RequestID != w.RequestID {
					fmt.Fprintf(&b, " (from %s/%s, request %s)", g.Container, g.Name, g.RequestID)
				}
				b.WriteByte('\n')
			}
			t.Errorf("log records of request %s (container %s, webtask %s):\n%s", id, container, k.name, b.String())
		}
	}},
	{"trap", func(t *testing.T, k *kit) {
		hostError(t, k.get(t, "/trap"), 500, "webtask_failed", "trapped")
		// The trapped instance is gone; the webtask keeps serving.
		fromWebtask(t, k.get(t, "/hello"), 200, "application/json")
	}},
	{"empty raw response", func(t *testing.T, k *kit) {
		r := k.get(t, "/empty")
		fromWebtask(t, r, 200, "")
		wantBody(t, r, "")
	}},
	{"no route", func(t *testing.T, k *kit) {
		r := k.get(t, "/nope")
		fromWebtask(t, r, 404, "application/json")
		wantBody(t, r, `{"code":404,"message":"no route for GET /nope"}`)
		r = k.do(t, "POST", "/hello", nil, nil)
		fromWebtask(t, r, 404, "application/json")
		wantBody(t, r, `{"code":404,"message":"no route for POST /hello"}`)
		r = k.do(t, "HEAD", "/hello", nil, nil)
		fromWebtask(t, r, 200, "application/json")
	}},
	{"repeat on one instance", func(t *testing.T, k *kit) {
		// 48 MiB in and out: more than the instance memory limit allows a
		// guest to leak. Pooled webtasks reuse one instance throughout.
		body := bytes.Repeat([]byte("0123456789abcdef"), maxBody/16)
		for i := 0; i < 48; i++ {
			r := k.do(t, "POST", "/echo-body", body, nil)
			if r.Status != 200 || !bytes.Equal(r.Body, body) {
				t.Fatalf("request %d: %d, %d bytes: %.200s", i, r.Status, len(r.Body), r.Body)
			}
		}
	}},
}

// TestConformance runs the kit against the conformance guest of every
// language, on pooled and on fresh instances, then checks that all
// languages saw the same context.
func TestConformance(t *testing.T) {
	s := start(t, api.Config{MaxBodyBytes: maxBody, Engine: engine.Config{MemoryLimitPages: kitPages}})
	logs := s.followLogs(t, container)
	contexts := map[string]map[string]map[string]any{} // policy -> lang -> doc
	for _, lang := range conformance.Languages {
		t.Run(lang, func(t *testing.T) {
			g := guest(t, lang, "conformance")
			for _, policy := range []string{"pool", "fresh"} {
				t.Run(policy, func(t *testing.T) {
					name := lang + "-" + policy
					s.mustUpload(t, container, name, g,
						"?secret=auth-secret:open-sesame&secret=name:from-secret&meta=owner:tomek&meta=wt-instance:"+policy)
					k := &kit{s: s, logs: logs, base: "/api/run/" + container + "/" + name, lang: lang, name: name, policy: policy}
					for _, c := range kitCases {
						t.Run(c.name, func(t *testing.T) { skipGap(t, lang, c.name); c.run(t, k) })
					}
					if k.context != nil {
						if contexts[policy] == nil {
							contexts[policy] = map[string]map[string]any{}
						}
						contexts[policy][lang] = k.context
					}
				})
			}
		})
	}
	// Identical behaviour: every language's /context document equals the
	// reference language's, member by member (less a language's gaps).
	ref := conformance.Languages[0]
	for policy, docs := range contexts {
		for lang, doc := range docs {
			if lang == ref || docs[ref] == nil {
				continue
			}
			want := maps.Clone(docs[ref])
			if hasGap(lang, "context/unknown ids") {
				delete(want, "unknown")
			}
			if headers, _ := want["headers"].([]any); hasGap(lang, "context/repeated headers") {
				want["headers"] = joinRepeated(headers)
			}
			if !reflect.DeepEqual(doc, want) {
				a, _ := json.Marshal(doc)
				b, _ := json.Marshal(want)
				t.Errorf("%s/%s /context differs from %s:\n%s\n%s", lang, policy, ref, a, b)
			}
		}
	}
}

// joinRepeated joins the values of adjacent [name, value] pairs of one
// name with ", ", as Node's req.headers shows a repeated request header
// (cookie and set-cookie, which Node treats otherwise, are not among the
// kit's headers).
func joinRepeated(pairs []any) []any {
	out := []any{}
	for _, p := range pairs {
		kv := p.([]any)
		if n := len(out); n > 0 && out[n-1].([]any)[0] == kv[0] {
			last := out[n-1].([]any)
			out[n-1] = []any{last[0], last[1].(string) + ", " + kv[1].(string)}
			continue
		}
		out = append(out, p)
	}
	return out
}
