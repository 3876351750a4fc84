package wasmgen

import "math"

// returnZero is the tail of every generated wt_handle: i32.const 0.
var returnZero = []byte{OpI32Const, 0}

// Minimal returns the smallest wasmtask guest: wt_handle returns 0.
func Minimal() []byte {
	return Guest(nil, returnZero).Encode()
}

// NestedBlocks returns a guest whose wt_handle body is depth nested `block`
// instructions of empty block type, their depth `end`s, then i32.const 0.
// Its code entry is 3*depth+4 bytes; the nesting depth is depth (plus the
// function's own block). A negative depth counts as 0.
//
// wazero's cost grows with the square of the number of blocks in a
// function, nested or not: Repeat with a block unit costs the same.
func NestedBlocks(depth int) []byte {
	return nested(OpBlock, depth)
}

// NestedLoops is NestedBlocks with `loop` instead of `block`. Loops cost
// wazero more than blocks: on a 2-core machine 10,000 nested loops compile
// in about 2 s, 10,000 nested blocks in 0.4 s.
func NestedLoops(depth int) []byte {
	return nested(OpLoop, depth)
}

func nested(op byte, depth int) []byte {
	depth = max(depth, 0)
	body := make([]byte, 0, 3*depth+2)
	for range depth {
		body = append(body, op, BlockEmpty)
	}
	for range depth {
		body = append(body, OpEnd)
	}
	body = append(body, returnZero...)
	return Guest(nil, body).Encode()
}

// BrTable returns a guest whose wt_handle holds one br_table with width
// targets plus the default, every one to the same enclosing block:
//
//	block
//	  i32.const 0
//	  br_table 0 0 ... 0 (width times) 0
//	end
//	i32.const 0
//
// Each target is one byte, so the body is about width+10 bytes. A negative
// width counts as 0.
func BrTable(width int) []byte {
	width = max(width, 0)
	body := make([]byte, 0, width+16)
	body = append(body, OpBlock, BlockEmpty, OpI32Const, 0, OpBrTable)
	body = AppendULEB128(body, uint64(width))
	for range width {
		body = append(body, 0)
	}
	body = append(body, 0, OpEnd)
	body = append(body, returnZero...)
	return Guest(nil, body).Encode()
}

// HugeFunction returns a guest whose wt_handle is one function of straight
// line code whose code entry (local declarations, instructions and the
// final end, what the code section's size field counts) is exactly
// bodyBytes long, or 13 bytes, the smallest possible, when bodyBytes is
// smaller. The code repeats
//
//	local.get 0; i32.const 1; i32.add; local.set 0
//
// (7 bytes) on one i32 local, pads with nops, and finally stores the local
// to memory address 0 so that no compiler can drop the chain as dead code,
// then returns 0.
func HugeFunction(bodyBytes int) []byte {
	const (
		localsLen = 3 // 0x01 (one entry) 0x01 (count) 0x7f (i32)
		tailLen   = 9 // i32.const 0; local.get 0; i32.store 2 0; i32.const 0
		endLen    = 1
	)
	n := max(bodyBytes-localsLen-tailLen-endLen, 0)
	body := make([]byte, 0, n+tailLen)
	unit := []byte{OpLocalGet, 0, OpI32Const, 1, OpI32Add, OpLocalSet, 0}
	for len(body)+len(unit) <= n {
		body = append(body, unit...)
	}
	for len(body) < n {
		body = append(body, OpNop)
	}
	body = append(body, OpI32Const, 0, OpLocalGet, 0, OpI32Store, 2, 0)
	body = append(body, returnZero...)
	return Guest([]Local{{Count: 1, Type: I32}}, body).Encode()
}

// LiveValues returns a guest whose wt_handle keeps n distinct i32 values
// alive on the operand stack at once (a register-allocation stress):
// it loads a local from memory, pushes local+i for i in [0, n), folds them
// with n-1 i32.xor, stores the result to memory, and returns 0. The body
// is about 5*n bytes. n below 1 counts as 1.
func LiveValues(n int) []byte {
	n = max(n, 1)
	body := make([]byte, 0, 6*n+32)
	// local 0 = i32.load(0): a value no compiler can fold.
	body = append(body, OpI32Const, 0, OpI32Load, 2, 0, OpLocalSet, 0)
	body = append(body, OpI32Const, 0) // the store address, below the values
	for i := range n {
		body = append(body, OpLocalGet, 0, OpI32Const)
		body = AppendSLEB128(body, int64(i))
		body = append(body, OpI32Add)
	}
	for range n - 1 {
		body = append(body, OpI32Xor)
	}
	body = append(body, OpI32Store, 2, 0)
	body = append(body, returnZero...)
	return Guest([]Local{{Count: 1, Type: I32}}, body).Encode()
}

// Repeat returns a guest whose wt_handle has one i32 local (index 0,
// initially 0) and whose body is
//
//	block
//	  unit, repeated n times
//	end
//	i32.const 0
//
// unit must leave the operand stack as it found it; label 0 in unit is the
// enclosing block, which has no results. Repeat builds the bombs that have
// no generator of their own, for example
//
//	Repeat(n, []byte{OpBlock, BlockEmpty, OpEnd})               // n sequential blocks
//	Repeat(n, []byte{OpLocalGet, 0, OpBrIf, 0})                 // n br_ifs, a chain of n basic blocks
//	Repeat(n, []byte{OpLocalGet, 0, OpIf, BlockEmpty, OpEnd})   // n ifs
//
// A negative n counts as 0.
func Repeat(n int, unit []byte) []byte {
	n = max(n, 0)
	body := make([]byte, 0, n*len(unit)+5)
	body = append(body, OpBlock, BlockEmpty)
	for range n {
		body = append(body, unit...)
	}
	body = append(body, OpEnd)
	body = append(body, returnZero...)
	return Guest([]Local{{Count: 1, Type: I32}}, body).Encode()
}

// ManyFunctions returns a guest with n tiny defined functions besides
// wt_handle, each of type () -> i32 with body i32.const 0 (a 5-byte code
// entry). None of them is exported or called. A negative n counts as 0.
func ManyFunctions(n int) []byte {
	n = max(n, 0)
	m := Guest(nil, returnZero)
	funcs := make([]Func, 1, n+1)
	funcs[0] = m.Funcs[0]
	for range n {
		funcs = append(funcs, Func{Type: 0, Body: returnZero})
	}
	m.Funcs = funcs
	return m.Encode()
}

// ManyLocals returns a guest whose wt_handle declares n i32 locals and
// returns 0 without touching them. The locals are declared in as few
// entries as possible (one entry holds at most 2^32-1), so ManyLocals(1<<31)
// is a module of a few dozen bytes that declares 2^31 locals. A negative n
// counts as 0.
func ManyLocals(n int) []byte {
	return Guest(localEntries(uint64(max(n, 0))), returnZero).Encode()
}

// localEntries splits n i32 locals into declaration entries.
func localEntries(n uint64) []Local {
	var ls []Local
	for n > 0 {
		c := min(n, math.MaxUint32)
		ls = append(ls, Local{Count: uint32(c), Type: I32})
		n -= c
	}
	return ls
}
