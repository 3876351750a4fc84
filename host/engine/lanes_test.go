package engine

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

// TestCompileLanes: a compile waits only for its own lane. Foreground
// uploads never wait behind background compiles, a heavy background
// compile does not hold back a light one, and a lane that stays full
// refuses with ErrOverloaded after the wait.
func TestCompileLanes(t *testing.T) {
	var l compileLanes
	ctx := context.Background()
	const wait = 20 * time.Millisecond
	take := func(micros int, background bool) func() {
		t.Helper()
		release, err := l.acquire(ctx, micros, background, wait)
		if err != nil {
			t.Fatalf("acquire(%d µs, background %v): %v", micros, background, err)
		}
		return release
	}
	full := func(micros int, background bool) {
		t.Helper()
		if _, err := l.acquire(ctx, micros, background, wait); !errors.Is(err, ErrOverloaded) {
			t.Fatalf("acquire(%d µs, background %v) of a full lane: %v, want ErrOverloaded", micros, background, err)
		}
	}
	light, heavy := 1_000, heavyCompile+1
	var releases []func()
	releases = append(releases, take(light, true), take(heavy, true)) // one each behind
	full(light, true)
	full(heavy, true)
	for range 2 * runtime.GOMAXPROCS(0) {
		releases = append(releases, take(light, false))
	}
	full(light, false)
	releases = append(releases, take(heavy, false))
	full(heavy, false)
	for _, release := range releases {
		release()
	}
	take(light, true)()
	take(heavy, false)()
}
