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
