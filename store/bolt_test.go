package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// testClock returns a clock that advances one second per call, starting at a
// fixed instant, so timestamps are deterministic and strictly increasing.
func testClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

// openTest opens a store in a fresh temporary directory (in a subdirectory
// that does not exist yet) and closes it when the test ends.
func openTest(t testing.TB, opts ...Option) (*Bolt, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "wasmtask.db")
	s, err := Open(path, append([]Option{WithClock(testClock())}, opts...)...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

// testModule returns fake module bytes and their SHA-256 in hex.
func testModule(content string) ([]byte, string) {
	b := []byte("\x00asm\x01\x00\x00\x00" + content)
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])
}

func mustPut(t testing.TB, s Store, w Webtask, module []byte) bool {
	t.Helper()
	created, err := s.PutWebtask(w, module)
	if err != nil {
		t.Fatalf("PutWebtask(%s/%s): %v", w.Container, w.Name, err)
	}
	return created
}

func wantRefs(t testing.TB, s Store, sha string, want int) {
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
	case want == 0 && !errors.Is(err, ErrModuleNotFound):
		t.Errorf("GetModule(%.8s) with no refs: err = %v, want ErrModuleNotFound", sha, err)
	}
}

func names(ws []Webtask) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.Container + "/" + w.Name
	}
	return out
}

func TestOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "wasmtask.db")
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })

	tests := []struct {
		name string
		path string
		want os.FileMode
	}{
		{name: "directory", path: dir, want: 0o700},
		{name: "file", path: path, want: 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fi, err := os.Stat(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != tt.want {
				t.Errorf("mode = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOpen_errors(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "foreign.db")
	db, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("something-else"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		path    string
		wantErr error // nil: any error
	}{
		{name: "empty path", path: "", wantErr: ErrInvalid},
		{name: "foreign bbolt file", path: foreign},
		{name: "not a bbolt file", path: garbage, wantErr: ErrDamaged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(tt.path)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded, want error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestOpen_locked(t *testing.T) {
	_, path := openTest(t)

	start := time.Now()
	s2, err := Open(path) // default timeout
	elapsed := time.Since(start)
	if err == nil {
		_ = s2.Close()
		t.Fatal("second Open succeeded while the first is open")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
	if elapsed > DefaultTimeout+2*time.Second {
		t.Errorf("second Open took %v, want about %v", elapsed, DefaultTimeout)
	}
	t.Logf("second Open failed after %v: %v", elapsed.Round(time.Millisecond), err)

	s3, err := Open(path, WithTimeout(50*time.Millisecond))
	if !errors.Is(err, ErrLocked) {
		if err == nil {
			_ = s3.Close()
		}
		t.Fatalf("with 50ms timeout: err = %v, want ErrLocked", err)
	}
}

func BenchmarkBolt_GetWebtask(b *testing.B) {
	s, _ := openTest(b)
	mod, sha := testModule("bench")
	for i := range 100 {
		mustPut(b, s, Webtask{
			Container:    "tenant",
			Name:         "task" + strconv.Itoa(i),
			ModuleSHA256: sha,
			Meta:         map[string]string{"owner": "ann", "description": "a benchmark webtask"},
			Secrets:      bytes.Repeat([]byte{0xAB}, 64),
			Policy:       "pool",
		}, mod)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.GetWebtask("tenant", "task42"); err != nil {
			b.Fatal(err)
		}
	}
}
