//go:build wasip1

// Command command is a plain WASI command (built without -buildmode=c-shared,
// so it exports _start and no wt_handle), which the host must refuse at
// upload.
package main

func main() { println("hi") }
