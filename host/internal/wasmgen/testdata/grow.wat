;; grow.wat: MemoryGrower(1, 0) as text: grows memory to len(body) pages (0: until it fails), touches every 4 KiB, answers [pages, failed].
(module
  (import "wasmtask_v1" "get" (func $get (param i32 i32 i32) (result i32)))
  (import "wasmtask_v1" "write_body" (func $write_body (param i32 i32)))
  (memory (export "memory") 1)
  ;; touch writes a byte in every 4 KiB of the memory.
  (func $touch (local $a i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $a) (i32.shl (memory.size) (i32.const 16))))
        (i32.store8 (local.get $a) (i32.const 1))
        (local.set $a (i32.add (local.get $a) (i32.const 4096)))
        (br $l))))
  ;; growTo grows memory page by page to target pages (0: until it fails);
  ;; it returns 1 if memory.grow failed.
  (func $growTo (param $target i32) (result i32)
    (block $done
      (loop $l
        (br_if $done (i32.and (i32.ne (local.get $target) (i32.const 0))
                              (i32.ge_u (memory.size) (local.get $target))))
        (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1))
          (then (return (i32.const 1))))
        (br $l)))
    (i32.const 0))
  ;; memory.size and whether memory.grow failed, as little-endian u32s.
  (func (export "wt_handle") (result i32)
    (local $failed i32)
    (local.set $failed (call $growTo (call $get (i32.const 3) (i32.const 0) (i32.const 0))))
    (call $touch)
    (i32.store (i32.const 0) (memory.size))
    (i32.store (i32.const 4) (local.get $failed))
    (call $write_body (i32.const 0) (i32.const 8))
    (i32.const 0)))
