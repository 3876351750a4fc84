package outbound

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/store"
)

// chanWatcher delivers the changes a test sends.
type chanWatcher chan store.Change

func (w chanWatcher) WatchKV(ctx context.Context, ns string) <-chan store.Change {
	out := make(chan store.Change)
	go func() {
		defer close(out)
		for {
			select {
			case c := <-w:
				out <- c
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
func (w chanWatcher) WatchWebtasks(ctx context.Context) <-chan store.Change { return nil }

// TestClients_Follow: a policy another server changes replaces the cached
// client here.
func TestClients_Follow(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "wasmtask.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	here, there := NewClients(st, Options{}), NewClients(st, Options{})
	w := make(chanWatcher)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go here.Follow(ctx, w)
	if err := there.SetPolicy("acme", Policy{Allow: []string{"a.example.com"}}); err != nil {
		t.Fatal(err)
	}
	c1, err := here.Client("acme")
	if err != nil || c1 == nil {
		t.Fatalf("client: %v %v", c1, err)
	}
	if err := there.SetPolicy("acme", Policy{Allow: []string{"b.example.com"}}); err != nil {
		t.Fatal(err)
	}
	if c, _ := here.Client("acme"); c != c1 {
		t.Fatal("the cached client changed without a change delivered")
	}
	w <- store.Change{Key: "acme"}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if c, _ := here.Client("acme"); c != c1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the change did not replace the cached client")
		}
	}
	c2, _ := here.Client("acme")
	w <- store.Change{Reset: true}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if c, _ := here.Client("acme"); c != c2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a Reset did not drop the cached clients")
		}
	}
}
