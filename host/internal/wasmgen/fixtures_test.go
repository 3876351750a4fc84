package wasmgen

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRecursionBomb: the committed bombs compile, export what their where
// says, and are what wat2wasm makes of RecursionBombWAT (when it is
// installed).
func TestRecursionBomb(t *testing.T) {
	rt := newRuntime(t)
	_, err := exec.LookPath("wat2wasm")
	haveWAT := err == nil
	for _, where := range []string{"request", "init", "start"} {
		t.Run(where, func(t *testing.T) {
			wasm := RecursionBomb(where)
			cm, err := rt.CompileModule(context.Background(), wasm)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			defer cm.Close(context.Background())
			if _, ok := cm.ExportedFunctions()["wt_handle"]; !ok {
				t.Fatal("wt_handle not exported")
			}
			if _, ok := cm.ExportedFunctions()["_initialize"]; ok != (where == "init") {
				t.Fatalf("exports _initialize: %v", ok)
			}
			if !haveWAT {
				return
			}
			want, err := FromWAT(RecursionBombWAT(where))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(wasm, want) {
				t.Fatalf("testdata/recursion-%s.wat no longer matches RecursionBombWAT(%q)", where, where)
			}
		})
	}
	defer func() {
		if recover() == nil {
			t.Error("RecursionBomb(\"nowhere\") did not panic")
		}
	}()
	RecursionBomb("nowhere")
}

// TestFixturesUpToDate: every WAT fixture of the tests (host/**/testdata
// and cmd/**/testdata *.wat) has its .wasm committed beside it, byte for
// byte what `wat2wasm -o x.wasm x.wat` makes of it — the command of the
// fixtures target in guests/Makefile. Without wat2wasm it skips; CI, where
// the guest toolchains are installed, catches a stale fixture.
func TestFixturesUpToDate(t *testing.T) {
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Skip("wat2wasm not installed (Debian wabt; `make -C guests toolchain-wat`)")
	}
	root := filepath.Join("..", "..", "..")
	var wats []string
	for _, top := range []string{"host", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".wat") &&
				strings.Contains(filepath.ToSlash(path), "/testdata/") {
				wats = append(wats, path)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(wats) < 4 {
		t.Fatalf("found only %v under %s: the walk is broken", wats, root)
	}
	dir := t.TempDir()
	for _, wat := range wats {
		rel, _ := filepath.Rel(root, wat)
		name := filepath.ToSlash(strings.TrimSuffix(rel, ".wat"))
		out := filepath.Join(dir, "m.wasm")
		if b, err := exec.Command("wat2wasm", "-o", out, wat).CombinedOutput(); err != nil {
			t.Errorf("wat2wasm %s.wat: %v\n%s", name, err, b)
			continue
		}
		want, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(strings.TrimSuffix(wat, ".wat") + ".wasm")
		if err != nil {
			t.Errorf("%s.wasm is missing: run `make guests`", name)
		} else if !bytes.Equal(got, want) {
			t.Errorf("%s.wasm is stale (not what wat2wasm makes of its .wat): run `make guests`", name)
		}
	}
	t.Logf("%d fixtures checked", len(wats))
}

// TestMemoryGrower: the generator encodes what wat2wasm made of its text
// form, so the two cannot drift apart.
func TestMemoryGrower(t *testing.T) {
	for _, c := range []struct {
		fixture             string
		minPages, initPages int
	}{{"grow", 1, 0}, {"grow-init", 1, 8}} {
		want, err := os.ReadFile(filepath.Join("testdata", c.fixture+".wasm"))
		if err != nil {
			t.Fatalf("%v (run `make guests`)", err)
		}
		if got := MemoryGrower(c.minPages, c.initPages); !bytes.Equal(got, want) {
			t.Errorf("MemoryGrower(%d, %d) is not testdata/%s.wasm:\n got %x\nwant %x", c.minPages, c.initPages, c.fixture, got, want)
		}
	}
	if _, err := newRuntime(t).CompileModule(context.Background(), MemoryGrower(96, 1024)); err != nil {
		t.Fatalf("MemoryGrower(96, 1024): %v", err)
	}
}
