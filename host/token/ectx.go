package token

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// The encrypted context ("ectx") is a JSON object of strings sealed with the
// server's AES-256-GCM key (keys.Keys.Seal) and stored in the token as
// unpadded base64url. The token holder sees only ciphertext (seed 000).
//
// The additional data binds the ciphertext to the token's id and to the
// claims that decide which code may read it (ten, jtn, url, code): even
// someone who could forge signatures but not decrypt could not move a
// ciphertext into a token running their own code.

func ectxPurpose(c *Claims) string {
	code := sha256.Sum256([]byte(c.Code))
	return "wasmtask-ectx\x00" + c.ID + "\x00" + c.Containers + "\x00" + c.WebtaskName + "\x00" + c.URL + "\x00" + string(code[:])
}

// sealContext encrypts m into c.EncryptedContext. c.ID and the code claims
// must be final.
func (s *Signer) sealContext(c *Claims, m map[string]string) {
	if len(m) == 0 {
		c.EncryptedContext = ""
		return
	}
	b, _ := json.Marshal(m) // a map of strings always encodes
	c.EncryptedContext = base64.RawURLEncoding.EncodeToString(s.keys.Seal(b, ectxPurpose(c)))
}

// OpenContext decrypts the token's secrets; nil when it has none. Errors wrap
// ErrInvalid: a ciphertext that does not open means a tampered or forged
// token, and the message says no more than that.
func (s *Signer) OpenContext(c *Claims) (map[string]string, error) {
	if c.EncryptedContext == "" {
		return nil, nil
	}
	sealed, err := base64.RawURLEncoding.DecodeString(c.EncryptedContext)
	if err != nil {
		return nil, fmt.Errorf("%w: encrypted context (ectx) is not base64url", ErrInvalid)
	}
	pt, err := s.keys.Open(sealed, ectxPurpose(c))
	if err != nil {
		return nil, fmt.Errorf("%w: encrypted context (ectx) cannot be decrypted", ErrInvalid)
	}
	var m map[string]string
	if err := json.Unmarshal(pt, &m); err != nil {
		return nil, fmt.Errorf("%w: encrypted context (ectx) is not an object of strings", ErrInvalid)
	}
	return m, nil
}
