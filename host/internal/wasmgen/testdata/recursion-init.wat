;; recursion-init.wat: RecursionBombWAT("init"): f(n) = f(n-1) + f(n-1) from n = 60 without a loop, in _initialize.
(module
  (import "wasmtask_v1" "result" (func $result (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "1")
  (func $f (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 1))
      (else (i32.add (call $f (i32.sub (local.get $n) (i32.const 1)))
                     (call $f (i32.sub (local.get $n) (i32.const 1)))))))
  (func (export "_initialize") (drop (call $f (i32.const 60))))
  (func (export "wt_handle") (result i32)
    (call $result (i32.const 0) (i32.const 1))
    (i32.const 0)))
