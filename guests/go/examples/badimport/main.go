//go:build wasip1

// Command badimport imports a function no host provides
// (env.not_a_host_function), which the host must refuse at upload, naming
// the import.
package main

//go:wasmimport env not_a_host_function
func notAHostFunction() int32

//go:wasmexport wt_handle
func wtHandle() int32 {
	return notAHostFunction()
}

func main() {}
