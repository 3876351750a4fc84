;; counter.wat: answers {"count":N}, N the requests this instance has served (a mutable global), to make instance policies visible.
(module
  (import "wasmtask_v1" "result" (func $result (param i32 i32)))
  (memory (export "memory") 1)
  (global $count (mut i32) (i32.const 0))
  (data (i32.const 0) "{\"count\":") ;; 9 bytes; the digits and "}" follow
  (func (export "wt_handle") (result i32)
    (local $n i32) (local $p i32) (local $len i32)
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    ;; The digits, backwards from 64, then moved after the prefix.
    (local.set $n (global.get $count))
    (local.set $p (i32.const 64))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digit (local.get $n)))
    (local.set $len (i32.sub (i32.const 64) (local.get $p)))
    (memory.copy (i32.const 9) (local.get $p) (local.get $len))
    (i32.store8 (i32.add (i32.const 9) (local.get $len)) (i32.const 125)) ;; }
    (call $result (i32.const 0) (i32.add (local.get $len) (i32.const 10)))
    (i32.const 0)))
