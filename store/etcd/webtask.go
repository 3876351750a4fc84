package etcdstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/wasmtask/wasmtask/store"
)

// head is the record of a stored module (<prefix>m/<sha256>): where its
// chunks are and how many webtasks reference it.
type head struct {
	V      int    `json:"v"`
	Size   int64  `json:"size"`
	Chunks int    `json:"chunks"`
	Upload string `json:"upload"` // the chunks are <prefix>c/<sha256>/<upload>/<index>
	Refs   int64  `json:"refs"`
}

const headVersion = 1

func decodeHead(sha string, v []byte) (head, error) {
	var h head
	if err := json.Unmarshal(v, &h); err != nil || h.V != headVersion || h.Chunks < 0 || h.Upload == "" {
		return head{}, fmt.Errorf("store: module %s: its record does not decode: %w", sha, store.ErrDamaged)
	}
	return h, nil
}

func encodeHead(h head) []byte {
	h.V = headVersion
	b, _ := json.Marshal(h) // cannot fail: no maps, no floats
	return b
}

func chunkKey(prefix string, i int) string { return fmt.Sprintf("%s%06d", prefix, i) }

// upload is a module's chunks, written under a fresh upload id.
type upload struct {
	sha    string
	id     string
	chunks int
	staged bool // written before the transaction (the module is larger than one chunk)
}

func newUpload(sha string, size int) upload {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return upload{sha: sha, id: hex.EncodeToString(b[:]), chunks: (size + ChunkSize - 1) / ChunkSize}
}

// stage writes the chunks of a module larger than one chunk, one request
// per chunk, before the transaction that references them: that one then
// stays under etcd's request limit. The upload id is new, so no other
// writer touches these keys; if the transaction does not use them, drop
// deletes them.
func (s *Store) stage(module []byte, up *upload) error {
	p := s.chunkPrefix(up.sha, up.id)
	for i := 0; i < up.chunks; i++ {
		chunk := module[i*ChunkSize : min((i+1)*ChunkSize, len(module))]
		ctx, cancel, err := s.begin("put module")
		if err != nil {
			return err
		}
		_, err = s.cli.Put(ctx, chunkKey(p, i), string(chunk))
		cancel()
		if err != nil {
			return s.fail("put module "+up.sha, err)
		}
	}
	up.staged = true
	return nil
}

// drop deletes the staged chunks of an upload no transaction used, best
// effort: what is left (the process died in between) takes space but is
// never read.
func (s *Store) drop(up upload) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	_, _ = s.cli.Delete(ctx, s.chunkPrefix(up.sha, up.id), clientv3.WithPrefix())
}

// PutWebtask implements store.Store. Modules up to ChunkSize are written in
// the webtask's transaction; larger ones in chunks before it, each chunk
// its own request (see the package documentation).
func (s *Store) PutWebtask(w store.Webtask, module []byte) (bool, error) {
	if err := store.CheckWebtaskKey(w.Container, w.Name); err != nil {
		return false, fmt.Errorf("store: put webtask: %w", err)
	}
	if err := store.CheckSHA(w.ModuleSHA256); err != nil {
		return false, fmt.Errorf("store: put webtask %q/%q: %w", w.Container, w.Name, err)
	}
	if module != nil {
		sum := sha256.Sum256(module)
		if got := hex.EncodeToString(sum[:]); got != w.ModuleSHA256 {
			return false, fmt.Errorf("store: put webtask %q/%q: module hashes to %s, not %s: %w",
				w.Container, w.Name, got, w.ModuleSHA256, store.ErrModuleHash)
		}
	}
	w.Damaged = ""
	now := s.now().UTC()
	var (
		created bool
		staged  *upload // chunks written before the transaction, if any
		used    bool    // the committed transaction references them
	)
	defer func() {
		if staged != nil && !used {
			s.drop(*staged)
		}
	}()
	_, err := s.update("put webtask", func(t *txn) error {
		used = false
		nw := w
		key := s.webtaskKey(w.Container, w.Name)
		kv, err := t.get(key)
		if err != nil {
			return err
		}
		found := kv != nil
		var old store.Webtask
		if found {
			old = store.DecodeWebtask(w.Container, w.Name, kv.Value)
		}
		oldOK := found && old.Damaged == "" // a damaged record's module is unknown: see DeleteWebtask

		mkey := s.moduleKey(w.ModuleSHA256)
		hkv, err := t.get(mkey)
		if err != nil {
			return err
		}
		var h head
		switch {
		case hkv != nil:
			if h, err = decodeHead(w.ModuleSHA256, hkv.Value); err != nil {
				return err
			}
		case module == nil:
			return fmt.Errorf("store: put webtask %q/%q: module %s: %w",
				w.Container, w.Name, w.ModuleSHA256, store.ErrModuleNotFound)
		case len(module) <= ChunkSize:
			up := newUpload(w.ModuleSHA256, len(module))
			if up.chunks > 0 {
				t.put(chunkKey(s.chunkPrefix(up.sha, up.id), 0), module)
			}
			h = head{Size: int64(len(module)), Chunks: up.chunks, Upload: up.id}
		default:
			if staged == nil {
				up := newUpload(w.ModuleSHA256, len(module))
				staged = &up
				if err := s.stage(module, staged); err != nil {
					return err
				}
				if s.afterStage != nil {
					s.afterStage(s.chunkPrefix(staged.sha, staged.id))
				}
				return errRetry // read again, at a revision that holds the chunks
			}
			// The record must not name chunks a sweep deleted (gc.go): the
			// commit checks that the first one is still there, and a sweep
			// that got there first makes this stage again.
			first, err := t.get(chunkKey(s.chunkPrefix(staged.sha, staged.id), 0))
			if err != nil {
				return err
			}
			if first == nil {
				s.drop(*staged) // what the sweep left, if anything
				staged = nil
				return errRetry
			}
			used = true
			h = head{Size: int64(len(module)), Chunks: staged.chunks, Upload: staged.id}
		}
		nw.ModuleSize = h.Size

		if !oldOK || old.ModuleSHA256 != w.ModuleSHA256 {
			h.Refs++
			t.put(mkey, encodeHead(h))
			if oldOK {
				if err := s.release(t, old.ModuleSHA256); err != nil {
					return err
				}
			}
		}
		switch {
		case oldOK:
			nw.Created = old.Created
		case nw.Created.IsZero():
			nw.Created = now
		default:
			nw.Created = nw.Created.UTC()
		}
		nw.Updated = now
		data, err := store.EncodeWebtask(nw)
		if err != nil {
			return err
		}
		t.put(key, data)
		created = !found
		return nil
	})
	if err != nil {
		// A commit whose answer was lost may have been applied: its chunks
		// must stay. Only a refusal before the commit frees them.
		if !errors.Is(err, store.ErrUnavailable) && !errors.Is(err, store.ErrClosed) {
			used = false
		}
		return false, err
	}
	return created, nil
}

// release drops one reference to the module in t and deletes it, chunks
// and all, when no webtask references it any more.
func (s *Store) release(t *txn, sha string) error {
	mkey := s.moduleKey(sha)
	kv, err := t.get(mkey)
	if err != nil || kv == nil {
		return err // a reference to a module not stored: nothing to release
	}
	h, err := decodeHead(sha, kv.Value)
	if err != nil {
		return err
	}
	if h.Refs--; h.Refs > 0 {
		t.put(mkey, encodeHead(h))
		return nil
	}
	t.del(mkey)
	t.del(s.chunkPrefix(sha, h.Upload), clientv3.WithPrefix())
	return nil
}

// GetWebtask implements store.Store.
func (s *Store) GetWebtask(container, name string) (store.Webtask, error) {
	if err := store.CheckWebtaskKey(container, name); err != nil {
		return store.Webtask{}, fmt.Errorf("store: get webtask: %w", err)
	}
	kv, err := s.get("get webtask", s.webtaskKey(container, name))
	switch {
	case err != nil:
		return store.Webtask{}, err
	case kv == nil:
		return store.Webtask{}, fmt.Errorf("store: get webtask %q/%q: %w", container, name, store.ErrNotFound)
	}
	w := store.DecodeWebtask(container, name, kv.Value)
	if w.Damaged != "" {
		return store.Webtask{}, store.DamagedError("get webtask", w)
	}
	return w, nil
}

// ListWebtasks implements store.Store.
func (s *Store) ListWebtasks(container string) ([]store.Webtask, error) {
	if err := store.CheckName("container", container); err != nil {
		return nil, fmt.Errorf("store: list webtasks: %w", err)
	}
	list := []store.Webtask{}
	root := s.prefix + "w/"
	err := s.walk("list webtasks", root+container+"\x00", func(kv *mvccpb.KeyValue) error {
		c, n := splitKey(kv.Key, root)
		list = append(list, store.DecodeWebtask(c, n, kv.Value))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return list, nil
}

// DeleteWebtask implements store.Store.
func (s *Store) DeleteWebtask(container, name string) error {
	if err := store.CheckWebtaskKey(container, name); err != nil {
		return fmt.Errorf("store: delete webtask: %w", err)
	}
	_, err := s.update("delete webtask", func(t *txn) error {
		key := s.webtaskKey(container, name)
		kv, err := t.get(key)
		switch {
		case err != nil:
			return err
		case kv == nil:
			return fmt.Errorf("store: delete webtask %q/%q: %w", container, name, store.ErrNotFound)
		}
		t.del(key)
		t.del(s.storageKey(container, name))
		// A damaged record does not say which module it referenced: that
		// module keeps one reference too many (see store.Store).
		if old := store.DecodeWebtask(container, name, kv.Value); old.Damaged == "" {
			return s.release(t, old.ModuleSHA256)
		}
		return nil
	})
	return err
}

// GetModule implements store.Store. It reads the chunks at the revision it
// read the module's record at, so a module deleted meanwhile is still read
// whole (unless etcd compacted that revision away: then it reads again).
func (s *Store) GetModule(sha256hex string) ([]byte, error) {
	if err := store.CheckSHA(sha256hex); err != nil {
		return nil, fmt.Errorf("store: get module: %w", err)
	}
	const op = "get module"
	for {
		t := &txn{s: s, op: op}
		ctx, cancel, err := s.begin(op)
		if err != nil {
			return nil, err
		}
		t.ctx = ctx
		module, err := s.readModule(t, sha256hex)
		cancel()
		if err != errRetry {
			return module, err
		}
	}
}

func (s *Store) readModule(t *txn, sha string) ([]byte, error) {
	resp, err := t.read(s.moduleKey(sha))
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("store: get module %s: %w", sha, store.ErrModuleNotFound)
	}
	h, err := decodeHead(sha, resp.Kvs[0].Value)
	if err != nil {
		return nil, err
	}
	module := make([]byte, 0, h.Size)
	p := s.chunkPrefix(sha, h.Upload)
	for i := 0; i < h.Chunks; i++ {
		ctx, cancel := context.WithTimeout(s.ctx, s.timeout) // per chunk: a large module takes several
		t.ctx = ctx
		cr, err := t.read(chunkKey(p, i))
		cancel()
		if err != nil {
			return nil, err
		}
		if len(cr.Kvs) == 0 {
			return nil, fmt.Errorf("store: get module %s: chunk %d of %d is missing: %w", sha, i, h.Chunks, store.ErrDamaged)
		}
		module = append(module, cr.Kvs[0].Value...)
	}
	if int64(len(module)) != h.Size {
		return nil, fmt.Errorf("store: get module %s: %d bytes, its record says %d: %w", sha, len(module), h.Size, store.ErrDamaged)
	}
	return module, nil
}

// ModuleRefs implements store.Store.
func (s *Store) ModuleRefs(sha256hex string) (int, error) {
	if err := store.CheckSHA(sha256hex); err != nil {
		return 0, fmt.Errorf("store: module refs: %w", err)
	}
	kv, err := s.get("module refs", s.moduleKey(sha256hex))
	if err != nil || kv == nil {
		return 0, err
	}
	h, err := decodeHead(sha256hex, kv.Value)
	if err != nil {
		return 0, err
	}
	return int(h.Refs), nil
}

// ForEachWebtask implements store.Store: it reads the webtasks in batches,
// each at its own revision, and calls fn between requests.
func (s *Store) ForEachWebtask(fn func(store.Webtask) error) error {
	root := s.prefix + "w/"
	return s.walk("for each webtask", root, func(kv *mvccpb.KeyValue) error {
		c, n := splitKey(kv.Key, root)
		return fn(store.DecodeWebtask(c, n, kv.Value))
	})
}
