package keys

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
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
