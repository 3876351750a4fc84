package outbound

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/wasmtask/wasmtask/store"
)

// NamespacePolicy is the KV namespace of the containers' policies (key:
// the container, value: the Policy as JSON).
const NamespacePolicy = "outbound"

// Clients keeps each container's policy in the store and a Client per
// container that has one, built on first use and replaced when the policy
// changes. It is safe for concurrent use.
type Clients struct {
	kv   store.KV
	opts Options

	// OnChange, when set before the first call, is told each container
	// whose policy changed here or on another server ("" when the watch
	// was lost: any may have), after its client is dropped.
	OnChange func(container string)

	mu      sync.Mutex
	clients map[string]*Client // nil value: the container has no policy
}

// maxCachedClients bounds the cache; past it an arbitrary entry is
// dropped (its idle connections closed), to be rebuilt when needed.
const maxCachedClients = 4096

// NewClients returns the policies kept in kv.
func NewClients(kv store.KV, o Options) *Clients {
	return &Clients{kv: kv, opts: o, clients: map[string]*Client{}}
}

// Client returns container's client, nil when it has no policy (it calls
// nothing).
func (cs *Clients) Client(container string) (*Client, error) {
	cs.mu.Lock()
	c, ok := cs.clients[container]
	cs.mu.Unlock()
	if ok {
		return c, nil
	}
	p, found, err := cs.Policy(container)
	if err != nil {
		return nil, err
	}
	if found {
		if c, err = NewClient(p, cs.opts); err != nil {
			return nil, err
		}
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cur, ok := cs.clients[container]; ok { // another caller won
		return cur, nil
	}
	if len(cs.clients) >= maxCachedClients {
		for k, old := range cs.clients {
			delete(cs.clients, k)
			if old != nil {
				old.CloseIdle()
			}
			break
		}
	}
	cs.clients[container] = c
	return c, nil
}

// Policy returns container's stored policy; found is false when it has
// none.
func (cs *Clients) Policy(container string) (p Policy, found bool, err error) {
	b, err := cs.kv.KVGet(NamespacePolicy, container)
	if errors.Is(err, store.ErrNotFound) {
		return Policy{}, false, nil
	}
	if err != nil {
		return Policy{}, false, err
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return Policy{}, false, fmt.Errorf("outbound policy of %s does not decode (set it again): %w", container, store.ErrDamaged)
	}
	return p, true, nil
}

// SetPolicy checks and stores container's policy; calls made after it
// returns follow it.
func (cs *Clients) SetPolicy(container string, p Policy) error {
	if err := p.Check(); err != nil {
		return err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := cs.kv.KVPut(NamespacePolicy, container, b); err != nil {
		return err
	}
	cs.forget(container)
	return nil
}

// DeletePolicy removes container's policy: it calls nothing afterwards.
// found is false when it had none.
func (cs *Clients) DeletePolicy(container string) (found bool, err error) {
	err = cs.kv.KVDelete(NamespacePolicy, container)
	cs.forget(container)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (cs *Clients) forget(container string) {
	cs.mu.Lock()
	old := cs.clients[container]
	delete(cs.clients, container)
	cs.mu.Unlock()
	if old != nil {
		old.CloseIdle()
	}
	if cs.OnChange != nil {
		cs.OnChange(container)
	}
}

// Follow drops the clients of the policies other servers sharing the store
// change, as w delivers them, until ctx is done: the next call reads the
// stored policy. A Reset (the watch was lost) drops them all.
func (cs *Clients) Follow(ctx context.Context, w store.Watcher) {
	for c := range w.WatchKV(ctx, NamespacePolicy) {
		if !c.Reset {
			cs.forget(c.Key)
			continue
		}
		cs.mu.Lock()
		old := cs.clients
		cs.clients = map[string]*Client{}
		cs.mu.Unlock()
		for _, cl := range old {
			if cl != nil {
				cl.CloseIdle()
			}
		}
		if cs.OnChange != nil {
			cs.OnChange("")
		}
	}
}
