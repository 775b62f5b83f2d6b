;; Hostile: exports weblm_alloc with the wrong type ((i64) -> i32 instead of (i32) -> i32).
;; Expected: Fault::WrongExportType { name: "weblm_alloc", .. }.
(module
  (memory (export "memory") 1)
  (func (export "weblm_abi_version") (result i32) i32.const 65536)
  (func (export "weblm_alloc") (param i64) (result i32) i32.const 1024)
  (func (export "weblm_hooks") (result i32) i32.const 2)
  (func (export "weblm_distribute") (param i32 i32) (result i64) i64.const -1))
