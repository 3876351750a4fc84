package etcdstore

import (
	"errors"
	"fmt"
	"strconv"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/wasmtask/wasmtask/store"
)

// storageVersion is the first byte of a stored document; the data follows
// as is. The etag is not stored: it is the document's mod revision, which
// no other write to the cluster ever had, and which etcd compares in the
// transaction of PutStorage.
const storageVersion = 1

// GetStorage implements store.Store: the webtask and its document are read
// in one transaction.
func (s *Store) GetStorage(container, name string) (store.Storage, error) {
	if err := store.CheckWebtaskKey(container, name); err != nil {
		return store.Storage{}, fmt.Errorf("store: get storage: %w", err)
	}
	ctx, cancel, err := s.begin("get storage")
	if err != nil {
		return store.Storage{}, err
	}
	defer cancel()
	resp, err := s.cli.Txn(ctx).Then(
		clientv3.OpGet(s.webtaskKey(container, name), clientv3.WithCountOnly()),
		clientv3.OpGet(s.storageKey(container, name))).Commit()
	if err != nil {
		return store.Storage{}, s.fail(fmt.Sprintf("get storage %q/%q", container, name), err)
	}
	return s.storageOf(container, name, resp)
}

// storageOf reads the answer of the two gets of GetStorage (also the Else
// branch of PutStorage).
func (s *Store) storageOf(container, name string, resp *clientv3.TxnResponse) (store.Storage, error) {
	if resp.Responses[0].GetResponseRange().Count == 0 {
		return store.Storage{}, fmt.Errorf("store: storage of %q/%q: no such webtask: %w", container, name, store.ErrNotFound)
	}
	kvs := resp.Responses[1].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return store.Storage{ETag: store.EmptyETag}, nil
	}
	return decodeStorage(container, name, kvs[0])
}

func decodeStorage(container, name string, kv *mvccpb.KeyValue) (store.Storage, error) {
	v := kv.Value
	if len(v) < 1 || v[0] != storageVersion {
		why := "it is empty"
		if len(v) > 0 {
			why = fmt.Sprintf("unsupported storage record version %d (this binary reads %d)", v[0], storageVersion)
		}
		return store.Storage{}, fmt.Errorf("store: storage of %q/%q: %s (write it without an etag to replace it): %w",
			container, name, why, store.ErrDamaged)
	}
	return store.Storage{Data: clone(v[1:]), ETag: strconv.FormatInt(kv.ModRevision, 10)}, nil
}

// PutStorage implements store.Store: one transaction compares the webtask's
// existence and the document's mod revision with ifMatch, and writes the
// document or, when they do not match, reads both to tell why.
func (s *Store) PutStorage(container, name string, data []byte, ifMatch string) (string, error) {
	if err := store.CheckWebtaskKey(container, name); err != nil {
		return "", fmt.Errorf("store: put storage: %w", err)
	}
	if len(data) > store.MaxStorageBytes {
		return "", fmt.Errorf("store: put storage %q/%q: %d bytes, more than %d: %w",
			container, name, len(data), store.MaxStorageBytes, store.ErrTooLarge)
	}
	wkey, skey := s.webtaskKey(container, name), s.storageKey(container, name)
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(wkey), ">", 0)}
	switch ifMatch {
	case "":
	case store.EmptyETag:
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(skey), "=", 0))
	default:
		rev, err := strconv.ParseInt(ifMatch, 10, 64)
		if err != nil || rev <= 0 {
			rev = -1 // matches no document
		}
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(skey), "=", rev))
	}
	ctx, cancel, err := s.begin("put storage")
	if err != nil {
		return "", err
	}
	defer cancel()
	resp, err := s.cli.Txn(ctx).If(cmps...).
		Then(clientv3.OpPut(skey, string(append([]byte{storageVersion}, data...)))).
		Else(clientv3.OpGet(wkey, clientv3.WithCountOnly()), clientv3.OpGet(skey)).Commit()
	if err != nil {
		return "", s.fail(fmt.Sprintf("put storage %q/%q", container, name), err)
	}
	if resp.Succeeded {
		return strconv.FormatInt(resp.Header.Revision, 10), nil
	}
	cur, err := s.storageOf(container, name, resp)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", fmt.Errorf("store: put storage %q/%q: no such webtask: %w", container, name, store.ErrNotFound)
	case err != nil:
		return "", err
	}
	return "", &store.ConflictError{Container: container, Name: name, Current: cur}
}
