;; conformance — the WAT guest of the conformance kit (guests/conformance),
;; written by hand against abi/SPEC.md: the same routes, with the same
;; answers, as every other language's conformance guest (guests/README.md
;; describes them).
;;
;; Memory layout:
;;   0..15      the iovec and nwritten of fd_write
;;   32         one scratch byte ($emit_byte)
;;   48..63     digits of $emit_i32
;;   1024..     string literals, one per 64-byte slot (address and length
;;              are written next to each use)
;;   8192..     the heap: a bump allocator reset at the start of every request
;;              (memory grows on demand and never shrinks)
(module
  (import "wasmtask_v1" "get" (func $get (param i32 i32 i32) (result i32)))
  (import "wasmtask_v1" "get_value" (func $get_value (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasmtask_v1" "get_map" (func $get_map (param i32 i32 i32) (result i32)))
  (import "wasmtask_v1" "set_status" (func $set_status (param i32)))
  (import "wasmtask_v1" "set_header" (func $set_header (param i32 i32 i32 i32)))
  (import "wasmtask_v1" "add_header" (func $add_header (param i32 i32 i32 i32)))
  (import "wasmtask_v1" "write_body" (func $write_body (param i32 i32)))
  (import "wasmtask_v1" "result" (func $result (param i32 i32)))
  (import "wasmtask_v1" "error" (func $error (param i32 i32 i32)))
  (import "wasmtask_v1" "log" (func $log (param i32 i32 i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 1)

  (data (i32.const 1024) "/hello")                ;; 6
  (data (i32.const 1088) "/context")              ;; 8
  (data (i32.const 1152) "/error")                ;; 6
  (data (i32.const 1216) "/raw")                  ;; 4
  (data (i32.const 1280) "/binary")               ;; 7
  (data (i32.const 1344) "/echo-body")            ;; 10
  (data (i32.const 1408) "/log")                  ;; 4
  (data (i32.const 1472) "/trap")                 ;; 5
  (data (i32.const 1536) "/empty")                ;; 6
  (data (i32.const 1600) "GET")                   ;; 3
  (data (i32.const 1664) "POST")                  ;; 4
  (data (i32.const 1728) "HEAD")                  ;; 4
  (data (i32.const 1792) "{\"message\":\"hello, ") ;; 19
  (data (i32.const 1856) "world")                 ;; 5
  (data (i32.const 1920) "\"}")                   ;; 2
  (data (i32.const 1984) "name")                  ;; 4
  (data (i32.const 2048) "status")                ;; 6
  (data (i32.const 2112) "message")               ;; 7
  (data (i32.const 2176) "header")                ;; 6
  (data (i32.const 2240) "Not Authorized")        ;; 14
  (data (i32.const 2304) "content-type")          ;; 12
  (data (i32.const 2368) "text/plain; charset=utf-8") ;; 25
  (data (i32.const 2432) "x-replaced")            ;; 10
  (data (i32.const 2496) "old")                   ;; 3
  (data (i32.const 2560) "new")                   ;; 3
  (data (i32.const 2624) "x-multi")               ;; 7
  (data (i32.const 2688) "a")                     ;; 1
  (data (i32.const 2752) "b")                     ;; 1
  (data (i32.const 2816) "raw ")                  ;; 4
  (data (i32.const 2880) "body")                  ;; 4
  (data (i32.const 2944) "application/octet-stream") ;; 24
  (data (i32.const 3008) "debug line")            ;; 10
  (data (i32.const 3072) "info line")             ;; 9
  (data (i32.const 3136) "warn line")             ;; 9
  (data (i32.const 3200) "error line")            ;; 10
  (data (i32.const 3264) "level 7 line")          ;; 12
  (data (i32.const 3328) "stdout line\n")         ;; 12
  (data (i32.const 3392) "stderr line\n")         ;; 12
  (data (i32.const 3456) "{\"logged\":true}")     ;; 15
  (data (i32.const 3520) "{\"code\":404,\"message\":\"no route for ") ;; 36
  (data (i32.const 3584) "application/json")      ;; 16
  (data (i32.const 3648) "{\"method\":")          ;; 10
  (data (i32.const 3712) ",\"path\":")            ;; 8
  (data (i32.const 3776) ",\"raw_query\":")       ;; 13
  (data (i32.const 3840) ",\"body\":")            ;; 8
  (data (i32.const 3904) ",\"container\":")       ;; 13
  (data (i32.const 3968) ",\"name\":")            ;; 8
  (data (i32.const 4032) ",\"request_id\":")      ;; 14
  (data (i32.const 4096) ",\"query\":")           ;; 9
  (data (i32.const 4160) ",\"headers\":")         ;; 11
  (data (i32.const 4224) ",\"secrets\":")         ;; 11
  (data (i32.const 4288) ",\"params\":")          ;; 10
  (data (i32.const 4352) ",\"meta\":")            ;; 8
  (data (i32.const 4416) ",\"data\":")            ;; 8
  (data (i32.const 4480) ",\"lookup\":{\"query\":") ;; 19
  (data (i32.const 4544) ",\"header\":")          ;; 10
  (data (i32.const 4608) ",\"secret\":")          ;; 10
  (data (i32.const 4672) ",\"param\":")           ;; 9
  (data (i32.const 4736) ",\"missing\":")         ;; 11
  (data (i32.const 4800) "},\"unknown\":{\"field\":") ;; 21
  (data (i32.const 4864) ",\"map\":")             ;; 7
  (data (i32.const 4928) ",\"value\":")           ;; 9
  (data (i32.const 4992) "}}")                    ;; 2
  (data (i32.const 5056) "x")                     ;; 1
  (data (i32.const 5120) "X-Custom")              ;; 8
  (data (i32.const 5184) "auth-secret")           ;; 11
  (data (i32.const 5248) "p")                     ;; 1
  (data (i32.const 5312) "owner")                 ;; 5
  (data (i32.const 5376) "no-such-key")           ;; 11
  (data (i32.const 5440) "null")                  ;; 4
  (data (i32.const 5504) "u00")                   ;; 3
  (data (i32.const 5568) "0123456789abcdef")      ;; 16

  (global $heap (mut i32) (i32.const 8192))
  (global $out (mut i32) (i32.const 0))
  (global $out_len (mut i32) (i32.const 0))
  (global $out_cap (mut i32) (i32.const 0))
  (global $method (mut i32) (i32.const 0))
  (global $method_len (mut i32) (i32.const 0))
  (global $path (mut i32) (i32.const 0))
  (global $path_len (mut i32) (i32.const 0))

  ;; ---- memory ------------------------------------------------------------

  ;; $alloc returns n bytes from the heap, growing memory when needed; a
  ;; failed memory.grow (the host's memory limit) traps.
  (func $alloc (param $n i32) (result i32)
    (local $p i32) (local $have i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (local.get $p) (local.get $n)) (i32.const 7)) (i32.const -8)))
    (local.set $have (i32.mul (memory.size) (i32.const 65536)))
    (if (i32.gt_u (global.get $heap) (local.get $have))
      (then
        (if (i32.eq
              (memory.grow (i32.div_u (i32.add (i32.sub (global.get $heap) (local.get $have)) (i32.const 65535))
                                      (i32.const 65536)))
              (i32.const -1))
          (then unreachable))))
    (local.get $p))

  ;; ---- reading: the buffer rule ------------------------------------------

  ;; $host_read calls get (src 0), get_value (1) or get_map (2).
  (func $host_read (param $src i32) (param $id i32) (param $key i32) (param $key_len i32)
                   (param $buf i32) (param $len i32) (result i32)
    (if (result i32) (i32.eqz (local.get $src))
      (then (call $get (local.get $id) (local.get $buf) (local.get $len)))
      (else
        (if (result i32) (i32.eq (local.get $src) (i32.const 1))
          (then (call $get_value (local.get $id) (local.get $key) (local.get $key_len) (local.get $buf) (local.get $len)))
          (else (call $get_map (local.get $id) (local.get $buf) (local.get $len)))))))

  ;; $read asks for the size with buf_len 0, then reads the value into the
  ;; heap. It returns (ptr, len), len -1 when the host answers NotFound.
  (func $read (param $src i32) (param $id i32) (param $key i32) (param $key_len i32) (result i32 i32)
    (local $n i32) (local $p i32)
    (local.set $n (call $host_read (local.get $src) (local.get $id) (local.get $key) (local.get $key_len)
                                   (i32.const 0) (i32.const 0)))
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (return (i32.const 0) (i32.const -1))))
    (local.set $p (call $alloc (local.get $n)))
    (drop (call $host_read (local.get $src) (local.get $id) (local.get $key) (local.get $key_len)
                           (local.get $p) (local.get $n)))
    (local.get $p) (local.get $n))

  ;; $query is get_value on the query map.
  (func $query (param $key i32) (param $key_len i32) (result i32 i32)
    (call $read (i32.const 1) (i32.const 0) (local.get $key) (local.get $key_len)))

  ;; $atoi parses a decimal integer; def when absent (len < 0), empty or not a number.
  (func $atoi (param $p i32) (param $n i32) (param $def i32) (result i32)
    (local $end i32) (local $v i32) (local $neg i32) (local $c i32)
    (if (i32.le_s (local.get $n) (i32.const 0)) (then (return (local.get $def))))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 45)) ;; '-'
      (then
        (local.set $neg (i32.const 1))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (if (i32.ge_u (local.get $p) (local.get $end)) (then (return (local.get $def))))))
    (block $done
      (loop $digit
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)))
        (if (i32.or (i32.gt_u (local.get $c) (i32.const 9)) (i32.gt_u (local.get $v) (i32.const 100000000)))
          (then (return (local.get $def))))
        (local.set $v (i32.add (i32.mul (local.get $v) (i32.const 10)) (local.get $c)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $digit)))
    (if (result i32) (local.get $neg)
      (then (i32.sub (i32.const 0) (local.get $v)))
      (else (local.get $v))))

  ;; $eq compares two byte strings.
  (func $eq (param $a i32) (param $an i32) (param $b i32) (param $bn i32) (result i32)
    (local $i i32)
    (if (i32.ne (local.get $an) (local.get $bn)) (then (return (i32.const 0))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $an)))
        (if (i32.ne (i32.load8_u (i32.add (local.get $a) (local.get $i)))
                    (i32.load8_u (i32.add (local.get $b) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  ;; $find returns the address of the first byte c in [p, end), or end.
  (func $find (param $p i32) (param $end i32) (param $c i32) (result i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (br_if $done (i32.eq (i32.load8_u (local.get $p)) (local.get $c)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (local.get $p))

  ;; ---- the output buffer ---------------------------------------------------

  (func $out_reset
    (global.set $out_cap (i32.const 1024))
    (global.set $out (call $alloc (global.get $out_cap)))
    (global.set $out_len (i32.const 0)))

  ;; $emit appends n bytes at p, moving the buffer to a larger one when full.
  (func $emit (param $p i32) (param $n i32)
    (local $need i32) (local $cap i32) (local $new i32)
    (local.set $need (i32.add (global.get $out_len) (local.get $n)))
    (if (i32.gt_u (local.get $need) (global.get $out_cap))
      (then
        (local.set $cap (i32.shl (global.get $out_cap) (i32.const 1)))
        (if (i32.lt_u (local.get $cap) (local.get $need)) (then (local.set $cap (local.get $need))))
        (local.set $new (call $alloc (local.get $cap)))
        (memory.copy (local.get $new) (global.get $out) (global.get $out_len))
        (global.set $out (local.get $new))
        (global.set $out_cap (local.get $cap))))
    (memory.copy (i32.add (global.get $out) (global.get $out_len)) (local.get $p) (local.get $n))
    (global.set $out_len (local.get $need)))

  (func $emit_byte (param $c i32)
    (i32.store8 (i32.const 32) (local.get $c))
    (call $emit (i32.const 32) (i32.const 1)))

  (func $emit_i32 (param $v i32)
    (local $p i32)
    (if (i32.lt_s (local.get $v) (i32.const 0))
      (then
        (call $emit_byte (i32.const 45))
        (local.set $v (i32.sub (i32.const 0) (local.get $v)))))
    (local.set $p (i32.const 64))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
      (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
      (br_if $digit (local.get $v)))
    (call $emit (local.get $p) (i32.sub (i32.const 64) (local.get $p))))

  ;; $emit_escaped appends the bytes of a JSON string's contents: '"' and
  ;; '\' get a backslash, control characters become \u00XX, the rest
  ;; (UTF-8 included) is copied.
  (func $emit_escaped (param $p i32) (param $n i32)
    (local $i i32) (local $end i32) (local $start i32) (local $c i32)
    (local.set $i (local.get $p))
    (local.set $start (local.get $p))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $i)))
        (if (i32.or (i32.lt_u (local.get $c) (i32.const 32))
                    (i32.or (i32.eq (local.get $c) (i32.const 34)) (i32.eq (local.get $c) (i32.const 92))))
          (then
            (call $emit (local.get $start) (i32.sub (local.get $i) (local.get $start)))
            (call $emit_byte (i32.const 92))
            (if (i32.ge_u (local.get $c) (i32.const 32))
              (then (call $emit_byte (local.get $c)))
              (else
                (call $emit (i32.const 5504) (i32.const 3)) ;; u00
                (call $emit_byte (i32.load8_u (i32.add (i32.const 5568) (i32.shr_u (local.get $c) (i32.const 4)))))
                (call $emit_byte (i32.load8_u (i32.add (i32.const 5568) (i32.and (local.get $c) (i32.const 15)))))))
            (local.set $start (i32.add (local.get $i) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (call $emit (local.get $start) (i32.sub (local.get $end) (local.get $start))))

  ;; $emit_str appends a JSON string, or null when n < 0 (NotFound).
  (func $emit_str (param $p i32) (param $n i32)
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (call $emit (i32.const 5440) (i32.const 4)) (return)))
    (call $emit_byte (i32.const 34))
    (call $emit_escaped (local.get $p) (local.get $n))
    (call $emit_byte (i32.const 34)))

  ;; $emit_pairs appends a map as [["key","value"],...] in the host's order.
  (func $emit_pairs (param $map i32)
    (local $p i32) (local $n i32) (local $end i32) (local $k i32) (local $v i32) (local $first i32)
    (call $read (i32.const 2) (local.get $map) (i32.const 0) (i32.const 0))
    (local.set $n)
    (local.set $p)
    (if (i32.lt_s (local.get $n) (i32.const 0)) (then (local.set $n (i32.const 0))))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (local.set $first (i32.const 1))
    (call $emit_byte (i32.const 91)) ;; [
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $k (local.get $p))
        (local.set $p (call $find (local.get $k) (local.get $end) (i32.const 0)))
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $v (i32.add (local.get $p) (i32.const 1)))
        (if (i32.eqz (local.get $first)) (then (call $emit_byte (i32.const 44)))) ;; ,
        (local.set $first (i32.const 0))
        (call $emit_byte (i32.const 91))
        (call $emit_str (local.get $k) (i32.sub (local.get $p) (local.get $k)))
        (call $emit_byte (i32.const 44))
        (local.set $p (call $find (local.get $v) (local.get $end) (i32.const 0)))
        (call $emit_str (local.get $v) (i32.sub (local.get $p) (local.get $v)))
        (call $emit_byte (i32.const 93))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (call $emit_byte (i32.const 93))) ;; ]

  ;; $emit_lookup appends get_value(map, key) as a string or null.
  (func $emit_lookup (param $map i32) (param $key i32) (param $key_len i32)
    (call $read (i32.const 1) (local.get $map) (local.get $key) (local.get $key_len))
    (call $emit_str))

  (func $emit_field (param $field i32)
    (call $read (i32.const 0) (local.get $field) (i32.const 0) (i32.const 0))
    (call $emit_str))

  ;; ---- stdout and stderr -------------------------------------------------

  (func $write_fd (param $fd i32) (param $p i32) (param $n i32)
    (i32.store (i32.const 0) (local.get $p))
    (i32.store (i32.const 4) (local.get $n))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))

  ;; ---- routes --------------------------------------------------------------

  (func $hello
    (local $p i32) (local $n i32)
    (call $query (i32.const 1984) (i32.const 4)) ;; name
    (local.set $n)
    (local.set $p)
    (call $out_reset)
    (call $emit (i32.const 1792) (i32.const 19)) ;; {"message":"hello, 
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (call $emit (i32.const 1856) (i32.const 5))) ;; world
      (else (call $emit_escaped (local.get $p) (local.get $n))))
    (call $emit (i32.const 1920) (i32.const 2)) ;; "}
    (call $result (global.get $out) (global.get $out_len)))

  (func $context
    (call $out_reset)
    (call $emit (i32.const 3648) (i32.const 10)) ;; {"method":
    (call $emit_str (global.get $method) (global.get $method_len))
    (call $emit (i32.const 3712) (i32.const 8))  ;; ,"path":
    (call $emit_str (global.get $path) (global.get $path_len))
    (call $emit (i32.const 3776) (i32.const 13)) ;; ,"raw_query":
    (call $emit_field (i32.const 2))
    (call $emit (i32.const 3840) (i32.const 8))  ;; ,"body":
    (call $emit_field (i32.const 3))
    (call $emit (i32.const 3904) (i32.const 13)) ;; ,"container":
    (call $emit_field (i32.const 4))
    (call $emit (i32.const 3968) (i32.const 8))  ;; ,"name":
    (call $emit_field (i32.const 5))
    (call $emit (i32.const 4032) (i32.const 14)) ;; ,"request_id":
    (call $emit_field (i32.const 6))
    (call $emit (i32.const 4096) (i32.const 9))  ;; ,"query":
    (call $emit_pairs (i32.const 0))
    (call $emit (i32.const 4160) (i32.const 11)) ;; ,"headers":
    (call $emit_pairs (i32.const 1))
    (call $emit (i32.const 4224) (i32.const 11)) ;; ,"secrets":
    (call $emit_pairs (i32.const 2))
    (call $emit (i32.const 4288) (i32.const 10)) ;; ,"params":
    (call $emit_pairs (i32.const 3))
    (call $emit (i32.const 4352) (i32.const 8))  ;; ,"meta":
    (call $emit_pairs (i32.const 4))
    (call $emit (i32.const 4416) (i32.const 8))  ;; ,"data":
    (call $emit_pairs (i32.const 5))
    (call $emit (i32.const 4480) (i32.const 19)) ;; ,"lookup":{"query":
    (call $emit_lookup (i32.const 0) (i32.const 5056) (i32.const 1))  ;; x
    (call $emit (i32.const 4544) (i32.const 10)) ;; ,"header":
    (call $emit_lookup (i32.const 1) (i32.const 5120) (i32.const 8))  ;; X-Custom
    (call $emit (i32.const 4608) (i32.const 10)) ;; ,"secret":
    (call $emit_lookup (i32.const 2) (i32.const 5184) (i32.const 11)) ;; auth-secret
    (call $emit (i32.const 4672) (i32.const 9))  ;; ,"param":
    (call $emit_lookup (i32.const 3) (i32.const 5248) (i32.const 1))  ;; p
    (call $emit (i32.const 4352) (i32.const 8))  ;; ,"meta":
    (call $emit_lookup (i32.const 4) (i32.const 5312) (i32.const 5))  ;; owner
    (call $emit (i32.const 4416) (i32.const 8))  ;; ,"data":
    (call $emit_lookup (i32.const 5) (i32.const 1984) (i32.const 4))  ;; name
    (call $emit (i32.const 4736) (i32.const 11)) ;; ,"missing":
    (call $emit_lookup (i32.const 0) (i32.const 5376) (i32.const 11)) ;; no-such-key
    (call $emit (i32.const 4800) (i32.const 21)) ;; },"unknown":{"field":
    (call $emit_i32 (call $get (i32.const 99) (i32.const 0) (i32.const 0)))
    (call $emit (i32.const 4864) (i32.const 7))  ;; ,"map":
    (call $emit_i32 (call $get_map (i32.const 99) (i32.const 0) (i32.const 0)))
    (call $emit (i32.const 4928) (i32.const 9))  ;; ,"value":
    (call $emit_i32 (call $get_value (i32.const 99) (i32.const 5056) (i32.const 1) (i32.const 0) (i32.const 0)))
    (call $emit (i32.const 4992) (i32.const 2))  ;; }}
    (call $result (global.get $out) (global.get $out_len)))

  (func $fail
    (local $status i32) (local $p i32) (local $n i32)
    (call $query (i32.const 2048) (i32.const 6)) ;; status
    (local.set $n)
    (local.set $p)
    (local.set $status (call $atoi (local.get $p) (local.get $n) (i32.const 0)))
    (call $query (i32.const 2112) (i32.const 7)) ;; message
    (local.set $n)
    (local.set $p)
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (local.set $p (i32.const 2240)) (local.set $n (i32.const 14)))) ;; Not Authorized
    (call $error (local.get $status) (local.get $p) (local.get $n)))

  (func $raw
    (local $p i32) (local $n i32) (local $colon i32)
    (call $query (i32.const 2048) (i32.const 6)) ;; status
    (local.set $n)
    (local.set $p)
    (call $set_status (call $atoi (local.get $p) (local.get $n) (i32.const 200)))
    (call $set_header (i32.const 2304) (i32.const 12) (i32.const 2368) (i32.const 25)) ;; content-type: text/plain; charset=utf-8
    (call $set_header (i32.const 2432) (i32.const 10) (i32.const 2496) (i32.const 3))  ;; x-replaced: old
    (call $set_header (i32.const 2432) (i32.const 10) (i32.const 2560) (i32.const 3))  ;; x-replaced: new
    (call $add_header (i32.const 2624) (i32.const 7) (i32.const 2688) (i32.const 1))   ;; x-multi: a
    (call $add_header (i32.const 2624) (i32.const 7) (i32.const 2752) (i32.const 1))   ;; x-multi: b
    (call $query (i32.const 2176) (i32.const 6)) ;; header=name:value
    (local.set $n)
    (local.set $p)
    (if (i32.ge_s (local.get $n) (i32.const 0))
      (then
        (local.set $colon (call $find (local.get $p) (i32.add (local.get $p) (local.get $n)) (i32.const 58)))
        (if (i32.lt_u (local.get $colon) (i32.add (local.get $p) (local.get $n)))
          (then
            (call $add_header
              (local.get $p) (i32.sub (local.get $colon) (local.get $p))
              (i32.add (local.get $colon) (i32.const 1))
              (i32.sub (i32.add (local.get $p) (local.get $n)) (i32.add (local.get $colon) (i32.const 1))))))))
    (call $write_body (i32.const 2816) (i32.const 4)) ;; "raw "
    (call $write_body (i32.const 2880) (i32.const 4))) ;; "body"

  (func $binary
    (local $p i32) (local $i i32)
    (local.set $p (call $alloc (i32.const 256)))
    (loop $next
      (i32.store8 (i32.add (local.get $p) (local.get $i)) (local.get $i))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $i) (i32.const 256))))
    (call $set_header (i32.const 2304) (i32.const 12) (i32.const 2944) (i32.const 24))
    (call $write_body (local.get $p) (i32.const 256)))

  (func $echo_body
    (local $p i32) (local $n i32)
    (call $read (i32.const 1) (i32.const 1) (i32.const 2304) (i32.const 12)) ;; header content-type
    (local.set $n)
    (local.set $p)
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (local.set $p (i32.const 2944)) (local.set $n (i32.const 24))))
    (call $set_header (i32.const 2304) (i32.const 12) (local.get $p) (local.get $n))
    (call $read (i32.const 0) (i32.const 3) (i32.const 0) (i32.const 0)) ;; body
    (call $write_body))

  (func $log_lines
    (call $log (i32.const 0) (i32.const 3008) (i32.const 10))
    (call $log (i32.const 1) (i32.const 3072) (i32.const 9))
    (call $log (i32.const 2) (i32.const 3136) (i32.const 9))
    (call $log (i32.const 3) (i32.const 3200) (i32.const 10))
    (call $log (i32.const 7) (i32.const 3264) (i32.const 12))
    (call $write_fd (i32.const 1) (i32.const 3328) (i32.const 12))
    (call $write_fd (i32.const 2) (i32.const 3392) (i32.const 12))
    (call $result (i32.const 3456) (i32.const 15)))

  (func $not_found
    (call $out_reset)
    (call $emit (i32.const 3520) (i32.const 36)) ;; {"code":404,"message":"no route for 
    (call $emit_escaped (global.get $method) (global.get $method_len))
    (call $emit_byte (i32.const 32))
    (call $emit_escaped (global.get $path) (global.get $path_len))
    (call $emit (i32.const 1920) (i32.const 2)) ;; "}
    (call $set_status (i32.const 404))
    (call $set_header (i32.const 2304) (i32.const 12) (i32.const 3584) (i32.const 16))
    (call $write_body (global.get $out) (global.get $out_len)))

  ;; ---- the router ------------------------------------------------------------

  ;; $route reports whether the request matches method (len 0: any; HEAD
  ;; also matches GET routes) and path (ignoring one trailing "/").
  (func $route (param $m i32) (param $mn i32) (param $p i32) (param $pn i32) (result i32)
    (local $len i32)
    (if (local.get $mn)
      (then
        (if (i32.eqz (call $eq (global.get $method) (global.get $method_len) (local.get $m) (local.get $mn)))
          (then
            (if (i32.eqz (i32.and
                  (call $eq (local.get $m) (local.get $mn) (i32.const 1600) (i32.const 3))
                  (call $eq (global.get $method) (global.get $method_len) (i32.const 1728) (i32.const 4))))
              (then (return (i32.const 0))))))))
    (local.set $len (global.get $path_len))
    (if (i32.and (i32.gt_u (local.get $len) (i32.const 1))
                 (i32.eq (i32.load8_u (i32.sub (i32.add (global.get $path) (local.get $len)) (i32.const 1))) (i32.const 47)))
      (then (local.set $len (i32.sub (local.get $len) (i32.const 1)))))
    (call $eq (global.get $path) (local.get $len) (local.get $p) (local.get $pn)))

  (func (export "wt_handle") (result i32)
    (global.set $heap (i32.const 8192))
    (call $read (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))
    (global.set $method_len)
    (global.set $method)
    (call $read (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 0))
    (global.set $path_len)
    (global.set $path)
    (block $routed
      (if (call $route (i32.const 1600) (i32.const 3) (i32.const 1024) (i32.const 6))
        (then (call $hello) (br $routed)))
      (if (call $route (i32.const 0) (i32.const 0) (i32.const 1088) (i32.const 8))
        (then (call $context) (br $routed)))
      (if (call $route (i32.const 1600) (i32.const 3) (i32.const 1152) (i32.const 6))
        (then (call $fail) (br $routed)))
      (if (call $route (i32.const 1600) (i32.const 3) (i32.const 1216) (i32.const 4))
        (then (call $raw) (br $routed)))
      (if (call $route (i32.const 1600) (i32.const 3) (i32.const 1280) (i32.const 7))
        (then (call $binary) (br $routed)))
      (if (call $route (i32.const 1664) (i32.const 4) (i32.const 1344) (i32.const 10))
        (then (call $echo_body) (br $routed)))
      (if (call $route (i32.const 1600) (i32.const 3) (i32.const 1408) (i32.const 4))
        (then (call $log_lines) (br $routed)))
      (if (call $route (i32.const 1600) (i32.const 3) (i32.const 1472) (i32.const 5))
        (then unreachable))
      (if (call $route (i32.const 1600) (i32.const 3) (i32.const 1536) (i32.const 6))
        (then (br $routed)))
      (call $not_found))
    (i32.const 0))
)
