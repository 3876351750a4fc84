;; hostcalls: measures the cost of one ABI host call. The request selects
;; the work, so one module serves every variant:
;;   iterations = length of the request body  (get(body, 0, 0) asks the size)
;;   call       = length of the path:
;;                1 "/"   get(method, buf, 256)
;;                2 "/q"  get_value(query, "a", buf, 256)
;;                3 "/hh" get_value(headers, "content-type", buf, 256)
;; and then answers {} with result. Cost per call = (t(n) - t(0)) / n.
(module
  (import "wasmtask_v1" "get" (func $get (param i32 i32 i32) (result i32)))
  (import "wasmtask_v1" "get_value" (func $get_value (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasmtask_v1" "result" (func $result (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "a")
  (data (i32.const 8) "content-type")
  (data (i32.const 32) "{}")
  (func (export "wt_handle") (result i32)
    (local $n i32) (local $op i32)
    (local.set $n (call $get (i32.const 3) (i32.const 0) (i32.const 0)))
    (local.set $op (call $get (i32.const 1) (i32.const 0) (i32.const 0)))
    (block $done
      (loop $next
        (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
        (if (i32.eq (local.get $op) (i32.const 1))
          (then (drop (call $get (i32.const 0) (i32.const 1024) (i32.const 256))))
          (else
            (if (i32.eq (local.get $op) (i32.const 2))
              (then (drop (call $get_value (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 1024) (i32.const 256))))
              (else (drop (call $get_value (i32.const 1) (i32.const 8) (i32.const 12) (i32.const 1024) (i32.const 256)))))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (call $result (i32.const 32) (i32.const 2))
    (i32.const 0)))
