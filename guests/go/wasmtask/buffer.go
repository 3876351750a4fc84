package wasmtask

import (
	"strings"
	"unsafe"

	"github.com/wasmtask/wasmtask/abi"
)

// Scratch buffer sizes. Values up to maxScratch bytes are read into one
// package-level buffer that grows on demand and is reused by every later
// call; a larger value (a big body) is read into a buffer of its own size so
// the module does not keep it for its whole life.
const (
	initialScratch = 1 << 10
	maxScratch     = 64 << 10
)

var scratch = make([]byte, initialScratch)

// source names one readable value: a field, one key of a map, or a map.
type source uint8

const (
	srcField source = iota // get(id, …)
	srcValue               // get_value(id, key, …)
	srcMap                 // get_map(id, …)
)

// call makes one host read into buf and returns the host's answer.
func call(src source, id uint32, key string, buf []byte) int32 {
	p, n := unsafe.SliceData(buf), uint32(len(buf))
	switch src {
	case srcField:
		return hostGet(id, p, n)
	case srcValue:
		return hostGetValue(id, key, p, n)
	default:
		return hostGetMap(id, p, n)
	}
}

// read applies the buffer rule of abi/SPEC.md: call with the scratch buffer;
// -1 (or any negative answer) means absent; a length larger than the buffer
// means "call again with at least that much room". The result aliases
// scratch unless the value was larger than maxScratch, so use it before the
// next read.
func read(src source, id uint32, key string) ([]byte, bool) {
	buf := scratch
	for {
		n := call(src, id, key, buf)
		if n < 0 {
			return nil, false
		}
		if int(n) <= len(buf) {
			return buf[:n], true
		}
		if n <= maxScratch {
			scratch = make([]byte, roundUp(int(n)))
			buf = scratch
		} else {
			buf = make([]byte, n)
		}
	}
}

// roundUp returns the next power of two >= n, capped at maxScratch.
func roundUp(n int) int {
	size := initialScratch
	for size < n && size < maxScratch {
		size <<= 1
	}
	return max(size, n)
}

// readString reads a value as a string the caller owns; "" when absent.
func readString(src source, id uint32, key string) string {
	b, _ := read(src, id, key)
	return string(b)
}

// readBytes reads a value as a slice the caller owns; nil when absent.
func readBytes(src source, id uint32) []byte {
	b, ok := read(src, id, "")
	if !ok {
		return nil
	}
	if len(b) > 0 && &b[0] != &scratch[0] {
		return b // a buffer of its own, read past maxScratch
	}
	return append(make([]byte, 0, len(b)), b...)
}

// readMap reads a whole map, decoding "key NUL value NUL …"; a key that
// appears several times keeps every value in arrival order. An absent map is
// an empty one.
func readMap(m abi.Map) map[string][]string {
	b, _ := read(srcMap, m, "")
	out := make(map[string][]string)
	decodePairs(string(b), func(k, v string) { out[k] = append(out[k], v) })
	return out
}

// readFirstMap is readMap keeping only the first value of each key.
func readFirstMap(m abi.Map) map[string]string {
	b, _ := read(srcMap, m, "")
	out := make(map[string]string)
	decodePairs(string(b), func(k, v string) {
		if _, dup := out[k]; !dup {
			out[k] = v
		}
	})
	return out
}

// decodePairs calls fn for each key/value pair of the get_map encoding. A
// trailing key without a value (a host bug) is ignored.
func decodePairs(s string, fn func(k, v string)) {
	for s != "" {
		k, rest, ok := strings.Cut(s, "\x00")
		if !ok {
			return
		}
		v, rest, ok := strings.Cut(rest, "\x00")
		if !ok {
			return
		}
		fn(k, v)
		s = rest
	}
}
