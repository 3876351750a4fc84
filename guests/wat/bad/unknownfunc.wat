;; unknownfunc — imports a wasmtask_v1 function that ABI v1 does not have:
;; refused at upload ("wasmtask_v1.fetch does not exist").
(module
  (import "wasmtask_v1" "fetch" (func $fetch (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "wt_handle") (result i32)
    (call $fetch (i32.const 0) (i32.const 0))))
