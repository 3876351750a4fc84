;; globals.wat: mutable and immutable globals of several types; the rewrite exports the mutable ones for resets.
(module
  (import "wasmtask_v1" "log" (func (param i32 i32 i32)))
  (memory (export "memory") 1)
  (global $a (mut i32) (i32.const -5))
  (global $b i64 (i64.const 9))
  (global $c (mut f64) (f64.const 1.5))
  (global $d (mut i64) (i64.const 0x7fffffffffffffff))
  (func (export "wt_handle") (result i32) (i32.const 0)))
