//go:build linux

package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// newRegion returns a region for a memory of at most maxBytes: a cached
// one of that size, or a new reservation (MAP_NORESERVE, so it costs
// address space only until pages are touched).
func (a *memAccount) newRegion(maxBytes uint64) ([]byte, error) {
	if maxBytes == 0 {
		maxBytes = uint64(unix.Getpagesize())
	}
	if r := a.regions.get(int(maxBytes)); r != nil {
		return r, nil
	}
	return unix.Mmap(-1, 0, int(maxBytes), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
}

// freeRegion gives the region of a freed memory back: to the cache, or to
// the OS. Once the engine is closed a call may still be running in the
// memory (wazero closes every module at runtime close), so the pages are
// dropped but the range stays mapped: the call reads zeros instead of
// faulting the process.
func (a *memAccount) freeRegion(m *linearMemory) {
	switch {
	case a.closed.Load():
		_ = unix.Madvise(m.region, unix.MADV_DONTNEED)
	case m.imaged || !a.regions.put(m.region, len(m.buf)):
		_ = unix.Munmap(m.region)
	}
}

// regionCache keeps a few freed regions with their first pages resident
// and zeroed, as wasmtime's pooling allocator keeps memory resident: a new
// instance then writes to pages it already has instead of faulting fresh
// ones in from the OS. On this project's virtual machine, mapping a region,
// touching one 64 KiB page and unmapping it costs 300 µs (first touches
// fault at 20-150 µs each), reusing a cached one under 1 µs
// (BenchmarkLinearMemory): without the cache, instantiating the trivial
// guest went from 35 to 180 µs. It holds at most regionCacheMax ×
// keepResident bytes of RSS, not charged to the budget.
type regionCache struct {
	mu     sync.Mutex
	free   [][]byte
	closed bool // flushed for good
}

const (
	regionCacheMax = 16
	keepResident   = 1 << 20
)

// put zeroes the first keepResident bytes of the used part of region,
// drops the rest of it, and keeps the region, if there is room.
func (c *regionCache) put(region []byte, used int) bool {
	c.mu.Lock()
	full := c.closed || len(c.free) >= regionCacheMax
	c.mu.Unlock()
	if full {
		return false
	}
	keep := min(used, keepResident)
	if used > keep && unix.Madvise(region[keep:used], unix.MADV_DONTNEED) != nil {
		return false
	}
	clear(region[:keep])
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || len(c.free) >= regionCacheMax {
		return false
	}
	c.free = append(c.free, region)
	return true
}

// flush unmaps the cached regions and keeps no more.
func (c *regionCache) flush() {
	c.mu.Lock()
	free := c.free
	c.free, c.closed = nil, true
	c.mu.Unlock()
	for _, r := range free {
		_ = unix.Munmap(r)
	}
}

// get takes a cached region of n bytes, nil when there is none.
func (c *regionCache) get(n int) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.free) - 1; i >= 0; i-- {
		if r := c.free[i]; len(r) == n {
			c.free = slices.Delete(c.free, i, i+1)
			return r
		}
	}
	return nil
}

// reset discards every page written since the image was mapped.
func (m *linearMemory) reset() error {
	if len(m.buf) == 0 {
		return nil
	}
	return unix.Madvise(m.buf, unix.MADV_DONTNEED)
}

// memImage is a memory snapshot in a memfd, shared by every instance of a
// pool through private (copy-on-write) mappings.
type memImage struct {
	fd   *imageFD
	size int

	// view is a read-only shared mapping of the image, made with it (while
	// its descriptor is certainly open: mapped later, a concurrent close
	// could let the number be reused by another pool's image) and unmapped
	// when the image is collected; an instance resetting from it keeps the
	// image reachable.
	view []byte
}

// imageFD is the descriptor of an image, closed by whichever comes first:
// the pool dropping its snapshot (close) or the collector (a cleanup).
// Mappings keep the file alive after the descriptor is closed.
type imageFD struct{ fd atomic.Int64 }

func (f *imageFD) close() {
	if fd := f.fd.Swap(-1); fd >= 0 {
		_ = unix.Close(int(fd))
	}
}

func newMemImage(b []byte) (*memImage, error) {
	fd, err := unix.MemfdCreate("wasmtask-image", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd: %w", err)
	}
	// The file is sparse: only pages holding something are written, and
	// the holes read as zeros. A memory is mostly zeros after
	// initialisation (a stack reserved but barely used, heap not yet
	// allocated), and a hole costs the image nothing.
	if err := unix.Ftruncate(fd, int64(len(b))); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("memfd size: %w", err)
	}
	for off := 0; off < len(b); {
		for off < len(b) && zeroPage(b[off:min(off+imagePage, len(b))]) {
			off += imagePage
		}
		end := off
		for end < len(b) && !zeroPage(b[end:min(end+imagePage, len(b))]) {
			end += imagePage
		}
		for end = min(end, len(b)); off < end; {
			n, err := unix.Pwrite(fd, b[off:end], int64(off))
			if err != nil {
				unix.Close(fd)
				return nil, fmt.Errorf("memfd write: %w", err)
			}
			off += n
		}
	}
	img := &memImage{fd: &imageFD{}, size: len(b)}
	if len(b) > 0 {
		view, err := unix.Mmap(fd, 0, len(b), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("memfd view: %w", err)
		}
		img.view = view
		runtime.AddCleanup(img, func(v []byte) { _ = unix.Munmap(v) }, view)
	}
	img.fd.fd.Store(int64(fd))
	runtime.AddCleanup(img, (*imageFD).close, img.fd)
	return img, nil
}

// restoreInto puts buf (an instance's memory, at least the image's size)
// back to the image by copying back, from the image's read-only view, the
// pages the instance wrote (copyWritten; or, without pagemap, the pages
// that differ), like a copied snapshot: the pages a request wrote
// stay the instance's own and resident, so nothing faults back in at the
// next request. (madvise, reset, drops them instead; on a VM with free
// page reporting each costs ~150 µs to fault back.) Comparing costs about
// 1.7 µs per 64 KiB.
func (img *memImage) restoreInto(buf []byte) error {
	if img.size == 0 {
		clear(buf)
		return nil
	}
	if img.view == nil {
		return errors.New("image without a view")
	}
	if !copyWritten(buf[:img.size], img.view) {
		copyChanged(buf, img.view, nil)
	}
	clear(buf[img.size:])
	runtime.KeepAlive(img)
	return nil
}

// pagemap is /proc/self/pagemap, opened once (nil when it cannot be).
var pagemap = sync.OnceValue(func() *os.File {
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return nil
	}
	return f
})

// copyWritten copies src over the pages of dst (a private mapping of the
// image src views) that this process holds privately: the pages written
// since they were mapped, which the kernel's page tables show as present
// and not file-backed (or swapped). Pages never written are the image's
// own and are not read at all, so a reset neither compares nor maps them.
// It asks the kernel with one PAGEMAP_SCAN ioctl (Linux 6.7 and later),
// which returns only the written ranges, or else reads /proc/self/pagemap,
// 8 bytes a page. It reports false when neither can be used; the caller
// compares every page instead.
func copyWritten(dst, src []byte) bool {
	f := pagemap()
	if f == nil || len(dst) == 0 {
		return f != nil
	}
	if uintptr(unsafe.Pointer(&dst[0]))%imagePage != 0 {
		return false
	}
	if !noPagemapScan.Load() {
		if copyScanned(f, dst, src) {
			return true
		}
		noPagemapScan.Store(true) // an older kernel: read pagemap from now on
	}
	return copyPagemap(f, dst, src)
}

// noPagemapScan is set once the PAGEMAP_SCAN ioctl has failed.
var noPagemapScan atomic.Bool

// The PAGEMAP_SCAN ioctl (linux/fs.h): its request number, the page
// categories it tests, and its argument and result structures.
const (
	ioctlPagemapScan = 0xc0606610 // _IOWR('f', 16, struct pm_scan_arg)
	pageIsFile       = 1 << 2
	pageIsPresent    = 1 << 3
	pageIsSwapped    = 1 << 4
)

type pmScanArg struct {
	size, flags, start, end, walkEnd, vec, vecLen, maxPages   uint64
	categoryInverted, categoryMask, categoryAnyOf, returnMask uint64
}

type pageRegion struct{ start, end, categories uint64 }

// pagemapScan is one scan's argument and result buffer, kept on the heap
// (the kernel writes to the buffer through an address held in an integer)
// and reused through scans.
type pagemapScan struct {
	arg     pmScanArg
	regions [64]pageRegion
}

var scans = sync.Pool{New: func() any { return new(pagemapScan) }}

// copyScanned is copyWritten through PAGEMAP_SCAN: the ranges of dst that
// are not file-backed and are present or swapped, at most 64 ranges a
// call. It reports false when the ioctl fails, having maybe copied part.
func copyScanned(f *os.File, dst, src []byte) bool {
	s := scans.Get().(*pagemapScan)
	defer scans.Put(s)
	base := uint64(uintptr(unsafe.Pointer(&dst[0])))
	end := base + uint64(len(dst)+imagePage-1)/imagePage*imagePage
	for start := base; start < end; {
		s.arg = pmScanArg{
			size: uint64(unsafe.Sizeof(s.arg)), start: start, end: end,
			vec: uint64(uintptr(unsafe.Pointer(&s.regions[0]))), vecLen: uint64(len(s.regions)),
			categoryInverted: pageIsFile, categoryMask: pageIsFile, // not file-backed,
			categoryAnyOf: pageIsPresent | pageIsSwapped, // and present or swapped
			returnMask:    pageIsPresent | pageIsSwapped,
		}
		n, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), ioctlPagemapScan, uintptr(unsafe.Pointer(&s.arg)))
		if errno != 0 || n > uintptr(len(s.regions)) {
			return false
		}
		for _, r := range s.regions[:n] {
			if r.start < start || r.end > end || r.start > r.end {
				return false
			}
			off, e := int(r.start-base), min(int(r.end-base), len(dst))
			copy(dst[off:e], src[off:e])
		}
		if n < uintptr(len(s.regions)) || s.arg.walkEnd <= start {
			break
		}
		start = s.arg.walkEnd
	}
	runtime.KeepAlive(f)
	return true
}

// copyPagemap is copyWritten through /proc/self/pagemap.
func copyPagemap(f *os.File, dst, src []byte) bool {
	const (
		present = 1 << 63
		swapped = 1 << 62
		file    = 1 << 61
	)
	base := uintptr(unsafe.Pointer(&dst[0]))
	pages := (len(dst) + imagePage - 1) / imagePage
	var chunk [512 * 8]byte // 512 pages (2 MiB) per read
	for first := 0; first < pages; first += 512 {
		n := min(512, pages-first)
		b := chunk[:n*8]
		if k, err := f.ReadAt(b, int64(base/imagePage+uintptr(first))*8); err != nil || k != len(b) {
			return false
		}
		for i := 0; i < n; i++ {
			e := binary.LittleEndian.Uint64(b[i*8:])
			if e&swapped == 0 && (e&present == 0 || e&file != 0) {
				continue // never written: still the image's page (or none)
			}
			off := (first + i) * imagePage
			end := min(off+imagePage, len(dst))
			copy(dst[off:end], src[off:end])
		}
	}
	return true
}

// close closes the image's descriptor; instances that mapped it keep their
// mappings. The caller makes sure no mapInto runs concurrently.
func (img *memImage) close() { img.fd.close() }

// mapInto maps the image over the start of m, replacing its contents.
func (img *memImage) mapInto(m *linearMemory) error {
	if img.size == 0 {
		return nil
	}
	if img.size > len(m.region) {
		return fmt.Errorf("image of %d bytes does not fit a memory of %d", img.size, len(m.region))
	}
	fd := img.fd.fd.Load()
	if fd < 0 {
		return errors.New("image closed")
	}
	m.imaged = true // a file mapping now: not for the cache
	_, err := unix.MmapPtr(int(fd), 0, unsafe.Pointer(&m.region[0]), uintptr(img.size),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED)
	runtime.KeepAlive(img)
	return err
}

// resetSupported reports whether this platform can reset memories.
const resetSupported = true
