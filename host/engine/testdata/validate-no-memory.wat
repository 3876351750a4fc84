;; validate-no-memory.wat: validation: no exported memory; refused with ErrMissingExport.
(module
  (func (export "wt_handle") (result i32) (i32.const 0)))
