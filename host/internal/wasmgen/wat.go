package wasmgen

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// FromWAT compiles WAT text with wabt's wat2wasm (installed by `make
// guests`), for tests whose guests are clearer written as text. It needs
// wat2wasm on PATH when the test runs: prefer a committed testdata/*.wat
// fixture with its .wasm, which `go test` reads without any toolchain.
func FromWAT(src string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "wasmgen-wat-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	in, out := filepath.Join(dir, "m.wat"), filepath.Join(dir, "m.wasm")
	if err := os.WriteFile(in, []byte(src), 0o600); err != nil {
		return nil, err
	}
	if b, err := exec.Command("wat2wasm", in, "-o", out).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("wat2wasm (install wabt, or run `make guests`): %v\n%s", err, b)
	}
	return os.ReadFile(out)
}

// RecursionBombWAT is a wasmtask guest that recurses exponentially without
// a single loop instruction: f(n) = f(n-1) + f(n-1), with n = 60. wazero
// alone checks for termination only at loop headers, so without the host's
// rewriting it runs for years whatever the deadline. where says where it
// runs: "request" (wt_handle), "init" (_initialize) or "start" (a start
// section); wt_handle answers "1" otherwise. RecursionBomb returns it
// compiled, without wat2wasm.
func RecursionBombWAT(where string) string {
	call := `(drop (call $f (i32.const 60)))`
	handle, init, start := "", "", ""
	switch where {
	case "request":
		handle = call
	case "init":
		init = `(func (export "_initialize") ` + call + `)`
	case "start":
		start = `(func $start ` + call + `) (start $start)`
	}
	return `(module
  (import "wasmtask_v1" "result" (func $result (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "1")
  (func $f (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 1))
      (else (i32.add (call $f (i32.sub (local.get $n) (i32.const 1)))
                     (call $f (i32.sub (local.get $n) (i32.const 1)))))))
  ` + init + start + `
  (func (export "wt_handle") (result i32)
    ` + handle + `
    (call $result (i32.const 0) (i32.const 1))
    (i32.const 0)))`
}
