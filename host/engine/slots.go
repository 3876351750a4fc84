package engine

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/tetratelabs/wazero/sys"
)

// A container runs at most Config.MaxRunningPerContainer guest calls at
// once (by default half the cores, at least one); its other requests wait
// for a slot until their deadline. Without it, a tenant sending many
// requests to a webtask that spins its whole time limit fills every core
// with guests that only give the CPU back at their budget checks, and
// every other tenant's request waits behind them in the Go scheduler's
// queue: 50 runaway loops in one container took the p99 of another
// container's hello from 1.8 ms to minutes. With the cap, the spinning
// container holds its slots and the rest of the cores stay free.
//
// A guest waiting on something else than the CPU gives its slot back
// while it waits — an outbound HTTP call, a sleep, a storage write — so
// the cap limits computing, not requests in flight: a webtask that calls
// a slow API still serves many requests at once.

// runSlots is one container's slots: a counting semaphore that lets a
// running goroutine take a free slot at once ("barging") rather than
// handing it to the longest waiter — until that waiter has waited
// starveAfter; then the next slot given back is handed to it. sync.Mutex
// makes the same trade.
//
// It used to be a buffered channel. Giving a slot back to a channel with a
// blocked sender hands the slot to that sender, which then holds it while
// it waits in the scheduler's run queue — on a busy 2-core machine, tens of
// µs during which no guest of the container runs and every request that
// arrives parks behind it (a convoy). With barging alone, requests that
// keep arriving kept a parked waiter out for 9-13 ms (median; up to 50 ms)
// (Test_runSlotsNoStarvation); after starveAfter it is served first.
type runSlots struct {
	mu        sync.Mutex
	held      int
	queue     []*slotWaiter // oldest first
	max       int
	starve    time.Duration // starveAfter (a test shortens or lengthens it)
	container string
}

// slotWaiter is a request waiting for a slot.
type slotWaiter struct {
	since   time.Time
	wake    chan struct{} // a slot was given back: try again, or granted
	granted bool          // a slot was handed to it (under mu)
}

// starveAfter is how long a waiter lets running requests take the slots
// before the next slot given back is handed to it.
const starveAfter = time.Millisecond

// defaultRunning is the default cap: half the cores, at least one.
func defaultRunning() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// slotsFor returns container's slots, created on first use (an entry per
// container that ever had a pool: a few dozen bytes each).
func (e *Engine) slotsFor(container string) *runSlots {
	if s, ok := e.slots.Load(container); ok {
		return s.(*runSlots)
	}
	s, _ := e.slots.LoadOrStore(container, newRunSlots(container, e.cfg.MaxRunningPerContainer))
	return s.(*runSlots)
}

func newRunSlots(container string, n int) *runSlots {
	return &runSlots{max: n, starve: starveAfter, container: container}
}

// enter takes a slot, waiting until deadline at most: ErrOverloaded when
// every slot stayed busy that long.
func (s *runSlots) enter(deadline time.Time) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	if s.held < s.max && !s.starvingLocked() {
		s.held++
		s.mu.Unlock()
		return nil
	}
	w := &slotWaiter{since: time.Now(), wake: make(chan struct{}, 1)}
	s.queue = append(s.queue, w)
	s.mu.Unlock()

	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for {
		select {
		case <-w.wake:
			s.mu.Lock()
			if w.granted {
				s.mu.Unlock()
				return nil
			}
			if s.held < s.max {
				s.held++
				s.removeLocked(w)
				s.wakeLocked() // slots given back together: one woken waiter each
				s.mu.Unlock()
				return nil
			}
			s.mu.Unlock() // taken meanwhile: wait on, keeping its place
		case <-t.C:
			s.mu.Lock()
			if w.granted { // handed one as its time ran out: pass it on
				s.leaveLocked()
			} else {
				s.removeLocked(w)
				s.wakeLocked() // it may have been woken for a free slot
			}
			s.mu.Unlock()
			return s.busy()
		}
	}
}

func (s *runSlots) busy() error {
	return fmt.Errorf("%w: container %s already runs %d requests at once (--max-running-per-container) and none finished in time; retry",
		ErrOverloaded, s.container, s.max)
}

// leave gives the slot back.
func (s *runSlots) leave() {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.leaveLocked()
	s.mu.Unlock()
}

// leaveLocked gives a slot back: to the oldest waiter if it waited
// s.starve, else to whoever takes it first, waking that waiter to try.
func (s *runSlots) leaveLocked() {
	if s.starvingLocked() {
		w := s.queue[0]
		s.removeLocked(w)
		w.granted = true
		notify(w)
		return
	}
	s.held--
	s.wakeLocked()
}

// wakeLocked wakes the oldest waiter, if a slot is free, to take it.
func (s *runSlots) wakeLocked() {
	if len(s.queue) > 0 && s.held < s.max {
		notify(s.queue[0])
	}
}

// notify wakes w (once: a wake-up not yet seen stands for the next).
func notify(w *slotWaiter) {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// starvingLocked reports whether the oldest waiter has waited s.starve:
// then slots are handed to it, not taken by whoever comes first.
func (s *runSlots) starvingLocked() bool {
	return len(s.queue) > 0 && time.Since(s.queue[0].since) >= s.starve
}

// removeLocked takes w out of the queue.
func (s *runSlots) removeLocked(w *slotWaiter) {
	for i, q := range s.queue {
		if q == w {
			s.queue = slices.Delete(s.queue, i, i+1)
			return
		}
	}
}

// away runs fn (a wait on something else than the CPU) without holding
// the call's slot, and takes one again before the guest goes on; past the
// deadline, the call stops as a timeout.
func (c *call) away(ctx interface{ Err() error }, fn func()) {
	if c.slots == nil {
		fn()
		return
	}
	c.slots.leave()
	fn()
	deadline := time.Time{}
	if rc, ok := ctx.(*reqCtx); ok && rc.deadline != 0 {
		deadline = monoTime(rc.deadline)
	}
	if deadline.IsZero() {
		deadline = time.Now().Add(time.Hour)
	}
	if c.slots.enter(deadline) != nil {
		// No slot before the deadline: give none back (the pool will not
		// leave one it does not hold) and stop as a timeout.
		c.slots = nil
		if rc, ok := ctx.(*reqCtx); ok {
			rc.expired = true
		}
		panic(sys.NewExitError(sys.ExitCodeDeadlineExceeded))
	}
}
