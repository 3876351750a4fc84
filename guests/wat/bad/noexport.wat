;; noexport — exports its memory but no wt_handle: the host refuses it at
;; upload ("does not export wt_handle").
(module
  (import "wasmtask_v1" "result" (func $result (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{}")
  (func (export "handle") (result i32)
    (call $result (i32.const 0) (i32.const 2))
    (i32.const 0)))
