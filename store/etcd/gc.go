package etcdstore

// Garbage collection of orphaned chunks. A module larger than one chunk is
// staged (its chunks written under a fresh upload id) before the
// transaction that writes the module record naming that upload. A node
// that dies between the two, or whose commit's answer was lost and which
// could not tell whether it applied, leaves chunks no record names: they
// take space in etcd (whose size is bounded by its quota) for ever.
//
// SweepChunks finds them: an upload whose chunks exist but that no module
// record names. It cannot tell such an orphan from an upload being staged
// right now, whose record is about to be written, so it deletes only
// uploads it found unnamed twice, at two sweeps ChunkSweep apart, with the
// module record unchanged in between — and deletes them in a transaction
// that checks the record is still unchanged. On the other side, the
// transaction that writes a record naming staged chunks checks that their
// first chunk still exists (PutWebtask), and stages again if a sweep got
// there first; so no record ever names deleted chunks.

import (
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// DefaultChunkSweep is how often a store sweeps orphaned chunks
// (Config.ChunkSweep): an orphan lives between one and two of these.
const DefaultChunkSweep = 10 * time.Minute

// SweepChunks deletes the chunks of uploads that no module record named at
// this sweep and at the previous one, the record unchanged in between
// (see the comment at the top of this file), and returns how many uploads
// it deleted. The first sweep of a store deletes nothing: it only notes.
func (s *Store) SweepChunks() (int, error) {
	s.gcMu.Lock()
	defer s.gcMu.Unlock()

	// Every upload that has chunks, keys only (chunks are up to 512 KiB).
	type group struct{ sha, upload string }
	root := s.prefix + "c/"
	groups := map[group]bool{}
	err := s.walk("sweep chunks", root, func(kv *mvccpb.KeyValue) error {
		rest := string(kv.Key[len(root):]) // <sha>/<upload>/<index>
		parts := strings.SplitN(rest, "/", 3)
		if len(parts) == 3 {
			groups[group{parts[0], parts[1]}] = true
		}
		return nil
	}, clientv3.WithKeysOnly())
	if err != nil {
		return 0, err
	}

	// The upload each module record names, and the record's revision.
	type record struct {
		upload string
		rev    int64
	}
	mroot := s.prefix + "m/"
	records := map[string]record{}
	damaged := map[string]bool{} // records that do not decode: their chunks are left alone
	err = s.walk("sweep chunks", mroot, func(kv *mvccpb.KeyValue) error {
		sha := string(kv.Key[len(mroot):])
		h, err := decodeHead(sha, kv.Value)
		if err != nil {
			damaged[sha] = true
			return nil
		}
		records[sha] = record{h.Upload, kv.ModRevision}
		return nil
	})
	if err != nil {
		return 0, err
	}

	seen := map[string]int64{} // chunk prefix → the module record's revision (0: none)
	deleted := 0
	for g := range groups {
		rec, ok := records[g.sha]
		if ok && rec.upload == g.upload || damaged[g.sha] {
			continue // named (in use), or by a record that cannot be read
		}
		prefix := s.chunkPrefix(g.sha, g.upload)
		if before, noted := s.gcSeen[prefix]; !noted || before != rec.rev {
			seen[prefix] = rec.rev // unnamed for the first time (or the record changed): next sweep
			continue
		}
		ok, err := s.deleteUnnamed(g.sha, prefix, rec.rev)
		if err != nil {
			s.gcSeen = seen
			return deleted, err
		}
		if ok {
			deleted++
		}
	}
	s.gcSeen = seen
	return deleted, nil
}

// deleteUnnamed deletes the chunks under prefix if the module record of
// sha still has revision rev (0: still absent). It reports whether it did.
func (s *Store) deleteUnnamed(sha, prefix string, rev int64) (bool, error) {
	ctx, cancel, err := s.begin("sweep chunks")
	if err != nil {
		return false, err
	}
	defer cancel()
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(s.moduleKey(sha)), "=", rev)).
		Then(clientv3.OpDelete(prefix, clientv3.WithPrefix())).
		Commit()
	if err != nil {
		return false, s.fail("sweep chunks", err)
	}
	return resp.Succeeded, nil
}

// sweepChunks runs SweepChunks every period until the store closes.
func (s *Store) sweepChunks(period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_, _ = s.SweepChunks() // a failed sweep costs space until the next one
		case <-s.ctx.Done():
			return
		}
	}
}
