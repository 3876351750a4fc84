;; loop.wat: a runaway guest for the soak's hostile requests. wt_handle spins
;; in an empty loop and never answers, so every run ends at the server's
;; wall-time limit (504 timeout).
(module
  (memory (export "memory") 1)
  (func (export "wt_handle") (result i32)
    (loop $spin (br $spin))
    (i32.const 0)))
