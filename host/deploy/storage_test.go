package deploy

import (
	"errors"
	"strings"
	"testing"
)

func TestRegistry_Storage(t *testing.T) {
	r := newTestRegistry(t, DefaultConfig())
	if _, _, err := r.Deploy(r.admin, Upload{Container: "acme", Name: "a", Wasm: fixture(t, "hello")}); err != nil {
		t.Fatal(err)
	}
	st := r.Storage("acme", "a")
	doc, err := st.Get()
	if err != nil || doc.Data != nil || doc.ETag != EmptyETag {
		t.Fatalf("Get of a new webtask = %+v, %v", doc, err)
	}
	etag, err := st.Put([]byte(`{"n":1}`), doc.ETag, false)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		data  string
		etag  string
		force bool
		want  error
	}{
		{"stale etag", `{"n":2}`, EmptyETag, false, ErrConflict},
		{"not JSON", `{n:2}`, etag, false, ErrBadRequest},
		{"empty", ``, etag, false, ErrBadRequest},
		{"too large", `"` + strings.Repeat("x", MaxStorageBytes) + `"`, etag, false, ErrTooLarge},
		{"force over a stale etag", `{"n":3}`, "stale", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := st.Get()
			_, err := st.Put([]byte(tt.data), tt.etag, tt.force)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Put = %v, want %v", err, tt.want)
			}
			after, _ := st.Get()
			if err != nil && (after.ETag != before.ETag || string(after.Data) != string(before.Data)) {
				t.Fatalf("a refused Put changed the document: %+v -> %+v", before, after)
			}
			var ce *ConflictError
			if errors.As(err, &ce) && (ce.Current.ETag != before.ETag || string(ce.Current.Data) != string(before.Data)) {
				t.Fatalf("conflict carries %+v, want %+v", ce.Current, before)
			}
		})
	}

	if _, err := r.Storage("acme", "none").Get(); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of an unknown webtask: %v, want ErrNotFound", err)
	}
	if _, err := r.Storage("acme", "none").Put([]byte(`1`), "", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("Put of an unknown webtask: %v, want ErrNotFound", err)
	}
	// Delete takes the storage with it.
	if err := r.Delete("acme", "a"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Deploy(r.admin, Upload{Container: "acme", Name: "a", Wasm: fixture(t, "hello")}); err != nil {
		t.Fatal(err)
	}
	if doc, err := st.Get(); err != nil || doc.Data != nil {
		t.Fatalf("storage of a redeployed deleted webtask = %+v, %v; want empty", doc, err)
	}
}
