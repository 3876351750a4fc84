package engine

import (
	"errors"
	"fmt"
	"strconv"
)

// globalExportPrefix names the exports the host adds for mutable globals.
const globalExportPrefix = "__wt_global_"

// errNotResettable: the module has state the host cannot reset (a mutable
// global of a type api.Global cannot hold, or imported globals/tables).
var errNotResettable = errors.New("module state cannot be reset")

// importError: the module imports a table or a global, which the host never
// provides. Reported at upload, naming the import.
type importError struct{ kind, module, name string }

func (e *importError) Error() string {
	return fmt.Sprintf("%s %s.%s: the host provides only functions of %s and wasi_snapshot_preview1",
		e.kind, e.module, e.name, "wasmtask_v1")
}

// exportMutableGlobals rewrites a module so that each mutable global it
// defines is also exported as __wt_global_<index>. wazero's API only reaches
// exported globals; with these exports the host can save the globals after
// _initialize and restore them after every request, which together with the
// memory reset makes a used instance as clean as a new one.
//
// It returns the new bytes and the added export names. A module with nothing
// to export is returned unchanged. Parse errors are returned as is: the
// caller compiles the original bytes to report what is wrong with them.
func exportMutableGlobals(wasm []byte) ([]byte, []string, error) {
	const (
		secImport = 2
		secGlobal = 6
		secExport = 7
	)
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, nil, errors.New("not a wasm binary")
	}
	type span struct{ start, end int } // section content
	var imports, globals, exports span
	var exportSecStart int // offset of the export section's id byte
	r := &reader{b: wasm, i: 8}
	for r.i < len(wasm) {
		secStart := r.i
		id := r.byte()
		size := int(r.u32())
		start := r.i
		if r.err != nil || size > len(wasm)-start {
			return nil, nil, errors.New("truncated section")
		}
		switch id {
		case secImport:
			imports = span{start, start + size}
		case secGlobal:
			globals = span{start, start + size}
		case secExport:
			exports = span{start, start + size}
			exportSecStart = secStart
		}
		r.i = start + size
	}
	imported := 0
	if imports.end > 0 {
		ir := &reader{b: wasm[:imports.end], i: imports.start}
		for n := ir.u32(); n > 0 && ir.err == nil; n-- {
			mod := ir.name()
			name := ir.name()
			switch kind := ir.byte(); kind {
			case 0: // func
				ir.u32()
			case 1: // table
				return nil, nil, &importError{kind: "table", module: mod, name: name}
			case 2: // memory
				ir.limits()
			case 3: // global
				return nil, nil, &importError{kind: "global", module: mod, name: name}
			default:
				return nil, nil, fmt.Errorf("unknown import kind %d", kind)
			}
		}
		if ir.err != nil {
			return nil, nil, ir.err
		}
	}

	if exports.end == 0 || globals.end == 0 {
		return wasm, nil, nil // no exports (invalid anyway) or no globals
	}

	var names []string
	var added []byte
	gr := &reader{b: wasm[:globals.end], i: globals.start}
	for i, n := 0, int(gr.u32()); i < n && gr.err == nil; i++ {
		valType := gr.byte()
		mutable := gr.byte() == 1
		gr.constExpr()
		if !mutable {
			continue
		}
		switch valType {
		case 0x7F, 0x7E, 0x7D, 0x7C: // i32 i64 f32 f64
		default:
			return nil, nil, fmt.Errorf("%w: mutable global of type 0x%x", errNotResettable, valType)
		}
		name := globalExportPrefix + strconv.Itoa(imported+i)
		names = append(names, name)
		added = appendName(added, name)
		added = append(added, 3) // export kind: global
		added = appendU32(added, uint32(imported+i))
	}
	if gr.err != nil {
		return nil, nil, gr.err
	}
	if len(names) == 0 {
		return wasm, nil, nil
	}

	er := &reader{b: wasm[:exports.end], i: exports.start}
	count := er.u32()
	if er.err != nil {
		return nil, nil, er.err
	}
	entries := wasm[er.i:exports.end]
	for er.i < exports.end && er.err == nil { // refuse a name clash
		name := er.name()
		er.byte()
		er.u32()
		if len(name) > len(globalExportPrefix) && name[:len(globalExportPrefix)] == globalExportPrefix {
			return nil, nil, fmt.Errorf("%w: the module already exports %s", errNotResettable, name)
		}
	}
	content := appendU32(nil, count+uint32(len(names)))
	content = append(content, entries...)
	content = append(content, added...)

	out := make([]byte, 0, len(wasm)+len(added)+8)
	out = append(out, wasm[:exportSecStart]...)
	out = append(out, secExport)
	out = appendU32(out, uint32(len(content)))
	out = append(out, content...)
	out = append(out, wasm[exports.end:]...)
	return out, names, nil
}

// reader decodes the few wasm binary encodings the rewriter needs. The
// first error sticks; reads after it return zero values.
type reader struct {
	b   []byte
	i   int
	err error
}

func (r *reader) fail(msg string) {
	if r.err == nil {
		r.err = errors.New(msg)
	}
	r.i = len(r.b)
}

func (r *reader) byte() byte {
	if r.i >= len(r.b) {
		r.fail("unexpected end")
		return 0
	}
	c := r.b[r.i]
	r.i++
	return c
}

// leb reads an unsigned or signed LEB128 of at most maxBytes bytes.
func (r *reader) leb(maxBytes int) uint64 {
	var v uint64
	for shift, n := 0, 0; ; shift += 7 {
		if n++; n > maxBytes {
			r.fail("LEB128 too long")
			return 0
		}
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= uint64(c&0x7F) << shift
		if c&0x80 == 0 {
			return v
		}
	}
}

func (r *reader) u32() uint32 { return uint32(r.leb(5)) }

func (r *reader) name() string {
	n := int(r.u32())
	if r.err != nil || n > len(r.b)-r.i {
		r.fail("bad name")
		return ""
	}
	s := string(r.b[r.i : r.i+n])
	r.i += n
	return s
}

func (r *reader) skipName() { r.name() }

func (r *reader) limits() {
	flags := r.byte()
	r.u32()
	if flags&1 != 0 {
		r.u32()
	}
}

// constExpr skips a constant expression, up to and including its end.
func (r *reader) constExpr() {
	for r.err == nil {
		switch op := r.byte(); op {
		case 0x0B: // end
			return
		case 0x41: // i32.const
			r.leb(5)
		case 0x42: // i64.const
			r.leb(10)
		case 0x43: // f32.const
			r.skip(4)
		case 0x44: // f64.const
			r.skip(8)
		case 0x23, 0xD2: // global.get, ref.func
			r.u32()
		case 0xD0: // ref.null
			r.byte()
		case 0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E: // extended-const arithmetic
		case 0xFD: // SIMD prefix: only v128.const is constant
			if r.u32() != 12 {
				r.fail("non-constant SIMD op in a constant expression")
				return
			}
			r.skip(16)
		default:
			r.fail("unsupported opcode in a constant expression")
			return
		}
	}
}

func (r *reader) skip(n int) {
	if n > len(r.b)-r.i {
		r.fail("unexpected end")
		return
	}
	r.i += n
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

func appendName(b []byte, s string) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}
