;; command.wat: a plain WASI command (exports _start, which prints "hi", and no wt_handle), refused at upload: build a reactor.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "hi\n")
  (data (i32.const 8) "\00\00\00\00\03\00\00\00") ;; iovec {buf 0, len 3}
  (func (export "_start")
    (drop (call $fd_write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 16)))))
