;; nomemory — a handler but no exported memory, so the host could not read
;; any buffer: refused at upload.
(module
  (memory 1)
  (func (export "wt_handle") (result i32)
    (i32.const 0)))
