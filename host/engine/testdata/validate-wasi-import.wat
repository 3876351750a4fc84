;; validate-wasi-import.wat: validation: imports a WASI function (fd_write); accepted.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "wt_handle") (result i32) (i32.const 0)))
