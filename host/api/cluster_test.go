package api_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wasmtask/wasmtask/host/api"
	"github.com/wasmtask/wasmtask/host/keys"
	"github.com/wasmtask/wasmtask/store"
)

// serveOn runs a server on st (which the test closes) like start.
func serveOn(t *testing.T, cfg api.Config, st store.Store) *testServer {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.CacheDir, cfg.SharedCache = sharedCache, true
	srv, err := api.New(context.Background(), cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	return &testServer{Server: srv, t: t, URL: "http://" + ln.Addr().String(), Admin: srv.AdminToken(), Data: cfg.DataDir}
}

func openBolt(t *testing.T) *store.Bolt {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "wasmtask.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// TestServer_SharedKeys: two servers on one store with a key-encryption
// key share their keys through it: a token one issues works on the other,
// no keys.json is written, and a wrong key-encryption key stops the start.
func TestServer_SharedKeys(t *testing.T) {
	st := openBolt(t)
	kek, _ := keys.ParseKEKs(strings.Repeat("ab", 32))
	a := serveOn(t, api.Config{KEK: kek}, st)
	b := serveOn(t, api.Config{KEK: kek}, st)
	if _, err := os.Stat(filepath.Join(a.Data, keys.FileName)); !os.IsNotExist(err) {
		t.Fatalf("keys.json written with shared keys: %v", err)
	}
	tok := a.req("POST", "/api/tokens/issue", a.Admin, []byte(`{"ten":"acme"}`), "Content-Type: application/json")
	if tok.Status != 200 {
		t.Fatalf("issue: %d %s", tok.Status, tok.Body)
	}
	if r := b.req("GET", "/api/webtask/acme", string(tok.Body), nil); r.Status != 200 {
		t.Fatalf("a's token on b: %d %s", r.Status, r.Body)
	}
	wrong, _ := keys.ParseKEKs(strings.Repeat("cd", 32))
	_, err := api.New(context.Background(), api.Config{DataDir: t.TempDir(), KEK: wrong, CacheDir: sharedCache, SharedCache: true}, st)
	if err == nil || !strings.Contains(err.Error(), "key-encryption key") {
		t.Fatalf("wrong KEK: %v", err)
	}
}

// downStore fails every write (and the reads a write needs) with
// store.ErrUnavailable while down is set, like an etcd cluster out of reach.
type downStore struct {
	store.Store
	down atomic.Bool
}

func (s *downStore) err(op string) error {
	if s.down.Load() {
		return fmt.Errorf("store: %s: etcd did not answer within 1s: %w", op, store.ErrUnavailable)
	}
	return nil
}

func (s *downStore) PutWebtask(w store.Webtask, m []byte) (bool, error) {
	if err := s.err("put webtask"); err != nil {
		return false, err
	}
	return s.Store.PutWebtask(w, m)
}
func (s *downStore) GetWebtask(c, n string) (store.Webtask, error) {
	if err := s.err("get webtask"); err != nil {
		return store.Webtask{}, err
	}
	return s.Store.GetWebtask(c, n)
}
func (s *downStore) ListWebtasks(c string) ([]store.Webtask, error) {
	if err := s.err("list webtasks"); err != nil {
		return nil, err
	}
	return s.Store.ListWebtasks(c)
}
func (s *downStore) KVPut(ns, k string, v []byte) error {
	if err := s.err("kv put"); err != nil {
		return err
	}
	return s.Store.KVPut(ns, k, v)
}
func (s *downStore) KVGet(ns, k string) ([]byte, error) {
	if err := s.err("kv get"); err != nil {
		return nil, err
	}
	return s.Store.KVGet(ns, k)
}
func (s *downStore) PutCronJob(j store.CronJob, max int) (bool, error) {
	if err := s.err("put cron job"); err != nil {
		return false, err
	}
	return s.Store.PutCronJob(j, max)
}

// TestServer_StoreUnavailable: with the store out of reach, a loaded
// webtask still runs, writes answer 503 store_unavailable, /readyz says
// not ready (so a balancer prefers other nodes), and all works again once
// the store is back.
func TestServer_StoreUnavailable(t *testing.T) {
	st := &downStore{Store: openBolt(t)}
	ts := serveOn(t, api.Config{}, st)
	ts.upload("acme", "hello", fixture(t, "hello"), "")
	if r := ts.req("GET", "/api/run/acme/hello", "", nil); r.Status != 200 {
		t.Fatalf("run: %d %s", r.Status, r.Body)
	}
	tok := ts.req("POST", "/api/tokens/issue", ts.Admin, []byte(`{"ten":"acme"}`), "Content-Type: application/json")
	st.down.Store(true)
	if r := ts.req("GET", "/api/run/acme/hello", "", nil); r.Status != 200 {
		t.Fatalf("run of a loaded webtask with the store down: %d %s", r.Status, r.Body)
	}
	for _, w := range []struct{ method, path, body string }{
		{"PUT", "/api/webtask/acme/other", string(fixture(t, "counter"))},
		{"POST", "/api/tokens/revoke?token=" + string(tok.Body), ""},
		{"PUT", "/api/cron/acme/hello", `{"schedule":"* * * * *"}`},
	} {
		ct := "Content-Type: application/json"
		if strings.HasPrefix(w.body, "\x00asm") {
			ct = "Content-Type: application/wasm"
		}
		r := ts.req(w.method, w.path, ts.Admin, []byte(w.body), ct)
		wantError(t, r, 503, "")
		if m := r.JSON(t); m["error"] != "store_unavailable" {
			t.Errorf("%s %s: error %v, want store_unavailable", w.method, w.path, m["error"])
		}
	}
	if r := ts.req("GET", "/readyz", "", nil); r.Status != 503 || !strings.Contains(string(r.Body), "store does not answer") {
		t.Errorf("/readyz with the store down: %d %s", r.Status, r.Body)
	}
	st.down.Store(false)
	ts.upload("acme", "other", fixture(t, "hello"), "")
	if r := ts.req("GET", "/readyz", "", nil); r.Status != 200 {
		t.Errorf("/readyz with the store back: %d %s", r.Status, r.Body)
	}
}
