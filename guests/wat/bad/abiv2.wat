;; abiv2 — built for a future ABI version: imports from wasmtask_v2, refused
;; at upload ("module targets ABI v2 ...; this server speaks v1").
(module
  (import "wasmtask_v2" "get" (func $get (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "wt_handle") (result i32)
    (call $get (i32.const 0) (i32.const 0) (i32.const 0))))
