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
	big := fixture(t, "budget-big") // 80 pages: 5 MiB
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

	ts.upload("acme", "small", fixture(t, "budget-small"), "")
	if r := ts.req("GET", "/api/run/acme/small", "", nil); r.Status != 200 || string(r.Body) != "1" {
		t.Fatalf("small webtask: %d %s", r.Status, r.Body)
	}
}
