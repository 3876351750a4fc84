package store

import (
	"os"
	"syscall"

	"golang.org/x/sys/windows"
)

// platformFullErrnos adds Windows' "disk full" codes to fullErrnos: its
// syscall.ENOSPC and EDQUOT are values Go invented, which the file API never
// returns.
var platformFullErrnos = []syscall.Errno{windows.ERROR_DISK_FULL, windows.ERROR_HANDLE_DISK_FULL}

// unlockFile releases the lock bbolt took on f: the byte range -1..0, as
// bbolt's bolt_windows.go locks it.
func unlockFile(f *os.File) error {
	const m1 = (1 << 32) - 1 // -1 in a uint32
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, &windows.Overlapped{Offset: m1, OffsetHigh: m1})
}
