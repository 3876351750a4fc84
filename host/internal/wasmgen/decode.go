package wasmgen

// Header returns the 8-byte preamble of every module: the magic "\0asm"
// and version 1.
func Header() []byte {
	return []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}
}

// AppendSection appends one section, its id, its size and its payload,
// to a module being built by hand (start from Header()).
func AppendSection(module []byte, id byte, payload []byte) []byte {
	return appendSection(module, id, payload)
}

// LyingCount returns a module of a dozen bytes with one section of the
// given id whose payload is only a vector count: it declares count
// entries (functions, code entries, types, ...) and holds none.
//
// wazero v1.12.0 allocates count times the entry size before it reads the
// first entry. With count 2^32-1 and id 4 (table), 10 (code) or 11 (data)
// that is over 100 GiB and the process dies with "fatal error: runtime:
// out of memory", which recover cannot catch; with id 3 (function) it
// reserves 16 GiB. Never compile such a module in-process: it exists to
// test the check that refuses it, which must compare each declared count
// with the bytes left in its section.
func LyingCount(id byte, count uint32) []byte {
	return appendSection(Header(), id, AppendULEB128(nil, uint64(count)))
}

// LyingNameCount returns a module whose custom "name" section holds a
// function-names subsection that declares count names and holds none.
// wazero v1.12.0 decodes the name section and allocates count entries up
// front, so this too is fatal in-process at count 2^32-1 (see LyingCount).
func LyingNameCount(count uint32) []byte {
	sub := AppendULEB128(nil, uint64(count))
	payload := appendName(nil, "name")
	payload = append(payload, 1) // subsection 1: function names
	payload = AppendULEB128(payload, uint64(len(sub)))
	payload = append(payload, sub...)
	return appendSection(Header(), 0, payload)
}
