;; Hostile: exports weblm_distribute with the wrong type ((i32, i32) -> i32 instead of
;; (i32, i32) -> i64). The host calls hooks without a per-call type check, relying on this
;; load-time check. Expected: Fault::WrongExportType { name: "weblm_distribute", .. }.
(module
  (memory (export "memory") 1)
  (func (export "weblm_abi_version") (result i32) i32.const 65536)
  (func (export "weblm_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "weblm_hooks") (result i32) i32.const 2)
  (func (export "weblm_distribute") (param i32 i32) (result i32) i32.const 0))
