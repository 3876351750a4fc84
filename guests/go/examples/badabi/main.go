//go:build wasip1

// Command badabi is a module built for a future ABI: it imports from
// wasmtask_v2, which the host must refuse at upload ("module targets ABI v2;
// this server speaks v1"). It does not use the SDK, which targets v1.
package main

import "unsafe"

//go:wasmimport wasmtask_v2 get
func get(field uint32, buf unsafe.Pointer, bufLen uint32) int32

var buf [64]byte

//go:wasmexport wt_handle
func wtHandle() int32 {
	if get(0, unsafe.Pointer(&buf[0]), uint32(len(buf))) < 0 {
		return 1
	}
	return 0
}

func main() {}
