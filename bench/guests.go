package bench

import (
	"crypto/sha256"
	"embed"
	"encoding/binary"
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

// Variant returns wasm with one more function type, derived from tag and
// used by nothing, and a custom section carrying tag: a module that
// behaves the same but is another module, so the host compiles it anew (a
// cold compile, a distinct tenant module). The type is what makes it
// another module: the host drops custom sections when it rewrites a
// module, and wazero shares the compiled code of identical modules, so a
// custom section alone measured a cache hit (a Rust hello "compiled" in
// 1.5 ms instead of ~30 ms) and let 10,000 "distinct" modules share one
// compiled code.
func Variant(wasm []byte, tag string) []byte {
	const name = "wasmtask-bench"
	var body []byte
	body = binary.AppendUvarint(body, uint64(len(name)))
	body = append(body, name...)
	body = append(body, ':') // wazero refuses a custom section with an empty payload
	body = append(body, tag...)
	out := make([]byte, 0, len(wasm)+len(body)+48)
	out = append(out, withTagType(wasm, tag)...)
	out = append(out, 0) // custom section id
	out = binary.AppendUvarint(out, uint64(len(body)))
	return append(out, body...)
}

// withTagType returns wasm with a function type appended to its type
// section: 24 parameters whose value types spell 48 bits of tag's SHA-256,
// no results. Appended last, it moves no other type's index. A module
// without a type section (no functions) is returned as it is.
func withTagType(wasm []byte, tag string) []byte {
	sum := sha256.Sum256([]byte(tag))
	typ := []byte{0x60, 24}
	for i := 0; i < 24; i++ {
		typ = append(typ, 0x7F-((sum[i/4]>>(2*(i%4)))&3)) // i32, i64, f32 or f64
	}
	typ = append(typ, 0)
	out := wasm
	sections(wasm, func(id byte, off, start, end int) bool {
		if id != 1 {
			return true
		}
		count, m := binary.Uvarint(wasm[start:end]) // LEB128 is Go's uvarint
		if m <= 0 {
			return false
		}
		sec := binary.AppendUvarint(nil, count+1)
		sec = append(sec, wasm[start+m:end]...)
		sec = append(sec, typ...)
		out = append([]byte(nil), wasm[:off+1]...)
		out = binary.AppendUvarint(out, uint64(len(sec)))
		out = append(out, sec...)
		out = append(out, wasm[end:]...)
		return false
	})
	return out
}

// sections calls fn with each section of wasm: its id, where it starts
// (off), and where its content starts and ends, until fn returns false. It
// reports false when a section's header or size does not fit wasm.
func sections(wasm []byte, fn func(id byte, off, start, end int) bool) bool {
	for off := 8; off < len(wasm); {
		size, n := binary.Uvarint(wasm[off+1:])
		start := off + 1 + n
		if n <= 0 || start+int(size) > len(wasm) {
			return false
		}
		if !fn(wasm[off], off, start, start+int(size)) {
			return true
		}
		off = start + int(size)
	}
	return true
}
