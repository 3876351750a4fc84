package store

import "time"

// Webtask is one named webtask as stored.
type Webtask struct {
	// Container is the tenant the webtask belongs to.
	Container string
	// Name is the webtask's name, unique within its container.
	Name string
	// ModuleSHA256 is the lower-case hex SHA-256 of the module bytes.
	ModuleSHA256 string
	// ModuleSize is the module length in bytes. The store sets it from the
	// stored module on PutWebtask; the value passed in is ignored.
	ModuleSize int64
	// Meta is free-form metadata. An empty map is returned as nil.
	Meta map[string]string
	// Secrets are sealed (encrypted) by the host; opaque to the store.
	// An empty slice is returned as nil.
	Secrets []byte
	// Policy is the instance policy: "pool", "fresh" or "" (server default).
	// The store keeps it verbatim.
	Policy string
	// Token is the token the webtask runs with (issued by the host when it
	// was deployed); opaque to the store, kept verbatim. Stored in the same
	// record, so a deploy or a delete changes webtask and token together.
	Token string
	// Kind is what the module bytes are: KindWasm ("", as in every record
	// written before Kind existed) for a WebAssembly module, KindJS for the
	// source of a JavaScript webtask, run by the host's JavaScript engine
	// (ModuleSHA256 is then the source's hash). The store keeps it verbatim.
	Kind string
	// Created is when the webtask was first stored. PutWebtask keeps the
	// Created of a webtask it replaces and uses the current time for a new
	// webtask whose Created is zero. Stored in UTC.
	Created time.Time
	// Updated is when the webtask was last stored; PutWebtask always sets it
	// to the current time. Stored in UTC.
	Updated time.Time
	// Damaged says why the record cannot be read; every other field but
	// Container and Name is zero. Only ListWebtasks and ForEachWebtask return
	// such entries (GetWebtask returns ErrDamaged), so that callers can show
	// "this webtask is damaged, delete it". PutWebtask ignores it.
	Damaged string
}

// Kinds of module bytes (Webtask.Kind).
const (
	KindWasm = ""
	KindJS   = "js"
)

// KVPair is one entry returned by KV.KVList.
type KVPair struct {
	// Key is the entry's key within its namespace.
	Key string
	// Value is a copy of the entry's value.
	Value []byte
}

// KV is a bucket-per-namespace byte store for features that need small,
// transactional state (token revocations, webtask storage data with etags,
// cron jobs).
//
// Namespaces follow the container rules (non-empty, no NUL, no "/"); keys must
// be non-empty and may hold any bytes. Namespaces are independent of each
// other and of webtasks.
type KV interface {
	// KVGet returns a copy of the value under key in ns; ErrNotFound if absent.
	KVGet(ns, key string) ([]byte, error)
	// KVPut stores value under key in ns, replacing any previous value. A nil
	// value is stored as an empty value.
	KVPut(ns, key string, value []byte) error
	// KVDelete removes key from ns; ErrNotFound if absent.
	KVDelete(ns, key string) error
	// KVList returns the entries of ns whose key starts with prefix (all of
	// them for ""), sorted by key; an empty slice, not an error, for an
	// unknown namespace.
	KVList(ns, prefix string) ([]KVPair, error)
	// KVUpdate runs fn on the current value (nil if absent, a copy otherwise)
	// in one write transaction and stores what fn returns; nil deletes the key.
	// An error from fn aborts the transaction, changes nothing and is returned
	// as is. This is the compare-and-swap primitive (etags): writers are
	// serialised, so fn sees the value it replaces.
	//
	// fn must not call the store: it runs while the write lock is held.
	// It must not have side effects either: a backend with optimistic
	// concurrency (etcd) calls it again on the newer value when another
	// writer got in first, and stores only the last call's result.
	KVUpdate(ns, key string, fn func(cur []byte) ([]byte, error)) error
}

// Store persists webtasks, their modules and KV data. Implementations are
// safe for concurrent use and every successful write is durable when the call
// returns.
//
// Failures every method may report besides its own:
//   - ErrFull: a write found the storage full (ENOSPC, EDQUOT); nothing of it
//     is stored and the store stays usable (deleting frees room).
//   - ErrDamaged: reading the stored data failed (for Bolt: a memory fault on
//     a file truncated or damaged while open). The call did not crash the
//     process; later writes fail with ErrDamaged until the store is reopened.
//   - ErrClosed: the store is closed.
//   - ErrUnavailable: a networked backend (etcd) could not reach its
//     cluster within its timeout; a write may or may not have been stored.
//
// Error messages hold no file system paths, so they may be shown to clients.
type Store interface {
	// PutWebtask stores (creates or replaces) w and, when module is non-nil,
	// the module bytes under w.ModuleSHA256 (deduplicated: identical content is
	// stored once), in one transaction.
	// When module is nil the module must already be stored (ErrModuleNotFound
	// otherwise). When it is not nil, sha256(module) must equal w.ModuleSHA256
	// (ErrModuleHash otherwise; nothing is stored).
	// Replacing a webtask that pointed at another module releases that module,
	// which is deleted when no webtask references it any more.
	// It returns whether it created (true) or replaced (false) the webtask and
	// keeps the Created time of a replaced webtask.
	//
	// A damaged webtask (see Webtask.Damaged) can be replaced: it counts as
	// replaced, its Created time is lost (set as for a new webtask) and the
	// module it referenced cannot be released (see DeleteWebtask).
	PutWebtask(w Webtask, module []byte) (created bool, err error)
	// GetWebtask returns the webtask; ErrNotFound if absent, ErrDamaged if its
	// record cannot be read.
	GetWebtask(container, name string) (Webtask, error)
	// ListWebtasks returns the webtasks of container sorted by name; an empty
	// slice, not an error, for an unknown container. A record that cannot be
	// read does not fail the list: it is returned in its place with only
	// Container, Name and Damaged set.
	ListWebtasks(container string) ([]Webtask, error)
	// DeleteWebtask deletes the webtask and its storage document and
	// releases its module, in one transaction; ErrNotFound if
	// absent. It deletes a damaged webtask too, but cannot tell which module
	// that one referenced: the module keeps one reference too many and stays
	// stored until a garbage collection recounts references from the records.
	DeleteWebtask(container, name string) error
	// GetModule returns a copy of the module bytes; ErrModuleNotFound if absent.
	GetModule(sha256hex string) ([]byte, error)
	// ModuleRefs returns how many webtasks reference the module (0 if absent).
	// Meant for tests and garbage collection.
	ModuleRefs(sha256hex string) (int, error)
	// ForEachWebtask calls fn for every webtask of every container, ordered by
	// container then name, for startup warmup. It stops at the first error from
	// fn and returns it as is. fn runs outside any transaction, so it may call
	// the store; webtasks changed while the walk runs may or may not be seen.
	// Damaged webtasks are passed like ListWebtasks returns them (Damaged
	// set), so the walk does not stop at them.
	ForEachWebtask(fn func(Webtask) error) error
	// GetStorage returns the storage document of the webtask: the empty
	// document (Data nil, ETag EmptyETag) when it has stored nothing,
	// ErrNotFound when there is no such webtask, ErrDamaged when the
	// document's record cannot be read.
	GetStorage(container, name string) (Storage, error)
	// PutStorage replaces the storage document of the webtask with data
	// and returns its new etag. With ifMatch "" it writes whatever is
	// stored (force); otherwise ifMatch must be the stored document's etag
	// (EmptyETag while none is stored), compared in the write's
	// transaction: a *ConflictError (ErrConflict) with the stored document
	// when it is not, and nothing is stored. ErrNotFound when there is no
	// such webtask, ErrTooLarge for data over MaxStorageBytes. A damaged
	// document can be replaced only with ifMatch "".
	//
	// The document belongs to the webtask: PutWebtask keeps it,
	// DeleteWebtask deletes it in the same transaction.
	PutStorage(container, name string, data []byte, ifMatch string) (etag string, err error)
	// Close releases the store. Later calls return ErrClosed; closing twice
	// returns nil.
	Close() error

	KV
	Cron
}

// Cron stores cron jobs (see CronJob) and their run history, per container,
// independently of webtasks: a job may name a webtask that does not exist
// (yet). Methods report ErrNotFound for an unknown job and ErrDamaged for a
// job record that does not decode (DeleteCronJob still removes it, and
// ListCronJobs lists it with CronJob.Damaged set).
type Cron interface {
	// PutCronJob creates or replaces j, keeping the Created time (and the
	// history) of a job it replaces. Creating a job in a container that
	// holds maxJobs jobs already (maxJobs > 0) fails with ErrTooMany and
	// stores nothing; the count and the write are one transaction.
	PutCronJob(j CronJob, maxJobs int) (created bool, err error)
	// GetCronJob returns one job.
	GetCronJob(container, name string) (CronJob, error)
	// ListCronJobs returns the jobs of container sorted by name, a record
	// that does not decode with Damaged set; an empty slice for an unknown
	// container.
	ListCronJobs(container string) ([]CronJob, error)
	// AllCronJobs returns every job of every container, ordered by
	// container then name, for the scheduler's start.
	AllCronJobs() ([]CronJob, error)
	// UpdateCronJob runs fn on the stored job (fn nil: leaves it) and
	// appends runs to its history, dropping the oldest beyond MaxCronRuns,
	// in one transaction. An error from fn aborts it, changes nothing and
	// is returned as is. fn must not call the store and cannot rename the
	// job; like KVUpdate's, it may be called more than once.
	UpdateCronJob(container, name string, fn func(*CronJob) error, runs ...CronRun) error
	// UpdateCronJobs applies several UpdateCronJob changes in one
	// transaction (one commit for the scheduler's due jobs): errs[i] is
	// update i's own error (no such job, its fn's), and that update
	// changes nothing; err, the transaction's, means none was stored.
	UpdateCronJobs(updates []CronUpdate) (errs []error, err error)
	// DeleteCronJob deletes the job and its history in one transaction.
	DeleteCronJob(container, name string) error
	// CronRuns returns the job's history, newest first, skipping offset
	// runs and returning at most limit (all for limit <= 0).
	CronRuns(container, name string, offset, limit int) ([]CronRun, error)
}
