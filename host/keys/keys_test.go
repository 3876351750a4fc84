package keys

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestLoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	k1, created, err := LoadOrCreate(dir)
	if err != nil || !created {
		t.Fatalf("first start: created=%v err=%v", created, err)
	}
	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("key file mode = %v, want 0600", perm)
	}
	k2, created, err := LoadOrCreate(dir)
	if err != nil || created {
		t.Fatalf("second start: created=%v err=%v", created, err)
	}
	if k1.Current().ID != k2.Current().ID || !bytes.Equal(k1.Encryption, k2.Encryption) {
		t.Fatal("second start generated new keys instead of reusing them")
	}
	sealed := k1.Seal([]byte("open-sesame"), "p")
	if pt, err := k2.Open(sealed, "p"); err != nil || string(pt) != "open-sesame" {
		t.Fatalf("reloaded keys cannot open: %q %v", pt, err)
	}
}

func TestLoadOrCreate_RefusesWorldReadable(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := LoadOrCreate(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, FileName), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreate(dir); err == nil {
		t.Fatal("a key file readable by others was accepted")
	}
}

func TestKeys_Open(t *testing.T) {
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := Generate()
	sealed := k.Seal([]byte("abc!123"), "webtask:acme/x")
	if bytes.Contains(sealed, []byte("abc!123")) {
		t.Fatal("sealed bytes contain the plaintext")
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name    string
		keys    *Keys
		sealed  []byte
		purpose string
	}{
		{"tampered", k, flipped, "webtask:acme/x"},
		{"other purpose", k, sealed, "webtask:acme/y"},
		{"other key", other, sealed, "webtask:acme/x"},
		{"truncated", k, sealed[:10], "webtask:acme/x"},
		{"empty", k, nil, "webtask:acme/x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.keys.Open(tc.sealed, tc.purpose); !errors.Is(err, ErrOpen) {
				t.Fatalf("err = %v, want ErrOpen", err)
			}
		})
	}
	if pt, err := k.Open(sealed, "webtask:acme/x"); err != nil || string(pt) != "abc!123" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
}

// memKV is a KVUpdate over a map, serialised like a store's.
type memKV struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (m *memKV) KVUpdate(ns, key string, fn func(cur []byte) ([]byte, error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	next, err := fn(m.m[ns+"/"+key])
	if err != nil {
		return err
	}
	if next == nil {
		delete(m.m, ns+"/"+key)
	} else {
		m.m[ns+"/"+key] = next
	}
	return nil
}

func TestLoadOrCreateShared(t *testing.T) {
	kv := &memKV{m: map[string][]byte{}}
	kek1, _ := ParseKEKs(strings.Repeat("11", 32))
	kek2, _ := ParseKEKs(strings.Repeat("22", 32) + "," + strings.Repeat("11", 32))
	ok := func() error { return nil }

	// Servers starting together agree on one set.
	var wg sync.WaitGroup
	sets := make([]*Keys, 8)
	var nCreated atomic.Int32
	for i := range sets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, created, err := LoadOrCreateShared(kv, kek1, ok)
			if err != nil {
				t.Error(err)
				return
			}
			if created {
				nCreated.Add(1)
			}
			sets[i] = k
		}()
	}
	wg.Wait()
	if nCreated.Load() != 1 {
		t.Fatalf("%d servers created a key set, want 1", nCreated.Load())
	}
	for _, k := range sets[1:] {
		if k == nil || k.Current().ID != sets[0].Current().ID || !bytes.Equal(k.Encryption, sets[0].Encryption) {
			t.Fatal("servers use different key sets")
		}
	}
	if bytes.Contains(kv.m[Namespace+"/"+SharedKey], sets[0].Encryption) {
		t.Fatal("the key set is stored in clear")
	}

	// A wrong KEK is refused; a rotation re-seals with the new one.
	wrong, _ := ParseKEKs(strings.Repeat("33", 32))
	if _, _, err := LoadOrCreateShared(kv, wrong, ok); !errors.Is(err, ErrKEK) {
		t.Fatalf("wrong KEK: %v, want ErrKEK", err)
	}
	k, created, err := LoadOrCreateShared(kv, kek2, ok)
	if err != nil || created || k.Current().ID != sets[0].Current().ID {
		t.Fatalf("rotation: created=%v err=%v", created, err)
	}
	if _, _, err := LoadOrCreateShared(kv, kek1, ok); !errors.Is(err, ErrKEK) {
		t.Fatalf("after the rotation the old KEK still opens the set: %v", err)
	}

	// mayCreate refuses: nothing is stored.
	empty := &memKV{m: map[string][]byte{}}
	refuse := errors.New("has data")
	if _, _, err := LoadOrCreateShared(empty, kek1, func() error { return refuse }); !errors.Is(err, refuse) || len(empty.m) != 0 {
		t.Fatalf("refused creation: err=%v, stored %d", err, len(empty.m))
	}
}

func TestParseKEKs(t *testing.T) {
	for _, bad := range []string{"", "abc", strings.Repeat("1", 62), "zz" + strings.Repeat("1", 62)} {
		if _, err := ParseKEKs(bad); err == nil {
			t.Errorf("ParseKEKs(%q) accepted", bad)
		}
	}
	if k, err := ParseKEKs(" " + strings.Repeat("ab", 32) + "\n"); err != nil || len(k) != 1 || k[0][0] != 0xab {
		t.Fatalf("hex: %v %v", k, err)
	}
}
