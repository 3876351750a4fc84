package deploy

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/host/keys"
	"github.com/wasmtask/wasmtask/host/token"
	"github.com/wasmtask/wasmtask/store"
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
