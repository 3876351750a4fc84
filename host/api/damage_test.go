package api_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/wasmtask/wasmtask/host/api"
	"github.com/wasmtask/wasmtask/host/internal/wasmgen"
	"github.com/wasmtask/wasmtask/store"
)

// TestE2E_DamagedRecord: one webtask's record and one cron job's garbled
// on disk are listed as damaged (the rest list as usual), running or
// reading them is a clear error, and they can be deleted.
func TestE2E_DamagedRecord(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, api.Config{DataDir: dir})
	ts.upload("acme", "good", fixture(t, "hello"), "")
	ts.upload("acme", "bad", fixture(t, "hello"), "")
	for _, job := range []string{"good", "bad"} {
		if r := ts.req("PUT", "/api/cron/acme/"+job, ts.Admin, []byte(`{"schedule":"0 0 1 1 *"}`)); r.Status != 200 {
			t.Fatalf("cron job %s: %d %s", job, r.Status, r.Body)
		}
	}
	ts.Close()

	db, err := bolt.Open(filepath.Join(dir, "wasmtask.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket([]byte("cron")).Bucket([]byte("acme")).Put([]byte("bad"), []byte("{not json")); err != nil {
			return err
		}
		return tx.Bucket([]byte("webtasks")).Bucket([]byte("acme")).Put([]byte("bad"), []byte("{not json"))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	ts = start(t, api.Config{DataDir: dir})
	list := decodeList(t, ts.req("GET", "/api/webtask/acme", ts.Admin, nil))
	if len(list) != 2 || list[0]["name"] != "bad" || list[0]["damaged"] == nil || list[1]["name"] != "good" || list[1]["damaged"] != nil {
		t.Fatalf("list with a damaged record: %v", list)
	}
	if r := ts.req("GET", "/api/run/acme/good", "", nil); r.Status != 200 {
		t.Errorf("the undamaged webtask: %d %s", r.Status, r.Body)
	}
	wantError(t, ts.req("GET", "/api/run/acme/bad", "", nil), 500, "damaged")
	if r := ts.req("DELETE", "/api/webtask/acme/bad", ts.Admin, nil); r.Status != 204 {
		t.Fatalf("delete the damaged webtask: %d %s", r.Status, r.Body)
	}
	if list := decodeList(t, ts.req("GET", "/api/webtask/acme", ts.Admin, nil)); len(list) != 1 {
		t.Errorf("after deleting it: %v", list)
	}

	jobs := decodeList(t, ts.req("GET", "/api/cron/acme", ts.Admin, nil))
	if len(jobs) != 2 || jobs[0]["name"] != "bad" || jobs[0]["damaged"] == nil || jobs[1]["name"] != "good" || jobs[1]["damaged"] != nil {
		t.Fatalf("cron list with a damaged job: %v", jobs)
	}
	wantError(t, ts.req("GET", "/api/cron/acme/bad", ts.Admin, nil), 500, "delete the job and create it again")
	if r := ts.req("DELETE", "/api/cron/acme/bad", ts.Admin, nil); r.Status != 204 {
		t.Fatalf("delete the damaged job: %d %s", r.Status, r.Body)
	}
	if jobs := decodeList(t, ts.req("GET", "/api/cron/acme", ts.Admin, nil)); len(jobs) != 1 {
		t.Errorf("after deleting it: %v", jobs)
	}
}

// TestE2E_TruncatedDatabase: a database file cut short refuses to start,
// saying what is wrong and what to do, instead of crashing on the first
// request that touches a missing page.
func TestE2E_TruncatedDatabase(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, api.Config{DataDir: dir})
	for _, n := range []string{"a", "b", "c"} {
		ts.upload("acme", n, fixture(t, "echo"), "")
	}
	ts.Close()
	path := filepath.Join(dir, "wasmtask.db")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	_, err = api.Open(context.Background(), api.Config{DataDir: dir, CacheDir: sharedCache, SharedCache: true})
	if !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), "backup") {
		t.Fatalf("open a truncated database: %v, want ErrDamaged with a recovery hint", err)
	}
}

// TestE2E_DamagedCompileCache: garbage in the compile cache costs a
// recompile, never the webtask: it runs after a restart, and uploading the
// same bytes again works.
func TestE2E_DamagedCompileCache(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	ts := start(t, api.Config{DataDir: dir, CacheDir: cache})
	ts.upload("acme", "echo", fixture(t, "echo"), "")
	ts.Close()
	n := 0
	err := filepath.Walk(cache, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		n++
		return os.WriteFile(p, []byte("garbage"), 0o600)
	})
	if err != nil || n == 0 {
		t.Fatalf("damaging %d cache files: %v", n, err)
	}
	ts = start(t, api.Config{DataDir: dir, CacheDir: cache})
	if r := ts.req("GET", "/api/run/acme/echo", "", nil); r.Status != 200 {
		t.Fatalf("run after the cache was damaged: %d %s", r.Status, r.Body)
	}
	ts.upload("acme", "echo", fixture(t, "echo"), "")
}

// TestE2E_DiskFull: a write that does not fit is 507 storage_full, and
// nothing stored is lost. Needs a small tmpfs (root); skipped otherwise.
func TestE2E_DiskFull(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs (%v: %s)", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	ts := start(t, api.Config{DataDir: dir, MaxContainerBytes: 64 << 20})
	ts.upload("acme", "hello", fixture(t, "hello"), "")
	// Modules of random-looking bytes (a custom section) until the disk is full.
	var full bool
	for i := 0; i < 20 && !full; i++ {
		wasm := padded(t, fixture(t, "hello"), 512<<10, byte(i))
		r := ts.req("PUT", "/api/webtask/acme/big"+string(rune('a'+i)), ts.Admin, wasm, "Content-Type: application/wasm")
		switch r.Status {
		case 200, 201:
		case 507:
			full = true
			wantError(t, r, 507, "storage is full")
			if id := r.JSON(t)["error"]; id != "storage_full" {
				t.Errorf("error id %v, want storage_full", id)
			}
		default:
			t.Fatalf("upload %d: %d %s", i, r.Status, r.Body)
		}
	}
	if !full {
		t.Fatal("the disk never filled")
	}
	if r := ts.req("GET", "/api/run/acme/hello", "", nil); r.Status != 200 {
		t.Errorf("a stored webtask after the disk filled: %d %s", r.Status, r.Body)
	}
}

// padded returns wasm with a custom section of n pseudo-random bytes (seed
// varies them), so modules are distinct and do not compress.
func padded(t testing.TB, wasm []byte, n int, seed byte) []byte {
	t.Helper()
	payload := append([]byte{3}, "pad"...)
	x := uint32(seed) + 1
	for i := 0; i < n; i++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		payload = append(payload, byte(x))
	}
	return wasmgen.AppendSection(append([]byte{}, wasm...), 0, payload)
}
