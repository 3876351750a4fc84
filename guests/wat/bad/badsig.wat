;; badsig — imports wasmtask_v1.get with a 64-bit length: refused at upload
;; ("has signature (i32, i32, i64) -> (i32), want (i32, i32, i32) -> (i32)").
(module
  (import "wasmtask_v1" "get" (func $get (param i32 i32 i64) (result i32)))
  (memory (export "memory") 1)
  (func (export "wt_handle") (result i32)
    (call $get (i32.const 0) (i32.const 0) (i64.const 0))))
