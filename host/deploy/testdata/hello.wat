;; hello — answers the JSON string "hello" (a module the registry tests deploy).
(module
  (import "wasmtask_v1" "result" (func $result (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\"hello\"")
  (func (export "wt_handle") (result i32)
    (call $result (i32.const 0) (i32.const 7))
    (i32.const 0)))
