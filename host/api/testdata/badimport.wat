;; badimport.wat: imports a function no host provides (env.not_a_host_function), refused at upload naming the import.
(module
  (import "env" "not_a_host_function" (func $f (result i32)))
  (memory (export "memory") 1)
  (func (export "wt_handle") (result i32)
    (call $f)))
