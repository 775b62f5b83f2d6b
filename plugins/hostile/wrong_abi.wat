;; Hostile: speaks ABI 2.0. Expected: Fault::AbiVersion { found_major: 2, .. }.
(module
  (memory (export "memory") 1)
  (func (export "weblm_abi_version") (result i32) i32.const 131072)
  (func (export "weblm_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "weblm_hooks") (result i32) i32.const 2)
  (func (export "weblm_distribute") (param i32 i32) (result i64) i64.const 0))
