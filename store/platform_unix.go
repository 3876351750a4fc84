//go:build !windows && !plan9 && !solaris && !aix && !android

package store

import (
	"os"
	"syscall"
)

// platformFullErrnos adds this platform's own "storage full" codes to
// fullErrnos; ENOSPC and EDQUOT are all there is outside Windows.
var platformFullErrnos []syscall.Errno

// unlockFile releases the lock bbolt took on f (flock, as bbolt's
// bolt_unix.go does). Closing f alone would not: bbolt's memory map holds a
// reference to the open file, and the lock lives as long as that.
func unlockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
