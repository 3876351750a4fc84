// Package store persists webtasks, their compiled-from Wasm modules and small
// namespaced key/value data for the wasmtask host.
//
// # Interface and backend
//
// Callers (the host, the CLI) depend only on the [Store] interface and the
// types next to it ([Webtask], [KVPair]); the one backend today is [Bolt], a
// single-file embedded database built on go.etcd.io/bbolt and created with
// [Open]. A distributed backend can later implement [Store] without any caller
// changing, so the interface states every guarantee a backend must give:
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
//
// A nested bucket per container (and per KV namespace) makes listing a
// cursor walk in key order; empty nested buckets are removed so unknown and
// emptied containers look the same.
package store
