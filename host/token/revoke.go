package token

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmtask/wasmtask/store"
)

// NamespaceRevoked is the KV namespace of revoked token ids.
const NamespaceRevoked = "revoked"

// Revocations is the set of revoked token ids. A token is revoked when its
// own jti or any jti in its "ca" is in the set, so revoking a token revokes
// every token it issued, directly or not.
//
// The set lives in the store (namespace "revoked", one key per jti) and in
// memory: Revoke writes through to the store before it returns, and
// IsRevoked reads memory only, without locks. Entries of tokens that have
// expired are dropped when the set is loaded: their descendants expire no
// later (exp only narrows), so nothing they revoked can still be used.
//
// Safe for concurrent use.
type Revocations struct {
	kv  store.KV
	set sync.Map // jti -> struct{}
	n   atomic.Int64
	now func() time.Time
	mu  sync.Mutex // serialises Revoke
}

type revokedRecord struct {
	At  int64 `json:"at"`            // when it was revoked, Unix seconds
	Exp int64 `json:"exp,omitempty"` // the token's exp; 0: never expires
}

// OpenRevocations loads the revoked set from kv, dropping expired entries.
func OpenRevocations(kv store.KV) (*Revocations, error) {
	r := &Revocations{kv: kv, now: time.Now}
	pairs, err := kv.KVList(NamespaceRevoked, "")
	if err != nil {
		return nil, fmt.Errorf("token: load revocations: %w", err)
	}
	now := r.now().Unix()
	for _, p := range pairs {
		var rec revokedRecord
		if json.Unmarshal(p.Value, &rec) == nil && rec.Exp != 0 && rec.Exp <= now {
			_ = kv.KVDelete(NamespaceRevoked, p.Key) // best effort; retried at next start
			continue
		}
		r.add(p.Key)
	}
	return r, nil
}

// Revoke revokes the token c (and so its descendants). It is durable when it
// returns and takes effect at once. Revoking twice is not an error.
func (r *Revocations) Revoke(c *Claims) error {
	if c.ID == "" {
		return fmt.Errorf("%w: token has no id (jti)", ErrInvalid)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.set.Load(c.ID); ok {
		return nil
	}
	b, _ := json.Marshal(revokedRecord{At: r.now().Unix(), Exp: c.ExpiresAt})
	if err := r.kv.KVPut(NamespaceRevoked, c.ID, b); err != nil {
		return fmt.Errorf("token: revoke: %w", err)
	}
	r.add(c.ID)
	return nil
}

// IsRevoked reports whether c or any of its ancestors was revoked.
func (r *Revocations) IsRevoked(c *Claims) bool {
	if r.n.Load() == 0 {
		return false
	}
	if _, ok := r.set.Load(c.ID); ok {
		return true
	}
	for _, a := range c.Ancestors {
		if _, ok := r.set.Load(a); ok {
			return true
		}
	}
	return false
}

// Len returns how many token ids are in the set.
func (r *Revocations) Len() int { return int(r.n.Load()) }

// Follow applies the revocations other servers sharing the store write,
// as w delivers them, until ctx is done; a Reset re-reads the whole
// namespace (retrying every 500 ms while the store does not answer).
// Deletions are ignored: a start drops only entries of expired tokens.
func (r *Revocations) Follow(ctx context.Context, w store.Watcher) {
	for c := range w.WatchKV(ctx, NamespaceRevoked) {
		switch {
		case c.Reset:
			for r.reload() != nil {
				select {
				case <-ctx.Done():
					return
				case <-time.After(500 * time.Millisecond):
				}
			}
		case !c.Deleted:
			r.add(c.Key)
		}
	}
}

// reload adds every id stored in the namespace.
func (r *Revocations) reload() error {
	pairs, err := r.kv.KVList(NamespaceRevoked, "")
	if err != nil {
		return err
	}
	for _, p := range pairs {
		r.add(p.Key)
	}
	return nil
}

// add adds one id to the in-memory set.
func (r *Revocations) add(id string) {
	if _, loaded := r.set.LoadOrStore(id, struct{}{}); !loaded {
		r.n.Add(1)
	}
}
