//! The allocation and license-inventory C functions called from Rust (`cargo test` runs them
//! without a C compiler; tests/c/test_alloc.c runs them from C under valgrind).

use std::ffi::{c_char, CStr, CString};
use std::ptr::null_mut;
use std::sync::Arc;

use weblm::*;
use weblm_core::clock::Timestamp;
use weblm_core::outbox::{AlertKind, Outbox};
use weblm_core::plm_db::PlmDb;

fn last_error() -> String {
    unsafe { CStr::from_ptr(weblm_last_error()) }
        .to_str()
        .unwrap()
        .to_string()
}

/// Reads a JSON text through the two-call buffer protocol.
fn read_text(f: impl Fn(*mut c_char, usize, *mut usize) -> weblm_status) -> String {
    let mut len = 0usize;
    assert_eq!(f(null_mut(), 0, &mut len), WEBLM_OK, "{}", last_error());
    let mut buf = vec![0u8; len + 1];
    let mut len2 = 0usize;
    assert_eq!(
        f(buf.as_mut_ptr().cast(), buf.len(), &mut len2),
        WEBLM_OK,
        "{}",
        last_error()
    );
    assert_eq!(len2, len);
    CStr::from_bytes_with_nul(&buf)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn plan_json_through_the_c_abi() {
    let cfg = CString::new(
        "system_licenses = 100\nseed = 7\n[[zone]]\nname = \"east\"\nassigned = 50\npriority = 3\n\
         [[zone]]\nname = \"west\"\nassigned = 30\n[[zone]]\nname = \"north\"\nassigned = 20\n\
         priority = 2\n[organizations]\ndefault = 5\n",
    )
    .unwrap();
    let json = read_text(|b, c, l| unsafe {
        weblm_alloc_plan_json(std::ptr::null(), cfg.as_ptr(), 33, b, c, l)
    });
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let got: Vec<u64> = v["zones"]["zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["granted"].as_u64().unwrap())
        .collect();
    assert_eq!(got, vec![16, 10, 7]);
    assert_eq!(v["organizations"]["pool"], 33);
    // A buffer one byte short is refused and untouched.
    let mut len = 0usize;
    unsafe { weblm_alloc_plan_json(std::ptr::null(), cfg.as_ptr(), 33, null_mut(), 0, &mut len) };
    let mut buf = vec![b'x'; len];
    let mut out = 777usize;
    let st = unsafe {
        weblm_alloc_plan_json(
            std::ptr::null(),
            cfg.as_ptr(),
            33,
            buf.as_mut_ptr().cast(),
            len,
            &mut out,
        )
    };
    assert_eq!(st, WEBLM_E_OUT_OF_RANGE);
    assert_eq!(out, 777);
    assert!(buf.iter().all(|&b| b == b'x'));
    assert!(last_error().contains(&format!("{} are needed", len + 1)));
}

#[test]
fn alerts_json_lists_what_the_license_manager_raised() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plm.db");
    {
        let db = Arc::new(PlmDb::open(&path).unwrap());
        let o = Outbox::new(db, None);
        o.push(
            Timestamp(1_795_514_400),
            AlertKind::LicensesExceeded,
            "Licenses exceeded on system cwms-01",
            Some(Timestamp(1_795_514_400).plus_days(180)),
        )
        .unwrap();
    }
    let p = CString::new(path.to_str().unwrap()).unwrap();
    let mut db = null_mut();
    assert_eq!(unsafe { weblm_plm_db_open(p.as_ptr(), &mut db) }, WEBLM_OK);
    let json = read_text(|b, c, l| unsafe { weblm_plm_alerts_json(db, true, b, c, l) });
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["kind"], "licenses_exceeded");
    assert_eq!(v[0]["disable_date"], "2027-05-23T10:00:00Z");
    assert_eq!(v[0]["delivered_at"], serde_json::Value::Null);
    assert_eq!(unsafe { weblm_plm_db_free(db) }, WEBLM_OK);
    assert_eq!(unsafe { weblm_plm_db_free(db) }, WEBLM_E_INVALID_HANDLE);
}

#[test]
fn pak_fulfilment_through_the_c_abi() {
    let mut db = null_mut();
    assert_eq!(unsafe { weblm_plm_db_open_in_memory(&mut db) }, WEBLM_OK);
    let s = |t: &str| CString::new(t).unwrap();
    let (pak, user, v2, sys) = (s("P-1"), s("USER"), s("2.0"), s("sys-a"));
    unsafe {
        assert_eq!(
            weblm_pak_register(
                db,
                pak.as_ptr(),
                user.as_ptr(),
                v2.as_ptr(),
                3,
                std::ptr::null()
            ),
            WEBLM_OK
        );
        let (mut got, mut left) = (0u32, 0u32);
        assert_eq!(
            weblm_pak_fulfil(db, pak.as_ptr(), sys.as_ptr(), 3, 0, &mut got, &mut left),
            WEBLM_OK
        );
        assert_eq!((got, left), (3, 0));
        assert_eq!(
            weblm_pak_fulfil(db, pak.as_ptr(), sys.as_ptr(), 1, 0, &mut got, &mut left),
            WEBLM_E_OUT_OF_RANGE
        );
        assert_eq!(
            last_error(),
            "The PAK you have entered, P-1, cannot be fulfilled because there are no licenses \
             remaining in the PAK"
        );
        let mut sip = 0u32;
        let mut h = 0u32;
        assert_eq!(
            weblm_alloc_tenant_split(100, 60, 90, &mut sip, &mut h),
            WEBLM_OK
        );
        assert_eq!((sip, h), (40, 60));
        assert_eq!(weblm_plm_db_free(db), WEBLM_OK);
    }
}

#[test]
fn compliance_engine_through_the_c_abi() {
    unsafe {
        let mut clock = null_mut();
        assert_eq!(weblm_manual_clock_new(1_795_514_400, &mut clock), WEBLM_OK);
        let mut db = null_mut();
        assert_eq!(weblm_plm_db_open_in_memory(&mut db), WEBLM_OK);
        let mut plm = null_mut();
        assert_eq!(
            weblm_plm_new(db, clock, std::ptr::null(), &mut plm),
            WEBLM_OK
        );
        let status = || {
            let json = read_text(|b, c, l| weblm_plm_status_json(plm, b, c, l));
            serde_json::from_str::<serde_json::Value>(&json).unwrap()
        };
        assert_eq!(status()["mode"], "trial");
        assert_eq!(status()["trial_end"], "2027-05-23T10:00:00Z");
        assert_eq!(weblm_manual_clock_advance(clock, 180 * 86_400), WEBLM_OK);
        assert_eq!(weblm_plm_tick(plm), WEBLM_OK);
        assert_eq!(status()["mode"], "deactivated");
        let mut up = true;
        assert_eq!(weblm_plm_service_available(plm, &mut up), WEBLM_OK);
        assert!(!up);
        assert_eq!(weblm_plm_free(plm), WEBLM_OK);
        assert_eq!(weblm_plm_free(plm), WEBLM_E_INVALID_HANDLE);
        assert_eq!(weblm_plm_db_free(db), WEBLM_OK);
        assert_eq!(weblm_manual_clock_free(clock), WEBLM_OK);
    }
}

#[test]
fn plan_with_a_wasm_distribute_plugin_swapped_in() {
    // Zones 1/1/1/7 cut to 7: EP rounding gives 1,1,1,4; the largest-remainder plugin 1,1,0,5.
    let cfg = CString::new(
        "system_licenses = 10\n[[zone]]\nname = \"a\"\nassigned = 1\npriority = 1\n\
         [[zone]]\nname = \"b\"\nassigned = 1\npriority = 2\n\
         [[zone]]\nname = \"c\"\nassigned = 1\npriority = 3\n\
         [[zone]]\nname = \"d\"\nassigned = 7\npriority = 4\n",
    )
    .unwrap();
    let granted = |policy: *const weblm_policy| -> Vec<u64> {
        let json =
            read_text(|b, c, l| unsafe { weblm_alloc_plan_json(policy, cfg.as_ptr(), 7, b, c, l) });
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        v["zones"]["zones"]
            .as_array()
            .unwrap()
            .iter()
            .map(|z| z["granted"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(granted(std::ptr::null()), vec![1, 1, 1, 4]);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let wasm = std::fs::read(root.join("plugins/wasm/largest_remainder.wasm")).unwrap();
    let sums = std::fs::read_to_string(root.join("plugins/wasm/SHA256SUMS")).unwrap();
    let pin = sums
        .lines()
        .find(|l| l.ends_with("largest_remainder.wasm"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let pin = CString::new(pin).unwrap();
    unsafe {
        let mut policy = null_mut();
        assert_eq!(weblm_policy_new(&mut policy), WEBLM_OK);
        assert_eq!(
            granted(policy),
            vec![1, 1, 1, 4],
            "native until a plugin is loaded"
        );
        let mut generation = 0u64;
        assert_eq!(
            weblm_policy_load(
                policy,
                WEBLM_HOOK_DISTRIBUTE,
                wasm.as_ptr(),
                wasm.len(),
                pin.as_ptr(),
                &mut generation
            ),
            WEBLM_OK,
            "{}",
            last_error()
        );
        assert_eq!(granted(policy), vec![1, 1, 0, 5]);
        assert_eq!(weblm_policy_free(policy), WEBLM_OK);
    }
}
