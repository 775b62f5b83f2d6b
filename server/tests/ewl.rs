//! Enterprise Wide Licensing with real processes: a master (30 purchased) and two locals
//! (allocations 10 and 8), three IR clients. Borrowing, giving back, admin re-allocation, a
//! partition (SIGSTOP) with alerts, a dead local (SIGKILL) and a dead IR client through 30+ days
//! of test-clock silence: reclaim and redistribution. After every step: nothing over-granted.

mod common;
use common::*;

use std::sync::Arc;
use std::time::Duration;

use weblm_core::client::{Client, ClientConfig, Endpoint, Which};
use weblm_core::clock::{Clock, ManualClock, Timestamp};

const F: &str = "VALUE_IR_VOIP_PORTS";
const PURCHASED: u64 = 30;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn local_config(
    fx: &Fixture,
    name: &str,
    master_url: &str,
    master_pub: &std::path::Path,
) -> std::path::PathBuf {
    let t = format!(
        "listen = \"127.0.0.1:0\"\nrole = \"local\"\nstate_db = {:?}\nadmin_token = \"{ADMIN}\"\n\
         test_clock = true\ntest_clock_start = \"{T0}\"\nlog = \"warn\"\n\
         [[clients]]\nid = \"ir-1\"\ntoken = \"tok-ir-1\"\n\
         [[clients]]\nid = \"ir-2\"\ntoken = \"tok-ir-2\"\n\
         [local]\nname = \"{name}\"\nmaster_url = \"{master_url}\"\nmaster_token = \"tok-{name}\"\n\
         master_public_key = {master_pub:?}\npush_token = \"push-{name}\"\nreturn_every_secs = 1\n",
        fx.path(&format!("{name}.db")),
    );
    let p = fx.path(&format!("{name}.toml"));
    std::fs::write(&p, t).unwrap();
    p
}

fn master_config(
    fx: &Fixture,
    port: u16,
    a_url: &str,
    b_url: &str,
    signing: &std::path::Path,
) -> std::path::PathBuf {
    let lic = fx.license("enterprise.toml", "master-host", &[(F, PURCHASED as u32)]);
    let t = format!(
        "listen = \"127.0.0.1:{port}\"\nrole = \"master\"\nlicense = {lic:?}\n\
         vendor_public_key = {:?}\nhost_id = \"master-host\"\nstate_db = {:?}\n\
         admin_token = \"{ADMIN}\"\ntest_clock = true\ntest_clock_start = \"{T0}\"\nlog = \"warn\"\n\
         [[clients]]\nid = \"site-a\"\ntoken = \"tok-site-a\"\n\
         [[clients]]\nid = \"site-b\"\ntoken = \"tok-site-b\"\n\
         [[clients]]\nid = \"ir-1\"\ntoken = \"tok-ir-1\"\n\
         [[clients]]\nid = \"ir-2\"\ntoken = \"tok-ir-2\"\n\
         [[clients]]\nid = \"ir-3\"\ntoken = \"tok-ir-3\"\n\
         [master]\nsigning_key = {signing:?}\nretry_secs = 60\nalert_after_failures = 2\n\
         [[master.locals]]\nname = \"site-a\"\nurl = \"{a_url}\"\npush_token = \"push-site-a\"\n\
         allocation = [{{ feature = \"{F}\", version = \"5.0\", count = 10 }}]\n\
         [[master.locals]]\nname = \"site-b\"\nurl = \"{b_url}\"\npush_token = \"push-site-b\"\n\
         allocation = [{{ feature = \"{F}\", version = \"5.0\", count = 8 }}]\n",
        fx.path("vendor.pub"),
        fx.path("master.db"),
    );
    let p = fx.path("master.toml");
    std::fs::write(&p, t).unwrap();
    p
}

fn client(
    id: &str,
    primary: &str,
    secondary: Option<&str>,
    wanted: u32,
    fx: &Fixture,
    clock: &Arc<ManualClock>,
) -> Client {
    let tok = format!("tok-{id}");
    let mut c = ClientConfig::new(
        id,
        Endpoint::Http {
            url: primary.into(),
            token: tok.clone(),
        },
        fx.path(&format!("{id}.nv")),
    )
    .want(F, "5.0", wanted);
    c.secondary = secondary.map(|u| Endpoint::Http {
        url: u.into(),
        token: tok.clone(),
    });
    c.background = false;
    c.request_timeout = Duration::from_secs(2);
    Client::start(c, clock.clone()).unwrap()
}

fn n(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// The enterprise invariant, from the servers' own reports: every local grants at most its
/// allocation, no allocation exceeds what the master reserves for it, and licenses in use at
/// the locals plus floating licenses in use at the master never exceed those purchased.
fn check_enterprise(master: &Server, locals: &[(&str, &Server)]) {
    let m = master.feature(F);
    let mut used = n(&m["floating_in_use"]);
    assert!(n(&m["in_use"]) <= PURCHASED, "master over-granted: {m}");
    for (name, s) in locals {
        if s.child.is_none() {
            continue;
        }
        let l = s.feature(F);
        if l.is_null() {
            continue;
        }
        assert!(
            n(&l["in_use"]) <= n(&l["allocated"]),
            "{name} over its allocation: {l}"
        );
        assert!(
            n(&l["allocated"]) <= n(&m["locals"][name]),
            "{name} holds an allocation of {} but the master reserves {} for it",
            l["allocated"],
            m["locals"][name]
        );
        used += n(&l["in_use"]);
    }
    assert!(
        used <= PURCHASED,
        "enterprise in use {used} > purchased {PURCHASED}"
    );
}

fn locals<'a>(a: &'a Server, b: &'a Server) -> [(&'static str, &'a Server); 2] {
    [("site-a", a), ("site-b", b)]
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..100 {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for: {what}");
}

#[test]
fn master_two_locals_three_clients() {
    let fx = Fixture::new();
    let (signing, public) = fx.master_keys();
    let port = free_port();
    let master_url = format!("http://127.0.0.1:{port}");
    let a = Server::start(&local_config(&fx, "site-a", &master_url, &public));
    let mut b = Server::start(&local_config(&fx, "site-b", &master_url, &public));
    let master = Server::start(&master_config(&fx, port, &a.url(), &b.url(), &signing));
    let clock = Arc::new(ManualClock::new(t0()));

    // 1. The master pushes each local its allocation.
    wait_until("allocations installed", || {
        a.feature(F)["allocated"] == 10 && b.feature(F)["allocated"] == 8
    });
    let m = master.feature(F);
    assert_eq!(
        (n(&m["allocated_to_locals"]), n(&m["floating_free"])),
        (18, 12),
        "{m}"
    );
    check_enterprise(&master, &locals(&a, &b));

    // 2. ir-1 wants 14 at site-a: the local borrows 4 floating licenses from the master.
    let ir1 = client("ir-1", &a.url(), Some(&master.url()), 14, &fx, &clock);
    assert_eq!(ir1.held(F, "5.0"), 14);
    let la = a.feature(F);
    assert_eq!(
        (n(&la["allocated"]), n(&la["borrowed"]), n(&la["base"])),
        (14, 4, 10),
        "{la}"
    );
    assert_eq!(n(&master.feature(F)["floating_free"]), 8);
    check_enterprise(&master, &locals(&a, &b));

    // 3. ir-2 wants 12 at site-b (8 + 4 borrowed).
    let ir2 = client("ir-2", &b.url(), Some(&master.url()), 12, &fx, &clock);
    assert_eq!(ir2.held(F, "5.0"), 12);
    check_enterprise(&master, &locals(&a, &b));

    // 4. ir-3 goes to the master directly and gets what is left: 4 of 10.
    let ir3 = {
        let mut c = ClientConfig::new(
            "ir-3",
            Endpoint::Http {
                url: master.url(),
                token: "tok-ir-3".into(),
            },
            fx.path("ir-3.nv"),
        )
        .want(F, "5.0", 10);
        c.background = false;
        c.release_on_close = false; // it will die without releasing
        Client::start(c, clock.clone()).unwrap()
    };
    assert_eq!(ir3.held(F, "5.0"), 4);
    // The master reserves them for 30 days, but the client counts them only for one lease
    // lifetime after its last contact: a client that cannot renew notices (Grace) in time.
    assert_eq!(
        ir3.status().features[0].leases[0].expires_at,
        clock.now().plus_secs(600)
    );
    let (_, who) = call(&master.url(), ADMIN, "GET", "/v1/leases", None);
    let ir3_lease = who["leases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["client"] == "ir-3")
        .cloned()
        .unwrap();
    let reserved: Timestamp = serde_json::from_value(ir3_lease["expires_at"].clone()).unwrap();
    assert_eq!(reserved, master.now().plus_secs(30 * Timestamp::DAY));
    assert_eq!(n(&master.feature(F)["floating_free"]), 0);
    check_enterprise(&master, &locals(&a, &b));
    // Nothing is left anywhere: a fourth request gets 0 from site-a, even after borrowing.
    let (_, g) = acquire(&a.url(), "tok-ir-2", F, 1);
    assert_eq!(g["granted"], 0, "{g}");
    check_enterprise(&master, &locals(&a, &b));

    // 5. ir-1 closes: site-a gives its 4 borrowed licenses back on its own.
    ir1.close();
    wait_until("site-a returns borrowed licenses", || {
        n(&master.feature(F)["locals"]["site-a"]) == 10
    });
    assert_eq!(n(&a.feature(F)["borrowed"]), 0);
    assert_eq!(n(&master.feature(F)["floating_free"]), 4);
    check_enterprise(&master, &locals(&a, &b));

    // 6. The admin gives site-a 2 more, then takes 6 unused back.
    let set = |count: i64| {
        call(
            &master.url(),
            ADMIN,
            "POST",
            "/v1/admin/ewl/allocation",
            Some(
                serde_json::json!({"local": "site-a", "feature": F, "version": "5.0", "count": count}),
            ),
        )
    };
    let (st, r) = set(12);
    assert_eq!(st, 200, "{r}");
    assert_eq!(n(&a.feature(F)["allocated"]), 12);
    assert_eq!(n(&master.feature(F)["locals"]["site-a"]), 12);
    check_enterprise(&master, &locals(&a, &b));
    let (st, r) = set(6);
    assert_eq!(st, 200, "{r}");
    assert_eq!(n(&a.feature(F)["allocated"]), 6);
    assert_eq!(n(&master.feature(F)["locals"]["site-a"]), 6);
    assert_eq!(n(&master.feature(F)["floating_free"]), 8);
    check_enterprise(&master, &locals(&a, &b));
    // A reduction below what is in use is refused by the local and the master keeps the lease.
    let (_, g) = acquire(&a.url(), "tok-ir-1", F, 6);
    assert_eq!(g["granted"], 6);
    let (st, _) = set(2);
    assert_eq!(st, 200);
    assert_eq!(
        n(&a.feature(F)["allocated"]),
        6,
        "local refused to drop below its in-use count"
    );
    assert_eq!(n(&master.feature(F)["locals"]["site-a"]), 6);
    check_enterprise(&master, &locals(&a, &b));
    let lease = g["lease"].as_u64().unwrap();
    call(
        &a.url(),
        "tok-ir-1",
        "DELETE",
        &format!("/v1/leases/{lease}"),
        None,
    );
    let (st, _) = set(6);
    assert_eq!(st, 200);
    assert_eq!(n(&a.feature(F)["allocated"]), 6);
    assert_eq!(n(&master.feature(F)["locals"]["site-a"]), 6);
    check_enterprise(&master, &locals(&a, &b));

    // 7. Partition: site-b stops. After 7 days the master's re-send fails, is retried, alerts.
    b.signal(libc::SIGSTOP);
    master.advance(7 * Timestamp::DAY + 10);
    master.advance(61);
    let (_, h) = call(&master.url(), "", "GET", "/health", None);
    let alerts = h["alerts"].to_string();
    assert!(alerts.contains("site-b"), "alert raised: {h}");
    b.signal(libc::SIGCONT);
    b.advance(7 * Timestamp::DAY + 10 + 61 + 61);
    a.advance(7 * Timestamp::DAY + 10 + 61 + 61);
    master.advance(61);
    let (_, h) = call(&master.url(), "", "GET", "/health", None);
    assert!(
        !h["alerts"].to_string().contains("site-b"),
        "alert cleared after delivery: {h}"
    );
    check_enterprise(&master, &locals(&a, &b));

    // 8. site-b dies for good, ir-3 dies without releasing. 30+ days of silence.
    b.kill();
    drop(ir3);
    let ir2_direct_before = {
        let (_, g) = acquire(&master.url(), "tok-ir-2", F, 30);
        g
    };
    // ir-3's 4 are still reserved for it: only the 8 floating ones (30 - 6 - 8 - ir-2's 4 borrowed... ) are free
    let free_before = n(&ir2_direct_before["granted"]);
    if let Some(l) = ir2_direct_before["lease"].as_u64() {
        call(
            &master.url(),
            "tok-ir-2",
            "DELETE",
            &format!("/v1/leases/{l}"),
            None,
        );
    }
    let mut reclaimed_ir3_at = None;
    let mut lapsed_b_at = None;
    for day in 1..=34 {
        master.advance(Timestamp::DAY);
        a.advance(Timestamp::DAY);
        clock.advance_days(1);
        let m = master.feature(F);
        let since_t0 = master.now().0 - t0().0;
        if reclaimed_ir3_at.is_none() && n(&m["floating_in_use"]) == 0 {
            reclaimed_ir3_at = Some(since_t0);
        }
        if lapsed_b_at.is_none() && m["locals"].get("site-b").is_none() {
            lapsed_b_at = Some(since_t0);
        }
        check_enterprise(&master, &locals(&a, &b));
        // site-a keeps its allocation: the master re-sends it every 7 days.
        assert_eq!(
            n(&a.feature(F)["allocated"]),
            6,
            "day {day}: {}",
            a.feature(F)
        );
    }
    // ir-3 last renewed at t0: reclaimed within a day after t0 + 30 days (daily steps).
    let reclaimed = reclaimed_ir3_at.expect("ir-3's reservation reclaimed");
    assert!(
        (30 * Timestamp::DAY..31 * Timestamp::DAY).contains(&reclaimed),
        "reclaimed at t0 + {reclaimed} s"
    );
    // site-b's last file went out at ~t0 + 7 days, valid 30 days (to a day boundary), plus the
    // master's 1-day margin: it lapses between t0 + 37 and t0 + 39 days, not before.
    let lapsed = lapsed_b_at.expect("site-b's allocation lapsed");
    assert!(
        (37 * Timestamp::DAY..=39 * Timestamp::DAY).contains(&lapsed),
        "site-b lapsed at t0 + {lapsed} s"
    );
    // 9. Redistribution: everything but site-a's 6 is floating again and goes to whoever asks.
    let (_, g) = acquire(&master.url(), "tok-ir-2", F, 30);
    assert_eq!(
        n(&g["granted"]),
        PURCHASED - 6,
        "free before the silence: {free_before}"
    );
    assert!(n(&g["granted"]) > free_before);
    check_enterprise(&master, &locals(&a, &b));
    let _ = (ir2, Which::Primary, clock.now());
}

#[test]
fn a_local_killed_and_restarted_keeps_its_allocation_and_leases() {
    let fx = Fixture::new();
    let (signing, public) = fx.master_keys();
    let port = free_port();
    let master_url = format!("http://127.0.0.1:{port}");
    let mut a = Server::start(&local_config(&fx, "site-a", &master_url, &public));
    let dead_b = format!("http://127.0.0.1:{}", free_port());
    let master = Server::start(&master_config(&fx, port, &a.url(), &dead_b, &signing));
    wait_until("allocation installed", || a.feature(F)["allocated"] == 10);
    let (_, g) = acquire(&a.url(), "tok-ir-1", F, 6);
    assert_eq!(g["granted"], 6);
    let lease = g["lease"].as_u64().unwrap();
    a.restart();
    let l = a.feature(F);
    assert_eq!((n(&l["allocated"]), n(&l["in_use"])), (10, 6), "{l}");
    let (st, _) = call(
        &a.url(),
        "tok-ir-1",
        "POST",
        &format!("/v1/leases/{lease}/renew"),
        None,
    );
    assert_eq!(st, 200);
    // the unreachable site-b is retried and alerted, its allocation stays reserved for now
    master.advance(61);
    master.advance(61);
    let (_, h) = call(&master.url(), "", "GET", "/health", None);
    assert!(h["alerts"].to_string().contains("site-b"), "{h}");
    assert_eq!(n(&master.feature(F)["locals"]["site-b"]), 8);
    check_enterprise(&master, &[("site-a", &a)]);
    // and the master itself survives SIGKILL with its allocations
    let mut master = master;
    master.restart();
    let m = master.feature(F);
    assert_eq!(
        (n(&m["locals"]["site-a"]), n(&m["locals"]["site-b"])),
        (10, 8),
        "{m}"
    );
    check_enterprise(&master, &[("site-a", &a)]);
}

#[test]
fn a_restarted_ir_client_gets_its_reservation_back_others_do_not() {
    let fx = Fixture::new();
    let (signing, _public) = fx.master_keys();
    let port = free_port();
    // Two configured locals that never answer: only the floating pool (30 - 10 - 8 = 12) matters.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let master = Server::start(&master_config(&fx, port, &dead, &dead, &signing));
    let u = master.url();
    let (_, g1) = acquire(&u, "tok-ir-1", F, 5);
    assert_eq!(g1["granted"], 5);
    // ir-1 dies without releasing. Ten minutes later its 5 are still reserved for it.
    master.advance(700);
    assert_eq!(n(&master.feature(F)["reserved_idle"]), 5);
    let (_, g2) = acquire(&u, "tok-ir-2", F, 12);
    assert_eq!(g2["granted"], 7, "ir-1's 5 stay reserved");
    // ir-1 comes back and asks again: its idle reservation is handed back first.
    let (_, g3) = acquire(&u, "tok-ir-1", F, 5);
    assert_eq!(g3["granted"], 5, "{g3}");
    let (_, who) = call(&u, ADMIN, "GET", "/v1/leases", None);
    let ir1: Vec<_> = who["leases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["client"] == "ir-1")
        .collect();
    assert_eq!(
        ir1.len(),
        1,
        "the old reservation was replaced, not doubled: {who}"
    );
    assert!(n(&master.feature(F)["in_use"]) <= PURCHASED);
}
