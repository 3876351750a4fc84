package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
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

func TestBolt_PutWebtask(t *testing.T) {
	modA, shaA := testModule("a")
	modB, shaB := testModule("b")
	upper := []byte(shaA)
	copy(upper, bytes.ToUpper(upper))

	tests := []struct {
		name        string
		existing    []Webtask // stored with their module before the call (module A or B by SHA)
		w           Webtask
		module      []byte
		wantCreated bool
		wantErr     error
		wantRefsA   int
		wantRefsB   int
	}{
		{
			name:        "create with module",
			w:           Webtask{Container: "c", Name: "hello", ModuleSHA256: shaA},
			module:      modA,
			wantCreated: true,
			wantRefsA:   1,
		},
		{
			name:      "replace same module",
			existing:  []Webtask{{Container: "c", Name: "hello", ModuleSHA256: shaA}},
			w:         Webtask{Container: "c", Name: "hello", ModuleSHA256: shaA, Policy: "fresh"},
			module:    modA,
			wantRefsA: 1,
		},
		{
			name:      "replace with nil module, same sha",
			existing:  []Webtask{{Container: "c", Name: "hello", ModuleSHA256: shaA}},
			w:         Webtask{Container: "c", Name: "hello", ModuleSHA256: shaA, Meta: map[string]string{"k": "v"}},
			wantRefsA: 1,
		},
		{
			name:      "replace with another module releases the old one",
			existing:  []Webtask{{Container: "c", Name: "hello", ModuleSHA256: shaA}},
			w:         Webtask{Container: "c", Name: "hello", ModuleSHA256: shaB},
			module:    modB,
			wantRefsB: 1,
		},
		{
			name: "replace with another module keeps the old one while referenced",
			existing: []Webtask{
				{Container: "c", Name: "hello", ModuleSHA256: shaA},
				{Container: "d", Name: "hello", ModuleSHA256: shaA},
			},
			w:         Webtask{Container: "c", Name: "hello", ModuleSHA256: shaB},
			module:    modB,
			wantRefsA: 1,
			wantRefsB: 1,
		},
		{
			name:        "create with nil module already stored",
			existing:    []Webtask{{Container: "c", Name: "other", ModuleSHA256: shaA}},
			w:           Webtask{Container: "c", Name: "hello", ModuleSHA256: shaA},
			wantCreated: true,
			wantRefsA:   2,
		},
		{
			name:    "nil module with unknown sha",
			w:       Webtask{Container: "c", Name: "hello", ModuleSHA256: shaB},
			wantErr: ErrModuleNotFound,
		},
		{
			name:    "wrong hash",
			w:       Webtask{Container: "c", Name: "hello", ModuleSHA256: shaA},
			module:  modB,
			wantErr: ErrModuleHash,
		},
		{
			name:      "wrong hash leaves the existing webtask alone",
			existing:  []Webtask{{Container: "c", Name: "hello", ModuleSHA256: shaA}},
			w:         Webtask{Container: "c", Name: "hello", ModuleSHA256: shaB},
			module:    modA,
			wantErr:   ErrModuleHash,
			wantRefsA: 1,
		},
		{name: "empty container", w: Webtask{Name: "hello", ModuleSHA256: shaA}, module: modA, wantErr: ErrInvalid},
		{name: "empty name", w: Webtask{Container: "c", ModuleSHA256: shaA}, module: modA, wantErr: ErrInvalid},
		{name: "slash in container", w: Webtask{Container: "c/d", Name: "hello", ModuleSHA256: shaA}, module: modA, wantErr: ErrInvalid},
		{name: "slash in name", w: Webtask{Container: "c", Name: "a/b", ModuleSHA256: shaA}, module: modA, wantErr: ErrInvalid},
		{name: "NUL in name", w: Webtask{Container: "c", Name: "a\x00b", ModuleSHA256: shaA}, module: modA, wantErr: ErrInvalid},
		{name: "empty sha", w: Webtask{Container: "c", Name: "hello"}, module: modA, wantErr: ErrInvalid},
		{name: "upper-case sha", w: Webtask{Container: "c", Name: "hello", ModuleSHA256: string(upper)}, module: modA, wantErr: ErrInvalid},
		{name: "short sha", w: Webtask{Container: "c", Name: "hello", ModuleSHA256: shaA[:63]}, module: modA, wantErr: ErrInvalid},
	}
	modules := map[string][]byte{shaA: modA, shaB: modB}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t)
			for _, w := range tt.existing {
				mustPut(t, s, w, modules[w.ModuleSHA256])
			}
			var before *Webtask
			if w, err := s.GetWebtask(tt.w.Container, tt.w.Name); err == nil {
				before = &w
			}

			created, err := s.PutWebtask(tt.w, tt.module)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && created != tt.wantCreated {
				t.Errorf("created = %v, want %v", created, tt.wantCreated)
			}
			wantRefs(t, s, shaA, tt.wantRefsA)
			wantRefs(t, s, shaB, tt.wantRefsB)

			got, getErr := s.GetWebtask(tt.w.Container, tt.w.Name)
			switch {
			case err != nil && before == nil:
				if !errors.Is(getErr, ErrNotFound) && !errors.Is(getErr, ErrInvalid) {
					t.Errorf("after failed put: GetWebtask err = %v, want ErrNotFound", getErr)
				}
			case err != nil:
				if !reflect.DeepEqual(got, *before) {
					t.Errorf("after failed put: webtask changed\n got %+v\nwant %+v", got, *before)
				}
			default:
				if getErr != nil {
					t.Fatalf("GetWebtask: %v", getErr)
				}
				if got.ModuleSHA256 != tt.w.ModuleSHA256 || got.Policy != tt.w.Policy || !reflect.DeepEqual(got.Meta, tt.w.Meta) {
					t.Errorf("stored %+v, want fields of %+v", got, tt.w)
				}
				if before != nil && !got.Created.Equal(before.Created) {
					t.Errorf("Created = %v, want kept %v", got.Created, before.Created)
				}
				if before != nil && !got.Updated.After(before.Updated) {
					t.Errorf("Updated = %v, want after %v", got.Updated, before.Updated)
				}
			}
		})
	}
}

func TestBolt_GetWebtask(t *testing.T) {
	s, _ := openTest(t)
	mod, sha := testModule("get")
	created := time.Date(2020, 5, 6, 7, 8, 9, 10, time.FixedZone("X", 3600))
	in := Webtask{
		Container:    "tenant",
		Name:         "hello",
		ModuleSHA256: sha,
		ModuleSize:   12345, // ignored: the store knows the size
		Meta:         map[string]string{"owner": "ann", "": "empty key"},
		Secrets:      []byte{0, 1, 2, 0xff},
		Policy:       "pool",
		Token:        "eyJ.token.sig",
		Kind:         KindJS,
		Created:      created,
		Updated:      time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC), // ignored: the store stamps it
	}
	mustPut(t, s, in, mod)

	tests := []struct {
		name      string
		container string
		wtName    string
		want      Webtask
		wantErr   error
	}{
		{
			name: "found", container: "tenant", wtName: "hello",
			want: Webtask{
				Container: "tenant", Name: "hello", ModuleSHA256: sha, ModuleSize: int64(len(mod)),
				Meta: in.Meta, Secrets: in.Secrets, Policy: "pool", Token: in.Token, Kind: KindJS,
				Created: created.UTC(), Updated: time.Date(2025, 1, 2, 3, 4, 6, 6, time.UTC),
			},
		},
		{name: "unknown name", container: "tenant", wtName: "nope", wantErr: ErrNotFound},
		{name: "unknown container", container: "nope", wtName: "hello", wantErr: ErrNotFound},
		{name: "name is a prefix", container: "tenant", wtName: "hell", wantErr: ErrNotFound},
		{name: "empty container", container: "", wtName: "hello", wantErr: ErrInvalid},
		{name: "empty name", container: "tenant", wtName: "", wantErr: ErrInvalid},
		{name: "slash", container: "tenant/hello", wtName: "x", wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.GetWebtask(tt.container, tt.wtName)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}

	t.Run("result is a copy", func(t *testing.T) {
		a, _ := s.GetWebtask("tenant", "hello")
		a.Meta["owner"] = "mallory"
		a.Secrets[0] = 42
		b, _ := s.GetWebtask("tenant", "hello")
		if b.Meta["owner"] != "ann" || b.Secrets[0] != 0 {
			t.Errorf("mutating a result changed the store: %+v", b)
		}
	})
}

func TestBolt_ListWebtasks(t *testing.T) {
	s, _ := openTest(t)
	mod, sha := testModule("list")
	for _, cn := range []string{"c/b", "c/a", "c/C", "c/a.b", "cc/z", "c-/y", "d/x"} {
		c, n, _ := cutSlash(cn)
		mustPut(t, s, Webtask{Container: c, Name: n, ModuleSHA256: sha}, mod)
	}

	tests := []struct {
		name      string
		container string
		want      []string
		wantErr   error
	}{
		{name: "sorted by name", container: "c", want: []string{"c/C", "c/a", "c/a.b", "c/b"}},
		{name: "container that prefixes another", container: "cc", want: []string{"cc/z"}},
		{name: "single", container: "d", want: []string{"d/x"}},
		{name: "unknown container", container: "nope", want: []string{}},
		{name: "empty container", container: "", wantErr: ErrInvalid},
		{name: "NUL", container: "c\x00", wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListWebtasks(tt.container)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got == nil {
				t.Fatal("got nil slice, want non-nil")
			}
			if !reflect.DeepEqual(names(got), tt.want) {
				t.Errorf("got %q, want %q", names(got), tt.want)
			}
			for _, w := range got {
				if w.ModuleSHA256 != sha || w.ModuleSize != int64(len(mod)) {
					t.Errorf("%s/%s: module %s (%d bytes), want %s", w.Container, w.Name, w.ModuleSHA256, w.ModuleSize, sha)
				}
			}
		})
	}
}

func cutSlash(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func TestBolt_DeleteWebtask(t *testing.T) {
	mod, sha := testModule("delete")
	tests := []struct {
		name      string
		container string
		wtName    string
		wantErr   error
		wantRefs  int
		wantList  []string // of container "c" afterwards
	}{
		{name: "existing", container: "c", wtName: "a", wantRefs: 1, wantList: []string{"c/b"}},
		{name: "unknown name", container: "c", wtName: "z", wantErr: ErrNotFound, wantRefs: 2, wantList: []string{"c/a", "c/b"}},
		{name: "unknown container", container: "x", wtName: "a", wantErr: ErrNotFound, wantRefs: 2, wantList: []string{"c/a", "c/b"}},
		{name: "empty name", container: "c", wtName: "", wantErr: ErrInvalid, wantRefs: 2, wantList: []string{"c/a", "c/b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t)
			mustPut(t, s, Webtask{Container: "c", Name: "a", ModuleSHA256: sha}, mod)
			mustPut(t, s, Webtask{Container: "c", Name: "b", ModuleSHA256: sha}, nil)

			if err := s.DeleteWebtask(tt.container, tt.wtName); !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			wantRefs(t, s, sha, tt.wantRefs)
			list, err := s.ListWebtasks("c")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(names(list), tt.wantList) {
				t.Errorf("list = %q, want %q", names(list), tt.wantList)
			}
		})
	}

	t.Run("last webtask drops the container and the module", func(t *testing.T) {
		s, _ := openTest(t)
		mustPut(t, s, Webtask{Container: "c", Name: "a", ModuleSHA256: sha}, mod)
		if err := s.DeleteWebtask("c", "a"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteWebtask("c", "a"); !errors.Is(err, ErrNotFound) {
			t.Errorf("second delete: err = %v, want ErrNotFound", err)
		}
		wantRefs(t, s, sha, 0)
		_ = s.db.View(func(tx *bolt.Tx) error {
			if tx.Bucket(bktWebtasks).Bucket([]byte("c")) != nil {
				t.Error("empty container bucket left behind")
			}
			return nil
		})
	})
}

func TestBolt_moduleDedup(t *testing.T) {
	s, _ := openTest(t)
	mod, sha := testModule("shared")

	steps := []struct {
		name     string
		do       func() error
		wantRefs int
	}{
		{name: "put first", do: func() error {
			_, err := s.PutWebtask(Webtask{Container: "c1", Name: "one", ModuleSHA256: sha}, mod)
			return err
		}, wantRefs: 1},
		{name: "put second with the same bytes", do: func() error {
			_, err := s.PutWebtask(Webtask{Container: "c2", Name: "two", ModuleSHA256: sha}, bytes.Clone(mod))
			return err
		}, wantRefs: 2},
		{name: "delete first keeps the module", do: func() error { return s.DeleteWebtask("c1", "one") }, wantRefs: 1},
		{name: "delete second deletes the module", do: func() error { return s.DeleteWebtask("c2", "two") }, wantRefs: 0},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		wantRefs(t, s, sha, st.wantRefs)
		var nmods int
		_ = s.db.View(func(tx *bolt.Tx) error {
			nmods = tx.Bucket(bktModules).Stats().KeyN
			return nil
		})
		if want := min(st.wantRefs, 1); nmods != want {
			t.Errorf("%s: %d modules stored, want %d", st.name, nmods, want)
		}
	}
}

func TestBolt_GetModule(t *testing.T) {
	s, _ := openTest(t)
	mod, sha := testModule("module")
	mustPut(t, s, Webtask{Container: "c", Name: "n", ModuleSHA256: sha}, mod)
	_, unknown := testModule("unknown")

	tests := []struct {
		name    string
		sha     string
		want    []byte
		wantErr error
	}{
		{name: "stored", sha: sha, want: mod},
		{name: "unknown", sha: unknown, wantErr: ErrModuleNotFound},
		{name: "malformed", sha: "xyz", wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.GetModule(tt.sha)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("result is a copy", func(t *testing.T) {
		got, _ := s.GetModule(sha)
		got[0] = 'X' // would fault if this were bbolt's read-only mmap
		again, _ := s.GetModule(sha)
		if !bytes.Equal(again, mod) {
			t.Error("mutating the result changed the store")
		}
	})
}

func TestBolt_reopen(t *testing.T) {
	s, path := openTest(t)
	modA, shaA := testModule("a")
	modB, shaB := testModule("b")
	mustPut(t, s, Webtask{Container: "c", Name: "a1", ModuleSHA256: shaA, Meta: map[string]string{"k": "v"}}, modA)
	mustPut(t, s, Webtask{Container: "c", Name: "a2", ModuleSHA256: shaA}, nil)
	mustPut(t, s, Webtask{Container: "d", Name: "b", ModuleSHA256: shaB, Secrets: []byte("sealed")}, modB)
	if err := s.KVPut("ns", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	wantList, err := s.ListWebtasks("c")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { _ = s2.Close() })

	gotList, err := s2.ListWebtasks("c")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotList, wantList) {
		t.Errorf("after reopen\n got %+v\nwant %+v", gotList, wantList)
	}
	if w, err := s2.GetWebtask("d", "b"); err != nil || string(w.Secrets) != "sealed" {
		t.Errorf("GetWebtask(d/b) = %+v, %v", w, err)
	}
	wantRefs(t, s2, shaA, 2)
	wantRefs(t, s2, shaB, 1)
	if v, err := s2.KVGet("ns", "k"); err != nil || string(v) != "v" {
		t.Errorf("KVGet = %q, %v", v, err)
	}
}

func TestBolt_closed(t *testing.T) {
	s, _ := openTest(t)
	mod, sha := testModule("closed")
	mustPut(t, s, Webtask{Container: "c", Name: "n", ModuleSHA256: sha}, mod)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	tests := []struct {
		name string
		call func() error
	}{
		{"PutWebtask", func() error {
			_, err := s.PutWebtask(Webtask{Container: "c", Name: "n", ModuleSHA256: sha}, mod)
			return err
		}},
		{"GetWebtask", func() error { _, err := s.GetWebtask("c", "n"); return err }},
		{"ListWebtasks", func() error { _, err := s.ListWebtasks("c"); return err }},
		{"DeleteWebtask", func() error { return s.DeleteWebtask("c", "n") }},
		{"GetModule", func() error { _, err := s.GetModule(sha); return err }},
		{"ModuleRefs", func() error { _, err := s.ModuleRefs(sha); return err }},
		{"ForEachWebtask", func() error { return s.ForEachWebtask(func(Webtask) error { return nil }) }},
		{"KVGet", func() error { _, err := s.KVGet("ns", "k"); return err }},
		{"KVPut", func() error { return s.KVPut("ns", "k", nil) }},
		{"KVDelete", func() error { return s.KVDelete("ns", "k") }},
		{"KVList", func() error { _, err := s.KVList("ns", ""); return err }},
		{"KVUpdate", func() error { return s.KVUpdate("ns", "k", func([]byte) ([]byte, error) { return nil, nil }) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, ErrClosed) {
				t.Errorf("err = %v, want ErrClosed", err)
			}
		})
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestBolt_ForEachWebtask(t *testing.T) {
	s, _ := openTest(t)
	s.batch = 2 // make the walk span several read transactions
	mod, sha := testModule("each")
	all := []string{"a/1", "a/2", "a/3", "b/1", "c/1", "c/2", "c/3", "c/4"}
	for _, cn := range all {
		c, n, _ := cutSlash(cn)
		mustPut(t, s, Webtask{Container: c, Name: n, ModuleSHA256: sha}, mod)
	}
	errStop := errors.New("stop")

	tests := []struct {
		name    string
		fn      func(seen *[]string) func(Webtask) error
		want    []string
		wantErr error
	}{
		{
			name: "all in order",
			fn: func(seen *[]string) func(Webtask) error {
				return func(w Webtask) error { *seen = append(*seen, w.Container+"/"+w.Name); return nil }
			},
			want: all,
		},
		{
			name: "stops at the first error",
			fn: func(seen *[]string) func(Webtask) error {
				return func(w Webtask) error {
					*seen = append(*seen, w.Container+"/"+w.Name)
					if len(*seen) == 4 {
						return errStop
					}
					return nil
				}
			},
			want:    all[:4],
			wantErr: errStop,
		},
		{
			name: "fn may read the store",
			fn: func(seen *[]string) func(Webtask) error {
				return func(w Webtask) error {
					if _, err := s.GetModule(w.ModuleSHA256); err != nil {
						return err
					}
					*seen = append(*seen, w.Container+"/"+w.Name)
					return nil
				}
			},
			want: all,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen []string
			if err := s.ForEachWebtask(tt.fn(&seen)); !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(seen, tt.want) {
				t.Errorf("seen %q, want %q", seen, tt.want)
			}
		})
	}

	t.Run("fn may delete what it is given", func(t *testing.T) {
		var seen []string
		err := s.ForEachWebtask(func(w Webtask) error {
			seen = append(seen, w.Container+"/"+w.Name)
			return s.DeleteWebtask(w.Container, w.Name)
		})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(seen, all) {
			t.Errorf("seen %q, want %q", seen, all)
		}
		wantRefs(t, s, sha, 0)
	})

	t.Run("empty store", func(t *testing.T) {
		calls := 0
		if err := s.ForEachWebtask(func(Webtask) error { calls++; return nil }); err != nil || calls != 0 {
			t.Errorf("calls = %d, err = %v; want 0, nil", calls, err)
		}
	})
}

func TestBolt_KV(t *testing.T) {
	s, _ := openTest(t)
	type op struct {
		do      string // get, put, delete, list
		ns, key string // key is the prefix for list
		value   string
		want    any // string for get, []string ("k=v") for list
		wantErr error
	}
	tests := []struct {
		name string
		ops  []op
	}{
		{name: "crud", ops: []op{
			{do: "get", ns: "n", key: "k", wantErr: ErrNotFound},
			{do: "put", ns: "n", key: "k", value: "v1"},
			{do: "get", ns: "n", key: "k", want: "v1"},
			{do: "put", ns: "n", key: "k", value: "v2"},
			{do: "get", ns: "n", key: "k", want: "v2"},
			{do: "delete", ns: "n", key: "k"},
			{do: "get", ns: "n", key: "k", wantErr: ErrNotFound},
			{do: "delete", ns: "n", key: "k", wantErr: ErrNotFound},
			{do: "list", ns: "n", want: []string{}},
		}},
		{name: "empty value is not absent", ops: []op{
			{do: "put", ns: "e", key: "k", value: ""},
			{do: "get", ns: "e", key: "k", want: ""},
			{do: "list", ns: "e", want: []string{"k="}},
			{do: "delete", ns: "e", key: "k"},
		}},
		{name: "list by prefix, sorted", ops: []op{
			{do: "put", ns: "l", key: "b/2", value: "4"},
			{do: "put", ns: "l", key: "a", value: "1"},
			{do: "put", ns: "l", key: "b/1", value: "3"},
			{do: "put", ns: "l", key: "b", value: "2"},
			{do: "put", ns: "l", key: "c", value: "5"},
			{do: "list", ns: "l", want: []string{"a=1", "b=2", "b/1=3", "b/2=4", "c=5"}},
			{do: "list", ns: "l", key: "b", want: []string{"b=2", "b/1=3", "b/2=4"}},
			{do: "list", ns: "l", key: "b/", want: []string{"b/1=3", "b/2=4"}},
			{do: "list", ns: "l", key: "d", want: []string{}},
			{do: "list", ns: "unknown", want: []string{}},
		}},
		{name: "namespaces are separate", ops: []op{
			{do: "put", ns: "x", key: "k", value: "in x"},
			{do: "put", ns: "xy", key: "k", value: "in xy"},
			{do: "get", ns: "x", key: "k", want: "in x"},
			{do: "get", ns: "xy", key: "k", want: "in xy"},
			{do: "get", ns: "y", key: "k", wantErr: ErrNotFound},
			{do: "delete", ns: "y", key: "k", wantErr: ErrNotFound},
		}},
		{name: "keys may hold any bytes", ops: []op{
			{do: "put", ns: "b", key: "a/b\x00c", value: "v"},
			{do: "get", ns: "b", key: "a/b\x00c", want: "v"},
		}},
		{name: "invalid", ops: []op{
			{do: "put", ns: "", key: "k", wantErr: ErrInvalid},
			{do: "put", ns: "a/b", key: "k", wantErr: ErrInvalid},
			{do: "put", ns: "n", key: "", wantErr: ErrInvalid},
			{do: "get", ns: "n\x00", key: "k", wantErr: ErrInvalid},
			{do: "delete", ns: "n", key: "", wantErr: ErrInvalid},
			{do: "list", ns: "", wantErr: ErrInvalid},
			{do: "put", ns: "n", key: string(make([]byte, bolt.MaxKeySize+1)), wantErr: ErrInvalid},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, o := range tt.ops {
				var got any
				var err error
				switch o.do {
				case "get":
					var v []byte
					if v, err = s.KVGet(o.ns, o.key); err == nil {
						if v == nil {
							t.Errorf("op %d: KVGet returned nil for a stored value", i)
						}
						got = string(v)
					}
				case "put":
					err = s.KVPut(o.ns, o.key, []byte(o.value))
				case "delete":
					err = s.KVDelete(o.ns, o.key)
				case "list":
					var pairs []KVPair
					if pairs, err = s.KVList(o.ns, o.key); err == nil {
						kv := []string{}
						for _, p := range pairs {
							kv = append(kv, p.Key+"="+string(p.Value))
						}
						got = kv
					}
				}
				if !errors.Is(err, o.wantErr) {
					t.Fatalf("op %d %s %q/%q: err = %v, want %v", i, o.do, o.ns, o.key, err, o.wantErr)
				}
				if o.want != nil && !reflect.DeepEqual(got, o.want) {
					t.Errorf("op %d %s %q/%q = %q, want %q", i, o.do, o.ns, o.key, got, o.want)
				}
			}
		})
	}

	t.Run("result is a copy", func(t *testing.T) {
		if err := s.KVPut("copy", "k", []byte("value")); err != nil {
			t.Fatal(err)
		}
		v, _ := s.KVGet("copy", "k")
		v[0] = 'X'
		l, _ := s.KVList("copy", "")
		l[0].Value[0] = 'Y'
		if again, _ := s.KVGet("copy", "k"); string(again) != "value" {
			t.Errorf("mutating results changed the store: %q", again)
		}
	})

	t.Run("emptied namespace leaves no bucket", func(t *testing.T) {
		_ = s.db.View(func(tx *bolt.Tx) error {
			for _, ns := range []string{"n", "e", "y"} {
				if tx.Bucket(bktKV).Bucket([]byte(ns)) != nil {
					t.Errorf("namespace %q still has a bucket", ns)
				}
			}
			return nil
		})
	})
}

// errConflict is what a caller's compare-and-swap function returns when the
// etag does not match.
var errConflict = errors.New("etag mismatch")

// casPut is how a caller implements "put if the etag matches" on KVUpdate.
func casPut(s KV, ns, key, etag, value string) error {
	return s.KVUpdate(ns, key, func(cur []byte) ([]byte, error) {
		if got := etagOf(cur); got != etag {
			return nil, fmt.Errorf("have %q, want %q: %w", got, etag, errConflict)
		}
		return []byte(value), nil
	})
}

func etagOf(v []byte) string {
	if v == nil {
		return ""
	}
	sum := sha256.Sum256(v)
	return hex.EncodeToString(sum[:4])
}

func TestBolt_KVUpdate(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name     string
		initial  *string // nil: absent
		fn       func(cur []byte) ([]byte, error)
		wantCur  *string // what fn must see; nil: nil
		wantErr  error
		wantNext *string // nil: absent afterwards
	}{
		{
			name:     "create from absent",
			fn:       func([]byte) ([]byte, error) { return []byte("new"), nil },
			wantNext: ptr("new"),
		},
		{
			name:     "modify",
			initial:  ptr("1"),
			fn:       func(cur []byte) ([]byte, error) { return append(cur, '+'), nil },
			wantCur:  ptr("1"),
			wantNext: ptr("1+"),
		},
		{
			name:    "nil deletes",
			initial: ptr("1"),
			fn:      func([]byte) ([]byte, error) { return nil, nil },
			wantCur: ptr("1"),
		},
		{
			name: "nil on absent stays absent",
			fn:   func([]byte) ([]byte, error) { return nil, nil },
		},
		{
			name:     "empty is stored, not deleted",
			initial:  ptr("1"),
			fn:       func([]byte) ([]byte, error) { return []byte{}, nil },
			wantCur:  ptr("1"),
			wantNext: ptr(""),
		},
		{
			name:     "present empty value is non-nil",
			initial:  ptr(""),
			fn:       func(cur []byte) ([]byte, error) { return cur, nil },
			wantCur:  ptr(""),
			wantNext: ptr(""),
		},
		{
			name:     "error aborts and is returned",
			initial:  ptr("keep"),
			fn:       func([]byte) ([]byte, error) { return []byte("lost"), errBoom },
			wantCur:  ptr("keep"),
			wantErr:  errBoom,
			wantNext: ptr("keep"),
		},
		{
			name:    "error on absent creates nothing",
			fn:      func([]byte) ([]byte, error) { return []byte("lost"), errBoom },
			wantErr: errBoom,
		},
		{
			name:     "fn may modify cur without touching the store before commit",
			initial:  ptr("abc"),
			fn:       func(cur []byte) ([]byte, error) { cur[0] = 'X'; return nil, errBoom },
			wantCur:  ptr("abc"),
			wantErr:  errBoom,
			wantNext: ptr("abc"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t)
			if tt.initial != nil {
				if err := s.KVPut("ns", "k", []byte(*tt.initial)); err != nil {
					t.Fatal(err)
				}
			}
			var sawCur []byte
			err := s.KVUpdate("ns", "k", func(cur []byte) ([]byte, error) {
				sawCur = bytes.Clone(cur)
				if cur != nil && sawCur == nil {
					sawCur = []byte{}
				}
				return tt.fn(cur)
			})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil && err != tt.wantErr {
				t.Errorf("err = %#v, want fn's error returned as is", err)
			}
			if (sawCur == nil) != (tt.wantCur == nil) || (tt.wantCur != nil && string(sawCur) != *tt.wantCur) {
				t.Errorf("fn saw %q (nil=%v), want %v", sawCur, sawCur == nil, tt.wantCur)
			}
			got, err := s.KVGet("ns", "k")
			switch {
			case tt.wantNext == nil && !errors.Is(err, ErrNotFound):
				t.Errorf("afterwards: KVGet = %q, %v; want ErrNotFound", got, err)
			case tt.wantNext != nil && (err != nil || string(got) != *tt.wantNext):
				t.Errorf("afterwards: KVGet = %q, %v; want %q", got, err, *tt.wantNext)
			}
		})
	}

	t.Run("compare and swap with etags", func(t *testing.T) {
		s, _ := openTest(t)
		steps := []struct {
			etag, value string
			wantErr     error
		}{
			{etag: "", value: "v1"},                                         // create if absent
			{etag: "", value: "again", wantErr: errConflict},                // already exists
			{etag: etagOf([]byte("v1")), value: "v2"},                       // matching etag
			{etag: etagOf([]byte("v1")), value: "v3", wantErr: errConflict}, // stale etag
			{etag: etagOf([]byte("v2")), value: "v3"},
		}
		for i, st := range steps {
			if err := casPut(s, "data", "tenant/task", st.etag, st.value); !errors.Is(err, st.wantErr) {
				t.Fatalf("step %d: err = %v, want %v", i, err, st.wantErr)
			}
		}
		if v, err := s.KVGet("data", "tenant/task"); err != nil || string(v) != "v3" {
			t.Errorf("final value %q, %v; want v3", v, err)
		}
	})

	t.Run("concurrent increments are serialised", func(t *testing.T) {
		s, _ := openTest(t)
		const workers, each = 8, 20
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range each {
					err := s.KVUpdate("counters", "n", func(cur []byte) ([]byte, error) {
						n := 0
						if cur != nil {
							var err error
							if n, err = strconv.Atoi(string(cur)); err != nil {
								return nil, err
							}
						}
						return []byte(strconv.Itoa(n + 1)), nil
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if v, err := s.KVGet("counters", "n"); err != nil || string(v) != strconv.Itoa(workers*each) {
			t.Errorf("counter = %q, %v; want %d", v, err, workers*each)
		}
	})
}

func ptr(s string) *string { return &s }

// TestBolt_hammer runs puts, gets, lists, deletes, walks and KV updates from
// several goroutines on a few shared names and modules, then checks that the
// reference counts match the webtasks left. Run it with -race.
func TestBolt_hammer(t *testing.T) {
	s, _ := openTest(t)
	type module struct {
		bytes []byte
		sha   string
	}
	var mods []module
	for i := range 3 {
		b, sha := testModule("hammer" + strconv.Itoa(i))
		mods = append(mods, module{b, sha})
	}
	containers := []string{"c0", "c1"}
	wtNames := []string{"n0", "n1", "n2", "n3"}

	const workers, ops = 8, 60
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 42))
			for range ops {
				c := containers[rng.IntN(len(containers))]
				n := wtNames[rng.IntN(len(wtNames))]
				m := mods[rng.IntN(len(mods))]
				var err error
				switch rng.IntN(7) {
				case 0, 1:
					_, err = s.PutWebtask(Webtask{Container: c, Name: n, ModuleSHA256: m.sha, Meta: map[string]string{"g": strconv.Itoa(g)}}, m.bytes)
				case 2:
					// nil module: fine if stored, ErrModuleNotFound if the last reference just went away
					if _, err = s.PutWebtask(Webtask{Container: c, Name: n, ModuleSHA256: m.sha}, nil); errors.Is(err, ErrModuleNotFound) {
						err = nil
					}
				case 3:
					var w Webtask
					if w, err = s.GetWebtask(c, n); err == nil {
						if w.Container != c || w.Name != n || w.ModuleSize == 0 {
							t.Errorf("GetWebtask(%s/%s) = %+v", c, n, w)
						}
						if _, err = s.GetModule(w.ModuleSHA256); errors.Is(err, ErrModuleNotFound) {
							err = nil // replaced or deleted in between
						}
					} else if errors.Is(err, ErrNotFound) {
						err = nil
					}
				case 4:
					if err = s.DeleteWebtask(c, n); errors.Is(err, ErrNotFound) {
						err = nil
					}
				case 5:
					_, err = s.ListWebtasks(c)
				case 6:
					err = s.KVUpdate("hammer", c, func(cur []byte) ([]byte, error) { return append(cur, 'x'), nil })
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	// A reader walking everything while the writers run.
	wg.Go(func() {
		for range 20 {
			if err := s.ForEachWebtask(func(Webtask) error { return nil }); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()

	refs := map[string]int{}
	if err := s.ForEachWebtask(func(w Webtask) error { refs[w.ModuleSHA256]++; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		wantRefs(t, s, m.sha, refs[m.sha])
	}
	var nmods int
	_ = s.db.View(func(tx *bolt.Tx) error {
		nmods = tx.Bucket(bktModules).Stats().KeyN
		return nil
	})
	if nmods != len(refs) {
		t.Errorf("%d modules stored, %d referenced", nmods, len(refs))
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
