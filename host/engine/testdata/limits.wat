;; limits.wat: a guest that pushes the response limit. n is the length of the
;; request body, so a test picks the sizes without rebuilding the module.
;; The route is the second byte of the path:
;;
;;   /flood  100 × add_header("x-flood", n × 'a')
;;   /error  error(500, n × 0xFF): every byte is invalid UTF-8 (\ufffd in JSON)
;;   /both   add_header("x-pad", 100 × 'a') (109 bytes as sent), write_body(n × 'a')
;;   other   set_header("x-a", "1"), add_header("x-b", "two"), write_body("hello")
;;
;; Used by host/engine and host/api tests; limits.wasm beside it is committed
;; (`make guests` rebuilds it).
(module
  (import "wasmtask_v1" "get" (func $get (param i32 i32 i32) (result i32)))
  (import "wasmtask_v1" "set_header" (func $set_header (param i32 i32 i32 i32)))
  (import "wasmtask_v1" "add_header" (func $add_header (param i32 i32 i32 i32)))
  (import "wasmtask_v1" "write_body" (func $write_body (param i32 i32)))
  (import "wasmtask_v1" "error" (func $error (param i32 i32 i32)))
  (memory (export "memory") 1)
  ;; "x-flood" 0, "x-a" 7, "x-b" 10, "1" 13, "two" 14, "hello" 17, "x-pad" 22
  (data (i32.const 0) "x-floodx-ax-b1twohellox-pad")

  ;; fill writes n copies of byte at offset 65536, growing memory to fit.
  (func $fill (param $byte i32) (param $n i32)
    (local $pages i32)
    (local.set $pages (i32.add (i32.shr_u (local.get $n) (i32.const 16)) (i32.const 2)))
    (if (i32.gt_u (local.get $pages) (memory.size))
      (then (drop (memory.grow (i32.sub (local.get $pages) (memory.size))))))
    (memory.fill (i32.const 65536) (local.get $byte) (local.get $n)))

  (func (export "wt_handle") (result i32)
    (local $n i32) (local $i i32) (local $route i32)
    (drop (call $get (i32.const 1) (i32.const 100) (i32.const 8))) ;; path at 100
    (local.set $route (i32.load8_u (i32.const 101)))
    (local.set $n (call $get (i32.const 3) (i32.const 0) (i32.const 0))) ;; body length
    (block $done
      (if (i32.eq (local.get $route) (i32.const 102)) ;; 'f'
        (then
          (call $fill (i32.const 97) (local.get $n))
          (loop $headers
            (call $add_header (i32.const 0) (i32.const 7) (i32.const 65536) (local.get $n))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $headers (i32.lt_u (local.get $i) (i32.const 100))))
          (br $done)))
      (if (i32.eq (local.get $route) (i32.const 101)) ;; 'e'
        (then
          (call $fill (i32.const 255) (local.get $n))
          (call $error (i32.const 500) (i32.const 65536) (local.get $n))
          (br $done)))
      (if (i32.eq (local.get $route) (i32.const 98)) ;; 'b'
        (then
          (call $fill (i32.const 97) (i32.add (local.get $n) (i32.const 100)))
          (call $add_header (i32.const 22) (i32.const 5) (i32.const 65536) (i32.const 100))
          (call $write_body (i32.const 65536) (local.get $n))
          (br $done)))
      (call $set_header (i32.const 7) (i32.const 3) (i32.const 13) (i32.const 1))
      (call $add_header (i32.const 10) (i32.const 3) (i32.const 14) (i32.const 3))
      (call $write_body (i32.const 17) (i32.const 5)))
    (i32.const 0))
)
