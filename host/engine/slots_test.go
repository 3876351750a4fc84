package engine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSlots_ContainerCap: a container runs at most MaxRunningPerContainer
// guests at once — a second spinning request of the same container waits
// and is refused as overloaded at its deadline, while another container's
// request runs at once; and a guest that sleeps holds no slot, so the
// container's other requests run beside it.
func TestSlots_ContainerCap(t *testing.T) {
	e := newEngine(t, Config{Timeout: 400 * time.Millisecond, MaxRunningPerContainer: 1})
	mod, err := e.Compile(context.Background(), fixture(t, "spin"))
	if err != nil {
		t.Fatal(err)
	}
	bad := e.NewPool(mod, "bad", "spin", PolicyPool)
	good := e.NewPool(mod, "good", "spin", PolicyPool)
	t.Cleanup(func() { bad.Close(context.Background()); good.Close(context.Background()) })

	spin := func(p *Pool) chan error {
		done := make(chan error, 1)
		go func() {
			done <- p.Serve(context.Background(), &Request{Path: "/loop", Container: p.container}, &Response{})
		}()
		return done
	}
	first := spin(bad)
	time.Sleep(50 * time.Millisecond) // the first one holds the container's slot
	second := spin(bad)               // gets it when the first times out
	time.Sleep(10 * time.Millisecond)
	third := spin(bad) // its deadline passes while the second holds it
	begin := time.Now()
	resp := &Response{}
	if err := good.Serve(context.Background(), &Request{Path: "/", Container: "good"}, resp); err != nil || string(resp.Body) != "1" {
		t.Fatalf("the other container: %v %q", err, resp.Body)
	}
	if took := time.Since(begin); took > 250*time.Millisecond { // not the 400 ms the spin holds its slot
		t.Errorf("the other container waited %s", took)
	}
	if err := <-first; !errors.Is(err, ErrTimeout) {
		t.Errorf("the spinning request: %v, want a timeout", err)
	}
	// The others waited for the slot: each either got it late and timed
	// out, or saw its deadline pass while waiting (overloaded) — which one
	// depends on how fast the first gave it back (slow under -race).
	for i, ch := range []chan error{second, third} {
		if err := <-ch; !errors.Is(err, ErrOverloaded) && !errors.Is(err, ErrTimeout) {
			t.Errorf("spinning request %d: %v, want overloaded or a timeout", i+2, err)
		}
	}
	// A slot that stays busy past the deadline: overloaded, saying why.
	bad.slots.ch <- struct{}{}
	err = bad.Serve(context.Background(), &Request{Path: "/", Container: "bad"}, &Response{})
	<-bad.slots.ch
	if !errors.Is(err, ErrOverloaded) || !containsAll(err.Error(), "container bad", "max-running-per-container") {
		t.Errorf("no slot until the deadline: %v, want overloaded", err)
	}
	// The slot is free again.
	if err := bad.Serve(context.Background(), &Request{Path: "/", Container: "bad"}, &Response{}); err != nil {
		t.Fatalf("after the spin: %v", err)
	}

	// Sleeping guests give their slot back: 3 concurrent sleeps all run.
	smod, err := e.Compile(context.Background(), fixture(t, "sleep"))
	if err != nil {
		t.Fatal(err)
	}
	sleepy := e.NewPool(smod, "bad", "sleep", PolicyPool)
	t.Cleanup(func() { sleepy.Close(context.Background()) })
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- sleepy.Serve(context.Background(), &Request{Path: "/", Container: "bad"}, &Response{})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrTimeout) {
			t.Errorf("a sleeping request: %v, want a timeout (it slept its whole time), not overloaded", err)
		}
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
