;; spin.wat: spins forever when the path starts with "/l", answers "1" otherwise (timeout tests).
(module
  (import "wasmtask_v1" "get" (func $get (param i32 i32 i32) (result i32)))
  (import "wasmtask_v1" "result" (func $result (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "1")
  (func (export "wt_handle") (result i32)
    ;; spin when the path (read into offset 100) starts with "/l"
    (drop (call $get (i32.const 1) (i32.const 100) (i32.const 8)))
    (if (i32.eq (i32.load8_u (i32.const 101)) (i32.const 108))
      (then (loop $spin (br $spin))))
    (call $result (i32.const 0) (i32.const 1))
    (i32.const 0)))
