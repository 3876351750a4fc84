;; source.wat: the ABI's source function (abi/SPEC.md, "The webtask's source").
;; _initialize asks for the source's size with an empty buffer, then reads it
;; into offset 1024 when it fits in 4 KiB. wt_handle answers it as the JSON
;; result ("-1" when there was none); a DELETE (method of 6 bytes) calls
;; source again during the request, which traps.
(module
  (import "wasmtask_v1" "get" (func $get (param i32 i32 i32) (result i32)))
  (import "wasmtask_v1" "result" (func $result (param i32 i32)))
  (import "wasmtask_v1" "source" (func $source (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $len (mut i32) (i32.const 0))
  (data (i32.const 0) "-1")
  (func (export "_initialize")
    (global.set $len (call $source (i32.const 0) (i32.const 0)))
    (if (i32.and (i32.ge_s (global.get $len) (i32.const 0))
                 (i32.le_s (global.get $len) (i32.const 4096)))
      (then (drop (call $source (i32.const 1024) (i32.const 4096))))))
  (func (export "wt_handle") (result i32)
    (if (i32.eq (call $get (i32.const 0) (i32.const 100) (i32.const 8)) (i32.const 6))
      (then (drop (call $source (i32.const 1024) (i32.const 4096)))))
    (if (i32.lt_s (global.get $len) (i32.const 0))
      (then (call $result (i32.const 0) (i32.const 2)))
      (else (call $result (i32.const 1024) (global.get $len))))
    (i32.const 0)))
