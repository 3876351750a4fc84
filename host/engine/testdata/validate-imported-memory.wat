;; validate-imported-memory.wat: validation: imports its memory instead of defining it; refused with ErrUnknownImport.
(module
  (import "env" "memory" (memory 1))
  (export "memory" (memory 0))
  (func (export "wt_handle") (result i32) (i32.const 0)))
