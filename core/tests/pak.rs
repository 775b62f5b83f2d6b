//! PAK fulfilment and rehost (SPEC §7, seed `002_…`): partial fulfilment over time, the exact
//! message for an empty PAK, upgrade PAKs bounded by installed old-version licenses, rehost
//! invalidating licenses on the old system, persistence in SQLite.

use std::sync::Arc;

use weblm_core::clock::Timestamp;
use weblm_core::pak::{PakError, PakRegistry};
use weblm_core::plm_db::PlmDb;

const T: Timestamp = Timestamp(1_795_514_400);

fn reg() -> PakRegistry {
    PakRegistry::new(Arc::new(PlmDb::in_memory().unwrap()))
}

#[test]
fn a_pak_is_fulfilled_partly_now_and_the_rest_later() {
    let r = reg();
    r.register("PAK123", "USER", "2.0", 100, None).unwrap();
    let f = r.fulfil("PAK123", "sys-a", 30, T).unwrap();
    assert_eq!((f.fulfilled, f.remaining), (30, 70));
    assert_eq!(r.installed("sys-a", "USER", "2.0").unwrap(), 30);
    let f = r.fulfil("PAK123", "sys-a", 70, T).unwrap();
    assert_eq!((f.fulfilled, f.remaining), (70, 0));
    assert_eq!(r.installed("sys-a", "USER", "2.0").unwrap(), 100);
    assert_eq!(r.pak("PAK123").unwrap().remaining, 0);
}

#[test]
fn seed_an_empty_pak_fails_with_the_exact_message() {
    let r = reg();
    r.register("12345678", "USER", "2.0", 5, None).unwrap();
    r.fulfil("12345678", "sys-a", 5, T).unwrap();
    let e = r.fulfil("12345678", "sys-a", 1, T).unwrap_err();
    assert_eq!(
        e.to_string(),
        "The PAK you have entered, 12345678, cannot be fulfilled because there are no licenses \
         remaining in the PAK"
    );
    assert_eq!(
        r.installed("sys-a", "USER", "2.0").unwrap(),
        5,
        "nothing changed"
    );
}

#[test]
fn asking_more_than_remains_is_refused_naming_what_remains() {
    let r = reg();
    r.register("P", "USER", "2.0", 10, None).unwrap();
    r.fulfil("P", "sys-a", 4, T).unwrap();
    let e = r.fulfil("P", "sys-a", 7, T).unwrap_err();
    assert_eq!(
        e.to_string(),
        "PAK P has 6 licenses remaining; 7 were requested"
    );
    assert_eq!(r.pak("P").unwrap().remaining, 6);
    assert!(matches!(
        r.fulfil("P", "sys-a", 0, T),
        Err(PakError::ZeroCount)
    ));
    assert!(matches!(
        r.fulfil("Q", "sys-a", 1, T),
        Err(PakError::UnknownPak(_))
    ));
    assert!(matches!(r.fulfil("P", "", 1, T), Err(PakError::Empty(_))));
    assert!(matches!(
        r.register("P", "USER", "2.0", 1, None),
        Err(PakError::DuplicatePak(_))
    ));
}

#[test]
fn seed_an_upgrade_pak_upgrades_at_most_the_installed_old_licenses_partially() {
    let r = reg();
    r.register("OLD", "USER", "1.0", 50, None).unwrap();
    r.fulfil("OLD", "sys-a", 50, T).unwrap();
    r.register("UP", "USER", "2.0", 100, Some("1.0")).unwrap();
    // 100 upgrade licenses, only 50 1.0 licenses installed: 50 upgraded, 50 stay in the PAK.
    let f = r.fulfil("UP", "sys-a", 100, T).unwrap();
    assert_eq!(f.fulfilled, 50);
    assert_eq!(f.remaining, 50);
    assert_eq!(f.upgraded_from.as_deref(), Some("1.0"));
    assert!(f
        .note
        .unwrap()
        .contains("Unable to fulfill all the upgrade licenses"));
    assert_eq!(r.installed("sys-a", "USER", "1.0").unwrap(), 0);
    assert_eq!(r.installed("sys-a", "USER", "2.0").unwrap(), 50);
    // Nothing left to upgrade: Cisco's upgrade message.
    let e = r.fulfil("UP", "sys-a", 10, T).unwrap_err();
    assert!(matches!(e, PakError::UpgradeNotFulfillable(_)));
    assert!(e.to_string().starts_with(
        "The upgrade PAK you have entered, UP, cannot be fulfilled either because there are no \
         licenses remaining in the PAK or there are no licenses installed"
    ));
    // Rehosted 1.x licenses installed later: the rest of the PAK upgrades them.
    r.register("OLD2", "USER", "1.0", 80, None).unwrap();
    r.fulfil("OLD2", "sys-a", 80, T).unwrap();
    let f = r.fulfil("UP", "sys-a", 30, T).unwrap();
    assert_eq!((f.fulfilled, f.remaining, f.note), (30, 20, None));
    assert_eq!(r.installed("sys-a", "USER", "1.0").unwrap(), 50);
    assert_eq!(r.installed("sys-a", "USER", "2.0").unwrap(), 80);
    assert_eq!(
        r.installed_by_version("sys-a", "USER").unwrap(),
        vec![("1.0".to_string(), 50), ("2.0".to_string(), 80)]
    );
}

#[test]
fn rehost_moves_licenses_and_invalidates_them_on_the_old_system() {
    let r = reg();
    r.register("P", "USER", "2.0", 40, None).unwrap();
    r.fulfil("P", "old-sys", 40, T).unwrap();
    let h = r.rehost("old-sys", "new-sys", T).unwrap();
    assert_eq!(h.moved, 40);
    assert_eq!(r.installed("old-sys", "USER", "2.0").unwrap(), 0);
    assert_eq!(r.installed("new-sys", "USER", "2.0").unwrap(), 40);
    let old = r.licenses("old-sys").unwrap();
    assert_eq!(old.len(), 1);
    assert!(!old[0].valid);
    assert!(old[0].note.contains("rehosted to new-sys"));
    assert!(r.licenses("new-sys").unwrap()[0].valid);
    assert!(matches!(
        r.rehost("old-sys", "new-sys", T),
        Err(PakError::NothingToRehost(_))
    ));
    assert!(matches!(
        r.rehost("new-sys", "new-sys", T),
        Err(PakError::SameSystem(_))
    ));
}

#[test]
fn paks_and_licenses_persist_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plm.db");
    {
        let r = PakRegistry::new(Arc::new(PlmDb::open(&path).unwrap()));
        r.register("P", "USER", "2.0", 10, None).unwrap();
        r.fulfil("P", "sys-a", 3, T).unwrap();
    }
    let r = PakRegistry::new(Arc::new(PlmDb::open(&path).unwrap()));
    assert_eq!(r.pak("P").unwrap().remaining, 7);
    assert_eq!(r.installed("sys-a", "USER", "2.0").unwrap(), 3);
    assert_eq!(r.paks().unwrap().len(), 1);
}
