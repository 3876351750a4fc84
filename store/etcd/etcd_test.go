package etcdstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/wasmtask/wasmtask/store"
	"github.com/wasmtask/wasmtask/store/etcd/etcdtest"
	"github.com/wasmtask/wasmtask/store/storetest"
)

// shared is the etcd server most tests use, started by TestMain; each test
// has a prefix of its own.
var shared *server

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wasmtask-etcd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shared, err = startServer(dir, "", "")
	if err != nil {
		fmt.Fprintln(os.Stderr, "start etcd:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	shared.stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is an etcd server embedded in the test process, on loopback.
type server struct {
	dir, client, peer string // client and peer: host:port
	e                 *embed.Etcd
}

// startServer starts a one-member cluster with its data in dir, on the
// given addresses (free ones if empty). fsync is off: the tests are about
// the store, not etcd's durability.
func startServer(dir, client, peer string) (*server, error) {
	var err error
	for _, a := range []*string{&client, &peer} {
		if *a == "" {
			if *a, err = etcdtest.FreeAddr(); err != nil {
				return nil, err
			}
		}
	}
	cfg := etcdtest.Config("test", dir, client, peer, "")
	cfg.UnsafeNoFsync = true
	e, err := etcdtest.Start(cfg)
	if err != nil {
		return nil, err
	}
	return &server{dir: dir, client: client, peer: peer, e: e}, nil
}

func (s *server) stop() { s.e.Close() }

var prefixes atomic.Int64

// openTest opens a store on srv under a prefix no other test uses and
// closes it when the test ends.
func openTest(t testing.TB, srv *server, cfg Config) *Store {
	t.Helper()
	cfg.Endpoints = []string{srv.client}
	if cfg.Prefix == "" {
		cfg.Prefix = fmt.Sprintf("/test/%d/", prefixes.Add(1))
	}
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// keys returns the keys under s's prefix (without it), but the format
// marker, and their number.
func keys(t testing.TB, s *Store, under string) []string {
	t.Helper()
	resp, err := s.cli.Get(context.Background(), s.prefix+under, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, kv := range resp.Kvs {
		if k := strings.TrimPrefix(string(kv.Key), s.prefix); k != "format" {
			out = append(out, fmt.Sprintf("%q", k))
		}
	}
	return out
}

func TestStore_conformance(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		Open: func(t *testing.T, o storetest.Options) store.Store {
			s := openTest(t, shared, Config{})
			s.now = o.Now
			if o.WalkBatch > 0 {
				s.batch = o.WalkBatch
			}
			return s
		},
		Reopen: func(t *testing.T, s store.Store) store.Store {
			prefix := s.(*Store).prefix
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			return openTest(t, shared, Config{Prefix: prefix})
		},
		PutRaw: func(t *testing.T, s store.Store, kind storetest.Kind, c, n string, raw []byte) {
			es := s.(*Store)
			key := map[storetest.Kind]string{
				storetest.KindWebtask: es.webtaskKey(c, n),
				storetest.KindStorage: es.storageKey(c, n),
				storetest.KindCronJob: es.cronKey(c, n),
			}[kind]
			if _, err := es.cli.Put(context.Background(), key, string(raw)); err != nil {
				t.Fatal(err)
			}
		},
		Modules:   func(t *testing.T, s store.Store) int { return len(keys(t, s.(*Store), "m/")) },
		Leftovers: func(t *testing.T, s store.Store) []string { return keys(t, s.(*Store), "") },
	})
}

// TestStore_bigModule: a module larger than etcd's request limit is
// stored in chunks, read back whole, shared, and deleted with its last
// webtask, chunks and all.
func TestStore_bigModule(t *testing.T) {
	s := openTest(t, shared, Config{})
	mod, sha := bigModule(3<<20+12345, 1) // 7 chunks, the last one partial
	storetest.MustPut(t, s, store.Webtask{Container: "c", Name: "big", ModuleSHA256: sha}, mod)
	if n := len(keys(t, s, "c/")); n != 7 {
		t.Errorf("%d chunks stored, want 7", n)
	}
	got, err := s.GetModule(sha)
	if err != nil || !bytes.Equal(got, mod) {
		t.Fatalf("GetModule: %d bytes, %v; want the %d put", len(got), err, len(mod))
	}
	w, err := s.GetWebtask("c", "big")
	if err != nil || w.ModuleSize != int64(len(mod)) {
		t.Fatalf("GetWebtask = %+v, %v", w, err)
	}
	// The same bytes again: stored once, no chunk left over.
	storetest.MustPut(t, s, store.Webtask{Container: "c", Name: "again", ModuleSHA256: sha}, bytes.Clone(mod))
	storetest.WantRefs(t, s, sha, 2)
	if n := len(keys(t, s, "c/")); n != 7 {
		t.Errorf("%d chunks stored after a second put, want 7", n)
	}
	for _, n := range []string{"big", "again"} {
		if err := s.DeleteWebtask("c", n); err != nil {
			t.Fatal(err)
		}
	}
	storetest.WantRefs(t, s, sha, 0)
	if left := keys(t, s, ""); len(left) > 0 {
		t.Errorf("left behind: %q", left)
	}
}

// bigModule is a module of n random bytes (seeded: the same n and seed,
// the same module) and its SHA-256.
func bigModule(n int, seed uint64) ([]byte, string) {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return storetest.Module(string(b))
}

// TestStore_replaceBigModule: a webtask replaced with another module
// releases the old one's chunks — at once when it was the module's only
// webtask, with the last webtask that references it when it is shared.
func TestStore_replaceBigModule(t *testing.T) {
	s := openTest(t, shared, Config{ChunkSweep: -1}) // no sweep: the release alone must free them
	oldMod, oldSHA := bigModule(2*ChunkSize+1, 3)    // 3 chunks
	newMod, newSHA := bigModule(ChunkSize+7, 4)      // 2 chunks
	small, smallSHA := storetest.Module("small")
	chunksOf := func(sha string) int { return len(keys(t, s, "c/"+sha+"/")) }

	t.Run("only reference", func(t *testing.T) {
		storetest.MustPut(t, s, store.Webtask{Container: "c", Name: "one", ModuleSHA256: oldSHA}, oldMod)
		if n := chunksOf(oldSHA); n != 3 {
			t.Fatalf("%d chunks stored, want 3", n)
		}
		storetest.MustPut(t, s, store.Webtask{Container: "c", Name: "one", ModuleSHA256: newSHA}, newMod)
		if n := chunksOf(oldSHA); n != 0 {
			t.Errorf("%d chunks of the replaced module left: %q", n, keys(t, s, "c/"+oldSHA+"/"))
		}
		storetest.WantRefs(t, s, oldSHA, 0)
		if got, err := s.GetModule(newSHA); err != nil || !bytes.Equal(got, newMod) {
			t.Fatalf("GetModule(new) = %d bytes, %v", len(got), err)
		}
		// Replaced by a module small enough for one transaction: the
		// chunks go all the same.
		storetest.MustPut(t, s, store.Webtask{Container: "c", Name: "one", ModuleSHA256: smallSHA}, small)
		if n := chunksOf(newSHA); n != 0 {
			t.Errorf("%d chunks of the replaced module left", n)
		}
		if err := s.DeleteWebtask("c", "one"); err != nil {
			t.Fatal(err)
		}
		if left := keys(t, s, ""); len(left) > 0 {
			t.Errorf("left behind: %q", left)
		}
	})

	t.Run("shared", func(t *testing.T) {
		for _, n := range []string{"x", "y"} {
			storetest.MustPut(t, s, store.Webtask{Container: "c", Name: n, ModuleSHA256: oldSHA}, oldMod)
		}
		storetest.MustPut(t, s, store.Webtask{Container: "c", Name: "x", ModuleSHA256: newSHA}, newMod)
		storetest.WantRefs(t, s, oldSHA, 1)
		if n := chunksOf(oldSHA); n != 3 {
			t.Fatalf("%d chunks of the module y still runs, want 3", n)
		}
		if got, err := s.GetModule(oldSHA); err != nil || !bytes.Equal(got, oldMod) {
			t.Fatalf("GetModule(old) while y uses it = %d bytes, %v", len(got), err)
		}
		// y replaced too (by x's module): the last reference goes.
		storetest.MustPut(t, s, store.Webtask{Container: "c", Name: "y", ModuleSHA256: newSHA}, nil)
		storetest.WantRefs(t, s, oldSHA, 0)
		storetest.WantRefs(t, s, newSHA, 2)
		if n := chunksOf(oldSHA); n != 0 {
			t.Errorf("%d chunks of a module no webtask references left: %q", n, keys(t, s, "c/"+oldSHA+"/"))
		}
		for _, n := range []string{"x", "y"} {
			if err := s.DeleteWebtask("c", n); err != nil {
				t.Fatal(err)
			}
		}
		if left := keys(t, s, ""); len(left) > 0 {
			t.Errorf("left behind: %q", left)
		}
	})
}

// TestStore_tooLarge: what etcd refuses for its size is ErrTooLarge, and
// stores nothing.
func TestStore_tooLarge(t *testing.T) {
	s := openTest(t, shared, Config{})
	huge := strings.Repeat("x", 2<<20)
	mod, sha := storetest.Module("small")
	_, err := s.PutWebtask(store.Webtask{Container: "c", Name: "n", ModuleSHA256: sha, Meta: map[string]string{"k": huge}}, mod)
	if !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("PutWebtask with 2 MiB of meta: %v, want ErrTooLarge", err)
	}
	if err := s.KVPut("ns", "k", []byte(huge)); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("KVPut of 2 MiB: %v, want ErrTooLarge", err)
	}
	if left := keys(t, s, ""); len(left) > 0 {
		t.Errorf("left behind: %q", left)
	}
}

// TestOpen_unreachable: no etcd at the endpoints is a clear error within
// the dial timeout, with or without a user (whose client authenticates
// while it connects), and without the password.
func TestOpen_unreachable(t *testing.T) {
	addr, err := etcdtest.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	const password = "pw-unreachable-secret"
	for name, cfg := range map[string]Config{"no user": {}, "a user": {Username: "wasmtask", Password: password}} {
		t.Run(name, func(t *testing.T) {
			cfg.Endpoints, cfg.DialTimeout = []string{addr}, 500*time.Millisecond
			start := time.Now()
			s, err := Open(context.Background(), cfg)
			elapsed := time.Since(start)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded with no etcd")
			}
			msg := err.Error()
			if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(msg, "no member answered within 500ms") ||
				!strings.Contains(msg, addr) || !strings.Contains(msg, "connection refused") || strings.Contains(msg, password) {
				t.Errorf("err = %v, want ErrUnavailable naming %s, and what a dial met", err, addr)
			}
			if elapsed > 3*time.Second {
				t.Errorf("Open took %v, want about the dial timeout (500ms)", elapsed)
			}
			t.Logf("after %v: %v", elapsed.Round(time.Millisecond), err)
		})
	}
}

// TestOpen_foreignPrefix: a prefix holding another format is refused.
func TestOpen_foreignPrefix(t *testing.T) {
	if _, err := rawClient(t).Put(context.Background(), "/foreign/format", "something-else/9"); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), Config{Endpoints: []string{shared.client}, Prefix: "/foreign"})
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded on a foreign prefix")
	}
	if !strings.Contains(err.Error(), "format") || errors.Is(err, store.ErrUnavailable) {
		t.Errorf("err = %v", err)
	}
}

// TestStore_etcdRestart: etcd stopped while the store is open makes calls
// fail with ErrUnavailable within the timeout; once it is back, the store
// works again without being reopened.
func TestStore_etcdRestart(t *testing.T) {
	srv, err := startServer(t.TempDir(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { srv.stop() }()
	s := openTest(t, srv, Config{Timeout: time.Second})
	mod, sha := storetest.Module("restart")
	storetest.MustPut(t, s, store.Webtask{Container: "c", Name: "n", ModuleSHA256: sha}, mod)

	srv.stop()
	start := time.Now()
	_, getErr := s.GetWebtask("c", "n")
	putErr := s.KVPut("ns", "k", []byte("v"))
	elapsed := time.Since(start)
	for _, err := range []error{getErr, putErr} {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("with etcd stopped: %v, want ErrUnavailable", err)
		}
	}
	if elapsed > 4*time.Second {
		t.Errorf("two calls took %v with a 1s timeout", elapsed)
	}
	t.Logf("etcd stopped: %v", putErr)

	if srv, err = startServer(srv.dir, srv.client, srv.peer); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	deadline := start.Add(15 * time.Second)
	for {
		_, err := s.GetWebtask("c", "n")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd back for 15s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("working again %v after etcd restarted", time.Since(start).Round(time.Millisecond))
	if err := s.KVPut("ns", "k", []byte("v")); err != nil {
		t.Fatalf("KVPut after the restart: %v", err)
	}
}

// rawClient is a client of the shared server, closed when the test ends.
func rawClient(t *testing.T) *clientv3.Client {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{shared.client}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}
