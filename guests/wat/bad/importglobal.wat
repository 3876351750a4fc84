;; importglobal — imports a global the host does not offer: refused at
;; upload with a 400 that names env.g.
(module
  (import "env" "g" (global $g i32))
  (memory (export "memory") 1)
  (func (export "wt_handle") (result i32)
    (global.get $g)))
