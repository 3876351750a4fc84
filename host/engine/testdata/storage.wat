;; storage.wat: the storage calls as a guest makes them. GET reads the
;; document (storage_get into a 1 KiB buffer); any other method writes the
;; request body as the document (storage_set), with the etag of ?etag= (none
;; when absent) and StorageForce when ?force is present. The answer's body
;; is the call's i32 result, 4 bytes little-endian, then what the host wrote
;; to the buffer when the result is a length that fitted. storage.wasm
;; beside it is committed (`make guests` rebuilds it).
(module
  (import "wasmtask_v1" "get" (func $get (param i32 i32 i32) (result i32)))
  (import "wasmtask_v1" "get_value" (func $get_value (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasmtask_v1" "set_status" (func $set_status (param i32)))
  (import "wasmtask_v1" "write_body" (func $write_body (param i32 i32)))
  (import "wasmtask_v1" "storage_get" (func $storage_get (param i32 i32) (result i32)))
  (import "wasmtask_v1" "storage_set" (func $storage_set (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  ;; 0: method (8 bytes); 16: the result; 32: "etag"; 40: "force";
  ;; 64: the etag given (64 bytes); 128: the etag or document answered
  ;; (1 KiB); 65536: the body (up to 917504 bytes).
  (memory (export "memory") 16)
  (data (i32.const 32) "etag")
  (data (i32.const 40) "force")
  (func $answer (param $rc i32) (param $buf_len i32)
    (i32.store (i32.const 16) (local.get $rc))
    (call $write_body (i32.const 16) (i32.const 4))
    (if (i32.and (i32.gt_s (local.get $rc) (i32.const 0)) (i32.le_s (local.get $rc) (local.get $buf_len)))
      (then (call $write_body (i32.const 128) (local.get $rc)))))
  (func (export "wt_handle") (result i32)
    (local $n i32) (local $etag_len i32) (local $flags i32)
    (call $set_status (i32.const 200))
    (drop (call $get (i32.const 0) (i32.const 0) (i32.const 8))) ;; method
    (if (i32.eq (i32.load8_u (i32.const 0)) (i32.const 71)) ;; 'G'
      (then
        (call $answer (call $storage_get (i32.const 128) (i32.const 1024)) (i32.const 1024))
        (return (i32.const 0))))
    (local.set $n (call $get (i32.const 3) (i32.const 65536) (i32.const 917504))) ;; body
    (if (i32.gt_u (local.get $n) (i32.const 917504)) (then (unreachable)))
    (local.set $etag_len (call $get_value (i32.const 0) (i32.const 32) (i32.const 4) (i32.const 64) (i32.const 64)))
    (if (i32.lt_s (local.get $etag_len) (i32.const 0)) (then (local.set $etag_len (i32.const 0))))
    (if (i32.gt_s (local.get $etag_len) (i32.const 64)) (then (unreachable)))
    (if (i32.ge_s (call $get_value (i32.const 0) (i32.const 40) (i32.const 5) (i32.const 0) (i32.const 0)) (i32.const 0))
      (then (local.set $flags (i32.const 1))))
    (call $answer
      (call $storage_set (i32.const 65536) (local.get $n) (i32.const 64) (local.get $etag_len) (local.get $flags)
        (i32.const 128) (i32.const 64))
      (i32.const 64))
    (i32.const 0))
)
