;; validate-unknown-module.wat: validation: imports env.abort, from a module the host does not provide; refused with ErrUnknownImport.
(module
  (import "env" "abort" (func))
  (memory (export "memory") 1)
  (func (export "wt_handle") (result i32) (i32.const 0)))
