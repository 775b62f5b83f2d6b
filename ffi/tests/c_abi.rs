//! The C ABI called from Rust, so that `cargo test --workspace` exercises it without a C
//! compiler (the full C, valgrind and Python suites run from `tests/ffi.sh`).

use std::ffi::{c_char, CStr, CString};
use std::ptr::{null, null_mut};

use chrono::NaiveDate;
use weblm::*;
use weblm_core::codes::{CodeKind, LicenseCode, Term};
use weblm_core::license::{
    encode_verifying_key, generate_key, LicenseContent, LicenseFile, FORMAT_VERSION,
};

const T0: i64 = 1_780_272_000; // 2026-06-01

struct Fixture {
    text: String,
    key: CString,
    other_key: CString,
}

fn fixture() -> Fixture {
    let key = generate_key().unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
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
    for (feature, count, kind) in [
        ("PORTS", 20, CodeKind::Additive),
        ("ASR", 10, CodeKind::Exclusive),
        ("ASR", 4, CodeKind::Exclusive),
    ] {
        file.add_code(
            LicenseCode {
                position: 0,
                feature: feature.into(),
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
    Fixture {
        text: file.to_toml(),
        key: CString::new(encode_verifying_key(&key.verifying_key())).unwrap(),
        other_key: CString::new(encode_verifying_key(
            &generate_key().unwrap().verifying_key(),
        ))
        .unwrap(),
    }
}

fn last_error() -> String {
    unsafe { CStr::from_ptr(weblm_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn load(f: &Fixture, key: &CStr, host: &CStr) -> Result<*mut weblm_license, weblm_status> {
    let mut out = null_mut();
    let st = unsafe {
        weblm_license_load_bytes(
            f.text.as_ptr(),
            f.text.len(),
            key.as_ptr(),
            host.as_ptr(),
            c"5.0".as_ptr(),
            &mut out,
        )
    };
    if st == WEBLM_OK {
        Ok(out)
    } else {
        Err(st)
    }
}

#[test]
fn verify_wrong_host_and_wrong_signature() {
    let f = fixture();
    let lic = load(&f, &f.key, c"ir-01").unwrap();
    assert_eq!(load(&f, &f.key, c"ir-02"), Err(WEBLM_E_WRONG_HOST));
    assert!(last_error().contains("not issued for this system"));
    assert_eq!(load(&f, &f.other_key, c"ir-01"), Err(WEBLM_E_BAD_SIGNATURE));
    let mut host: *const c_char = null();
    unsafe {
        assert_eq!(weblm_license_host_id(lic, &mut host), WEBLM_OK);
        assert_eq!(CStr::from_ptr(host).to_str().unwrap(), "ir-01");
        assert_eq!(weblm_license_free(lic), WEBLM_OK);
        assert_eq!(weblm_license_free(lic), WEBLM_E_INVALID_HANDLE);
    }
}

#[test]
fn entitlement_reasons_through_the_abi() {
    let f = fixture();
    let lic = load(&f, &f.key, c"ir-01").unwrap();
    unsafe {
        let mut ent = null_mut();
        assert_eq!(
            weblm_license_entitlement(lic, c"ASR".as_ptr(), c"5.0".as_ptr(), T0, &mut ent),
            WEBLM_OK
        );
        let mut count = 0;
        assert_eq!(weblm_entitlement_count(ent, &mut count), WEBLM_OK);
        assert_eq!(count, 4);
        let mut d = std::mem::MaybeUninit::<weblm_code_decision>::uninit();
        assert_eq!(weblm_entitlement_code_at(ent, 0, d.as_mut_ptr()), WEBLM_OK);
        let d = d.assume_init();
        assert_eq!(
            (d.position, d.counted, d.reason, d.by),
            (2, false, WEBLM_REASON_OVERRIDDEN_BY_EXCLUSIVE, 3)
        );
        let mut d2 = d;
        assert_eq!(
            weblm_entitlement_code_at(ent, 2, &mut d2),
            WEBLM_E_OUT_OF_RANGE
        );
        assert_eq!(weblm_entitlement_free(ent), WEBLM_OK);
        assert_eq!(weblm_entitlement_free(ent), WEBLM_E_INVALID_HANDLE);
        weblm_license_free(lic);
    }
}

#[test]
fn leases_with_a_manual_clock() {
    let f = fixture();
    let lic = load(&f, &f.key, c"ir-01").unwrap();
    unsafe {
        let mut clock = null_mut();
        assert_eq!(weblm_manual_clock_new(T0, &mut clock), WEBLM_OK);
        let mut cfg = std::mem::MaybeUninit::uninit();
        assert_eq!(weblm_server_config_init(cfg.as_mut_ptr()), WEBLM_OK);
        let mut cfg = cfg.assume_init();
        cfg.clock = clock;
        let mut srv = null_mut();
        assert_eq!(weblm_server_new_in_memory(lic, &cfg, &mut srv), WEBLM_OK);
        let mut g = weblm_grant {
            lease: 0,
            granted: 0,
            wanted: 0,
            expires_at: 0,
        };
        let (client, ports, v) = (c"ir".as_ptr(), c"PORTS".as_ptr(), c"5.0".as_ptr());
        assert_eq!(
            weblm_server_acquire(srv, client, ports, v, 35, &mut g),
            WEBLM_OK
        );
        assert_eq!((g.granted, g.expires_at), (20, T0 + 600));
        assert_eq!(weblm_manual_clock_advance(clock, 601), WEBLM_OK);
        let mut exp = 0;
        assert_eq!(
            weblm_server_renew(srv, g.lease, &mut exp),
            WEBLM_E_LEASE_EXPIRED
        );
        let mut u = std::mem::MaybeUninit::<weblm_usage>::uninit();
        assert_eq!(weblm_server_usage(srv, ports, v, u.as_mut_ptr()), WEBLM_OK);
        assert_eq!(u.assume_init().in_use, 0);
        assert_eq!(
            weblm_server_acquire(srv, client, ports, v, 0, &mut g),
            WEBLM_E_INVALID_ARGUMENT
        );
        assert_eq!(
            weblm_server_acquire(srv, c"ir".as_ptr(), c"X".as_ptr(), v, 1, &mut g),
            WEBLM_E_UNKNOWN_FEATURE
        );
        assert_eq!(weblm_server_free(srv), WEBLM_OK);
        assert_eq!(weblm_server_free(srv), WEBLM_E_INVALID_HANDLE);
        assert_eq!(weblm_manual_clock_free(clock), WEBLM_OK);
        weblm_license_free(lic);
    }
}

/// A server freed on one thread while others call it: calls in flight finish, later calls get
/// `WEBLM_E_INVALID_HANDLE`, nothing crashes, nothing is over-granted.
#[test]
fn free_racing_with_calls_is_safe() {
    let f = fixture();
    let lic = load(&f, &f.key, c"ir-01").unwrap();
    let mut srv = null_mut();
    unsafe {
        assert_eq!(weblm_server_new_in_memory(lic, null(), &mut srv), WEBLM_OK);
    }
    let addr = srv as usize;
    let workers: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                let srv = addr as *const weblm_server;
                // Call until the free is seen (bounded, in case it never comes).
                for _ in 0..50_000_000u64 {
                    let mut g = weblm_grant {
                        lease: 0,
                        granted: 0,
                        wanted: 0,
                        expires_at: 0,
                    };
                    let st = unsafe {
                        weblm_server_acquire(
                            srv,
                            c"c".as_ptr(),
                            c"PORTS".as_ptr(),
                            c"5.0".as_ptr(),
                            1,
                            &mut g,
                        )
                    };
                    match st {
                        WEBLM_OK => {
                            let st = unsafe { weblm_server_release(srv, g.lease, null_mut()) };
                            assert!(st == WEBLM_OK || st == WEBLM_E_INVALID_HANDLE);
                        }
                        WEBLM_E_INVALID_HANDLE => return true,
                        other => panic!("unexpected status {other}"),
                    }
                }
                false
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(5));
    unsafe {
        assert_eq!(weblm_server_free(srv), WEBLM_OK);
        weblm_license_free(lic);
    }
    for w in workers {
        assert!(
            w.join().unwrap(),
            "calls after the free see an invalid handle"
        );
    }
}
