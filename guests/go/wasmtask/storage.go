package wasmtask

import (
	"encoding/json"
	"errors"
	"unsafe"

	"github.com/wasmtask/wasmtask/abi"
)

// Errors of the storage calls (abi/SPEC.md, "Storage").
var (
	// ErrNoStorage: the run has no storage (code a token fixes; only a
	// named webtask has one).
	ErrNoStorage = errors.New("wasmtask: this run has no storage (only a named webtask has one)")
	// ErrStorageConflict: the etag given is not the stored document's;
	// nothing was written. Read the document again and retry, or force.
	ErrStorageConflict = errors.New("wasmtask: storage: the data changed since it was read")
	// ErrStorageTooLarge: the data is over the 500 KB limit.
	ErrStorageTooLarge = errors.New("wasmtask: storage: the data is over the 500 KB limit")
	// ErrStorageFailed: the data is not JSON, or the store failed (the
	// reason is in the webtask's log).
	ErrStorageFailed = errors.New("wasmtask: storage: the call failed (see the log)")
)

// NoETag is the etag while nothing is stored: a StorageSet with it
// succeeds only then.
const NoETag = "0"

// StorageGet reads the named webtask's stored document: the JSON text of
// the value (nil when nothing is stored) and its etag, to give back to
// StorageSet.
func (c *Context) StorageGet() (data []byte, etag string, err error) {
	buf := make([]byte, 512)
	n := hostStorageGet(unsafe.SliceData(buf), uint32(len(buf)))
	for n > int32(len(buf)) { // the document may grow between two calls
		buf = make([]byte, n)
		n = hostStorageGet(unsafe.SliceData(buf), uint32(len(buf)))
	}
	if n < 0 {
		return nil, "", storageErr(n)
	}
	var doc struct {
		Data json.RawMessage `json:"data"`
		ETag string          `json:"etag"`
	}
	if err := json.Unmarshal(buf[:n], &doc); err != nil {
		return nil, "", ErrStorageFailed
	}
	if string(doc.Data) == "null" {
		doc.Data = nil
	}
	return doc.Data, doc.ETag, nil
}

// StorageSet stores data (JSON text) if etag is the stored document's (as
// StorageGet returned it; NoETag while nothing is stored), or whatever is
// stored with force, and returns the new etag. A nil error means the write
// is durable.
func (c *Context) StorageSet(data []byte, etag string, force bool) (string, error) {
	var flags uint32
	if force {
		flags = abi.StorageForce
	}
	var buf [64]byte
	n := hostStorageSet(unsafe.SliceData(data), uint32(len(data)), etag, flags, &buf[0], uint32(len(buf)))
	if n < 0 {
		return "", storageErr(n)
	}
	if n > int32(len(buf)) {
		return "", ErrStorageFailed
	}
	return string(buf[:n]), nil
}

func storageErr(n int32) error {
	switch n {
	case abi.NotFound:
		return ErrNoStorage
	case abi.StorageConflict:
		return ErrStorageConflict
	case abi.StorageTooLarge:
		return ErrStorageTooLarge
	}
	return ErrStorageFailed
}
