;; init-stderr.wat: _initialize writes two lines to stderr, then traps. The
;; host's "module failed to start" error quotes the first line.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\10\00\00\00\29\00\00\00")
  (data (i32.const 16) "config: missing key \22region\22\nsecond line\n")
  (func (export "_initialize")
    (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
    unreachable)
  (func (export "wt_handle") (result i32) (i32.const 0)))
