//! `weblm plugin check` and `weblm distribute` end to end.

use std::path::PathBuf;
use std::process::Command;

fn weblm(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_weblm"))
        .args(args)
        .output()
        .expect("run weblm");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn plugin(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins")
        .join(rel)
        .display()
        .to_string()
}

fn sha(path: &str) -> String {
    weblm_plugins::sha256_hex(&std::fs::read(path).unwrap())
}

#[test]
fn check_prints_abi_hooks_size_and_fuel() {
    let p = plugin("wasm/largest_remainder.wasm");
    let (ok, out, err) = weblm(&["plugin", "check", &p, "--sha256", &sha(&p)]);
    assert!(ok, "{err}");
    assert!(out.contains("abi         1.0"), "{out}");
    assert!(out.contains("hooks       distribute"), "{out}");
    assert!(out.contains("(matches the pin)"), "{out}");
    assert!(out.contains("µs per fresh store + instance"), "{out}");
    assert!(
        out.contains("sample      distribute: 33 over 50/30/20 -> 1:16 2:10 3:7; fuel "),
        "{out}"
    );
    let size = std::fs::metadata(&p).unwrap().len();
    assert!(out.contains(&format!("size        {size} bytes")), "{out}");
}

#[test]
fn check_refuses_a_wrong_pin_and_a_hostile_plugin() {
    let p = plugin("wasm/ep_zones.wasm");
    let (ok, _, err) = weblm(&["plugin", "check", &p, "--sha256", &"0".repeat(64)]);
    assert!(!ok);
    assert!(err.contains("sha256 mismatch"), "{err}");
    let (ok, _, err) = weblm(&["plugin", "check", &plugin("hostile/wrong_abi.wat")]);
    assert!(!ok);
    assert!(
        err.contains("plugin `wrong_abi`: ABI version 2.0 is not supported"),
        "{err}"
    );
    let (ok, _, err) = weblm(&["plugin", "check", &plugin("hostile/endless_loop.wat")]);
    assert!(!ok);
    assert!(err.contains("fuel budget of 10000000 exhausted"), "{err}");
}

fn shares(json: &str) -> Vec<u64> {
    let v: serde_json::Value = serde_json::from_str(json).expect("json");
    v["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["count"].as_u64().unwrap())
        .collect()
}

#[test]
fn distribute_native_and_plugins_agree_and_variants_differ() {
    let buckets = [
        "--bucket", "1:1:1:-", "--bucket", "2:1:2:-", "--bucket", "3:1:3:-", "--bucket", "4:7:4:10",
    ];
    let run = |extra: &[&str]| {
        let mut args = vec!["distribute", "--total", "7", "--seed", "5", "--json"];
        args.extend_from_slice(&buckets);
        args.extend_from_slice(extra);
        let (ok, out, err) = weblm(&args);
        assert!(ok, "{err}");
        shares(&out)
    };
    let ep_native = run(&[]);
    let lr_native = run(&["--rounding", "largest-remainder"]);
    let ep = plugin("wasm/ep_zones.wasm");
    let lr = plugin("wasm/largest_remainder.wasm");
    assert_eq!(ep_native, vec![1, 1, 1, 4]);
    assert_eq!(lr_native, vec![1, 1, 0, 5]);
    assert_eq!(run(&["--plugin", &ep, "--sha256", &sha(&ep)]), ep_native);
    assert_eq!(run(&["--plugin", &lr]), lr_native);
}

#[test]
fn distribute_table_and_bad_buckets() {
    let (ok, out, _) = weblm(&[
        "distribute",
        "--total",
        "100",
        "--bucket",
        "1:1:1:10",
        "--bucket",
        "2:1:1:20",
    ]);
    assert!(ok);
    assert!(out.contains("distributed 30 of 100 (70 unused)"), "{out}");
    let (ok, _, err) = weblm(&["distribute", "--total", "5", "--bucket", "1:1:1"]);
    assert!(!ok);
    assert!(err.contains("expected id:weight:priority:cap"), "{err}");
    let (ok, _, err) = weblm(&[
        "distribute",
        "--total",
        "5",
        "--bucket",
        "1:1:1:9",
        "--bucket",
        "1:2:1:9",
    ]);
    assert!(!ok);
    assert!(err.contains("bucket id 1 appears more than once"), "{err}");
}
