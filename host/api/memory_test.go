package api_test

import (
	"testing"

	"github.com/wasmtask/wasmtask/host/api"
	"github.com/wasmtask/wasmtask/host/engine"
)

// TestServer_MemoryBudget: when the server's memory budget cannot cover a
// new instance, uploads and runs answer 503 "overloaded" with Retry-After,
// and the server keeps answering what fits.
func TestServer_MemoryBudget(t *testing.T) {
	ts := start(t, api.Config{Engine: engine.Config{MemoryBudget: 4 << 20}})
	module := func(pages string) []byte {
		return watModule(t, `(module
  (import "wasmtask_v1" "result" (func $result (param i32 i32)))
  (memory (export "memory") `+pages+`)
  (data (i32.const 0) "1")
  (func (export "wt_handle") (result i32) (call $result (i32.const 0) (i32.const 1)) (i32.const 0)))`)
	}
	big := module("80") // 5 MiB
	overloaded := func(r response) {
		t.Helper()
		wantError(t, r, 503, "memory budget")
		if id := r.JSON(t)["error"]; id != "overloaded" {
			t.Errorf("error = %v, want overloaded", id)
		}
		if r.Header.Get("Retry-After") == "" {
			t.Error("no Retry-After")
		}
	}
	overloaded(ts.req("PUT", "/api/webtask/acme/big", ts.Admin, big, "Content-Type: application/wasm"))
	// Code posted to run has no deploy step: the run itself answers 503.
	overloaded(ts.req("POST", "/api/run/acme", ts.Admin, big, "Content-Type: application/wasm"))

	ts.upload("acme", "small", module("1"), "")
	if r := ts.req("GET", "/api/run/acme/small", "", nil); r.Status != 200 || string(r.Body) != "1" {
		t.Fatalf("small webtask: %d %s", r.Status, r.Body)
	}
}
