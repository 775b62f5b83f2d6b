//! License files: issuing, adding codes, signatures, and every refusal on load.

use chrono::NaiveDate;
use weblm_core::codes::{CodeKind, LicenseCode, Term};
use weblm_core::license::*;

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()
}

fn content() -> LicenseContent {
    LicenseContent::new("Acme Voice", "IR", "5.0", "ir-host-01", day())
}

fn code(count: u32, kind: CodeKind) -> LicenseCode {
    LicenseCode::permanent("VALUE_IR_VOIP_PORTS", "5.0", count, kind, day())
}

fn issued(key: &SigningKey) -> LicenseFile {
    let mut f = LicenseFile::issue(content(), key).unwrap();
    f.add_code(code(20, CodeKind::Additive), key).unwrap();
    f.add_code(code(5, CodeKind::Exclusive), key).unwrap();
    f
}

#[test]
fn issue_add_codes_write_read_verify_round_trip() {
    let key = generate_key().unwrap();
    let f = issued(&key);
    assert_eq!(
        f.content
            .codes
            .iter()
            .map(|c| c.position)
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
    let text = f.to_toml();
    let back = LicenseFile::parse(&text).unwrap();
    assert_eq!(back, f);
    let v = back
        .verify(&key.verifying_key(), &Expect::host("ir-host-01"))
        .unwrap();
    assert_eq!(v.content().codes.len(), 2);
}

#[test]
fn add_code_appends_after_the_highest_position_and_keeps_the_file_valid() {
    let key = generate_key().unwrap();
    let mut f = issued(&key);
    let pos = f.add_code(code(1, CodeKind::Additive), &key).unwrap();
    assert_eq!(pos, 3);
    f.clone()
        .verify(&key.verifying_key(), &Expect::host("ir-host-01"))
        .unwrap();
    // A redundant trial code is refused when added, and the file is left unchanged.
    let mut bad = code(1, CodeKind::Additive);
    bad.term = Term::Trial;
    bad.trial_days = Some(5);
    bad.redundant = true;
    let before = f.clone();
    let err = f.add_code(bad, &key).unwrap_err();
    assert!(matches!(err, LicenseError::InvalidCode { .. }), "{err}");
    assert_eq!(f, before);
}

#[test]
fn add_code_refuses_to_resign_a_tampered_file() {
    let key = generate_key().unwrap();
    let mut f = issued(&key);
    f.content.codes[0].count = 2000;
    let err = f.add_code(code(1, CodeKind::Additive), &key).unwrap_err();
    assert!(matches!(err, LicenseError::BadSignature(_)), "{err}");
}

#[test]
fn tampered_content_fails_the_signature() {
    let key = generate_key().unwrap();
    let text = issued(&key).to_toml().replace("count = 20", "count = 200");
    let f = LicenseFile::parse(&text).unwrap();
    let err = f
        .verify(&key.verifying_key(), &Expect::host("ir-host-01"))
        .unwrap_err();
    assert!(matches!(err, LicenseError::BadSignature(_)));
    assert!(err.to_string().contains("changed after signing"), "{err}");
}

#[test]
fn another_vendors_key_fails_the_signature() {
    let key = generate_key().unwrap();
    let other = generate_key().unwrap();
    let err = issued(&key)
        .verify(&other.verifying_key(), &Expect::host("ir-host-01"))
        .unwrap_err();
    assert!(matches!(err, LicenseError::BadSignature(_)), "{err}");
}

#[test]
fn garbled_signature_is_named() {
    let key = generate_key().unwrap();
    let mut f = issued(&key);
    f.signature.value = "not base64!".into();
    let err = f
        .clone()
        .verify(&key.verifying_key(), &Expect::host("ir-host-01"))
        .unwrap_err();
    assert!(err.to_string().contains("not base64"), "{err}");
    f.signature.value = "AAAA".into();
    let err = f
        .verify(&key.verifying_key(), &Expect::host("ir-host-01"))
        .unwrap_err();
    assert!(err.to_string().contains("expected 64"), "{err}");
}

#[test]
fn wrong_host_names_both_systems() {
    let key = generate_key().unwrap();
    let err = issued(&key)
        .verify(&key.verifying_key(), &Expect::host("ir-host-99"))
        .unwrap_err();
    assert!(matches!(err, LicenseError::WrongHost { .. }));
    assert_eq!(
        err.to_string(),
        "license file was not issued for this system: file is for ir-host-01, this system is ir-host-99"
    );
}

#[test]
fn product_version_mismatch_is_refused() {
    let key = generate_key().unwrap();
    let expect = Expect {
        host_id: "ir-host-01".into(),
        product_version: Some("6.0".into()),
    };
    let err = issued(&key)
        .verify(&key.verifying_key(), &expect)
        .unwrap_err();
    assert!(matches!(err, LicenseError::VersionMismatch { .. }));
    assert!(err.to_string().contains("IR 5.0, this is IR 6.0"), "{err}");
    let ok = Expect {
        host_id: "ir-host-01".into(),
        product_version: Some("5.0".into()),
    };
    issued(&key).verify(&key.verifying_key(), &ok).unwrap();
}

#[test]
fn malformed_file_reports_line_and_column() {
    let key = generate_key().unwrap();
    let text = issued(&key).to_toml();
    let broken = text.replacen("kind = \"additive\"", "kind = additive", 1);
    let line = broken.lines().position(|l| l == "kind = additive").unwrap() + 1;
    match LicenseFile::parse(&broken).unwrap_err() {
        LicenseError::Malformed {
            line: l, column, ..
        } => {
            assert_eq!(l, line);
            assert!(column > 1);
        }
        e => panic!("expected Malformed, got {e}"),
    }
    let err = LicenseFile::parse("format = 1\nvendor = \"x\"\n").unwrap_err();
    assert!(matches!(err, LicenseError::Malformed { .. }), "{err}");
    assert!(err.to_string().contains("missing field"), "{err}");
}

#[test]
fn bad_kind_value_is_malformed_with_its_position() {
    let key = generate_key().unwrap();
    let text = issued(&key)
        .to_toml()
        .replacen("kind = \"additive\"", "kind = \"bonus\"", 1);
    let err = LicenseFile::parse(&text).unwrap_err();
    assert!(
        matches!(err, LicenseError::Malformed { line, .. } if line > 1),
        "{err}"
    );
    assert!(err.to_string().contains("bonus"), "{err}");
}

#[test]
fn unknown_fields_are_refused_with_their_name() {
    let key = generate_key().unwrap();
    let text = issued(&key).to_toml();
    let top = text.replacen("vendor = ", "max_users = 5\nvendor = ", 1);
    match LicenseFile::parse(&top).unwrap_err() {
        LicenseError::UnknownField { field, line, .. } => {
            assert_eq!(field, "max_users");
            assert!(line >= 1);
        }
        e => panic!("expected UnknownField, got {e}"),
    }
    let in_code = text.replacen("redundant = false", "redundant = false\nbonus = 1", 1);
    match LicenseFile::parse(&in_code).unwrap_err() {
        LicenseError::UnknownField { field, .. } => assert_eq!(field, "bonus"),
        e => panic!("expected UnknownField, got {e}"),
    }
}

#[test]
fn counts_that_overflow_are_refused() {
    let key = generate_key().unwrap();
    let text = issued(&key).to_toml();
    let huge = text.replacen("count = 20", "count = 4294967296", 1);
    let err = LicenseFile::parse(&huge).unwrap_err();
    assert!(matches!(err, LicenseError::CountOverflow { .. }), "{err}");
    let negative = text.replacen("count = 20", "count = -1", 1);
    assert!(matches!(
        LicenseFile::parse(&negative).unwrap_err(),
        LicenseError::CountOverflow { .. }
    ));
    // Each code fits, but the codes of one feature add up past u32::MAX.
    let mut c = content();
    let mut a = code(u32::MAX, CodeKind::Additive);
    a.position = 1;
    let mut b = code(1, CodeKind::Additive);
    b.position = 2;
    c.codes = vec![a, b];
    let err = LicenseFile::issue(c, &key).unwrap_err();
    assert!(matches!(err, LicenseError::CountOverflow { .. }), "{err}");
    assert!(err.to_string().contains("add up to 4294967296"), "{err}");
}

#[test]
fn unsupported_format_version_is_refused() {
    let key = generate_key().unwrap();
    let text = issued(&key)
        .to_toml()
        .replacen("format = 1", "format = 2", 1);
    let err = LicenseFile::parse(&text).unwrap_err();
    assert!(
        matches!(
            err,
            LicenseError::UnsupportedFormat {
                found: 2,
                supported: 1
            }
        ),
        "{err}"
    );
}

#[test]
fn invalid_codes_are_refused_on_load() {
    let key = generate_key().unwrap();
    let text = issued(&key).to_toml();
    let until_without_end = text.replacen("term = \"permanent\"", "term = \"until\"", 1);
    let err = LicenseFile::parse(&until_without_end).unwrap_err();
    assert!(
        matches!(err, LicenseError::InvalidCode { position: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("needs an end date"), "{err}");
    let dup = text.replacen("position = 2", "position = 1", 1);
    assert!(LicenseFile::parse(&dup)
        .unwrap_err()
        .to_string()
        .contains("share this position"));
}

#[test]
fn keys_round_trip_and_bad_keys_are_named() {
    let key = generate_key().unwrap();
    let s = encode_signing_key(&key);
    let p = encode_verifying_key(&key.verifying_key());
    assert_eq!(decode_signing_key(&s).unwrap().to_bytes(), key.to_bytes());
    assert_eq!(decode_verifying_key(&p).unwrap(), key.verifying_key());
    assert!(decode_verifying_key(&s)
        .unwrap_err()
        .to_string()
        .contains("not a weblm public key"));
    assert!(decode_signing_key("weblm-ed25519-secret:AAAA")
        .unwrap_err()
        .to_string()
        .contains("expected 32"));
}

#[test]
fn load_license_reads_from_disk_and_names_a_missing_file() {
    let key = generate_key().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("license.toml");
    std::fs::write(&path, issued(&key).to_toml()).unwrap();
    load_license(&path, &key.verifying_key(), &Expect::host("ir-host-01")).unwrap();
    let err = load_license(
        &dir.path().join("nope.toml"),
        &key.verifying_key(),
        &Expect::host("x"),
    )
    .unwrap_err();
    assert!(matches!(err, LicenseError::Io { .. }));
    assert!(err.to_string().contains("nope.toml"), "{err}");
}

#[test]
fn layout_changes_that_keep_values_keep_the_signature() {
    let key = generate_key().unwrap();
    let text = issued(&key).to_toml();
    let commented = format!("# a comment the customer added\n{text}");
    LicenseFile::parse(&commented)
        .unwrap()
        .verify(&key.verifying_key(), &Expect::host("ir-host-01"))
        .unwrap();
}
