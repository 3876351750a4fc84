package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Linux-only tests: they truncate a file under a live memory map (which
// faults with SIGBUS on Linux; Windows refuses to truncate a mapped file) and
// mount a tmpfs to fill it.

// Test_guard_fault maps a file, truncates it and reads the map past the new
// end: guard returns a *damage where the read would kill the process.
func Test_guard_fault(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mapped")
	if err := os.WriteFile(path, make([]byte, 2*os.Getpagesize()), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, err := syscall.Mmap(int(f.Fd()), 0, 2*os.Getpagesize(), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(data)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	var got byte
	err = guard(func() error {
		got = data[os.Getpagesize()] // SIGBUS: the page is past the end of the file
		return nil
	})
	if !isDamage(err) {
		t.Fatalf("err = %v, want a fault", err)
	}
	t.Logf("%v (read %d)", err, got)
}

// TestBolt_truncatedWhileOpen truncates the file under an open store: reads
// return ErrDamaged instead of crashing the process, writes are refused, and
// Close returns.
func TestBolt_truncatedWhileOpen(t *testing.T) {
	tests := []struct {
		name       string
		firstWrite bool // the first call after the truncation is a write
		wantClose  error
	}{
		// A read transaction's cleanup touches no page: the store stays usable for reads.
		{name: "read first", wantClose: nil},
		// A write transaction's rollback rereads the freelist page, which faults
		// again: bbolt keeps its write lock, the store is wedged, and Close
		// releases the file without bbolt.
		{name: "write first", firstWrite: true, wantClose: ErrDamaged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, path := openTest(t)
			shas := fillStore(t, s, 8, 64<<10)
			if err := s.KVPut("ns", "k", []byte("v")); err != nil {
				t.Fatal(err)
			}
			// Keep the two meta pages: transactions begin, their first page read faults.
			if err := os.Truncate(path, 2*pageSizeOf(t, path)); err != nil {
				t.Fatal(err)
			}

			mod, sha := testModule("new")
			put := func() error {
				_, err := s.PutWebtask(Webtask{Container: "c", Name: "new", ModuleSHA256: sha}, mod)
				return err
			}
			calls := []struct {
				name string
				call func() error
			}{
				{"GetWebtask", func() error { _, err := s.GetWebtask("c", "w1"); return err }},
				{"ListWebtasks", func() error { _, err := s.ListWebtasks("c"); return err }},
				{"ForEachWebtask", func() error { return s.ForEachWebtask(func(Webtask) error { return nil }) }},
				{"GetModule", func() error { _, err := s.GetModule(shas[0]); return err }},
				{"ModuleRefs", func() error { _, err := s.ModuleRefs(shas[0]); return err }},
				{"KVGet", func() error { _, err := s.KVGet("ns", "k"); return err }},
				{"KVList", func() error { _, err := s.KVList("ns", ""); return err }},
				{"PutWebtask", put},
				{"DeleteWebtask", func() error { return s.DeleteWebtask("c", "w1") }},
				{"KVPut", func() error { return s.KVPut("ns", "k2", []byte("v")) }},
			}
			if tt.firstWrite {
				if err := put(); !errors.Is(err, ErrDamaged) {
					t.Fatalf("first PutWebtask: err = %v, want ErrDamaged", err)
				}
			}
			for _, c := range calls {
				err := c.call()
				if !errors.Is(err, ErrDamaged) {
					t.Errorf("%s: err = %v, want ErrDamaged", c.name, err)
				}
				if err != nil && strings.Contains(err.Error(), filepath.Dir(path)) {
					t.Errorf("%s: message has the path: %v", c.name, err)
				}
			}
			t.Logf("GetWebtask: %v", calls[0].call())
			t.Logf("PutWebtask: %v", put())

			done := make(chan error, 1)
			go func() { done <- s.Close() }()
			select {
			case err := <-done:
				if !errors.Is(err, tt.wantClose) || (tt.wantClose == nil && err != nil) {
					t.Errorf("Close: err = %v, want %v", err, tt.wantClose)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Close hangs")
			}
			if err := s.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if _, err := s.GetWebtask("c", "w1"); !errors.Is(err, ErrClosed) {
				t.Errorf("after Close: err = %v, want ErrClosed", err)
			}
			// The file lock is free again: Open sees the truncated file, not a lock.
			if _, err := Open(path, WithTimeout(50*time.Millisecond)); !errors.Is(err, ErrDamaged) {
				t.Errorf("Open after Close: err = %v, want ErrDamaged", err)
			}
		})
	}
}

// mountTmpfs mounts a tmpfs of size bytes on a temporary directory for the
// test, or skips the test when it cannot (not root, no mount permission).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root; Test_fullErrno covers the classification")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs (%v); Test_fullErrno covers the classification", err)
	}
	t.Cleanup(func() { // runs before TempDir's removal, after the store's Close
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
			_ = syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// TestBolt_full fills a 2 MiB tmpfs: the failing writes return ErrFull (and
// ENOSPC) with no path in the message, store nothing, and the store stays
// usable; the file passes Open's check afterwards.
func TestBolt_full(t *testing.T) {
	dir := mountTmpfs(t, "2m")
	path := filepath.Join(dir, "wasmtask.db")
	s, err := Open(path, WithClock(testClock()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })

	small, smallSHA := testModule("small")
	mustPut(t, s, Webtask{Container: "c", Name: "small", ModuleSHA256: smallSHA}, small)
	big, bigSHA := testModule(string(bytes.Repeat([]byte{'x'}, 3<<20)))

	writes := []struct {
		name string
		call func() error
	}{
		{"PutWebtask", func() error {
			_, err := s.PutWebtask(Webtask{Container: "c", Name: "big", ModuleSHA256: bigSHA}, big)
			return err
		}},
		{"KVPut", func() error { return s.KVPut("ns", "big", big) }},
		{"KVUpdate", func() error {
			return s.KVUpdate("ns", "big", func([]byte) ([]byte, error) { return big, nil })
		}},
	}
	for _, w := range writes {
		err := w.call()
		if !errors.Is(err, ErrFull) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("%s: err = %v, want ErrFull and ENOSPC", w.name, err)
		}
		if strings.Contains(err.Error(), dir) {
			t.Errorf("%s: message has the path: %v", w.name, err)
		}
		t.Logf("%s: %v", w.name, err)
	}

	// Nothing of the failed writes is stored.
	if _, err := s.GetWebtask("c", "big"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetWebtask(big): err = %v, want ErrNotFound", err)
	}
	wantRefs(t, s, bigSHA, 0)
	wantRefs(t, s, smallSHA, 1)
	if list, err := s.KVList("ns", ""); err != nil || len(list) != 0 {
		t.Errorf("KVList = %d entries, %v; want none", len(list), err)
	}
	// The store is still usable: small writes fit in pages the file has.
	if err := s.KVPut("ns", "small", []byte("v")); err != nil {
		t.Errorf("small KVPut after ENOSPC: %v", err)
	}
	if err := s.DeleteWebtask("c", "small"); err != nil {
		t.Errorf("DeleteWebtask after ENOSPC: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopen: the file passes the size check, the walk and Tx.Check.
	s2, err := Open(path)
	if err != nil {
		t.Fatalf("reopen after ENOSPC: %v", err)
	}
	defer s2.Close()
	if v, err := s2.KVGet("ns", "small"); err != nil || string(v) != "v" {
		t.Errorf("KVGet(small) = %q, %v", v, err)
	}
	if list, err := s2.ListWebtasks("c"); err != nil || len(list) != 0 {
		t.Errorf("ListWebtasks = %v, %v; want empty", names(list), err)
	}
}

// TestOpen_full: creating a store on a full file system returns ErrFull.
func TestOpen_full(t *testing.T) {
	dir := mountTmpfs(t, "1m")
	if err := os.WriteFile(filepath.Join(dir, "filler"), make([]byte, 1<<20), 0o600); err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatal(err)
	}
	s, err := Open(filepath.Join(dir, "wasmtask.db"))
	if err == nil {
		_ = s.Close()
		t.Fatal("Open succeeded on a full file system")
	}
	if !errors.Is(err, ErrFull) {
		t.Errorf("err = %v, want ErrFull", err)
	}
	t.Logf("%v", err)
}

// BenchmarkOpen_cold measures a whole Open (bbolt's open, size check, walk
// and Tx.Check) with the file evicted from the page cache before each one
// (posix_fadvise DONTNEED on the closed file), the worst case at startup.
func BenchmarkOpen_cold(b *testing.B) {
	for _, mib := range []int{16, 64, 128} {
		s, path := openTest(b)
		fillStore(b, s, mib*2, 256<<10)
		fillKV(b, s, mib*1024)
		size := s.fileSize()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		for _, limit := range []int64{0, 1 << 40} {
			name := fmt.Sprintf("%dMiB/size-only", size>>20)
			if limit > 0 {
				name = fmt.Sprintf("%dMiB/full", size>>20)
			}
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					b.StopTimer()
					evict(b, path)
					b.StartTimer()
					s, err := Open(path, withCheckLimit(limit))
					if err != nil {
						b.Fatal(err)
					}
					_ = s.Close()
				}
			})
		}
	}
}

// evict drops the file at path from the page cache.
func evict(b *testing.B, path string) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		b.Fatal(err)
	}
}
