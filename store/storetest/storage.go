package storetest

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/wasmtask/wasmtask/store"
)

// putTask stores a webtask c/n with a small module.
func putTask(t testing.TB, s store.Store, c, n string) {
	t.Helper()
	mod, sha := Module("storage")
	MustPut(t, s, store.Webtask{Container: c, Name: n, ModuleSHA256: sha}, mod)
}

func mustGetStorage(t testing.TB, s store.Store, c, n string) store.Storage {
	t.Helper()
	got, err := s.GetStorage(c, n)
	if err != nil {
		t.Fatalf("GetStorage(%s/%s): %v", c, n, err)
	}
	return got
}

func testStorage(t *testing.T, b Backend) {
	s := b.open(t)
	putTask(t, s, "c", "n")

	empty := mustGetStorage(t, s, "c", "n")
	if empty.Data != nil || empty.ETag != store.EmptyETag {
		t.Fatalf("storage of a new webtask = %+v, want no data and EmptyETag", empty)
	}

	tests := []struct {
		name     string
		data     string
		ifMatch  func(cur store.Storage) string
		wantErr  error
		wantData string // after the call
	}{
		{"create with the empty etag", `{"n":1}`, func(cur store.Storage) string { return cur.ETag }, nil, `{"n":1}`},
		{"stale empty etag", `{"n":2}`, func(store.Storage) string { return store.EmptyETag }, store.ErrConflict, `{"n":1}`},
		{"current etag", `{"n":3}`, func(cur store.Storage) string { return cur.ETag }, nil, `{"n":3}`},
		{"unknown etag", `{"n":4}`, func(store.Storage) string { return "nope" }, store.ErrConflict, `{"n":3}`},
		{"force", `{"n":5}`, func(store.Storage) string { return "" }, nil, `{"n":5}`},
		{"too large", strings.Repeat("x", store.MaxStorageBytes+1), func(cur store.Storage) string { return cur.ETag }, store.ErrTooLarge, `{"n":5}`},
		{"at the limit", strings.Repeat("y", store.MaxStorageBytes), func(cur store.Storage) string { return cur.ETag }, nil, strings.Repeat("y", store.MaxStorageBytes)},
		{"empty data", ``, func(cur store.Storage) string { return cur.ETag }, nil, ``},
	}
	seen := map[string]bool{store.EmptyETag: true}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := mustGetStorage(t, s, "c", "n")
			etag, err := s.PutStorage("c", "n", []byte(tt.data), tt.ifMatch(before))
			after := mustGetStorage(t, s, "c", "n")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("PutStorage err = %v, want %v", err, tt.wantErr)
			}
			if string(after.Data) != tt.wantData || (tt.name == "empty data" && after.Data == nil) {
				t.Fatalf("data after = %.40q, want %.40q", after.Data, tt.wantData)
			}
			if err != nil {
				if after.ETag != before.ETag {
					t.Fatalf("a failed put changed the etag %q -> %q", before.ETag, after.ETag)
				}
				var ce *store.ConflictError
				if errors.As(err, &ce) && (ce.Current.ETag != before.ETag || !bytes.Equal(ce.Current.Data, before.Data)) {
					t.Fatalf("conflict carries %+v, want the stored %+v", ce.Current, before)
				}
				return
			}
			if etag != after.ETag || seen[etag] {
				t.Fatalf("etag = %q, stored %q; want a new one (seen %v)", etag, after.ETag, seen)
			}
			seen[etag] = true
		})
	}
}

func testStorageNeedsWebtask(t *testing.T, b Backend) {
	s := b.open(t)
	putTask(t, s, "c", "n")
	for _, ifMatch := range []string{"", store.EmptyETag, "12345"} {
		if _, err := s.PutStorage("c", "other", []byte(`1`), ifMatch); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("PutStorage(ifMatch %q) of an unknown webtask: err = %v, want ErrNotFound", ifMatch, err)
		}
	}
	if _, err := s.GetStorage("c", "other"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetStorage of an unknown webtask: err = %v, want ErrNotFound", err)
	}
	for _, k := range [][2]string{{"", "n"}, {"c", ""}, {"c/d", "n"}, {"c", "n\x00"}} {
		if _, err := s.PutStorage(k[0], k[1], nil, ""); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutStorage(%q, %q): err = %v, want ErrInvalid", k[0], k[1], err)
		}
		if _, err := s.GetStorage(k[0], k[1]); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("GetStorage(%q, %q): err = %v, want ErrInvalid", k[0], k[1], err)
		}
	}
}

// testStorageIsolation: same names in other containers and other
// webtasks of the container see nothing of each other's documents.
func testStorageIsolation(t *testing.T, b Backend) {
	s := b.open(t)
	for _, k := range [][2]string{{"a", "n"}, {"b", "n"}, {"a", "m"}} {
		putTask(t, s, k[0], k[1])
	}
	if _, err := s.PutStorage("a", "n", []byte(`"a/n"`), ""); err != nil {
		t.Fatal(err)
	}
	for _, k := range [][2]string{{"b", "n"}, {"a", "m"}} {
		if got := mustGetStorage(t, s, k[0], k[1]); got.Data != nil || got.ETag != store.EmptyETag {
			t.Errorf("storage of %s/%s = %+v, want empty", k[0], k[1], got)
		}
	}
}

// testStorageFollowsWebtask: a redeploy keeps the document, a delete
// removes it (a new webtask of that name starts empty) and leaves nothing
// behind.
func testStorageFollowsWebtask(t *testing.T, b Backend) {
	s := b.open(t)
	putTask(t, s, "c", "n")
	putTask(t, s, "c", "keep")
	if _, err := s.PutStorage("c", "n", []byte(`{"v":1}`), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutStorage("c", "keep", []byte(`{"v":2}`), ""); err != nil {
		t.Fatal(err)
	}
	putTask(t, s, "c", "n") // redeploy
	if got := mustGetStorage(t, s, "c", "n"); string(got.Data) != `{"v":1}` {
		t.Fatalf("after a redeploy: %+v", got)
	}
	if err := s.DeleteWebtask("c", "n"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetStorage("c", "n"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetStorage after delete: %v, want ErrNotFound", err)
	}
	putTask(t, s, "c", "n")
	if got := mustGetStorage(t, s, "c", "n"); got.Data != nil || got.ETag != store.EmptyETag {
		t.Fatalf("a new webtask of a deleted one's name has storage %+v", got)
	}
	if got := mustGetStorage(t, s, "c", "keep"); string(got.Data) != `{"v":2}` {
		t.Fatalf("deleting c/n changed c/keep: %+v", got)
	}
	if err := s.DeleteWebtask("c", "keep"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteWebtask("c", "n"); err != nil {
		t.Fatal(err)
	}
	b.wantEmpty(t, s, "after deleting the webtasks")
}

// testStorageReopen: documents and etags survive a reopen, and etags
// given after it are still new.
func testStorageReopen(t *testing.T, b Backend) {
	if b.Reopen == nil {
		t.Skip("the backend cannot reopen a store")
	}
	s := b.open(t)
	putTask(t, s, "c", "n")
	etag, err := s.PutStorage("c", "n", []byte(`[1]`), store.EmptyETag)
	if err != nil {
		t.Fatal(err)
	}
	s2 := b.Reopen(t, s)
	if got := mustGetStorage(t, s2, "c", "n"); string(got.Data) != `[1]` || got.ETag != etag {
		t.Fatalf("after reopen: %+v, want [1] with etag %q", got, etag)
	}
	etag2, err := s2.PutStorage("c", "n", []byte(`[2]`), etag)
	if err != nil || etag2 == etag {
		t.Fatalf("put after reopen: etag %q (was %q), %v", etag2, etag, err)
	}
}

func testStorageDamaged(t *testing.T, b Backend) {
	if b.PutRaw == nil {
		t.Skip("the backend cannot write raw records")
	}
	s := b.open(t)
	putTask(t, s, "c", "n")
	b.PutRaw(t, s, KindStorage, "c", "n", []byte{9, 1, 'x'})
	if _, err := s.GetStorage("c", "n"); !errors.Is(err, store.ErrDamaged) {
		t.Fatalf("GetStorage of a damaged record: %v, want ErrDamaged", err)
	}
	if _, err := s.PutStorage("c", "n", []byte(`1`), "1"); !errors.Is(err, store.ErrDamaged) {
		t.Fatalf("PutStorage with an etag over a damaged record: %v, want ErrDamaged", err)
	}
	if _, err := s.PutStorage("c", "n", []byte(`1`), ""); err != nil {
		t.Fatalf("PutStorage without an etag over a damaged record: %v", err)
	}
	if got := mustGetStorage(t, s, "c", "n"); string(got.Data) != "1" {
		t.Fatalf("after replacing the damaged record: %+v", got)
	}
}

// testStorageHammer: 16 writers each read-modify-write one counter with
// its etag until their increments are in: no increment is lost. Run with
// -race.
func testStorageHammer(t *testing.T, b Backend) {
	s := b.open(t)
	putTask(t, s, "c", "n")
	const writers, each = 16, 20
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for done := 0; done < each; {
				cur, err := s.GetStorage("c", "n")
				if err != nil {
					t.Error(err)
					return
				}
				n := len(cur.Data)
				if _, err := s.PutStorage("c", "n", bytes.Repeat([]byte("1"), n+1), cur.ETag); err != nil {
					if !errors.Is(err, store.ErrConflict) {
						t.Error(err)
						return
					}
					continue
				}
				done++
			}
		})
	}
	wg.Wait()
	if got := mustGetStorage(t, s, "c", "n"); len(got.Data) != writers*each {
		t.Fatalf("counter = %d, want %d: updates were lost", len(got.Data), writers*each)
	}
}
