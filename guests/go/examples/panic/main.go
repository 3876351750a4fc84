//go:build wasip1

// Command panic panics in its handler, to test that a Go panic (which the
// SDK does not recover) ends the request with 500.
package main

import "github.com/wasmtask/wasmtask/guests/go/wasmtask"

func init() {
	wasmtask.HandleSimple(func(*wasmtask.Context) (any, error) {
		panic("boom")
	})
}

func main() {}
