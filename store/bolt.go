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
	"sync/atomic"
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
	bktStorage  = []byte("storage")

	keyFormat = []byte("format")
)

// forEachBatch is how many webtasks ForEachWebtask reads per read transaction.
const forEachBatch = 256

// Bolt is the Store backed by a single bbolt file. It is safe for concurrent
// use; bbolt serialises writers and lets readers run in parallel.
type Bolt struct {
	db    *bolt.DB
	file  *os.File // bbolt's file, kept to release its lock if bbolt cannot (wedged)
	path  string   // as given to Open; left out of error messages
	now   func() time.Time
	batch int // webtasks per ForEachWebtask transaction; tests lower it

	closed  atomic.Bool
	damaged atomic.Bool // reading the file faulted or panicked: writes are refused (see run)
	wedged  atomic.Bool // ... and left bbolt's locks held: nothing may call bbolt
}

var _ Store = (*Bolt)(nil)

// Option configures Open.
type Option func(*config)

type config struct {
	timeout    time.Duration
	now        func() time.Time
	checkLimit int64 // largest file checkPages walks on Open; tests change it
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
//
// Open refuses a damaged file with an error wrapping ErrDamaged that says what
// is wrong and how to recover: a file shorter than the pages its meta page
// counts (truncated), one bbolt cannot parse, and, for files up to 64 MiB,
// one that fails a walk of every page and bbolt's consistency check (see
// check.go). Larger files get the size check only; a page that turns out
// missing or unreadable later makes that call fail with ErrDamaged instead of
// crashing the process. Creating a store on a full file system fails with
// ErrFull.
func Open(path string, opts ...Option) (*Bolt, error) {
	if path == "" {
		return nil, fmt.Errorf("store: open: empty path: %w", ErrInvalid)
	}
	cfg := config{timeout: DefaultTimeout, now: time.Now, checkLimit: checkLimit}
	for _, opt := range opts {
		opt(&cfg)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: open %s: create directory: %w", path, err)
	}
	b := &Bolt{path: path, now: cfg.now, batch: forEachBatch}
	bopts := &bolt.Options{
		Timeout: cfg.timeout,
		// No InitialMmapSize: a large first mapping would spare remaps as
		// the file grows, but bbolt then grows the file by AllocSize
		// (16 MiB) steps — a 16 MiB file for three webtasks — and a file
		// cut short by a crash or a bad copy may then still hold every page
		// (TestE2E_TruncatedDatabase).
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			b.file = f
			return f, err
		},
	}
	// bbolt reads the freelist page while opening, and panics if it is not
	// one: guard it too.
	err := guard(func() (err error) {
		b.db, err = bolt.Open(path, 0o600, bopts)
		return err
	})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("store: open %s: no lock after %v, is another wasmtask server using it? %w",
			path, cfg.timeout, ErrLocked)
	case isDamage(err):
		err = openErr(path, b.fileSize(), err)
		b.abandon() // bbolt's state is unknown: release the file and its lock only
		return nil, err
	case err != nil:
		return nil, openErr(path, b.fileSize(), err)
	}
	if err := b.open(path, cfg.checkLimit); err != nil {
		if b.wedged.Load() {
			b.abandon()
		} else {
			_ = b.db.Close()
		}
		return nil, err
	}
	return b, nil
}

// open checks the freshly opened file and creates the top-level buckets.
func (b *Bolt) open(path string, limit int64) error {
	what, err := b.checkFile(limit)
	if err != nil {
		return openErr(path, b.fileSize(), err)
	}
	if what != "" {
		return damagedOnOpen(path, what)
	}
	if _, err := b.run(true, initBuckets); err != nil {
		return openErr(path, b.fileSize(), err)
	}
	return nil
}

// fileSize returns the size of the open file, -1 if unknown.
func (b *Bolt) fileSize() int64 {
	if b.file == nil {
		return -1
	}
	fi, err := b.file.Stat()
	if err != nil {
		return -1
	}
	return fi.Size()
}

// abandon releases the file lock and closes the file behind bbolt's back,
// for when bbolt cannot be trusted to close it: a fault left its locks held
// or its state half-built. The memory map stays until the process exits
// (bbolt keeps its address to itself).
func (b *Bolt) abandon() {
	if b.file != nil {
		_ = unlockFile(b.file)
		_ = b.file.Close()
	}
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
	for _, name := range [][]byte{bktWebtasks, bktModules, bktRefs, bktKV, bktStorage, bktCron, bktCronRuns} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// Close closes the database file. Later calls return ErrClosed; closing twice
// returns nil. Once a fault wedged the store (see run), Close cannot let
// bbolt clean up, which would wait forever for a lock the faulted
// transaction holds: it closes the file, releasing the file lock, and returns
// an error wrapping ErrDamaged.
func (b *Bolt) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	if b.wedged.Load() {
		b.abandon()
		return fmt.Errorf("store: close: the database file faulted; closed it without bbolt's cleanup: %w", ErrDamaged)
	}
	if err := b.db.Close(); err != nil {
		return wrapIOErr("store: close", b.path, err)
	}
	return nil
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
	w.Damaged = ""
	now := b.now().UTC() // UTC also strips the monotonic reading
	err = b.update("put webtask", func(tx *bolt.Tx) error {
		var err error
		created, err = putWebtask(tx, w, module, now)
		return err
	})
	if err != nil {
		return false, err
	}
	return created, nil
}

// putWebtask is PutWebtask's transaction.
func putWebtask(tx *bolt.Tx, w Webtask, module []byte, now time.Time) (created bool, err error) {
	wts, mods, refs := tx.Bucket(bktWebtasks), tx.Bucket(bktModules), tx.Bucket(bktRefs)
	cb, err := wts.CreateBucketIfNotExists([]byte(w.Container))
	if err != nil {
		return false, fmt.Errorf("store: put webtask %q/%q: %w", w.Container, w.Name, err)
	}
	old, found := findWebtask(cb, w.Container, w.Name)
	oldOK := found && old.Damaged == "" // a damaged record's module is unknown: see DeleteWebtask

	sha := []byte(w.ModuleSHA256)
	stored, ok := lookup(mods, sha)
	switch {
	case ok:
		w.ModuleSize = int64(len(stored))
	case module == nil:
		return false, fmt.Errorf("store: put webtask %q/%q: module %s: %w",
			w.Container, w.Name, w.ModuleSHA256, ErrModuleNotFound)
	default:
		if err := mods.Put(sha, module); err != nil {
			return false, fmt.Errorf("store: put module %s: %w", w.ModuleSHA256, err)
		}
		w.ModuleSize = int64(len(module))
	}

	if !oldOK || old.ModuleSHA256 != w.ModuleSHA256 {
		if err := addRef(refs, sha, 1); err != nil {
			return false, err
		}
		if oldOK {
			if err := release(mods, refs, old.ModuleSHA256); err != nil {
				return false, err
			}
		}
	}
	if found && !oldOK {
		if err := deleteRecord(cb, w.Name); err != nil { // it may be a bucket
			return false, fmt.Errorf("store: put webtask %q/%q: replace damaged record: %w", w.Container, w.Name, err)
		}
	}

	switch {
	case oldOK:
		w.Created = old.Created
	case w.Created.IsZero():
		w.Created = now
	default:
		w.Created = w.Created.UTC()
	}
	w.Updated = now
	data, err := encodeWebtask(w)
	if err != nil {
		return false, err
	}
	if err := cb.Put([]byte(w.Name), data); err != nil {
		return false, fmt.Errorf("store: put webtask %q/%q: %w", w.Container, w.Name, err)
	}
	return !found, nil
}

// GetWebtask implements Store.
func (b *Bolt) GetWebtask(container, name string) (Webtask, error) {
	if err := checkWebtaskKey(container, name); err != nil {
		return Webtask{}, fmt.Errorf("store: get webtask: %w", err)
	}
	var w Webtask
	err := b.view("get webtask", func(tx *bolt.Tx) error {
		var found bool
		w, found = findWebtask(tx.Bucket(bktWebtasks).Bucket([]byte(container)), container, name)
		switch {
		case !found:
			return fmt.Errorf("store: get webtask %q/%q: %w", container, name, ErrNotFound)
		case w.Damaged != "":
			return damagedErr("get webtask", w)
		}
		return nil
	})
	if err != nil {
		return Webtask{}, err
	}
	return w, nil
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
			list = append(list, decodeWebtask(container, string(k), v))
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
		old, found := findWebtask(cb, container, name)
		if !found {
			return fmt.Errorf("store: delete webtask %q/%q: %w", container, name, ErrNotFound)
		}
		if err := deleteRecord(cb, name); err != nil {
			return fmt.Errorf("store: delete webtask %q/%q: %w", container, name, err)
		}
		if err := deleteStorage(tx, container, name); err != nil {
			return err
		}
		// A damaged record does not say which module it referenced: that
		// module keeps one reference too many and stays stored until a
		// garbage collection recounts the references from the records.
		if old.Damaged == "" {
			if err := release(tx.Bucket(bktModules), tx.Bucket(bktRefs), old.ModuleSHA256); err != nil {
				return err
			}
		}
		return dropIfEmpty(wts, []byte(container))
	})
}

// findWebtask returns the webtask stored under name in the container bucket
// cb (nil for an unknown container) and whether there is one. A record that
// cannot be read comes back with Damaged set (see decodeWebtask).
func findWebtask(cb *bolt.Bucket, container, name string) (Webtask, bool) {
	if cb == nil {
		return Webtask{}, false
	}
	key := []byte(name)
	k, v := cb.Cursor().Seek(key) // unlike Get, tells a nested bucket (v == nil) from nothing
	if k == nil || !bytes.Equal(k, key) {
		return Webtask{}, false
	}
	return decodeWebtask(container, name, v), true
}

// deleteRecord deletes what is stored under name in cb: a record or, in a
// damaged store, a nested bucket.
func deleteRecord(cb *bolt.Bucket, name string) error {
	key := []byte(name)
	if cb.Bucket(key) != nil {
		return cb.DeleteBucket(key)
	}
	return cb.Delete(key)
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
					batch = append(batch, decodeWebtask(string(ck), string(k), v))
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
	case len(s) > MaxKeyBytes:
		return fmt.Errorf("%s is %d bytes, more than %d: %w", what, len(s), MaxKeyBytes, ErrInvalid)
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
