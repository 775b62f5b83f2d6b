;; Hostile: traps (unreachable). Expected: Fault::Trap.
(module
  (memory (export "memory") 1)
  (func (export "weblm_abi_version") (result i32) i32.const 65536)
  (func (export "weblm_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "weblm_hooks") (result i32) i32.const 2)
  (func (export "weblm_distribute") (param i32 i32) (result i64) unreachable))
