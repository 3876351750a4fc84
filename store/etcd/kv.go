package etcdstore

import (
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/wasmtask/wasmtask/store"
)

// KVGet implements store.KV.
func (s *Store) KVGet(ns, key string) ([]byte, error) {
	if err := store.CheckKVKey(ns, key); err != nil {
		return nil, fmt.Errorf("store: kv get: %w", err)
	}
	kv, err := s.get("kv get", s.kvKey(ns, key))
	switch {
	case err != nil:
		return nil, err
	case kv == nil:
		return nil, fmt.Errorf("store: kv get %q/%q: %w", ns, key, store.ErrNotFound)
	}
	return clone(kv.Value), nil
}

// KVPut implements store.KV.
func (s *Store) KVPut(ns, key string, value []byte) error {
	if err := store.CheckKVKey(ns, key); err != nil {
		return fmt.Errorf("store: kv put: %w", err)
	}
	ctx, cancel, err := s.begin("kv put")
	if err != nil {
		return err
	}
	defer cancel()
	if _, err := s.cli.Put(ctx, s.kvKey(ns, key), string(value)); err != nil {
		return s.fail(fmt.Sprintf("kv put %q/%q", ns, key), err)
	}
	return nil
}

// KVDelete implements store.KV.
func (s *Store) KVDelete(ns, key string) error {
	if err := store.CheckKVKey(ns, key); err != nil {
		return fmt.Errorf("store: kv delete: %w", err)
	}
	ctx, cancel, err := s.begin("kv delete")
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := s.cli.Delete(ctx, s.kvKey(ns, key))
	switch {
	case err != nil:
		return s.fail(fmt.Sprintf("kv delete %q/%q", ns, key), err)
	case resp.Deleted == 0:
		return fmt.Errorf("store: kv delete %q/%q: %w", ns, key, store.ErrNotFound)
	}
	return nil
}

// KVList implements store.KV, in one request (one revision).
func (s *Store) KVList(ns, prefix string) ([]store.KVPair, error) {
	if err := store.CheckName("namespace", ns); err != nil {
		return nil, fmt.Errorf("store: kv list: %w", err)
	}
	ctx, cancel, err := s.begin("kv list")
	if err != nil {
		return nil, err
	}
	defer cancel()
	root := s.kvKey(ns, "")
	resp, err := s.cli.Get(ctx, root+prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, s.fail(fmt.Sprintf("kv list %q", ns), err)
	}
	list := make([]store.KVPair, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		list = append(list, store.KVPair{Key: string(kv.Key[len(root):]), Value: clone(kv.Value)})
	}
	return list, nil
}

// KVUpdate implements store.KV as a compare-and-swap on the key's mod
// revision: fn runs again on the newer value when another writer got in
// between, so fn may be called more than once.
func (s *Store) KVUpdate(ns, key string, fn func(cur []byte) ([]byte, error)) error {
	if err := store.CheckKVKey(ns, key); err != nil {
		return fmt.Errorf("store: kv update: %w", err)
	}
	k := s.kvKey(ns, key)
	_, err := s.update(fmt.Sprintf("kv update %q/%q", ns, key), func(t *txn) error {
		kv, err := t.get(k)
		if err != nil {
			return err
		}
		var cur []byte
		if kv != nil {
			cur = clone(kv.Value)
		}
		next, err := fn(cur)
		switch {
		case err != nil:
			return err // returned to the caller as is
		case next != nil:
			t.put(k, next)
		case cur != nil:
			t.del(k)
		}
		return nil
	})
	return err
}
