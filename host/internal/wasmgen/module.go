// Package wasmgen builds WebAssembly binary modules byte by byte for tests.
//
// It exists to produce inputs that a real toolchain would not: "compile
// bombs" (many or deeply nested blocks, huge br_tables, huge function
// bodies, many functions or locals) that the host must refuse before it
// hands them to wazero, and small hand-made guests. Everything is
// hand-encoded (sections, LEB128); the package uses the standard library
// only. Guests clearer as text are WAT fixtures committed beside their
// compiled .wasm (`make guests` rebuilds those; TestFixturesUpToDate checks
// them when wabt is installed); the ones that more than one package's tests
// use live here (RecursionBomb, built from testdata/recursion-*.wat).
// FromWAT, which runs wabt's wat2wasm at run time, is kept for callers not
// yet moved to fixtures.
//
// Every bomb generator (NestedBlocks, BrTable, HugeFunction, Repeat, ...)
// returns a valid wasmtask guest: it imports nothing, defines one page of
// memory exported as "memory", and exports a function "wt_handle" of type
// () -> i32 that returns 0. MemoryGrower, a guest of the memory tests
// wanted in many sizes, is built the same way and imports wasmtask_v1
// functions. For other shapes, fill in a Module and call Encode, or start
// from Header and AppendSection. LyingCount and LyingNameCount build
// malformed "decode bombs" that must never reach wazero at all.
package wasmgen

// ValType is a WebAssembly value type as encoded in the binary format.
type ValType byte

// The numeric value types.
const (
	I32 ValType = 0x7f // i32
	I64 ValType = 0x7e // i64
	F32 ValType = 0x7d // f32
	F64 ValType = 0x7c // f64
)

// ExternKind is the kind byte of an import or export.
type ExternKind byte

// The export kinds.
const (
	ExternFunc   ExternKind = 0x00 // a function
	ExternTable  ExternKind = 0x01 // a table
	ExternMemory ExternKind = 0x02 // a memory
	ExternGlobal ExternKind = 0x03 // a global
)

// A few opcodes, enough to write the small bodies tests need.
const (
	OpUnreachable byte = 0x00 // unreachable
	OpNop         byte = 0x01 // nop
	OpBlock       byte = 0x02 // block bt
	OpLoop        byte = 0x03 // loop bt
	OpIf          byte = 0x04 // if bt
	OpElse        byte = 0x05 // else
	OpEnd         byte = 0x0b // end
	OpBr          byte = 0x0c // br l
	OpBrIf        byte = 0x0d // br_if l
	OpBrTable     byte = 0x0e // br_table l* l
	OpReturn      byte = 0x0f // return
	OpCall        byte = 0x10 // call f
	OpDrop        byte = 0x1a // drop
	OpLocalGet    byte = 0x20 // local.get x
	OpLocalSet    byte = 0x21 // local.set x
	OpLocalTee    byte = 0x22 // local.tee x
	OpI32Load     byte = 0x28 // i32.load align offset
	OpI32Store    byte = 0x36 // i32.store align offset
	OpI32Store8   byte = 0x3a // i32.store8 align offset
	OpMemorySize  byte = 0x3f // memory.size 0
	OpMemoryGrow  byte = 0x40 // memory.grow 0
	OpI32Const    byte = 0x41 // i32.const n (signed LEB128)
	OpI32Eq       byte = 0x46 // i32.eq
	OpI32Ne       byte = 0x47 // i32.ne
	OpI32GeU      byte = 0x4f // i32.ge_u
	OpI32Add      byte = 0x6a // i32.add
	OpI32And      byte = 0x71 // i32.and
	OpI32Xor      byte = 0x73 // i32.xor
	OpI32Shl      byte = 0x74 // i32.shl

	// BlockEmpty is the block type of a block, loop or if without
	// parameters or results.
	BlockEmpty byte = 0x40
)

// FuncType is a function signature.
type FuncType struct {
	Params  []ValType
	Results []ValType
}

// Local is one local declaration entry of a function body: Count locals
// of type Type. A body may repeat a type in several entries.
type Local struct {
	Count uint32
	Type  ValType
}

// Func is a defined function: its type index, its local declarations and
// its instructions. Body excludes the function's final `end`, which Encode
// appends.
type Func struct {
	Type   uint32
	Locals []Local
	Body   []byte
}

// Import is an imported function. Imported functions take the lowest
// function indices, before every defined function.
type Import struct {
	Module string
	Name   string
	Type   uint32
}

// Export exports the item of kind Kind and index Index as Name.
type Export struct {
	Name  string
	Kind  ExternKind
	Index uint32
}

// Limits are the limits of a memory, in 64 KiB pages.
type Limits struct {
	Min    uint32
	Max    uint32
	HasMax bool
}

// Module is a module to encode: types, imported and defined functions, at
// most one memory, and exports. Sections that would be empty are omitted.
type Module struct {
	Types   []FuncType
	Imports []Import
	Funcs   []Func
	Memory  *Limits
	Exports []Export
}

// Guest returns a module that is a minimal wasmtask guest whose wt_handle
// has the given locals and body (without the final `end`; the body must
// leave one i32 on the stack). Type 0 is () -> i32, function 0 is
// wt_handle, and one page of memory is exported as "memory". Callers may
// append types, functions and exports.
func Guest(locals []Local, body []byte) *Module {
	return &Module{
		Types:  []FuncType{{Results: []ValType{I32}}},
		Funcs:  []Func{{Type: 0, Locals: locals, Body: body}},
		Memory: &Limits{Min: 1},
		Exports: []Export{
			{Name: "memory", Kind: ExternMemory, Index: 0},
			{Name: "wt_handle", Kind: ExternFunc, Index: 0},
		},
	}
}

// Encode returns the module in the WebAssembly binary format.
func (m *Module) Encode() []byte {
	out := Header()
	var s []byte // reused section payload buffer

	if len(m.Types) > 0 {
		s = AppendULEB128(s[:0], uint64(len(m.Types)))
		for _, t := range m.Types {
			s = append(s, 0x60)
			s = appendValTypes(s, t.Params)
			s = appendValTypes(s, t.Results)
		}
		out = appendSection(out, 1, s)
	}
	if len(m.Imports) > 0 {
		s = AppendULEB128(s[:0], uint64(len(m.Imports)))
		for _, im := range m.Imports {
			s = appendName(s, im.Module)
			s = appendName(s, im.Name)
			s = append(s, byte(ExternFunc))
			s = AppendULEB128(s, uint64(im.Type))
		}
		out = appendSection(out, 2, s)
	}
	if len(m.Funcs) > 0 {
		s = AppendULEB128(s[:0], uint64(len(m.Funcs)))
		for _, f := range m.Funcs {
			s = AppendULEB128(s, uint64(f.Type))
		}
		out = appendSection(out, 3, s)
	}
	if m.Memory != nil {
		s = append(s[:0], 1)
		if m.Memory.HasMax {
			s = append(s, 0x01)
			s = AppendULEB128(s, uint64(m.Memory.Min))
			s = AppendULEB128(s, uint64(m.Memory.Max))
		} else {
			s = append(s, 0x00)
			s = AppendULEB128(s, uint64(m.Memory.Min))
		}
		out = appendSection(out, 5, s)
	}
	if len(m.Exports) > 0 {
		s = AppendULEB128(s[:0], uint64(len(m.Exports)))
		for _, e := range m.Exports {
			s = appendName(s, e.Name)
			s = append(s, byte(e.Kind))
			s = AppendULEB128(s, uint64(e.Index))
		}
		out = appendSection(out, 7, s)
	}
	if len(m.Funcs) > 0 {
		s = AppendULEB128(s[:0], uint64(len(m.Funcs)))
		var code []byte
		for _, f := range m.Funcs {
			code = AppendULEB128(code[:0], uint64(len(f.Locals)))
			for _, l := range f.Locals {
				code = AppendULEB128(code, uint64(l.Count))
				code = append(code, byte(l.Type))
			}
			code = append(code, f.Body...)
			code = append(code, OpEnd)
			s = AppendULEB128(s, uint64(len(code)))
			s = append(s, code...)
		}
		out = appendSection(out, 10, s)
	}
	return out
}

// AppendULEB128 appends v in unsigned LEB128 to b.
func AppendULEB128(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// AppendSLEB128 appends v in signed LEB128 to b (the encoding of the
// immediates of i32.const and i64.const).
func AppendSLEB128(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendSection(out []byte, id byte, payload []byte) []byte {
	out = append(out, id)
	out = AppendULEB128(out, uint64(len(payload)))
	return append(out, payload...)
}

func appendValTypes(b []byte, ts []ValType) []byte {
	b = AppendULEB128(b, uint64(len(ts)))
	for _, t := range ts {
		b = append(b, byte(t))
	}
	return b
}

func appendName(b []byte, name string) []byte {
	b = AppendULEB128(b, uint64(len(name)))
	return append(b, name...)
}
