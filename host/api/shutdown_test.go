package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/host/api"
	"github.com/wasmtask/wasmtask/host/engine"
)

// TestServer_ShutdownCutsOnlyPastItsTimeout: Shutdown waits for requests in
// flight up to ShutdownTimeout and says so when it had to cut one.
func TestServer_ShutdownCutsOnlyPastItsTimeout(t *testing.T) {
	ts := start(t, api.Config{ShutdownTimeout: 200 * time.Millisecond, Engine: engine.Config{Timeout: 5 * time.Second}})
	ts.upload("acme", "loop", fixture(t, "loop"), "")
	go func() { _, _ = client.Get(ts.URL + "/api/run/acme/loop") }()
	time.Sleep(100 * time.Millisecond) // the request is running
	start := time.Now()
	err := ts.Shutdown()
	if err == nil || !strings.Contains(err.Error(), "--shutdown-timeout") {
		t.Fatalf("Shutdown under a runaway request: %v, want the cut reported", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %s with a 200ms timeout", d)
	}
}
