//go:build !wasip1

package wasmtask

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/wasmtask/wasmtask/abi"
)

// serve registers fn as a simple handler, runs one request and returns fn's
// view of it.
func serve(t *testing.T, fn func(c *Context)) {
	t.Helper()
	nativeHost.(*fakeHost).reset()
	handler = nil
	HandleSimple(func(c *Context) (any, error) { fn(c); return nil, nil })
	if rc := handle(); rc != 0 {
		t.Fatalf("handle() = %d, want 0", rc)
	}
}

func TestContext_scalars(t *testing.T) {
	h := newFakeHost(t)
	h.fields[abi.FieldMethod] = "POST"
	h.fields[abi.FieldPath] = "/a/b"
	h.fields[abi.FieldQuery] = "x=1&y=%20"
	h.fields[abi.FieldBody] = "hello"
	serve(t, func(c *Context) {
		got := []string{c.Method(), c.Path(), c.RawQuery(), c.Container(), c.Name(),
			c.RequestID(), string(c.Body()), string(c.JSON())}
		want := []string{"POST", "/a/b", "x=1&y=%20", "acme", "hello", "req-1", "hello", `{"method":"GET"}`}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
		calls := h.calls
		c.Method()
		c.Path()
		if h.calls != calls {
			t.Errorf("cached fields made %d more host calls", h.calls-calls)
		}
	})
}

func TestContext_newRequestForgetsCache(t *testing.T) {
	h := newFakeHost(t)
	serve(t, func(c *Context) { c.Path() })
	h.fields[abi.FieldPath] = "/second"
	serve(t, func(c *Context) {
		if got := c.Path(); got != "/second" {
			t.Errorf("Path() = %q on the second request, want /second", got)
		}
	})
}

func TestContext_bufferRule(t *testing.T) {
	tests := []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"fits", initialScratch},
		{"grows scratch", initialScratch + 1},
		{"largest scratch", maxScratch},
		{"own buffer", maxScratch + 1},
		{"large", 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHost(t)
			scratch = make([]byte, initialScratch)
			body := strings.Repeat("b", tt.size)
			h.fields[abi.FieldBody] = body
			h.set(abi.MapHeaders, "x-big", body)
			serve(t, func(c *Context) {
				got := c.Body()
				if string(got) != body || got == nil {
					t.Errorf("Body() has %d bytes (nil %v), want %d", len(got), got == nil, len(body))
				}
				if got := c.Header("X-Big"); got != body {
					t.Errorf("Header() has %d bytes, want %d", len(got), len(body))
				}
			})
			if len(scratch) > maxScratch {
				t.Errorf("scratch grew to %d bytes, max %d", len(scratch), maxScratch)
			}
		})
	}
}

func TestContext_bodyIsOwned(t *testing.T) {
	h := newFakeHost(t)
	h.fields[abi.FieldBody] = "abc"
	serve(t, func(c *Context) {
		b := c.Body()
		c.Query("overwrites scratch")
		c.Header("x")
		if string(b) != "abc" {
			t.Errorf("Body() changed to %q after other reads", b)
		}
	})
}

func TestContext_absent(t *testing.T) {
	h := newFakeHost(t)
	delete(h.fields, abi.FieldBody)
	serve(t, func(c *Context) {
		if b := c.Body(); b != nil {
			t.Errorf("Body() = %q, want nil", b)
		}
		for name, got := range map[string]string{
			"Query": c.Query("nope"), "Header": c.Header("nope"), "Secret": c.Secret("nope"),
			"Param": c.Param("nope"), "Meta": c.Meta("nope"), "Data": c.Data("nope"),
		} {
			if got != "" {
				t.Errorf("%s(absent) = %q, want \"\"", name, got)
			}
		}
		if m := c.Secrets(); m == nil || len(m) != 0 {
			t.Errorf("Secrets() = %#v, want an empty map", m)
		}
	})
}

func TestContext_maps(t *testing.T) {
	h := newFakeHost(t)
	h.set(abi.MapQuery, "a", "1", "b", "2", "a", "3", "e", "")
	h.set(abi.MapHeaders, "content-type", "text/plain", "x-many", "1", "x-many", "2")
	h.set(abi.MapSecrets, "auth-secret", "open-sesame")
	h.set(abi.MapParams, "p", "q")
	h.set(abi.MapMeta, "owner", "tomek")
	h.set(abi.MapData, "a", "1", "auth-secret", "open-sesame")
	serve(t, func(c *Context) {
		checks := []struct {
			name      string
			got, want any
		}{
			{"QueryAll", c.QueryAll(), map[string][]string{"a": {"1", "3"}, "b": {"2"}, "e": {""}}},
			{"Query", c.Query("a"), "1"},
			{"Headers", c.Headers(), map[string][]string{"content-type": {"text/plain"}, "x-many": {"1", "2"}}},
			{"Header", c.Header("Content-Type"), "text/plain"},
			{"Secrets", c.Secrets(), map[string]string{"auth-secret": "open-sesame"}},
			{"Secret", c.Secret("auth-secret"), "open-sesame"},
			{"Params", c.Params(), map[string]string{"p": "q"}},
			{"Param", c.Param("p"), "q"},
			{"MetaAll", c.MetaAll(), map[string]string{"owner": "tomek"}},
			{"Meta", c.Meta("owner"), "tomek"},
			{"DataAll", c.DataAll(), map[string]string{"a": "1", "auth-secret": "open-sesame"}},
			{"Data", c.Data("auth-secret"), "open-sesame"},
		}
		for _, tt := range checks {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("%s = %#v, want %#v", tt.name, tt.got, tt.want)
			}
		}
	})
}

func Test_decodePairs(t *testing.T) {
	tests := []struct {
		name, in string
		want     [][2]string
	}{
		{"empty", "", nil},
		{"one", "k\x00v\x00", [][2]string{{"k", "v"}}},
		{"empty value", "k\x00\x00", [][2]string{{"k", ""}}},
		{"two", "a\x001\x00b\x002\x00", [][2]string{{"a", "1"}, {"b", "2"}}},
		{"missing value", "a\x001\x00b\x00", [][2]string{{"a", "1"}}},
		{"no terminator", "a\x001", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [][2]string
			decodePairs(tt.in, func(k, v string) { got = append(got, [2]string{k, v}) })
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decodePairs(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzDecodePairs(f *testing.F) {
	f.Add("a\x001\x00b\x002\x00")
	f.Add("\x00\x00\x00")
	f.Fuzz(func(t *testing.T, s string) {
		var b bytes.Buffer
		decodePairs(s, func(k, v string) {
			if strings.Contains(k, "\x00") || strings.Contains(v, "\x00") {
				t.Fatalf("pair %q=%q contains NUL", k, v)
			}
			b.WriteString(k + "\x00" + v + "\x00")
		})
		if !strings.HasPrefix(s, b.String()) {
			t.Fatalf("re-encoded pairs %q are not a prefix of %q", b.String(), s)
		}
	})
}

func Test_roundUp(t *testing.T) {
	for n, want := range map[int]int{0: initialScratch, initialScratch + 1: 2 * initialScratch,
		maxScratch: maxScratch, maxScratch + 1: maxScratch + 1} {
		if got := roundUp(n); got != want {
			t.Errorf("roundUp(%d) = %d, want %d", n, got, want)
		}
	}
}
