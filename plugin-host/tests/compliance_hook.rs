//! The compliance hook: the C plugin answers; a lying plugin falls back to native.

mod common;

use std::sync::Arc;

use common::*;
use weblm_core::clock::Timestamp;
use weblm_core::compliance::{ComplianceConfig, ComplianceInput, Mode};
use weblm_plugins::{ComplianceHook, Fault};

const T0: Timestamp = Timestamp(1_790_000_000);

#[test]
fn plugin_decides_and_lying_plugin_falls_back() {
    let host = host();
    let hook = ComplianceHook::new();
    let short = ComplianceInput {
        now: T0.plus_days(31),
        entitled: 20,
        in_use: 10,
        recorded: 20,
        acquired: 15,
        short_since: Some(T0),
        ..Default::default()
    };
    let cfg = ComplianceConfig::default();
    assert_eq!(
        hook.decide(&short, &cfg).unwrap().value.mode,
        Mode::Restricted
    );

    hook.slot()
        .install(Arc::new(committed(&host, "standard_compliance")))
        .unwrap();
    let ev = hook
        .decide(
            &ComplianceInput {
                now: T0.plus_days(10),
                ..short
            },
            &cfg,
        )
        .unwrap();
    assert_eq!(ev.policy, "standard_compliance");
    assert_eq!(ev.value.mode, Mode::Grace);
    assert_eq!(ev.value.until, Some(T0.plus_days(30)));

    let liar = host
        .load_unpinned("lying_compliance", &hostile_bytes("lying_compliance"))
        .unwrap();
    hook.slot().install(Arc::new(liar)).unwrap();
    let tampered = ComplianceInput {
        tampered: true,
        ..short
    };
    let ev = hook.decide(&tampered, &cfg).unwrap();
    assert_eq!(ev.value.mode, Mode::Restricted);
    assert_eq!(ev.policy, "native:standard-compliance");
    assert!(matches!(
        ev.fault.unwrap().fault,
        Fault::InvalidCompliance(_)
    ));
}

struct Reachable;
impl weblm_core::plm::LicenseManagerLink for Reachable {
    fn sync(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A license manager (`Plm`) runs on the hook as its `Compliance` policy: the C plugin decides
/// the free trial and its end; a lying plugin installed mid-way falls back to native (the
/// fallback counted on the slot); with `Fallback::Refuse` its fault reaches the caller.
#[test]
fn a_license_manager_runs_on_the_hook() {
    use weblm_core::clock::{Clock, ManualClock};
    use weblm_core::outbox::Outbox;
    use weblm_core::plm::{Plm, PlmConfig, PlmError};
    use weblm_core::plm_db::PlmDb;
    use weblm_plugins::Fallback;

    let host = host();
    let open = |hook: Arc<ComplianceHook>, clock: &ManualClock| {
        let db = Arc::new(PlmDb::in_memory().unwrap());
        Plm::open(
            db.clone(),
            Outbox::new(db, None),
            Arc::new(clock.clone()),
            hook,
            Arc::new(Reachable),
            PlmConfig::default(),
        )
        .unwrap()
    };
    let clock = ManualClock::new(T0);
    let hook = Arc::new(ComplianceHook::new());
    hook.slot()
        .install(Arc::new(committed(&host, "standard_compliance")))
        .unwrap();
    let mut plm = open(hook.clone(), &clock);
    let s = plm.status().unwrap();
    assert_eq!(s.mode, Mode::Trial);
    assert_eq!(s.until, Some(T0.plus_days(180)));
    assert_eq!(hook.slot().fallbacks(), 0);
    clock.set(T0.plus_days(181));
    // The tick synchronizes with the (reachable) license manager, so only the trial ran out.
    assert_eq!(plm.tick().unwrap().status.mode, Mode::Deactivated);

    // A plugin that traps: the native policy answers and the fallback is counted.
    const TRAPS: &str = r#"(module
      (memory (export "memory") 1)
      (func (export "weblm_abi_version") (result i32) i32.const 65536)
      (func (export "weblm_alloc") (param i32) (result i32) i32.const 1024)
      (func (export "weblm_hooks") (result i32) i32.const 4)
      (func (export "weblm_compliance") (param i32 i32) (result i64) unreachable))"#;
    let trapping = || {
        Arc::new(
            host.load_unpinned("trapping_compliance", TRAPS.as_bytes())
                .unwrap(),
        )
    };
    hook.slot().install(trapping()).unwrap();
    let s = plm.status().unwrap();
    assert_eq!(s.mode, Mode::Deactivated, "native answered");
    assert!(hook.slot().fallbacks() >= 1);

    let strict = Arc::new(ComplianceHook::with(
        Arc::new(weblm_core::compliance::StandardCompliance),
        Fallback::Refuse,
    ));
    let clock2 = ManualClock::new(clock.now());
    let mut plm = open(strict.clone(), &clock2);
    strict.slot().install(trapping()).unwrap();
    match plm.status() {
        Err(PlmError::Policy { policy, message }) => {
            assert_eq!(policy, "hook:compliance(native:standard-compliance)");
            assert!(message.contains("trapping_compliance"), "{message}");
        }
        other => panic!("expected the plugin's fault, got {other:?}"),
    }
}
