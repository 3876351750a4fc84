// Package etcdstore is a [store.Store] on an etcd cluster, so that several
// wasmtask nodes share their webtasks, modules, KV data, storage documents
// and cron jobs. It passes the same conformance suite as the bbolt store
// (store/storetest); [Open] connects it.
//
// # Layout
//
// Every key starts with Config.Prefix (default "/wasmtask/"). A container
// (or KV namespace) and a name (or key) are joined with NUL, which names
// never hold, so that key order is container order, then name order: with
// "/" the container "a-b" would sort before "a".
//
//	format                        "wasmtask-etcd/1", written by the first Open
//	w/<container> NUL <name>      webtask record (the JSON of store.EncodeWebtask)
//	m/<sha256>                    module record: size, chunk count, upload id, reference count
//	c/<sha256>/<upload>/<index>   module chunk, up to ChunkSize (512 KiB) bytes
//	s/<container> NUL <name>      storage document: version byte 1, then the data
//	kv/<namespace> NUL <key>      KV value
//	cron/<container> NUL <name>   cron job record (store.EncodeCronJob)
//	runs/<container> NUL <name> NUL <seq, 16 hex digits>   cron run record
//
// # Design
//
// Transactions. Each call that reads and then writes is one etcd
// transaction with optimistic concurrency: it reads at one revision, and
// its commit compares the mod revision of every key it read (and, for a
// range it read, that no key in it changed since). When another writer got
// in first, the call reads again and retries, until Config.Timeout. So
// PutWebtask (record, module, references), DeleteWebtask (record, storage
// document, release of the module), UpdateCronJob (job and history),
// UpdateCronJobs (all the jobs) and KVUpdate (compare-and-swap) are atomic
// as the interface promises. KVUpdate's and UpdateCronJob's fn may
// therefore run more than once.
//
// Modules. etcd refuses requests over 1.5 MiB by default, and modules are
// larger, so a module is stored in chunks of ChunkSize. A module of one
// chunk is written in the transaction of its webtask. A larger one is
// written chunk by chunk first, under a fresh upload id, then the
// transaction writes the module record naming that upload: no other
// writer touches keys of a fresh upload id, so the chunks cannot be
// deleted between the two steps, and the record appears only with all its
// chunks. An upload the transaction did not use (the module was stored
// meanwhile, or the call was refused) is deleted; one left by a node that
// died in between is deleted by the sweep of orphaned chunks (gc.go,
// Config.ChunkSweep), which deletes uploads no module record named at two
// sweeps in a row. Module records count
// their references, in the same transactions as the webtask records; the
// last release deletes the record and its chunks.
//
// Etags. A storage document's etag is its mod revision: no other write to
// the cluster ever had it, and PutStorage compares it in the transaction
// (etcd's Compare on ModRevision), so of two nodes writing with the same
// etag exactly one wins.
//
// Errors. Every request has Config.Timeout (default 5 s); a cluster that
// does not answer in time, has no leader or lost its quorum is
// store.ErrUnavailable, with the client reconnecting on its own (retries
// back off to at most 2 s, not gRPC's default 2 min). A request etcd
// refuses for its size is store.ErrTooLarge, a full etcd (its space quota)
// store.ErrFull. Error messages name no endpoint, except Open's, which
// also says what a dial of each endpoint met when none answered (refused,
// a TLS handshake that failed: diagnose.go), and never a password.
//
// Watches and election (watch.go). The store is a store.Watcher: a
// server follows the other servers' revocations and webtask writes with
// etcd watches, each (re)started with a Reset so that the follower re-reads
// what it keeps (after a compaction, or a member that lost its leader). It
// is a store.Elector too, with etcd's election recipe (the concurrency
// package), for the one cron scheduler of a cluster.
package etcdstore
