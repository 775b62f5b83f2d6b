//! `weblm serve` (standard role) over real HTTP: auth, bad requests, leases, reports,
//! force-release, SIGTERM and SIGKILL restarts.

mod common;
use common::*;

const TOK_A: &str = "token-client-a";
const TOK_B: &str = "token-client-b";

fn server(fx: &Fixture) -> Server {
    let lic = fx.license("lic.toml", "host-1", &[("VOIP", 20), ("ASR", 4)]);
    let cfg = fx.standard_config(
        "std",
        &lic,
        "host-1",
        &[("ir-a", TOK_A), ("ir-b", TOK_B)],
        "max_body_bytes = 1024",
    );
    Server::start(&cfg)
}

fn in_use(s: &Server, f: &str) -> u64 {
    s.feature(f)["in_use"].as_u64().unwrap()
}

#[test]
fn unauthenticated_requests_get_401_and_take_nothing() {
    let fx = Fixture::new();
    let s = server(&fx);
    let u = s.url();
    let (st, b) = acquire(&u, "", "VOIP", 5);
    assert_eq!(st, 401, "{b}");
    assert_eq!(b["error"]["code"], "unauthorized");
    let (st, _) = acquire(&u, "wrong-token-xyz", "VOIP", 5);
    assert_eq!(st, 401);
    assert_eq!(in_use(&s, "VOIP"), 0);
    // a client token cannot read the admin report; the admin cannot hold leases
    assert_eq!(call(&u, TOK_A, "GET", "/v1/usage", None).0, 403);
    assert_eq!(acquire(&u, ADMIN, "VOIP", 1).0, 403);
    // health needs no token
    let (st, h) = call(&u, "", "GET", "/health", None);
    assert_eq!(st, 200);
    assert_eq!(h["status"], "ok");
    assert_eq!(h["role"], "standard");
}

#[test]
fn bad_requests_get_4xx_with_a_named_error() {
    let fx = Fixture::new();
    let s = server(&fx);
    let u = s.url();
    let (st, b) = acquire(&u, TOK_A, "NOPE", 1);
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (404, Some("unknown_feature")),
        "{b}"
    );
    assert!(b["error"]["message"].as_str().unwrap().contains("NOPE"));
    let (st, b) = acquire(&u, TOK_A, "VOIP", -3);
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (400, Some("bad_count")),
        "{b}"
    );
    assert!(b["error"]["message"].as_str().unwrap().contains("-3"));
    let (st, b) = acquire(&u, TOK_A, "VOIP", 0);
    assert_eq!(st, 400, "{b}");
    let (st, b) = acquire(&u, TOK_A, "VOIP", 10_000_000_000);
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (400, Some("bad_count")),
        "{b}"
    );
    let (st, b) = call_raw(&u, TOK_A, "/v1/leases", b"{\"feature\": \"VOIP\", ");
    assert_eq!(st, 400, "{b}");
    assert_eq!(b["error"]["code"], "bad_json");
    let (st, b) = call_raw(
        &u,
        TOK_A,
        "/v1/leases",
        br#"{"feature":"VOIP","version":"5.0","count":1,"x":2}"#,
    );
    assert_eq!(
        b["error"]["code"], "bad_json",
        "unknown fields are refused: {st} {b}"
    );
    let big = format!(
        r#"{{"feature":"{}","version":"5.0","count":1}}"#,
        "V".repeat(4000)
    );
    let (st, b) = call_raw(&u, TOK_A, "/v1/leases", big.as_bytes());
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (413, Some("body_too_large")),
        "{b}"
    );
    let (st, b) = call(&u, TOK_A, "POST", "/v1/leases/abc/renew", None);
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (400, Some("bad_lease_id")),
        "{b}"
    );
    let (st, b) = call(&u, TOK_A, "POST", "/v1/leases/12345/renew", None);
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (404, Some("unknown_lease")),
        "{b}"
    );
    let (st, b) = call(&u, TOK_A, "GET", "/nope", None);
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{b}"
    );
    assert_eq!(in_use(&s, "VOIP"), 0, "nothing taken by bad requests");
}

#[test]
fn leases_reports_and_force_release() {
    let fx = Fixture::new();
    let s = server(&fx);
    let u = s.url();
    let (st, a) = acquire(&u, TOK_A, "VOIP", 15);
    assert_eq!(st, 201, "{a}");
    assert_eq!(a["granted"], 15);
    assert_eq!(a["lifetime_secs"], 600);
    let lease_a = a["lease"].as_u64().unwrap();
    let (_, b) = acquire(&u, TOK_B, "VOIP", 10);
    assert_eq!(b["granted"], 5, "partial grant: only 5 left");
    let (st, c) = acquire(&u, TOK_B, "VOIP", 1);
    assert_eq!(
        (st, c["granted"].as_u64(), c["lease"].is_null()),
        (200, Some(0), true)
    );
    // B cannot renew or release A's lease
    assert_eq!(
        call(
            &u,
            TOK_B,
            "POST",
            &format!("/v1/leases/{lease_a}/renew"),
            None
        )
        .0,
        404
    );
    assert_eq!(
        call(&u, TOK_B, "DELETE", &format!("/v1/leases/{lease_a}"), None).0,
        404
    );
    let line = s.feature("VOIP");
    assert_eq!(line["allocated"], 20);
    assert_eq!(line["in_use"], 20);
    assert_eq!(line["percent"], 100.0);
    assert_eq!(line["peak_7d"], 20);
    assert_eq!(line["peak_30d"], 20);
    // who holds what
    let (_, h) = call(&u, ADMIN, "GET", "/v1/leases", None);
    let leases = h["leases"].as_array().unwrap();
    assert_eq!(leases.len(), 2);
    assert!(leases.iter().any(|l| l["client"] == "ir-a"
        && l["count"] == 15
        && l["since"].is_string()
        && l["last_renewal"].is_string()));
    // renew moves the expiry with the (test) clock
    s.advance(300);
    let (st, r) = call(
        &u,
        TOK_A,
        "POST",
        &format!("/v1/leases/{lease_a}/renew"),
        None,
    );
    assert_eq!(st, 200, "{r}");
    assert_ne!(r["expires_at"], a["expires_at"]);
    // force-release B
    let (st, r) = call(
        &u,
        ADMIN,
        "POST",
        "/v1/admin/release-client",
        Some(serde_json::json!({"client": "ir-b"})),
    );
    assert_eq!((st, r["released"].as_u64()), (200, Some(5)), "{r}");
    assert_eq!(in_use(&s, "VOIP"), 15);
    // B's lease expired: A's lease expires after 600 s without renewal
    s.advance(601);
    assert_eq!(in_use(&s, "VOIP"), 0);
    let (st, r) = call(
        &u,
        TOK_A,
        "POST",
        &format!("/v1/leases/{lease_a}/renew"),
        None,
    );
    assert!(st == 404 || st == 410, "{st} {r}");
    // peaks remember the busy moment
    assert_eq!(s.feature("VOIP")["peak_7d"], 20);
    // release
    let (_, a2) = acquire(&u, TOK_A, "ASR", 3);
    let id = a2["lease"].as_u64().unwrap();
    let (st, r) = call(&u, TOK_A, "DELETE", &format!("/v1/leases/{id}"), None);
    assert_eq!((st, r["released"].as_u64()), (200, Some(3)));
    assert_eq!(in_use(&s, "ASR"), 0);
}

#[test]
fn sigterm_flushes_and_sigkill_loses_nothing() {
    let fx = Fixture::new();
    let mut s = server(&fx);
    let u = s.url();
    let (_, a) = acquire(&u, TOK_A, "VOIP", 12);
    let lease = a["lease"].as_u64().unwrap();
    assert_eq!(s.terminate(), Some(0), "clean exit on SIGTERM");
    assert!(
        fx.path("std.db.peaks.json").exists(),
        "peaks flushed at shutdown"
    );
    s.restart();
    assert_eq!(in_use(&s, "VOIP"), 12, "lease survived a clean restart");
    assert_eq!(s.feature("VOIP")["peak_30d"], 12);
    let (_, b) = acquire(&s.url(), TOK_B, "VOIP", 10);
    assert_eq!(b["granted"], 8);
    s.restart(); // SIGKILL + start
    assert_eq!(in_use(&s, "VOIP"), 20, "leases survived SIGKILL");
    let (st, _) = call(
        &s.url(),
        TOK_A,
        "POST",
        &format!("/v1/leases/{lease}/renew"),
        None,
    );
    assert_eq!(st, 200);
    let (_, c) = acquire(&s.url(), TOK_B, "VOIP", 1);
    assert_eq!(c["granted"], 0, "nothing over-granted after restart");
}

#[test]
fn the_test_clock_is_off_unless_configured() {
    let fx = Fixture::new();
    let lic = fx.license("lic.toml", "host-1", &[("VOIP", 20)]);
    let cfg = fx.standard_config("std", &lic, "host-1", &[("ir-a", TOK_A)], "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("test_clock = true", "test_clock = false");
    std::fs::write(&cfg, text).unwrap();
    let s = Server::start(&cfg);
    let (st, b) = call(
        &s.url(),
        ADMIN,
        "POST",
        "/v1/admin/test/clock",
        Some(serde_json::json!({"advance_secs": 60})),
    );
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{b}"
    );
    let (_, h) = call(&s.url(), "", "GET", "/health", None);
    assert_eq!(h["test_clock"], false);
}

#[test]
fn bundled_demo_server_and_the_cli_client() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_weblm"))
        .args(["serve", "--listen", "127.0.0.1:0", "--demo-dir"])
        .arg(&demo)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .expect("ready line")
        .to_string();
    let url = format!("http://{addr}");
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_weblm"))
            .arg("client")
            .args(args)
            .args(["--url", &url])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, out, err) = cli(&[
        "acquire",
        "--feature",
        "VALUE_IR_VOIP_PORTS",
        "--feature-version",
        "5.0",
        "--count",
        "35",
    ]);
    assert!(ok, "{err}");
    let g: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(g["granted"], 20);
    let lease = g["lease"].as_u64().unwrap().to_string();
    let (ok, out, _) = cli(&["usage", "--token", "demo-admin-token"]);
    assert!(ok && out.contains("\"in_use\":20"), "{out}");
    let (ok, _, _) = cli(&["renew", &lease]);
    assert!(ok);
    let (ok, out, _) = cli(&["release", &lease]);
    assert!(ok && out.contains("\"released\":20"), "{out}");
    let (ok, _, err) = cli(&[
        "acquire",
        "--feature",
        "VALUE_IR_VOIP_PORTS",
        "--feature-version",
        "5.0",
        "--count",
        "-1",
    ]);
    assert!(!ok && err.contains("bad_count"), "{err}");
    assert!(
        demo.join("state/ledger.db").exists(),
        "SQLite state in the demo folder"
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let st = child.wait().unwrap();
    assert!(st.success(), "{st:?}");
    // A second run reuses the folder (same license, the lease state kept) on a new address.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_weblm"))
        .args(["serve", "--listen", "127.0.0.1:0", "--demo-dir"])
        .arg(&demo)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.starts_with("listening on 127.0.0.1:"), "{line}");
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
}

#[test]
fn concurrent_clients_over_http_never_get_more_than_entitled() {
    let fx = Fixture::new();
    let s = server(&fx);
    let u = s.url();
    let granted: u64 = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..8)
            .map(|i| {
                let u = u.clone();
                sc.spawn(move || {
                    let tok = if i % 2 == 0 { TOK_A } else { TOK_B };
                    (0..25)
                        .map(|_| acquire(&u, tok, "VOIP", 3).1["granted"].as_u64().unwrap())
                        .sum::<u64>()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(
        granted, 20,
        "exactly the entitlement was handed out, no more"
    );
    assert_eq!(in_use(&s, "VOIP"), 20);
}
