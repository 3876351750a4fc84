//go:build !wasip1

package wasmtask

import (
	"errors"
	"strings"
	"testing"
)

// TestContext_Storage: read, write with the etag read, a stale etag is a
// conflict, force overwrites, a large document is read through the buffer
// rule, and a run without storage says so.
func TestContext_Storage(t *testing.T) {
	h := newFakeHost(t)
	c := &Context{}
	if _, _, err := c.StorageGet(); !errors.Is(err, ErrNoStorage) {
		t.Fatalf("without storage: %v", err)
	}
	h.hasStorage = true
	data, etag, err := c.StorageGet()
	if err != nil || data != nil || etag != NoETag {
		t.Fatalf("empty: %q %q %v", data, etag, err)
	}
	next, err := c.StorageSet([]byte(`{"n":1}`), etag, false)
	if err != nil || next != "1" {
		t.Fatalf("set: %q %v", next, err)
	}
	if _, err := c.StorageSet([]byte(`{"n":2}`), etag, false); !errors.Is(err, ErrStorageConflict) {
		t.Fatalf("stale etag: %v", err)
	}
	if _, err := c.StorageSet([]byte(`{"n":3}`), etag, true); err != nil {
		t.Fatalf("force: %v", err)
	}
	big := `{"s":"` + strings.Repeat("x", 4000) + `"}`
	if _, err := c.StorageSet([]byte(big), "", true); err != nil {
		t.Fatal(err)
	}
	if data, etag, err := c.StorageGet(); err != nil || string(data) != big || etag != "3" {
		t.Fatalf("large: %d bytes, %q %v", len(data), etag, err)
	}
}
