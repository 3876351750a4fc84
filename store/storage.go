package store

import (
	"errors"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// Webtask storage: one document per named webtask (the Webtask platform's
// context.storage, and GET|PUT /api/webtask/{c}/{n}/data), with an etag for
// optimistic concurrency. The compare and the write happen in one write
// transaction, so of two writers holding the same etag exactly one wins.
//
// Bolt layout: storage <container> (nested bucket) -> <name> -> document
// record (encodeStorage). The document lives beside the webtask, not in it:
// a write of the data never rewrites the webtask record, and a redeploy
// keeps the data. DeleteWebtask deletes it in its own transaction.

// MaxStorageBytes is the largest Storage.Data a backend must hold and the
// largest it accepts: 500 KB, the original platform's limit. Larger data is
// refused with ErrTooLarge.
const MaxStorageBytes = 500 << 10

// EmptyETag is the etag of a webtask that has no stored data yet. A write
// that gives it succeeds only while nothing is stored. Etags of written
// documents are never EmptyETag.
const EmptyETag = "0"

// Storage is the storage document of one webtask.
type Storage struct {
	// Data is the stored bytes (for the host: the JSON text of the
	// value), nil when nothing was ever stored. The store keeps it
	// verbatim and does not parse it.
	Data []byte
	// ETag names this version of the document: EmptyETag for none, else
	// a string no other write to this store ever returned.
	ETag string
}

// ConflictError is the error of a PutStorage whose etag is not the current
// one. It matches ErrConflict and carries the current document.
type ConflictError struct {
	Container, Name string
	Current         Storage
}

// Error says whose storage changed.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("store: put storage %q/%q: the stored etag is %q: %v", e.Container, e.Name, e.Current.ETag, ErrConflict)
}

// Unwrap returns ErrConflict.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// storageVersion is the first byte of every stored document record.
const storageVersion = 1

// encodeStorage is a document's record: the version byte, the etag's length
// (one byte), the etag, then the data as is.
func encodeStorage(s Storage) []byte {
	b := make([]byte, 0, 2+len(s.ETag)+len(s.Data))
	b = append(b, storageVersion, byte(len(s.ETag)))
	b = append(b, s.ETag...)
	return append(b, s.Data...)
}

// decodeStorage reads a record; the result does not alias v.
func decodeStorage(v []byte) (Storage, error) {
	switch {
	case len(v) < 2:
		return Storage{}, errors.New("storage record is too short")
	case v[0] != storageVersion:
		return Storage{}, fmt.Errorf("unsupported storage record version %d (this binary reads %d)", v[0], storageVersion)
	case len(v) < 2+int(v[1]) || v[1] == 0:
		return Storage{}, errors.New("storage record has a bad etag length")
	}
	n := 2 + int(v[1])
	return Storage{ETag: string(v[2:n]), Data: clone(v[n:])}, nil
}

// GetStorage implements Store.
func (b *Bolt) GetStorage(container, name string) (Storage, error) {
	if err := checkWebtaskKey(container, name); err != nil {
		return Storage{}, fmt.Errorf("store: get storage: %w", err)
	}
	var s Storage
	err := b.view("get storage", func(tx *bolt.Tx) error {
		var err error
		s, err = findStorage(tx, container, name)
		return err
	})
	if err != nil {
		return Storage{}, err
	}
	return s, nil
}

// PutStorage implements Store.
func (b *Bolt) PutStorage(container, name string, data []byte, ifMatch string) (string, error) {
	if err := checkWebtaskKey(container, name); err != nil {
		return "", fmt.Errorf("store: put storage: %w", err)
	}
	if len(data) > MaxStorageBytes {
		return "", fmt.Errorf("store: put storage %q/%q: %d bytes, more than %d: %w",
			container, name, len(data), MaxStorageBytes, ErrTooLarge)
	}
	var etag string
	err := b.update("put storage", func(tx *bolt.Tx) error {
		if ifMatch != "" {
			cur, err := findStorage(tx, container, name)
			if err != nil {
				return err
			}
			if cur.ETag != ifMatch {
				return &ConflictError{Container: container, Name: name, Current: cur}
			}
		} else if _, found := findWebtask(tx.Bucket(bktWebtasks).Bucket([]byte(container)), container, name); !found {
			return fmt.Errorf("store: put storage %q/%q: no such webtask: %w", container, name, ErrNotFound)
		}
		root := tx.Bucket(bktStorage)
		seq, err := root.NextSequence()
		if err != nil {
			return fmt.Errorf("store: put storage %q/%q: %w", container, name, err)
		}
		etag = strconv.FormatUint(seq, 10)
		cb, err := root.CreateBucketIfNotExists([]byte(container))
		if err != nil {
			return fmt.Errorf("store: put storage %q/%q: %w", container, name, err)
		}
		if data == nil {
			data = []byte{}
		}
		if err := cb.Put([]byte(name), encodeStorage(Storage{Data: data, ETag: etag})); err != nil {
			return fmt.Errorf("store: put storage %q/%q: %w", container, name, err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return etag, nil
}

// findStorage returns the document of container/name inside tx: ErrNotFound
// when there is no such webtask, the empty document when it has stored
// nothing, ErrDamaged when its record does not decode.
func findStorage(tx *bolt.Tx, container, name string) (Storage, error) {
	if _, found := findWebtask(tx.Bucket(bktWebtasks).Bucket([]byte(container)), container, name); !found {
		return Storage{}, fmt.Errorf("store: storage of %q/%q: no such webtask: %w", container, name, ErrNotFound)
	}
	cb := tx.Bucket(bktStorage).Bucket([]byte(container))
	if cb == nil {
		return Storage{ETag: EmptyETag}, nil
	}
	v, ok := lookup(cb, []byte(name))
	if !ok {
		return Storage{ETag: EmptyETag}, nil
	}
	s, err := decodeStorage(v)
	if err != nil {
		return Storage{}, fmt.Errorf("store: storage of %q/%q: %v (write it without an etag to replace it): %w",
			container, name, err, ErrDamaged)
	}
	return s, nil
}

// deleteStorage deletes the document of container/name, if any, inside
// DeleteWebtask's transaction.
func deleteStorage(tx *bolt.Tx, container, name string) error {
	root := tx.Bucket(bktStorage)
	cb := root.Bucket([]byte(container))
	if cb == nil {
		return nil
	}
	if err := deleteRecord(cb, name); err != nil {
		return fmt.Errorf("store: delete storage %q/%q: %w", container, name, err)
	}
	return dropIfEmpty(root, []byte(container))
}
