;; data-out-of-bounds.wat: a data segment past the end of its memory; compiles, fails to instantiate.
(module
  (memory (export "memory") 1)
  (data (i32.const 65530) "0123456789")
  (func (export "wt_handle") (result i32) (i32.const 0)))
