//! The `weblm` binary end to end: the vendor's path (keygen, issue, add-code) and the
//! customer's (show, verify, entitlements), with the refusals a user meets.

use std::path::Path;
use std::process::{Command, Output};

fn weblm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weblm"))
        .args(args)
        .output()
        .expect("run weblm")
}

fn ok(args: &[&str]) -> String {
    let out = weblm(args);
    assert!(
        out.status.success(),
        "weblm {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(args: &[&str]) -> String {
    let out = weblm(args);
    assert!(!out.status.success(), "weblm {args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

struct Setup {
    _dir: tempfile::TempDir,
    key: String,
    public: String,
    file: String,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    ok(&["keygen", "--out-dir", p(dir.path())]);
    let key = dir.path().join("vendor.key").to_str().unwrap().to_string();
    let public = dir.path().join("vendor.pub").to_str().unwrap().to_string();
    let file = dir
        .path()
        .join("license.toml")
        .to_str()
        .unwrap()
        .to_string();
    ok(&[
        "issue",
        "--key",
        &key,
        "--host",
        "ir-host-01",
        "--product-version",
        "5.0",
        "--issued",
        "2026-11-01",
        "--out",
        &file,
    ]);
    for (count, kind) in [("5", "additive"), ("2", "additive")] {
        ok(&[
            "add-code",
            &file,
            "--key",
            &key,
            "--feature",
            "77",
            "--feature-version",
            "5.0",
            "--count",
            count,
            "--kind",
            kind,
            "--start",
            "2026-11-01",
        ]);
    }
    for count in ["10", "4"] {
        ok(&[
            "add-code",
            &file,
            "--key",
            &key,
            "--feature",
            "ASR",
            "--feature-version",
            "1.0",
            "--count",
            count,
            "--kind",
            "exclusive",
            "--start",
            "2026-11-01",
        ]);
    }
    Setup {
        _dir: dir,
        key,
        public,
        file,
    }
}

#[test]
fn vendor_path_and_entitlements_with_reasons() {
    let s = setup();
    let shown = ok(&["show", &s.file]);
    assert!(shown.contains("host id: ir-host-01"), "{shown}");
    assert!(
        shown.contains("#4   ASR 1.0 count=4 exclusive permanent"),
        "{shown}"
    );
    let v = ok(&[
        "verify",
        &s.file,
        "--key",
        &s.public,
        "--host",
        "ir-host-01",
    ]);
    assert!(v.starts_with("OK:"), "{v}");
    let table = ok(&[
        "entitlements",
        &s.file,
        "--key",
        &s.public,
        "--host",
        "ir-host-01",
        "--at",
        "2026-11-24",
    ]);
    assert!(table.contains("77 5.0: 7 licenses"), "{table}");
    assert!(table.contains("ASR 1.0: 4 licenses"), "{table}");
    assert!(
        table.contains(
            "#3   count 10     ignored: exclusive code #4 was added last and replaces it"
        ),
        "{table}"
    );
    let json = ok(&["entitlements", &s.file, "--at", "2026-11-24", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["signature_checked"], false);
    assert_eq!(v["features"][0]["entitlement"]["count"], 7);
    assert_eq!(
        v["features"][0]["entitlement"]["decisions"][0]["reason"],
        "counted"
    );
}

#[test]
fn entitlements_before_the_codes_start_are_zero() {
    let s = setup();
    let table = ok(&["entitlements", &s.file, "--at", "2026-10-01"]);
    assert!(table.contains("77 5.0: 0 licenses"), "{table}");
    assert!(table.contains("signature NOT checked"), "{table}");
}

#[test]
fn verify_refuses_wrong_host_tampering_and_another_key() {
    let s = setup();
    let e = fails(&[
        "verify",
        &s.file,
        "--key",
        &s.public,
        "--host",
        "ir-host-02",
    ]);
    assert!(e.contains("license file was not issued for this system: file is for ir-host-01, this system is ir-host-02"), "{e}");
    let e = fails(&[
        "verify",
        &s.file,
        "--key",
        &s.public,
        "--host",
        "ir-host-01",
        "--product-version",
        "6.0",
    ]);
    assert!(e.contains("product version mismatch"), "{e}");
    let text = std::fs::read_to_string(&s.file)
        .unwrap()
        .replacen("count = 5", "count = 500", 1);
    std::fs::write(&s.file, text).unwrap();
    let e = fails(&[
        "verify",
        &s.file,
        "--key",
        &s.public,
        "--host",
        "ir-host-01",
    ]);
    assert!(e.contains("bad signature"), "{e}");
    let e = fails(&[
        "add-code",
        &s.file,
        "--key",
        &s.key,
        "--feature",
        "77",
        "--feature-version",
        "5.0",
        "--count",
        "1",
    ]);
    assert!(
        e.contains("bad signature"),
        "add-code must not re-sign a tampered file: {e}"
    );
}

#[test]
fn add_code_refuses_a_redundant_trial_and_bad_files_are_named() {
    let s = setup();
    let e = fails(&[
        "add-code",
        &s.file,
        "--key",
        &s.key,
        "--feature",
        "77",
        "--feature-version",
        "5.0",
        "--count",
        "1",
        "--term",
        "trial",
        "--trial-days",
        "30",
        "--redundant",
    ]);
    assert!(e.contains("a redundant code cannot be a trial code"), "{e}");
    let e = fails(&["show", "/nonexistent/license.toml"]);
    assert!(e.contains("cannot access /nonexistent/license.toml"), "{e}");
    std::fs::write(&s.file, "format = 1\nvendor = \n").unwrap();
    let e = fails(&["show", &s.file]);
    assert!(e.contains("malformed license file at line 2"), "{e}");
    let e = fails(&["verify", &s.file, "--key", &s.file, "--host", "x"]);
    assert!(e.contains("not a weblm public key"), "{e}");
}

#[test]
fn keygen_does_not_overwrite_without_force() {
    let s = setup();
    let dir = Path::new(&s.key).parent().unwrap();
    let e = fails(&["keygen", "--out-dir", p(dir)]);
    assert!(e.contains("exists already"), "{e}");
    ok(&["keygen", "--out-dir", p(dir), "--force"]);
}

#[test]
fn demo_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(&["demo", "--dir", p(dir.path())]);
    assert!(out.contains("77 5.0: 7 licenses"), "{out}");
    assert!(
        out.contains("acquire 35 VALUE_IR_VOIP_PORTS: granted 20"),
        "{out}"
    );
    assert!(out.contains("20 in use, 0 available of 20"), "{out}");
}

#[test]
fn output_closed_early_ends_quietly_without_a_panic() {
    use std::io::Read;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_weblm"))
        .args(["demo", "--dir", p(dir.path())])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 8];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take()); // like `| head -c 8`
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    child.wait().unwrap();
    assert!(!err.contains("panicked"), "{err}");
}
