package etcdstore

import (
	"bytes"
	"context"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/wasmtask/wasmtask/store"
	"github.com/wasmtask/wasmtask/store/storetest"
)

// TestStore_sweepChunks: a sweep deletes the chunks of uploads no module
// record names — left by a node that died between staging and its
// transaction — once they were unnamed at two sweeps in a row with the
// record unchanged; it leaves a module's own chunks, the chunks of a
// record it cannot read, and an orphan whose record changed between the
// sweeps (a staging in progress looks like that) until it is seen
// unchanged twice.
func TestStore_sweepChunks(t *testing.T) {
	s := openTest(t, shared, Config{ChunkSweep: -1})
	big := bytes.Repeat([]byte("wasm"), ChunkSize/2) // 4 chunks of 512 KiB
	mod, sha := storetest.Module(string(big))
	storetest.MustPut(t, s, store.Webtask{Container: "c", Name: "big", ModuleSHA256: sha}, mod)
	named := len(keys(t, s, "c/"))

	put := func(key, value string) {
		t.Helper()
		if _, err := s.cli.Put(context.Background(), s.prefix+key, value); err != nil {
			t.Fatal(err)
		}
	}
	const (
		noRecord = "1111111111111111111111111111111111111111111111111111111111111111"
		damaged  = "2222222222222222222222222222222222222222222222222222222222222222"
		changing = "3333333333333333333333333333333333333333333333333333333333333333"
	)
	put("c/"+sha+"/dead/000000", "x") // a second upload of a stored module
	put("c/"+sha+"/dead/000001", "x")
	put("c/"+noRecord+"/dead/000000", "x") // a module never recorded
	put("m/"+damaged, "{not json")
	put("c/"+damaged+"/kept/000000", "x")
	put("c/"+changing+"/dead/000000", "x")

	sweep := func(want int) {
		t.Helper()
		if n, err := s.SweepChunks(); err != nil || n != want {
			t.Fatalf("SweepChunks = %d, %v; want %d", n, err, want)
		}
	}
	sweep(0) // the first sweep only notes
	// A record appears for "changing" between the sweeps, naming another
	// upload: as a transaction of a staging node would.
	put("m/"+changing, string(encodeHead(head{Size: 1, Chunks: 1, Upload: "other", Refs: 1})))
	sweep(2) // sha's and noRecord's orphans
	left := strings.Join(keys(t, s, "c/"), " ")
	if !strings.Contains(left, "kept") || !strings.Contains(left, changing+"/dead") || strings.Contains(left, sha+"/dead") || strings.Contains(left, noRecord) {
		t.Fatalf("after the second sweep: %s", left)
	}
	if n := len(keys(t, s, "c/")); n != named+2 {
		t.Errorf("%d chunks left, want the module's %d, the damaged record's and the changed one's", n, named)
	}
	sweep(1) // "changing": unnamed twice now, its record unchanged since
	if got, err := s.GetModule(sha); err != nil || !bytes.Equal(got, mod) {
		t.Fatalf("the module after the sweeps: %d bytes, %v", len(got), err)
	}
	sweep(0)
}

// TestStore_putAfterSweep: a put whose staged chunks a sweep deleted
// before its transaction stages them again; the record never names
// chunks that are gone.
func TestStore_putAfterSweep(t *testing.T) {
	s := openTest(t, shared, Config{ChunkSweep: -1})
	swept := 0
	s.afterStage = func(prefix string) {
		if swept++; swept == 1 { // as a sweep would, between staging and the transaction
			if _, err := s.cli.Delete(context.Background(), prefix, clientv3.WithPrefix()); err != nil {
				t.Fatal(err)
			}
		}
	}
	mod, sha := storetest.Module(string(bytes.Repeat([]byte("wasm"), ChunkSize/2)))
	storetest.MustPut(t, s, store.Webtask{Container: "c", Name: "big", ModuleSHA256: sha}, mod)
	if swept != 2 {
		t.Errorf("staged %d times, want 2 (again after the sweep)", swept)
	}
	if got, err := s.GetModule(sha); err != nil || !bytes.Equal(got, mod) {
		t.Fatalf("GetModule after a put that met a sweep: %d bytes, %v", len(got), err)
	}
}
