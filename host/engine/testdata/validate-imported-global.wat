;; validate-imported-global.wat: validation: imports a global; refused with ErrUnknownImport.
(module
  (import "env" "g" (global i32))
  (memory (export "memory") 1)
  (func (export "wt_handle") (result i32) (i32.const 0)))
