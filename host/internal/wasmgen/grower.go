package wasmgen

// MemoryGrower returns a wasmtask guest for memory tests, importing
// wasmtask_v1.get and wasmtask_v1.write_body. Its memory starts at
// minPages pages. Its _initialize, present when initPages > 0, grows the
// memory to initPages pages and writes a byte in every 4 KiB of it.
// wt_handle grows the memory page by page to as many pages as the request
// body has bytes (an empty body: until memory.grow fails), writes a byte in
// every 4 KiB of the whole memory, and answers 8 bytes with write_body:
// memory.size in pages and 1 if memory.grow returned -1, as little-endian
// u32s.
//
// It is built here rather than committed as WAT because tests use it with
// many sizes. As text it is testdata/grow.wat (MemoryGrower(1, 0)) and
// testdata/grow-init.wat (MemoryGrower(1, 8)); TestMemoryGrower checks that
// it encodes byte for byte what those compile to.
func MemoryGrower(minPages, initPages int) []byte {
	const get, writeBody, touch, growTo = 0, 1, 2, 3 // function indices
	// touch writes a byte in every 4 KiB of the memory; local 0 is $a.
	touchBody := []byte{
		OpBlock, BlockEmpty, // block $done
		OpLoop, BlockEmpty, //   loop $l
		OpLocalGet, 0, OpMemorySize, 0, OpI32Const, 16, OpI32Shl, OpI32GeU, OpBrIf, 1, // br_if $done (a >= memory.size << 16)
		OpLocalGet, 0, OpI32Const, 1, OpI32Store8, 0, 0, // i32.store8 a 1
		OpLocalGet, 0, OpI32Const, 0x80, 0x20, OpI32Add, OpLocalSet, 0, // a += 4096
		OpBr, 0, // br $l
		OpEnd, OpEnd,
	}
	// growTo grows the memory page by page to $target (local 0) pages, or
	// until memory.grow fails when it is 0; it returns 1 if memory.grow failed.
	growToBody := []byte{
		OpBlock, BlockEmpty, // block $done
		OpLoop, BlockEmpty, //   loop $l
		// br_if $done (target != 0 && memory.size >= target)
		OpLocalGet, 0, OpI32Const, 0, OpI32Ne, OpMemorySize, 0, OpLocalGet, 0, OpI32GeU, OpI32And, OpBrIf, 1,
		// if memory.grow 1 == -1 { return 1 }
		OpI32Const, 1, OpMemoryGrow, 0, OpI32Const, 0x7f, OpI32Eq, OpIf, BlockEmpty, OpI32Const, 1, OpReturn, OpEnd,
		OpBr, 0, // br $l
		OpEnd, OpEnd,
		OpI32Const, 0,
	}
	// wt_handle; local 0 is $failed.
	handleBody := []byte{
		OpI32Const, 3, OpI32Const, 0, OpI32Const, 0, OpCall, get, // get(body, 0, 0): the body's length
		OpCall, growTo, OpLocalSet, 0, // failed = growTo(len(body))
		OpCall, touch,
		OpI32Const, 0, OpMemorySize, 0, OpI32Store, 2, 0, // memory[0:4] = memory.size
		OpI32Const, 4, OpLocalGet, 0, OpI32Store, 2, 0, // memory[4:8] = failed
		OpI32Const, 0, OpI32Const, 8, OpCall, writeBody, // write_body(0, 8)
		OpI32Const, 0,
	}
	i32 := []ValType{I32}
	m := &Module{
		Types: []FuncType{
			{Params: []ValType{I32, I32, I32}, Results: i32}, // 0: get
			{Params: []ValType{I32, I32}},                    // 1: write_body
			{},                                               // 2: touch, _initialize
			{Params: i32, Results: i32},                      // 3: growTo
			{Results: i32},                                   // 4: wt_handle
		},
		Imports: []Import{
			{Module: "wasmtask_v1", Name: "get", Type: 0},
			{Module: "wasmtask_v1", Name: "write_body", Type: 1},
		},
		Funcs: []Func{
			{Type: 2, Locals: []Local{{Count: 1, Type: I32}}, Body: touchBody},
			{Type: 3, Body: growToBody},
		},
		Memory:  &Limits{Min: uint32(max(minPages, 0))},
		Exports: []Export{{Name: "memory", Kind: ExternMemory, Index: 0}},
	}
	// export adds a function and exports it; its index follows the imports.
	export := func(name string, f Func) {
		m.Funcs = append(m.Funcs, f)
		m.Exports = append(m.Exports, Export{Name: name, Kind: ExternFunc, Index: uint32(len(m.Imports) + len(m.Funcs) - 1)})
	}
	if initPages > 0 {
		init := AppendSLEB128([]byte{OpI32Const}, int64(initPages)) // growTo(initPages); touch()
		export("_initialize", Func{Type: 2, Body: append(init, OpCall, growTo, OpDrop, OpCall, touch)})
	}
	export("wt_handle", Func{Type: 4, Locals: []Local{{Count: 1, Type: I32}}, Body: handleBody})
	return m.Encode()
}
