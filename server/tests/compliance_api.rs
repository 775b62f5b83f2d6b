//! `weblm serve` with a `[compliance]` section (SPEC §7) over real HTTP and the test clock:
//! the free trial and its end date, deactivation (service refused, administration working,
//! restored at once by installing licenses), over-use with its alert, reminders and disable
//! date, the contact with the license manager (2 days without it: invalid licenses), the
//! fail-over trial, the daily analysis and its usage history, and `weblm compliance` on the
//! same database once the server is stopped.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use serde_json::{json, Value};
use weblm_core::clock::Timestamp;

const TOK: &str = "token-client-a";
const DAY: i64 = 86_400;

/// A standard server for host-1 (VOIP 20 in its license file) with `[compliance]` counting
/// VOIP 5.0 as users; leases live 400 days so that moving the clock does not expire them.
fn server(fx: &Fixture, compliance: &str) -> Server {
    let lic = fx.license("lic.toml", "host-1", &[("VOIP", 20)]);
    let extra = format!(
        "lease_lifetime_secs = 34560000\n[compliance]\nfeature = \"VOIP\"\nversion = \"5.0\"\n{compliance}"
    );
    let cfg = fx.standard_config("std", &lic, "host-1", &[("ir-a", TOK)], &extra);
    Server::start(&cfg)
}

fn status(s: &Server) -> Value {
    let (st, b) = call(&s.url(), TOK, "GET", "/v1/compliance", None);
    assert_eq!(st, 200, "{b}");
    b
}

fn ts(v: &Value) -> Timestamp {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}"))
}

fn alerts(s: &Server) -> Vec<Value> {
    let (st, b) = call(&s.url(), ADMIN, "GET", "/v1/admin/alerts", None);
    assert_eq!(st, 200, "{b}");
    b.as_array().unwrap().clone()
}

fn kinds(s: &Server) -> Vec<String> {
    alerts(s)
        .iter()
        .map(|a| a["kind"].as_str().unwrap().to_string())
        .collect()
}

/// Registers a PAK of `n` VOIP 5.0 licenses and installs them all on host-1.
fn install(s: &Server, pak: &str, n: u32) {
    let reg = json!({"pak": pak, "feature": "VOIP", "version": "5.0", "count": n});
    let (st, b) = call(&s.url(), ADMIN, "POST", "/v1/admin/paks", Some(reg));
    assert_eq!(st, 201, "{b}");
    let (st, b) = call(
        &s.url(),
        ADMIN,
        "POST",
        &format!("/v1/admin/paks/{pak}/fulfil"),
        Some(json!({"system_id": "host-1", "count": n})),
    );
    assert_eq!(st, 200, "{b}");
}

#[test]
fn free_trial_ends_in_deactivation_and_installing_licenses_restores_service_at_once() {
    let fx = Fixture::new();
    let s = server(&fx, "");
    let b = status(&s);
    assert_eq!(b["mode"], "trial", "{b}");
    assert_eq!(b["system_id"], "host-1", "system_id defaults to host_id");
    assert_eq!(b["trial"]["reason"], "fresh_deployment");
    assert_eq!(ts(&b["trial_end"]), t0().plus_days(180), "{b}");
    assert_eq!(b["service_available"], true);
    let (st, grant) = acquire(&s.url(), TOK, "VOIP", 3);
    assert_eq!(st, 201, "{grant}");
    let lease = grant["lease"].as_u64().unwrap();
    assert!(kinds(&s).contains(&"free_trial".to_string()));

    s.advance(181 * DAY);
    let b = status(&s);
    assert_eq!(b["mode"], "deactivated", "{b}");
    assert_eq!(b["service_available"], false);
    let (st, e) = acquire(&s.url(), TOK, "VOIP", 1);
    assert_eq!(st, 403, "{e}");
    assert_eq!(e["error"]["code"], "deactivated");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("free trial"),
        "{e}"
    );
    let (st, e) = call(
        &s.url(),
        TOK,
        "POST",
        &format!("/v1/leases/{lease}/renew"),
        None,
    );
    assert_eq!(
        (st, e["error"]["code"].clone()),
        (403, json!("deactivated"))
    );
    // Administration still works: usage, alerts, PAKs; the health check says why.
    assert_eq!(s.feature("VOIP")["in_use"], 3);
    assert!(kinds(&s).contains(&"trial_ended".to_string()));
    let (_, h) = call(&s.url(), "", "GET", "/health", None);
    assert_eq!(h["service_available"], false);

    install(&s, "PAK-1", 10);
    let b = status(&s);
    assert_eq!(b["mode"], "normal", "{b}");
    assert_eq!(b["installed"], 10);
    assert!(b["trial"].is_null());
    let (st, g) = acquire(&s.url(), TOK, "VOIP", 1);
    assert_eq!(st, 201, "service restored at once: {g}");
    let (st, _) = call(
        &s.url(),
        TOK,
        "POST",
        &format!("/v1/leases/{lease}/renew"),
        None,
    );
    assert_eq!(st, 200);
}

#[test]
fn over_use_alerts_reminds_every_30_days_deactivates_after_six_months_and_recovers() {
    let fx = Fixture::new();
    let s = server(&fx, "");
    install(&s, "PAK-2", 2);
    assert_eq!(status(&s)["mode"], "normal");
    let (st, g) = acquire(&s.url(), TOK, "VOIP", 3);
    assert_eq!(st, 201, "the license file allows 20: {g}");
    let lease = g["lease"].as_u64().unwrap();
    s.advance(60); // a maintenance pass records the usage
    let start = s.now();
    let b = status(&s);
    assert_eq!(b["mode"], "over_use_alert", "{b}");
    assert_eq!(b["in_use"], 3);
    assert_eq!(b["violation"]["kinds"], json!(["over_use"]));
    let disable = ts(&b["violation"]["disable_date"]);
    assert_eq!(disable, ts(&b["violation"]["since"]).plus_days(180));
    assert!(ts(&b["violation"]["since"]) <= start);
    let exceeded: Vec<Value> = alerts(&s)
        .into_iter()
        .filter(|a| a["kind"] == "licenses_exceeded")
        .collect();
    assert_eq!(exceeded.len(), 1);
    assert_eq!(ts(&exceeded[0]["disable_date"]), disable);
    assert!(
        exceeded[0]["message"]
            .as_str()
            .unwrap()
            .contains("3 users, 2 licenses installed"),
        "{}",
        exceeded[0]
    );

    for month in 1..=5 {
        s.advance(30 * DAY);
        let reminders = kinds(&s).iter().filter(|k| *k == "reminder").count();
        assert_eq!(reminders, month, "one reminder per 30-day check");
        let (st, g) = acquire(&s.url(), TOK, "VOIP", 1);
        assert_eq!(st, 201, "service still available in month {month}: {g}");
        let id = g["lease"].as_u64().unwrap();
        let (st, _) = call(&s.url(), TOK, "DELETE", &format!("/v1/leases/{id}"), None);
        assert_eq!(st, 200);
    }
    s.set_to(disable);
    let b = status(&s);
    assert_eq!(b["mode"], "deactivated", "{b}");
    let (st, e) = acquire(&s.url(), TOK, "VOIP", 1);
    assert_eq!(st, 403, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("licenses exceeded"),
        "{e}"
    );
    assert!(kinds(&s).contains(&"deactivated".to_string()));

    // Fixing the licenses: release the over-use; service is back at the next pass.
    let (st, _) = call(
        &s.url(),
        ADMIN,
        "POST",
        "/v1/admin/release-client",
        Some(json!({"client": "ir-a"})),
    );
    assert_eq!(st, 200);
    s.advance(1);
    let b = status(&s);
    assert_eq!(b["mode"], "normal", "{b}");
    assert!(kinds(&s).contains(&"restored".to_string()));
    let (st, _) = acquire(&s.url(), TOK, "VOIP", 2);
    assert_eq!(st, 201);
    let (st, _) = call(
        &s.url(),
        TOK,
        "POST",
        &format!("/v1/leases/{lease}/renew"),
        None,
    );
    assert_eq!(st, 404, "the force-released lease is gone");
}

/// A license manager answering `GET /health` with 200 while `up`, 503 otherwise.
fn license_manager(up: Arc<AtomicBool>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 1024];
            let _ = c.read(&mut buf);
            let (code, text) = if up.load(Ordering::SeqCst) {
                (200, "OK")
            } else {
                (503, "Service Unavailable")
            };
            let _ = write!(
                c,
                "HTTP/1.1 {code} {text}\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
            );
        }
    });
    url
}

#[test]
fn no_contact_for_two_days_starts_the_invalid_license_clock_and_failover_starts_a_trial() {
    let fx = Fixture::new();
    let up = Arc::new(AtomicBool::new(true));
    let lm = license_manager(up.clone());
    let s = server(&fx, &format!("license_manager_url = \"{lm}\"\n"));
    install(&s, "PAK-3", 5);
    let b = status(&s);
    assert_eq!(b["mode"], "normal", "{b}");
    assert_eq!(b["license_manager"], lm.as_str());
    let (st, b) = call(&s.url(), ADMIN, "POST", "/v1/admin/compliance/sync", None);
    assert_eq!((st, b["synced"].clone()), (200, json!(true)), "{b}");
    let contact = s.now();

    up.store(false, Ordering::SeqCst);
    let (_, b) = call(&s.url(), ADMIN, "POST", "/v1/admin/compliance/sync", None);
    assert_eq!(b["synced"], false, "{b}");
    s.advance(DAY);
    assert_eq!(
        status(&s)["mode"],
        "normal",
        "one day without contact is fine"
    );
    s.advance(DAY + 3600);
    let b = status(&s);
    assert_eq!(b["mode"], "over_use_alert", "{b}");
    assert_eq!(b["violation"]["kinds"], json!(["invalid"]));
    assert_eq!(ts(&b["violation"]["since"]), contact.plus_days(2));
    assert_eq!(
        ts(&b["violation"]["disable_date"]),
        contact.plus_days(2 + 180)
    );
    assert!(kinds(&s).contains(&"invalid_licenses".to_string()));

    // Contact again (the next 12-hourly sync): the violation ends.
    up.store(true, Ordering::SeqCst);
    s.advance(12 * 3600);
    let b = status(&s);
    assert_eq!(b["mode"], "normal", "{b}");
    assert!(ts(&b["last_contact"]) > contact);

    // This node takes over after a fail-over while the license manager is unreachable.
    up.store(false, Ordering::SeqCst);
    let (st, b) = call(
        &s.url(),
        ADMIN,
        "POST",
        "/v1/admin/compliance/failover",
        None,
    );
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["license_manager_reachable"], false);
    assert_eq!(b["status"]["trial"]["reason"], "failover");
    let end = ts(&b["status"]["trial_end"]);
    assert_eq!(end, s.now().plus_days(180));
    s.advance(10 * DAY);
    assert_eq!(
        status(&s)["mode"],
        "trial",
        "no invalid clock during the trial"
    );
    up.store(true, Ordering::SeqCst);
    s.advance(12 * 3600);
    let b = status(&s);
    assert_eq!(b["mode"], "normal", "reaching it ends the trial: {b}");
    let (st, _) = call(&s.url(), TOK, "POST", "/v1/admin/compliance/failover", None);
    assert_eq!(st, 403, "admin only");
}

#[test]
fn the_daily_analysis_records_usage_history_and_the_cli_reads_the_same_database() {
    let fx = Fixture::new();
    let mut s = server(&fx, "analysis_hour = 2\n");
    install(&s, "PAK-4", 8);
    let (st, _) = acquire(&s.url(), TOK, "VOIP", 4);
    assert_eq!(st, 201);
    s.advance(60);
    let (st, h0) = call(&s.url(), ADMIN, "GET", "/v1/admin/compliance/history", None);
    assert_eq!(st, 200, "{h0}");
    let n0 = h0.as_array().unwrap().len();
    // T0 is midnight GMT: three days bring three 02:00 analyses.
    for _ in 0..3 {
        s.advance(DAY);
    }
    let (_, h) = call(&s.url(), ADMIN, "GET", "/v1/admin/compliance/history", None);
    let h = h.as_array().unwrap();
    assert_eq!(h.len(), n0 + 3, "{h:?}");
    let last = h.last().unwrap();
    assert_eq!(
        (last["installed"].clone(), last["in_use"].clone()),
        (json!(8), json!(4))
    );
    let b = status(&s);
    assert_eq!(
        ts(&b["next_analysis"]),
        t0().plus_days(3).plus_secs(2 * 3600)
    );
    let (st, b) = call(
        &s.url(),
        ADMIN,
        "POST",
        "/v1/admin/compliance/analyze",
        None,
    );
    assert_eq!((st, b["installed"].clone()), (200, json!(8)));

    // While the server runs it holds the license manager database.
    let weblm = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_weblm"))
            .args(args)
            .output()
            .unwrap()
    };
    let cfg = s.config.to_str().unwrap().to_string();
    let out = weblm(&["compliance", "status", "--config", &cfg]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("weblm server"), "{err}");
    let db = fx.path("std.db.plm.db");
    let out = weblm(&["pak", "list", "--db", db.to_str().unwrap()]);
    assert!(!out.status.success(), "weblm pak is refused too");

    let now = s.now();
    s.terminate();
    let out = weblm(&["compliance", "status", "--config", &cfg, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let b: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(b["mode"], "normal");
    assert_eq!(b["installed"], 8);
    assert_eq!(
        ts(&b["now"]),
        now,
        "the CLI continues the server's test clock"
    );
    let out = weblm(&["compliance", "history", "--config", &cfg]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert_eq!(text.lines().count(), 1 + h.len() + 1, "{text}");
    let out = weblm(&["compliance", "failover", "--config", &cfg]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("(this server): reached"), "{text}");
    assert!(text.contains("mode:              normal"), "{text}");
    let out = weblm(&["pak", "list", "--db", db.to_str().unwrap()]);
    assert!(out.status.success(), "free once the server stopped");
}

#[test]
fn without_a_compliance_section_the_endpoints_say_so() {
    let fx = Fixture::new();
    let lic = fx.license("lic.toml", "host-1", &[("VOIP", 20)]);
    let cfg = fx.standard_config("std", &lic, "host-1", &[("ir-a", TOK)], "");
    let s = Server::start(&cfg);
    let (st, b) = call(&s.url(), TOK, "GET", "/v1/compliance", None);
    assert_eq!(st, 404);
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("[compliance]"),
        "{b}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_weblm"))
        .args(["compliance", "status", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no [compliance] section"));
}

#[test]
fn a_pinned_compliance_plugin_decides_and_a_wrong_digest_is_refused() {
    let wasm = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/wasm/standard_compliance.wasm")
        .canonicalize()
        .unwrap();
    let sha = weblm_plugins::sha256_hex(&std::fs::read(&wasm).unwrap());
    let fx = Fixture::new();
    let s = server(
        &fx,
        &format!("plugin = {wasm:?}\nplugin_sha256 = \"{sha}\"\n"),
    );
    let b = status(&s);
    assert!(
        b["policy"]
            .as_str()
            .unwrap()
            .contains("standard_compliance"),
        "{b}"
    );
    assert_eq!(b["mode"], "trial");
    assert_eq!(ts(&b["trial_end"]), t0().plus_days(180));
    s.advance(181 * DAY);
    assert_eq!(status(&s)["mode"], "deactivated", "the plugin's timeline");
    drop(s);

    let fx = Fixture::new();
    let lic = fx.license("lic.toml", "host-1", &[("VOIP", 20)]);
    let bad = "0".repeat(64);
    let cfg = fx.standard_config(
        "std",
        &lic,
        "host-1",
        &[("ir-a", TOK)],
        &format!("[compliance]\nplugin = {wasm:?}\nplugin_sha256 = \"{bad}\"\n"),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_weblm"))
        .args(["compliance", "status", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("standard_compliance") && err.contains("sha256"),
        "{err}"
    );
}
