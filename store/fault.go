package store

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// bbolt reads the database through a memory map. When the file is shorter
// than the pages it references (truncated on disk, or truncated while open),
// touching such a page raises SIGBUS (or SIGSEGV past the map), which the Go
// runtime turns into "fatal error: fault": the whole server dies. And bbolt
// panics on a page it cannot parse. Two defences:
//
//   - Open compares the file size with the high-water mark of the meta page
//     and, for files up to checkLimit, walks every page (see check.go), so a
//     damaged file is refused with ErrDamaged before serving.
//   - Every transaction runs under guard, which turns a fault, or a panic
//     raised by bbolt, into an error wrapping ErrDamaged instead of a crash.

// damage is the error guard returns for a fault or a bbolt panic; callers
// wrap it with ErrDamaged.
type damage struct{ what string }

func (d *damage) Error() string { return d.what }

// guard runs fn with debug.SetPanicOnFault on for the current goroutine, so
// that a fault on the memory map panics instead of killing the process, and
// returns such a panic, or one raised by bbolt's code (it panics on pages it
// cannot parse), as a *damage. The previous setting is restored. Other panics
// (a bug in this package or in a KVUpdate callback, a nil dereference) go on:
// they are not damage.
//
// bbolt runs a managed transaction's function on the calling goroutine and
// rolls the transaction back in a deferred call, so the panic unwinds through
// bbolt's cleanup before it reaches guard. The cost when nothing panics is a
// deferred call and two writes of a goroutine flag (BenchmarkBolt_guard).
func guard(fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		r := recover()
		if r == nil {
			return
		}
		// A fault on a mapped address reports it; a nil dereference
		// (address < 4096) is a runtime.Error without Addr.
		if _, ok := r.(interface{ Addr() uintptr }); ok {
			err = &damage{"memory fault reading the database file: a page it references is missing (truncated?)"}
			return
		}
		if panickedInBbolt() {
			err = &damage{fmt.Sprintf("bbolt cannot parse the database file: %v", r)}
			return
		}
		panic(r)
	}()
	return fn()
}

// panickedInBbolt reports whether the panic being handled was raised in
// bbolt's code. It must be called from the deferred function handling the
// panic: the panicking frames are then still on the stack, under
// runtime.gopanic.
func panickedInBbolt() bool {
	var pcs [64]uintptr
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs[:])])
	inPanic := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			inPanic = true
		case inPanic && !strings.HasPrefix(f.Function, "runtime."):
			return strings.HasPrefix(f.Function, "go.etcd.io/bbolt.") ||
				strings.HasPrefix(f.Function, "go.etcd.io/bbolt/")
		}
		if !more {
			return false
		}
	}
}

// view runs fn in a read-only transaction under guard. Errors returned by fn
// are passed through unchanged (they are already wrapped); errors from bbolt
// itself are wrapped with op.
func (b *Bolt) view(op string, fn func(*bolt.Tx) error) error {
	if err := b.usable(op, false); err != nil {
		return err
	}
	fromFn, err := b.run(false, fn)
	return b.txErr(op, fromFn, err)
}

// update is view for a durable write transaction. Errors returned by fn pass
// through unchanged (they are already wrapped, or belong to a KVUpdate
// caller); an error from bbolt's commit is wrapped with op, and with ErrFull
// when the storage is full. A failed commit is rolled back by bbolt: nothing
// of it is stored.
func (b *Bolt) update(op string, fn func(*bolt.Tx) error) error {
	if err := b.usable(op, true); err != nil {
		return err
	}
	fromFn, err := b.run(true, fn)
	return b.txErr(op, fromFn, err)
}

// run runs fn in a transaction under guard and returns bbolt's error and
// whether it is fn's. A fault (or a bbolt panic) marks the store damaged,
// which refuses writes from now on: writing pages next to missing ones would
// spread the damage. When bbolt did not finish its cleanup (the fault hit
// before the transaction began, or again in the rollback of a write, which
// rereads the freelist page) it still holds its locks, and any further call,
// Close included, would block forever: the store is then wedged.
func (b *Bolt) run(write bool, fn func(*bolt.Tx) error) (fromFn bool, err error) {
	var tx *bolt.Tx
	var fnErr error
	txFn := func(t *bolt.Tx) error {
		tx = t
		fnErr = fn(t)
		return fnErr
	}
	err = guard(func() error {
		if write {
			return b.db.Update(txFn)
		}
		return b.db.View(txFn)
	})
	if isDamage(err) {
		b.damaged.Store(true)
		if tx == nil || tx.DB() != nil {
			b.wedged.Store(true)
		}
		return false, err
	}
	return err != nil && err == fnErr, err
}

// usable refuses calls the store can no longer serve: after Close, after a
// fault left bbolt's locks held (wedged), and writes after any fault.
func (b *Bolt) usable(op string, write bool) error {
	switch {
	case b.closed.Load():
		return fmt.Errorf("store: %s: %w", op, ErrClosed)
	case b.wedged.Load():
		return fmt.Errorf("store: %s: reading the database file failed earlier and left the store unusable; stop the server and check the file: %w",
			op, ErrDamaged)
	case write && b.damaged.Load():
		return fmt.Errorf("store: %s: writes are refused since reading the database file failed; stop the server and check the file: %w",
			op, ErrDamaged)
	}
	return nil
}

// isDamage reports whether err is guard's *damage.
func isDamage(err error) bool {
	_, ok := err.(*damage)
	return ok
}

// txErr wraps an error of a transaction of op: fn's own errors pass through.
func (b *Bolt) txErr(op string, fromFn bool, err error) error {
	switch {
	case err == nil, fromFn:
		return err
	case isDamage(err):
		return fmt.Errorf("store: %s: %w: %w", op, err, ErrDamaged)
	default:
		return wrapIOErr("store: "+op, b.path, err)
	}
}
