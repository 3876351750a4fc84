package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Keys shared by the servers of a cluster. A cluster's servers must sign
// and seal with the same keys, so the key set lives in the store they share
// (KV namespace Namespace, key SharedKey), sealed with AES-256-GCM under a
// key-encryption key (KEK) each server is given (--key-file or
// WASMTASK_KEK): a copy of the store alone reveals no key.

// Namespace and SharedKey say where the sealed key set is stored.
const (
	Namespace = "keys"
	SharedKey = "set"
)

// kekPurpose binds the sealed key set to its use.
const kekPurpose = "wasmtask key set"

// ErrKEK is returned when no key-encryption key given opens the stored key
// set: the server was given the wrong one.
var ErrKEK = errors.New("keys: the key-encryption key does not open the key set stored in the cluster")

// Updater is the store's compare-and-swap (store.KV.KVUpdate).
type Updater interface {
	KVUpdate(ns, key string, fn func(cur []byte) ([]byte, error)) error
}

// ParseKEKs reads key-encryption keys: a comma list of 32-byte keys, each
// 64 hex digits or standard base64. The first seals; the others only open
// (a rotation: see LoadOrCreateShared).
func ParseKEKs(s string) ([][]byte, error) {
	var keks [][]byte
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		k, err := hex.DecodeString(f)
		if err != nil {
			k, err = base64.StdEncoding.DecodeString(f)
		}
		if err != nil || len(k) != 32 {
			return nil, errors.New("keys: a key-encryption key is 32 bytes, written as 64 hex digits or in base64 (openssl rand -hex 32)")
		}
		keks = append(keks, k)
	}
	if len(keks) == 0 {
		return nil, errors.New("keys: no key-encryption key")
	}
	return keks, nil
}

// LoadOrCreateShared returns the key set stored in kv, opened with the
// first of keks that opens it. When none is stored, it calls mayCreate
// (an error refuses: e.g. the store holds data sealed with lost keys),
// generates a set and stores it with a compare-and-swap, so that of
// servers starting together one set wins and all use it; created reports
// whether it was this call's.
//
// Rotating the KEK: start every server with "new,old"; the first that
// opens the set with the old one re-seals it with the new one (again a
// compare-and-swap); then drop the old one from the servers' settings.
func LoadOrCreateShared(kv Updater, keks [][]byte, mayCreate func() error) (k *Keys, created bool, err error) {
	if len(keks) == 0 {
		return nil, false, errors.New("keys: no key-encryption key")
	}
	fresh, err := Generate()
	if err != nil {
		return nil, false, err
	}
	freshSealed, err := sealSet(fresh, keks[0])
	if err != nil {
		return nil, false, err
	}
	errStored := errors.New("stored")
	var stored []byte
	peek := func(cur []byte) ([]byte, error) {
		stored = cur
		return nil, errStored // read only
	}
	if err := kv.KVUpdate(Namespace, SharedKey, peek); err != nil && !errors.Is(err, errStored) {
		return nil, false, fmt.Errorf("keys: read the key set in the cluster: %w", err)
	}
	if stored == nil {
		if err := mayCreate(); err != nil {
			return nil, false, err
		}
		err = kv.KVUpdate(Namespace, SharedKey, func(cur []byte) ([]byte, error) {
			if stored = cur; cur != nil {
				return nil, errStored // another server was first: use its set
			}
			return freshSealed, nil
		})
		switch {
		case err == nil:
			return fresh, true, nil
		case !errors.Is(err, errStored):
			return nil, false, fmt.Errorf("keys: store the key set in the cluster: %w", err)
		}
	}
	for i, kek := range keks {
		k, err := openSet(stored, kek)
		if err != nil {
			continue
		}
		if i > 0 { // opened with an old KEK: re-seal with the new one
			resealed, err := sealSet(k, keks[0])
			if err != nil {
				return nil, false, err
			}
			err = kv.KVUpdate(Namespace, SharedKey, func(cur []byte) ([]byte, error) {
				if string(cur) != string(stored) {
					return cur, nil // another server did it
				}
				return resealed, nil
			})
			if err != nil {
				return nil, false, fmt.Errorf("keys: re-seal the key set: %w", err)
			}
		}
		return k, false, nil
	}
	return nil, false, ErrKEK
}

func kekAEAD(kek []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("keys: key-encryption key: %w", err)
	}
	return cipher.NewGCM(block)
}

// sealSet is the JSON of k sealed under kek.
func sealSet(k *Keys, kek []byte) ([]byte, error) {
	aead, err := kekAEAD(kek)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(k)
	if err != nil {
		return nil, err
	}
	w := &Keys{aead: aead}
	return w.Seal(b, kekPurpose), nil
}

// openSet opens what sealSet sealed.
func openSet(sealed, kek []byte) (*Keys, error) {
	aead, err := kekAEAD(kek)
	if err != nil {
		return nil, err
	}
	w := &Keys{aead: aead}
	b, err := w.Open(sealed, kekPurpose)
	if err != nil {
		return nil, err
	}
	k := &Keys{}
	if err := json.Unmarshal(b, k); err != nil {
		return nil, fmt.Errorf("keys: the key set in the cluster does not decode: %w", err)
	}
	return k, k.init()
}
