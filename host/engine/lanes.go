package engine

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// Compilation cannot be cancelled once wazero has started it, and its time
// and memory grow with the module (bounded by CodeLimits: about two seconds
// and a few hundred megabytes at the limits). Compiles therefore run in two
// lanes: modules estimated to take over heavyCompile one at a time on one
// core, so that a tenant uploading large or hostile modules holds at most
// one core and one compiler's memory, and everything else beside them, a
// couple per core, so that the first run of an ordinary webtask never waits
// behind a large compile. A compile that cannot get a slot within the
// engine's timeout fails with ErrOverloaded.
//
// Two more lanes run the compiler behind modules served by the interpreter
// meanwhile (tier.go), one compile at a time each, on one core: one for
// heavy modules and one for the others, so that a Go module's seconds of
// compiling do not keep a C module interpreted. Background compiles use
// at most two cores, and no upload waits for a slot behind one.

// heavyCompile is the estimated compile time (µs) that makes a module heavy:
// a Go guest (3 MB) is heavy, a C, Rust, AssemblyScript or WAT one is not.
const heavyCompile = 100_000

// compileLanes holds the lanes' slots; the zero value is ready.
type compileLanes struct {
	once                sync.Once
	heavy, light        chan struct{}
	heavyBehind, behind chan struct{}
}

// acquire waits for a slot of the lane that fits a compile estimated at
// micros, in the foreground or behind an interpreted module, and returns
// its release function.
func (l *compileLanes) acquire(ctx context.Context, micros int, background bool, wait time.Duration) (func(), error) {
	l.once.Do(func() {
		l.heavy = make(chan struct{}, 1)
		l.light = make(chan struct{}, 2*runtime.GOMAXPROCS(0))
		l.heavyBehind = make(chan struct{}, 1)
		l.behind = make(chan struct{}, 1)
	})
	heavy := micros > heavyCompile
	lane, name := l.light, "light"
	switch {
	case background && heavy:
		lane, name = l.heavyBehind, "heavy background"
	case background:
		lane, name = l.behind, "background"
	case heavy:
		lane, name = l.heavy, "heavy"
	}
	select {
	case lane <- struct{}{}:
		return func() { <-lane }, nil
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case lane <- struct{}{}:
		return func() { <-lane }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, fmt.Errorf("%w: every %s compile slot stayed busy for %s; try again", ErrOverloaded, name, wait)
	}
}
