//! The lease ledger: grants, renewals, expiry, live entitlement changes, trials, clock
//! rollback, persistence, a concurrent stress test and a SIGKILL crash test.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use chrono::NaiveDate;
use weblm_core::clock::{ManualClock, SystemClock, Timestamp};
use weblm_core::codes::{
    CodeInput, CodeKind, Entitlement, LicenseCode, ResolveCodes, ResolveContext, Term,
};
use weblm_core::ledger::*;
use weblm_core::license::*;

const F: &str = "VALUE_IR_VOIP_PORTS";
const V: &str = "5.0";

fn day(d: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 1).unwrap() + chrono::Days::new(d)
}

fn code(count: u32) -> LicenseCode {
    LicenseCode::permanent(F, V, count, CodeKind::Additive, day(0))
}

struct Vendor {
    key: SigningKey,
    file: LicenseFile,
}

impl Vendor {
    fn new(codes: Vec<LicenseCode>) -> Self {
        let key = generate_key().unwrap();
        let mut file = LicenseFile::issue(
            LicenseContent::new("Acme", "IR", "5.0", "ir-01", day(0)),
            &key,
        )
        .unwrap();
        for c in codes {
            file.add_code(c, &key).unwrap();
        }
        Vendor { key, file }
    }
    fn add(&mut self, c: LicenseCode) {
        self.file.add_code(c, &self.key).unwrap();
    }
    fn license(&self) -> VerifiedLicense {
        self.file
            .clone()
            .verify(&self.key.verifying_key(), &Expect::host("ir-01"))
            .unwrap()
    }
}

fn clock_at(d: u64) -> ManualClock {
    ManualClock::new(Timestamp::from_date(day(d)).plus_secs(3600))
}

#[test]
fn partial_grants_release_and_usage() {
    let v = Vendor::new(vec![code(20)]);
    let l = Ledger::in_memory(&v.license(), Arc::new(clock_at(1)), LedgerConfig::default());
    let g = l.acquire("ir-a", F, V, 35).unwrap();
    assert_eq!((g.granted, g.wanted), (20, 35));
    let none = l.acquire("ir-b", F, V, 1).unwrap();
    assert_eq!((none.granted, none.lease), (0, None));
    let u = l.usage(F, V).unwrap();
    assert_eq!(
        (u.entitled, u.in_use, u.available, u.leases),
        (20, 20, 0, 1)
    );
    assert_eq!(l.release(g.lease.unwrap()).unwrap(), 20);
    assert_eq!(l.usage(F, V).unwrap().available, 20);
    assert!(matches!(
        l.release(g.lease.unwrap()),
        Err(LedgerError::UnknownLease(_))
    ));
}

#[test]
fn bad_requests_are_named() {
    let v = Vendor::new(vec![code(5)]);
    let l = Ledger::in_memory(&v.license(), Arc::new(clock_at(1)), LedgerConfig::default());
    assert!(matches!(
        l.acquire("c", F, V, 0),
        Err(LedgerError::InvalidRequest(_))
    ));
    assert!(matches!(
        l.acquire("", F, V, 1),
        Err(LedgerError::InvalidRequest(_))
    ));
    let e = l.acquire("c", "NOPE", V, 1).unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown feature NOPE 5.0: no license code names it"
    );
    assert!(matches!(
        l.renew(12345),
        Err(LedgerError::UnknownLease(12345))
    ));
    assert!(matches!(
        l.release(u64::MAX),
        Err(LedgerError::UnknownLease(_))
    ));
}

#[test]
fn unrenewed_leases_expire_and_renewed_ones_live_on() {
    let v = Vendor::new(vec![code(10)]);
    let clock = clock_at(1);
    let cfg = LedgerConfig {
        lease_lifetime_secs: 600,
        ..Default::default()
    };
    let l = Ledger::in_memory(&v.license(), Arc::new(clock.clone()), cfg);
    let a = l.acquire("a", F, V, 4).unwrap().lease.unwrap();
    let b = l.acquire("b", F, V, 6).unwrap().lease.unwrap();
    clock.advance_secs(480); // 80 %: the client renews b only
    let exp = l.renew(b).unwrap();
    assert_eq!(exp, clock_at(1).now_plus(480 + 600));
    clock.advance_secs(200); // a is 680 s old: expired
    assert_eq!(
        l.acquire("c", F, V, 4).unwrap().granted,
        4,
        "a's licenses went back to the pool"
    );
    assert!(matches!(l.renew(a), Err(LedgerError::UnknownLease(_))));
    clock.advance_secs(500); // b renewed at 480, expires at 1080; now 1180
    match l.renew(b) {
        Err(LedgerError::LeaseExpired { id, .. }) => assert_eq!(id, b),
        other => panic!("expected LeaseExpired, got {other:?}"),
    }
    assert_eq!(l.usage(F, V).unwrap().in_use, 4);
    l.expire().unwrap();
}

trait NowPlus {
    fn now_plus(&self, secs: i64) -> Timestamp;
}
impl NowPlus for ManualClock {
    fn now_plus(&self, secs: i64) -> Timestamp {
        use weblm_core::clock::Clock;
        self.now().plus_secs(secs)
    }
}

#[test]
fn a_code_added_takes_effect_without_restart() {
    let mut v = Vendor::new(vec![code(5)]);
    let l = Ledger::in_memory(&v.license(), Arc::new(clock_at(1)), LedgerConfig::default());
    assert_eq!(l.acquire("a", F, V, 8).unwrap().granted, 5);
    v.add(code(2));
    l.reload(&v.license()).unwrap();
    assert_eq!(l.acquire("a", F, V, 8).unwrap().granted, 2);
    // A brand-new feature in the new file is served too.
    let mut other = code(3);
    other.feature = "ASR".into();
    v.add(other);
    l.reload(&v.license()).unwrap();
    assert_eq!(l.acquire("a", "ASR", V, 8).unwrap().granted, 3);
}

#[test]
fn an_expiring_code_takes_effect_and_usage_above_entitlement_blocks_new_grants() {
    let mut dated = code(10);
    dated.term = Term::Until;
    dated.end = Some(day(10));
    let v = Vendor::new(vec![code(5), dated]);
    let clock = clock_at(1);
    let cfg = LedgerConfig {
        lease_lifetime_secs: 100 * 86_400,
        ..Default::default()
    };
    let l = Ledger::in_memory(&v.license(), Arc::new(clock.clone()), cfg);
    let big = l.acquire("a", F, V, 12).unwrap();
    assert_eq!(big.granted, 12);
    clock.advance_days(10); // the dated code ended: entitlement 5, 12 in use
    let u = l.usage(F, V).unwrap();
    assert_eq!((u.entitled, u.in_use, u.available), (5, 12, 0));
    assert_eq!(
        l.acquire("b", F, V, 1).unwrap().granted,
        0,
        "no grant while usage is above the entitlement"
    );
    l.renew(big.lease.unwrap())
        .expect("existing leases may still be renewed");
    l.release(big.lease.unwrap()).unwrap();
    assert_eq!(l.acquire("b", F, V, 9).unwrap().granted, 5);
}

#[test]
fn trial_runs_from_the_first_grant_and_survives_restart() {
    let mut t = code(8);
    t.term = Term::Trial;
    t.trial_days = Some(30);
    let v = Vendor::new(vec![t]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let clock = clock_at(5);
    {
        let l = Ledger::open(
            &db,
            &v.license(),
            Arc::new(clock.clone()),
            LedgerConfig::default(),
        )
        .unwrap();
        clock.advance_days(20); // unused for 20 days: the trial has not started
        assert_eq!(l.usage(F, V).unwrap().entitled, 8);
        let g = l.acquire("a", F, V, 3).unwrap();
        assert_eq!(g.granted, 3);
        l.release(g.lease.unwrap()).unwrap();
        let (ent, _) = l.entitlement(F, V).unwrap();
        assert_eq!(ent.valid_until, Some(clock_now(&clock).plus_days(30)));
    }
    clock.advance_days(29);
    let l = Ledger::open(
        &db,
        &v.license(),
        Arc::new(clock.clone()),
        LedgerConfig::default(),
    )
    .unwrap();
    assert_eq!(l.usage(F, V).unwrap().entitled, 8);
    clock.advance_days(1);
    assert_eq!(
        l.usage(F, V).unwrap().entitled,
        0,
        "trial ended 30 days after first use"
    );
    assert_eq!(l.acquire("a", F, V, 1).unwrap().granted, 0);
}

fn clock_now(c: &ManualClock) -> Timestamp {
    use weblm_core::clock::Clock;
    c.now()
}

#[test]
fn clock_rollback_refuses_grants_but_allows_release_and_is_remembered_across_restart() {
    let v = Vendor::new(vec![code(5)]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let clock = clock_at(10);
    let l = Ledger::open(
        &db,
        &v.license(),
        Arc::new(clock.clone()),
        LedgerConfig::default(),
    )
    .unwrap();
    let g = l.acquire("a", F, V, 2).unwrap();
    clock.advance_secs(-3600);
    let e = l.acquire("a", F, V, 1).unwrap_err();
    assert!(matches!(e, LedgerError::ClockRollback(_)), "{e}");
    assert!(e.to_string().contains("clock rollback detected"));
    assert!(matches!(
        l.renew(g.lease.unwrap()),
        Err(LedgerError::ClockRollback(_))
    ));
    assert_eq!(l.release(g.lease.unwrap()).unwrap(), 2);
    drop(l);
    let e = Ledger::open(
        &db,
        &v.license(),
        Arc::new(clock.clone()),
        LedgerConfig::default(),
    )
    .unwrap_err();
    assert!(
        matches!(e, LedgerError::ClockRollback(_)),
        "the persisted high-water mark catches it: {e}"
    );
    clock.advance_secs(3600);
    Ledger::open(&db, &v.license(), Arc::new(clock), LedgerConfig::default()).unwrap();
}

#[test]
fn restart_restores_live_leases_drops_expired_ones_and_never_reuses_ids() {
    let v = Vendor::new(vec![code(10)]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let clock = clock_at(1);
    let cfg = LedgerConfig {
        lease_lifetime_secs: 600,
        ..Default::default()
    };
    let (kept, gone, released) = {
        let l = Ledger::open(&db, &v.license(), Arc::new(clock.clone()), cfg.clone()).unwrap();
        let gone = l.acquire("old", F, V, 3).unwrap().lease.unwrap();
        clock.advance_secs(300);
        let kept = l.acquire("new", F, V, 4).unwrap().lease.unwrap();
        let released = l.acquire("x", F, V, 1).unwrap().lease.unwrap();
        l.release(released).unwrap();
        (kept, gone, released)
    };
    clock.advance_secs(400); // "old" expired while the server was down
    let l = Ledger::open(&db, &v.license(), Arc::new(clock.clone()), cfg).unwrap();
    let leases = l.leases().unwrap();
    assert_eq!(leases.iter().map(|x| x.id).collect::<Vec<_>>(), vec![kept]);
    assert_eq!(leases[0].client, "new");
    assert_eq!(l.usage(F, V).unwrap().in_use, 4);
    let fresh = l.acquire("y", F, V, 1).unwrap().lease.unwrap();
    assert!(
        ![kept, gone, released].contains(&fresh),
        "lease ids are never reused"
    );
    l.renew(kept).unwrap();
}

#[test]
fn admin_force_release_frees_one_clients_leases() {
    let v = Vendor::new(vec![code(10)]);
    let l = Ledger::in_memory(&v.license(), Arc::new(clock_at(1)), LedgerConfig::default());
    l.acquire("crashed-ir", F, V, 3).unwrap();
    l.acquire("crashed-ir", F, V, 2).unwrap();
    l.acquire("healthy", F, V, 4).unwrap();
    assert_eq!(l.release_client("crashed-ir").unwrap(), 5);
    let holders: Vec<_> = l.leases().unwrap().into_iter().map(|x| x.client).collect();
    assert_eq!(holders, vec!["healthy"]);
}

/// A policy that claims more than the codes allow.
struct Liar;
impl ResolveCodes for Liar {
    fn name(&self) -> &str {
        "liar"
    }
    fn resolve(&self, codes: &[CodeInput], ctx: &ResolveContext) -> Result<Entitlement, String> {
        let mut e = weblm_core::codes::resolve(codes, ctx);
        e.count = 1_000_000;
        Ok(e)
    }
}

#[test]
fn a_lying_policy_is_overruled_and_named() {
    let v = Vendor::new(vec![code(5)]);
    let l = Ledger::in_memory(&v.license(), Arc::new(clock_at(1)), LedgerConfig::default());
    l.set_policy(Arc::new(Liar)).unwrap();
    assert_eq!(l.acquire("a", F, V, 100).unwrap().granted, 5);
    let (_, fault) = l.entitlement(F, V).unwrap();
    assert!(fault.unwrap().contains("policy liar broke a rule"));
}

#[test]
fn concurrent_stress_never_over_grants() {
    let v = Vendor::new(vec![code(37)]);
    let clock = clock_at(1);
    let cfg = LedgerConfig {
        lease_lifetime_secs: 50,
        ..Default::default()
    };
    let l = Arc::new(Ledger::in_memory(
        &v.license(),
        Arc::new(clock.clone()),
        cfg,
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let violations = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let (l, clock, violations) = (l.clone(), clock.clone(), violations.clone());
            std::thread::spawn(move || {
                let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (t as u64 + 1);
                let mut held: Vec<u64> = Vec::new();
                for _ in 0..4_000 {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    match rng % 10 {
                        0..=4 => {
                            let g = l
                                .acquire(&format!("c{t}"), F, V, (rng >> 8) as u32 % 9 + 1)
                                .unwrap();
                            held.extend(g.lease);
                        }
                        5..=6 if !held.is_empty() => {
                            let id = held.swap_remove((rng >> 8) as usize % held.len());
                            let _ = l.release(id); // may have expired meanwhile
                        }
                        7 if !held.is_empty() => {
                            let _ = l.renew(held[(rng >> 8) as usize % held.len()]);
                        }
                        8 if t == 0 => clock.advance_secs(7),
                        _ => {}
                    }
                    let u = l.usage(F, V).unwrap();
                    if u.in_use > u.entitled as u64 {
                        violations.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    assert_eq!(violations.load(Ordering::Relaxed), 0);
    let u = l.usage(F, V).unwrap();
    let sum: u64 = l.leases().unwrap().iter().map(|x| x.count as u64).sum();
    assert_eq!(u.in_use, sum, "in-use count matches the live leases");
    assert!(sum <= 37);
}

/// Child half of the SIGKILL test: only acts when the parent sets WEBLM_KILL9_DIR.
#[test]
fn kill9_child() {
    let Ok(dir) = std::env::var("WEBLM_KILL9_DIR") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let key =
        decode_verifying_key(&std::fs::read_to_string(dir.join("vendor.pub")).unwrap()).unwrap();
    let lic = load_license(&dir.join("license.toml"), &key, &Expect::host("ir-01")).unwrap();
    let l = Ledger::open(
        &dir.join("state.db"),
        &lic,
        Arc::new(SystemClock),
        LedgerConfig::default(),
    )
    .unwrap();
    let out = std::io::stdout();
    let mut held = Vec::new();
    for i in 0u64.. {
        let g = l
            .acquire(&format!("c{}", i % 5), F, V, (i % 3 + 1) as u32)
            .unwrap();
        if let Some(id) = g.lease {
            writeln!(out.lock(), "G {id} {}", g.granted).unwrap();
            held.push(id);
        } else {
            let id = held.remove((i as usize * 7) % held.len());
            // Announce the release first: a kill between commit and report is then visible.
            writeln!(out.lock(), "r {id}").unwrap();
            l.release(id).unwrap();
            writeln!(out.lock(), "R {id}").unwrap();
        }
    }
}

#[test]
// The child is killed and reaped on every path that returns; a failed unwrap ends the test run.
#[allow(clippy::zombie_processes)]
fn kill9_mid_stream_loses_no_reported_grant_and_over_grants_nothing() {
    let v = Vendor::new(vec![code(40)]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("vendor.pub"),
        encode_verifying_key(&v.key.verifying_key()),
    )
    .unwrap();
    std::fs::write(dir.path().join("license.toml"), v.file.to_toml()).unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "kill9_child", "--nocapture", "--test-threads=1"])
        .env("WEBLM_KILL9_DIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut live: HashMap<u64, u32> = HashMap::new();
    let mut released: HashSet<u64> = HashSet::new();
    let mut releasing: Option<u64> = None;
    let mut events = 0;
    let mut killed = false;
    let mut line = String::new();
    loop {
        if events == 400 && !killed {
            // SIGKILL in the middle of the stream; then read what it printed before dying.
            unsafe_kill9(child.id());
            child.wait().unwrap();
            killed = true;
        }
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            if !killed {
                let status = child.wait().unwrap();
                panic!("child ended early: {status}");
            }
            break;
        }
        let parts: Vec<_> = line.split_whitespace().collect();
        match parts.as_slice() {
            ["G", id, n] => {
                live.insert(id.parse().unwrap(), n.parse().unwrap());
                events += 1;
            }
            ["r", id] => releasing = Some(id.parse().unwrap()),
            ["R", id] => {
                let id: u64 = id.parse().unwrap();
                live.remove(&id);
                released.insert(id);
                events += 1;
            }
            _ => {} // test harness chatter, or a line cut by the kill
        }
    }
    let key = v.key.verifying_key();
    let lic = load_license(
        &dir.path().join("license.toml"),
        &key,
        &Expect::host("ir-01"),
    )
    .unwrap();
    let l = Ledger::open(
        &dir.path().join("state.db"),
        &lic,
        Arc::new(SystemClock),
        LedgerConfig::default(),
    )
    .unwrap();
    let after: HashMap<u64, u32> = l
        .leases()
        .unwrap()
        .into_iter()
        .map(|x| (x.id, x.count))
        .collect();
    for (id, n) in &live {
        if Some(*id) == releasing && !after.contains_key(id) {
            continue; // its release was announced and committed, the kill came before "R"
        }
        assert_eq!(
            after.get(id),
            Some(n),
            "reported grant {id} survived the crash"
        );
    }
    for id in &released {
        assert!(
            !after.contains_key(id),
            "reported release {id} stayed released"
        );
    }
    let u = l.usage(F, V).unwrap();
    assert!(u.in_use <= 40, "in use {} within the entitlement", u.in_use);
    assert!(
        after.len() <= live.len() + 1,
        "at most one unreported operation was in flight"
    );
}

fn unsafe_kill9(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
