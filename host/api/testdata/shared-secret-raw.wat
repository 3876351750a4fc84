;; shared-secret-raw.wat: seed 001 in the raw model (guests/wat/shared-secret-raw.wat): the answer as application/json when query.secret equals secrets[auth-secret], else 403 with an empty body.
(module
  (import "wasmtask_v1" "get_value" (func $get_value (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasmtask_v1" "set_status" (func $set_status (param i32)))
  (import "wasmtask_v1" "set_header" (func $set_header (param i32 i32 i32 i32)))
  (import "wasmtask_v1" "write_body" (func $write_body (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "auth-secret")                                    ;; 11
  (data (i32.const 16) "secret")                                        ;; 6
  (data (i32.const 32) "content-type")                                  ;; 12
  (data (i32.const 48) "application/json")                              ;; 16
  (data (i32.const 64) "{\"question\":\"Am I secure?\",\"answer\":\"Yes!\"}") ;; 43

  ;; $authorized: secrets[auth-secret] is non-empty and equals query.secret.
  (func $authorized (result i32)
    (local $n i32) (local $m i32) (local $i i32)
    (local.set $n (call $get_value (i32.const 2) (i32.const 0) (i32.const 11) (i32.const 1024) (i32.const 16384)))
    (local.set $m (call $get_value (i32.const 0) (i32.const 16) (i32.const 6) (i32.const 17408) (i32.const 16384)))
    (if (i32.or (i32.le_s (local.get $n) (i32.const 0)) (i32.gt_s (local.get $n) (i32.const 16384)))
      (then (return (i32.const 0))))
    (if (i32.ne (local.get $n) (local.get $m)) (then (return (i32.const 0))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.ne (i32.load8_u (i32.add (i32.const 1024) (local.get $i)))
                    (i32.load8_u (i32.add (i32.const 17408) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  (func (export "wt_handle") (result i32)
    (if (call $authorized)
      (then
        (call $set_status (i32.const 200))
        (call $set_header (i32.const 32) (i32.const 12) (i32.const 48) (i32.const 16))
        (call $write_body (i32.const 64) (i32.const 43)))
      (else (call $set_status (i32.const 403))))
    (i32.const 0)))
