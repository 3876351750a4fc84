;; validate-valid.wat: validation: the smallest valid guest (memory and wt_handle); accepted.
(module
  (memory (export "memory") 1)
  (func (export "wt_handle") (result i32) (i32.const 0)))
