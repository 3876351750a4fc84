;; slow.wat: logs "slow: start", busy-waits 1 s by the WASI monotonic clock, then answers {"slow":true}: a request still running when the graceful-shutdown test sends SIGTERM.
(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasmtask_v1" "result" (func $result (param i32 i32)))
  (import "wasmtask_v1" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{\"slow\":true}") ;; 13 bytes; the clock writes its 8 at 0
  (data (i32.const 32) "slow: start")     ;; 11
  (func $now (result i64)
    (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 0))) ;; 1: monotonic
    (i64.load (i32.const 0)))
  (func (export "wt_handle") (result i32)
    (local $end i64)
    (call $log (i32.const 1) (i32.const 32) (i32.const 11))
    (local.set $end (i64.add (call $now) (i64.const 1000000000)))
    (loop $spin
      (br_if $spin (i64.lt_u (call $now) (local.get $end))))
    (call $result (i32.const 16) (i32.const 13))
    (i32.const 0)))
