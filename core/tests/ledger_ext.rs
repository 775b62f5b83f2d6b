//! Ledger additions used by the server: per-lease lifetimes, resize, lookup of one lease.

use std::sync::Arc;

use chrono::NaiveDate;
use weblm_core::clock::{ManualClock, Timestamp};
use weblm_core::codes::{CodeKind, LicenseCode};
use weblm_core::ledger::*;
use weblm_core::license::*;

fn setup(count: u32, db: Option<&std::path::Path>) -> (Ledger, ManualClock, VerifiedLicense) {
    let day = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    let key = generate_key().unwrap();
    let mut file =
        LicenseFile::issue(LicenseContent::new("Acme", "IR", "5.0", "h", day), &key).unwrap();
    file.add_code(
        LicenseCode::permanent("F", "5.0", count, CodeKind::Additive, day),
        &key,
    )
    .unwrap();
    let lic = file
        .verify(&key.verifying_key(), &Expect::host("h"))
        .unwrap();
    let clock = ManualClock::new(Timestamp::from_date(day).plus_secs(60));
    let l = match db {
        Some(p) => Ledger::open(p, &lic, Arc::new(clock.clone()), LedgerConfig::default()).unwrap(),
        None => Ledger::in_memory(&lic, Arc::new(clock.clone()), LedgerConfig::default()),
    };
    (l, clock, lic)
}

#[test]
fn per_lease_lifetime_outlives_the_default() {
    let (l, clock, _) = setup(10, None);
    let long = l
        .acquire_for("alloc:a", "F", "5.0", 4, 30 * Timestamp::DAY)
        .unwrap();
    let short = l.acquire("ir", "F", "5.0", 3).unwrap();
    clock.advance_secs(601);
    assert!(
        l.renew(short.lease.unwrap()).is_err(),
        "default 600 s lease expired"
    );
    assert_eq!(l.usage("F", "5.0").unwrap().in_use, 4);
    clock.advance_days(29);
    l.renew_for(long.lease.unwrap(), 30 * Timestamp::DAY)
        .unwrap();
    clock.advance_days(29);
    assert_eq!(
        l.usage("F", "5.0").unwrap().in_use,
        4,
        "renewed for 30 more days"
    );
    clock.advance_days(2);
    assert_eq!(l.usage("F", "5.0").unwrap().in_use, 0);
    assert!(l.acquire_for("x", "F", "5.0", 1, 0).is_err());
}

#[test]
fn resize_grows_only_into_free_licenses_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let (l, _clock, lic) = setup(10, Some(&db));
    let a = l.acquire("a", "F", "5.0", 4).unwrap().lease.unwrap();
    l.acquire("b", "F", "5.0", 5).unwrap();
    assert_eq!(l.resize(a, 8).unwrap(), 5, "only 1 free: 4 -> 5");
    assert_eq!(l.usage("F", "5.0").unwrap().in_use, 10);
    assert_eq!(l.resize(a, 2).unwrap(), 2);
    assert_eq!(l.usage("F", "5.0").unwrap().in_use, 7);
    assert!(l.resize(a, 0).is_err());
    assert!(l.resize(12345, 1).is_err());
    let info = l.lease(a).unwrap();
    assert_eq!((info.client.as_str(), info.count), ("a", 2));
    drop(l);
    let clock = ManualClock::new(info.granted_at);
    let l = Ledger::open(&db, &lic, Arc::new(clock), LedgerConfig::default()).unwrap();
    assert_eq!(l.lease(a).unwrap().count, 2, "resize persisted");
    assert_eq!(l.usage("F", "5.0").unwrap().in_use, 7);
}

#[test]
fn renew_and_release_only_by_the_holder() {
    let (l, clock, _) = setup(10, None);
    let a = l.acquire("a", "F", "5.0", 4).unwrap().lease.unwrap();
    assert!(matches!(
        l.renew_held(a, "b", 600),
        Err(LedgerError::UnknownLease(_))
    ));
    assert!(matches!(
        l.release_held(a, "b"),
        Err(LedgerError::UnknownLease(_))
    ));
    assert_eq!(l.usage("F", "5.0").unwrap().in_use, 4, "nothing changed");
    clock.advance_secs(100);
    assert_eq!(
        l.renew_held(a, "a", 600).unwrap(),
        l.lease(a).unwrap().expires_at
    );
    assert_eq!(l.release_held(a, "a").unwrap(), 4);
    assert_eq!(l.usage("F", "5.0").unwrap().in_use, 0);
    let b = l.acquire("b", "F", "5.0", 1).unwrap().lease.unwrap();
    clock.advance_secs(601);
    assert!(matches!(
        l.renew_held(b, "b", 600),
        Err(LedgerError::LeaseExpired { .. })
    ));
}
