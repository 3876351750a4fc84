;; misuse — a hostile guest that breaks the ABI on purpose, one way per
;; route (the path below the webtask). Every route must end with a trap (the
;; host answers 500 and discards the instance) or the defined result; the
;; conformance kit checks the same table against c/examples/misuse.c.
(module
  (import "wasmtask_v1" "get" (func $get (param i32 i32 i32) (result i32)))
  (import "wasmtask_v1" "get_value" (func $get_value (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasmtask_v1" "set_status" (func $set_status (param i32)))
  (import "wasmtask_v1" "set_header" (func $set_header (param i32 i32 i32 i32)))
  (import "wasmtask_v1" "write_body" (func $write_body (param i32 i32)))
  (import "wasmtask_v1" "result" (func $result (param i32 i32)))
  (import "wasmtask_v1" "error" (func $error (param i32 i32 i32)))
  (import "wasmtask_v1" "log" (func $log (param i32 i32 i32)))

  (memory (export "memory") 1)

  ;; Route paths, one per 32-byte slot; the request path is read to 4096.
  (data (i32.const 1024) "/ok")                  ;; 3
  (data (i32.const 1056) "/oob-get")             ;; 8
  (data (i32.const 1088) "/oob-key")             ;; 8
  (data (i32.const 1120) "/oob-result")          ;; 11
  (data (i32.const 1152) "/oob-log")             ;; 8
  (data (i32.const 1184) "/negative-length")     ;; 16
  (data (i32.const 1216) "/result-twice")        ;; 13
  (data (i32.const 1248) "/write-after-finish")  ;; 19
  (data (i32.const 1280) "/error-after-result")  ;; 19
  (data (i32.const 1312) "/header-after-error")  ;; 19
  (data (i32.const 1344) "/bad-header-name")     ;; 16
  (data (i32.const 1376) "/bad-header-value")    ;; 17
  (data (i32.const 1408) "/reserved-header")     ;; 16
  (data (i32.const 1440) "/bad-status")          ;; 11
  (data (i32.const 1472) "/bad-error-status")    ;; 17
  (data (i32.const 1504) "/invalid-json")        ;; 13
  (data (i32.const 1536) "/raw-then-simple")     ;; 16
  (data (i32.const 1568) "/fail")                ;; 5
  (data (i32.const 1600) "/fail-after-result")   ;; 18
  (data (i32.const 1632) "/stack-overflow")      ;; 15
  ;; Values.
  (data (i32.const 2048) "{\"ok\":true}")        ;; 11
  (data (i32.const 2080) "bad name")             ;; 8
  (data (i32.const 2112) "a\r\nb")               ;; 4
  (data (i32.const 2144) "x-wt-response-source") ;; 20
  (data (i32.const 2176) "{not json")            ;; 9
  (data (i32.const 2208) "x-a")                  ;; 3

  (global $path_len (mut i32) (i32.const 0))

  ;; $is reports whether the request path equals the n bytes at p.
  (func $is (param $p i32) (param $n i32) (result i32)
    (local $i i32)
    (if (i32.ne (global.get $path_len) (local.get $n)) (then (return (i32.const 0))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.ne (i32.load8_u (i32.add (i32.const 4096) (local.get $i)))
                    (i32.load8_u (i32.add (local.get $p) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  ;; $deeper recurses until the engine's call stack is exhausted (a trap).
  (func $deeper (param $n i32) (result i32)
    (i32.add (call $deeper (i32.add (local.get $n) (i32.const 1))) (local.get $n)))

  (func (export "wt_handle") (result i32)
    (global.set $path_len (call $get (i32.const 1) (i32.const 4096) (i32.const 256)))
    (if (call $is (i32.const 1024) (i32.const 3)) ;; /ok
      (then (call $result (i32.const 2048) (i32.const 11)) (return (i32.const 0))))
    (if (call $is (i32.const 1056) (i32.const 8)) ;; /oob-get: a buffer past the end of memory
      (then (drop (call $get (i32.const 0) (i32.const 0xFFFFFFF0) (i32.const 1000))) (return (i32.const 0))))
    (if (call $is (i32.const 1088) (i32.const 8)) ;; /oob-key
      (then (drop (call $get_value (i32.const 0) (i32.const 0xFFFFFFF0) (i32.const 100) (i32.const 0) (i32.const 0)))
            (return (i32.const 0))))
    (if (call $is (i32.const 1120) (i32.const 11)) ;; /oob-result
      (then (call $result (i32.const 0xFFFFFFF0) (i32.const 100)) (return (i32.const 0))))
    (if (call $is (i32.const 1152) (i32.const 8)) ;; /oob-log
      (then (call $log (i32.const 1) (i32.const 0xFFFFFFF0) (i32.const 100)) (return (i32.const 0))))
    (if (call $is (i32.const 1184) (i32.const 16)) ;; /negative-length
      (then (call $write_body (i32.const 2048) (i32.const -1)) (return (i32.const 0))))
    (if (call $is (i32.const 1216) (i32.const 13)) ;; /result-twice
      (then (call $result (i32.const 2048) (i32.const 11))
            (call $result (i32.const 2048) (i32.const 11)) (return (i32.const 0))))
    (if (call $is (i32.const 1248) (i32.const 19)) ;; /write-after-finish
      (then (call $result (i32.const 2048) (i32.const 11))
            (call $write_body (i32.const 2048) (i32.const 1)) (return (i32.const 0))))
    (if (call $is (i32.const 1280) (i32.const 19)) ;; /error-after-result
      (then (call $result (i32.const 2048) (i32.const 11))
            (call $error (i32.const 400) (i32.const 2048) (i32.const 1)) (return (i32.const 0))))
    (if (call $is (i32.const 1312) (i32.const 19)) ;; /header-after-error
      (then (call $error (i32.const 400) (i32.const 2048) (i32.const 1))
            (call $set_header (i32.const 2208) (i32.const 3) (i32.const 2080) (i32.const 1)) (return (i32.const 0))))
    (if (call $is (i32.const 1344) (i32.const 16)) ;; /bad-header-name
      (then (call $set_header (i32.const 2080) (i32.const 8) (i32.const 2208) (i32.const 1)) (return (i32.const 0))))
    (if (call $is (i32.const 1376) (i32.const 17)) ;; /bad-header-value
      (then (call $set_header (i32.const 2208) (i32.const 3) (i32.const 2112) (i32.const 4)) (return (i32.const 0))))
    (if (call $is (i32.const 1408) (i32.const 16)) ;; /reserved-header
      (then (call $set_header (i32.const 2144) (i32.const 20) (i32.const 2208) (i32.const 3)) (return (i32.const 0))))
    (if (call $is (i32.const 1440) (i32.const 11)) ;; /bad-status
      (then (call $set_status (i32.const 99)) (return (i32.const 0))))
    (if (call $is (i32.const 1472) (i32.const 17)) ;; /bad-error-status
      (then (call $error (i32.const 302) (i32.const 2048) (i32.const 1)) (return (i32.const 0))))
    (if (call $is (i32.const 1504) (i32.const 13)) ;; /invalid-json
      (then (call $result (i32.const 2176) (i32.const 9)) (return (i32.const 0))))
    (if (call $is (i32.const 1536) (i32.const 16)) ;; /raw-then-simple
      (then (call $set_status (i32.const 200))
            (call $result (i32.const 2048) (i32.const 11)) (return (i32.const 0))))
    (if (call $is (i32.const 1568) (i32.const 5)) ;; /fail: non-zero without a response
      (then (return (i32.const 1))))
    (if (call $is (i32.const 1600) (i32.const 18)) ;; /fail-after-result: the response stands
      (then (call $result (i32.const 2048) (i32.const 11)) (return (i32.const 1))))
    (if (call $is (i32.const 1632) (i32.const 15)) ;; /stack-overflow
      (then (return (call $deeper (i32.const 0)))))
    (call $set_status (i32.const 404))
    (i32.const 0))
)
