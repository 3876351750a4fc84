package store

import "errors"

// Sentinel errors. Methods wrap them with a "store: " prefix and context, so
// compare with errors.Is, never with ==.
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
)
