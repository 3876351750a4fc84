;; validate-abi-v2.wat: validation: imports from wasmtask_v2, an ABI version the host does not speak; refused with ErrABIVersion.
(module
  (import "wasmtask_v2" "get" (func (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "wt_handle") (result i32) (i32.const 0)))
