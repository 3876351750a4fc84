;; badabi.wat: a webtask built for a future ABI (it imports wasmtask_v2.get), refused at upload: "module targets ABI v2".
(module
  (import "wasmtask_v2" "get" (func $get (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "wt_handle") (result i32)
    (drop (call $get (i32.const 0) (i32.const 0) (i32.const 0)))
    (i32.const 0)))
