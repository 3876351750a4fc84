;; validate-imported-table.wat: validation: imports a table; refused with ErrUnknownImport.
(module
  (import "env" "t" (table 1 funcref))
  (memory (export "memory") 1)
  (func (export "wt_handle") (result i32) (i32.const 0)))
