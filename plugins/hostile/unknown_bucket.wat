;; Hostile: gives licenses to bucket 999999, which is not in the input.
;; Expected: Fault::InvalidDistribution(UnknownBucket(999999)).
(module
  (memory (export "memory") 1)
  (func (export "weblm_abi_version") (result i32) i32.const 65536)
  (func (export "weblm_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "weblm_hooks") (result i32) i32.const 2)
  (func (export "weblm_distribute") (param $p i32) (param $l i32) (result i64)
    (i32.store (i32.const 4096) (i32.const 1))
    (i32.store (i32.const 4100) (i32.const 0))
    (i32.store (i32.const 4104) (i32.const 999999))
    (i32.store (i32.const 4108) (i32.const 0))
    (i64.store (i32.const 4112) (i64.const 1))
    (i64.or (i64.const 4096) (i64.shl (i64.const 24) (i64.const 32)))))
