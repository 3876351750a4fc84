package main

import (
	"fmt"
	"io"
	"strings"
)

const usage = `wasmtask — a multi-tenant WebAssembly extension host

Usage:
  wasmtask serve [flags]    start the server (wasmtask serve --help for flags)
  wasmtask version          print the version

Every flag of serve can also be set by an environment variable: --max-body-bytes
is WASMTASK_MAX_BODY_BYTES. Flags win over the environment.
`

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// run is the whole program; main only exits with its result.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "wasmtask", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "wasmtask: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// envName is the environment variable of a flag.
func envName(flag string) string {
	return "WASMTASK_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}
