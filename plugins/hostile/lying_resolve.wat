;; Hostile: claims 1 000 000 licenses from the first code. Expected:
;; Fault::InvalidEntitlement(AboveCodes).
(module
  (memory (export "memory") 1)
  (func (export "weblm_abi_version") (result i32) i32.const 65536)
  (func (export "weblm_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "weblm_hooks") (result i32) i32.const 1)
  (func (export "weblm_resolve_codes") (param $p i32) (param $l i32) (result i64)
    (i32.store (i32.const 4096) (i32.const 1000000))   ;; count
    (i32.store (i32.const 4100) (i32.const 1))         ;; one decision
    (i64.store (i32.const 4104) (i64.const 0))         ;; flags, reserved
    (i64.store (i32.const 4112) (i64.const 0))
    (i64.store (i32.const 4120) (i64.const 0))
    (i32.store (i32.const 4128) (i32.load (i32.add (local.get $p) (i32.const 16))))
    (i32.store (i32.const 4132) (i32.const 1))         ;; counted: additive
    (i64.store (i32.const 4136) (i64.const 0))
    (i64.store (i32.const 4144) (i64.const 0))
    (i64.or (i64.const 4096) (i64.shl (i64.const 56) (i64.const 32)))))
