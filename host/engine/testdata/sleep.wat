;; sleep.wat: sleeps 10 s at a time in poll_oneoff, in a loop, forever (a timeout must stop it mid-sleep).
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; one clock subscription of 10 s at offset 0 (relative, monotonic clock)
  (data (i32.const 8) "\00")
  (data (i32.const 16) "\01\00\00\00")
  (data (i32.const 24) "\00\e4\0b\54\02\00\00\00")
  (func (export "wt_handle") (result i32)
    (loop $l (drop (call $poll (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 200))) (br $l))
    (i32.const 0)))
