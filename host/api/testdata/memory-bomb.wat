;; memory-bomb.wat: grows memory 16 pages at a time until memory.grow fails, writes every byte, and answers 1.
(module
  (import "wasmtask_v1" "result" (func $result (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "wt_handle") (result i32)
    (loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    (memory.fill (i32.const 0) (i32.const 0x31) (i32.mul (memory.size) (i32.const 65536)))
    (call $result (i32.const 0) (i32.const 1))
    (i32.const 0)))
