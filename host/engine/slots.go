package engine

import (
	"fmt"
	"runtime"
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

// runSlots is one container's slots.
type runSlots struct {
	ch        chan struct{}
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
	s, _ := e.slots.LoadOrStore(container, &runSlots{ch: make(chan struct{}, e.cfg.MaxRunningPerContainer), container: container})
	return s.(*runSlots)
}

// enter takes a slot, waiting until deadline at most: ErrOverloaded when
// every slot stayed busy that long.
func (s *runSlots) enter(deadline time.Time) error {
	if s == nil {
		return nil
	}
	select {
	case s.ch <- struct{}{}:
		return nil
	default:
	}
	wait := time.Until(deadline)
	if wait <= 0 {
		return s.busy()
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case s.ch <- struct{}{}:
		return nil
	case <-t.C:
		return s.busy()
	}
}

func (s *runSlots) busy() error {
	return fmt.Errorf("%w: container %s already runs %d requests at once (--max-running-per-container) and none finished in time; retry",
		ErrOverloaded, s.container, cap(s.ch))
}

// leave gives the slot back.
func (s *runSlots) leave() {
	if s != nil {
		<-s.ch
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
