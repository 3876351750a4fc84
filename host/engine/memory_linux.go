//go:build linux

package engine

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tetratelabs/wazero/experimental"
)

// linearMemory is a Wasm linear memory in a region of its own, reserved at
// the memory's maximum size so its address never moves. Two things follow:
// the snapshot image can be mapped copy-on-write over its start, and one
// madvise(MADV_DONTNEED) resets it — the kernel drops exactly the pages the
// request touched, and they read back as the image (or zero) afterwards.
type linearMemory struct {
	region []byte
	size   uint64
}

// Reallocate implements experimental.LinearMemory.
func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.region)) {
		return nil
	}
	m.size = size
	return m.region[:size:size]
}

// Free implements experimental.LinearMemory.
func (m *linearMemory) Free() { _ = unix.Munmap(m.region) }

// reset discards every page written since the image was mapped.
func (m *linearMemory) reset() error {
	if m.size == 0 {
		return nil
	}
	return unix.Madvise(m.region[:m.size], unix.MADV_DONTNEED)
}

// heapMemory is the fallback when a region cannot be reserved: an ordinary
// growing slice, not resettable.
type heapMemory struct{ buf []byte }

func (m *heapMemory) Reallocate(size uint64) []byte {
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	nb := make([]byte, size, size*2)
	copy(nb, m.buf)
	m.buf = nb
	return nb
}

func (m *heapMemory) Free() {}

// memAllocator creates the memory of one instantiation and remembers it.
type memAllocator struct {
	mem *linearMemory
}

// Allocate implements experimental.MemoryAllocator.
func (a *memAllocator) Allocate(_, max uint64) experimental.LinearMemory {
	if max == 0 {
		max = uint64(unix.Getpagesize())
	}
	region, err := unix.Mmap(-1, 0, int(max), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return &heapMemory{}
	}
	a.mem = &linearMemory{region: region}
	return a.mem
}

// memImage is a memory snapshot in a memfd, shared by every instance of a
// pool through private (copy-on-write) mappings.
type memImage struct {
	fd   int
	size int
}

func newMemImage(b []byte) (*memImage, error) {
	fd, err := unix.MemfdCreate("wasmtask-image", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd: %w", err)
	}
	for off := 0; off < len(b); {
		n, err := unix.Pwrite(fd, b[off:], int64(off))
		if err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("memfd write: %w", err)
		}
		off += n
	}
	img := &memImage{fd: fd, size: len(b)}
	// Mappings keep the file alive; the descriptor goes with the image.
	runtime.AddCleanup(img, func(fd int) { _ = unix.Close(fd) }, fd)
	return img, nil
}

// mapInto maps the image over the start of m, replacing its contents.
func (img *memImage) mapInto(m *linearMemory) error {
	if img.size == 0 {
		return nil
	}
	if img.size > len(m.region) {
		return fmt.Errorf("image of %d bytes does not fit a memory of %d", img.size, len(m.region))
	}
	_, err := unix.MmapPtr(img.fd, 0, unsafe.Pointer(&m.region[0]), uintptr(img.size),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED)
	return err
}

// resetSupported reports whether this platform can reset memories.
const resetSupported = true
