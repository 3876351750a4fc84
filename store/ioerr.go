package store

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"

	berrors "go.etcd.io/bbolt/errors"
)

// fullErrnos are the errors that mean "no room left": the file system is full
// or the user's quota is used up. See platform_windows.go for Windows' own codes.
var fullErrnos = append([]syscall.Errno{syscall.ENOSPC, syscall.EDQUOT}, platformFullErrnos...)

// fullErrno returns the errno in err that means the storage is full, or 0.
//
// bbolt returns the *os.PathError of a failed write with its errno in the
// chain, but formats errors from growing the file ("file resize error",
// "file sync error") with %s, which drops the chain: those are recognised by
// the errno's text.
func fullErrno(err error) syscall.Errno {
	if errors.Is(err, berrors.ErrMaxSizeReached) {
		return syscall.ENOSPC
	}
	msg := err.Error()
	for _, errno := range fullErrnos {
		if errors.Is(err, errno) || strings.Contains(msg, errno.Error()) {
			return errno
		}
	}
	return 0
}

// wrapIOErr wraps an error from bbolt with prefix, ErrClosed or ErrFull as it
// applies, and file paths left out (see pathless; dbPath is the one given to
// Open).
func wrapIOErr(prefix, dbPath string, err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("%s: %w", prefix, ErrClosed)
	}
	if errno := fullErrno(err); errno != 0 {
		var also []error
		if !errors.Is(err, errno) {
			also = append(also, errno) // lost by bbolt's %s: put it back in the chain
		}
		return fmt.Errorf("%s: %w: %w", prefix, ErrFull, pathless(err, dbPath, also...))
	}
	return fmt.Errorf("%s: %w", prefix, pathless(err, dbPath))
}

// pathless returns err with file paths left out of its message, so that it
// can reach an HTTP answer: "write /srv/data/wasmtask.db: no space left on
// device" becomes "write: no space left on device". The paths are dbPath (the
// one given to Open, which bbolt also formats into messages with %s) and that
// of every *fs.PathError in err's chain. errors.Is and errors.As see err's
// chain and the errors in also.
func pathless(err error, dbPath string, also ...error) error {
	var paths []string
	if dbPath != "" {
		paths = append(paths, dbPath)
	}
	walkErr(err, func(e error) {
		if pe, ok := e.(*fs.PathError); ok && pe.Path != "" {
			paths = append(paths, pe.Path)
		}
	})
	msg := err.Error()
	for _, p := range paths {
		msg = strings.ReplaceAll(msg, " "+p+":", ":") // "op PATH: errno"
		msg = strings.ReplaceAll(msg, p, "database file")
	}
	if msg == err.Error() && len(also) == 0 {
		return err
	}
	return &pathlessError{msg: msg, errs: append([]error{err}, also...)}
}

// pathlessError is an error with a rewritten message and the original chain.
type pathlessError struct {
	msg  string
	errs []error
}

func (e *pathlessError) Error() string   { return e.msg }
func (e *pathlessError) Unwrap() []error { return e.errs }

// walkErr calls fn for err and every error in its tree.
func walkErr(err error, fn func(error)) {
	if err == nil {
		return
	}
	fn(err)
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		walkErr(u.Unwrap(), fn)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walkErr(e, fn)
		}
	}
}
