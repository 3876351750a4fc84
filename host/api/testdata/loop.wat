;; loop.wat: never answers (wt_handle spins in an empty loop), for the wall-time limit: 504.
(module
  (memory (export "memory") 1)
  (func (export "wt_handle") (result i32)
    (loop $spin (br $spin))
    (i32.const 0)))
