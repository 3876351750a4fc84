package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"slices"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmtask/wasmtask/abi"
)

// library is a module's own read-only data, kept outside its linear
// memory: the entries of its custom section abi.LibrarySection, by name.
// The JavaScript engine keeps its prelude and built-in modules there, so
// an instance's memory holds only the code it actually evaluated instead
// of a copy of all of it in a data segment (abi/SPEC.md, "The module's
// library").
type library map[string][]byte

// maxLibraryEntries bounds the entries read from one module's section: a
// hostile upload cannot make the host build a map of millions of names.
const maxLibraryEntries = 1024

// parseLibrary returns the library of a WebAssembly binary, nil when it has
// none. It walks the section headers only; a malformed binary yields nil
// here and is refused by the compiler. The section is copied: the library
// does not keep the whole binary alive.
func parseLibrary(wasm []byte) library {
	if len(wasm) < 8 {
		return nil
	}
	b := wasm[8:]
	for len(b) > 0 {
		id := b[0]
		size, n := readULEB(b[1:])
		if n == 0 || uint64(len(b)-1-n) < size {
			return nil
		}
		payload := b[1+n : 1+n+int(size)]
		b = b[1+n+int(size):]
		if id != 0 {
			continue
		}
		nameLen, m := readULEB(payload)
		if m == 0 || uint64(len(payload)-m) < nameLen {
			return nil
		}
		if string(payload[m:m+int(nameLen)]) == abi.LibrarySection {
			return splitLibrary(bytes.Clone(payload[m+int(nameLen):]))
		}
	}
	return nil
}

// splitLibrary cuts a library section into its NUL-terminated name and
// content pairs; a trailing incomplete pair is ignored.
func splitLibrary(sec []byte) library {
	lib := library{}
	for len(lib) < maxLibraryEntries {
		name, rest, ok := bytes.Cut(sec, []byte{0})
		if !ok {
			break
		}
		content, rest, ok := bytes.Cut(rest, []byte{0})
		if !ok {
			break
		}
		lib[string(name)] = content[:len(content):len(content)]
		sec = rest
	}
	return lib
}

// LibraryEntries returns the names of the entries in the library of a
// WebAssembly binary (abi.LibrarySection), sorted; none without one.
func LibraryEntries(wasm []byte) []string {
	lib := parseLibrary(wasm)
	names := make([]string, 0, len(lib))
	for name := range lib {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// readULEB decodes an unsigned LEB128 (Go's uvarint) of at most 5 bytes
// (a u32, as section sizes are), returning the value and the bytes read
// (0: invalid).
func readULEB(b []byte) (uint64, int) {
	v, n := binary.Uvarint(b)
	if n <= 0 || n > 5 {
		return 0, 0
	}
	return v, n
}

// hostLibrary reads an entry of the calling module's library, under the
// buffer rule. Unlike source it answers at any time: the library is part
// of the module, the same for every webtask that uses it.
func hostLibrary(ctx context.Context, mod api.Module, stack []uint64) {
	rc, _ := ctx.(*reqCtx)
	name := read(mod, stack[0], stack[1])
	buf, bufLen := stack[2], stack[3]
	var lib library
	if rc != nil {
		lib = rc.library
	}
	v, ok := lib[string(name)]
	if !ok {
		stack[0] = absent(mod, buf, bufLen)
		return
	}
	stack[0] = out(ctx, mod, buf, bufLen, len(v), func(dst []byte) { copy(dst, v) })
}
