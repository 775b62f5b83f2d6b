//! Acquire+release pairs against an in-memory embedded server: Rust-native `Ledger` calls versus
//! the same calls through the C ABI functions (`weblm_server_acquire` / `weblm_server_release`,
//! with their C-string checks, handle lookups and panic boundary). The C program
//! `tests/c/bench.c` measures the same loop from C through `libweblm.so`.
//!
//! Run: `cargo bench -p weblm-ffi --bench acquire_release` (prints ns per pair and the ratio).

use std::ffi::CString;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use weblm::*;
use weblm_core::clock::SystemClock;
use weblm_core::codes::{CodeKind, LicenseCode, Term};
use weblm_core::ledger::{Ledger, LedgerConfig};
use weblm_core::license::{
    encode_verifying_key, generate_key, Expect, LicenseContent, LicenseFile, FORMAT_VERSION,
};

const PAIRS: u32 = 200_000;
const ROUNDS: usize = 7;

fn main() {
    let key = generate_key().unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let mut file = LicenseFile::issue(
        LicenseContent {
            format: FORMAT_VERSION,
            vendor: "bench".into(),
            product: "IR".into(),
            product_version: "5.0".into(),
            host_id: "bench-host".into(),
            issued: day,
            codes: vec![],
        },
        &key,
    )
    .unwrap();
    file.add_code(
        LicenseCode {
            position: 0,
            feature: "VALUE_IR_VOIP_PORTS".into(),
            version: "5.0".into(),
            count: 1000,
            kind: CodeKind::Additive,
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
    let text = file.to_toml();
    let verified = file
        .clone()
        .verify(&key.verifying_key(), &Expect::host("bench-host"))
        .unwrap();

    // Rust-native.
    let ledger = Ledger::in_memory(&verified, Arc::new(SystemClock), LedgerConfig::default());
    let native = || {
        let t = Instant::now();
        for _ in 0..PAIRS {
            let g = ledger
                .acquire(
                    black_box("bench-client"),
                    black_box("VALUE_IR_VOIP_PORTS"),
                    black_box("5.0"),
                    1,
                )
                .unwrap();
            ledger.release(g.lease.unwrap()).unwrap();
        }
        t.elapsed().as_nanos() as f64 / PAIRS as f64
    };

    // Through the C ABI.
    let pubkey = CString::new(encode_verifying_key(&key.verifying_key())).unwrap();
    let host = CString::new("bench-host").unwrap();
    let client = CString::new("bench-client").unwrap();
    let feature = CString::new("VALUE_IR_VOIP_PORTS").unwrap();
    let version = CString::new("5.0").unwrap();
    let mut lic = std::ptr::null_mut();
    let mut server = std::ptr::null_mut();
    unsafe {
        assert_eq!(
            weblm_license_load_bytes(
                text.as_ptr(),
                text.len(),
                pubkey.as_ptr(),
                host.as_ptr(),
                std::ptr::null(),
                &mut lic
            ),
            WEBLM_OK
        );
        assert_eq!(
            weblm_server_new_in_memory(lic, std::ptr::null(), &mut server),
            WEBLM_OK
        );
    }
    let c_abi = || {
        let mut g = weblm_grant {
            lease: 0,
            granted: 0,
            wanted: 0,
            expires_at: 0,
        };
        let t = Instant::now();
        for _ in 0..PAIRS {
            unsafe {
                let st = weblm_server_acquire(
                    black_box(server),
                    client.as_ptr(),
                    feature.as_ptr(),
                    version.as_ptr(),
                    1,
                    &mut g,
                );
                assert_eq!(st, WEBLM_OK);
                let st = weblm_server_release(server, g.lease, std::ptr::null_mut());
                assert_eq!(st, WEBLM_OK);
            }
        }
        t.elapsed().as_nanos() as f64 / PAIRS as f64
    };

    let mut n = Vec::new();
    let mut c = Vec::new();
    native(); // warm-up
    c_abi();
    for _ in 0..ROUNDS {
        c.push(c_abi());
        n.push(native());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let (n, c) = (median(&mut n), median(&mut c));
    println!("acquire+release pairs, in-memory embedded server, {PAIRS} pairs x {ROUNDS} rounds (median)");
    println!("rust-native ledger: {n:.1} ns/pair");
    println!("C ABI functions   : {c:.1} ns/pair");
    println!("ratio C ABI / rust-native: {:.2}", c / n);
    unsafe {
        weblm_server_free(server);
        weblm_license_free(lic);
    }
}
