// Package keys holds the server's secret keys: the HMAC keys that sign
// webtask tokens (each with a key id, so keys can rotate) and the AES-256-GCM
// key that seals secrets at rest and in tokens.
//
// On one server the keys live in one JSON file in the data directory,
// created with mode 0600 on first start and reused afterwards, and are
// never written to the store, so a copy of the database alone reveals no
// secret. The servers of a cluster share them through their store, sealed
// with a key-encryption key each server is given (shared.go).
package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrOpen is returned when sealed bytes were tampered with, sealed under
// another key, or bound to another purpose.
var ErrOpen = errors.New("keys: cannot open sealed data")

// SigningKey is one HMAC key and its id (the JWT "kid").
type SigningKey struct {
	ID  string `json:"kid"`
	Key []byte `json:"key"`
}

// Keys is the server's key set. The first signing key signs new tokens;
// all of them verify.
type Keys struct {
	Signing    []SigningKey `json:"signing"`
	Encryption []byte       `json:"encryption"`

	aead cipher.AEAD
}

// FileName is the name of the key file inside the data directory.
const FileName = "keys.json"

// LoadOrCreate reads dir/keys.json, or creates it with fresh random keys.
// created reports whether the file was new.
func LoadOrCreate(dir string) (k *Keys, created bool, err error) {
	path := filepath.Join(dir, FileName)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if k, err = Generate(); err != nil {
			return nil, false, err
		}
		if err = os.MkdirAll(dir, 0o700); err != nil {
			return nil, false, fmt.Errorf("keys: %w", err)
		}
		b, _ = json.MarshalIndent(k, "", "  ")
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, false, fmt.Errorf("keys: %w", err)
		}
		if _, err = f.Write(b); err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, false, fmt.Errorf("keys: write %s: %w", path, err)
		}
		return k, true, nil
	case err != nil:
		return nil, false, fmt.Errorf("keys: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, false, fmt.Errorf("keys: %s is readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	k = &Keys{}
	if err := json.Unmarshal(b, k); err != nil {
		return nil, false, fmt.Errorf("keys: %s: %w", path, err)
	}
	if err := k.init(); err != nil {
		return nil, false, err
	}
	return k, false, nil
}

// Generate returns a new random key set.
func Generate() (*Keys, error) {
	id := make([]byte, 8)
	sig := make([]byte, 32)
	enc := make([]byte, 32)
	for _, b := range [][]byte{id, sig, enc} {
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
	}
	k := &Keys{Signing: []SigningKey{{ID: hex.EncodeToString(id), Key: sig}}, Encryption: enc}
	return k, k.init()
}

func (k *Keys) init() error {
	if len(k.Signing) == 0 {
		return errors.New("keys: no signing key")
	}
	for _, s := range k.Signing {
		if s.ID == "" || len(s.Key) < 32 {
			return errors.New("keys: signing key without id or shorter than 32 bytes")
		}
	}
	block, err := aes.NewCipher(k.Encryption)
	if err != nil {
		return fmt.Errorf("keys: encryption key: %w", err)
	}
	k.aead, err = cipher.NewGCM(block)
	return err
}

// Current returns the key that signs new tokens.
func (k *Keys) Current() SigningKey { return k.Signing[0] }

// Lookup returns the signing key with the given id.
func (k *Keys) Lookup(kid string) ([]byte, bool) {
	for _, s := range k.Signing {
		if s.ID == kid {
			return s.Key, true
		}
	}
	return nil, false
}

// Seal encrypts plaintext with AES-256-GCM. purpose is authenticated but not
// stored: sealed data opens only with the same purpose, so a ciphertext cannot
// be moved from one webtask (or token) to another.
func (k *Keys) Seal(plaintext []byte, purpose string) []byte {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("keys: crypto/rand failed: " + err.Error()) // the OS RNG failing is unrecoverable
	}
	return k.aead.Seal(nonce, nonce, plaintext, []byte(purpose))
}

// Open decrypts what Seal produced for the same purpose.
func (k *Keys) Open(sealed []byte, purpose string) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n+k.aead.Overhead() {
		return nil, ErrOpen
	}
	pt, err := k.aead.Open(nil, sealed[:n], sealed[n:], []byte(purpose))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}
