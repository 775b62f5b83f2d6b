//! The IR client (weblm_core::client) against real `weblm serve` processes: Primary +
//! Secondary (35 = 20 + 15), an unreachable Primary, SIGKILL + restart, SIGSTOP (partition),
//! Grace → Restricted → Normal through 30 days of a manual clock, NVRAM across restarts.

mod common;
use common::*;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weblm_core::client::{Client, ClientConfig, Endpoint, Mode, Which};
use weblm_core::clock::{Clock, ManualClock, Timestamp};

const TOK: &str = "token-ir-01";
const F: &str = "VALUE_IR_VOIP_PORTS";

struct Pair {
    fx: Fixture,
    primary: Server,
    secondary: Server,
}

fn pair() -> Pair {
    let fx = Fixture::new();
    let l1 = fx.license("p.toml", "primary-host", &[(F, 20)]);
    let l2 = fx.license("s.toml", "secondary-host", &[(F, 40)]);
    let c1 = fx.standard_config("primary", &l1, "primary-host", &[("ir-01", TOK)], "");
    let c2 = fx.standard_config("secondary", &l2, "secondary-host", &[("ir-01", TOK)], "");
    Pair {
        primary: Server::start(&c1),
        secondary: Server::start(&c2),
        fx,
    }
}

fn config(
    primary: String,
    secondary: Option<String>,
    nvram: std::path::PathBuf,
    wanted: u32,
) -> ClientConfig {
    let mut c = ClientConfig::new(
        "ir-01",
        Endpoint::Http {
            url: primary,
            token: TOK.into(),
        },
        nvram,
    )
    .want(F, "5.0", wanted);
    c.secondary = secondary.map(|url| Endpoint::Http {
        url,
        token: TOK.into(),
    });
    c.background = false;
    c.request_timeout = Duration::from_millis(800);
    c.retry_secs = 30;
    c.features[0].restricted_floor = 2;
    c
}

fn held_at(client: &Client, which: Which) -> u32 {
    client.status().features[0]
        .leases
        .iter()
        .filter(|l| l.server == which)
        .map(|l| l.count)
        .sum()
}

#[test]
fn thirty_five_wanted_twenty_at_primary_fifteen_at_secondary() {
    let p = pair();
    let clock = Arc::new(ManualClock::new(t0()));
    let c = Client::start(
        config(
            p.primary.url(),
            Some(p.secondary.url()),
            p.fx.path("nv"),
            35,
        ),
        clock,
    )
    .unwrap();
    assert_eq!(c.held(F, "5.0"), 35);
    assert_eq!(held_at(&c, Which::Primary), 20);
    assert_eq!(held_at(&c, Which::Secondary), 15);
    assert_eq!(c.mode(), Mode::Normal);
    assert_eq!(p.primary.feature(F)["in_use"], 20);
    assert_eq!(p.secondary.feature(F)["in_use"], 15);
    assert_eq!(c.status().features[0].recorded, 35);
    c.close();
    assert_eq!(p.primary.feature(F)["in_use"], 0, "released on close");
    assert_eq!(p.secondary.feature(F)["in_use"], 0);
}

#[test]
fn unreachable_primary_sends_everything_to_the_secondary() {
    let p = pair();
    // a port nobody listens on
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let c = Client::start(
        config(dead, Some(p.secondary.url()), p.fx.path("nv"), 35),
        Arc::new(ManualClock::new(t0())),
    )
    .unwrap();
    assert_eq!(held_at(&c, Which::Secondary), 35);
    assert!(c.status().last_error.unwrap().contains("unreachable"));
}

#[test]
fn renewals_at_80_percent_and_kill_restart_of_the_primary() {
    let mut p = pair();
    let clock = Arc::new(ManualClock::new(t0()));
    let c = Client::start(
        config(
            p.primary.url(),
            Some(p.secondary.url()),
            p.fx.path("nv"),
            35,
        ),
        clock.clone(),
    )
    .unwrap();
    let lease0 = c.status().features[0].leases[0].clone();
    assert_eq!(
        lease0.renew_due,
        t0().plus_secs(480),
        "renew at 80 % of 600 s"
    );
    // Before 80 %: nothing renewed.
    clock.advance_secs(479);
    p.primary.advance(479);
    p.secondary.advance(479);
    c.tick();
    assert_eq!(
        c.status().features[0].leases[0].expires_at,
        lease0.expires_at
    );
    clock.advance_secs(1);
    p.primary.advance(1);
    p.secondary.advance(1);
    c.tick();
    assert_eq!(
        c.status().features[0].leases[0].expires_at,
        t0().plus_secs(480 + 600)
    );
    // SIGKILL the primary: renewals fail, the lease still counts until it would expire.
    p.primary.kill();
    clock.advance_secs(480);
    p.secondary.advance(480);
    c.tick();
    assert_eq!(c.held(F, "5.0"), 35, "held until the server-side expiry");
    assert_eq!(c.mode(), Mode::Normal);
    // Restart before expiry: the lease was persisted, renewal works again.
    p.primary.restart();
    clock.advance_secs(30);
    p.primary.set_to(clock.now());
    p.secondary.set_to(clock.now());
    c.tick();
    assert_eq!(c.held(F, "5.0"), 35);
    assert_eq!(p.primary.feature(F)["in_use"], 20);
    assert_eq!(c.mode(), Mode::Normal);
}

#[test]
fn a_stopped_server_makes_requests_time_out_not_hang() {
    let p = pair();
    let clock = Arc::new(ManualClock::new(t0()));
    let c = Client::start(
        config(
            p.primary.url(),
            Some(p.secondary.url()),
            p.fx.path("nv"),
            35,
        ),
        clock.clone(),
    )
    .unwrap();
    p.primary.signal(libc::SIGSTOP);
    clock.advance_secs(480);
    let t = Instant::now();
    std::thread::scope(|s| {
        let cycle = s.spawn(|| c.tick());
        // While the cycle waits for the stopped primary, queries answer at once.
        std::thread::sleep(Duration::from_millis(200));
        let q = Instant::now();
        assert_eq!(c.mode(), Mode::Normal);
        assert_eq!(c.capacity(F, "5.0"), 35);
        assert!(
            q.elapsed() < Duration::from_millis(100),
            "query took {:?}",
            q.elapsed()
        );
        cycle.join().unwrap();
    });
    // one renewal and nothing else hits the stopped primary: bounded by its timeout
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "tick took {:?}",
        t.elapsed()
    );
    assert!(c.status().last_error.unwrap().contains("unreachable"));
    assert_eq!(c.held(F, "5.0"), 35);
    p.primary.signal(libc::SIGCONT);
}

#[test]
fn grace_then_restricted_then_normal_with_callbacks_and_nvram() {
    let mut p = pair();
    let clock = Arc::new(ManualClock::new(t0()));
    let nv = p.fx.path("nv");
    let changes = Arc::new(Mutex::new(Vec::new()));
    let c = Client::start(
        config(p.primary.url(), Some(p.secondary.url()), nv.clone(), 35),
        clock.clone(),
    )
    .unwrap();
    let ch = changes.clone();
    c.on_mode_change(move |m| ch.lock().unwrap().push((m.from, m.to)));
    assert_eq!(c.status().features[0].recorded, 35);
    // The secondary dies; after its lease expires the client holds 20 of 35 recorded.
    p.secondary.kill();
    clock.advance_secs(601);
    p.primary.advance(601);
    c.tick();
    assert_eq!(c.held(F, "5.0"), 20);
    assert_eq!(c.mode(), Mode::Grace);
    assert_eq!(c.capacity(F, "5.0"), 35, "grace keeps the recorded count");
    let grace_started = c.status().grace_started.unwrap();
    // The client restarts during grace: the grace clock survives in NVRAM.
    c.close();
    let c = Client::start(
        config(p.primary.url(), Some(p.secondary.url()), nv.clone(), 35),
        clock.clone(),
    )
    .unwrap();
    let ch = changes.clone();
    c.on_mode_change(move |m| ch.lock().unwrap().push((m.from, m.to)));
    assert_eq!(c.mode(), Mode::Grace);
    assert_eq!(c.status().grace_started, Some(grace_started));
    assert_eq!(c.status().features[0].recorded, 35);
    // 30 days of silence from the secondary, renewing at the primary all along.
    for _ in 0..(30 * 24) {
        clock.advance_secs(3600);
        p.primary.advance(3600);
        c.tick();
        if c.mode() == Mode::Restricted {
            break;
        }
    }
    assert_eq!(c.mode(), Mode::Restricted);
    assert!(clock.now() >= grace_started.plus_days(30));
    assert!(clock.now() < grace_started.plus_days(30).plus_secs(3601));
    assert_eq!(c.held(F, "5.0"), 20, "primary leases renewed all month");
    assert_eq!(c.capacity(F, "5.0"), 22, "held + floor of 2");
    // The secondary comes back: Normal at once.
    p.secondary.restart();
    clock.advance_secs(30);
    p.secondary.set_to(clock.now());
    p.primary.set_to(clock.now());
    c.tick();
    assert_eq!(c.held(F, "5.0"), 35);
    assert_eq!(c.mode(), Mode::Normal);
    assert_eq!(c.status().grace_started, None);
    let seen = changes.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            (Mode::Normal, Mode::Grace),
            (Mode::Grace, Mode::Restricted),
            (Mode::Restricted, Mode::Normal)
        ]
    );
}

#[test]
fn high_water_record_and_tampered_nvram() {
    let p = pair();
    let clock = Arc::new(ManualClock::new(t0()));
    let nv = p.fx.path("nv");
    // Only the primary: 20 of 30 configured; first start records 20.
    let c = Client::start(config(p.primary.url(), None, nv.clone(), 30), clock.clone()).unwrap();
    assert_eq!(c.status().features[0].recorded, 20);
    assert_eq!(c.mode(), Mode::Normal);
    c.close();
    // Another client takes 5: now only 15 available; the record stays 20 → grace.
    let (_, g) = acquire(&p.primary.url(), TOK, F, 5);
    assert_eq!(g["granted"], 5);
    let c = Client::start(config(p.primary.url(), None, nv.clone(), 30), clock.clone()).unwrap();
    assert_eq!(c.held(F, "5.0"), 15);
    assert_eq!(c.status().features[0].recorded, 20);
    assert_eq!(c.mode(), Mode::Grace);
    c.close();
    // Tamper with the NVRAM: Restricted with the reason, capacity = held + floor.
    let text = std::fs::read_to_string(&nv).unwrap();
    std::fs::write(&nv, text.replace("\"recorded\":20", "\"recorded\":30")).unwrap();
    let c = Client::start(config(p.primary.url(), None, nv.clone(), 30), clock.clone()).unwrap();
    assert_eq!(c.mode(), Mode::Restricted);
    let st = c.status();
    assert!(st.reason.contains("tampered"), "{}", st.reason);
    assert_eq!(st.features[0].capacity, 15 + 2);
    c.close();
    // Garbage NVRAM (truncated): same.
    std::fs::write(&nv, "{\"format\":1,").unwrap();
    let c = Client::start(config(p.primary.url(), None, nv.clone(), 30), clock.clone()).unwrap();
    assert_eq!(c.mode(), Mode::Restricted);
    assert!(
        c.status().reason.contains("corrupt"),
        "{}",
        c.status().reason
    );
}

#[test]
fn a_server_answering_garbage_is_an_error_not_a_crash() {
    let fx = Fixture::new();
    // A fake "server" that answers HTTP 200 with non-JSON to everything.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for s in l.incoming().take(8) {
            let Ok(mut s) = s else { continue };
            use std::io::{Read, Write};
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot json!",
            );
        }
    });
    let c = Client::start(
        config(url, None, fx.path("nv"), 5),
        Arc::new(ManualClock::new(t0())),
    )
    .unwrap();
    assert_eq!(c.held(F, "5.0"), 0);
    assert!(c.status().last_error.unwrap().contains("garbage"));
    assert_eq!(
        c.mode(),
        Mode::Normal,
        "first start: record 0, nothing to be short of"
    );
    let _ = Timestamp(0);
}
