package store

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// putTask stores a webtask c/n with a small module.
func putTask(t testing.TB, s Store, c, n string) {
	t.Helper()
	mod, sha := testModule("storage")
	mustPut(t, s, Webtask{Container: c, Name: n, ModuleSHA256: sha}, mod)
}

func mustGetStorage(t testing.TB, s Store, c, n string) Storage {
	t.Helper()
	got, err := s.GetStorage(c, n)
	if err != nil {
		t.Fatalf("GetStorage(%s/%s): %v", c, n, err)
	}
	return got
}

func TestBolt_Storage(t *testing.T) {
	s, _ := openTest(t)
	putTask(t, s, "c", "n")

	empty := mustGetStorage(t, s, "c", "n")
	if empty.Data != nil || empty.ETag != EmptyETag {
		t.Fatalf("storage of a new webtask = %+v, want no data and EmptyETag", empty)
	}

	tests := []struct {
		name     string
		data     string
		ifMatch  func(cur Storage) string
		wantErr  error
		wantData string // after the call
	}{
		{"create with the empty etag", `{"n":1}`, func(cur Storage) string { return cur.ETag }, nil, `{"n":1}`},
		{"stale empty etag", `{"n":2}`, func(Storage) string { return EmptyETag }, ErrConflict, `{"n":1}`},
		{"current etag", `{"n":3}`, func(cur Storage) string { return cur.ETag }, nil, `{"n":3}`},
		{"unknown etag", `{"n":4}`, func(Storage) string { return "nope" }, ErrConflict, `{"n":3}`},
		{"force", `{"n":5}`, func(Storage) string { return "" }, nil, `{"n":5}`},
		{"too large", strings.Repeat("x", MaxStorageBytes+1), func(cur Storage) string { return cur.ETag }, ErrTooLarge, `{"n":5}`},
		{"at the limit", strings.Repeat("y", MaxStorageBytes), func(cur Storage) string { return cur.ETag }, nil, strings.Repeat("y", MaxStorageBytes)},
		{"empty data", ``, func(cur Storage) string { return cur.ETag }, nil, ``},
	}
	seen := map[string]bool{EmptyETag: true}
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
				var ce *ConflictError
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

func TestBolt_StorageNeedsWebtask(t *testing.T) {
	s, _ := openTest(t)
	putTask(t, s, "c", "n")
	for _, ifMatch := range []string{"", EmptyETag} {
		if _, err := s.PutStorage("c", "other", []byte(`1`), ifMatch); !errors.Is(err, ErrNotFound) {
			t.Errorf("PutStorage(ifMatch %q) of an unknown webtask: err = %v, want ErrNotFound", ifMatch, err)
		}
	}
	if _, err := s.GetStorage("c", "other"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetStorage of an unknown webtask: err = %v, want ErrNotFound", err)
	}
	for _, k := range [][2]string{{"", "n"}, {"c", ""}, {"c/d", "n"}, {"c", "n\x00"}} {
		if _, err := s.PutStorage(k[0], k[1], nil, ""); !errors.Is(err, ErrInvalid) {
			t.Errorf("PutStorage(%q, %q): err = %v, want ErrInvalid", k[0], k[1], err)
		}
		if _, err := s.GetStorage(k[0], k[1]); !errors.Is(err, ErrInvalid) {
			t.Errorf("GetStorage(%q, %q): err = %v, want ErrInvalid", k[0], k[1], err)
		}
	}
}

// TestBolt_StorageIsolation: same names in other containers and other
// webtasks of the container see nothing of each other's documents.
func TestBolt_StorageIsolation(t *testing.T) {
	s, _ := openTest(t)
	for _, k := range [][2]string{{"a", "n"}, {"b", "n"}, {"a", "m"}} {
		putTask(t, s, k[0], k[1])
	}
	if _, err := s.PutStorage("a", "n", []byte(`"a/n"`), ""); err != nil {
		t.Fatal(err)
	}
	for _, k := range [][2]string{{"b", "n"}, {"a", "m"}} {
		if got := mustGetStorage(t, s, k[0], k[1]); got.Data != nil || got.ETag != EmptyETag {
			t.Errorf("storage of %s/%s = %+v, want empty", k[0], k[1], got)
		}
	}
}

// TestBolt_StorageFollowsWebtask: a redeploy keeps the document, a delete
// removes it (a new webtask of that name starts empty) and leaves no
// bucket behind.
func TestBolt_StorageFollowsWebtask(t *testing.T) {
	s, _ := openTest(t)
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
	if _, err := s.GetStorage("c", "n"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetStorage after delete: %v, want ErrNotFound", err)
	}
	putTask(t, s, "c", "n")
	if got := mustGetStorage(t, s, "c", "n"); got.Data != nil || got.ETag != EmptyETag {
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
	err := s.view("test", func(tx *bolt.Tx) error {
		if tx.Bucket(bktStorage).Bucket([]byte("c")) != nil {
			t.Error("an emptied container left its storage bucket")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBolt_StorageReopen: documents and etags survive a reopen, and etags
// given after it are still new.
func TestBolt_StorageReopen(t *testing.T) {
	s, path := openTest(t)
	putTask(t, s, "c", "n")
	etag, err := s.PutStorage("c", "n", []byte(`[1]`), EmptyETag)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := mustGetStorage(t, s2, "c", "n"); string(got.Data) != `[1]` || got.ETag != etag {
		t.Fatalf("after reopen: %+v, want [1] with etag %q", got, etag)
	}
	etag2, err := s2.PutStorage("c", "n", []byte(`[2]`), etag)
	if err != nil || etag2 == etag {
		t.Fatalf("put after reopen: etag %q (was %q), %v", etag2, etag, err)
	}
}

func TestBolt_StorageDamaged(t *testing.T) {
	s, _ := openTest(t)
	putTask(t, s, "c", "n")
	err := s.update("test", func(tx *bolt.Tx) error {
		cb, err := tx.Bucket(bktStorage).CreateBucketIfNotExists([]byte("c"))
		if err != nil {
			return err
		}
		return cb.Put([]byte("n"), []byte{9, 1, 'x'})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetStorage("c", "n"); !errors.Is(err, ErrDamaged) {
		t.Fatalf("GetStorage of a damaged record: %v, want ErrDamaged", err)
	}
	if _, err := s.PutStorage("c", "n", []byte(`1`), "1"); !errors.Is(err, ErrDamaged) {
		t.Fatalf("PutStorage with an etag over a damaged record: %v, want ErrDamaged", err)
	}
	if _, err := s.PutStorage("c", "n", []byte(`1`), ""); err != nil {
		t.Fatalf("PutStorage without an etag over a damaged record: %v", err)
	}
	if got := mustGetStorage(t, s, "c", "n"); string(got.Data) != "1" {
		t.Fatalf("after replacing the damaged record: %+v", got)
	}
}

// TestBolt_StorageHammer: 16 writers each read-modify-write one counter
// with its etag until their increments are in: no increment is lost.
// Run with -race.
func TestBolt_StorageHammer(t *testing.T) {
	s, _ := openTest(t)
	putTask(t, s, "c", "n")
	const writers, each = 16, 20
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done := 0; done < each; {
				cur, err := s.GetStorage("c", "n")
				if err != nil {
					t.Error(err)
					return
				}
				n := len(cur.Data)
				if _, err := s.PutStorage("c", "n", bytes.Repeat([]byte("1"), n+1), cur.ETag); err != nil {
					if !errors.Is(err, ErrConflict) {
						t.Error(err)
						return
					}
					continue
				}
				done++
			}
		}()
	}
	wg.Wait()
	if got := mustGetStorage(t, s, "c", "n"); len(got.Data) != writers*each {
		t.Fatalf("counter = %d, want %d: updates were lost", len(got.Data), writers*each)
	}
}

func TestBolt_StorageClosed(t *testing.T) {
	s, _ := openTest(t)
	putTask(t, s, "c", "n")
	_ = s.Close()
	if _, err := s.GetStorage("c", "n"); !errors.Is(err, ErrClosed) {
		t.Errorf("GetStorage: %v, want ErrClosed", err)
	}
	if _, err := s.PutStorage("c", "n", nil, ""); !errors.Is(err, ErrClosed) {
		t.Errorf("PutStorage: %v, want ErrClosed", err)
	}
}
