;; extism_hello: the same logic as hello.wat -- answer the constant 26 bytes
;;   {"message":"hello, world"}
;; -- written against Extism's plugin ABI (module "extism:host/env"), as an
;; Extism PDK would compile it: allocate the output in the Extism kernel's
;; memory, copy it there 8 bytes at a time, and point the output at it.
;; This is the cheapest form the Extism ABI allows (6 host calls: alloc, four
;; store_u64 over a 32-byte block, output_set); wasmtask needs one (result).
(module
  (import "extism:host/env" "alloc" (func $alloc (param i64) (result i64)))
  (import "extism:host/env" "store_u64" (func $store_u64 (param i64 i64)))
  (import "extism:host/env" "output_set" (func $output_set (param i64 i64)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{\"message\":\"hello, world\"}")
  (func (export "hello") (result i32)
    (local $off i64)
    (local.set $off (call $alloc (i64.const 32)))
    (call $store_u64 (local.get $off) (i64.load (i32.const 16)))
    (call $store_u64 (i64.add (local.get $off) (i64.const 8)) (i64.load (i32.const 24)))
    (call $store_u64 (i64.add (local.get $off) (i64.const 16)) (i64.load (i32.const 32)))
    (call $store_u64 (i64.add (local.get $off) (i64.const 24)) (i64.load (i32.const 40)))
    (call $output_set (local.get $off) (i64.const 26))
    (i32.const 0)))
