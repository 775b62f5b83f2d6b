//! `weblm zones plan`, `weblm pak`, `weblm alerts` end to end.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use weblm_core::clock::Timestamp;
use weblm_core::outbox::{AlertKind, Outbox};
use weblm_core::plm_db::PlmDb;

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

fn example() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/examples/plan.toml")
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn zones_plan_prints_what_each_zone_tenant_and_org_gets() {
    let out = ok(&["zones", "plan", "--config", &example(), "--licenses", "33"]);
    assert!(out.contains("Plan at 33 licenses"), "{out}");
    let row = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row {name} in {out}"))
            .split_whitespace()
            .last()
            .unwrap()
            .to_string()
    };
    assert_eq!(row("east"), "16");
    assert_eq!(row("west"), "10");
    assert_eq!(row("north"), "7");
    assert!(out.contains("TENANT SPLIT: SIP 13  H.323 20"), "{out}");
    assert!(out.contains("zone west: SIP 6  H.323 4  unused 0"), "{out}");
    assert!(out.contains("common pool: 0"), "{out}");
    assert!(
        out.contains("RESERVED CALLS in zone east (zone gets 16, today 50; cut in proportion)"),
        "{out}"
    );
    assert!(out.contains("common pool in zone west: 10"), "{out}");
    // Default count: today's licenses, nothing cut.
    let out = ok(&["zones", "plan", "--config", &example(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["zones"]["cut"], false);
    assert_eq!(v["zones"]["zones"][0]["granted"], 50);
    assert_eq!(v["organizations"]["common"], 0);
    assert_eq!(v["tenant"]["sip"], 40);
}

#[test]
fn zones_plan_refuses_an_over_assigned_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.toml");
    std::fs::write(
        &f,
        "system_licenses = 10\n[[zone]]\nname = \"a\"\nassigned = 8\n[[zone]]\nname = \"b\"\nassigned = 3\n",
    )
    .unwrap();
    let err = fails(&["zones", "plan", "--config", f.to_str().unwrap()]);
    assert!(
        err.contains("zones would be assigned 11 licenses but the system has only 10"),
        "{err}"
    );
}

#[test]
fn pak_fulfil_rehost_and_alerts_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("plm.db");
    let db = db.to_str().unwrap();
    ok(&[
        "pak",
        "register",
        "--db",
        db,
        "--pak",
        "PAK-7",
        "--feature",
        "USER",
        "--feature-version",
        "2.0",
        "--count",
        "10",
    ]);
    let out = ok(&[
        "pak", "fulfil", "--db", db, "--pak", "PAK-7", "--system", "sys-a", "--count", "10",
    ]);
    assert!(
        out.contains("10 remain") || out.contains("0 remain"),
        "{out}"
    );
    let err = fails(&[
        "pak", "fulfil", "--db", db, "--pak", "PAK-7", "--system", "sys-a", "--count", "1",
    ]);
    assert!(
        err.contains(
            "The PAK you have entered, PAK-7, cannot be fulfilled because there are no licenses remaining in the PAK"
        ),
        "{err}"
    );
    let out = ok(&[
        "pak", "rehost", "--db", db, "--from", "sys-a", "--to", "sys-b",
    ]);
    assert!(
        out.contains("rehosted 10 licenses from sys-a to sys-b"),
        "{out}"
    );
    let out = ok(&["pak", "list", "--db", db, "--system", "sys-a"]);
    assert!(out.contains("rehosted to sys-b"), "{out}");
    // Alerts raised by the license manager are listed.
    {
        let d = Arc::new(PlmDb::open(Path::new(db)).unwrap());
        Outbox::new(d, None)
            .push(
                Timestamp(0),
                AlertKind::LicensesExceeded,
                "Licenses exceeded on sys-b",
                None,
            )
            .unwrap();
    }
    let out = ok(&["alerts", "list", "--db", db, "--pending"]);
    assert!(out.contains("licenses_exceeded"), "{out}");
    assert!(out.contains("[pending]"), "{out}");
}
