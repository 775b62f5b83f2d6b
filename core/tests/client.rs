//! The IR client against embedded ledgers (no network): Primary/Secondary split, renewal at
//! 80 % of the lifetime, a lease taken away by an admin is re-acquired, release on close.

use std::sync::Arc;

use chrono::NaiveDate;
use weblm_core::client::{Client, ClientConfig, Endpoint, Mode, Which};
use weblm_core::clock::{ManualClock, Timestamp};
use weblm_core::codes::{CodeKind, LicenseCode};
use weblm_core::ledger::{Ledger, LedgerConfig};
use weblm_core::license::*;

const F: &str = "VALUE_IR_VOIP_PORTS";

fn ledger(count: u32, clock: &ManualClock) -> Arc<Ledger> {
    let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let key = generate_key().unwrap();
    let mut file =
        LicenseFile::issue(LicenseContent::new("Acme", "IR", "5.0", "h", day), &key).unwrap();
    file.add_code(
        LicenseCode::permanent(F, "5.0", count, CodeKind::Additive, day),
        &key,
    )
    .unwrap();
    let lic = file
        .verify(&key.verifying_key(), &Expect::host("h"))
        .unwrap();
    Arc::new(Ledger::in_memory(
        &lic,
        Arc::new(clock.clone()),
        LedgerConfig::default(),
    ))
}

#[test]
fn embedded_primary_and_secondary() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Timestamp::from_date(
        NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
    ));
    let p = ledger(20, &clock);
    let s = ledger(15, &clock);
    let mut cfg = ClientConfig::new(
        "ir-01",
        Endpoint::Embedded(p.clone()),
        dir.path().join("nv"),
    )
    .want(F, "5.0", 35);
    cfg.secondary = Some(Endpoint::Embedded(s.clone()));
    cfg.background = false;
    let c = Client::start(cfg, Arc::new(clock.clone())).unwrap();
    let st = c.status();
    assert_eq!(st.features[0].held, 35);
    let at = |w: Which| {
        st.features[0]
            .leases
            .iter()
            .filter(|l| l.server == w)
            .map(|l| l.count)
            .sum::<u32>()
    };
    assert_eq!((at(Which::Primary), at(Which::Secondary)), (20, 15));
    let first_expiry = st.features[0].leases[0].expires_at;
    // Renewed at 80 % (480 s), not before.
    clock.advance_secs(479);
    c.tick();
    assert_eq!(c.status().features[0].leases[0].expires_at, first_expiry);
    clock.advance_secs(1);
    c.tick();
    assert_eq!(
        c.status().features[0].leases[0].expires_at,
        first_expiry.plus_secs(480)
    );
    // An admin takes the primary's lease away: the next renewal finds it gone, re-acquires.
    assert_eq!(p.release_client("ir-01").unwrap(), 20);
    clock.advance_secs(480);
    c.tick();
    assert_eq!(c.held(F, "5.0"), 35);
    assert_eq!(c.mode(), Mode::Normal);
    assert_eq!(p.usage(F, "5.0").unwrap().in_use, 20);
    c.close();
    assert_eq!(p.usage(F, "5.0").unwrap().in_use, 0);
    assert_eq!(s.usage(F, "5.0").unwrap().in_use, 0);
}

#[test]
fn bad_configurations_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Timestamp(1_800_000_000));
    let p = ledger(5, &clock);
    let base = ClientConfig::new("ir", Endpoint::Embedded(p), dir.path().join("nv"));
    assert!(
        Client::start(base.clone(), Arc::new(clock.clone())).is_err(),
        "no features"
    );
    let mut c = base.clone().want(F, "5.0", 1);
    c.renew_fraction = 1.5;
    assert!(Client::start(c, Arc::new(clock.clone())).is_err());
    assert!(Client::start(base.want(F, "5.0", 0), Arc::new(clock)).is_err());
}

#[test]
fn the_background_thread_renews_on_the_clock_and_stops_on_close() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Timestamp::from_date(
        NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
    ));
    let p = ledger(20, &clock);
    let mut cfg = ClientConfig::new(
        "ir-01",
        Endpoint::Embedded(p.clone()),
        dir.path().join("nv"),
    )
    .want(F, "5.0", 5);
    cfg.poll_interval = std::time::Duration::from_millis(20);
    let c = Client::start(cfg, Arc::new(clock.clone())).unwrap();
    let first = c.status().features[0].leases[0].expires_at;
    assert!(
        c.status().last_contact.is_some(),
        "last successful contact recorded"
    );
    clock.advance_secs(480);
    let mut renewed = false;
    for _ in 0..250 {
        if c.status().features[0].leases[0].expires_at > first {
            renewed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        renewed,
        "renewed by the background thread without a manual tick"
    );
    drop(c);
    assert_eq!(
        p.usage(F, "5.0").unwrap().in_use,
        0,
        "released when dropped"
    );
}
