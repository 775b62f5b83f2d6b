;; Hostile: always answers "normal", even for tampered state. Expected on tampered input:
;; Fault::InvalidCompliance(LenientOnTamper).
(module
  (memory (export "memory") 1)
  (func (export "weblm_abi_version") (result i32) i32.const 65536)
  (func (export "weblm_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "weblm_hooks") (result i32) i32.const 4)
  (func (export "weblm_compliance") (param $p i32) (param $l i32) (result i64)
    (i64.store (i32.const 4096) (i64.const 0))
    (i64.store (i32.const 4104) (i64.const 0))
    (i64.or (i64.const 4096) (i64.shl (i64.const 16) (i64.const 32)))))
