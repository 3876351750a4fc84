;; export-clash.wat: exports a name in the host's reserved __wt_ namespace; the rewrite refuses it.
(module (memory (export "__wt_start") 1))
