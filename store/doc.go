// Package store persists webtasks, their compiled-from Wasm modules and small
// namespaced key/value data for the wasmtask host.
//
// # Interface and backend
//
// Callers (the host, the CLI) depend only on the [Store] interface and the
// types next to it ([Webtask], [KVPair]). The default backend is [Bolt], a
// single-file embedded database built on go.etcd.io/bbolt and created with
// [Open]; store/etcd is a distributed one, on an etcd cluster. Both pass the
// conformance suite of store/storetest, and share the argument checks and
// record codecs of backend.go. The interface states every guarantee a
// backend must give:
//
//   - PutWebtask stores the webtask record and its module in one atomic,
//     durable write; a failed call leaves nothing behind.
//   - Modules are content-addressed by the lower-case hex SHA-256 of their
//     bytes and reference counted: identical modules are stored once and a
//     module is deleted when the last webtask referencing it is replaced or
//     deleted.
//   - Values handed out are copies the caller owns.
//   - Missing things are reported with the sentinel errors of errors.go,
//     wrapped with the "store: " prefix; match them with [errors.Is].
//   - Error messages hold no file system path (except Open's, which names
//     the path it was given), so callers may show them to clients.
//   - A full disk is [ErrFull] and stores nothing; damaged data is
//     [ErrDamaged] and never crashes the process (see below).
//
// A store shared by several servers also implements the optional
// [Watcher] (each server follows the others' writes: revocations, webtask
// records, outbound policies) and [Elector] (one cron scheduler per
// cluster); callers find them with a type assertion (watch.go). Bolt,
// used by one process, implements neither.
//
// The store does not judge names: the host decides which container and
// webtask names are legal. The store only refuses what would break its key
// layout (empty strings, NUL and "/") and reports it as [ErrInvalid].
//
// # Bolt layout
//
// One bbolt file holds these top-level buckets:
//
//	meta      "format" -> format marker, checked on Open
//	webtasks  <container> (nested bucket) -> <name> -> JSON record (see record.go)
//	modules   <sha256 hex> -> module bytes
//	refs      <sha256 hex> -> 8-byte big-endian reference count
//	kv        <namespace> (nested bucket) -> <key> -> value
//	storage   <container> (nested bucket) -> <name> -> storage document (see storage.go)
//	cron      <container> (nested bucket) -> <name> -> cron job record (see cron.go)
//	cronruns  <container> (nested bucket) -> <name> (nested bucket) -> sequence -> run record
//
// A nested bucket per container (and per KV namespace) makes listing a
// cursor walk in key order; empty nested buckets are removed so unknown and
// emptied containers look the same.
//
// # Damage
//
// bbolt reads the file through a memory map: a page missing from a truncated
// file is a SIGBUS, which would kill the whole process, and bbolt panics on a
// page it cannot parse. The store defends at three levels:
//
//   - Open refuses a file shorter than the high-water mark of its meta page
//     and, up to 64 MiB, one that fails a walk of every page and bbolt's
//     Tx.Check (check.go); the error wraps [ErrDamaged] and tells the
//     operator how to recover.
//   - Every transaction runs with debug.SetPanicOnFault (fault.go): a fault
//     or a bbolt panic becomes an [ErrDamaged] error of that call. Writes
//     are refused afterwards, so that the damage does not spread; reads are
//     still tried.
//   - A single record that does not decode fails only GetWebtask
//     ([ErrDamaged]); ListWebtasks and ForEachWebtask report it in
//     [Webtask.Damaged] and go on, and DeleteWebtask removes it.
//
// Write errors are classified in ioerr.go: ENOSPC and EDQUOT become
// [ErrFull], and file paths are stripped from messages.
package store
