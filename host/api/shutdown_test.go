package api_test

import (
	"context"
	"errors"
	"net"
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

// TestServer_ServeAfterClose: a Serve that starts only after Close (a slow
// goroutine, as on a loaded CI machine) returns at once with ErrClosed and
// closes its listener, instead of accepting forever where nothing would
// close it: a caller waiting for Serve to return would wait for ever.
func TestServer_ServeAfterClose(t *testing.T) {
	srv, err := api.Open(context.Background(), api.Config{DataDir: t.TempDir(), CacheDir: sharedCache, SharedCache: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		if !errors.Is(err, api.ErrClosed) {
			t.Errorf("Serve after Close: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		ln.Close()
		t.Fatal("Serve after Close still accepting after 5s")
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("the listener given to Serve after Close still accepts connections")
	}
}
