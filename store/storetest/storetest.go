// Package storetest is the conformance suite of [store.Store]: the
// behaviour the interface promises, checked the same way on every backend.
// A backend's tests call [Run] with a [Backend] that opens fresh, empty
// stores; the bbolt store runs it in store/bolt_suite_test.go, the etcd
// store in store/etcd.
//
// What only one backend can show (a truncated file, a full disk, an etcd
// member stopped) stays in that backend's own tests. The hooks of Backend
// that reach under the interface (PutRaw, Modules, Leftovers) are optional:
// the tests that need them are skipped without them.
package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/store"
)

// Options are what the suite asks of a store it opens.
type Options struct {
	// Now is the clock the store must use for Webtask.Created and Updated
	// and CronJob.Created. It advances one second per call, so the suite
	// can tell the exact times and a backend must call it once per write
	// (not once per retry).
	Now func() time.Time
	// WalkBatch, when > 0, asks the store to read that many webtasks at a
	// time in ForEachWebtask, so that a walk spans several reads. A backend
	// without batches ignores it.
	WalkBatch int
}

// Kind names a record PutRaw overwrites.
type Kind int

// Records PutRaw can overwrite.
const (
	// KindWebtask is the webtask record (store.EncodeWebtask).
	KindWebtask Kind = iota
	// KindStorage is the webtask's storage document.
	KindStorage
	// KindCronJob is the cron job record (store.EncodeCronJob).
	KindCronJob
)

// Damage is a backend-specific way to damage the record of a webtask,
// checked like the raw records the suite writes with PutRaw.
type Damage struct {
	// Name names the subtest.
	Name string
	// Want is what Webtask.Damaged must contain.
	Want string
	// Apply damages the record of container/name, which exists.
	Apply func(t *testing.T, s store.Store, container, name string)
}

// Backend is the backend under test.
type Backend struct {
	// Open returns a new, empty store using o; required. The backend
	// closes it when the test ends (t.Cleanup); closing it earlier is
	// allowed.
	Open func(t *testing.T, o Options) store.Store
	// Reopen closes s and opens its data again (the same file, the same
	// cluster and prefix) with a clock of its own. Nil skips the checks
	// that data survives a reopen.
	Reopen func(t *testing.T, s store.Store) store.Store
	// PutRaw stores raw as the record of kind for container/name,
	// bypassing the store's checks and encoding, to stand for a record
	// damaged or written by a newer version. Nil skips the damaged-record
	// tests.
	PutRaw func(t *testing.T, s store.Store, kind Kind, container, name string, raw []byte)
	// Damages are extra, backend-specific damaged webtask records
	// (a nested bucket where a record should be, for bbolt).
	Damages []Damage
	// Modules returns how many modules s holds (referenced or not), to
	// check that a released module is really deleted. Nil skips it.
	Modules func(t *testing.T, s store.Store) int
	// Leftovers describes what s holds beyond the skeleton it was created
	// with (a format marker, top-level buckets): one line per record,
	// empty bucket, module chunk... An emptied store must hold nothing:
	// no empty per-container bucket, no orphaned chunk. Nil skips it.
	Leftovers func(t *testing.T, s store.Store) []string
}

// Run runs the whole suite against b, each group as a subtest of t.
func Run(t *testing.T, b Backend) {
	if b.Open == nil {
		t.Fatal("storetest: Backend.Open is nil")
	}
	groups := []struct {
		name string
		run  func(*testing.T, Backend)
	}{
		{"PutWebtask", testPutWebtask},
		{"GetWebtask", testGetWebtask},
		{"ListWebtasks", testListWebtasks},
		{"DeleteWebtask", testDeleteWebtask},
		{"ModuleDedup", testModuleDedup},
		{"GetModule", testGetModule},
		{"ForEachWebtask", testForEachWebtask},
		{"Reopen", testReopen},
		{"DamagedWebtask", testDamagedWebtask},
		{"KV", testKV},
		{"KVUpdate", testKVUpdate},
		{"Storage", testStorage},
		{"StorageNeedsWebtask", testStorageNeedsWebtask},
		{"StorageIsolation", testStorageIsolation},
		{"StorageFollowsWebtask", testStorageFollowsWebtask},
		{"StorageReopen", testStorageReopen},
		{"StorageDamaged", testStorageDamaged},
		{"StorageHammer", testStorageHammer},
		{"CronJobs", testCronJobs},
		{"CronJobLimit", testCronJobLimit},
		{"CronRuns", testCronRuns},
		{"UpdateCronJobs", testUpdateCronJobs},
		{"CronDamaged", testCronDamaged},
		{"Closed", testClosed},
		{"Hammer", testHammer},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) { g.run(t, b) })
	}
}

// open opens a fresh store with the suite's clock.
func (b Backend) open(t *testing.T) store.Store {
	t.Helper()
	return b.Open(t, Options{Now: Clock()})
}

// Clock returns a clock that advances one second per call, starting at a
// fixed instant (2025-01-02 03:04:05.000000006 UTC), so timestamps are
// deterministic and strictly increasing: its first reading is 03:04:06.
func Clock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

// Module returns fake module bytes and their SHA-256 in hex.
func Module(content string) ([]byte, string) {
	b := []byte("\x00asm\x01\x00\x00\x00" + content)
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])
}

// MustPut stores w with module and returns whether it was created.
func MustPut(t testing.TB, s store.Store, w store.Webtask, module []byte) bool {
	t.Helper()
	created, err := s.PutWebtask(w, module)
	if err != nil {
		t.Fatalf("PutWebtask(%s/%s): %v", w.Container, w.Name, err)
	}
	return created
}

// WantRefs checks that the module has want references and is stored
// exactly when want > 0.
func WantRefs(t testing.TB, s store.Store, sha string, want int) {
	t.Helper()
	got, err := s.ModuleRefs(sha)
	if err != nil {
		t.Fatalf("ModuleRefs: %v", err)
	}
	if got != want {
		t.Errorf("ModuleRefs(%.8s) = %d, want %d", sha, got, want)
	}
	_, err = s.GetModule(sha)
	switch {
	case want > 0 && err != nil:
		t.Errorf("GetModule(%.8s) with %d refs: %v", sha, want, err)
	case want == 0 && !errors.Is(err, store.ErrModuleNotFound):
		t.Errorf("GetModule(%.8s) with no refs: err = %v, want ErrModuleNotFound", sha, err)
	}
}

// Names returns "container/name" of each webtask.
func Names(ws []store.Webtask) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.Container + "/" + w.Name
	}
	return out
}

// wantModules checks the number of modules stored, if the backend can tell.
func (b Backend) wantModules(t *testing.T, s store.Store, want int, what string) {
	t.Helper()
	if b.Modules == nil {
		return
	}
	if got := b.Modules(t, s); got != want {
		t.Errorf("%s: %d modules stored, want %d", what, got, want)
	}
}

// wantEmpty checks that s holds nothing, if the backend can tell.
func (b Backend) wantEmpty(t *testing.T, s store.Store, what string) {
	t.Helper()
	if b.Leftovers == nil {
		return
	}
	if left := b.Leftovers(t, s); len(left) > 0 {
		t.Errorf("%s: the emptied store holds %q", what, left)
	}
}

func cutSlash(s string) (string, string) {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

func ptr(s string) *string { return &s }
