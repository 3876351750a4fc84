package store

import (
	"context"
	"time"
)

// Optional interfaces of a Store shared by several servers (the etcd
// store): a server checks for them with a type assertion and, when the
// store has them, follows the other servers' writes and elects one cron
// scheduler. The bbolt store, used by one process, has neither.

// Change is one write seen by a Watcher: a key of the watched KV namespace
// (Key, the value it now holds, or Deleted), or a webtask (Container, Name;
// Value its record, Deleted). Reset says the watch was lost and resumed
// from the current state (a compaction removed the revisions it missed, or
// the cluster was out of reach): the follower must re-read what it keeps
// from the store, since some changes were not delivered.
type Change struct {
	Container, Name string // webtask changes
	Key             string // KV changes
	Value           []byte
	Deleted         bool
	Reset           bool
}

// Watcher delivers the changes the store's writers (this process and the
// others) make, in commit order, until ctx is done (the channel is then
// closed). A change is delivered at least once: after a lost watch the
// follower gets a Reset and re-reads.
type Watcher interface {
	// WatchKV follows the keys of one KV namespace.
	WatchKV(ctx context.Context, ns string) <-chan Change
	// WatchWebtasks follows the webtask records of every container.
	WatchWebtasks(ctx context.Context) <-chan Change
}

// Elector elects one leader among the processes sharing the store.
type Elector interface {
	// Lead blocks until this process leads election name (or ctx is done:
	// ctx's error) and returns a channel closed when it stops leading: its
	// lease was not renewed within ttl (the process was paused or cut
	// from the cluster), or ctx is done. A process that dies loses the
	// lead within ttl, and another one takes it.
	Lead(ctx context.Context, name string, ttl time.Duration) (lost <-chan struct{}, err error)
}
