package engine

import (
	"bytes"
	"testing"

	"github.com/wasmtask/wasmtask/abi"
)

// customSection encodes a custom section with a one-byte size and name
// length (both under 128 here).
func customSection(name string, payload []byte) []byte {
	body := append([]byte{byte(len(name))}, name...)
	body = append(body, payload...)
	return append([]byte{0, byte(len(body))}, body...)
}

func Test_parseLibrary(t *testing.T) {
	header := []byte("\x00asm\x01\x00\x00\x00")
	typeSec := []byte{1, 1, 0} // a type section of size 1 (content not checked)
	lib := customSection(abi.LibrarySection, []byte("a.js\x00A\x00b.js\x00\x00c\x00partial"))
	tests := []struct {
		name string
		wasm []byte
		want library
	}{
		{"none", append(header, typeSec...), nil},
		{"entries", bytes.Join([][]byte{header, typeSec, lib}, nil), library{"a.js": []byte("A"), "b.js": {}}},
		{"other custom section", bytes.Join([][]byte{header, customSection("name", []byte("x")), lib}, nil), library{"a.js": []byte("A"), "b.js": {}}},
		{"truncated section", append(append([]byte{}, header...), 0, 100, 1), nil},
		{"truncated name", append(append([]byte{}, header...), 0, 2, 50, 'x'), nil},
		{"bad leb", append(append([]byte{}, header...), 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), nil},
		{"short", []byte("\x00asm"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseLibrary(tt.wasm)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d entries %q, want %q", len(got), got, tt.want)
			}
			for k, v := range tt.want {
				if g, ok := got[k]; !ok || !bytes.Equal(g, v) {
					t.Errorf("entry %q = %q, want %q", k, g, v)
				}
			}
		})
	}
}

// Fuzz_parseLibrary feeds uploaded-module bytes to the section walker: it
// must never panic, whatever the sizes claim.
func Fuzz_parseLibrary(f *testing.F) {
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Add(append([]byte("\x00asm\x01\x00\x00\x00"), customSection(abi.LibrarySection, []byte("a\x00b\x00"))...))
	f.Fuzz(func(t *testing.T, b []byte) {
		lib := parseLibrary(b)
		if len(lib) > maxLibraryEntries {
			t.Fatalf("%d entries", len(lib))
		}
	})
}
