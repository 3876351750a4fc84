package deploy

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/host/keys"
	"github.com/wasmtask/wasmtask/host/token"
	"github.com/wasmtask/wasmtask/store"
	etcdstore "github.com/wasmtask/wasmtask/store/etcd"
	"github.com/wasmtask/wasmtask/store/etcd/etcdtest"
)

// watchedStore is a store that delivers its webtask and KV writes to
// watchers, like the etcd store to the servers of a cluster.
type watchedStore struct {
	store.Store
	mu   sync.Mutex
	subs []sub
}

type sub struct {
	ctx context.Context
	ns  string // "" for webtasks
	ch  chan store.Change
}

func (s *watchedStore) subscribe(ctx context.Context, ns string) <-chan store.Change {
	ch := make(chan store.Change, 64)
	ch <- store.Change{Reset: true}
	s.mu.Lock()
	s.subs = append(s.subs, sub{ctx, ns, ch})
	s.mu.Unlock()
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, x := range s.subs {
			if x.ch == ch {
				s.subs = append(s.subs[:i], s.subs[i+1:]...)
				close(ch)
				return
			}
		}
	}()
	return ch
}

func (s *watchedStore) publish(ns string, c store.Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.subs {
		if x.ns == ns {
			x.ch <- c
		}
	}
}

func (s *watchedStore) WatchKV(ctx context.Context, ns string) <-chan store.Change {
	return s.subscribe(ctx, ns)
}
func (s *watchedStore) WatchWebtasks(ctx context.Context) <-chan store.Change {
	return s.subscribe(ctx, "")
}

func (s *watchedStore) PutWebtask(w store.Webtask, module []byte) (bool, error) {
	created, err := s.Store.PutWebtask(w, module)
	if err == nil {
		stored, _ := s.Store.GetWebtask(w.Container, w.Name)
		v, _ := store.EncodeWebtask(stored)
		s.publish("", store.Change{Container: w.Container, Name: w.Name, Value: v})
	}
	return created, err
}

func (s *watchedStore) DeleteWebtask(container, name string) error {
	err := s.Store.DeleteWebtask(container, name)
	if err == nil {
		s.publish("", store.Change{Container: container, Name: name, Deleted: true})
	}
	return err
}

func (s *watchedStore) KVPut(ns, key string, value []byte) error {
	err := s.Store.KVPut(ns, key, value)
	if err == nil {
		s.publish(ns, store.Change{Key: key, Value: value})
	}
	return err
}

// TestRegistry_Follow: two registries on one shared store (two servers):
// what one deploys, replaces, deletes or revokes, the other follows.
func TestRegistry_Follow(t *testing.T) {
	dir := t.TempDir()
	bolt, err := store.Open(filepath.Join(dir, "wasmtask.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bolt.Close() })
	st := &watchedStore{Store: bolt}
	k, _, err := keys.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	signer := token.NewSigner(k)
	node := func() *Registry {
		eng, err := engine.New(context.Background(), engine.Config{})
		if err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.SharedCache = true
		r, err := New(st, eng, k, signer, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(); _ = eng.Close(context.Background()) })
		return r
	}
	a, b := node(), node()
	raw, _ := signer.Sign(&token.Claims{Depth: 10})
	admin, err := a.Authenticate([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 5 s", what)
			}
		}
	}
	runs := func(r *Registry) string {
		d, err := r.Webtask("acme", "hi")
		if err != nil {
			return err.Error()
		}
		return answer(t, d.Pool)
	}

	if _, _, err := a.Deploy(admin, Upload{Container: "acme", Name: "hi", Wasm: fixture(t, "hello")}); err != nil {
		t.Fatal(err)
	}
	if got := runs(b); got != "hello" {
		t.Fatalf("b runs %q", got)
	}
	own, _ := a.Webtask("acme", "hi")
	if _, _, err := a.Deploy(admin, Upload{Container: "acme", Name: "hi", Wasm: fixture(t, "bye")}); err != nil {
		t.Fatal(err)
	}
	eventually("b runs the replaced code", func() bool { return runs(b) == "bye" })
	mine, _ := a.Webtask("acme", "hi")
	time.Sleep(50 * time.Millisecond) // a's own write comes back to it
	if again, _ := a.Webtask("acme", "hi"); again != mine || mine == own {
		t.Fatal("a's own deploy, seen again by its watch, dropped its deployment")
	}

	c := &token.Claims{ID: "jti-1", Depth: 1}
	if err := a.Revoke(c); err != nil {
		t.Fatal(err)
	}
	eventually("b refuses the revoked token", func() bool { return b.IsRevoked(c) })

	if err := a.Delete("acme", "hi"); err != nil {
		t.Fatal(err)
	}
	eventually("b no longer runs the deleted webtask", func() bool {
		_, err := b.Webtask("acme", "hi")
		return errors.Is(err, ErrNotFound)
	})
}

// resetCounter is an etcd store whose watches count the Resets they
// deliver: the proof that a follower re-read everything.
type resetCounter struct {
	*etcdstore.Store
	kv, webtasks atomic.Int64
}

func (s *resetCounter) WatchKV(ctx context.Context, ns string) <-chan store.Change {
	return countResets(s.Store.WatchKV(ctx, ns), &s.kv)
}
func (s *resetCounter) WatchWebtasks(ctx context.Context) <-chan store.Change {
	return countResets(s.Store.WatchWebtasks(ctx), &s.webtasks)
}

func countResets(in <-chan store.Change, n *atomic.Int64) <-chan store.Change {
	out := make(chan store.Change)
	go func() {
		defer close(out)
		for c := range in {
			if c.Reset {
				n.Add(1)
			}
			out <- c
		}
	}()
	return out
}

// TestRegistry_FollowAfterLostWatch: server b loses its connection to
// etcd; meanwhile server a revokes a token and deploys new code, and etcd
// compacts its history past b's watches, which cannot resume: once b is
// back, its watches start again with a Reset, and b applies both. While
// cut off, b refuses no valid token and runs what it had loaded.
func TestRegistry_FollowAfterLostWatch(t *testing.T) {
	dir := t.TempDir()
	client, err := etcdtest.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	peer, err := etcdtest.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	cfg := etcdtest.Config("follow", filepath.Join(dir, "etcd"), client, peer, "")
	cfg.UnsafeNoFsync = true
	e, err := etcdtest.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	proxy, err := etcdtest.NewProxy(client) // b's way to etcd
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	open := func(endpoint string) *etcdstore.Store {
		st, err := etcdstore.Open(context.Background(), etcdstore.Config{Endpoints: []string{endpoint}, Timeout: time.Second, ChunkSweep: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}
	stA, stB := open(client), &resetCounter{Store: open(proxy.Addr)}
	k, _, err := keys.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	signer := token.NewSigner(k)
	node := func(st store.Store) *Registry {
		eng, err := engine.New(context.Background(), engine.Config{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := New(st, eng, k, signer, DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(); _ = eng.Close(context.Background()) })
		return r
	}
	a, b := node(stA), node(stB)
	sign := func(c *token.Claims) []byte {
		raw, err := signer.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return []byte(raw)
	}
	admin, err := a.Authenticate(sign(&token.Claims{Depth: 10}))
	if err != nil {
		t.Fatal(err)
	}
	valid, revoked := &token.Claims{ID: "valid", Depth: 1}, &token.Claims{ID: "revoked", Depth: 1}
	validRaw, revokedRaw := sign(valid), sign(revoked)
	runs := func(r *Registry) string {
		d, err := r.Webtask("acme", "hi")
		if err != nil {
			return err.Error()
		}
		return answer(t, d.Pool)
	}
	eventually := func(d time.Duration, what string, cond func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !cond() {
			if time.Since(start) > d {
				t.Fatalf("%s: not within %v", what, d)
			}
			time.Sleep(5 * time.Millisecond)
		}
		return time.Since(start)
	}

	if _, _, err := a.Deploy(admin, Upload{Container: "acme", Name: "hi", Wasm: fixture(t, "hello")}); err != nil {
		t.Fatal(err)
	}
	if got := runs(b); got != "hello" {
		t.Fatalf("b runs %q", got)
	}
	for _, raw := range [][]byte{validRaw, revokedRaw} {
		if _, err := b.Authenticate(raw); err != nil {
			t.Fatalf("b refuses a valid token: %v", err)
		}
	}
	eventually(5*time.Second, "b's watches start", func() bool { return stB.kv.Load() == 1 && stB.webtasks.Load() == 1 })

	proxy.Cut()
	if err := a.Revoke(revoked); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Deploy(admin, Upload{Container: "acme", Name: "hi", Wasm: fixture(t, "bye")}); err != nil {
		t.Fatal(err)
	}
	raw, err := clientv3.New(clientv3.Config{Endpoints: []string{client}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	now, err := raw.Get(context.Background(), "compact")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Compact(context.Background(), now.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	// Cut off: b cannot know of the revocation and the deploy, and
	// refuses nothing, runs what it had.
	time.Sleep(300 * time.Millisecond)
	if _, err := b.Authenticate(validRaw); err != nil {
		t.Fatalf("b, cut off, refuses a valid token: %v", err)
	}
	if got := runs(b); got != "hello" {
		t.Fatalf("b, cut off, runs %q; want what it had loaded", got)
	}

	if err := proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	took := eventually(10*time.Second, "b applies the revocation and the deploy made while it was cut off", func() bool {
		return b.IsRevoked(revoked) && runs(b) == "bye"
	})
	t.Logf("b caught up %v after its connection came back (resets: kv %d, webtasks %d)", took.Round(time.Millisecond), stB.kv.Load(), stB.webtasks.Load())
	if stB.kv.Load() < 2 || stB.webtasks.Load() < 2 {
		t.Errorf("resets: kv %d, webtasks %d; want a second one on each (the compaction made the watches start again)", stB.kv.Load(), stB.webtasks.Load())
	}
	if _, err := b.Authenticate(revokedRaw); err == nil {
		t.Error("b accepts the token revoked while it was cut off")
	}
	if _, err := b.Authenticate(validRaw); err != nil {
		t.Errorf("b refuses a valid token after catching up: %v", err)
	}
}
