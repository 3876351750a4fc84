package engine

import (
	"github.com/tetratelabs/wazero/experimental"
)

// Every instance's linear memory comes from memAllocator, whatever the
// policy. wazero's own memory is a Go []byte that memory.grow reallocates
// and copies (append, about 1.25× each time), leaving the old buffer to the
// collector. A guest growing page by page to a 128 MiB limit made the Go
// heap peak at 535 MiB (the live buffer, the one being copied, and the
// older ones waiting for a cycle that GOGC=100 starts only at twice the
// live heap) and the process keep 513 MiB of RSS: the runtime returns
// freed heap to the OS only as its background scavenger gets to it (after
// a GC the live heap was 143 MiB, RSS still 513 MiB). A pooled instance
// kept its 1.25×-capacity buffer besides. Here, on Linux, a memory is a
// region of its own reserved at the maximum size (mmap MAP_NORESERVE:
// address space, no memory) that growth only lengthens: nothing is copied,
// RSS is the pages the guest touched, and freeing the instance returns
// them to the OS at once (munmap), or keeps a few small regions for reuse
// (regionCache, memory_linux.go). Every byte is also charged to the
// engine's memory budget (budget.go), so memory.grow fails (returns -1 to
// the guest) when the server is full.

// memAllocator creates the linear memory of one instantiation and remembers
// it. reserved is what the pool charged to the budget before instantiating
// (the memory's initial size): the memory takes it over, so the initial
// allocation, which wazero does not let fail, is already paid for.
type memAllocator struct {
	acct     *memAccount
	reserved int64
	mem      *linearMemory
}

// Allocate implements experimental.MemoryAllocator. capBytes is the initial
// size (wazero's capacity defaults to the minimum), maxBytes the limit.
func (a *memAllocator) Allocate(capBytes, maxBytes uint64) experimental.LinearMemory {
	m := &linearMemory{acct: a.acct, max: maxBytes, charged: a.reserved}
	a.reserved = 0
	if extra := int64(capBytes) - m.charged; extra > 0 { // cannot fail here: wazero would panic
		a.acct.charge(extra)
		m.charged += extra
	}
	if region, err := a.acct.newRegion(maxBytes); err == nil {
		m.region = region
	}
	a.mem = m
	return m
}

// release gives back what the allocator still holds: the reservation when
// no memory was created, the memory when instantiation failed after
// creating it (wazero frees memories only of modules it returns).
func (a *memAllocator) release() {
	if a.reserved > 0 {
		a.acct.release(a.reserved)
		a.reserved = 0
	}
	if a.mem != nil {
		a.mem.Free()
	}
}

// linearMemory is the memory of one instance. On Linux it lives in region,
// reserved at the maximum size so its address never moves: the snapshot
// image can be mapped copy-on-write over its start, and one
// madvise(MADV_DONTNEED) resets it (see reset). Where no region could be
// reserved it is an ordinary growing slice, which cannot be reset.
type linearMemory struct {
	acct    *memAccount
	max     uint64
	charged int64  // bytes charged to the budget
	region  []byte // the reserved range; nil on the heap fallback
	buf     []byte // the current memory
	imaged  bool   // a snapshot image is mapped over the region's start
	freed   bool
}

// Reallocate implements experimental.LinearMemory. Growth is charged to the
// budget first; nil (memory.grow returns -1) when the limit or the budget
// does not allow it.
func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > m.max || m.freed {
		return nil
	}
	if m.region != nil {
		if !m.chargeTo(int64(size)) {
			return nil
		}
		m.buf = m.region[:size:size]
		return m.buf
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	// The fallback pays for its capacity: what the Go heap really holds.
	newCap := min(max(size, 2*uint64(cap(m.buf))), m.max)
	if !m.chargeTo(int64(newCap)) {
		return nil
	}
	nb := make([]byte, size, newCap)
	copy(nb, m.buf)
	m.buf = nb
	return nb
}

// chargeTo makes the memory's charge at least n bytes.
func (m *linearMemory) chargeTo(n int64) bool {
	if d := n - m.charged; d > 0 {
		if !m.acct.tryCharge(d) {
			return false
		}
		m.charged = n
	}
	return true
}

// Free implements experimental.LinearMemory: the pages go back to the OS
// and their bytes back to the budget. It is idempotent.
func (m *linearMemory) Free() {
	if m.freed {
		return
	}
	m.freed = true
	if m.region != nil {
		m.acct.freeRegion(m)
	}
	m.region, m.buf = nil, nil
	m.acct.release(m.charged)
	m.charged = 0
}

// resettable reports whether the memory can be reset and take an image.
func (m *linearMemory) resettable() bool { return m != nil && m.region != nil }
