package storetest

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/store"
)

func testPutWebtask(t *testing.T, b Backend) {
	modA, shaA := Module("a")
	modB, shaB := Module("b")
	upper := []byte(shaA)
	copy(upper, bytes.ToUpper(upper))
	type W = store.Webtask

	tests := []struct {
		name        string
		existing    []W // stored with their module before the call (module A or B by SHA)
		w           W
		module      []byte
		wantCreated bool
		wantErr     error
		wantRefsA   int
		wantRefsB   int
	}{
		{
			name:        "create with module",
			w:           W{Container: "c", Name: "hello", ModuleSHA256: shaA},
			module:      modA,
			wantCreated: true,
			wantRefsA:   1,
		},
		{
			name:      "replace same module",
			existing:  []W{{Container: "c", Name: "hello", ModuleSHA256: shaA}},
			w:         W{Container: "c", Name: "hello", ModuleSHA256: shaA, Policy: "fresh"},
			module:    modA,
			wantRefsA: 1,
		},
		{
			name:      "replace with nil module, same sha",
			existing:  []W{{Container: "c", Name: "hello", ModuleSHA256: shaA}},
			w:         W{Container: "c", Name: "hello", ModuleSHA256: shaA, Meta: map[string]string{"k": "v"}},
			wantRefsA: 1,
		},
		{
			name:      "replace with another module releases the old one",
			existing:  []W{{Container: "c", Name: "hello", ModuleSHA256: shaA}},
			w:         W{Container: "c", Name: "hello", ModuleSHA256: shaB},
			module:    modB,
			wantRefsB: 1,
		},
		{
			name: "replace with another module keeps the old one while referenced",
			existing: []W{
				{Container: "c", Name: "hello", ModuleSHA256: shaA},
				{Container: "d", Name: "hello", ModuleSHA256: shaA},
			},
			w:         W{Container: "c", Name: "hello", ModuleSHA256: shaB},
			module:    modB,
			wantRefsA: 1,
			wantRefsB: 1,
		},
		{
			name:        "create with nil module already stored",
			existing:    []W{{Container: "c", Name: "other", ModuleSHA256: shaA}},
			w:           W{Container: "c", Name: "hello", ModuleSHA256: shaA},
			wantCreated: true,
			wantRefsA:   2,
		},
		{
			name:    "nil module with unknown sha",
			w:       W{Container: "c", Name: "hello", ModuleSHA256: shaB},
			wantErr: store.ErrModuleNotFound,
		},
		{
			name:    "wrong hash",
			w:       W{Container: "c", Name: "hello", ModuleSHA256: shaA},
			module:  modB,
			wantErr: store.ErrModuleHash,
		},
		{
			name:      "wrong hash leaves the existing webtask alone",
			existing:  []W{{Container: "c", Name: "hello", ModuleSHA256: shaA}},
			w:         W{Container: "c", Name: "hello", ModuleSHA256: shaB},
			module:    modA,
			wantErr:   store.ErrModuleHash,
			wantRefsA: 1,
		},
		{name: "empty container", w: W{Name: "hello", ModuleSHA256: shaA}, module: modA, wantErr: store.ErrInvalid},
		{name: "empty name", w: W{Container: "c", ModuleSHA256: shaA}, module: modA, wantErr: store.ErrInvalid},
		{name: "slash in container", w: W{Container: "c/d", Name: "hello", ModuleSHA256: shaA}, module: modA, wantErr: store.ErrInvalid},
		{name: "slash in name", w: W{Container: "c", Name: "a/b", ModuleSHA256: shaA}, module: modA, wantErr: store.ErrInvalid},
		{name: "NUL in name", w: W{Container: "c", Name: "a\x00b", ModuleSHA256: shaA}, module: modA, wantErr: store.ErrInvalid},
		{name: "empty sha", w: W{Container: "c", Name: "hello"}, module: modA, wantErr: store.ErrInvalid},
		{name: "upper-case sha", w: W{Container: "c", Name: "hello", ModuleSHA256: string(upper)}, module: modA, wantErr: store.ErrInvalid},
		{name: "short sha", w: W{Container: "c", Name: "hello", ModuleSHA256: shaA[:63]}, module: modA, wantErr: store.ErrInvalid},
	}
	modules := map[string][]byte{shaA: modA, shaB: modB}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := b.open(t)
			for _, w := range tt.existing {
				MustPut(t, s, w, modules[w.ModuleSHA256])
			}
			var before *store.Webtask
			if w, err := s.GetWebtask(tt.w.Container, tt.w.Name); err == nil {
				before = &w
			}

			created, err := s.PutWebtask(tt.w, tt.module)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && created != tt.wantCreated {
				t.Errorf("created = %v, want %v", created, tt.wantCreated)
			}
			WantRefs(t, s, shaA, tt.wantRefsA)
			WantRefs(t, s, shaB, tt.wantRefsB)
			b.wantModules(t, s, min(tt.wantRefsA, 1)+min(tt.wantRefsB, 1), "after the put")

			got, getErr := s.GetWebtask(tt.w.Container, tt.w.Name)
			switch {
			case err != nil && before == nil:
				if !errors.Is(getErr, store.ErrNotFound) && !errors.Is(getErr, store.ErrInvalid) {
					t.Errorf("after failed put: GetWebtask err = %v, want ErrNotFound", getErr)
				}
			case err != nil:
				if !reflect.DeepEqual(got, *before) {
					t.Errorf("after failed put: webtask changed\n got %+v\nwant %+v", got, *before)
				}
			default:
				if getErr != nil {
					t.Fatalf("GetWebtask: %v", getErr)
				}
				if got.ModuleSHA256 != tt.w.ModuleSHA256 || got.Policy != tt.w.Policy || !reflect.DeepEqual(got.Meta, tt.w.Meta) {
					t.Errorf("stored %+v, want fields of %+v", got, tt.w)
				}
				if before != nil && !got.Created.Equal(before.Created) {
					t.Errorf("Created = %v, want kept %v", got.Created, before.Created)
				}
				if before != nil && !got.Updated.After(before.Updated) {
					t.Errorf("Updated = %v, want after %v", got.Updated, before.Updated)
				}
			}
		})
	}
}

func testGetWebtask(t *testing.T, b Backend) {
	s := b.open(t)
	mod, sha := Module("get")
	created := time.Date(2020, 5, 6, 7, 8, 9, 10, time.FixedZone("X", 3600))
	in := store.Webtask{
		Container:    "tenant",
		Name:         "hello",
		ModuleSHA256: sha,
		ModuleSize:   12345, // ignored: the store knows the size
		Meta:         map[string]string{"owner": "ann", "": "empty key"},
		Secrets:      []byte{0, 1, 2, 0xff},
		Policy:       "pool",
		Token:        "eyJ.token.sig",
		Kind:         store.KindJS,
		Created:      created,
		Updated:      time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC), // ignored: the store stamps it
	}
	MustPut(t, s, in, mod)

	tests := []struct {
		name      string
		container string
		wtName    string
		want      store.Webtask
		wantErr   error
	}{
		{
			name: "found", container: "tenant", wtName: "hello",
			want: store.Webtask{
				Container: "tenant", Name: "hello", ModuleSHA256: sha, ModuleSize: int64(len(mod)),
				Meta: in.Meta, Secrets: in.Secrets, Policy: "pool", Token: in.Token, Kind: store.KindJS,
				Created: created.UTC(), Updated: time.Date(2025, 1, 2, 3, 4, 6, 6, time.UTC),
			},
		},
		{name: "unknown name", container: "tenant", wtName: "nope", wantErr: store.ErrNotFound},
		{name: "unknown container", container: "nope", wtName: "hello", wantErr: store.ErrNotFound},
		{name: "name is a prefix", container: "tenant", wtName: "hell", wantErr: store.ErrNotFound},
		{name: "empty container", container: "", wtName: "hello", wantErr: store.ErrInvalid},
		{name: "empty name", container: "tenant", wtName: "", wantErr: store.ErrInvalid},
		{name: "slash", container: "tenant/hello", wtName: "x", wantErr: store.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.GetWebtask(tt.container, tt.wtName)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}

	t.Run("result is a copy", func(t *testing.T) {
		a, _ := s.GetWebtask("tenant", "hello")
		a.Meta["owner"] = "mallory"
		a.Secrets[0] = 42
		b, _ := s.GetWebtask("tenant", "hello")
		if b.Meta["owner"] != "ann" || b.Secrets[0] != 0 {
			t.Errorf("mutating a result changed the store: %+v", b)
		}
	})
}

func testListWebtasks(t *testing.T, b Backend) {
	s := b.open(t)
	mod, sha := Module("list")
	for _, cn := range []string{"c/b", "c/a", "c/C", "c/a.b", "cc/z", "c-/y", "d/x"} {
		c, n := cutSlash(cn)
		MustPut(t, s, store.Webtask{Container: c, Name: n, ModuleSHA256: sha}, mod)
	}

	tests := []struct {
		name      string
		container string
		want      []string
		wantErr   error
	}{
		{name: "sorted by name", container: "c", want: []string{"c/C", "c/a", "c/a.b", "c/b"}},
		{name: "container that prefixes another", container: "cc", want: []string{"cc/z"}},
		{name: "single", container: "d", want: []string{"d/x"}},
		{name: "unknown container", container: "nope", want: []string{}},
		{name: "empty container", container: "", wantErr: store.ErrInvalid},
		{name: "NUL", container: "c\x00", wantErr: store.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListWebtasks(tt.container)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got == nil {
				t.Fatal("got nil slice, want non-nil")
			}
			if !reflect.DeepEqual(Names(got), tt.want) {
				t.Errorf("got %q, want %q", Names(got), tt.want)
			}
			for _, w := range got {
				if w.ModuleSHA256 != sha || w.ModuleSize != int64(len(mod)) {
					t.Errorf("%s/%s: module %s (%d bytes), want %s", w.Container, w.Name, w.ModuleSHA256, w.ModuleSize, sha)
				}
			}
		})
	}
}

func testDeleteWebtask(t *testing.T, b Backend) {
	mod, sha := Module("delete")
	tests := []struct {
		name      string
		container string
		wtName    string
		wantErr   error
		wantRefs  int
		wantList  []string // of container "c" afterwards
	}{
		{name: "existing", container: "c", wtName: "a", wantRefs: 1, wantList: []string{"c/b"}},
		{name: "unknown name", container: "c", wtName: "z", wantErr: store.ErrNotFound, wantRefs: 2, wantList: []string{"c/a", "c/b"}},
		{name: "unknown container", container: "x", wtName: "a", wantErr: store.ErrNotFound, wantRefs: 2, wantList: []string{"c/a", "c/b"}},
		{name: "empty name", container: "c", wtName: "", wantErr: store.ErrInvalid, wantRefs: 2, wantList: []string{"c/a", "c/b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := b.open(t)
			MustPut(t, s, store.Webtask{Container: "c", Name: "a", ModuleSHA256: sha}, mod)
			MustPut(t, s, store.Webtask{Container: "c", Name: "b", ModuleSHA256: sha}, nil)

			if err := s.DeleteWebtask(tt.container, tt.wtName); !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			WantRefs(t, s, sha, tt.wantRefs)
			list, err := s.ListWebtasks("c")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(Names(list), tt.wantList) {
				t.Errorf("list = %q, want %q", Names(list), tt.wantList)
			}
		})
	}

	t.Run("last webtask drops the container and the module", func(t *testing.T) {
		s := b.open(t)
		MustPut(t, s, store.Webtask{Container: "c", Name: "a", ModuleSHA256: sha}, mod)
		if err := s.DeleteWebtask("c", "a"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteWebtask("c", "a"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second delete: err = %v, want ErrNotFound", err)
		}
		WantRefs(t, s, sha, 0)
		b.wantEmpty(t, s, "after deleting the last webtask")
	})
}

func testModuleDedup(t *testing.T, b Backend) {
	s := b.open(t)
	mod, sha := Module("shared")

	steps := []struct {
		name     string
		do       func() error
		wantRefs int
	}{
		{name: "put first", do: func() error {
			_, err := s.PutWebtask(store.Webtask{Container: "c1", Name: "one", ModuleSHA256: sha}, mod)
			return err
		}, wantRefs: 1},
		{name: "put second with the same bytes", do: func() error {
			_, err := s.PutWebtask(store.Webtask{Container: "c2", Name: "two", ModuleSHA256: sha}, bytes.Clone(mod))
			return err
		}, wantRefs: 2},
		{name: "delete first keeps the module", do: func() error { return s.DeleteWebtask("c1", "one") }, wantRefs: 1},
		{name: "delete second deletes the module", do: func() error { return s.DeleteWebtask("c2", "two") }, wantRefs: 0},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		WantRefs(t, s, sha, st.wantRefs)
		b.wantModules(t, s, min(st.wantRefs, 1), st.name)
	}
	b.wantEmpty(t, s, "after deleting every webtask")
}

func testGetModule(t *testing.T, b Backend) {
	s := b.open(t)
	mod, sha := Module("module")
	MustPut(t, s, store.Webtask{Container: "c", Name: "n", ModuleSHA256: sha}, mod)
	_, unknown := Module("unknown")

	tests := []struct {
		name    string
		sha     string
		want    []byte
		wantErr error
	}{
		{name: "stored", sha: sha, want: mod},
		{name: "unknown", sha: unknown, wantErr: store.ErrModuleNotFound},
		{name: "malformed", sha: "xyz", wantErr: store.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.GetModule(tt.sha)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("result is a copy", func(t *testing.T) {
		got, _ := s.GetModule(sha)
		got[0] = 'X' // would fault if this were bbolt's read-only mmap
		again, _ := s.GetModule(sha)
		if !bytes.Equal(again, mod) {
			t.Error("mutating the result changed the store")
		}
	})
}

func testForEachWebtask(t *testing.T, b Backend) {
	s := b.Open(t, Options{Now: Clock(), WalkBatch: 2}) // make the walk span several reads
	mod, sha := Module("each")
	// "a-b" sorts before "a" byte-wise once a separator follows "a": the
	// order is by container, then by name.
	all := []string{"a/1", "a/2", "a/3", "a-b/1", "b/1", "c/1", "c/2", "c/3", "c/4"}
	for _, cn := range all {
		c, n := cutSlash(cn)
		MustPut(t, s, store.Webtask{Container: c, Name: n, ModuleSHA256: sha}, mod)
	}
	errStop := errors.New("stop")

	tests := []struct {
		name    string
		fn      func(seen *[]string) func(store.Webtask) error
		want    []string
		wantErr error
	}{
		{
			name: "all in order",
			fn: func(seen *[]string) func(store.Webtask) error {
				return func(w store.Webtask) error { *seen = append(*seen, w.Container+"/"+w.Name); return nil }
			},
			want: all,
		},
		{
			name: "stops at the first error",
			fn: func(seen *[]string) func(store.Webtask) error {
				return func(w store.Webtask) error {
					*seen = append(*seen, w.Container+"/"+w.Name)
					if len(*seen) == 4 {
						return errStop
					}
					return nil
				}
			},
			want:    all[:4],
			wantErr: errStop,
		},
		{
			name: "fn may read the store",
			fn: func(seen *[]string) func(store.Webtask) error {
				return func(w store.Webtask) error {
					if _, err := s.GetModule(w.ModuleSHA256); err != nil {
						return err
					}
					*seen = append(*seen, w.Container+"/"+w.Name)
					return nil
				}
			},
			want: all,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen []string
			if err := s.ForEachWebtask(tt.fn(&seen)); !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(seen, tt.want) {
				t.Errorf("seen %q, want %q", seen, tt.want)
			}
		})
	}

	t.Run("fn may delete what it is given", func(t *testing.T) {
		var seen []string
		err := s.ForEachWebtask(func(w store.Webtask) error {
			seen = append(seen, w.Container+"/"+w.Name)
			return s.DeleteWebtask(w.Container, w.Name)
		})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(seen, all) {
			t.Errorf("seen %q, want %q", seen, all)
		}
		WantRefs(t, s, sha, 0)
	})

	t.Run("empty store", func(t *testing.T) {
		calls := 0
		if err := s.ForEachWebtask(func(store.Webtask) error { calls++; return nil }); err != nil || calls != 0 {
			t.Errorf("calls = %d, err = %v; want 0, nil", calls, err)
		}
	})
}

func testReopen(t *testing.T, b Backend) {
	if b.Reopen == nil {
		t.Skip("the backend cannot reopen a store")
	}
	s := b.open(t)
	modA, shaA := Module("a")
	modB, shaB := Module("b")
	MustPut(t, s, store.Webtask{Container: "c", Name: "a1", ModuleSHA256: shaA, Meta: map[string]string{"k": "v"}}, modA)
	MustPut(t, s, store.Webtask{Container: "c", Name: "a2", ModuleSHA256: shaA}, nil)
	MustPut(t, s, store.Webtask{Container: "d", Name: "b", ModuleSHA256: shaB, Secrets: []byte("sealed")}, modB)
	if err := s.KVPut("ns", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	wantList, err := s.ListWebtasks("c")
	if err != nil {
		t.Fatal(err)
	}

	s2 := b.Reopen(t, s)
	gotList, err := s2.ListWebtasks("c")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotList, wantList) {
		t.Errorf("after reopen\n got %+v\nwant %+v", gotList, wantList)
	}
	if w, err := s2.GetWebtask("d", "b"); err != nil || string(w.Secrets) != "sealed" {
		t.Errorf("GetWebtask(d/b) = %+v, %v", w, err)
	}
	WantRefs(t, s2, shaA, 2)
	WantRefs(t, s2, shaB, 1)
	if v, err := s2.KVGet("ns", "k"); err != nil || string(v) != "v" {
		t.Errorf("KVGet = %q, %v", v, err)
	}
}

func testClosed(t *testing.T, b Backend) {
	s := b.open(t)
	mod, sha := Module("closed")
	MustPut(t, s, store.Webtask{Container: "c", Name: "n", ModuleSHA256: sha}, mod)
	if _, err := s.PutCronJob(testJob("c", "j"), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	tests := []struct {
		name string
		call func() error
	}{
		{"PutWebtask", func() error {
			_, err := s.PutWebtask(store.Webtask{Container: "c", Name: "n", ModuleSHA256: sha}, mod)
			return err
		}},
		{"GetWebtask", func() error { _, err := s.GetWebtask("c", "n"); return err }},
		{"ListWebtasks", func() error { _, err := s.ListWebtasks("c"); return err }},
		{"DeleteWebtask", func() error { return s.DeleteWebtask("c", "n") }},
		{"GetModule", func() error { _, err := s.GetModule(sha); return err }},
		{"ModuleRefs", func() error { _, err := s.ModuleRefs(sha); return err }},
		{"ForEachWebtask", func() error { return s.ForEachWebtask(func(store.Webtask) error { return nil }) }},
		{"GetStorage", func() error { _, err := s.GetStorage("c", "n"); return err }},
		{"PutStorage", func() error { _, err := s.PutStorage("c", "n", nil, ""); return err }},
		{"KVGet", func() error { _, err := s.KVGet("ns", "k"); return err }},
		{"KVPut", func() error { return s.KVPut("ns", "k", nil) }},
		{"KVDelete", func() error { return s.KVDelete("ns", "k") }},
		{"KVList", func() error { _, err := s.KVList("ns", ""); return err }},
		{"KVUpdate", func() error { return s.KVUpdate("ns", "k", func([]byte) ([]byte, error) { return nil, nil }) }},
		{"PutCronJob", func() error { _, err := s.PutCronJob(testJob("c", "j"), 0); return err }},
		{"GetCronJob", func() error { _, err := s.GetCronJob("c", "j"); return err }},
		{"ListCronJobs", func() error { _, err := s.ListCronJobs("c"); return err }},
		{"AllCronJobs", func() error { _, err := s.AllCronJobs(); return err }},
		{"UpdateCronJob", func() error { return s.UpdateCronJob("c", "j", nil) }},
		{"UpdateCronJobs", func() error {
			_, err := s.UpdateCronJobs([]store.CronUpdate{{Container: "c", Name: "j"}})
			return err
		}},
		{"DeleteCronJob", func() error { return s.DeleteCronJob("c", "j") }},
		{"CronRuns", func() error { _, err := s.CronRuns("c", "j", 0, 0); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, store.ErrClosed) {
				t.Errorf("err = %v, want ErrClosed", err)
			}
		})
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// testHammer runs puts, gets, lists, deletes, walks and KV updates from
// several goroutines on a few shared names and modules, then checks that the
// reference counts match the webtasks left. Run it with -race.
func testHammer(t *testing.T, b Backend) {
	s := b.open(t)
	type module struct {
		bytes []byte
		sha   string
	}
	var mods []module
	for i := range 3 {
		b, sha := Module("hammer" + strconv.Itoa(i))
		mods = append(mods, module{b, sha})
	}
	containers := []string{"c0", "c1"}
	wtNames := []string{"n0", "n1", "n2", "n3"}

	const workers, ops = 8, 60
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 42))
			for range ops {
				c := containers[rng.IntN(len(containers))]
				n := wtNames[rng.IntN(len(wtNames))]
				m := mods[rng.IntN(len(mods))]
				var err error
				switch rng.IntN(7) {
				case 0, 1:
					_, err = s.PutWebtask(store.Webtask{Container: c, Name: n, ModuleSHA256: m.sha, Meta: map[string]string{"g": strconv.Itoa(g)}}, m.bytes)
				case 2:
					// nil module: fine if stored, ErrModuleNotFound if the last reference just went away
					if _, err = s.PutWebtask(store.Webtask{Container: c, Name: n, ModuleSHA256: m.sha}, nil); errors.Is(err, store.ErrModuleNotFound) {
						err = nil
					}
				case 3:
					var w store.Webtask
					if w, err = s.GetWebtask(c, n); err == nil {
						if w.Container != c || w.Name != n || w.ModuleSize == 0 {
							t.Errorf("GetWebtask(%s/%s) = %+v", c, n, w)
						}
						if _, err = s.GetModule(w.ModuleSHA256); errors.Is(err, store.ErrModuleNotFound) {
							err = nil // replaced or deleted in between
						}
					} else if errors.Is(err, store.ErrNotFound) {
						err = nil
					}
				case 4:
					if err = s.DeleteWebtask(c, n); errors.Is(err, store.ErrNotFound) {
						err = nil
					}
				case 5:
					_, err = s.ListWebtasks(c)
				case 6:
					err = s.KVUpdate("hammer", c, func(cur []byte) ([]byte, error) { return append(cur, 'x'), nil })
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	// A reader walking everything while the writers run.
	wg.Go(func() {
		for range 20 {
			if err := s.ForEachWebtask(func(store.Webtask) error { return nil }); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()

	refs := map[string]int{}
	if err := s.ForEachWebtask(func(w store.Webtask) error { refs[w.ModuleSHA256]++; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		WantRefs(t, s, m.sha, refs[m.sha])
	}
	b.wantModules(t, s, len(refs), "modules stored vs referenced")
}
