;; validate-wrong-signature.wat: validation: imports wasmtask_v1.get with the wrong signature; refused with ErrUnknownImport.
(module
  (import "wasmtask_v1" "get" (func (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "wt_handle") (result i32) (i32.const 0)))
