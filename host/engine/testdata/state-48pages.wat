;; state-48pages.wat: state.wat with 48 pages of memory (3 MiB), so that fresh instances are reset from a memory image (larger than copyResetMax).
(module
  (import "wasmtask_v1" "get" (func $get (param i32 i32 i32) (result i32)))
  (import "wasmtask_v1" "result" (func $result (param i32 i32)))
  (memory (export "memory") 48)
  (global $g (mut i32) (i32.const 0))
  (global $k i32 (i32.const 7))
  (data (i32.const 300) "[0,0]")
  (func (export "wt_handle") (result i32)
    ;; grow when the path (read into offset 100) starts with "/g"
    (drop (call $get (i32.const 1) (i32.const 100) (i32.const 8)))
    (if (i32.eq (i32.load8_u (i32.const 101)) (i32.const 103))
      (then (drop (memory.grow (i32.const 1)))))
    (global.set $g (i32.add (global.get $g) (i32.const 1)))
    (i32.store8 (i32.const 200) (i32.add (i32.load8_u (i32.const 200)) (i32.const 1)))
    (i32.store8 (i32.const 301) (i32.add (i32.const 48) (global.get $g)))
    (i32.store8 (i32.const 303) (i32.add (i32.const 48) (i32.load8_u (i32.const 200))))
    (call $result (i32.const 300) (i32.const 5))
    (i32.const 0)))
