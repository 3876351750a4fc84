package store

import "errors"

// Sentinel errors. Methods wrap them with a "store: " prefix and context, so
// compare with errors.Is, never with ==.
//
// Messages never hold a file system path, except those of Open, which may
// name the path given to it (the operator's own, printed at startup): errors
// of the other methods may end up in an HTTP answer.
var (
	// ErrNotFound is returned when a webtask or a key/value entry does not exist.
	ErrNotFound = errors.New("not found")

	// ErrModuleNotFound is returned when a module with the given SHA-256 is not
	// stored, including by PutWebtask called with a nil module for an unknown hash.
	ErrModuleNotFound = errors.New("module not found")

	// ErrModuleHash is returned by PutWebtask when the SHA-256 of the module
	// bytes differs from Webtask.ModuleSHA256.
	ErrModuleHash = errors.New("module hash mismatch")

	// ErrInvalid is returned for arguments the store cannot key on: empty
	// container, name, namespace or key, a container, name or namespace
	// containing NUL or "/", a key longer than the backend allows, or a module
	// hash that is not 64 lower-case hex digits.
	ErrInvalid = errors.New("invalid argument")

	// ErrLocked is returned by Open when another process (or another Open in
	// this process) holds the database file.
	ErrLocked = errors.New("database is locked by another process")

	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("store is closed")

	// ErrDamaged is returned when stored data cannot be read:
	//   - by Open for a file that is truncated (shorter than the pages its meta
	//     page says it holds), is not a bbolt file, or fails the consistency
	//     check Open runs on files up to 64 MiB; the message says what is wrong
	//     and how to recover (restore the file from a backup, inspect it with
	//     bbolt check);
	//   - by any method whose read of the file faulted (the file was truncated
	//     or damaged while open); from then on writes are refused with
	//     ErrDamaged until the store is reopened, reads are still tried;
	//   - by GetWebtask for a single record that does not decode (ListWebtasks
	//     and ForEachWebtask report such a record in Webtask.Damaged instead).
	ErrDamaged = errors.New("database damaged")

	// ErrFull is returned by a write that failed because the file system is
	// full or the user's disk quota is exhausted (ENOSPC, EDQUOT). The write
	// is rolled back: nothing of it is stored. The underlying error (a
	// syscall.Errno) is wrapped too.
	ErrFull = errors.New("storage full")

	// ErrConflict is returned by PutStorage when the etag given is not the
	// stored document's; the error is a *ConflictError carrying that
	// document. Nothing is stored.
	ErrConflict = errors.New("etag does not match the stored document")

	// ErrTooLarge is returned by PutStorage for data over MaxStorageBytes.
	ErrTooLarge = errors.New("too large")

	// ErrTooMany is returned by PutCronJob creating a job in a container
	// that already holds as many jobs as the caller allows. Nothing is
	// stored.
	ErrTooMany = errors.New("too many")

	// ErrUnavailable is returned by a backend on a network (the etcd
	// store) when it cannot reach a working cluster within its per-call
	// timeout: no endpoint answers, the cluster has no leader or lost its
	// quorum. A write that fails so may or may not have been stored (the
	// answer was lost); every write of the store is safe to retry. The
	// store stays usable and recovers on its own when the cluster is back.
	ErrUnavailable = errors.New("store unavailable")
)
