package deploy

import (
	"context"
	"slices"
	"testing"

	"github.com/wasmtask/wasmtask/host/engine"
)

// restart closes tr's registry and opens another on the same store with a
// new engine (an empty compile cache in memory), as a restarted server does.
func (tr *testRegistry) restart(tb testing.TB) *testRegistry {
	tb.Helper()
	tr.Close()
	eng, err := engine.New(context.Background(), engine.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	r, err := New(tr.st, eng, tr.keys, tr.signer, tr.cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		r.Close()
		_ = eng.Close(context.Background())
	})
	return &testRegistry{Registry: r, st: tr.st, keys: tr.keys, eng: eng, signer: tr.signer, admin: tr.admin}
}

// loaded reports whether container/name has a deployment in memory.
func (r *Registry) loaded(container, name string) *Deployment {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.deps[key{container, name}]
}

// TestRegistry_WarmLoadsWhatServedLast: after a restart, Warm loads the
// webtasks that served requests before the stop — not those merely
// loaded — with an idle instance each, so their first request neither
// compiles nor instantiates; a webtask deleted since is skipped.
func TestRegistry_WarmLoadsWhatServedLast(t *testing.T) {
	r := newTestRegistry(t, DefaultConfig())
	hello, bye := fixture(t, "hello"), fixture(t, "bye")
	for name, wasm := range map[string][]byte{"a": hello, "b": bye, "gone": hello} {
		if _, _, err := r.Deploy(r.admin, Upload{Container: "acme", Name: name, Wasm: wasm}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"gone", "a"} { // a served last
		d, err := r.Webtask("acme", name)
		if err != nil {
			t.Fatal(err)
		}
		answer(t, d.Pool)
	}
	if _, err := r.Webtask("acme", "b"); err != nil { // loaded, never run
		t.Fatal(err)
	}
	if got := r.served(); len(got) != 2 || got[0] != (hotEntry{"acme", "a"}) || got[1] != (hotEntry{"acme", "gone"}) {
		t.Fatalf("hot list %v, want a then gone", got)
	}
	r2 := r.restart(t)
	if err := r2.Delete("acme", "gone"); err != nil {
		t.Fatal(err)
	}
	set, err := r2.WarmSet(10)
	if err != nil || len(set) != 2 {
		t.Fatalf("WarmSet = %v, %v; want a and gone", set, err)
	}
	if n := r2.Warm(context.Background(), set); n != 1 {
		t.Fatalf("Warm = %d, want 1 (a; gone was deleted)", n)
	}
	d := r2.loaded("acme", "a")
	if d == nil || d.Pool.Idle() != 1 {
		t.Fatalf("a after Warm: %+v, want loaded with one idle instance", d)
	}
	if !r2.eng.Compiled(engine.SHA256(hello)) || r2.eng.Compiled(engine.SHA256(bye)) || r2.loaded("acme", "b") != nil {
		t.Error("Warm loaded what did not serve before the restart (b), or not what did (a)")
	}
	if got := answer(t, d.Pool); got != "hello" || d.Pool.Idle() != 1 {
		t.Errorf("first request after Warm: %q, idle %d (want hello, on the prepared instance)", got, d.Pool.Idle())
	}
}

// TestRegistry_WarmWithoutHotList: with no hot list (nothing served, a
// damaged entry) Warm loads the webtasks updated last, at most max; max
// 0 loads nothing.
func TestRegistry_WarmWithoutHotList(t *testing.T) {
	r := newTestRegistry(t, DefaultConfig())
	for _, name := range []string{"old", "mid", "new"} {
		if _, _, err := r.Deploy(r.admin, Upload{Container: "acme", Name: name, Wasm: fixture(t, "hello")}); err != nil {
			t.Fatal(err)
		}
	}
	r2 := r.restart(t) // nothing served: no hot list saved
	if set, err := r2.WarmSet(0); len(set) != 0 || err != nil {
		t.Fatalf("WarmSet(0) = %v, %v", set, err)
	}
	if err := r2.st.KVPut(hotNamespace, hotKey, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	set, err := r2.WarmSet(2)
	if err != nil {
		t.Fatal(err)
	}
	if n := r2.Warm(context.Background(), set); n != 2 {
		t.Fatalf("Warm(WarmSet(2)) = %d", n)
	}
	if r2.loaded("acme", "new") == nil || r2.loaded("acme", "mid") == nil || r2.loaded("acme", "old") != nil {
		t.Error("Warm without a hot list did not load the two updated last (new, mid) and only them")
	}
}

// TestRegistry_WarmStopsWithItsContext: a cancelled warm-up loads nothing
// more.
func TestRegistry_WarmStopsWithItsContext(t *testing.T) {
	r := newTestRegistry(t, DefaultConfig())
	if _, _, err := r.Deploy(r.admin, Upload{Container: "acme", Name: "a", Wasm: fixture(t, "hello")}); err != nil {
		t.Fatal(err)
	}
	r2 := r.restart(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	set, err := r2.WarmSet(10)
	if err != nil || len(set) != 1 {
		t.Fatalf("WarmSet = %v, %v", set, err)
	}
	if n := r2.Warm(ctx, set); n != 0 || r2.loaded("acme", "a") != nil {
		t.Fatalf("Warm with a cancelled context = %d", n)
	}
}

// TestRegistry_HotListAcrossRestarts: the hot list is least recently used
// across restarts — a run that served only one webtask puts it first and
// keeps the others after it — and drops a webtask deleted since.
func TestRegistry_HotListAcrossRestarts(t *testing.T) {
	r := newTestRegistry(t, DefaultConfig())
	for _, name := range []string{"a", "b", "c"} {
		if _, _, err := r.Deploy(r.admin, Upload{Container: "acme", Name: name, Wasm: fixture(t, "hello")}); err != nil {
			t.Fatal(err)
		}
		d, _ := r.Webtask("acme", name)
		answer(t, d.Pool)
	}
	hot := func(r *testRegistry) []string {
		set, err := r.WarmSet(10)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range set {
			names = append(names, e.Name)
		}
		return names
	}
	r2 := r.restart(t)
	if got := hot(r2); !slices.Equal(got, []string{"c", "b", "a"}) {
		t.Fatalf("after the first run: %v, want c b a", got)
	}
	d, _ := r2.Webtask("acme", "a")
	answer(t, d.Pool)
	r3 := r2.restart(t)
	if got := hot(r3); !slices.Equal(got, []string{"a", "c", "b"}) {
		t.Fatalf("after a run that served a: %v, want a c b", got)
	}
	if err := r3.Delete("acme", "c"); err != nil {
		t.Fatal(err)
	}
	set, _ := r3.WarmSet(10)
	if n := r3.Warm(context.Background(), set); n != 2 {
		t.Fatalf("Warm = %d, want 2 (c deleted)", n)
	}
	r4 := r3.restart(t)
	if got := hot(r4); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("after c was deleted: %v, want a b", got)
	}
}
