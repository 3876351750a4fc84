;; large-hostcalls.wat: loops forever on host calls that each move 1 MiB: random_get (/r), fd_write to stdout (/wr), get of the body (/get).
(module
  (import "wasi_snapshot_preview1" "random_get" (func $rand (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasmtask_v1" "get" (func $get (param i32 i32 i32) (result i32)))
  (memory (export "memory") 40)
  ;; an iovec at 0: 1 MiB from offset 16
  (data (i32.const 0) "\10\00\00\00\00\00\10\00")
  (func (export "wt_handle") (result i32)
    (local $n i32)
    ;; n is the length of the path
    (local.set $n (call $get (i32.const 1) (i32.const 0) (i32.const 0)))
    (loop $l
      (if (i32.eq (local.get $n) (i32.const 2)) (then (drop (call $rand (i32.const 16) (i32.const 0x100000)))))
      (if (i32.eq (local.get $n) (i32.const 3)) (then (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
      (if (i32.eq (local.get $n) (i32.const 4)) (then (drop (call $get (i32.const 3) (i32.const 16) (i32.const 0x100000)))))
      (br $l))
    (i32.const 0)))
