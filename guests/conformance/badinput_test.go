package conformance_test

import (
	"testing"

	"github.com/wasmtask/wasmtask/host/api"
)

// TestBadModules uploads modules that break the ABI's module rules and
// checks that each is refused with a 400 naming the problem (and, where the
// host gives one, the fix), while the webtask already stored under the same
// name keeps serving. (The Go modules of the same kind, guests/go/examples/
// command and badimport, are host/api's tests.)
func TestBadModules(t *testing.T) {
	s := start(t, api.Config{})
	s.mustUpload(t, "bad", "keep", guest(t, "wat", "conformance"), "")
	tests := []struct {
		lang, name string
		msg        []string // all must appear in the message
	}{
		// Wrong target.
		{"c", "native", []string{"invalid wasm module"}},
		{"c", "command", []string{"WASI command", "exports _start", "reactor", "-mexec-model=reactor"}},
		{"rust", "command", []string{"WASI command", "--crate-type cdylib"}},
		{"wat", "abiv2", []string{"ABI v2", "wasmtask_v2.get", "this server speaks v1"}},
		// Missing or wrong exports.
		{"wat", "noexport", []string{"does not export wt_handle"}},
		{"wat", "badhandle", []string{"wt_handle has signature (i32) -> (i32), want () -> i32"}},
		{"wat", "nomemory", []string{"does not export its memory"}},
		// Imports the host does not offer.
		{"wat", "badimport", []string{"env.now", "wasmtask_v1 and wasi_snapshot_preview1"}},
		{"assemblyscript", "noabort", []string{"env.abort"}},
		{"wat", "unknownfunc", []string{"wasmtask_v1.fetch does not exist"}},
		{"wat", "badsig", []string{"wasmtask_v1.get has signature (i32, i32, i64) -> (i32), want (i32, i32, i32) -> (i32)"}},
		{"wat", "importmemory", []string{"memory env.memory", "define and export its own memory"}},
		// SPEC.md: an imported table or global is refused "naming the
		// import"; the host finds out only when the instance fails to start
		// and names the module alone (see the report of issue 4).
		{"wat", "importglobal", []string{"env"}},
		{"wat", "importtable", []string{"env"}},
		// Starts badly.
		{"wat", "initcall", []string{"failed to start", "outside a request"}},
	}
	for _, tc := range tests {
		t.Run(tc.lang+"/"+tc.name, func(t *testing.T) {
			r := s.upload(t, "bad", "keep", guest(t, tc.lang, tc.name), "")
			for _, m := range tc.msg {
				hostError(t, r, 400, "invalid_module", m)
			}
		})
	}
	if r := s.get(t, "/api/run/bad/keep/hello"); r.Status != 200 {
		t.Fatalf("after the refused uploads the stored webtask answers %d %s", r.Status, r.Body)
	}
}

// misuseCases is what a hostile guest's routes must produce: a trap (500,
// naming the broken rule) or the defined answer.
var misuseCases = []struct {
	path   string
	status int
	msg    string // in the host's error message; "" for a guest answer
}{
	{"/ok", 200, ""},
	{"/oob-get", 500, "memory range out of bounds"},
	{"/oob-key", 500, "memory range out of bounds"},
	{"/oob-result", 500, "memory range out of bounds"},
	{"/oob-log", 500, "memory range out of bounds"},
	{"/negative-length", 500, "memory range out of bounds"},
	{"/result-twice", 500, "response already finished"},
	{"/write-after-finish", 500, "response already finished"},
	{"/error-after-result", 500, "response already finished"},
	{"/header-after-error", 500, "response already finished"},
	{"/bad-header-name", 500, "invalid header name"},
	{"/bad-header-value", 500, "CR, LF or NUL"},
	{"/reserved-header", 500, "set by the host"},
	{"/bad-status", 500, "status 99 is outside 200-599"},
	{"/bad-error-status", 500, "error status 302 is outside 400-599"},
	{"/invalid-json", 500, "not valid JSON"},
	{"/raw-then-simple", 500, "simple-model call after a raw-model call"},
	{"/stack-overflow", 500, "trapped"},
	{"/fail", 500, "without responding"},
	{"/fail-after-result", 200, ""},
}

// TestMisuse runs the hostile guests of C and WAT: every ABI violation
// traps with a 500 that names it, and the webtask keeps serving afterwards
// (the broken instance is discarded, never reused).
func TestMisuse(t *testing.T) {
	s := start(t, api.Config{})
	for _, lang := range []string{"c", "wat"} {
		t.Run(lang, func(t *testing.T) {
			s.mustUpload(t, "misuse", lang, guest(t, lang, "misuse"), "")
			base := "/api/run/misuse/" + lang
			for _, tc := range misuseCases {
				t.Run(tc.path[1:], func(t *testing.T) {
					r := s.get(t, base+tc.path)
					if tc.msg == "" {
						fromWebtask(t, r, tc.status, "application/json")
						wantBody(t, r, `{"ok":true}`)
					} else {
						hostError(t, r, tc.status, "webtask_failed", tc.msg)
					}
					if r := s.get(t, base+"/ok"); r.Status != 200 || string(r.Body) != `{"ok":true}` {
						t.Fatalf("after %s: /ok = %d %s", tc.path, r.Status, r.Body)
					}
				})
			}
		})
	}
}
