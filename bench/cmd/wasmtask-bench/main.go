// Command wasmtask-bench runs wasmtask's benchmark harness and writes the
// results to bench/results (see bench/README.md). bench is its own module, so
// run it from bench/:
//
//	go run ./cmd/wasmtask-bench          # quick: every section, a few minutes
//	go run ./cmd/wasmtask-bench -full    # the sizes
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
