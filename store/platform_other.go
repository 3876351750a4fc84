//go:build plan9 || solaris || aix || android

package store

import (
	"os"
	"syscall"
)

// platformFullErrnos adds this platform's own "storage full" codes to
// fullErrnos; there are none beyond ENOSPC and EDQUOT.
var platformFullErrnos []syscall.Errno

// unlockFile does nothing here: bbolt locks with fcntl on these systems, and
// closing the file does not release that lock while bbolt's memory map holds
// the file. It is released when the process exits.
func unlockFile(*os.File) error { return nil }
