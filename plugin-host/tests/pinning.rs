//! sha256 pinning: a plugin loads only with its expected digest, checked before compiling.

mod common;

use common::*;
use weblm_plugins::{sha256_hex, Fault};

#[test]
fn matching_pin_loads() {
    let bytes = std::fs::read(plugins_dir().join("wasm/ep_zones.wasm")).unwrap();
    let host = host();
    let p = host
        .load("ep", &bytes, &sha256_hex(&bytes).to_uppercase())
        .unwrap();
    assert_eq!(p.sha256_hex(), sha256_hex(&bytes));
}

#[test]
fn mismatching_pin_is_refused_before_compiling() {
    let mut bytes = std::fs::read(plugins_dir().join("wasm/ep_zones.wasm")).unwrap();
    let pin = sha256_hex(&bytes);
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let e = host().load("ep", &bytes, &pin).unwrap_err();
    assert_eq!(
        e.fault,
        Fault::Sha256Mismatch {
            expected: pin,
            actual: sha256_hex(&bytes)
        }
    );
    // Garbage with a wrong pin reports the pin, not a compile error: the digest comes first.
    let e = host().load("junk", b"junk", &"0".repeat(64)).unwrap_err();
    assert!(matches!(e.fault, Fault::Sha256Mismatch { .. }));
}

#[test]
fn malformed_pin_is_refused() {
    let e = host().load("ep", b"x", "abc").unwrap_err();
    assert_eq!(e.fault, Fault::BadPin("abc".into()));
}
