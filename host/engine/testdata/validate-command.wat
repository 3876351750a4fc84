;; validate-command.wat: validation: a WASI command (it exports _start); refused with ErrMissingExport.
(module
  (memory (export "memory") 1)
  (func (export "_start"))
  (func (export "wt_handle") (result i32) (i32.const 0)))
