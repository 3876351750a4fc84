;; importtable — imports a table the host does not offer: refused at upload
;; with a 400 that names env.table.
(module
  (import "env" "table" (table 1 funcref))
  (memory (export "memory") 1)
  (func (export "wt_handle") (result i32)
    (i32.const 0)))
