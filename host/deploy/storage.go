package deploy

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/wasmtask/wasmtask/store"
)

// Webtask storage is the Webtask platform's context.storage: one JSON
// document per named webtask with an etag for optimistic concurrency,
// served over HTTP (GET|PUT /api/webtask/{c}/{n}/data) and meant for the
// guests' storage calls. The registry checks what the store does not (the
// data is JSON) and turns the store's failures into its kinds; the
// compare-and-write itself is one store transaction (store.PutStorage), so
// nothing here locks. The document belongs to the webtask: a redeploy
// keeps it, Delete deletes it in the same transaction.

// MaxStorageBytes caps the JSON text of one webtask's storage: 500 KB, as
// on the original platform.
const MaxStorageBytes = store.MaxStorageBytes

// EmptyETag is the etag of a webtask that has stored nothing yet; a write
// that gives it succeeds only while that is still so.
const EmptyETag = store.EmptyETag

// Document is a webtask's stored data and its etag.
type Document struct {
	// Data is the JSON text of the stored value; nil when nothing was
	// stored.
	Data json.RawMessage
	// ETag names this version: EmptyETag when nothing was stored.
	ETag string
}

// ConflictError is an ErrConflict with the document that is stored: the
// caller may merge into it and retry with its etag.
type ConflictError struct {
	Container, Name string
	Current         Document
}

// Error says the data changed since it was read.
func (e *ConflictError) Error() string {
	return "the storage of webtask " + e.Name + " in container " + e.Container +
		" changed since the etag you gave (it is now " + strconv.Quote(e.Current.ETag) + "); read it again and retry, or write with force"
}

// Unwrap returns ErrConflict.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// Storage is the storage of one named webtask. It is a handle: it holds
// no data and may be kept (by a deployment, for its guests' calls); every
// call goes to the store.
type Storage struct {
	r               *Registry
	container, name string
}

// Storage returns the storage of webtask name in container. The caller
// has checked the names and the right to use the container.
func (r *Registry) Storage(container, name string) Storage {
	return Storage{r: r, container: container, name: name}
}

// Get returns the stored document; ErrNotFound when there is no such
// webtask.
func (s Storage) Get() (Document, error) {
	s.r.stats.storageGets.Add(1)
	d, err := s.r.st.GetStorage(s.container, s.name)
	if err != nil {
		return Document{}, s.fail("cannot read the storage of the webtask", err)
	}
	return Document{Data: d.Data, ETag: d.ETag}, nil
}

// Put stores data, the JSON text of a value, and returns its etag. With
// force, or an empty etag, it replaces whatever is stored; otherwise etag
// must be the stored document's (EmptyETag while there is none), else a
// *ConflictError (ErrConflict) carrying that document, and nothing
// changes. ErrBadRequest when data is not JSON, ErrTooLarge over
// MaxStorageBytes, ErrNotFound when there is no such webtask. A nil error
// means the write is committed (durable).
func (s Storage) Put(data []byte, etag string, force bool) (string, error) {
	if len(data) > MaxStorageBytes {
		return "", s.tooLarge(len(data))
	}
	if !json.Valid(data) {
		return "", Fail(ErrBadRequest, "storage data must be JSON text")
	}
	if force {
		etag = ""
	}
	s.r.stats.storageSets.Add(1)
	next, err := s.r.st.PutStorage(s.container, s.name, data, etag)
	if err != nil {
		return "", s.fail("cannot write the storage of the webtask", err)
	}
	return next, nil
}

// fail turns a store error into the registry's kinds.
func (s Storage) fail(msg string, err error) error {
	var ce *store.ConflictError
	switch {
	case errors.As(err, &ce):
		s.r.stats.storageConflicts.Add(1)
		return &ConflictError{Container: s.container, Name: s.name, Current: Document{Data: ce.Current.Data, ETag: ce.Current.ETag}}
	case errors.Is(err, store.ErrNotFound):
		return notFound(s.container, s.name)
	case errors.Is(err, store.ErrTooLarge):
		return s.tooLarge(-1)
	}
	return internal(msg, err)
}

func (s Storage) tooLarge(n int) error {
	msg := "storage data exceeds the limit of " + itoa(MaxStorageBytes) + " bytes (500 KB)"
	if n >= 0 {
		msg = "storage data is " + itoa(n) + " bytes, over the limit of " + itoa(MaxStorageBytes) + " bytes (500 KB)"
	}
	return Fail(ErrTooLarge, msg)
}
