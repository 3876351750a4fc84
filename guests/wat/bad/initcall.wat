;; initcall — calls the host from _initialize, before any request exists:
;; the module fails to start, so the upload is refused (the host warms one
;; instance at upload).
(module
  (import "wasmtask_v1" "get" (func $get (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_initialize")
    (drop (call $get (i32.const 0) (i32.const 0) (i32.const 0))))
  (func (export "wt_handle") (result i32)
    (i32.const 0)))
