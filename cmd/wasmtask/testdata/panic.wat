;; panic.wat: traps in wt_handle (unreachable) before responding, for the 500 of a failing guest.
(module
  (memory (export "memory") 1)
  (func (export "wt_handle") (result i32)
    unreachable))
