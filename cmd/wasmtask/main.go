// Command wasmtask is the wasmtask server ("wasmtask serve") and its client.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
