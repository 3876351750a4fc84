package storetest

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/wasmtask/wasmtask/store"
)

// testDamagedWebtask stores an unreadable record between two good ones
// and checks each method's answer.
func testDamagedWebtask(t *testing.T, b Backend) {
	modA, shaA := Module("a")
	modB, shaB := Module("b")
	raw := func(v string) func(t *testing.T, s store.Store, c, n string) {
		return func(t *testing.T, s store.Store, c, n string) { b.PutRaw(t, s, KindWebtask, c, n, []byte(v)) }
	}
	var records []Damage
	if b.PutRaw != nil {
		records = []Damage{
			{Name: "not JSON", Want: "record does not decode", Apply: raw("\x00\xffgarbage")},
			{Name: "empty", Want: "record does not decode", Apply: raw("")},
			{Name: "truncated JSON", Want: "record does not decode", Apply: raw(`{"v":1,"module_sha256":"`)},
			{Name: "wrong type", Want: "record does not decode", Apply: raw(`{"v":1,"module_size":"big"}`)},
			{Name: "newer version", Want: "unsupported record version 99", Apply: raw(`{"v":99,"module_sha256":"` + shaB + `"}`)},
			{Name: "no version", Want: "unsupported record version 0", Apply: raw(`{"module_sha256":"` + shaB + `"}`)},
			{Name: "bad module hash", Want: "module_sha256", Apply: raw(`{"v":1,"module_sha256":"nope"}`)},
		}
	}
	records = append(records, b.Damages...)
	if len(records) == 0 {
		t.Skip("the backend cannot damage records")
	}
	// setup stores c/a and c/c with module A and c/b with module B, then
	// damages c/b's record: module B keeps the reference c/b had.
	setup := func(t *testing.T, o Options, damage func(*testing.T, store.Store, string, string)) store.Store {
		o.Now = Clock()
		s := b.Open(t, o)
		MustPut(t, s, store.Webtask{Container: "c", Name: "a", ModuleSHA256: shaA}, modA)
		MustPut(t, s, store.Webtask{Container: "c", Name: "b", ModuleSHA256: shaB}, modB)
		MustPut(t, s, store.Webtask{Container: "c", Name: "c", ModuleSHA256: shaA}, nil)
		damage(t, s, "c", "b")
		return s
	}
	wantDamaged := func(t *testing.T, w store.Webtask, want string) {
		t.Helper()
		if !strings.Contains(w.Damaged, want) {
			t.Errorf("Damaged = %q, want it to contain %q", w.Damaged, want)
		}
		if !reflect.DeepEqual(w, store.Webtask{Container: "c", Name: "b", Damaged: w.Damaged}) {
			t.Errorf("damaged entry has more than Container, Name and Damaged: %+v", w)
		}
	}

	for _, rec := range records {
		t.Run(rec.Name, func(t *testing.T) {
			t.Run("ListWebtasks reports it in place", func(t *testing.T) {
				s := setup(t, Options{}, rec.Apply)
				list, err := s.ListWebtasks("c")
				if err != nil {
					t.Fatal(err)
				}
				if got := Names(list); !reflect.DeepEqual(got, []string{"c/a", "c/b", "c/c"}) {
					t.Fatalf("list = %q", got)
				}
				wantDamaged(t, list[1], rec.Want)
				if list[0].Damaged != "" || list[0].ModuleSHA256 != shaA || list[2].ModuleSHA256 != shaA {
					t.Errorf("good entries: %+v, %+v", list[0], list[2])
				}
			})
			t.Run("ForEachWebtask passes it on", func(t *testing.T) {
				s := setup(t, Options{WalkBatch: 1}, rec.Apply) // one read per webtask
				var seen []store.Webtask
				if err := s.ForEachWebtask(func(w store.Webtask) error { seen = append(seen, w); return nil }); err != nil {
					t.Fatal(err)
				}
				if got := Names(seen); !reflect.DeepEqual(got, []string{"c/a", "c/b", "c/c"}) {
					t.Fatalf("seen = %q", got)
				}
				wantDamaged(t, seen[1], rec.Want)
			})
			t.Run("GetWebtask returns ErrDamaged", func(t *testing.T) {
				s := setup(t, Options{}, rec.Apply)
				_, err := s.GetWebtask("c", "b")
				if !errors.Is(err, store.ErrDamaged) || errors.Is(err, store.ErrNotFound) {
					t.Fatalf("err = %v, want ErrDamaged", err)
				}
				if msg := err.Error(); !strings.Contains(msg, `"c"/"b"`) || !strings.Contains(msg, rec.Want) {
					t.Errorf("message %q lacks the webtask or %q", msg, rec.Want)
				}
				if _, err := s.GetWebtask("c", "a"); err != nil {
					t.Errorf("GetWebtask of a good neighbour: %v", err)
				}
			})
			t.Run("DeleteWebtask deletes it", func(t *testing.T) {
				s := setup(t, Options{}, rec.Apply)
				if err := s.DeleteWebtask("c", "b"); err != nil {
					t.Fatal(err)
				}
				if _, err := s.GetWebtask("c", "b"); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("after delete: err = %v, want ErrNotFound", err)
				}
				WantRefs(t, s, shaA, 2)
				WantRefs(t, s, shaB, 1) // not released: the record no longer says it used B
				if err := s.DeleteWebtask("c", "b"); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("second delete: err = %v, want ErrNotFound", err)
				}
			})
			t.Run("PutWebtask replaces it", func(t *testing.T) {
				s := setup(t, Options{}, rec.Apply)
				created, err := s.PutWebtask(store.Webtask{Container: "c", Name: "b", ModuleSHA256: shaA, Damaged: "ignored"}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if created {
					t.Error("created = true, want false (replaced)")
				}
				w, err := s.GetWebtask("c", "b")
				if err != nil || w.ModuleSHA256 != shaA || w.Damaged != "" || w.Created.IsZero() {
					t.Errorf("GetWebtask = %+v, %v", w, err)
				}
				WantRefs(t, s, shaA, 3)
				WantRefs(t, s, shaB, 1) // not released, as for a delete
			})
		})
	}
}
