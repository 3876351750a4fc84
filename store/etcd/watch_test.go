package etcdstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/store"
	"github.com/wasmtask/wasmtask/store/etcd/etcdtest"
)

// next waits up to 5 s for a change.
func next(t *testing.T, ch <-chan store.Change) store.Change {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("the watch channel closed")
		}
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no change within 5 s")
	}
	return store.Change{}
}

func TestStore_WatchKV(t *testing.T) {
	s := openTest(t, shared, Config{})
	other := openTest(t, shared, Config{Prefix: s.prefix}) // another node
	ctx, cancel := context.WithCancel(context.Background())
	ch := s.WatchKV(ctx, "revoked")
	if c := next(t, ch); !c.Reset {
		t.Fatalf("first change %+v, want a Reset", c)
	}
	if err := other.KVPut("other", "k", []byte("x")); err != nil { // another namespace: not seen
		t.Fatal(err)
	}
	if err := other.KVPut("revoked", "jti1", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); c.Key != "jti1" || string(c.Value) != "v" || c.Deleted {
		t.Fatalf("put: %+v", c)
	}
	if err := other.KVDelete("revoked", "jti1"); err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); c.Key != "jti1" || !c.Deleted {
		t.Fatalf("delete: %+v", c)
	}
	cancel()
	for range ch { // closed once ctx is done
	}
}

func TestStore_WatchWebtasks(t *testing.T) {
	s := openTest(t, shared, Config{})
	ch := s.WatchWebtasks(t.Context())
	if c := next(t, ch); !c.Reset {
		t.Fatalf("first change %+v, want a Reset", c)
	}
	mod := []byte("\x00asm\x01\x00\x00\x00")
	w := store.Webtask{Container: "acme", Name: "hello", ModuleSHA256: sha(mod)}
	if _, err := s.PutWebtask(w, mod); err != nil {
		t.Fatal(err)
	}
	c := next(t, ch)
	if got := store.DecodeWebtask(c.Container, c.Name, c.Value); c.Container != "acme" || c.Name != "hello" || got.ModuleSHA256 != w.ModuleSHA256 {
		t.Fatalf("put: %+v", c)
	}
	if err := s.DeleteWebtask("acme", "hello"); err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); c.Name != "hello" || !c.Deleted {
		t.Fatalf("delete: %+v", c)
	}
}

// TestStore_Lead: one leader at a time; the next leads once the first
// resigns (its context done) or its store is closed (its lease expires).
func TestStore_Lead(t *testing.T) {
	a := openTest(t, shared, Config{})
	b := openTest(t, shared, Config{Prefix: a.prefix})
	ctxA, cancelA := context.WithCancel(context.Background())
	lostA, err := a.Lead(ctxA, "cron", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	led := make(chan (<-chan struct{}), 1)
	go func() {
		lost, err := b.Lead(t.Context(), "cron", time.Second)
		if err != nil {
			t.Error(err)
		}
		led <- lost
	}()
	select {
	case <-led:
		t.Fatal("two leaders at once")
	case <-time.After(500 * time.Millisecond):
	}
	cancelA()
	<-lostA
	select {
	case <-led:
	case <-time.After(5 * time.Second):
		t.Fatal("b does not lead 5 s after a resigned")
	}
}

// TestStore_LeadExpiry: a leader cut from etcd (its process killed, its
// network lost) resigns nothing: its lease expires, and another server
// leads within the TTL and a margin; the cut leader learns it lost the
// lead within that time too.
func TestStore_LeadExpiry(t *testing.T) {
	proxy, err := etcdtest.NewProxy(shared.client)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	b := openTest(t, shared, Config{})
	a, err := Open(context.Background(), Config{Endpoints: []string{proxy.Addr}, Prefix: b.prefix, Timeout: time.Second, ChunkSweep: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	const ttl = 2 * time.Second // as cron.DefaultLeaderTTL
	lostA, err := a.Lead(t.Context(), "cron", ttl)
	if err != nil {
		t.Fatal(err)
	}
	led := make(chan time.Time, 1)
	go func() {
		if _, err := b.Lead(t.Context(), "cron", ttl); err != nil {
			t.Error(err)
		}
		led <- time.Now()
	}()
	time.Sleep(ttl) // a renews its lease meanwhile: b waits
	select {
	case <-led:
		t.Fatal("b leads while a's lease is renewed")
	case <-lostA:
		t.Fatal("a lost the lead while connected")
	default:
	}

	cut := time.Now()
	proxy.Cut()
	bound := ttl + 2*time.Second
	var took, lostAfter time.Duration
	for took == 0 || lostAfter == 0 {
		select {
		case at := <-led:
			took = at.Sub(cut)
		case <-lostA:
			lostAfter, lostA = time.Since(cut), nil
		case <-time.After(time.Until(cut.Add(bound))):
			t.Fatalf("%v after the cut (TTL %v): b leads after %v, a knows it lost after %v (0: not yet)", bound, ttl, took, lostAfter)
		}
	}
	t.Logf("leader cut: b leads after %v, a knows it lost the lead after %v (TTL %v)", took.Round(time.Millisecond), lostAfter.Round(time.Millisecond), ttl)
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestStore_WatchAcrossRestart: a watch survives etcd stopping and coming
// back: a write after the return is delivered (after a Reset if the watch
// had to start again).
func TestStore_WatchAcrossRestart(t *testing.T) {
	srv, err := startServer(t.TempDir(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { srv.stop() }()
	s := openTest(t, srv, Config{Timeout: time.Second})
	defer s.Close() // before etcd stops: it waits for open watches
	ch := s.WatchKV(t.Context(), "revoked")
	if c := next(t, ch); !c.Reset {
		t.Fatalf("first change %+v, want a Reset", c)
	}
	srv.stop()
	time.Sleep(300 * time.Millisecond)
	if srv, err = startServer(srv.dir, srv.client, srv.peer); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for s.KVPut("revoked", "after", []byte("v")) != nil {
		if time.Now().After(deadline) {
			t.Fatal("etcd back for 15 s, writes still fail")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("writes work again after %v", 15*time.Second-time.Until(deadline))
	for {
		c := next(t, ch)
		if c.Reset {
			continue // the follower re-reads: "after" is in what it reads, or comes next
		}
		if c.Key != "after" {
			t.Fatalf("change %+v, want the put of after", c)
		}
		return
	}
}
