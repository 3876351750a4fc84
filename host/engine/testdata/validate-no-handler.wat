;; validate-no-handler.wat: validation: no wt_handle export; refused with ErrMissingExport.
(module
  (memory (export "memory") 1))
