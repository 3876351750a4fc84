package deploy

// Warm start. A webtask is loaded on its first request: its record read,
// its module decoded, validated and its compiled code read back from the
// engine's on-disk cache, an instance created. After a restart that costs
// the first request 2-4 ms for a C or Rust module and 200 ms for Go
// (wazero decodes and validates a module even when its machine code comes
// from the cache), so the registry remembers which webtasks served
// requests — the hot list, most recently used first across restarts,
// saved in the store every hotSaveEvery while it changes and at Close —
// and a restarted server loads them again before its first requests
// arrive (api.Server holds /readyz until then, at most Config.WarmWait).
//
// The hot list is a hint: a webtask deleted since is dropped from it, one
// that no longer loads is skipped, and with no list (a first start, or a
// crash before the first save) the most recently updated webtasks are
// loaded instead (api.Server does that without holding /readyz: finding
// them reads every record, and they are a guess). Nodes sharing a store (etcd) overwrite each other's
// list; each then warms what one of them served last, which is what a node
// joining a cluster behind a load balancer will be asked for.

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/store"
)

// hotNamespace and hotKey name the KV entry that holds the hot list.
const (
	hotNamespace = "warm"
	hotKey       = "hot"
)

// hotMax caps the hot list: more than a restart would warm.
const hotMax = 1024

// hotSaveEvery is how often the hot list is saved while it changes.
const hotSaveEvery = 30 * time.Second

// hotEntry is one webtask of the hot list.
type hotEntry struct {
	Container string `json:"c"`
	Name      string `json:"n"`
}

// served returns the loaded webtasks that served a request since they
// were loaded, most recently used first, at most hotMax.
func (r *Registry) served() []hotEntry {
	type used struct {
		k  key
		at time.Time
	}
	var all []used
	r.mu.RLock()
	for k, d := range r.deps {
		if at := d.Pool.LastRequest(); !at.IsZero() {
			all = append(all, used{k, at})
		}
	}
	r.mu.RUnlock()
	slices.SortFunc(all, func(a, b used) int { return b.at.Compare(a.at) })
	hot := make([]hotEntry, 0, min(len(all), hotMax))
	for _, u := range all[:min(len(all), hotMax)] {
		hot = append(hot, hotEntry{u.k.container, u.k.name})
	}
	return hot
}

// hotList is the list to save: what this process served, most recently
// used first, then the saved list's other entries in their order (used
// before this start, longer ago), at most hotMax — a least-recently-used
// order that survives restarts. The caller holds hotMu.
func (r *Registry) hotListLocked() []hotEntry {
	if !r.hotRead {
		r.hotPrev, _ = r.readHot() // unreadable: start a new list
		r.hotRead = true
	}
	hot := r.served()
	seen := make(map[hotEntry]bool, len(hot))
	for _, e := range hot {
		seen[e] = true
	}
	for _, e := range r.hotPrev {
		if len(hot) == hotMax {
			break
		}
		if !seen[e] {
			seen[e] = true
			hot = append(hot, e)
		}
	}
	return hot
}

// readHot reads the saved hot list; nil (and no error) when there is none
// or it is damaged.
func (r *Registry) readHot() ([]hotEntry, error) {
	b, err := r.st.KVGet(hotNamespace, hotKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var hot []hotEntry
	if json.Unmarshal(b, &hot) != nil {
		return nil, nil // a damaged list is no list
	}
	return hot, nil
}

// saveHot saves the hot list when it differs from the one saved last.
func (r *Registry) saveHot() error {
	r.hotMu.Lock()
	defer r.hotMu.Unlock()
	hot := r.hotListLocked()
	if len(hot) == 0 {
		return nil
	}
	b, err := json.Marshal(hot)
	if err != nil {
		return err
	}
	if string(b) == string(r.hotSaved) {
		return nil
	}
	if err := r.st.KVPut(hotNamespace, hotKey, b); err != nil {
		return err
	}
	r.hotSaved, r.hotPrev = b, hot
	return nil
}

// forgetHot drops e from the hot list (a webtask deleted since it was
// saved), from the next save on.
func (r *Registry) forgetHot(e hotEntry) {
	r.hotMu.Lock()
	defer r.hotMu.Unlock()
	r.hotPrev = slices.DeleteFunc(r.hotPrev, func(x hotEntry) bool { return x == e })
}

// WarmSet is what a warm-up loads (Registry.WarmSet, Registry.Warm).
type WarmSet []hotEntry

// WarmSet returns what Warm should load, at most max webtasks: the saved
// hot list (HotSet, see the comment at the top of this file), or without
// one the webtasks updated last (RecentSet).
func (r *Registry) WarmSet(max int) (WarmSet, error) {
	set, err := r.HotSet(max)
	if err != nil || len(set) > 0 {
		return set, err
	}
	return r.RecentSet(max)
}

// HotSet returns the saved hot list's first max webtasks: what served
// before the stop. It reads one key of the store, so a start knows at
// once whether it has such a list.
func (r *Registry) HotSet(max int) (WarmSet, error) {
	if max <= 0 {
		return nil, nil
	}
	r.hotMu.Lock()
	hot, err := r.readHot()
	if err == nil {
		r.hotPrev, r.hotRead = hot, true
	}
	r.hotMu.Unlock()
	if err != nil {
		return nil, err
	}
	return slices.Clone(hot[:min(len(hot), max)]), nil // hotPrev changes under it (forgetHot)
}

// RecentSet returns the max webtasks updated last: a guess at what will
// be asked for when there is no hot list. It reads every webtask's record.
func (r *Registry) RecentSet(max int) (WarmSet, error) {
	if max <= 0 {
		return nil, nil
	}
	type updated struct {
		e  hotEntry
		at time.Time
	}
	var all []updated
	err := r.st.ForEachWebtask(func(w store.Webtask) error {
		all = append(all, updated{hotEntry{w.Container, w.Name}, w.Updated})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(all, func(a, b updated) int { return b.at.Compare(a.at) })
	set := make(WarmSet, 0, min(len(all), max))
	for _, u := range all[:min(len(all), max)] {
		set = append(set, u.e)
	}
	return set, nil
}

// Warm loads the webtasks of set and prepares an instance of each
// (engine.Pool.Prepare), one after the other so requests keep the other
// cores, and returns how many it loaded. It stops when ctx ends or the
// registry closes. A webtask that no longer loads is skipped; one whose
// instance cannot be prepared for want of memory stops the warm-up, and
// what is loaded stays.
func (r *Registry) Warm(ctx context.Context, set WarmSet) int {
	n := 0
	for _, e := range set {
		select {
		case <-ctx.Done():
			return n
		case <-r.done:
			return n
		default:
		}
		d, err := r.Webtask(e.Container, e.Name)
		if errors.Is(err, ErrNotFound) {
			r.forgetHot(e) // deleted since
			continue
		}
		if err != nil {
			continue // does not load: its first request will say why
		}
		if err := d.Pool.Prepare(ctx); err != nil {
			if errors.Is(err, engine.ErrOverloaded) || errors.Is(err, engine.ErrClosed) {
				return n // out of memory budget (or closing): keep what is warm
			}
			continue
		}
		n++
	}
	return n
}
