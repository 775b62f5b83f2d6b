;; Hostile: declares the distribute hook but does not export weblm_distribute.
;; Expected: Fault::MissingExport("weblm_distribute").
(module
  (memory (export "memory") 1)
  (func (export "weblm_abi_version") (result i32) i32.const 65536)
  (func (export "weblm_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "weblm_hooks") (result i32) i32.const 2))
