;; status.wat: raw model answering what the query asks (?status=N, default 200; ?body=S; ?size=N bytes of 'x' after it), always with x-guest: yes; a status or size that is not a number answers 400.
(module
  (import "wasmtask_v1" "get_value" (func $get_value (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasmtask_v1" "set_status" (func $set_status (param i32)))
  (import "wasmtask_v1" "set_header" (func $set_header (param i32 i32 i32 i32)))
  (import "wasmtask_v1" "write_body" (func $write_body (param i32 i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "status")                          ;; 6
  (data (i32.const 8) "body")                            ;; 4
  (data (i32.const 16) "size")                           ;; 4
  (data (i32.const 24) "x-guest")                        ;; 7
  (data (i32.const 32) "yes")                            ;; 3
  (data (i32.const 40) "status and size must be numbers") ;; 31
  ;; A query value is read to 1024 (at most 16 KiB: a longer body is not
  ;; written); 65536 holds 32 KiB of 'x', the chunk the body is written in.

  ;; $number: query parameter $key as a decimal number of at most 9
  ;; digits, $default when absent, -1 when it is not such a number.
  (func $number (param $key i32) (param $key_len i32) (param $default i32) (result i32)
    (local $n i32) (local $i i32) (local $c i32) (local $v i32)
    (local.set $n (call $get_value (i32.const 0) (local.get $key) (local.get $key_len) (i32.const 1024) (i32.const 16384)))
    (if (i32.lt_s (local.get $n) (i32.const 0)) (then (return (local.get $default))))
    (if (i32.or (i32.eqz (local.get $n)) (i32.gt_s (local.get $n) (i32.const 9)))
      (then (return (i32.const -1))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $c (i32.sub (i32.load8_u (i32.add (i32.const 1024) (local.get $i))) (i32.const 48)))
        (if (i32.gt_u (local.get $c) (i32.const 9)) (then (return (i32.const -1))))
        (local.set $v (i32.add (i32.mul (local.get $v) (i32.const 10)) (local.get $c)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $v))

  (func (export "wt_handle") (result i32)
    (local $status i32) (local $size i32) (local $n i32)
    (call $set_header (i32.const 24) (i32.const 7) (i32.const 32) (i32.const 3))
    (local.set $status (call $number (i32.const 0) (i32.const 6) (i32.const 200)))
    (local.set $size (call $number (i32.const 16) (i32.const 4) (i32.const 0)))
    (if (i32.or (i32.lt_s (local.get $status) (i32.const 0)) (i32.lt_s (local.get $size) (i32.const 0)))
      (then
        (call $set_status (i32.const 400))
        (call $write_body (i32.const 40) (i32.const 31))
        (return (i32.const 0))))
    (call $set_status (local.get $status))
    (local.set $n (call $get_value (i32.const 0) (i32.const 8) (i32.const 4) (i32.const 1024) (i32.const 16384)))
    (if (i32.and (i32.gt_s (local.get $n) (i32.const 0)) (i32.le_s (local.get $n) (i32.const 16384)))
      (then (call $write_body (i32.const 1024) (local.get $n))))
    (memory.fill (i32.const 65536) (i32.const 120) (i32.const 32768))
    (block $done
      (loop $next
        (br_if $done (i32.le_s (local.get $size) (i32.const 0)))
        (local.set $n (select (local.get $size) (i32.const 32768) (i32.lt_s (local.get $size) (i32.const 32768))))
        (call $write_body (i32.const 65536) (local.get $n))
        (local.set $size (i32.sub (local.get $size) (local.get $n)))
        (br $next)))
    (i32.const 0)))
