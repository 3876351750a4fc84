;; budget-big.wat: answers 1 from an initial memory of 80 pages (5 MiB), more than a 4 MiB memory budget can hold.
(module
  (import "wasmtask_v1" "result" (func $result (param i32 i32)))
  (memory (export "memory") 80)
  (data (i32.const 0) "1")
  (func (export "wt_handle") (result i32) (call $result (i32.const 0) (i32.const 1)) (i32.const 0)))
