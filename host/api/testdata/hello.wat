;; hello.wat: the smallest webtask, always {"message":"hello, world"} in the simple model: the API tests' well-behaved guest.
(module
  (import "wasmtask_v1" "result" (func $result (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\"message\":\"hello, world\"}")
  (func (export "wt_handle") (result i32)
    (call $result (i32.const 0) (i32.const 26))
    (i32.const 0)))
