;; echo.wat: answers with everything the host tells it about the request as JSON (query and headers with all values, other maps with the first), and logs "echo <method> <path>" through log and "stdout line" through WASI stdout.
(module
  (import "wasmtask_v1" "get" (func $get (param i32 i32 i32) (result i32)))
  (import "wasmtask_v1" "get_map" (func $get_map (param i32 i32 i32) (result i32)))
  (import "wasmtask_v1" "result" (func $result (param i32 i32)))
  (import "wasmtask_v1" "log" (func $log (param i32 i32 i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "stdout line\n")                 ;; 12
  (data (i32.const 16) "\00\00\00\00\0c\00\00\00")     ;; iovec {buf 0, len 12}; nwritten at 24
  (data (i32.const 32) "echo ")                        ;; 5
  (data (i32.const 40) "\\u00")                        ;; 4
  (data (i32.const 48) "0123456789abcdef")             ;; hex digits
  (data (i32.const 64) "method")                       ;; 6
  (data (i32.const 72) "path")                         ;; 4
  (data (i32.const 80) "query")                        ;; 5
  (data (i32.const 88) "raw_query")                    ;; 9
  (data (i32.const 104) "headers")                     ;; 7
  (data (i32.const 112) "body")                        ;; 4
  (data (i32.const 120) "secrets")                     ;; 7
  (data (i32.const 128) "params")                      ;; 6
  (data (i32.const 136) "meta")                        ;; 4
  (data (i32.const 144) "data")                        ;; 4
  (data (i32.const 152) "container")                   ;; 9
  (data (i32.const 168) "name")                        ;; 4
  (data (i32.const 176) "request_id")                  ;; 10

  ;; Each request reads the request into a heap from 1024 up, then writes
  ;; its answer at $out, after the heap; memory grows as either needs.
  (global $heap (mut i32) (i32.const 1024))
  (global $out (mut i32) (i32.const 1024))
  (global $len (mut i32) (i32.const 0)) ;; the length of what $field or $map read

  ;; $ensure grows memory to hold $end bytes (traps when it cannot).
  (func $ensure (param $end i32)
    (local $have i32)
    (local.set $have (i32.shl (memory.size) (i32.const 16)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq (memory.grow (i32.shr_u (i32.add (i32.sub (local.get $end) (local.get $have)) (i32.const 0xffff)) (i32.const 16)))
                    (i32.const -1))
          (then unreachable)))))

  ;; $field reads get($f) into the heap: its address, its length in $len.
  (func $field (param $f i32) (result i32)
    (local $p i32) (local $n i32)
    (local.set $n (call $get (local.get $f) (i32.const 0) (i32.const 0)))
    (if (i32.lt_s (local.get $n) (i32.const 0)) (then (local.set $n (i32.const 0))))
    (local.set $p (global.get $heap))
    (call $ensure (i32.add (local.get $p) (local.get $n)))
    (drop (call $get (local.get $f) (local.get $p) (local.get $n)))
    (global.set $heap (i32.add (local.get $p) (local.get $n)))
    (global.set $len (local.get $n))
    (local.get $p))

  ;; $map reads get_map($m) into the heap, as $field does.
  (func $map (param $m i32) (result i32)
    (local $p i32) (local $n i32)
    (local.set $n (call $get_map (local.get $m) (i32.const 0) (i32.const 0)))
    (if (i32.lt_s (local.get $n) (i32.const 0)) (then (local.set $n (i32.const 0))))
    (local.set $p (global.get $heap))
    (call $ensure (i32.add (local.get $p) (local.get $n)))
    (drop (call $get_map (local.get $m) (local.get $p) (local.get $n)))
    (global.set $heap (i32.add (local.get $p) (local.get $n)))
    (global.set $len (local.get $n))
    (local.get $p))

  ;; $byte and $raw append to the answer.
  (func $byte (param $b i32)
    (call $ensure (i32.add (global.get $out) (i32.const 1)))
    (i32.store8 (global.get $out) (local.get $b))
    (global.set $out (i32.add (global.get $out) (i32.const 1))))

  (func $raw (param $p i32) (param $n i32)
    (call $ensure (i32.add (global.get $out) (local.get $n)))
    (memory.copy (global.get $out) (local.get $p) (local.get $n))
    (global.set $out (i32.add (global.get $out) (local.get $n))))

  ;; $str appends bytes as a JSON string: quote, backslash and control
  ;; bytes escaped, the rest as they are.
  (func $str (param $p i32) (param $n i32)
    (local $end i32) (local $c i32)
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (call $byte (i32.const 34))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $p)))
        (if (i32.or (i32.eq (local.get $c) (i32.const 34)) (i32.eq (local.get $c) (i32.const 92)))
          (then
            (call $byte (i32.const 92))
            (call $byte (local.get $c)))
          (else
            (if (i32.lt_u (local.get $c) (i32.const 32))
              (then
                (call $raw (i32.const 40) (i32.const 4))
                (call $byte (i32.load8_u (i32.add (i32.const 48) (i32.shr_u (local.get $c) (i32.const 4)))))
                (call $byte (i32.load8_u (i32.add (i32.const 48) (i32.and (local.get $c) (i32.const 15))))))
              (else (call $byte (local.get $c))))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (call $byte (i32.const 34)))

  ;; $key appends ,"<name>": (the answer's first comma becomes its "{").
  (func $key (param $p i32) (param $n i32)
    (call $byte (i32.const 44))
    (call $str (local.get $p) (local.get $n))
    (call $byte (i32.const 58)))

  ;; $cstr is the length of the bytes from $p to the next NUL (or $end).
  (func $cstr (param $p i32) (param $end i32) (result i32)
    (local $i i32)
    (local.set $i (local.get $p))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (br_if $done (i32.eqz (i32.load8_u (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.sub (local.get $i) (local.get $p)))

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

  ;; $object appends a get_map encoding (key NUL value NUL …, sorted by
  ;; key) as a JSON object: with $multi each key's values as an array,
  ;; without it each key's first value.
  (func $object (param $p i32) (param $n i32) (param $multi i32)
    (local $end i32) (local $k i32) (local $kn i32) (local $v i32) (local $vn i32)
    (local $pk i32) (local $pkn i32)
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (local.set $pk (i32.const -1)) ;; no key yet
    (call $byte (i32.const 123))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $k (local.get $p))
        (local.set $kn (call $cstr (local.get $k) (local.get $end)))
        (local.set $v (i32.add (local.get $k) (i32.add (local.get $kn) (i32.const 1))))
        (local.set $vn (call $cstr (local.get $v) (local.get $end)))
        (local.set $p (i32.add (local.get $v) (i32.add (local.get $vn) (i32.const 1))))
        (if (i32.and (i32.ne (local.get $pk) (i32.const -1))
                     (call $eq (local.get $k) (local.get $kn) (local.get $pk) (local.get $pkn)))
          (then ;; another value of the same key
            (if (local.get $multi)
              (then
                (call $byte (i32.const 44))
                (call $str (local.get $v) (local.get $vn)))))
          (else
            (if (i32.ne (local.get $pk) (i32.const -1))
              (then
                (if (local.get $multi) (then (call $byte (i32.const 93))))
                (call $byte (i32.const 44))))
            (call $str (local.get $k) (local.get $kn))
            (call $byte (i32.const 58))
            (if (local.get $multi) (then (call $byte (i32.const 91))))
            (call $str (local.get $v) (local.get $vn))
            (local.set $pk (local.get $k))
            (local.set $pkn (local.get $kn))))
        (br $next)))
    (if (i32.and (local.get $multi) (i32.ne (local.get $pk) (i32.const -1)))
      (then (call $byte (i32.const 93))))
    (call $byte (i32.const 125)))

  (func (export "wt_handle") (result i32)
    (local $method i32) (local $method_n i32) (local $path i32) (local $path_n i32)
    (local $raw_query i32) (local $raw_query_n i32) (local $body i32) (local $body_n i32)
    (local $container i32) (local $container_n i32) (local $name i32) (local $name_n i32)
    (local $request_id i32) (local $request_id_n i32)
    (local $query i32) (local $query_n i32) (local $headers i32) (local $headers_n i32)
    (local $secrets i32) (local $secrets_n i32) (local $params i32) (local $params_n i32)
    (local $meta i32) (local $meta_n i32) (local $data i32) (local $data_n i32)
    (global.set $heap (i32.const 1024))
    (local.set $method (call $field (i32.const 0)))
    (local.set $method_n (global.get $len))
    (local.set $path (call $field (i32.const 1)))
    (local.set $path_n (global.get $len))
    (local.set $raw_query (call $field (i32.const 2)))
    (local.set $raw_query_n (global.get $len))
    (local.set $body (call $field (i32.const 3)))
    (local.set $body_n (global.get $len))
    (local.set $container (call $field (i32.const 4)))
    (local.set $container_n (global.get $len))
    (local.set $name (call $field (i32.const 5)))
    (local.set $name_n (global.get $len))
    (local.set $request_id (call $field (i32.const 6)))
    (local.set $request_id_n (global.get $len))
    (local.set $query (call $map (i32.const 0)))
    (local.set $query_n (global.get $len))
    (local.set $headers (call $map (i32.const 1)))
    (local.set $headers_n (global.get $len))
    (local.set $secrets (call $map (i32.const 2)))
    (local.set $secrets_n (global.get $len))
    (local.set $params (call $map (i32.const 3)))
    (local.set $params_n (global.get $len))
    (local.set $meta (call $map (i32.const 4)))
    (local.set $meta_n (global.get $len))
    (local.set $data (call $map (i32.const 5)))
    (local.set $data_n (global.get $len))

    ;; The log lines.
    (global.set $out (global.get $heap))
    (call $raw (i32.const 32) (i32.const 5))
    (call $raw (local.get $method) (local.get $method_n))
    (call $byte (i32.const 32))
    (call $raw (local.get $path) (local.get $path_n))
    (call $log (i32.const 1) (global.get $heap) (i32.sub (global.get $out) (global.get $heap)))
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))

    ;; The answer.
    (global.set $out (global.get $heap))
    (call $key (i32.const 64) (i32.const 6))
    (call $str (local.get $method) (local.get $method_n))
    (call $key (i32.const 72) (i32.const 4))
    (call $str (local.get $path) (local.get $path_n))
    (call $key (i32.const 80) (i32.const 5))
    (call $object (local.get $query) (local.get $query_n) (i32.const 1))
    (call $key (i32.const 88) (i32.const 9))
    (call $str (local.get $raw_query) (local.get $raw_query_n))
    (call $key (i32.const 104) (i32.const 7))
    (call $object (local.get $headers) (local.get $headers_n) (i32.const 1))
    (call $key (i32.const 112) (i32.const 4))
    (call $str (local.get $body) (local.get $body_n))
    (call $key (i32.const 120) (i32.const 7))
    (call $object (local.get $secrets) (local.get $secrets_n) (i32.const 0))
    (call $key (i32.const 128) (i32.const 6))
    (call $object (local.get $params) (local.get $params_n) (i32.const 0))
    (call $key (i32.const 136) (i32.const 4))
    (call $object (local.get $meta) (local.get $meta_n) (i32.const 0))
    (call $key (i32.const 144) (i32.const 4))
    (call $object (local.get $data) (local.get $data_n) (i32.const 0))
    (call $key (i32.const 152) (i32.const 9))
    (call $str (local.get $container) (local.get $container_n))
    (call $key (i32.const 168) (i32.const 4))
    (call $str (local.get $name) (local.get $name_n))
    (call $key (i32.const 176) (i32.const 10))
    (call $str (local.get $request_id) (local.get $request_id_n))
    (i32.store8 (global.get $heap) (i32.const 123)) ;; the first "," becomes "{"
    (call $byte (i32.const 125))
    (call $result (global.get $heap) (i32.sub (global.get $out) (global.get $heap)))
    (i32.const 0)))
