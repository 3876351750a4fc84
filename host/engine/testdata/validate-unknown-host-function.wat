;; validate-unknown-host-function.wat: validation: imports wasmtask_v1.exec, which does not exist; refused with ErrUnknownImport.
(module
  (import "wasmtask_v1" "exec" (func))
  (memory (export "memory") 1)
  (func (export "wt_handle") (result i32) (i32.const 0)))
