;; logger: logs "logged by the guest" at level warn through the ABI and
;; answers {"logged":true}. The CLI's logs test follows the line.
(module
  (import "wasmtask_v1" "log" (func $log (param i32 i32 i32)))
  (import "wasmtask_v1" "result" (func $result (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\"logged\":true}")
  (data (i32.const 64) "logged by the guest")
  (func (export "wt_handle") (result i32)
    (call $log (i32.const 2) (i32.const 64) (i32.const 19))
    (call $result (i32.const 0) (i32.const 15))
    (i32.const 0)))
