package store

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// KVGet implements KV.
func (b *Bolt) KVGet(ns, key string) ([]byte, error) {
	if err := checkKVKey(ns, key); err != nil {
		return nil, fmt.Errorf("store: kv get: %w", err)
	}
	var value []byte
	err := b.view("kv get", func(tx *bolt.Tx) error {
		if nb := tx.Bucket(bktKV).Bucket([]byte(ns)); nb != nil {
			if v, ok := lookup(nb, []byte(key)); ok {
				value = clone(v)
				return nil
			}
		}
		return fmt.Errorf("store: kv get %q/%q: %w", ns, key, ErrNotFound)
	})
	return value, err
}

// KVPut implements KV.
func (b *Bolt) KVPut(ns, key string, value []byte) error {
	if err := checkKVKey(ns, key); err != nil {
		return fmt.Errorf("store: kv put: %w", err)
	}
	return b.update("kv put", func(tx *bolt.Tx) error {
		return kvPut(tx, ns, key, value)
	})
}

// KVDelete implements KV.
func (b *Bolt) KVDelete(ns, key string) error {
	if err := checkKVKey(ns, key); err != nil {
		return fmt.Errorf("store: kv delete: %w", err)
	}
	return b.update("kv delete", func(tx *bolt.Tx) error {
		nb := tx.Bucket(bktKV).Bucket([]byte(ns))
		if nb != nil {
			if _, ok := lookup(nb, []byte(key)); ok {
				return kvDelete(tx, ns, key)
			}
		}
		return fmt.Errorf("store: kv delete %q/%q: %w", ns, key, ErrNotFound)
	})
}

// KVList implements KV.
func (b *Bolt) KVList(ns, prefix string) ([]KVPair, error) {
	if err := checkName("namespace", ns); err != nil {
		return nil, fmt.Errorf("store: kv list: %w", err)
	}
	list := []KVPair{}
	err := b.view("kv list", func(tx *bolt.Tx) error {
		nb := tx.Bucket(bktKV).Bucket([]byte(ns))
		if nb == nil {
			return nil
		}
		p := []byte(prefix)
		c := nb.Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			list = append(list, KVPair{Key: string(k), Value: clone(v)})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return list, nil
}

// KVUpdate implements KV. fn receives a copy of the current value, so it may
// keep or modify it; a present but empty value is a non-nil empty slice.
func (b *Bolt) KVUpdate(ns, key string, fn func(cur []byte) ([]byte, error)) error {
	if err := checkKVKey(ns, key); err != nil {
		return fmt.Errorf("store: kv update: %w", err)
	}
	return b.update("kv update", func(tx *bolt.Tx) error {
		var cur []byte
		if nb := tx.Bucket(bktKV).Bucket([]byte(ns)); nb != nil {
			if v, ok := lookup(nb, []byte(key)); ok {
				cur = clone(v)
			}
		}
		next, err := fn(cur)
		if err != nil {
			return err // returned to the caller as is
		}
		switch {
		case next != nil:
			return kvPut(tx, ns, key, next)
		case cur != nil:
			return kvDelete(tx, ns, key)
		default:
			return nil // absent and stays absent
		}
	})
}

func kvPut(tx *bolt.Tx, ns, key string, value []byte) error {
	nb, err := tx.Bucket(bktKV).CreateBucketIfNotExists([]byte(ns))
	if err != nil {
		return fmt.Errorf("store: kv put %q/%q: %w", ns, key, err)
	}
	if value == nil {
		value = []byte{}
	}
	if err := nb.Put([]byte(key), value); err != nil {
		return fmt.Errorf("store: kv put %q/%q: %w", ns, key, err)
	}
	return nil
}

func kvDelete(tx *bolt.Tx, ns, key string) error {
	root := tx.Bucket(bktKV)
	if err := root.Bucket([]byte(ns)).Delete([]byte(key)); err != nil {
		return fmt.Errorf("store: kv delete %q/%q: %w", ns, key, err)
	}
	return dropIfEmpty(root, []byte(ns))
}

// checkKVKey validates a namespace (same rules as a container) and a key (any
// bytes, non-empty, at most a bbolt key long).
func checkKVKey(ns, key string) error {
	if err := checkName("namespace", ns); err != nil {
		return err
	}
	switch {
	case key == "":
		return fmt.Errorf("empty key: %w", ErrInvalid)
	case len(key) > MaxKeyBytes:
		return fmt.Errorf("key is %d bytes, more than %d: %w", len(key), MaxKeyBytes, ErrInvalid)
	}
	return nil
}
