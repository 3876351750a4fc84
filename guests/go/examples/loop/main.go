//go:build wasip1

// Command loop never answers: its handler spins forever, to test the host's
// wall-time limit (504).
package main

import "github.com/wasmtask/wasmtask/guests/go/wasmtask"

// spins is package-level so that every iteration has an effect the
// compiler must keep. (Go does not delete infinite loops the way C++ may, but
// this keeps the loop honest and gives a debugger something to watch.)
var spins uint64

func init() {
	wasmtask.HandleSimple(func(*wasmtask.Context) (any, error) {
		for {
			spins++
		}
	})
}

func main() {}
