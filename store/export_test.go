package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Hooks for the conformance suite run in bolt_suite_test.go (package
// store_test, which storetest's import of store keeps out of this package).

// BoltPath returns the path b was opened with.
func BoltPath(b *Bolt) string { return b.path }

// SetWalkBatch sets how many webtasks ForEachWebtask reads per transaction.
func SetWalkBatch(b *Bolt, n int) { b.batch = n }

// BoltPutRaw stores raw under container/name in the nested bucket of the
// top-level bucket root (webtasks, storage or cron), replacing what is there.
func BoltPutRaw(b *Bolt, root, container, name string, raw []byte) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		cb, err := tx.Bucket([]byte(root)).CreateBucketIfNotExists([]byte(container))
		if err != nil {
			return err
		}
		if err := deleteRecord(cb, name); err != nil {
			return err
		}
		return cb.Put([]byte(name), raw)
	})
}

// BoltPutBucket replaces the webtask record of container/name with a
// nested bucket holding one key.
func BoltPutBucket(b *Bolt, container, name string) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		cb := tx.Bucket(bktWebtasks).Bucket([]byte(container))
		if err := cb.Delete([]byte(name)); err != nil {
			return err
		}
		nb, err := cb.CreateBucket([]byte(name))
		if err != nil {
			return err
		}
		return nb.Put([]byte("x"), []byte("y"))
	})
}

// BoltModules counts the modules stored.
func BoltModules(b *Bolt) (n int, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bktModules).Stats().KeyN
		return nil
	})
	return n, err
}

// BoltLeftovers lists every key and nested bucket below the top-level
// buckets but meta, an empty nested bucket as "root/name/".
func BoltLeftovers(b *Bolt) (left []string, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(root []byte, rb *bolt.Bucket) error {
			if string(root) == string(bktMeta) {
				return nil
			}
			return walk(rb, string(root)+"/", &left)
		})
	})
	return left, err
}

func walk(bk *bolt.Bucket, path string, left *[]string) error {
	return bk.ForEach(func(k, v []byte) error {
		if v != nil {
			*left = append(*left, fmt.Sprintf("%s%q", path, k))
			return nil
		}
		nb := bk.Bucket(k)
		if first, _ := nb.Cursor().First(); first == nil {
			*left = append(*left, fmt.Sprintf("%s%q/", path, k))
			return nil
		}
		return walk(nb, fmt.Sprintf("%s%q/", path, k), left)
	})
}
