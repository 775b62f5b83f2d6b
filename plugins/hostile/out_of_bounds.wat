;; Hostile: returns an output region beyond linear memory. Expected: Fault::OutputOutOfBounds.
(module
  (memory (export "memory") 1)
  (func (export "weblm_abi_version") (result i32) i32.const 65536)
  (func (export "weblm_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "weblm_hooks") (result i32) i32.const 2)
  (func (export "weblm_distribute") (param i32 i32) (result i64)
    ;; ptr 0xFFF0, len 4096: ends past the single 64 KiB page
    (i64.or (i64.const 0xFFF0) (i64.shl (i64.const 4096) (i64.const 32)))))
