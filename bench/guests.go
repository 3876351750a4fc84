package bench

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"os"
	"path/filepath"
	"sort"
)

// testdata holds the WAT modules built by `make -C bench` (committed).
//
//go:embed testdata/*.wasm
var testdata embed.FS

// Testdata returns one of the embedded modules: "hello" (wasmtask, simple
// model, one host call), "hostcalls" (many host calls), "extism_hello" (the
// same logic as hello against Extism's ABI).
func Testdata(name string) []byte {
	b, err := testdata.ReadFile("testdata/" + name + ".wasm")
	if err != nil {
		panic("bench: missing embedded testdata " + name + ": " + err.Error())
	}
	return b
}

// Guest is one trivial ("hello") handler in one language.
type Guest struct {
	Lang   string `json:"lang"`
	Path   string `json:"path"`
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
	wasm   []byte
}

// helloBody is what every hello guest answers.
const helloBody = `{"message":"hello, world"}`

// MinimalLang is the label of the harness's own WAT hello (bench/testdata).
const MinimalLang = "wat-min"

// languages is the table of guest languages, in report order: language →
// its hello module below the guests build directory. Languages not built
// are skipped with a note; any other directory of the build tree holding a
// hello.wasm is measured too, after these.
var languages = []struct{ Lang, Rel string }{
	{"wat", "wat/hello.wasm"},
	{"c", "c/hello.wasm"},
	{"rust", "rust/hello.wasm"},
	{"assemblyscript", "assemblyscript/hello.wasm"},
	{"go", "go/hello.wasm"},
}

// DiscoverGuests returns the harness's own WAT hello followed by every
// built hello of buildDir (guests/build), and a note for each language of
// the table that is not built.
func DiscoverGuests(buildDir string) (guests []Guest, notes []string) {
	guests = append(guests, newGuest(MinimalLang, "bench/testdata/hello.wasm (embedded)", Testdata("hello")))
	known := map[string]bool{}
	for _, l := range languages {
		known[filepath.Dir(l.Rel)] = true
		p := filepath.Join(buildDir, l.Rel)
		b, err := os.ReadFile(p)
		if err != nil {
			notes = append(notes, l.Lang+": not built ("+p+" missing), skipped")
			continue
		}
		guests = append(guests, newGuest(l.Lang, p, b))
	}
	dirs, _ := os.ReadDir(buildDir)
	var extra []string
	for _, d := range dirs {
		if d.IsDir() && !known[d.Name()] {
			extra = append(extra, d.Name())
		}
	}
	sort.Strings(extra)
	for _, lang := range extra {
		p := filepath.Join(buildDir, lang, "hello.wasm")
		if b, err := os.ReadFile(p); err == nil {
			guests = append(guests, newGuest(lang, p, b))
		}
	}
	return guests, notes
}

func newGuest(lang, path string, wasm []byte) Guest {
	sum := sha256.Sum256(wasm)
	return Guest{Lang: lang, Path: path, Size: len(wasm), SHA256: hex.EncodeToString(sum[:]), wasm: wasm}
}

// Wasm returns the module bytes.
func (g Guest) Wasm() []byte { return g.wasm }

// Variant returns wasm with one more custom section carrying tag: a module
// that behaves the same but has another hash, so the host compiles it anew
// (a cold compile, a distinct tenant module).
func Variant(wasm []byte, tag string) []byte {
	const name = "wasmtask-bench"
	var body []byte
	body = appendULEB(body, uint64(len(name)))
	body = append(body, name...)
	body = append(body, ':') // wazero refuses a custom section with an empty payload
	body = append(body, tag...)
	out := make([]byte, 0, len(wasm)+len(body)+8)
	out = append(out, wasm...)
	out = append(out, 0) // custom section id
	out = appendULEB(out, uint64(len(body)))
	return append(out, body...)
}

func appendULEB(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
