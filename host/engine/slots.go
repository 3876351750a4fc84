package engine

import (
	"fmt"
	"runtime"
	"sync/atomic"
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
// handing it to the longest waiter.
//
// It used to be a buffered channel. Giving a slot back to a channel with a
// blocked sender hands the slot to that sender, which then holds it while
// it waits in the scheduler's run queue — on a busy 2-core machine, tens of
// µs during which no guest of the container runs and every other request
// that arrives parks behind it (a convoy): a JavaScript webtask's fresh
// requests topped out at ~20k/s, one per ~50 µs, for a call of ~21 µs.
// Here a slot given back is free at once; a waiter is only woken to try
// again. A waiter may lose to a request that arrives while it wakes; it
// still gets a slot or its deadline, as before.
type runSlots struct {
	held      atomic.Int32  // slots taken
	waiting   atomic.Int32  // goroutines in enter's slow path
	wake      chan struct{} // a token per slot given back while some wait
	max       int32
	container string
}

// defaultRunning is the default cap: half the cores, at least one.
func defaultRunning() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// slotsFor returns container's slots, created on first use (an entry per
// container that ever had a pool: a few dozen bytes each).
func (e *Engine) slotsFor(container string) *runSlots {
	if s, ok := e.slots.Load(container); ok {
		return s.(*runSlots)
	}
	n := e.cfg.MaxRunningPerContainer
	s, _ := e.slots.LoadOrStore(container, &runSlots{wake: make(chan struct{}, n), max: int32(n), container: container})
	return s.(*runSlots)
}

// take takes a free slot if there is one.
func (s *runSlots) take() bool {
	for {
		n := s.held.Load()
		if n >= s.max {
			return false
		}
		if s.held.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// enter takes a slot, waiting until deadline at most: ErrOverloaded when
// every slot stayed busy that long.
func (s *runSlots) enter(deadline time.Time) error {
	if s == nil || s.take() {
		return nil
	}
	// Count ourselves waiting before trying again, so that a leave either
	// sees us waiting (and wakes one waiter) or frees the slot before our
	// next take: no wake-up is lost.
	s.waiting.Add(1)
	defer s.waiting.Add(-1)
	var t *time.Timer
	for {
		if s.take() {
			if t != nil {
				t.Stop()
			}
			return nil
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return s.busy()
		}
		if t == nil {
			t = time.NewTimer(wait)
		}
		select {
		case <-s.wake:
		case <-t.C:
			return s.busy()
		}
	}
}

func (s *runSlots) busy() error {
	return fmt.Errorf("%w: container %s already runs %d requests at once (--max-running-per-container) and none finished in time; retry",
		ErrOverloaded, s.container, s.max)
}

// leave gives the slot back and wakes a waiter, if any, to take it.
func (s *runSlots) leave() {
	if s == nil {
		return
	}
	s.held.Add(-1)
	if s.waiting.Load() > 0 {
		select {
		case s.wake <- struct{}{}:
		default: // as many tokens as slots are pending already
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
		deadline = time.Unix(0, rc.deadline)
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
