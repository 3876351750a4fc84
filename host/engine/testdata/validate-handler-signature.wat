;; validate-handler-signature.wat: validation: wt_handle of type (i32) -> () instead of () -> i32; refused with ErrMissingExport.
(module
  (memory (export "memory") 1)
  (func (export "wt_handle") (param i32)))
