package storetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"testing"

	"github.com/wasmtask/wasmtask/store"
)

type kvOp struct {
	do      string // get, put, delete, list
	ns, key string // key is the prefix for list
	value   string
	want    any // string for get, []string ("k=v") for list
	wantErr error
}

// runKVOps runs ops on s in order.
func runKVOps(t *testing.T, s store.Store, ops []kvOp) {
	t.Helper()
	for i, o := range ops {
		var got any
		var err error
		switch o.do {
		case "get":
			var v []byte
			if v, err = s.KVGet(o.ns, o.key); err == nil {
				if v == nil {
					t.Errorf("op %d: KVGet returned nil for a stored value", i)
				}
				got = string(v)
			}
		case "put":
			err = s.KVPut(o.ns, o.key, []byte(o.value))
		case "delete":
			err = s.KVDelete(o.ns, o.key)
		case "list":
			var pairs []store.KVPair
			if pairs, err = s.KVList(o.ns, o.key); err == nil {
				kv := []string{}
				for _, p := range pairs {
					kv = append(kv, p.Key+"="+string(p.Value))
				}
				got = kv
			}
		}
		if !errors.Is(err, o.wantErr) {
			t.Fatalf("op %d %s %q/%q: err = %v, want %v", i, o.do, o.ns, o.key, err, o.wantErr)
		}
		if o.want != nil && !reflect.DeepEqual(got, o.want) {
			t.Errorf("op %d %s %q/%q = %q, want %q", i, o.do, o.ns, o.key, got, o.want)
		}
	}
}

func testKV(t *testing.T, b Backend) {
	s := b.open(t)
	crud := []kvOp{
		{do: "get", ns: "n", key: "k", wantErr: store.ErrNotFound},
		{do: "put", ns: "n", key: "k", value: "v1"},
		{do: "get", ns: "n", key: "k", want: "v1"},
		{do: "put", ns: "n", key: "k", value: "v2"},
		{do: "get", ns: "n", key: "k", want: "v2"},
		{do: "delete", ns: "n", key: "k"},
		{do: "get", ns: "n", key: "k", wantErr: store.ErrNotFound},
		{do: "delete", ns: "n", key: "k", wantErr: store.ErrNotFound},
		{do: "list", ns: "n", want: []string{}},
	}
	empty := []kvOp{
		{do: "put", ns: "e", key: "k", value: ""},
		{do: "get", ns: "e", key: "k", want: ""},
		{do: "list", ns: "e", want: []string{"k="}},
		{do: "delete", ns: "e", key: "k"},
	}
	tests := []struct {
		name string
		ops  []kvOp
	}{
		{name: "crud", ops: crud},
		{name: "empty value is not absent", ops: empty},
		{name: "list by prefix, sorted", ops: []kvOp{
			{do: "put", ns: "l", key: "b/2", value: "4"},
			{do: "put", ns: "l", key: "a", value: "1"},
			{do: "put", ns: "l", key: "b/1", value: "3"},
			{do: "put", ns: "l", key: "b", value: "2"},
			{do: "put", ns: "l", key: "c", value: "5"},
			{do: "put", ns: "l", key: "b\x00", value: "n"},
			{do: "put", ns: "l", key: "\xff", value: "ff"},
			{do: "list", ns: "l", want: []string{"a=1", "b=2", "b\x00=n", "b/1=3", "b/2=4", "c=5", "\xff=ff"}},
			{do: "list", ns: "l", key: "b", want: []string{"b=2", "b\x00=n", "b/1=3", "b/2=4"}},
			{do: "list", ns: "l", key: "b/", want: []string{"b/1=3", "b/2=4"}},
			{do: "list", ns: "l", key: "d", want: []string{}},
			{do: "list", ns: "l", key: "\xff", want: []string{"\xff=ff"}},
			{do: "list", ns: "unknown", want: []string{}},
		}},
		{name: "namespaces are separate", ops: []kvOp{
			{do: "put", ns: "x", key: "k", value: "in x"},
			{do: "put", ns: "xy", key: "k", value: "in xy"},
			{do: "get", ns: "x", key: "k", want: "in x"},
			{do: "get", ns: "xy", key: "k", want: "in xy"},
			{do: "list", ns: "x", want: []string{"k=in x"}},
			{do: "get", ns: "y", key: "k", wantErr: store.ErrNotFound},
			{do: "delete", ns: "y", key: "k", wantErr: store.ErrNotFound},
		}},
		{name: "keys may hold any bytes", ops: []kvOp{
			{do: "put", ns: "b", key: "a/b\x00c", value: "v"},
			{do: "get", ns: "b", key: "a/b\x00c", want: "v"},
		}},
		{name: "invalid", ops: []kvOp{
			{do: "put", ns: "", key: "k", wantErr: store.ErrInvalid},
			{do: "put", ns: "a/b", key: "k", wantErr: store.ErrInvalid},
			{do: "put", ns: "n", key: "", wantErr: store.ErrInvalid},
			{do: "get", ns: "n\x00", key: "k", wantErr: store.ErrInvalid},
			{do: "delete", ns: "n", key: "", wantErr: store.ErrInvalid},
			{do: "list", ns: "", wantErr: store.ErrInvalid},
			{do: "put", ns: "n", key: string(make([]byte, store.MaxKeyBytes+1)), wantErr: store.ErrInvalid},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runKVOps(t, s, tt.ops) })
	}

	t.Run("result is a copy", func(t *testing.T) {
		if err := s.KVPut("copy", "k", []byte("value")); err != nil {
			t.Fatal(err)
		}
		v, _ := s.KVGet("copy", "k")
		v[0] = 'X'
		l, _ := s.KVList("copy", "")
		l[0].Value[0] = 'Y'
		if again, _ := s.KVGet("copy", "k"); string(again) != "value" {
			t.Errorf("mutating results changed the store: %q", again)
		}
	})

	t.Run("emptied namespaces leave nothing", func(t *testing.T) {
		s := b.open(t)
		runKVOps(t, s, crud)
		runKVOps(t, s, empty)
		b.wantEmpty(t, s, "after deleting every key")
	})
}

// errConflict is what a caller's compare-and-swap function returns when the
// etag does not match.
var errConflict = errors.New("etag mismatch")

// casPut is how a caller implements "put if the etag matches" on KVUpdate.
func casPut(s store.KV, ns, key, etag, value string) error {
	return s.KVUpdate(ns, key, func(cur []byte) ([]byte, error) {
		if got := etagOf(cur); got != etag {
			return nil, fmt.Errorf("have %q, want %q: %w", got, etag, errConflict)
		}
		return []byte(value), nil
	})
}

func etagOf(v []byte) string {
	if v == nil {
		return ""
	}
	sum := sha256.Sum256(v)
	return hex.EncodeToString(sum[:4])
}

func testKVUpdate(t *testing.T, b Backend) {
	errBoom := errors.New("boom")
	tests := []struct {
		name     string
		initial  *string // nil: absent
		fn       func(cur []byte) ([]byte, error)
		wantCur  *string // what fn must see; nil: nil
		wantErr  error
		wantNext *string // nil: absent afterwards
	}{
		{
			name:     "create from absent",
			fn:       func([]byte) ([]byte, error) { return []byte("new"), nil },
			wantNext: ptr("new"),
		},
		{
			name:     "modify",
			initial:  ptr("1"),
			fn:       func(cur []byte) ([]byte, error) { return append(cur, '+'), nil },
			wantCur:  ptr("1"),
			wantNext: ptr("1+"),
		},
		{
			name:    "nil deletes",
			initial: ptr("1"),
			fn:      func([]byte) ([]byte, error) { return nil, nil },
			wantCur: ptr("1"),
		},
		{
			name: "nil on absent stays absent",
			fn:   func([]byte) ([]byte, error) { return nil, nil },
		},
		{
			name:     "empty is stored, not deleted",
			initial:  ptr("1"),
			fn:       func([]byte) ([]byte, error) { return []byte{}, nil },
			wantCur:  ptr("1"),
			wantNext: ptr(""),
		},
		{
			name:     "present empty value is non-nil",
			initial:  ptr(""),
			fn:       func(cur []byte) ([]byte, error) { return cur, nil },
			wantCur:  ptr(""),
			wantNext: ptr(""),
		},
		{
			name:     "error aborts and is returned",
			initial:  ptr("keep"),
			fn:       func([]byte) ([]byte, error) { return []byte("lost"), errBoom },
			wantCur:  ptr("keep"),
			wantErr:  errBoom,
			wantNext: ptr("keep"),
		},
		{
			name:    "error on absent creates nothing",
			fn:      func([]byte) ([]byte, error) { return []byte("lost"), errBoom },
			wantErr: errBoom,
		},
		{
			name:     "fn may modify cur without touching the store before commit",
			initial:  ptr("abc"),
			fn:       func(cur []byte) ([]byte, error) { cur[0] = 'X'; return nil, errBoom },
			wantCur:  ptr("abc"),
			wantErr:  errBoom,
			wantNext: ptr("abc"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := b.open(t)
			if tt.initial != nil {
				if err := s.KVPut("ns", "k", []byte(*tt.initial)); err != nil {
					t.Fatal(err)
				}
			}
			var sawCur []byte
			err := s.KVUpdate("ns", "k", func(cur []byte) ([]byte, error) {
				sawCur = bytes.Clone(cur)
				if cur != nil && sawCur == nil {
					sawCur = []byte{}
				}
				return tt.fn(cur)
			})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil && err != tt.wantErr {
				t.Errorf("err = %#v, want fn's error returned as is", err)
			}
			if (sawCur == nil) != (tt.wantCur == nil) || (tt.wantCur != nil && string(sawCur) != *tt.wantCur) {
				t.Errorf("fn saw %q (nil=%v), want %v", sawCur, sawCur == nil, tt.wantCur)
			}
			got, err := s.KVGet("ns", "k")
			switch {
			case tt.wantNext == nil && !errors.Is(err, store.ErrNotFound):
				t.Errorf("afterwards: KVGet = %q, %v; want ErrNotFound", got, err)
			case tt.wantNext != nil && (err != nil || string(got) != *tt.wantNext):
				t.Errorf("afterwards: KVGet = %q, %v; want %q", got, err, *tt.wantNext)
			}
		})
	}

	t.Run("compare and swap with etags", func(t *testing.T) {
		s := b.open(t)
		steps := []struct {
			etag, value string
			wantErr     error
		}{
			{etag: "", value: "v1"},                                         // create if absent
			{etag: "", value: "again", wantErr: errConflict},                // already exists
			{etag: etagOf([]byte("v1")), value: "v2"},                       // matching etag
			{etag: etagOf([]byte("v1")), value: "v3", wantErr: errConflict}, // stale etag
			{etag: etagOf([]byte("v2")), value: "v3"},
		}
		for i, st := range steps {
			if err := casPut(s, "data", "tenant/task", st.etag, st.value); !errors.Is(err, st.wantErr) {
				t.Fatalf("step %d: err = %v, want %v", i, err, st.wantErr)
			}
		}
		if v, err := s.KVGet("data", "tenant/task"); err != nil || string(v) != "v3" {
			t.Errorf("final value %q, %v; want v3", v, err)
		}
	})

	t.Run("concurrent increments are serialised", func(t *testing.T) {
		s := b.open(t)
		const workers, each = 8, 20
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range each {
					err := s.KVUpdate("counters", "n", func(cur []byte) ([]byte, error) {
						n := 0
						if cur != nil {
							var err error
							if n, err = strconv.Atoi(string(cur)); err != nil {
								return nil, err
							}
						}
						return []byte(strconv.Itoa(n + 1)), nil
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if v, err := s.KVGet("counters", "n"); err != nil || string(v) != strconv.Itoa(workers*each) {
			t.Errorf("counter = %q, %v; want %d", v, err, workers*each)
		}
	})
}
