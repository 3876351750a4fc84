package cron

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/store"
)

// sharedStore is a store with a fake election: Lead returns at once while
// all is true (every scheduler leads: the worst case of a leader that has
// not noticed it lost its lease), else once the lead is free.
type sharedStore struct {
	store.Store
	all  bool
	mu   sync.Mutex
	free chan struct{} // a token: taken by the leader
}

func (s *sharedStore) Lead(ctx context.Context, _ string, _ time.Duration) (<-chan struct{}, error) {
	if !s.all {
		select {
		case <-s.free:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	lost := make(chan struct{})
	go func() {
		<-ctx.Done()
		close(lost)
		if !s.all {
			s.free <- struct{}{}
		}
	}()
	return lost, nil
}

// TestScheduler_SharedStoreOncePerSlot: two schedulers that both lead
// still run each slot once (the slot is taken by a transaction), and a job
// created through one is run by the other.
func TestScheduler_SharedStoreOncePerSlot(t *testing.T) {
	st, _ := openStore(t)
	shared := &sharedStore{Store: st, all: true}
	r := &fakeRunner{}
	a := newScheduler(t, shared, r, Config{Seconds: true})
	b := newScheduler(t, shared, r, Config{Seconds: true})
	waitFor(t, "both to lead", func() bool { return a.Leading() && b.Leading() })
	if _, _, err := a.Put(store.CronJob{Container: "c", Name: "tick", Schedule: "* * * * * *"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "4 runs", func() bool { return r.count("tick") >= 4 })
	seen := map[time.Time]bool{}
	for _, run := range history(t, b, "tick") {
		if run.Type != store.CronMissed && seen[run.ScheduledAt] {
			t.Fatalf("slot %s ran twice", run.ScheduledAt)
		}
		seen[run.ScheduledAt] = true
	}
}

// TestScheduler_Handover: only the leader runs; when it stops, the other
// takes over.
func TestScheduler_Handover(t *testing.T) {
	st, _ := openStore(t)
	shared := &sharedStore{Store: st, free: make(chan struct{}, 1)}
	shared.free <- struct{}{}
	r := &fakeRunner{}
	a := newScheduler(t, shared, r, Config{Seconds: true})
	waitFor(t, "a to lead", a.Leading)
	b := newScheduler(t, shared, r, Config{Seconds: true})
	if _, _, err := a.Put(store.CronJob{Container: "c", Name: "tick", Schedule: "* * * * * *"}); err != nil {
		t.Fatal(err)
	}
	// b, which does not lead, changes a job a created.
	for _, state := range []string{store.CronInactive, store.CronActive} {
		if j, err := b.SetState("c", "tick", state); err != nil || j.State != state {
			t.Fatalf("b sets %s: %+v %v", state, j, err)
		}
	}
	waitFor(t, "2 runs", func() bool { return r.count("tick") >= 2 })
	if b.Leading() {
		t.Fatal("b leads while a does")
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := r.count("tick")
	waitFor(t, "b to lead", b.Leading)
	waitFor(t, "b's runs", func() bool { return r.count("tick") >= n+2 })
}

// resigningStore is an election whose resignation takes a while: lost
// closes 50 ms after Lead's context is done, and resigned says it did.
type resigningStore struct {
	store.Store
	resigned chan struct{}
}

func (s *resigningStore) Lead(ctx context.Context, _ string, _ time.Duration) (<-chan struct{}, error) {
	lost := make(chan struct{})
	go func() {
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond) // writing the resignation
		close(s.resigned)
		close(lost)
	}()
	return lost, nil
}

// TestScheduler_CloseResigns: Close returns once the leader's resignation
// is written, so the next server leads at once instead of after the
// lease's TTL, and the store it is written to is still open.
func TestScheduler_CloseResigns(t *testing.T) {
	st, _ := openStore(t)
	shared := &resigningStore{Store: st, resigned: make(chan struct{})}
	s := newScheduler(t, shared, &fakeRunner{}, Config{})
	waitFor(t, "the lead", s.Leading)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-shared.resigned:
	default:
		t.Fatal("Close returned before the resignation was written")
	}
}
