;; hello: the smallest wasmtask webtask, used as the trivial handler of the
;; benchmarks. Simple model: one call to wasmtask_v1.result with a constant
;; 26-byte JSON body, the same bytes the Go example guest answers:
;;   {"message":"hello, world"}
;; No WASI, no _initialize, one 64 KiB page of memory.
(module
  (import "wasmtask_v1" "result" (func $result (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{\"message\":\"hello, world\"}")
  (func (export "wt_handle") (result i32)
    (call $result (i32.const 16) (i32.const 26))
    (i32.const 0)))
