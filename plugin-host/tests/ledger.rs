//! A wasm `resolve_codes` plugin wired into the lease ledger with `Ledger::set_policy`, and a
//! lying one that the ledger overrules (native fallback, fault reported, no over-grant).

mod common;

use std::sync::Arc;

use chrono::NaiveDate;
use common::*;
use weblm_core::clock::{ManualClock, Timestamp};
use weblm_core::codes::{CodeKind, LicenseCode, Term};
use weblm_core::ledger::{Ledger, LedgerConfig};
use weblm_core::license::{generate_key, Expect, LicenseContent, LicenseFile, FORMAT_VERSION};
use weblm_plugins::ResolveCodesHook;

fn ledger() -> Ledger {
    let key = generate_key().unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    let mut file = LicenseFile::issue(
        LicenseContent {
            format: FORMAT_VERSION,
            vendor: "Acme".into(),
            product: "IR".into(),
            product_version: "5.0".into(),
            host_id: "ir-01".into(),
            issued: day,
            codes: vec![],
        },
        &key,
    )
    .unwrap();
    for (count, kind) in [
        (5, CodeKind::Additive),
        (2, CodeKind::Additive),
        (12, CodeKind::Exclusive),
    ] {
        file.add_code(
            LicenseCode {
                position: 0,
                feature: "VALUE_IR_VOIP_PORTS".into(),
                version: "5.0".into(),
                count,
                kind,
                term: Term::Permanent,
                trial_days: None,
                trial_hours: None,
                start: day,
                end: None,
                redundant: false,
            },
            &key,
        )
        .unwrap();
    }
    let license = file
        .verify(&key.verifying_key(), &Expect::host("ir-01"))
        .unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp::from_date(day).plus_secs(60)));
    Ledger::in_memory(&license, clock, LedgerConfig::default())
}

#[test]
fn wasm_sentinel_policy_serves_the_ledger() {
    let ledger = ledger();
    let host = host();
    let hook = Arc::new(ResolveCodesHook::new());
    let plugin = Arc::new(committed(&host, "sentinel_override"));
    hook.slot().install(plugin.clone()).unwrap();
    ledger.set_policy(hook.clone()).unwrap();
    let (ent, fault) = ledger.entitlement("VALUE_IR_VOIP_PORTS", "5.0").unwrap();
    assert_eq!(fault, None);
    assert_eq!(
        ent.count, 12,
        "the last exclusive code overrides the additive ones"
    );
    assert!(plugin.stats().calls() >= 1);
    let grant = ledger
        .acquire("ir-01", "VALUE_IR_VOIP_PORTS", "5.0", 35)
        .unwrap();
    assert_eq!(grant.granted, 12);
}

#[test]
fn lying_plugin_is_overruled_by_the_ledger() {
    let ledger = ledger();
    let host = host();
    let hook = Arc::new(ResolveCodesHook::new());
    let liar = host
        .load_unpinned("lying_resolve", &hostile_bytes("lying_resolve"))
        .unwrap();
    hook.slot().install(Arc::new(liar)).unwrap();
    ledger.set_policy(hook.clone()).unwrap();
    let (ent, fault) = ledger.entitlement("VALUE_IR_VOIP_PORTS", "5.0").unwrap();
    assert_eq!(ent.count, 12, "native answer, not the liar's 1 000 000");
    let fault = fault.expect("the fault is reported");
    assert!(
        fault.contains("lying_resolve") && fault.contains("exceeds"),
        "{fault}"
    );
    let grant = ledger
        .acquire("ir-01", "VALUE_IR_VOIP_PORTS", "5.0", 100)
        .unwrap();
    assert_eq!(grant.granted, 12);
    assert!(hook.slot().fallbacks() >= 1);
}
