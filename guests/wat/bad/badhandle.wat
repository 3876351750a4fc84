;; badhandle — wt_handle with the wrong signature (i32) -> i32: refused at
;; upload ("wt_handle has signature ..., want () -> i32").
(module
  (memory (export "memory") 1)
  (func (export "wt_handle") (param i32) (result i32)
    (local.get 0)))
