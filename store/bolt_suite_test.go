package store_test

import (
	"path/filepath"
	"testing"

	"github.com/wasmtask/wasmtask/store"
	"github.com/wasmtask/wasmtask/store/storetest"
)

// TestBolt_conformance runs the Store conformance suite on a bbolt file in
// a temporary directory (a subdirectory that does not exist yet).
func TestBolt_conformance(t *testing.T) {
	bolt := func(t *testing.T, s store.Store) *store.Bolt { return s.(*store.Bolt) }
	storetest.Run(t, storetest.Backend{
		Open: func(t *testing.T, o storetest.Options) store.Store {
			s, err := store.Open(filepath.Join(t.TempDir(), "data", "wasmtask.db"), store.WithClock(o.Now))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { _ = s.Close() })
			if o.WalkBatch > 0 {
				store.SetWalkBatch(s, o.WalkBatch)
			}
			return s
		},
		Reopen: func(t *testing.T, s store.Store) store.Store {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2, err := store.Open(store.BoltPath(bolt(t, s)))
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			t.Cleanup(func() { _ = s2.Close() })
			return s2
		},
		PutRaw: func(t *testing.T, s store.Store, kind storetest.Kind, c, n string, raw []byte) {
			root := map[storetest.Kind]string{storetest.KindWebtask: "webtasks", storetest.KindStorage: "storage", storetest.KindCronJob: "cron"}[kind]
			if err := store.BoltPutRaw(bolt(t, s), root, c, n, raw); err != nil {
				t.Fatal(err)
			}
		},
		Damages: []storetest.Damage{{
			Name: "bucket instead of record", Want: "a bucket",
			Apply: func(t *testing.T, s store.Store, c, n string) {
				if err := store.BoltPutBucket(bolt(t, s), c, n); err != nil {
					t.Fatal(err)
				}
			},
		}},
		Modules: func(t *testing.T, s store.Store) int {
			n, err := store.BoltModules(bolt(t, s))
			if err != nil {
				t.Fatal(err)
			}
			return n
		},
		Leftovers: func(t *testing.T, s store.Store) []string {
			left, err := store.BoltLeftovers(bolt(t, s))
			if err != nil {
				t.Fatal(err)
			}
			return left
		},
	})
}
