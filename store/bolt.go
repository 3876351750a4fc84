package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DefaultTimeout is how long Open waits for the file lock before failing with
// ErrLocked. It is short so that a second server started on the same file
// fails fast instead of hanging.
const DefaultTimeout = time.Second

// formatMarker identifies a bbolt file written by this package; Open refuses
// files with another marker and non-empty files without one.
const formatMarker = "wasmtask-store/1"

// Top-level buckets; the layout is described in the package documentation.
var (
	bktMeta     = []byte("meta")
	bktWebtasks = []byte("webtasks")
	bktModules  = []byte("modules")
	bktRefs     = []byte("refs")
	bktKV       = []byte("kv")

	keyFormat = []byte("format")
)

// forEachBatch is how many webtasks ForEachWebtask reads per read transaction.
const forEachBatch = 256

// Bolt is the Store backed by a single bbolt file. It is safe for concurrent
// use; bbolt serialises writers and lets readers run in parallel.
type Bolt struct {
	db    *bolt.DB
	now   func() time.Time
	batch int // webtasks per ForEachWebtask transaction; tests lower it
}

var _ Store = (*Bolt)(nil)

// Option configures Open.
type Option func(*config)

type config struct {
	timeout time.Duration
	now     func() time.Time
}

// WithTimeout sets how long Open waits for the file lock (DefaultTimeout if
// not given). A d <= 0 keeps the default: bbolt would otherwise wait forever.
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithClock sets the clock used for Created and Updated (time.Now if not
// given); tests use it for deterministic timestamps. A nil now keeps time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// Open opens, or creates, the store at path. It creates the parent directory
// with mode 0700 and the file with mode 0600 when they do not exist. When
// another process (or another Open in this process) holds the file, it fails
// after the lock timeout with an error wrapping ErrLocked.
func Open(path string, opts ...Option) (*Bolt, error) {
	if path == "" {
		return nil, fmt.Errorf("store: open: empty path: %w", ErrInvalid)
	}
	cfg := config{timeout: DefaultTimeout, now: time.Now}
	for _, opt := range opts {
		opt(&cfg)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: open %s: create directory: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: cfg.timeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("store: open %s: no lock after %v, is another wasmtask server using it? %w",
			path, cfg.timeout, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := db.Update(initBuckets); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return &Bolt{db: db, now: cfg.now, batch: forEachBatch}, nil
}

// initBuckets checks the format marker and creates the top-level buckets.
func initBuckets(tx *bolt.Tx) error {
	if meta := tx.Bucket(bktMeta); meta != nil {
		if got := meta.Get(keyFormat); string(got) != formatMarker {
			return fmt.Errorf("unsupported store format %q, want %q", got, formatMarker)
		}
	} else {
		if k, _ := tx.Cursor().First(); k != nil {
			return errors.New("not a wasmtask store: database has data but no format marker")
		}
		meta, err := tx.CreateBucket(bktMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keyFormat, []byte(formatMarker)); err != nil {
			return err
		}
	}
	for _, name := range [][]byte{bktWebtasks, bktModules, bktRefs, bktKV} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// Close closes the database file. Later calls return ErrClosed; closing twice
// returns nil.
func (b *Bolt) Close() error {
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// update runs fn in a durable write transaction. Errors returned by fn are
// passed through unchanged (they are already wrapped, or belong to a KVUpdate
// caller); errors from bbolt itself are wrapped with op.
func (b *Bolt) update(op string, fn func(*bolt.Tx) error) error {
	var fnErr error
	err := b.db.Update(func(tx *bolt.Tx) error {
		fnErr = fn(tx)
		return fnErr
	})
	return b.txErr(op, err, fnErr)
}

// view is update for read-only transactions.
func (b *Bolt) view(op string, fn func(*bolt.Tx) error) error {
	var fnErr error
	err := b.db.View(func(tx *bolt.Tx) error {
		fnErr = fn(tx)
		return fnErr
	})
	return b.txErr(op, err, fnErr)
}

func (b *Bolt) txErr(op string, err, fnErr error) error {
	switch {
	case err == nil:
		return nil
	case fnErr != nil && err == fnErr:
		return err
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return fmt.Errorf("store: %s: %w", op, ErrClosed)
	default:
		return fmt.Errorf("store: %s: %w", op, err)
	}
}

// PutWebtask implements Store. It sets w.ModuleSize from the stored module,
// w.Updated to now and w.Created as documented on Webtask.
func (b *Bolt) PutWebtask(w Webtask, module []byte) (created bool, err error) {
	if err := checkWebtaskKey(w.Container, w.Name); err != nil {
		return false, fmt.Errorf("store: put webtask: %w", err)
	}
	if err := checkSHA(w.ModuleSHA256); err != nil {
		return false, fmt.Errorf("store: put webtask %q/%q: %w", w.Container, w.Name, err)
	}
	if module != nil {
		sum := sha256.Sum256(module)
		if got := hex.EncodeToString(sum[:]); got != w.ModuleSHA256 {
			return false, fmt.Errorf("store: put webtask %q/%q: module hashes to %s, not %s: %w",
				w.Container, w.Name, got, w.ModuleSHA256, ErrModuleHash)
		}
	}
	now := b.now().UTC() // UTC also strips the monotonic reading

	err = b.update("put webtask", func(tx *bolt.Tx) error {
		wts, mods, refs := tx.Bucket(bktWebtasks), tx.Bucket(bktModules), tx.Bucket(bktRefs)
		cb, err := wts.CreateBucketIfNotExists([]byte(w.Container))
		if err != nil {
			return fmt.Errorf("store: put webtask %q/%q: %w", w.Container, w.Name, err)
		}
		key := []byte(w.Name)
		var old *Webtask
		if v := cb.Get(key); v != nil {
			o, err := decodeWebtask(w.Container, w.Name, v)
			if err != nil {
				return err
			}
			old = &o
		}

		sha := []byte(w.ModuleSHA256)
		stored, ok := lookup(mods, sha)
		switch {
		case ok:
			w.ModuleSize = int64(len(stored))
		case module == nil:
			return fmt.Errorf("store: put webtask %q/%q: module %s: %w",
				w.Container, w.Name, w.ModuleSHA256, ErrModuleNotFound)
		default:
			if err := mods.Put(sha, module); err != nil {
				return fmt.Errorf("store: put module %s: %w", w.ModuleSHA256, err)
			}
			w.ModuleSize = int64(len(module))
		}

		if old == nil || old.ModuleSHA256 != w.ModuleSHA256 {
			if err := addRef(refs, sha, 1); err != nil {
				return err
			}
			if old != nil {
				if err := release(mods, refs, old.ModuleSHA256); err != nil {
					return err
				}
			}
		}

		switch {
		case old != nil:
			w.Created = old.Created
		case w.Created.IsZero():
			w.Created = now
		default:
			w.Created = w.Created.UTC()
		}
		w.Updated = now
		data, err := encodeWebtask(w)
		if err != nil {
			return err
		}
		if err := cb.Put(key, data); err != nil {
			return fmt.Errorf("store: put webtask %q/%q: %w", w.Container, w.Name, err)
		}
		created = old == nil
		return nil
	})
	if err != nil {
		return false, err
	}
	return created, nil
}

// GetWebtask implements Store.
func (b *Bolt) GetWebtask(container, name string) (Webtask, error) {
	if err := checkWebtaskKey(container, name); err != nil {
		return Webtask{}, fmt.Errorf("store: get webtask: %w", err)
	}
	var w Webtask
	err := b.view("get webtask", func(tx *bolt.Tx) error {
		var v []byte
		if cb := tx.Bucket(bktWebtasks).Bucket([]byte(container)); cb != nil {
			v = cb.Get([]byte(name))
		}
		if v == nil {
			return fmt.Errorf("store: get webtask %q/%q: %w", container, name, ErrNotFound)
		}
		var err error
		w, err = decodeWebtask(container, name, v)
		return err
	})
	return w, err
}

// ListWebtasks implements Store.
func (b *Bolt) ListWebtasks(container string) ([]Webtask, error) {
	if err := checkName("container", container); err != nil {
		return nil, fmt.Errorf("store: list webtasks: %w", err)
	}
	list := []Webtask{}
	err := b.view("list webtasks", func(tx *bolt.Tx) error {
		cb := tx.Bucket(bktWebtasks).Bucket([]byte(container))
		if cb == nil {
			return nil
		}
		c := cb.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			w, err := decodeWebtask(container, string(k), v)
			if err != nil {
				return err
			}
			list = append(list, w)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return list, nil
}

// DeleteWebtask implements Store.
func (b *Bolt) DeleteWebtask(container, name string) error {
	if err := checkWebtaskKey(container, name); err != nil {
		return fmt.Errorf("store: delete webtask: %w", err)
	}
	return b.update("delete webtask", func(tx *bolt.Tx) error {
		wts := tx.Bucket(bktWebtasks)
		cb := wts.Bucket([]byte(container))
		var v []byte
		if cb != nil {
			v = cb.Get([]byte(name))
		}
		if v == nil {
			return fmt.Errorf("store: delete webtask %q/%q: %w", container, name, ErrNotFound)
		}
		old, err := decodeWebtask(container, name, v)
		if err != nil {
			return err
		}
		if err := cb.Delete([]byte(name)); err != nil {
			return fmt.Errorf("store: delete webtask %q/%q: %w", container, name, err)
		}
		if err := release(tx.Bucket(bktModules), tx.Bucket(bktRefs), old.ModuleSHA256); err != nil {
			return err
		}
		return dropIfEmpty(wts, []byte(container))
	})
}

// GetModule implements Store.
func (b *Bolt) GetModule(sha256hex string) ([]byte, error) {
	if err := checkSHA(sha256hex); err != nil {
		return nil, fmt.Errorf("store: get module: %w", err)
	}
	var module []byte
	err := b.view("get module", func(tx *bolt.Tx) error {
		v, ok := lookup(tx.Bucket(bktModules), []byte(sha256hex))
		if !ok {
			return fmt.Errorf("store: get module %s: %w", sha256hex, ErrModuleNotFound)
		}
		module = clone(v)
		return nil
	})
	return module, err
}

// ModuleRefs implements Store.
func (b *Bolt) ModuleRefs(sha256hex string) (int, error) {
	if err := checkSHA(sha256hex); err != nil {
		return 0, fmt.Errorf("store: module refs: %w", err)
	}
	var n uint64
	err := b.view("module refs", func(tx *bolt.Tx) error {
		n = getRef(tx.Bucket(bktRefs), []byte(sha256hex))
		return nil
	})
	return int(n), err
}

// ForEachWebtask implements Store. It reads the webtasks in batches, each in
// its own read transaction, and calls fn between transactions: a long walk
// never pins old pages, and fn may use the store (even write to it) without
// deadlocking against bbolt's remap lock.
func (b *Bolt) ForEachWebtask(fn func(Webtask) error) error {
	var afterC, afterN []byte // last webtask handed to fn; nil before the first batch
	batch := make([]Webtask, 0, b.batch)
	for {
		batch = batch[:0]
		err := b.view("for each webtask", func(tx *bolt.Tx) error {
			wts := tx.Bucket(bktWebtasks)
			rc := wts.Cursor()
			ck, _ := rc.First()
			if afterC != nil {
				ck, _ = rc.Seek(afterC)
			}
			for ; ck != nil && len(batch) < b.batch; ck, _ = rc.Next() {
				cb := wts.Bucket(ck)
				if cb == nil {
					continue
				}
				c := cb.Cursor()
				k, v := c.First()
				if afterC != nil && bytes.Equal(ck, afterC) {
					// Resume after the last name seen; it may have been deleted since.
					if k, v = c.Seek(afterN); k != nil && bytes.Equal(k, afterN) {
						k, v = c.Next()
					}
				}
				for ; k != nil && len(batch) < b.batch; k, v = c.Next() {
					w, err := decodeWebtask(string(ck), string(k), v)
					if err != nil {
						return err
					}
					batch = append(batch, w)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, w := range batch {
			if err := fn(w); err != nil {
				return err
			}
		}
		if len(batch) < b.batch {
			return nil
		}
		last := batch[len(batch)-1]
		afterC, afterN = []byte(last.Container), []byte(last.Name)
	}
}

// addRef adds delta to the reference count of sha, deleting the counter when
// it reaches zero.
func addRef(refs *bolt.Bucket, sha []byte, delta int) error {
	n := int64(getRef(refs, sha)) + int64(delta)
	if n <= 0 {
		if err := refs.Delete(sha); err != nil {
			return fmt.Errorf("store: release module %s: %w", sha, err)
		}
		return nil
	}
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(n))
	if err := refs.Put(sha, buf[:]); err != nil {
		return fmt.Errorf("store: reference module %s: %w", sha, err)
	}
	return nil
}

func getRef(refs *bolt.Bucket, sha []byte) uint64 {
	v := refs.Get(sha)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// release drops one reference to the module and deletes the module when no
// webtask references it any more.
func release(mods, refs *bolt.Bucket, shaHex string) error {
	sha := []byte(shaHex)
	if err := addRef(refs, sha, -1); err != nil {
		return err
	}
	if getRef(refs, sha) > 0 {
		return nil
	}
	if err := mods.Delete(sha); err != nil {
		return fmt.Errorf("store: delete module %s: %w", shaHex, err)
	}
	return nil
}

// dropIfEmpty deletes the nested bucket name of parent when it has no keys, so
// that an emptied container or namespace leaves nothing behind.
func dropIfEmpty(parent *bolt.Bucket, name []byte) error {
	nb := parent.Bucket(name)
	if nb == nil {
		return nil
	}
	if k, _ := nb.Cursor().First(); k != nil {
		return nil
	}
	if err := parent.DeleteBucket(name); err != nil {
		return fmt.Errorf("store: drop empty bucket %q: %w", name, err)
	}
	return nil
}

// lookup reports whether key exists in b and returns its value. Unlike
// Bucket.Get it tells an empty value from an absent key. The value is bbolt
// memory, valid only inside the transaction.
func lookup(b *bolt.Bucket, key []byte) ([]byte, bool) {
	k, v := b.Cursor().Seek(key)
	if k == nil || !bytes.Equal(k, key) {
		return nil, false
	}
	return v, true
}

// clone copies v out of bbolt memory; the result is never nil.
func clone(v []byte) []byte {
	return append(make([]byte, 0, len(v)), v...)
}

// checkWebtaskKey validates the container and name of a webtask.
func checkWebtaskKey(container, name string) error {
	if err := checkName("container", container); err != nil {
		return err
	}
	return checkName("name", name)
}

// checkName rejects what the key layout cannot hold: empty strings, NUL, "/"
// and strings longer than a bbolt key. Anything else is the host's business.
func checkName(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty %s: %w", what, ErrInvalid)
	case strings.ContainsAny(s, "\x00/"):
		return fmt.Errorf("%s %q contains NUL or \"/\": %w", what, s, ErrInvalid)
	case len(s) > bolt.MaxKeySize:
		return fmt.Errorf("%s is %d bytes, more than %d: %w", what, len(s), bolt.MaxKeySize, ErrInvalid)
	}
	return nil
}

// checkSHA requires 64 lower-case hex digits.
func checkSHA(s string) error {
	if len(s) != 2*sha256.Size {
		return fmt.Errorf("module sha256 %q is not 64 hex digits: %w", s, ErrInvalid)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("module sha256 %q is not lower-case hex: %w", s, ErrInvalid)
		}
	}
	return nil
}
