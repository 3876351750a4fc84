package deploy

import (
	"context"
	"errors"

	"github.com/wasmtask/wasmtask/store"
)

// Servers sharing a store (a cluster on etcd) follow each other's writes
// through the store's watches (store.Watcher): revocations join the
// in-memory set (token.Revocations.Follow), and a webtask another server
// replaced or deleted loses its deployment here, so that its next run
// loads what is stored. Watches were chosen over polling: a change
// reaches every server within the cluster's round trip (milliseconds),
// and an idle cluster costs nothing; a watch that was lost resumes, or
// restarts with a Reset that re-reads everything.

// follow starts following st's changes when it is a store.Watcher; Close
// stops it.
func (r *Registry) follow(st store.Store) {
	w, ok := st.(store.Watcher)
	if !ok {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.bg.Add(3)
	go func() { defer r.bg.Done(); <-r.done; cancel() }()
	go func() { defer r.bg.Done(); r.revoked.Follow(ctx, w) }()
	go func() {
		defer r.bg.Done()
		for c := range w.WatchWebtasks(ctx) {
			if c.Reset {
				r.recheckAll()
			} else {
				r.changed(c)
			}
		}
	}()
}

// changed drops the deployment of the webtask c names unless it runs
// what is stored now (this server's own deploy, seen again).
func (r *Registry) changed(c store.Change) {
	k := key{c.Container, c.Name}
	unlock := r.locks.lock(k)
	defer unlock()
	r.mu.RLock()
	d := r.deps[k]
	r.mu.RUnlock()
	if d == nil {
		return
	}
	if !c.Deleted && sameRecord(d.Webtask, store.DecodeWebtask(c.Container, c.Name, c.Value)) {
		return
	}
	_ = r.install(k, nil)
}

// recheckAll compares every deployment with its stored record, after a
// watch was lost: changes may have been missed.
func (r *Registry) recheckAll() {
	r.mu.RLock()
	keys := make([]key, 0, len(r.deps))
	for k := range r.deps {
		keys = append(keys, k)
	}
	r.mu.RUnlock()
	for _, k := range keys {
		w, err := r.st.GetWebtask(k.container, k.name)
		switch {
		case err == nil:
			v, _ := store.EncodeWebtask(w)
			r.changed(store.Change{Container: k.container, Name: k.name, Value: v})
		case errors.Is(err, store.ErrNotFound):
			r.changed(store.Change{Container: k.container, Name: k.name, Deleted: true})
		}
		// Any other error (the store out of reach): keep it; the watch
		// restarts with another Reset once the store answers.
	}
}

// sameRecord says whether a and b are the same stored version.
func sameRecord(a, b store.Webtask) bool {
	return b.Damaged == "" && a.Updated.Equal(b.Updated) && a.ModuleSHA256 == b.ModuleSHA256 && a.Token == b.Token
}
