;; bye — answers the JSON string "bye" (a second module, for replacing hello).
(module
  (import "wasmtask_v1" "result" (func $result (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\"bye\"")
  (func (export "wt_handle") (result i32)
    (call $result (i32.const 0) (i32.const 5))
    (i32.const 0)))
