package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// fillStore stores n webtasks in container "c", each with its own module of
// size random bytes, so that the file spans many pages (modules become
// overflow pages). It returns the modules' hashes.
func fillStore(t testing.TB, s *Bolt, n, size int) []string {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var shas []string
	for i := range n {
		raw := make([]byte, size)
		for j := range raw {
			raw[j] = byte(rng.Uint32())
		}
		mod, sha := testModule(string(raw))
		mustPut(t, s, Webtask{Container: "c", Name: "w" + strconv.Itoa(i), ModuleSHA256: sha}, mod)
		shas = append(shas, sha)
	}
	return shas
}

// withCheckLimit sets the largest file Open walks completely.
func withCheckLimit(n int64) Option {
	return func(c *config) { c.checkLimit = n }
}

// Offsets in bbolt's on-disk format: a 16-byte page header, then the meta.
const (
	metaPageSize = 16 + 8  // uint32
	metaFreelist = 16 + 32 // uint64: page id of the freelist
	metaTxid     = 16 + 48 // uint64
)

// pageSizeOf returns the page size of the closed bbolt file at path.
func pageSizeOf(t testing.TB, path string) int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return int64(binary.LittleEndian.Uint32(data[metaPageSize:]))
}

// metaField reads a uint64 field of the current meta page of the closed bbolt
// file at path: the one of the two meta pages with the higher txid.
func metaField(t testing.TB, path string, off int) uint64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps := pageSizeOf(t, path)
	m := data[:ps]
	if binary.LittleEndian.Uint64(data[ps+metaTxid:]) > binary.LittleEndian.Uint64(m[metaTxid:]) {
		m = data[ps : 2*ps]
	}
	return binary.LittleEndian.Uint64(m[off:])
}

// overwritePage writes n bytes of garbage at the start of page id of the
// closed file at path: 16 bytes make bbolt no longer recognise the page's
// type (the header), 128 bytes of a meta page fail its checksum.
func overwritePage(t testing.TB, path string, id uint64, n int) {
	t.Helper()
	ps := pageSizeOf(t, path)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xAA}, n), int64(id)*ps); err != nil {
		t.Fatal(err)
	}
}

// fillKV stores n KV entries of about 500 bytes in 64 namespaces, many per
// transaction (one fsync per entry would take minutes).
func fillKV(t testing.TB, s *Bolt, n int) {
	t.Helper()
	value := bytes.Repeat([]byte{'v'}, 480)
	for start := 0; start < n; start += 10000 {
		if err := s.db.Update(func(tx *bolt.Tx) error {
			for i := start; i < min(n, start+10000); i++ {
				if err := kvPut(tx, "ns"+strconv.Itoa(i%64), fmt.Sprintf("key-%08d", i), value); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// rootPage returns the root page id of the top-level bucket name.
func rootPage(t testing.TB, s *Bolt, name []byte) uint64 {
	t.Helper()
	var id uint64
	if err := s.db.View(func(tx *bolt.Tx) error {
		id = uint64(tx.Bucket(name).Root())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if id == 0 {
		t.Fatalf("bucket %s is inline", name)
	}
	return id
}

// TestOpen_damaged opens damaged files: every one is refused with ErrDamaged
// and a message that says what is wrong and how to recover, and none crashes
// the test process.
func TestOpen_damaged(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, path string) // of a closed store holding fillStore(12, 256 KiB)
		opts   []Option
		want   string // in the message
	}{
		{
			name:   "truncated to 1 MiB",
			damage: func(t *testing.T, path string) { truncate(t, path, 1<<20) },
			want:   "1048576 bytes",
		},
		{
			name:   "truncated to 1 MiB, file above the check limit",
			damage: func(t *testing.T, path string) { truncate(t, path, 1<<20) },
			opts:   []Option{withCheckLimit(0)},
			want:   "1048576 bytes",
		},
		{
			name: "truncated before the freelist page",
			damage: func(t *testing.T, path string) {
				truncate(t, path, int64(metaField(t, path, metaFreelist))*pageSizeOf(t, path))
			},
			want: "truncated",
		},
		{
			name:   "truncated to less than two pages",
			damage: func(t *testing.T, path string) { truncate(t, path, 5000) },
			want:   "too short",
		},
		{
			name:   "truncated to one byte",
			damage: func(t *testing.T, path string) { truncate(t, path, 1) },
			want:   "not a bbolt database",
		},
		{
			name: "both meta pages overwritten",
			damage: func(t *testing.T, path string) {
				overwritePage(t, path, 1, 128)
				overwritePage(t, path, 0, 128)
			},
			want: "not a bbolt database",
		},
		{
			name: "meta page header overwritten",
			damage: func(t *testing.T, path string) {
				overwritePage(t, path, 0, 16)
			},
			want: "bbolt check found 1 problem",
		},
		{
			name: "freelist page overwritten",
			damage: func(t *testing.T, path string) {
				overwritePage(t, path, metaField(t, path, metaFreelist), 16)
			},
			want: "bbolt cannot parse",
		},
		{
			name: "modules bucket root overwritten",
			damage: func(t *testing.T, path string) {
				s, err := Open(path)
				if err != nil {
					t.Fatal(err)
				}
				id := rootPage(t, s, bktModules)
				_ = s.Close()
				overwritePage(t, path, id, 16)
			},
			want: "bbolt cannot parse",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, path := openTest(t)
			fillStore(t, s, 12, 256<<10)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			tt.damage(t, path)

			s, err := Open(path, tt.opts...)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("err = %v, want ErrDamaged", err)
			}
			msg := err.Error()
			for _, want := range []string{tt.want, "store: open " + path + ": ", bboltCheckCmd + " " + path, "backup"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q:\n%s", want, msg)
				}
			}
			// The file lock is released: a second Open fails the same way, not with ErrLocked.
			if _, err := Open(path, append(tt.opts, WithTimeout(50*time.Millisecond))...); !errors.Is(err, ErrDamaged) {
				t.Errorf("second Open: err = %v, want ErrDamaged", err)
			}
			t.Logf("%v", err)
		})
	}
}

func truncate(t testing.TB, path string, size int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() <= size {
		t.Fatalf("file is %d bytes, not more than %d", fi.Size(), size)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

// TestOpen_checkLimit: a damaged page inside a file larger than the check
// limit is not found by Open, but reading it returns ErrDamaged instead of
// crashing (bbolt panics on the page), and writes are refused afterwards.
func TestOpen_checkLimit(t *testing.T) {
	s, path := openTest(t)
	shas := fillStore(t, s, 12, 256<<10)
	id := rootPage(t, s, bktModules)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	overwritePage(t, path, id, 16)

	s, err := Open(path, withCheckLimit(0))
	if err != nil {
		t.Fatalf("Open above the check limit: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.GetWebtask("c", "w1"); err != nil {
		t.Errorf("GetWebtask of an intact page: %v", err)
	}
	_, err = s.GetModule(shas[0])
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("GetModule on the damaged page: err = %v, want ErrDamaged", err)
	}
	t.Logf("%v", err)
	if err := s.KVPut("ns", "k", []byte("v")); !errors.Is(err, ErrDamaged) {
		t.Errorf("KVPut after the damage was seen: err = %v, want ErrDamaged", err)
	}
	if _, err := s.KVList("ns", ""); err != nil {
		t.Errorf("KVList (reads are still tried): %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// Test_fullErrno: the errors that mean "storage full", however bbolt wraps
// them, and nothing else.
func Test_fullErrno(t *testing.T) {
	pathErr := func(errno syscall.Errno) error {
		return &fs.PathError{Op: "write", Path: "/srv/secret/wasmtask.db", Err: errno}
	}
	tests := []struct {
		name string
		err  error
		want syscall.Errno
	}{
		{name: "ENOSPC", err: syscall.ENOSPC, want: syscall.ENOSPC},
		{name: "EDQUOT", err: syscall.EDQUOT, want: syscall.EDQUOT},
		{name: "write PathError", err: pathErr(syscall.ENOSPC), want: syscall.ENOSPC},
		{name: "wrapped", err: fmt.Errorf("commit: %w", pathErr(syscall.EDQUOT)), want: syscall.EDQUOT},
		{name: "formatted with %s by bbolt's grow", err: fmt.Errorf("file resize error: %s", pathErr(syscall.ENOSPC)), want: syscall.ENOSPC},
		{name: "bbolt MaxSize", err: berrors.ErrMaxSizeReached, want: syscall.ENOSPC},
		{name: "EIO", err: pathErr(syscall.EIO)},
		{name: "other", err: errors.New("boom")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fullErrno(tt.err); got != tt.want {
				t.Fatalf("fullErrno = %v, want %v", got, tt.want)
			}
			err := wrapIOErr("store: put webtask", "/srv/secret/wasmtask.db", tt.err)
			if got := errors.Is(err, ErrFull); got != (tt.want != 0) {
				t.Errorf("errors.Is(%v, ErrFull) = %v", err, got)
			}
			if tt.want != 0 && !errors.Is(err, tt.want) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.want)
			}
			if strings.Contains(err.Error(), "/srv") {
				t.Errorf("message has a path: %v", err)
			}
		})
	}
}

// Test_pathless: paths leave the message, not the chain.
func Test_pathless(t *testing.T) {
	const db = "data/wasmtask.db"
	other := &fs.PathError{Op: "sync", Path: "/elsewhere/x", Err: syscall.EIO}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "PathError", err: &fs.PathError{Op: "write", Path: db, Err: syscall.ENOSPC}, want: "write: no space left on device"},
		{name: "formatted path", err: fmt.Errorf("file resize error: truncate %s: %s", db, syscall.EFBIG), want: "file resize error: truncate: file too large"},
		{name: "other path in the chain", err: fmt.Errorf("commit: %w", other), want: "commit: sync: input/output error"},
		{name: "path in prose", err: fmt.Errorf("cannot map %s", db), want: "cannot map database file"},
		{name: "no path", err: berrors.ErrTxClosed, want: "tx closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := pathless(tt.err, db)
			if got.Error() != tt.want {
				t.Errorf("message = %q, want %q", got.Error(), tt.want)
			}
			if !errors.Is(got, tt.err) {
				t.Error("the original error left the chain")
			}
		})
	}
}

// Test_guard: guard lets panics that are not damage through and restores the
// goroutine's fault setting. Faults are tested in damage_linux_test.go, bbolt
// panics by TestOpen_checkLimit.
func Test_guard(t *testing.T) {
	t.Run("no panic", func(t *testing.T) {
		want := errors.New("fn")
		if err := guard(func() error { return want }); err != want {
			t.Errorf("err = %v", err)
		}
	})
	for _, tt := range []struct {
		name string
		fn   func() error
	}{
		{name: "nil dereference", fn: func() error {
			var p *Webtask
			return errors.New(p.Name)
		}},
		{name: "plain panic", fn: func() error { panic("bug") }},
	} {
		t.Run(tt.name+" goes on", func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("the panic was swallowed")
				}
			}()
			_ = guard(tt.fn)
		})
	}
	t.Run("setting restored", func(t *testing.T) {
		for _, before := range []bool{false, true} {
			debug.SetPanicOnFault(before)
			_ = guard(func() error { return nil })
			if after := debug.SetPanicOnFault(false); after != before {
				t.Errorf("SetPanicOnFault was %v before guard, %v after", before, after)
			}
		}
	})
}

// BenchmarkBolt_guard measures what guard adds to a read transaction: the
// same lookup with bbolt's View and with the store's view.
func BenchmarkBolt_guard(b *testing.B) {
	s, _ := openTest(b)
	mod, sha := testModule("bench")
	for i := range 100 {
		mustPut(b, s, Webtask{Container: "tenant", Name: "task" + strconv.Itoa(i), ModuleSHA256: sha}, mod)
	}
	get := func(tx *bolt.Tx) error {
		if tx.Bucket(bktWebtasks).Bucket([]byte("tenant")).Get([]byte("task42")) == nil {
			return errors.New("missing")
		}
		return nil
	}
	b.Run("bbolt View", func(b *testing.B) {
		for b.Loop() {
			if err := s.db.View(get); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("store view", func(b *testing.B) {
		for b.Loop() {
			if err := s.view("bench", get); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("guard alone", func(b *testing.B) {
		nop := func() error { return nil }
		for b.Loop() {
			_ = guard(nop)
		}
	})
}

// BenchmarkOpen_check measures the check Open runs (checkFile) on files of
// several sizes, warm in the page cache: the size check alone and the full
// walk plus Tx.Check.
func BenchmarkOpen_check(b *testing.B) {
	for _, mib := range []int{1, 16, 64, 128} {
		s, _ := openTest(b)
		// Half the bytes in 256 KiB modules, half in small records and KV
		// entries (many pages to walk).
		fillStore(b, s, mib*2, 256<<10)
		fillKV(b, s, mib*1024)
		size := s.fileSize()
		for _, limit := range []int64{0, 1 << 40} {
			name := fmt.Sprintf("%dMiB/size-only", size>>20)
			if limit > 0 {
				name = fmt.Sprintf("%dMiB/full", size>>20)
			}
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					if what, err := s.checkFile(limit); what != "" || err != nil {
						b.Fatal(what, err)
					}
				}
			})
		}
		_ = s.Close()
		_ = os.RemoveAll(filepath.Dir(s.path))
	}
}
