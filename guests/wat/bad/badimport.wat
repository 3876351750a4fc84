;; badimport — imports a function the host does not have (env.now, as an
;; Emscripten or AssemblyScript build might): refused at upload, naming it.
(module
  (import "env" "now" (func $now (result f64)))
  (memory (export "memory") 1)
  (func (export "wt_handle") (result i32)
    (drop (call $now))
    (i32.const 0)))
