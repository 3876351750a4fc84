package engine

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"math"
	"os"
	"path"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
)

// The memory budget caps what all instances and snapshots of an engine may
// hold together, so that no mix of tenants can make the server die of
// memory. Charged: every linear memory at its current size (as it grows,
// in Reallocate; the heap fallback at its capacity), and every snapshot
// (the bytes copy, or the memfd image, which pins memory that does not show
// in the process's RSS). Released when the memory is freed or the snapshot
// dropped.
//
// Over budget, memory.grow fails in the guest (it returns -1, as at the
// limit). Creating an instance or a snapshot first reserves its initial
// size; when the budget cannot cover it, the engine trims: it closes idle
// instances, pools used least recently first, then drops the snapshots of
// such pools, until the reservation fits. When nothing is left to trim,
// the request fails with ErrOverloaded (HTTP 503).

// memAccount is the engine's memory budget.
type memAccount struct {
	limit  int64
	used   atomic.Int64
	closed atomic.Bool // the engine is closed: see freeRegion
	// regions keeps a few freed memory regions for reuse (Linux).
	regions regionCache
}

// close marks the engine closed (see freeRegion) and unmaps the cached
// regions.
func (a *memAccount) close() {
	a.closed.Store(true)
	a.regions.flush()
}

// tryCharge charges n bytes if they fit the limit.
func (a *memAccount) tryCharge(n int64) bool {
	for {
		u := a.used.Load()
		if u+n > a.limit || u+n < u {
			return false
		}
		if a.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// charge charges n bytes whatever the limit (for what cannot fail).
func (a *memAccount) charge(n int64) { a.used.Add(n) }

// release gives back n charged bytes.
func (a *memAccount) release(n int64) { a.used.Add(-n) }

// MemoryInUse returns the bytes charged to the memory budget: the linear
// memories of live instances and the pools' snapshots.
func (e *Engine) MemoryInUse() int64 { return e.acct.used.Load() }

// reserve charges n bytes for a new instance or snapshot of self, trimming
// idle instances and snapshots of pools when the budget is short. It fails
// with ErrOverloaded.
func (e *Engine) reserve(n int64, self *Pool) error {
	if e.acct.tryCharge(n) {
		return nil
	}
	e.trimMu.Lock()
	defer e.trimMu.Unlock()
	if e.acct.tryCharge(n) { // another trim made room
		return nil
	}
	pools := e.poolsByAge()
	for _, p := range pools {
		if p.trimIdle(func() bool { return e.acct.tryCharge(n) }) {
			return nil
		}
	}
	for _, p := range pools {
		if p != self && p.trimSnapshot() && e.acct.tryCharge(n) {
			return nil
		}
	}
	return fmt.Errorf("%w: server memory budget exhausted (%d MiB in use of %d MiB, %d MiB more needed)",
		ErrOverloaded, e.acct.used.Load()>>20, e.acct.limit>>20, (n+1<<20-1)>>20)
}

// register and unregister keep the set of open pools, which trimming
// walks. Only pool creation, Close and trimming take the lock.
func (e *Engine) register(p *Pool) {
	e.poolsMu.Lock()
	e.pools[p] = struct{}{}
	e.poolsMu.Unlock()
}

func (e *Engine) unregister(p *Pool) {
	e.poolsMu.Lock()
	delete(e.pools, p)
	e.poolsMu.Unlock()
}

// poolsByAge returns the open pools, least recently used first.
func (e *Engine) poolsByAge() []*Pool {
	type aged struct {
		p    *Pool
		last int64 // read once: requests move it meanwhile
	}
	e.poolsMu.Lock()
	all := make([]aged, 0, len(e.pools))
	for p := range e.pools {
		all = append(all, aged{p, p.lastUsed.Load()})
	}
	e.poolsMu.Unlock()
	slices.SortFunc(all, func(a, b aged) int { return cmp.Compare(a.last, b.last) })
	pools := make([]*Pool, len(all))
	for i, a := range all {
		pools[i] = a.p
	}
	return pools
}

// DefaultMemoryBudget is the budget used when Config.MemoryBudget is zero:
// half of the machine's memory, the machine being the smaller of MemTotal
// and the memory limit of the process's cgroup (v2 memory.max, or v1
// memory.limit_in_bytes) — the other half is for the Go heap, compiled
// code, the page cache and the OS. Where neither can be read it is 2 GiB.
func DefaultMemoryBudget() int64 { return defaultMemoryBudget() }

var defaultMemoryBudget = sync.OnceValue(func() int64 {
	total := memTotal()
	if l := cgroupLimit(); l > 0 && (total == 0 || l < total) {
		total = l
	}
	if total <= 0 {
		return 2 << 30
	}
	return total / 2
})

// memTotal reads MemTotal from /proc/meminfo; 0 when unknown.
func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := bytes.CutPrefix(s.Bytes(), []byte("MemTotal:")); ok {
			f := bytes.Fields(rest) // "24683548 kB"
			if len(f) == 2 && string(f[1]) == "kB" {
				if kb, err := strconv.ParseInt(string(f[0]), 10, 64); err == nil {
					return kb << 10
				}
			}
		}
	}
	return 0
}

// cgroupLimit returns the tightest memory limit of the process's cgroup and
// its ancestors; 0 when there is none or it cannot be read.
func cgroupLimit() int64 {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0
	}
	var limit int64
	tighter := func(file string) {
		v, err := os.ReadFile(file)
		if err != nil {
			return
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64) // "max" fails: no limit
		if err == nil && n > 0 && n < math.MaxInt64/2 && (limit == 0 || n < limit) {
			limit = n
		}
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		// "0::/path" (v2) or "4:memory:/path" (v1)
		parts := bytes.SplitN(line, []byte(":"), 3)
		if len(parts) != 3 {
			continue
		}
		dir := string(parts[2])
		if string(parts[0]) == "0" && len(parts[1]) == 0 {
			for d := dir; ; d = path.Dir(d) {
				tighter(path.Join("/sys/fs/cgroup", d, "memory.max"))
				if d == "/" || d == "." {
					break
				}
			}
			continue
		}
		for _, c := range bytes.Split(parts[1], []byte(",")) {
			if string(c) == "memory" {
				tighter(path.Join("/sys/fs/cgroup/memory", dir, "memory.limit_in_bytes"))
				tighter("/sys/fs/cgroup/memory/memory.limit_in_bytes")
			}
		}
	}
	return limit
}
