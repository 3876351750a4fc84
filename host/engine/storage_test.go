package engine

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/wasmtask/wasmtask/abi"
	"github.com/wasmtask/wasmtask/store"
)

// memStorage is a Storage in memory with the registry's contract: the
// store's 500 KB limit, etags that change on every write, and its errors
// wrapped as the host wraps them.
type memStorage struct {
	mu     sync.Mutex
	data   []byte
	etag   int
	writes int
}

func (s *memStorage) Get() ([]byte, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data, strconv.Itoa(s.etag), nil
}

func (s *memStorage) Put(data []byte, etag string, force bool) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case len(data) > store.MaxStorageBytes:
		return "", fmt.Errorf("%w: %d bytes", ErrStorageTooLarge, len(data))
	case !json.Valid(data):
		return "", fmt.Errorf("storage data must be JSON text")
	case !force && etag != strconv.Itoa(s.etag):
		return "", fmt.Errorf("%w: it is now %d", ErrStorageConflict, s.etag)
	}
	s.data, s.etag, s.writes = append([]byte(nil), data...), s.etag+1, s.writes+1
	return strconv.Itoa(s.etag), nil
}

// TestStorage_Calls: a guest's storage_get and storage_set (the fixture
// storage.wat makes them as an SDK does) against a named webtask's
// storage, through a pool: the document and etag read back, a write with
// the current etag or force commits, and a stale etag, data over 500 KB or
// data that is not JSON get their result (abi/SPEC.md, "Storage") and
// write nothing; a run without storage gets NotFound.
func TestStorage_Calls(t *testing.T) {
	lg := &logs{}
	e := newEngine(t, Config{MaxResponseBytes: 4096, Logger: lg})
	mod, err := e.Compile(context.Background(), fixture(t, "storage"))
	if err != nil {
		t.Fatal(err)
	}
	p := e.NewPool(mod, "acme", "storage", PolicyPool)
	defer p.Close(context.Background())
	st := &memStorage{}
	pad := func(n int) string { return `"` + strings.Repeat("x", n-2) + `"` } // JSON text of n bytes
	tests := []struct {
		name, method, etag string
		force              bool
		body               string
		noStorage          bool
		rc                 int32
		out                string // what the host wrote to the guest's buffer
		stored             string // the document after the call
		writes             int
	}{
		{name: "get, nothing stored", method: "GET", rc: 24, out: `{"data":null,"etag":"0"}`, writes: 0},
		{name: "set with the empty etag", method: "PUT", etag: "0", body: `{"n":1}`, rc: 1, out: "1", stored: `{"n":1}`, writes: 1},
		{name: "get", method: "GET", rc: 27, out: `{"data":{"n":1},"etag":"1"}`, stored: `{"n":1}`, writes: 1},
		{name: "set with a stale etag", method: "PUT", etag: "0", body: `{"n":2}`, rc: abi.StorageConflict, stored: `{"n":1}`, writes: 1},
		{name: "set with the current etag", method: "PUT", etag: "1", body: `{"n":2}`, rc: 1, out: "2", stored: `{"n":2}`, writes: 2},
		{name: "set one byte over 500 KB", method: "PUT", force: true, body: pad(store.MaxStorageBytes + 1), rc: abi.StorageTooLarge, stored: `{"n":2}`, writes: 2},
		{name: "set not JSON", method: "PUT", force: true, body: `{"n":`, rc: abi.StorageFailed, stored: `{"n":2}`, writes: 2},
		{name: "set 500 KB with force", method: "PUT", etag: "0", force: true, body: pad(store.MaxStorageBytes), rc: 1, out: "3", stored: pad(store.MaxStorageBytes), writes: 3},
		{name: "get, bigger than the buffer", method: "GET", rc: int32(len(`{"data":,"etag":"3"}`) + store.MaxStorageBytes), stored: pad(store.MaxStorageBytes), writes: 3},
		{name: "get without storage", method: "GET", noStorage: true, rc: abi.NotFound, stored: pad(store.MaxStorageBytes), writes: 3},
		{name: "set without storage", method: "PUT", noStorage: true, body: `1`, rc: abi.NotFound, stored: pad(store.MaxStorageBytes), writes: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &Request{Method: tt.method, Path: "/", Body: []byte(tt.body), Container: "acme", Name: "storage", RequestID: "r1"}
			if tt.etag != "" {
				req.Query = append(req.Query, KV{"etag", tt.etag})
			}
			if tt.force {
				req.Query = append(req.Query, KV{"force", ""})
			}
			SortKV(req.Query)
			if !tt.noStorage {
				req.Storage = st
			}
			resp := &Response{}
			if err := p.Serve(context.Background(), req, resp); err != nil {
				t.Fatal(err)
			}
			if resp.Status != 200 || len(resp.Body) < 4 {
				t.Fatalf("answer %d %q", resp.Status, resp.Body)
			}
			if rc := int32(binary.LittleEndian.Uint32(resp.Body)); rc != tt.rc {
				t.Fatalf("result %d, want %d", rc, tt.rc)
			}
			if out := string(resp.Body[4:]); out != tt.out {
				t.Errorf("the host wrote %q, want %q", out, tt.out)
			}
			data, _, _ := st.Get()
			if string(data) != tt.stored || st.writes != tt.writes {
				t.Errorf("stored %.40q (%d writes), want %.40q (%d)", data, st.writes, tt.stored, tt.writes)
			}
		})
	}
	lg.mu.Lock()
	defer lg.mu.Unlock()
	if !strings.Contains(strings.Join(lg.lines, "\n"), "acme/storage r1 storage set: storage data must be JSON text") {
		t.Errorf("the failed set is not in the webtask's log: %q", lg.lines)
	}
}
