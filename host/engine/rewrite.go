package engine

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The module rewriter prepares every uploaded module before wazero compiles
// it. It is how the host keeps control of code it cannot trust, with
// nothing but the released wazero:
//
//   - Interruption. The rewriter adds a budget global and charges it, at
//     each function entry, the size of the code that may run before the
//     next check (bytes, plus a small weight per host call);
//     each loop charges a counter of its own in a local (a register, so a
//     tight loop pays an add and a branch); bulk memory and table
//     operations charge in proportion to their length. When a budget is
//     spent the guest calls the host's yield import, which traps once the
//     request's deadline has passed and refills the budget otherwise. Every
//     path that runs long — a loop, recursion without loops, _initialize,
//     a start function — passes checks, so no guest outruns its deadline by
//     more than a few milliseconds. Yield is also a Go call, so even a guest
//     that never finishes returns to Go every few milliseconds, where the
//     Go scheduler can preempt it and a garbage collection can stop the
//     world (compiled Wasm cannot be preempted, and a collection waiting
//     for it stops every goroutine). This is wasmtime's epoch interruption
//     done in Wasm itself; it replaces wazero's WithCloseOnContextDone,
//     whose checks leave the compiled code at every loop iteration (80
//     times slower on a tight loop) and which starts a goroutine per call.
//   - Call depth. wazero grows a guest's call stack by doubling it up to
//     about 50 MB, so one infinite recursion allocated some 160 MB before
//     it trapped. Each function entry adds an estimate of its frame's size
//     to a depth global and calls the host's overflow import past
//     CodeLimits.MaxStackBytes; each call site puts the depth back after
//     the call returns (from a local saved before it), which is exact
//     whatever the callee and however it returns. The host zeroes the
//     depth before each call it makes into the guest.
//   - Reset. Each mutable global gets an export, so the host can save the
//     globals after _initialize and restore them after a request.
//   - Start. A start section runs during instantiation, before the host can
//     apply its deadline; the rewriter removes it and exports its function, which
//     the host calls under the deadline like _initialize.
//   - Limits. Compile time and memory grow with what a module contains
//     (quadratically with block nesting, for example), and wazero cannot
//     cancel a compilation; the limits in CodeLimits are checked here, while
//     reading the code once, before anything is compiled.
//
// Adding the yield and overflow imports shifts the index of every function
// the module defines by two, so every reference to a function (calls,
// ref.func, element segments, exports, the start function) is renumbered.
// Custom sections are dropped (the name section and DWARF would be stale).

// Names the rewriter adds. A module may not export names with this prefix.
const (
	hostExportPrefix   = "__wt_"
	globalExportPrefix = "__wt_global_"
	startExport        = "__wt_start"
	depthExport        = "__wt_depth"
	// rtModule is the import module of the host's runtime functions that
	// only the rewriter may import.
	rtModule     = "wasmtask_rt"
	yieldName    = "yield"
	overflowName = "overflow"
)

const (
	// budgetRefill is what a yield gives back: about this many bytes of
	// code run between two returns to Go (a few milliseconds at most). A
	// loop's counter yields when it reaches the same amount.
	budgetRefill = 1 << 22
	// maxCheckWeight caps the amount one check takes from the budget.
	maxCheckWeight = 1 << 20
	// callWeight is charged for each call of a host function. Host
	// functions whose work grows with their data check the deadline
	// themselves (hostfuncs.go), so this covers only the call itself.
	callWeight = 64
	// bulkShift: a bulk operation of n bytes or entries is charged n>>bulkShift.
	bulkShift = 4
)

// CodeLimits bound what compiling a module may cost; Compile checks them
// before compiling, and a module over a limit is refused as invalid with a
// message naming the limit. Zero fields take DefaultCodeLimits' values.
type CodeLimits struct {
	// MaxFunctions caps the functions a module defines.
	MaxFunctions int
	// MaxFunctionBytes caps the size of one function body.
	MaxFunctionBytes int
	// MaxNesting caps how deep blocks, loops and ifs nest in one function.
	MaxNesting int
	// MaxBrTable caps the br_table targets of one function, all its tables
	// together (wazero's cost grows with their square per function).
	MaxBrTable int
	// MaxLoops caps the loops of one function (the compiler's loop
	// analysis grows with their square).
	MaxLoops int
	// MaxControl caps one function's control flow: blocks, ifs, br_ifs and
	// br_tables count one, loops and bulk memory operations (which become
	// loops) four — the compile time of a function grows with its square.
	MaxControl int
	// MaxLocals caps the locals one function declares.
	MaxLocals int
	// MaxTotalLocals caps the locals of all functions together.
	MaxTotalLocals int
	// MaxStackBytes caps the estimated size of the call stack (16 bytes
	// per parameter and local, 64 per frame): deeper recursion traps.
	MaxStackBytes int
}

// DefaultCodeLimits returns limits that every guest this project builds
// passes with a wide margin, and at which a module compiles in about a
// second or two on a 2-core machine (measurements in the README).
func DefaultCodeLimits() CodeLimits {
	return CodeLimits{
		MaxFunctions:     100_000,
		MaxFunctionBytes: 256 << 10,
		MaxNesting:       10_000,
		MaxBrTable:       16_384,
		MaxLoops:         1_000,
		MaxControl:       10_000,
		MaxLocals:        50_000,
		MaxTotalLocals:   1_000_000,
		MaxStackBytes:    8 << 20,
	}
}

func (l CodeLimits) withDefaults() CodeLimits {
	d := DefaultCodeLimits()
	if l.MaxFunctions <= 0 {
		l.MaxFunctions = d.MaxFunctions
	}
	if l.MaxFunctionBytes <= 0 {
		l.MaxFunctionBytes = d.MaxFunctionBytes
	}
	if l.MaxNesting <= 0 {
		l.MaxNesting = d.MaxNesting
	}
	if l.MaxBrTable <= 0 {
		l.MaxBrTable = d.MaxBrTable
	}
	if l.MaxLocals <= 0 {
		l.MaxLocals = d.MaxLocals
	}
	if l.MaxLoops <= 0 {
		l.MaxLoops = d.MaxLoops
	}
	if l.MaxControl <= 0 {
		l.MaxControl = d.MaxControl
	}
	if l.MaxTotalLocals <= 0 {
		l.MaxTotalLocals = d.MaxTotalLocals
	}
	if l.MaxStackBytes <= 0 {
		l.MaxStackBytes = d.MaxStackBytes
	}
	return l
}

// rewritten is a module prepared for the host.
type rewritten struct {
	code []byte
	// globals are the exports added for mutable globals, by global index.
	globals []string
	// start: the module had a start function, now exported as startExport.
	start bool
	// resettable: nothing the module can change escapes a snapshot reset
	// (no table or segment mutation, every mutable global exportable).
	resettable bool
	// compileMicros estimates what compiling the module costs (funcCost):
	// it picks the compile lane (lanes.go).
	compileMicros int
	// compileBytes estimates the compiler's peak memory: wazero compiles a
	// function at a time, at up to about 500 bytes per byte of the largest
	// function (call-heavy code; 2.6 KB per br_table target), and keeps
	// the machine code and metadata of all, measured at about 48 bytes per
	// byte of code.
	compileBytes int64
	// interpretedBytes estimates what wazero's interpreter keeps in the Go
	// heap for the module (tier.go): measured at 30-32 bytes per byte of
	// code, and 2.4 KiB per function for a module of 100,000 tiny ones.
	interpretedBytes int64
}

// limitError: a module exceeds one of the CodeLimits.
type limitError struct{ msg string }

func (e *limitError) Error() string { return e.msg }

// importError: the module imports a table or a global, which the host never
// provides. Reported at upload, naming the import.
type importError struct{ kind, module, name string }

func (e *importError) Error() string {
	return fmt.Sprintf("%s %s.%s: the host provides only functions of %s and wasi_snapshot_preview1",
		e.kind, e.module, e.name, "wasmtask_v1")
}

// Section ids.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13
)

// sectionRank is the order sections must appear in (custom sections aside).
var sectionRank = [...]int{secType: 1, secImport: 2, secFunction: 3, 4: 4, 5: 5, secTag: 6,
	secGlobal: 7, secExport: 8, secStart: 9, secElement: 10, secDataCount: 11, secCode: 12, secData: 13}

type section struct {
	id         byte
	start, end int // content
}

// rewrite prepares wasm for the host; see the comment at the top of this
// file. Errors are *importError, *limitError or malformed-module errors.
func rewrite(wasm []byte, lim CodeLimits) (*rewritten, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, errors.New("not a wasm binary")
	}
	if string(wasm[4:8]) != "\x01\x00\x00\x00" {
		return nil, errors.New("unsupported wasm binary version (want 1)")
	}
	var secs []section
	byID := map[byte]section{}
	r := &reader{b: wasm, i: 8}
	for r.i < len(wasm) {
		id := r.byte()
		size := int(r.u32())
		start := r.i
		if r.err != nil || size > len(wasm)-start {
			return nil, errors.New("truncated section")
		}
		if int(id) >= len(sectionRank) || (id != secCustom && sectionRank[id] == 0) {
			return nil, fmt.Errorf("unknown section id %d", id)
		}
		s := section{id, start, start + size}
		if id != secCustom {
			if _, dup := byID[id]; dup {
				return nil, fmt.Errorf("duplicate section %d", id)
			}
			byID[id] = s
		}
		secs = append(secs, s)
		r.i = start + size
	}
	// A vector's count is trusted by decoders to size what they allocate:
	// refuse counts the section's bytes cannot hold (each entry takes at
	// least one byte), before wazero reads them.
	for _, sec := range secs {
		switch sec.id {
		case secCustom, secStart:
			continue
		}
		cr := &reader{b: wasm[:sec.end], i: sec.start}
		n := cr.u32()
		limit := sec.end - cr.i
		if sec.id == secDataCount {
			if d, ok := byID[secData]; ok {
				limit = d.end - d.start
			} else {
				limit = 0
			}
		}
		if cr.err != nil || int64(n) > int64(limit) {
			return nil, fmt.Errorf("section %d declares %d entries in %d bytes", sec.id, n, limit)
		}
	}
	body := func(id byte) *reader {
		s, ok := byID[id]
		if !ok {
			return nil
		}
		return &reader{b: wasm[:s.end], i: s.start}
	}

	rw := &rewriter{wasm: wasm, lim: lim, out: &rewritten{resettable: true}}

	// Types: the yield signature () -> i32 is added last.
	if tr := body(secType); tr != nil {
		rw.types = tr.u32()
		for i := uint32(0); i < rw.types && tr.err == nil; i++ {
			if tr.byte() != 0x60 {
				return nil, errors.New("type section: not a function type")
			}
			params := tr.u32()
			for j := uint32(0); j < params && tr.err == nil; j++ {
				tr.leb(5)
			}
			for n := tr.u32(); n > 0 && tr.err == nil; n-- {
				tr.leb(5)
			}
			rw.typeParams = append(rw.typeParams, params)
		}
		if err := trailing(tr, "type"); err != nil {
			return nil, err
		}
	}
	// Imports: only functions (memories are refused later, by validation).
	if ir := body(secImport); ir != nil {
		n := ir.u32()
		for ; n > 0 && ir.err == nil; n-- {
			mod := ir.name()
			name := ir.name()
			if mod == rtModule {
				return nil, &importError{kind: "function", module: mod, name: name}
			}
			switch kind := ir.byte(); kind {
			case 0: // func
				ir.u32()
				rw.importedFuncs++
			case 1:
				return nil, &importError{kind: "table", module: mod, name: name}
			case 2:
				ir.limits()
			case 3:
				return nil, &importError{kind: "global", module: mod, name: name}
			case 4:
				return nil, &importError{kind: "tag", module: mod, name: name}
			default:
				return nil, fmt.Errorf("unknown import kind %d", kind)
			}
		}
		if err := trailing(ir, "import"); err != nil {
			return nil, err
		}
	}
	if fr := body(secFunction); fr != nil {
		rw.funcs = fr.u32()
		if fr.err != nil {
			return nil, fr.err
		}
		if int(rw.funcs) > lim.MaxFunctions {
			return nil, &limitError{fmt.Sprintf("the module defines %d functions (limit %d)", rw.funcs, lim.MaxFunctions)}
		}
		rw.funcTypes = make([]uint32, rw.funcs)
		for i := range rw.funcTypes {
			rw.funcTypes[i] = fr.u32()
			if fr.err == nil && rw.funcTypes[i] >= rw.types {
				return nil, fmt.Errorf("function %d has unknown type %d", i, rw.funcTypes[i])
			}
		}
		if err := trailing(fr, "function"); err != nil {
			return nil, err
		}
	}
	if gr := body(secGlobal); gr != nil {
		rw.globals = gr.u32()
		if gr.err != nil {
			return nil, gr.err
		}
	}
	if sr := body(secStart); sr != nil {
		rw.startFunc = sr.u32()
		if sr.err != nil {
			return nil, sr.err
		}
		rw.out.start = true
	}

	if dr := body(secData); dr != nil { // byte vectors the decoder allocates
		for n := dr.u32(); n > 0 && dr.err == nil; n-- {
			switch flags := dr.u32(); flags {
			case 0:
				dr.constExpr()
			case 1:
			case 2:
				dr.u32()
				dr.constExpr()
			default:
				return nil, fmt.Errorf("data segment flags %d", flags)
			}
			if size := dr.u32(); dr.err == nil && int(size) > len(dr.b)-dr.i {
				return nil, fmt.Errorf("a data segment declares %d bytes past the section's end", size)
			} else {
				dr.skip(int(size))
			}
		}
		if dr.err != nil {
			return nil, fmt.Errorf("data section: %w", dr.err)
		}
	}

	// Emit the sections, adding those the module lacks where they belong.
	missing := []byte{secType, secImport, secGlobal, secExport}
	out := make([]byte, 0, len(wasm)+len(wasm)/8+64)
	out = append(out, wasm[:8]...)
	emitMissing := func(before int) error {
		for len(missing) > 0 && sectionRank[missing[0]] < before {
			id := missing[0]
			missing = missing[1:]
			if _, ok := byID[id]; ok {
				continue
			}
			content, err := rw.section(id, nil)
			if err != nil {
				return err
			}
			out = appendSection(out, id, content)
		}
		return nil
	}
	for _, s := range secs {
		if s.id == secCustom { // dropped, see below
			continue
		}
		if err := emitMissing(sectionRank[s.id]); err != nil {
			return nil, err
		}
		content, err := rw.section(s.id, &reader{b: wasm[:s.end], i: s.start})
		if err != nil {
			return nil, err
		}
		if content != nil {
			out = appendSection(out, s.id, content)
		}
	}
	if err := emitMissing(len(sectionRank) + 1); err != nil {
		return nil, err
	}
	if _, ok := byID[secCode]; !ok && rw.funcs > 0 {
		return nil, errors.New("function section without a code section")
	}
	rw.out.code = out
	return rw.out, nil
}

// Custom sections are all dropped: the name section and DWARF describe code
// by function index or offset, which the rewrite changes; nothing else in
// them matters to the host; and wazero's decoder would otherwise read
// whatever an uploader put there.

func appendSection(out []byte, id byte, content []byte) []byte {
	out = append(out, id)
	out = appendU32(out, uint32(len(content)))
	return append(out, content...)
}

type rewriter struct {
	wasm []byte
	lim  CodeLimits
	out  *rewritten

	types         uint32   // count in the type section: the yield type's index
	typeParams    []uint32 // parameter count of each type
	funcTypes     []uint32 // type of each defined function
	importedFuncs uint32   // the yield function's index (overflow's is one more)
	funcs         uint32   // defined functions
	globals       uint32   // defined globals: the budget global's index
	startFunc     uint32
	// mutableGlobals are the indices of the globals out.globals exports.
	mutableGlobals []uint32
	totalLocals    int
	widestBrTable  int64 // compile memory of the widest br_table
}

// fn renumbers a function index: defined functions move up by the two
// imports the rewriter adds (yield, then overflow).
func (rw *rewriter) fn(idx uint32) uint32 {
	if idx >= rw.importedFuncs {
		return idx + 2
	}
	return idx
}

// section returns the new content of a section (r is nil for a section the
// module lacks); nil content drops the section.
func (rw *rewriter) section(id byte, r *reader) ([]byte, error) {
	var out []byte
	switch id {
	case secType:
		out = appendU32(out, rw.types+2)
		if r != nil {
			r.u32()
			out = append(out, r.b[r.i:]...)
		}
		out = append(out, 0x60, 0, 1, 0x7F) // () -> i32: yield
		out = append(out, 0x60, 0, 0)       // () -> (): overflow
	case secImport:
		n := uint32(0)
		if r != nil {
			n = r.u32()
		}
		out = appendU32(out, n+2)
		if r != nil {
			out = append(out, r.b[r.i:]...)
		}
		out = appendName(out, rtModule)
		out = appendName(out, yieldName)
		out = append(out, 0)
		out = appendU32(out, rw.types)
		out = appendName(out, rtModule)
		out = appendName(out, overflowName)
		out = append(out, 0)
		out = appendU32(out, rw.types+1)
	case secGlobal:
		return rw.globalSection(r)
	case secExport:
		return rw.exportSection(r)
	case secStart:
		return nil, nil // exported instead, and called by the host
	case secElement:
		return rw.elementSection(r)
	case secCode:
		return rw.codeSection(r)
	default:
		return r.b[r.i:], nil
	}
	return out, r.errOrNil()
}

// trailing reports a section read whole that has bytes left, or an error.
func trailing(r *reader, section string) error {
	if r.err != nil {
		return fmt.Errorf("%s section: %w", section, r.err)
	}
	if r.i != len(r.b) {
		return fmt.Errorf("%s section has %d trailing bytes", section, len(r.b)-r.i)
	}
	return nil
}

func (r *reader) errOrNil() error {
	if r == nil {
		return nil
	}
	return r.err
}

// globalSection renumbers ref.func in initialisers, names the mutable
// globals to export, and adds the budget and depth globals.
func (rw *rewriter) globalSection(r *reader) ([]byte, error) {
	out := appendU32(nil, rw.globals+2)
	if r != nil {
		r.u32()
	}
	for i := uint32(0); r != nil && i < rw.globals; i++ {
		valType := r.byte()
		mut := r.byte()
		out = append(out, valType, mut)
		out = rw.constExpr(r, out)
		if r.err != nil {
			return nil, r.err
		}
		if mut != 1 {
			continue
		}
		switch valType {
		case 0x7F, 0x7E, 0x7D, 0x7C: // i32 i64 f32 f64: api.Global holds them
			rw.mutableGlobals = append(rw.mutableGlobals, i)
			rw.out.globals = append(rw.out.globals, globalExportPrefix+strconv.Itoa(int(i)))
		default: // a mutable v128 or reference: the host cannot restore it
			rw.out.resettable = false
		}
	}
	if r != nil {
		if err := trailing(r, "global"); err != nil {
			return nil, err
		}
	}
	out = append(out, 0x7F, 1, 0x41)
	out = appendS32(out, budgetRefill)
	out = append(out, 0x0B)
	return append(out, 0x7F, 1, 0x41, 0, 0x0B), nil // depth
}

// exportSection renumbers function exports and adds the host's exports.
func (rw *rewriter) exportSection(r *reader) ([]byte, error) {
	var n uint32
	var entries []byte
	if r != nil {
		n = r.u32()
		for i := uint32(0); i < n && r.err == nil; i++ {
			name := r.name()
			kind := r.byte()
			idx := r.u32()
			if strings.HasPrefix(name, hostExportPrefix) {
				return nil, fmt.Errorf("the module exports %s: names starting with %s are the host's", name, hostExportPrefix)
			}
			if kind == 0 {
				idx = rw.fn(idx)
			}
			entries = appendName(entries, name)
			entries = append(entries, kind)
			entries = appendU32(entries, idx)
		}
		if err := trailing(r, "export"); err != nil {
			return nil, err
		}
	}
	added := uint32(len(rw.out.globals)) + 1
	for i, name := range rw.out.globals {
		entries = appendName(entries, name)
		entries = append(entries, 3)
		entries = appendU32(entries, rw.mutableGlobals[i])
	}
	entries = appendName(entries, depthExport)
	entries = append(entries, 3)
	entries = appendU32(entries, rw.globals+1)
	if rw.out.start {
		added++
		entries = appendName(entries, startExport)
		entries = append(entries, 0)
		entries = appendU32(entries, rw.fn(rw.startFunc))
	}
	return append(appendU32(nil, n+added), entries...), nil
}

// elementSection renumbers the functions of element segments.
func (rw *rewriter) elementSection(r *reader) ([]byte, error) {
	n := r.u32()
	out := appendU32(nil, n)
	for i := uint32(0); i < n && r.err == nil; i++ {
		flags := r.u32()
		out = appendU32(out, flags)
		if flags > 7 {
			return nil, fmt.Errorf("element segment flags %d", flags)
		}
		if flags&2 != 0 && flags&1 == 0 { // explicit table index
			out = appendU32(out, r.u32())
		}
		if flags&1 == 0 { // active: offset expression
			out = rw.constExpr(r, out)
		}
		if flags&3 != 0 { // elemkind or reftype
			out = append(out, r.byte())
		}
		count := r.u32()
		out = appendU32(out, count)
		for j := uint32(0); j < count && r.err == nil; j++ {
			if flags&4 == 0 {
				out = appendU32(out, rw.fn(r.u32()))
			} else {
				out = rw.constExpr(r, out)
			}
		}
	}
	if r.err == nil && r.i != len(r.b) {
		return nil, errors.New("element section has trailing bytes")
	}
	return out, r.err
}

// constExpr copies a constant expression, renumbering ref.func.
func (rw *rewriter) constExpr(r *reader, out []byte) []byte {
	for r.err == nil {
		start := r.i
		switch op := r.byte(); op {
		case 0x0B: // end
			return append(out, op)
		case 0xD2: // ref.func
			out = append(out, op)
			out = appendU32(out, rw.fn(r.u32()))
			continue
		case 0x41:
			r.leb(5)
		case 0x42:
			r.leb(10)
		case 0x43:
			r.skip(4)
		case 0x44:
			r.skip(8)
		case 0x23: // global.get
			r.u32()
		case 0xD0: // ref.null
			r.leb(5)
		case 0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E: // extended-const arithmetic
		case 0xFD:
			if r.u32() != 12 {
				r.fail("non-constant SIMD op in a constant expression")
			}
			r.skip(16)
		default:
			r.fail("unsupported opcode in a constant expression")
		}
		out = append(out, r.b[start:r.i]...)
	}
	return out
}

// codeSection rewrites every function body.
func (rw *rewriter) codeSection(r *reader) ([]byte, error) {
	n := r.u32()
	if r.err != nil {
		return nil, r.err
	}
	if n != rw.funcs {
		return nil, fmt.Errorf("code section has %d bodies for %d functions", n, rw.funcs)
	}
	out := appendU32(make([]byte, 0, len(r.b)-r.i+int(n)*32), n)
	var fb funcBuilder
	var largest int64
	for i := uint32(0); i < n; i++ {
		size := int(r.u32())
		if r.err != nil || size > len(r.b)-r.i {
			return nil, fmt.Errorf("function %d: truncated body", rw.importedFuncs+i)
		}
		if size > rw.lim.MaxFunctionBytes {
			return nil, &limitError{fmt.Sprintf("function %d is %d bytes (limit %d)", rw.importedFuncs+i, size, rw.lim.MaxFunctionBytes)}
		}
		body, err := fb.rewrite(rw, r.b[r.i:r.i+size], rw.typeParams[rw.funcTypes[i]])
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", rw.importedFuncs+i, err)
		}
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
		r.i += size
		rw.out.compileMicros += 16
		rw.out.compileBytes += 48*int64(size) + 1024
		rw.out.interpretedBytes += 32*int64(len(body)) + 2560
		largest = max(largest, 500*int64(size))
	}
	if r.i != len(r.b) {
		return nil, errors.New("code section has trailing bytes")
	}
	rw.out.compileBytes += max(largest, rw.widestBrTable)
	return out, nil
}

// funcBuilder rewrites function bodies, reusing its buffers.
type funcBuilder struct {
	out  []byte
	ctrl []ctrlEntry
}

type ctrlEntry struct {
	loop   bool
	start  int // input offset of the loop's body
	calls  int // calls seen before the loop began
	weight int // output offset of the loop check's weight
	// outOfLine: the loop's slow path is outside it (see appendLoopHead);
	// wraps counts such loops from the function's block to this one, for
	// renumbering the branches that leave them.
	outOfLine bool
	wraps     int
}

// outOfLineLabels is how many labels appendLoopHead adds around a loop.
const outOfLineLabels = 3

// checkWeightLen is the fixed size of a check's weight (a padded LEB128),
// so that a weight can be filled in once the code it covers is read.
const checkWeightLen = 5

// appendEntryCheck adds the function entry's check of the budget global;
// it returns the offset of its weight.
//
//	global.get $budget; i32.const w; i32.sub; global.set $budget
//	global.get $budget; i32.const 0; i32.le_s
//	if; call $yield; global.set $budget; end
func (rw *rewriter) appendEntryCheck(out []byte) ([]byte, int) {
	out = append(out, 0x23)
	out = appendU32(out, rw.globals)
	out = append(out, 0x41)
	at := len(out)
	out = appendPaddedS32(out, 1)
	out = append(out, 0x6B)
	return rw.appendBudgetTest(out), at
}

// appendBudgetTest stores the new budget from the stack and yields when it
// is spent.
func (rw *rewriter) appendBudgetTest(out []byte) []byte {
	out = append(out, 0x24)
	out = appendU32(out, rw.globals)
	out = append(out, 0x23)
	out = appendU32(out, rw.globals)
	out = append(out, 0x41, 0, 0x4C, 0x04, 0x40, 0x10)
	out = appendU32(out, rw.importedFuncs)
	out = append(out, 0x24)
	out = appendU32(out, rw.globals)
	return append(out, 0x0B)
}

// appendLoopCheck adds a loop header's check of the function's counter
// local; it returns the offset of its weight.
//
//	local.get $c; i32.const w; i32.add; local.tee $c
//	i32.const refill; i32.ge_s
//	if; call $yield; drop; i32.const 0; local.set $c; end
func (rw *rewriter) appendLoopCheck(out []byte, counter uint32) ([]byte, int) {
	out, at := appendCounterTest(out, counter)
	out = append(out, 0x04, 0x40)
	out = rw.appendCounterReset(out, counter)
	return append(out, 0x0B), at
}

// appendCounterTest adds weight w to a loop's counter and leaves whether
// it reached the refill; it returns the offset of the weight.
//
//	local.get $c; i32.const w; i32.add; local.tee $c; i32.const refill; i32.ge_s
func appendCounterTest(out []byte, counter uint32) ([]byte, int) {
	out = append(out, 0x20)
	out = appendU32(out, counter)
	out = append(out, 0x41)
	at := len(out)
	out = appendPaddedS32(out, 1)
	out = append(out, 0x6A, 0x22)
	out = appendU32(out, counter)
	out = append(out, 0x41)
	out = appendS32(out, budgetRefill)
	return append(out, 0x4E), at
}

// appendCounterReset is a loop's slow path: yield, and start counting
// again.
//
//	call $yield; drop; i32.const 0; local.set $c
func (rw *rewriter) appendCounterReset(out []byte, counter uint32) []byte {
	out = append(out, 0x10)
	out = appendU32(out, rw.importedFuncs)
	out = append(out, 0x1A, 0x41, 0, 0x21)
	return appendU32(out, counter)
}

// appendLoopHead starts a loop whose slow path is out of line, so that the
// loop itself contains no call (a call in a hot loop makes the compiler
// keep the loop's values in memory rather than registers):
//
//	block bt                ;; $done
//	  loop                  ;; $retry
//	    block               ;; $slow
//	      loop bt           ;; the original loop
//	        local.get $c; i32.const w; i32.add; local.tee $c
//	        i32.const refill; i32.ge_s; br_if $slow
//	        ...
//
// appendLoopTail ends it. Leaving to $slow and re-entering at the loop's
// header is the same as continuing: the loop has no parameters, and its
// state is in locals. Branches out of the loop get outOfLineLabels more.
func (rw *rewriter) appendLoopHead(out, loopOp []byte, counter uint32) ([]byte, int) {
	out = append(out, 0x02)
	out = append(out, loopOp[1:]...) // the loop's block type
	out = append(out, 0x03, 0x40, 0x02, 0x40)
	out = append(out, loopOp...)
	out, at := appendCounterTest(out, counter)
	return append(out, 0x0D, 1), at
}

// appendLoopTail follows the original loop's end:
//
//	      br $done          ;; with the loop's results
//	    end
//	    call $yield; drop; i32.const 0; local.set $c; br $retry
//	  end
//	  unreachable
//	end
func (rw *rewriter) appendLoopTail(out []byte, counter uint32) []byte {
	out = append(out, 0x0C, 2, 0x0B)
	out = rw.appendCounterReset(out, counter)
	return append(out, 0x0C, 0, 0x0B, 0x00, 0x0B)
}

// hasParams says whether a block type (as an s33) takes parameters.
func (rw *rewriter) hasParams(bt int64) bool {
	return bt >= 0 && bt < int64(len(rw.typeParams)) && rw.typeParams[bt] > 0
}

// appendBulkCheck charges the budget for a bulk operation whose length is
// on top of the stack, keeping it there.
//
//	local.tee $n; global.get $budget; local.get $n; i32.const s; i32.shr_u
//	i32.sub; (the budget test)
func (rw *rewriter) appendBulkCheck(out []byte, scratch uint32) []byte {
	out = append(out, 0x22)
	out = appendU32(out, scratch)
	out = append(out, 0x23)
	out = appendU32(out, rw.globals)
	out = append(out, 0x20)
	out = appendU32(out, scratch)
	out = append(out, 0x41, bulkShift, 0x76, 0x6B)
	return rw.appendBudgetTest(out)
}

// appendDepthEntry adds a frame's estimated size to the depth global and
// calls overflow past the limit.
//
//	global.get $depth; i32.const frame; i32.add; global.set $depth
//	global.get $depth; i32.const limit; i32.gt_u; if; call $overflow; end
func (rw *rewriter) appendDepthEntry(out []byte, frame int) []byte {
	depth := rw.globals + 1
	out = append(out, 0x23)
	out = appendU32(out, depth)
	out = append(out, 0x41)
	out = appendS32(out, int32(frame))
	out = append(out, 0x6A, 0x24)
	out = appendU32(out, depth)
	out = append(out, 0x23)
	out = appendU32(out, depth)
	out = append(out, 0x41)
	out = appendS32(out, int32(rw.lim.MaxStackBytes))
	out = append(out, 0x4B, 0x04, 0x40, 0x10)
	out = appendU32(out, rw.importedFuncs+1)
	return append(out, 0x0B)
}

// appendDepthSave and appendDepthRestore surround a call: the depth after
// it is the depth before it, however the callee returned.
func (rw *rewriter) appendDepthSave(out []byte, saved uint32) []byte {
	out = append(out, 0x23)
	out = appendU32(out, rw.globals+1)
	out = append(out, 0x21)
	return appendU32(out, saved)
}

func (rw *rewriter) appendDepthRestore(out []byte, saved uint32) []byte {
	out = append(out, 0x20)
	out = appendU32(out, saved)
	out = append(out, 0x24)
	return appendU32(out, rw.globals+1)
}

// frameBytes estimates a frame's stack size from its parameters and locals.
func frameBytes(locals int) int { return 64 + 16*locals }

func checkWeight(n int) int { return min(max(n, 1), maxCheckWeight) }

// rewrite instruments one body (see the top of this file), renumbers
// function indices and enforces the limits. params is the function's
// parameter count: the two locals the checks use come after its own.
func (fb *funcBuilder) rewrite(rw *rewriter, body []byte, params uint32) ([]byte, error) {
	r := &reader{b: body}
	decls := r.u32()
	declsEnd := r.i
	locals := 0
	for n := decls; n > 0 && r.err == nil; n-- {
		c := int(r.u32())
		r.byte()
		if locals += c; locals > rw.lim.MaxLocals || c > rw.lim.MaxLocals {
			return nil, &limitError{fmt.Sprintf("declares more than %d locals", rw.lim.MaxLocals)}
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if rw.totalLocals += locals; rw.totalLocals > rw.lim.MaxTotalLocals {
		return nil, &limitError{fmt.Sprintf("the module declares more than %d locals in all", rw.lim.MaxTotalLocals)}
	}
	var cost funcCost
	defer func() { rw.out.compileMicros += cost.micros(len(body)) }()
	counter := params + uint32(locals) // the loops' counter, the bulk length, the saved depth
	scratch, saved := counter+1, counter+2
	out := appendU32(fb.out[:0], decls+1)
	out = append(out, body[declsEnd:r.i]...)
	out = append(out, 3, 0x7F)
	out, entryWeight := rw.appendEntryCheck(out)
	out = rw.appendDepthEntry(out, frameBytes(int(params)+locals+3))
	ctrl := append(fb.ctrl[:0], ctrlEntry{})
	calls := 0
	copied := r.i // body[copied:opStart] is still to be copied
	for len(ctrl) > 0 {
		if r.i >= len(body) {
			return nil, errors.New("body ends inside a block")
		}
		opStart := r.i
		op := r.byte()
		switch {
		case op == 0x0B: // end
			top := ctrl[len(ctrl)-1]
			ctrl = ctrl[:len(ctrl)-1]
			if top.loop {
				patchPaddedS32(out[top.weight:], checkWeight(opStart-top.start+(calls-top.calls)*callWeight))
			}
			if top.outOfLine {
				out = append(out, body[copied:r.i]...)
				copied = r.i
				out = rw.appendLoopTail(out, counter)
			}
		case op == 0x02 || op == 0x03 || op == 0x04: // block loop if
			btStart := r.i
			r.leb(5)
			if r.err != nil {
				return nil, fmt.Errorf("at byte %d: %w", opStart, r.err)
			}
			bt := blockType(body[btStart:r.i])
			if len(ctrl) >= rw.lim.MaxNesting {
				return nil, &limitError{fmt.Sprintf("blocks nest deeper than %d", rw.lim.MaxNesting)}
			}
			e := ctrlEntry{wraps: ctrl[len(ctrl)-1].wraps}
			if err := cost.add(rw.lim, op == 0x03, 1); err != nil {
				return nil, err
			}
			if op == 0x03 {
				e.loop, e.start, e.calls = true, r.i, calls
				if rw.hasParams(bt) { // its parameters would not survive leaving it
					out = append(out, body[copied:r.i]...)
					out, e.weight = rw.appendLoopCheck(out, counter)
				} else {
					out = append(out, body[copied:opStart]...)
					out, e.weight = rw.appendLoopHead(out, body[opStart:r.i], counter)
					e.outOfLine = true
					e.wraps++
				}
				copied = r.i
			}
			ctrl = append(ctrl, e)
		case op == 0x0C || op == 0x0D: // br, br_if
			l := r.u32()
			if op == 0x0D {
				if err := cost.add(rw.lim, false, 1); err != nil {
					return nil, err
				}
			}
			if add := branchShift(ctrl, l); add != 0 {
				out = append(out, body[copied:opStart]...)
				out = append(out, op)
				out = appendU32(out, l+add)
				copied = r.i
			}
		case op == 0x10 || op == 0xD2: // call, ref.func
			idx := r.u32()
			cost.calls++
			out = append(out, body[copied:opStart]...)
			switch {
			case op == 0xD2:
				out = append(out, op)
				out = appendU32(out, rw.fn(idx))
			case idx < rw.importedFuncs: // a host function: no frame of ours
				calls++
				out = append(out, op)
				out = appendU32(out, idx)
			default:
				out = rw.appendDepthSave(out, saved)
				out = append(out, op)
				out = appendU32(out, rw.fn(idx))
				out = rw.appendDepthRestore(out, saved)
			}
			copied = r.i
		case op == 0x11: // call_indirect
			r.u32()
			r.u32()
			out = append(out, body[copied:opStart]...)
			out = rw.appendDepthSave(out, saved)
			out = append(out, body[opStart:r.i]...)
			out = rw.appendDepthRestore(out, saved)
			copied = r.i
		case op == 0x0E: // br_table
			n := r.u32()
			if cost.targets += int(n) + 1; cost.targets > rw.lim.MaxBrTable || int(n) > rw.lim.MaxBrTable {
				return nil, &limitError{fmt.Sprintf("has more than %d br_table targets (limit %d)", rw.lim.MaxBrTable, rw.lim.MaxBrTable)}
			}
			if err := cost.add(rw.lim, false, 1); err != nil {
				return nil, err
			}
			rw.widestBrTable = max(rw.widestBrTable, 2600*int64(cost.targets))
			if ctrl[len(ctrl)-1].wraps == 0 { // no label moved
				for ; n > 0 && r.err == nil; n-- {
					r.u32()
				}
				r.u32()
				break
			}
			out = append(out, body[copied:opStart]...)
			out = append(out, op)
			out = appendU32(out, n)
			for i := uint32(0); i <= n && r.err == nil; i++ {
				l := r.u32()
				out = appendU32(out, l+branchShift(ctrl, l))
			}
			copied = r.i
		case op == 0xFC:
			sub, err := skipFC(r, rw)
			if err != nil {
				return nil, fmt.Errorf("at byte %d: %w", opStart, err)
			}
			if isBulk(sub) { // charge for the length before the operation
				if err := cost.add(rw.lim, false, 4); err != nil {
					return nil, err
				}
				out = append(out, body[copied:opStart]...)
				out = rw.appendBulkCheck(out, scratch)
				copied = opStart
			}
		default:
			if err := skipImmediates(r, op, rw); err != nil {
				return nil, fmt.Errorf("at byte %d: %w", opStart, err)
			}
		}
		if r.err != nil {
			return nil, fmt.Errorf("at byte %d: %w", opStart, r.err)
		}
	}
	if r.i != len(body) {
		return nil, errors.New("bytes after the function's end")
	}
	out = append(out, body[copied:]...)
	patchPaddedS32(out[entryWeight:], checkWeight(len(body)+calls*callWeight))
	fb.out, fb.ctrl = out, ctrl
	return out, nil
}

// funcCost counts what drives the time wazero takes to compile a function.
type funcCost struct {
	control, loops, targets, calls int
}

// add counts a control construct of the given weight (a loop: four, and
// one loop), refusing the function past the limits.
func (c *funcCost) add(lim CodeLimits, loop bool, weight int) error {
	if loop {
		c.loops++
		weight = 4
		if c.loops > lim.MaxLoops {
			return &limitError{fmt.Sprintf("has more than %d loops (limit %d)", lim.MaxLoops, lim.MaxLoops)}
		}
	}
	if c.control += weight; c.control > lim.MaxControl {
		return &limitError{fmt.Sprintf("has more than %d blocks, branches and loops (limit %d; a loop counts 4)", lim.MaxControl, lim.MaxControl)}
	}
	return nil
}

// micros estimates the function's compile time in microseconds, from
// measurements through this host on a 2-core machine: 0.7 µs per byte,
// 11 per call, and the squares of its control flow, loops and br_table
// targets.
func (c *funcCost) micros(bytes int) int {
	return bytes*7/10 + 11*c.calls + c.control*c.control/45 + c.loops*c.loops/7 + c.targets*c.targets/1250
}

// branchShift is what a branch to label l gains from the labels added
// around the out-of-line loops it leaves.
func branchShift(ctrl []ctrlEntry, l uint32) uint32 {
	top := len(ctrl) - 1
	target := top - int(l)
	if target < 0 || ctrl[top].wraps == 0 {
		return 0 // an invalid label: wazero refuses it
	}
	return uint32(outOfLineLabels * (ctrl[top].wraps - ctrl[target].wraps))
}

// blockType decodes a block type's bytes (a signed LEB128 of 33 bits):
// negative for the empty type and value types, else a type index.
func blockType(b []byte) int64 {
	if len(b) == 0 {
		return -1
	}
	var v int64
	shift := 0
	for _, c := range b {
		v |= int64(c&0x7F) << shift
		shift += 7
	}
	if shift < 64 && b[len(b)-1]&0x40 != 0 {
		v |= -1 << shift // sign-extend
	}
	return v
}

// isBulk says whether a 0xFC instruction takes a length from the stack:
// memory.init, memory.copy, memory.fill, table.init, table.copy,
// table.grow, table.fill.
func isBulk(sub uint32) bool {
	switch sub {
	case 8, 10, 11, 12, 14, 15, 17:
		return true
	}
	return false
}

// skipImmediates reads the immediates of op (any instruction but the
// control ones rewrite handles). It decodes exactly the instructions wazero
// accepts with its core features 2.0 and refuses the rest, so that the
// rewriter and the compiler always agree on where each instruction starts.
func skipImmediates(r *reader, op byte, rw *rewriter) error {
	switch {
	case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0F || op == 0x1A || op == 0x1B ||
		op == 0xD1 || (op >= 0x45 && op <= 0xC4):
		// no immediates
	case op == 0x0C || op == 0x0D: // br, br_if
		r.u32()
	case op == 0x1C: // select t*
		for n := r.u32(); n > 0 && r.err == nil; n-- {
			r.leb(5)
		}
	case op >= 0x20 && op <= 0x24: // locals, globals
		r.u32()
	case op == 0x25: // table.get
		r.u32()
	case op == 0x26: // table.set
		r.u32()
		rw.out.resettable = false
	case op >= 0x28 && op <= 0x3E: // loads and stores
		memarg(r)
	case op == 0x3F || op == 0x40: // memory.size, memory.grow
		r.u32()
	case op == 0x41:
		r.leb(5)
	case op == 0x42:
		r.leb(10)
	case op == 0x43:
		r.skip(4)
	case op == 0x44:
		r.skip(8)
	case op == 0xD0: // ref.null
		r.leb(5)
	case op == 0xFD:
		return skipSIMD(r)
	default:
		return fmt.Errorf("instruction 0x%02x is not supported", op)
	}
	return nil
}

func memarg(r *reader) {
	r.u32() // alignment
	r.u32() // offset
}

// skipFC reads the 0xFC-prefixed instructions: saturating truncation, bulk
// memory and tables.
func skipFC(r *reader, rw *rewriter) (uint32, error) {
	sub := r.u32()
	switch {
	case sub <= 7: // trunc_sat
	case sub == 8 || sub == 10 || sub == 12 || sub == 14: // memory.init, memory.copy, table.init, table.copy
		r.u32()
		r.u32()
		if sub == 12 || sub == 14 {
			rw.out.resettable = false
		}
	case sub == 9 || sub == 13: // data.drop, elem.drop
		r.u32()
		rw.out.resettable = false
	case sub == 11 || sub == 16: // memory.fill, table.size
		r.u32()
	case sub == 15 || sub == 17: // table.grow, table.fill
		r.u32()
		rw.out.resettable = false
	default:
		return sub, fmt.Errorf("instruction 0xfc %d is not supported", sub)
	}
	return sub, nil
}

// skipSIMD reads the fixed-width SIMD instructions (0xFD prefix).
func skipSIMD(r *reader) error {
	switch sub := r.u32(); {
	case sub <= 11, sub == 92, sub == 93: // loads and stores
		memarg(r)
	case sub == 12, sub == 13: // v128.const, i8x16.shuffle
		r.skip(16)
	case sub >= 21 && sub <= 34: // extract and replace lane
		r.skip(1)
	case sub >= 84 && sub <= 91: // load and store lane
		memarg(r)
		r.skip(1)
	case sub <= 255:
		// no immediates
	default:
		return fmt.Errorf("instruction 0xfd %d is not supported", sub)
	}
	return nil
}

// appendS32 appends a signed LEB128.
func appendS32(b []byte, v int32) []byte { return appendS64(b, int64(v)) }

// appendS64 appends a signed LEB128 (i64.const's immediate; i32's too).
func appendS64(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// appendPaddedS32 appends a non-negative v as a 5-byte signed LEB128.
func appendPaddedS32(b []byte, v int) []byte {
	var p [checkWeightLen]byte
	patchPaddedS32(p[:], v)
	return append(b, p[:]...)
}

func patchPaddedS32(b []byte, v int) {
	for i := 0; i < checkWeightLen-1; i++ {
		b[i] = byte(v>>(7*i))&0x7F | 0x80
	}
	b[checkWeightLen-1] = byte(v>>(7*(checkWeightLen-1))) & 0x7F
}
