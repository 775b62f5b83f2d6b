;; Hostile: grows memory by 1 MiB until refused, and keeps asking. Expected: Fault::MemoryLimit.
(module
  (memory (export "memory") 1)
  (func (export "weblm_abi_version") (result i32) i32.const 65536)
  (func (export "weblm_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "weblm_hooks") (result i32) i32.const 2)
  (func (export "weblm_distribute") (param i32 i32) (result i64)
    (loop $more
      (drop (memory.grow (i32.const 16)))
      (br $more))
    i64.const 0))
