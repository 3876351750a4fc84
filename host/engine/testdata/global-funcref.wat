;; global-funcref.wat: a mutable funcref global, which makes the module not resettable (but not refused).
(module (global (mut funcref) (ref.null func)) (memory (export "memory") 1)
  (func (export "wt_handle") (result i32) (i32.const 0)))
