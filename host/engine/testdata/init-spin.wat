;; init-spin.wat: _initialize spins until the deadline stops it (a webtask
;; whose initialisation takes as long as an upload allows); wt_handle
;; answers "1".
(module
  (import "wasmtask_v1" "result" (func $result (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "1")
  (func (export "_initialize")
    (loop $spin (br $spin)))
  (func (export "wt_handle") (result i32)
    (call $result (i32.const 0) (i32.const 1))
    (i32.const 0)))
