package etcdstore

import (
	"context"
	"fmt"
	"math"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/wasmtask/wasmtask/store"
)

var (
	_ store.Watcher = (*Store)(nil)
	_ store.Elector = (*Store)(nil)
)

// WatchKV implements store.Watcher for one KV namespace.
func (s *Store) WatchKV(ctx context.Context, ns string) <-chan store.Change {
	root := s.kvKey(ns, "")
	return s.watch(ctx, root, func(key []byte) store.Change { return store.Change{Key: string(key[len(root):])} })
}

// WatchWebtasks implements store.Watcher for the webtask records.
func (s *Store) WatchWebtasks(ctx context.Context) <-chan store.Change {
	root := s.prefix + "w/"
	return s.watch(ctx, root, func(key []byte) store.Change {
		c, n := splitKey(key, root)
		return store.Change{Container: c, Name: n}
	})
}

// watchRetry is the pause before a watch that failed starts again.
const watchRetry = 200 * time.Millisecond

// watch follows the keys under prefix. Each (re)start fixes a revision,
// sends a Reset (the follower re-reads: what changed up to that revision
// is in what it reads) and watches from the revision after it; etcd's
// client resumes a watch cut by a lost connection from its last revision
// on its own. A watch that cannot resume (its revisions were compacted
// away, or the member lost its leader: WithRequireLeader) starts again.
// So a follower misses no change, and sees one twice at worst.
func (s *Store) watch(ctx context.Context, prefix string, change func(key []byte) store.Change) <-chan store.Change {
	out := make(chan store.Change, 64)
	go func() {
		defer close(out)
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(s.ctx, cancel) // Close ends the watch
		defer stop()
		send := func(c store.Change) bool {
			select {
			case out <- c:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for ctx.Err() == nil {
			rctx, rcancel := context.WithTimeout(ctx, s.timeout)
			resp, err := s.cli.Get(rctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
			rcancel()
			if err != nil {
				sleep(ctx, watchRetry)
				continue
			}
			rev := resp.Header.Revision + 1
			if !send(store.Change{Reset: true}) {
				return
			}
			wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
			for wr := range s.cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(rev)) {
				if wr.CompactRevision != 0 || wr.Err() != nil {
					break // start again, from a fresh revision, with a Reset
				}
				for _, ev := range wr.Events {
					c := change(ev.Kv.Key)
					c.Deleted = ev.Type == clientv3.EventTypeDelete
					if !c.Deleted {
						c.Value = clone(ev.Kv.Value)
					}
					if !send(c) {
						wcancel()
						return
					}
				}
			}
			wcancel()
			sleep(ctx, watchRetry)
		}
	}()
	return out
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Lead implements store.Elector with etcd's election recipe
// (go.etcd.io/etcd/client/v3/concurrency): a session (a lease of ttl,
// rounded up to whole seconds, kept alive by the client) and a key under
// <prefix>leader/<name> created with it; the oldest such key leads. A
// process that dies stops renewing the lease, etcd deletes the key when it
// expires, and the next one leads. The channel returned is closed as soon
// as the client sees its lease expire (etcd out of reach for the TTL),
// or, when ctx is done, once the resignation is written.
func (s *Store) Lead(ctx context.Context, name string, ttl time.Duration) (<-chan struct{}, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("store: lead %q: %w", name, store.ErrClosed)
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	fail := func(err error) (<-chan struct{}, error) {
		stop()
		cancel()
		if ctx.Err() != nil && !s.closed.Load() {
			return nil, err
		}
		return nil, s.fail(fmt.Sprintf("lead %q", name), err)
	}
	secs := max(int(math.Ceil(ttl.Seconds())), 1)
	sess, err := concurrency.NewSession(s.cli, concurrency.WithTTL(secs), concurrency.WithContext(ctx))
	if err != nil {
		return fail(err)
	}
	host, _ := os.Hostname()
	el := concurrency.NewElection(sess, s.prefix+"leader/"+name)
	if err := el.Campaign(ctx, fmt.Sprintf("%s/%d", host, os.Getpid())); err != nil {
		_ = sess.Close()
		return fail(err)
	}
	lost := make(chan struct{})
	go func() {
		defer stop()
		defer cancel()
		select {
		case <-sess.Done():
			// The lease is gone (it expired: etcd was out of reach for
			// its TTL, and another server may lead already): say so at
			// once, not after the clean-up below, which waits for an
			// etcd that may not answer.
			close(lost)
		case <-ctx.Done():
			// A resignation: lost closes once the key is deleted (the
			// next server leads at once), so that a caller waiting for
			// it may close the store afterwards.
			defer close(lost)
		}
		rctx, rcancel := context.WithTimeout(context.Background(), time.Second)
		_ = el.Resign(rctx) // best effort: the lease expires anyway
		rcancel()
		_ = sess.Close()
	}()
	return lost, nil
}
