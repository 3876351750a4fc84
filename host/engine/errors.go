package engine

import "errors"

// Sentinel errors. Callers match them with errors.Is; the wrapped message
// carries the detail meant for the user.
var (
	// ErrInvalidModule: the bytes are not a valid Wasm module.
	ErrInvalidModule = errors.New("invalid wasm module")
	// ErrABIVersion: the module targets another version of the host ABI.
	ErrABIVersion = errors.New("unsupported ABI version")
	// ErrUnknownImport: the module imports something the host does not offer.
	ErrUnknownImport = errors.New("unknown import")
	// ErrMissingExport: the module lacks an export the ABI requires.
	ErrMissingExport = errors.New("missing export")
	// ErrInit: instantiating the module (or running _initialize) failed.
	ErrInit = errors.New("module failed to start")
	// ErrTimeout: the request ran past the wall-time limit.
	ErrTimeout = errors.New("wall-time limit exceeded")
	// ErrTrap: the guest trapped (a Wasm trap, a Go panic, an ABI violation).
	ErrTrap = errors.New("webtask trapped")
	// ErrExit: the guest called proc_exit with a non-zero code.
	ErrExit = errors.New("webtask exited")
	// ErrNoResponse: wt_handle returned non-zero without responding.
	ErrNoResponse = errors.New("webtask failed without responding")
	// ErrOverloaded: the server cannot take the work now (its memory budget
	// is spent, or every compile slot is busy); try again later.
	ErrOverloaded = errors.New("server overloaded")
	// ErrClosed: the pool or engine was closed.
	ErrClosed = errors.New("engine closed")
)
