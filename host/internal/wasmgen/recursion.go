package wasmgen

import (
	"embed"
	"fmt"
)

// recursionFS holds RecursionBombWAT compiled, one module per place it can
// run: testdata/recursion-<where>.wat built by `make guests` (wat2wasm)
// and committed, so that tests need no WAT toolchain.
//
//go:embed testdata/recursion-*.wasm
var recursionFS embed.FS

// RecursionBomb returns RecursionBombWAT(where) compiled, for where
// "request", "init" or "start"; it panics for any other where. Each call
// returns a new copy.
func RecursionBomb(where string) []byte {
	switch where {
	case "request", "init", "start":
	default:
		panic(fmt.Sprintf("wasmgen: RecursionBomb(%q): where must be request, init or start", where))
	}
	b, err := recursionFS.ReadFile("testdata/recursion-" + where + ".wasm")
	if err != nil {
		panic("wasmgen: " + err.Error())
	}
	return b
}
