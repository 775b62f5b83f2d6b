//! Cisco-style compliance (SPEC §7, seed `002_…`) against a manual clock: free trial (fresh
//! deployment, fail-over), over-use, out-of-date and invalid licenses in one state machine
//! (alerts naming the disable date, 30-day reminders, deactivation after six months, service
//! restored at once), 12-hour synchronization, the daily 02:00 GMT analysis, the durable outbox
//! and the webhook (a loopback HTTP listener).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use weblm_core::clock::{Clock, ManualClock, Timestamp};
use weblm_core::compliance::{
    Compliance, ComplianceConfig, ComplianceDecision, ComplianceInput, Mode, StandardCompliance,
};
use weblm_core::outbox::{AlertFilter, AlertKind, Outbox, Webhook};
use weblm_core::pak::PakRegistry;
use weblm_core::plm::{
    next_daily, LicenseManagerLink, Plm, PlmConfig, PlmError, TrialReason, ViolationKind,
};
use weblm_core::plm_db::PlmDb;

/// 2026-11-24T10:00:00Z.
const T0: Timestamp = Timestamp(1_795_514_400);

struct Link(AtomicBool);
impl LicenseManagerLink for Link {
    fn sync(&self) -> Result<(), String> {
        if self.0.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err("license manager unreachable".into())
        }
    }
}

struct Env {
    clock: ManualClock,
    db: Arc<PlmDb>,
    link: Arc<Link>,
}

impl Env {
    fn new() -> Env {
        Env {
            clock: ManualClock::new(T0),
            db: Arc::new(PlmDb::in_memory().unwrap()),
            link: Arc::new(Link(AtomicBool::new(true))),
        }
    }
    fn paks(&self) -> PakRegistry {
        PakRegistry::new(self.db.clone())
    }
    fn install(&self, pak: &str, version: &str, n: u32) {
        let p = self.paks();
        p.register(pak, "USER", version, n, None).unwrap();
        p.fulfil(pak, "cwms-01", n, self.clock.now()).unwrap();
    }
    fn open(&self) -> Result<Plm, PlmError> {
        self.open_with(Arc::new(StandardCompliance), PlmConfig::default(), None)
    }
    fn open_with(
        &self,
        policy: Arc<dyn Compliance>,
        config: PlmConfig,
        hook: Option<Webhook>,
    ) -> Result<Plm, PlmError> {
        Plm::open(
            self.db.clone(),
            Outbox::new(self.db.clone(), hook),
            Arc::new(self.clock.clone()),
            policy,
            self.link.clone(),
            config,
        )
    }
    /// Moves the clock `days` days in steps of 12 h, ticking at every step.
    fn days(&self, plm: &mut Plm, days: i64) {
        for _ in 0..days * 2 {
            self.clock.advance_secs(12 * Timestamp::HOUR);
            plm.tick().unwrap();
        }
    }
}

impl Env {
    fn open_ok(&self) -> Plm {
        self.open().unwrap()
    }
}

fn kinds(plm: &Plm) -> Vec<AlertKind> {
    plm.alerts(AlertFilter::All)
        .unwrap()
        .iter()
        .map(|a| a.kind)
        .collect()
}

fn count(plm: &Plm, k: AlertKind) -> usize {
    kinds(plm).iter().filter(|&&x| x == k).count()
}

#[test]
fn fresh_deployment_without_licenses_runs_a_180_day_trial_with_visible_end_date() {
    let env = Env::new();
    let mut plm = env.open_ok();
    let s = plm.status().unwrap();
    assert_eq!(s.mode, Mode::Trial);
    assert_eq!(s.trial.unwrap().reason, TrialReason::FreshDeployment);
    let end = T0.plus_days(180);
    assert_eq!(s.trial_end, Some(end));
    assert_eq!(s.until, Some(end));
    let a = &plm.alerts(AlertFilter::All).unwrap()[0];
    assert_eq!(a.kind, AlertKind::FreeTrial);
    assert_eq!(a.disable_date, Some(end));
    assert!(a.message.contains(&end.to_string()), "{}", a.message);
    // Users during the trial are not over-use.
    plm.record_usage(50).unwrap();
    env.days(&mut plm, 179);
    let s = plm.status().unwrap();
    assert_eq!(s.mode, Mode::Trial);
    assert!(s.service_available);
    assert_eq!(count(&plm, AlertKind::LicensesExceeded), 0);
    env.days(&mut plm, 1);
    let s = plm.status().unwrap();
    assert_eq!(s.mode, Mode::Deactivated);
    assert!(matches!(
        plm.check_service(),
        Err(PlmError::Deactivated { .. })
    ));
    assert_eq!(count(&plm, AlertKind::TrialEnded), 1);
    // Administration still works: install licenses and analyse; service is back at once.
    env.install("PAK-1", "2.0", 60);
    let s = plm.analyze_now().unwrap();
    assert_eq!(s.mode, Mode::Normal);
    assert_eq!(s.installed, 60);
    assert!(s.trial.is_none());
    plm.check_service().unwrap();
}

#[test]
fn installing_licenses_ends_the_trial() {
    let env = Env::new();
    let mut plm = env.open_ok();
    env.days(&mut plm, 10);
    env.install("PAK-1", "2.0", 10);
    assert_eq!(plm.analyze_now().unwrap().mode, Mode::Normal);
    assert_eq!(*kinds(&plm).last().unwrap(), AlertKind::Restored);
}

#[test]
fn a_deployment_with_licenses_has_no_trial() {
    let env = Env::new();
    env.install("PAK-1", "2.0", 10);
    let mut plm = env.open_ok();
    let s = plm.status().unwrap();
    assert_eq!(s.mode, Mode::Normal);
    assert_eq!(s.installed, 10);
    assert!(plm.alerts(AlertFilter::All).unwrap().is_empty());
}

#[test]
fn failover_to_a_node_without_the_license_manager_starts_a_trial_until_reconnected() {
    let env = Env::new();
    env.install("PAK-1", "2.0", 10);
    let mut plm = env.open_ok();
    env.link.0.store(false, Ordering::SeqCst);
    let s = plm.failover(false).unwrap();
    assert_eq!(s.mode, Mode::Trial);
    assert_eq!(s.trial.unwrap().reason, TrialReason::Failover);
    assert_eq!(s.trial_end, Some(T0.plus_days(180)));
    // No contact, but the fail-over trial has its own 180 days: no invalid-license alert.
    env.days(&mut plm, 30);
    assert_eq!(plm.status().unwrap().mode, Mode::Trial);
    // Another fail-over does not restart (extend) the trial.
    assert_eq!(
        plm.failover(false).unwrap().trial_end,
        Some(T0.plus_days(180))
    );
    assert_eq!(count(&plm, AlertKind::FreeTrial), 1);
    assert_eq!(count(&plm, AlertKind::InvalidLicenses), 0);
    env.link.0.store(true, Ordering::SeqCst);
    env.days(&mut plm, 1);
    let s = plm.status().unwrap();
    assert_eq!(s.mode, Mode::Normal);
    assert!(s.trial.is_none());
    // A fail-over to a node that reaches the license manager changes nothing.
    assert_eq!(plm.failover(true).unwrap().mode, Mode::Normal);
}

#[test]
fn over_use_alerts_reminds_every_30_days_deactivates_after_six_months_and_recovers_at_once() {
    let env = Env::new();
    env.install("PAK-1", "2.0", 10);
    let mut plm = env.open_ok();
    let s = plm.record_usage(12).unwrap();
    assert_eq!(s.mode, Mode::OverUseAlert);
    let disable = T0.plus_days(180);
    assert_eq!(s.until, Some(disable));
    let v = s.violation.unwrap();
    assert_eq!(v.kinds, vec![ViolationKind::OverUse]);
    assert_eq!(v.disable_date, disable);
    let a = plm.alerts(AlertFilter::All).unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].kind, AlertKind::LicensesExceeded);
    assert_eq!(a[0].disable_date, Some(disable));
    assert!(
        a[0].message.contains("Licenses exceeded"),
        "{}",
        a[0].message
    );
    assert!(a[0].message.contains(&disable.to_string()));
    // Checks and reminders at days 30, 60, 90, 120, 150; deactivation at 180.
    env.days(&mut plm, 29);
    assert_eq!(count(&plm, AlertKind::Reminder), 0);
    env.days(&mut plm, 1);
    assert_eq!(count(&plm, AlertKind::Reminder), 1);
    env.days(&mut plm, 149);
    assert_eq!(count(&plm, AlertKind::Reminder), 5);
    let reminders: Vec<_> = plm
        .alerts(AlertFilter::All)
        .unwrap()
        .into_iter()
        .filter(|a| a.kind == AlertKind::Reminder)
        .collect();
    for (i, r) in reminders.iter().enumerate() {
        assert_eq!(r.at, T0.plus_days(30 * (i as i64 + 1)));
        assert_eq!(r.disable_date, Some(disable));
    }
    assert_eq!(plm.status().unwrap().mode, Mode::OverUseAlert);
    plm.check_service().unwrap();
    env.days(&mut plm, 1);
    let s = plm.status().unwrap();
    assert_eq!(s.mode, Mode::Deactivated);
    assert!(!s.service_available);
    let e = plm.check_service().unwrap_err();
    assert!(e.to_string().contains("licenses exceeded"), "{e}");
    assert_eq!(count(&plm, AlertKind::Deactivated), 1);
    env.days(&mut plm, 40);
    assert_eq!(count(&plm, AlertKind::Deactivated), 1, "alerted once");
    assert_eq!(
        count(&plm, AlertKind::Reminder),
        5,
        "no reminders after deactivation"
    );
    // Administration still works while deactivated: install more licenses, analyse.
    env.install("PAK-2", "2.0", 5);
    let s = plm.analyze_now().unwrap();
    assert_eq!(s.mode, Mode::Normal);
    assert!(s.violation.is_none());
    plm.check_service().unwrap();
    assert_eq!(*kinds(&plm).last().unwrap(), AlertKind::Restored);
}

#[test]
fn usage_back_under_installed_ends_over_use_at_once() {
    let env = Env::new();
    env.install("PAK-1", "2.0", 10);
    let mut plm = env.open_ok();
    plm.record_usage(11).unwrap();
    env.days(&mut plm, 3);
    assert_eq!(plm.record_usage(10).unwrap().mode, Mode::Normal);
    // A new over-use later gets a fresh six months.
    env.days(&mut plm, 1);
    let s = plm.record_usage(11).unwrap();
    assert_eq!(s.until, Some(env.clock.now().plus_days(180)));
    assert_eq!(count(&plm, AlertKind::LicensesExceeded), 2);
}

#[test]
fn no_contact_for_two_days_starts_the_invalid_license_clock_and_contact_restores() {
    let env = Env::new();
    env.install("PAK-1", "2.0", 10);
    let mut plm = env.open_ok();
    env.link.0.store(false, Ordering::SeqCst);
    env.days(&mut plm, 1);
    assert_eq!(plm.status().unwrap().mode, Mode::Normal);
    assert_eq!(plm.status().unwrap().last_contact, T0);
    env.days(&mut plm, 1);
    let s = plm.status().unwrap();
    assert_eq!(s.mode, Mode::OverUseAlert);
    let v = s.violation.unwrap();
    assert_eq!(v.kinds, vec![ViolationKind::Invalid]);
    assert_eq!(v.since, T0.plus_days(2));
    assert_eq!(v.disable_date, T0.plus_days(182));
    assert_eq!(count(&plm, AlertKind::InvalidLicenses), 1);
    env.days(&mut plm, 180);
    assert_eq!(plm.status().unwrap().mode, Mode::Deactivated);
    assert!(plm.check_service().is_err());
    env.link.0.store(true, Ordering::SeqCst);
    assert!(plm.sync_now().unwrap());
    assert_eq!(plm.status().unwrap().mode, Mode::Normal);
    plm.check_service().unwrap();
}

#[test]
fn synchronization_happens_every_12_hours() {
    let env = Env::new();
    env.install("PAK-1", "2.0", 10);
    let mut plm = env.open_ok();
    assert_eq!(plm.tick().unwrap().synced, Some(true));
    env.clock.advance_secs(11 * Timestamp::HOUR);
    assert_eq!(plm.tick().unwrap().synced, None);
    env.clock.advance_secs(Timestamp::HOUR);
    assert_eq!(plm.tick().unwrap().synced, Some(true));
    env.link.0.store(false, Ordering::SeqCst);
    env.clock.advance_secs(12 * Timestamp::HOUR);
    assert_eq!(plm.tick().unwrap().synced, Some(false));
}

#[test]
fn out_of_date_licenses_share_the_state_machine_and_an_upgrade_fixes_them() {
    let env = Env::new();
    env.install("PAK-OLD", "1.0", 50);
    let mut plm = env.open_ok();
    let s = plm.status().unwrap();
    assert_eq!(s.mode, Mode::OverUseAlert);
    assert_eq!(s.out_of_date, 50);
    assert_eq!(s.violation.unwrap().kinds, vec![ViolationKind::OutOfDate]);
    assert_eq!(count(&plm, AlertKind::OutOfDate), 1);
    assert_eq!(plm.usage_history().unwrap()[0].mode, Mode::OverUseAlert);
    let p = env.paks();
    p.register("PAK-UP", "USER", "2.0", 100, Some("1.0"))
        .unwrap();
    let f = p.fulfil("PAK-UP", "cwms-01", 100, env.clock.now()).unwrap();
    assert_eq!(f.fulfilled, 50);
    let s = plm.analyze_now().unwrap();
    assert_eq!(s.mode, Mode::Normal);
    assert_eq!((s.installed, s.out_of_date), (50, 0));
}

#[test]
fn analysis_runs_daily_at_0200_gmt_records_history_and_is_the_source_of_installed_counts() {
    let env = Env::new();
    env.install("PAK-1", "2.0", 10);
    let mut plm = env.open_ok();
    let next = plm.status().unwrap().next_analysis;
    assert_eq!(next.to_string(), "2026-11-25T02:00:00Z");
    plm.record_usage(7).unwrap();
    // Licenses installed outside an analysis are not shown until the next one.
    env.install("PAK-2", "2.0", 5);
    assert_eq!(plm.status().unwrap().installed, 10);
    env.clock.set(Timestamp(next.0 - 60));
    assert!(!plm.tick().unwrap().analysed);
    assert_eq!(plm.status().unwrap().installed, 10);
    env.clock.set(next);
    let r = plm.tick().unwrap();
    assert!(r.analysed);
    assert_eq!(r.status.installed, 15);
    assert_eq!(r.status.next_analysis.to_string(), "2026-11-26T02:00:00Z");
    let h = plm.usage_history().unwrap();
    assert_eq!(h.len(), 2, "deployment analysis + the 02:00 one");
    assert_eq!(h[1].at, next);
    assert_eq!((h[1].installed, h[1].in_use, h[1].peak), (15, 7, 7));
    // One analysis per day over a week.
    env.days(&mut plm, 7);
    assert_eq!(plm.usage_history().unwrap().len(), 9);
}

#[test]
fn analysis_time_is_configurable_and_validated() {
    let env = Env::new();
    let cfg = PlmConfig {
        analysis_hour: 5,
        analysis_minute: 30,
        ..PlmConfig::default()
    };
    let mut plm = env
        .open_with(Arc::new(StandardCompliance), cfg.clone(), None)
        .unwrap();
    assert_eq!(
        plm.status().unwrap().next_analysis.to_string(),
        "2026-11-25T05:30:00Z"
    );
    let bad = PlmConfig {
        analysis_hour: 24,
        ..cfg
    };
    let e = Env::new()
        .open_with(Arc::new(StandardCompliance), bad, None)
        .unwrap_err();
    assert!(e.to_string().contains("24:30"), "{e}");
    assert_eq!(
        next_daily(Timestamp(1_795_485_600), 2, 0).to_string(),
        "2026-11-25T02:00:00Z",
        "02:00 exactly schedules the next day"
    );
}

#[test]
fn a_reconfigured_analysis_time_applies_after_restart_and_a_missed_run_is_due_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plm.db");
    let clock = ManualClock::new(T0);
    let link = Arc::new(Link(AtomicBool::new(true)));
    let open = |cfg: PlmConfig| {
        let db = Arc::new(PlmDb::open(&path).unwrap());
        Plm::open(
            db.clone(),
            Outbox::new(db, None),
            Arc::new(clock.clone()),
            Arc::new(StandardCompliance),
            link.clone(),
            cfg,
        )
        .unwrap()
    };
    let mut plm = open(PlmConfig::default());
    assert_eq!(
        plm.status().unwrap().next_analysis.to_string(),
        "2026-11-25T02:00:00Z"
    );
    drop(plm);
    let late = PlmConfig {
        analysis_hour: 23,
        ..PlmConfig::default()
    };
    let mut plm = open(late.clone());
    assert_eq!(
        plm.status().unwrap().next_analysis.to_string(),
        "2026-11-24T23:00:00Z"
    );
    drop(plm);
    // Down over the 23:00 run: the next tick runs it.
    clock.advance_days(2);
    let mut plm = open(late);
    let r = plm.tick().unwrap();
    assert!(r.analysed);
    assert_eq!(r.status.next_analysis.to_string(), "2026-11-26T23:00:00Z");
}

#[test]
fn state_and_alerts_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plm.db");
    let clock = ManualClock::new(T0);
    let link = Arc::new(Link(AtomicBool::new(true)));
    let open = |clock: &ManualClock| {
        let db = Arc::new(PlmDb::open(&path).unwrap());
        Plm::open(
            db.clone(),
            Outbox::new(db, None),
            Arc::new(clock.clone()),
            Arc::new(StandardCompliance),
            link.clone(),
            PlmConfig::default(),
        )
        .unwrap()
    };
    let mut plm = open(&clock);
    assert_eq!(plm.status().unwrap().mode, Mode::Trial);
    drop(plm);
    clock.advance_days(100);
    let mut plm = open(&clock);
    // The restarted system synchronizes first (its last contact is 100 days old).
    let s = plm.tick().unwrap().status;
    assert_eq!(s.mode, Mode::Trial);
    assert_eq!(
        s.trial_end,
        Some(T0.plus_days(180)),
        "the trial does not restart"
    );
    assert_eq!(count(&plm, AlertKind::FreeTrial), 1);
}

struct Lenient;
impl Compliance for Lenient {
    fn name(&self) -> &str {
        "test:lenient"
    }
    fn decide(
        &self,
        i: &ComplianceInput,
        _: &ComplianceConfig,
    ) -> Result<ComplianceDecision, String> {
        Ok(ComplianceDecision {
            mode: Mode::Normal,
            until: Some(i.now),
        })
    }
}

struct NeverDeactivate;
impl Compliance for NeverDeactivate {
    fn name(&self) -> &str {
        "test:never"
    }
    fn decide(
        &self,
        _: &ComplianceInput,
        _: &ComplianceConfig,
    ) -> Result<ComplianceDecision, String> {
        Ok(ComplianceDecision {
            mode: Mode::Normal,
            until: None,
        })
    }
}

#[test]
fn the_compliance_hook_decides_the_mode_and_bad_answers_are_refused() {
    let env = Env::new();
    env.install("PAK-1", "2.0", 10);
    let e = env
        .open_with(Arc::new(Lenient), PlmConfig::default(), None)
        .unwrap_err();
    assert!(matches!(e, PlmError::PolicyFault { .. }), "{e}");
    assert!(e.to_string().contains("test:lenient"), "{e}");
    // A swapped-in policy decides the mode; the Cisco alerts are still raised.
    let mut plm = env
        .open_with(Arc::new(NeverDeactivate), PlmConfig::default(), None)
        .unwrap();
    plm.record_usage(20).unwrap();
    env.days(&mut plm, 200);
    assert_eq!(plm.status().unwrap().mode, Mode::Normal);
    assert_eq!(count(&plm, AlertKind::LicensesExceeded), 1);
}

// ---- Webhook ----

/// A one-thread HTTP listener on 127.0.0.1 that answers `status` to every request and sends
/// each request body to the channel; it stops after `max` requests or 20 s.
fn listener(status: u16, max: usize) -> (String, mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/alerts", l.local_addr().unwrap());
    l.set_nonblocking(true).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut served = 0;
        while served < max && Instant::now() < deadline {
            let Ok((mut s, _)) = l.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            s.set_nonblocking(false).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let body = loop {
                let n = s.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break String::new();
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(h) = text.find("\r\n\r\n") {
                    let len = text[..h]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if buf.len() >= h + 4 + len {
                        break text[h + 4..h + 4 + len].to_string();
                    }
                }
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            served += 1;
            let _ = tx.send(body);
        }
    });
    (url, rx)
}

#[test]
fn alerts_are_posted_to_the_webhook() {
    let (url, rx) = listener(200, 2);
    let env = Env::new();
    env.install("PAK-1", "2.0", 10);
    let mut plm = env
        .open_with(
            Arc::new(StandardCompliance),
            PlmConfig::default(),
            Some(Webhook::new(&url, Duration::from_secs(5)).unwrap()),
        )
        .unwrap();
    plm.record_usage(11).unwrap();
    let r = plm.tick().unwrap();
    assert_eq!(r.delivery.delivered, 1);
    let body = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["kind"], "licenses_exceeded");
    assert_eq!(v["disable_date"], T0.plus_days(180).to_string());
    assert!(plm.alerts(AlertFilter::Pending).unwrap().is_empty());
    assert!(plm.alerts(AlertFilter::All).unwrap()[0]
        .delivered_at
        .is_some());
}

#[test]
fn failed_deliveries_stay_in_the_outbox_and_are_retried() {
    let env = Env::new();
    let outbox_fail = {
        let (url, _rx) = listener(500, 1);
        Outbox::new(
            env.db.clone(),
            Some(Webhook::new(&url, Duration::from_secs(5)).unwrap()),
        )
    };
    let a = outbox_fail
        .push(
            T0,
            AlertKind::LicensesExceeded,
            "over",
            Some(T0.plus_days(180)),
        )
        .unwrap();
    let r = outbox_fail.deliver_pending(T0).unwrap();
    assert_eq!((r.delivered, r.failed), (0, 1));
    let stored = outbox_fail.get(a.id).unwrap().unwrap();
    assert_eq!(stored.attempts, 1);
    assert!(stored.last_error.unwrap().contains("HTTP 500"));
    // Nobody listening at all: a transport error, still pending.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let u = format!("http://{}/", l.local_addr().unwrap());
        drop(l);
        u
    };
    let o = Outbox::new(
        env.db.clone(),
        Some(Webhook::new(&dead, Duration::from_secs(2)).unwrap()),
    );
    assert_eq!(o.deliver_pending(T0).unwrap().failed, 1);
    // A working webhook later delivers it.
    let (url, rx) = listener(200, 1);
    let o = Outbox::new(
        env.db.clone(),
        Some(Webhook::new(&url, Duration::from_secs(5)).unwrap()),
    );
    assert_eq!(o.deliver_pending(T0).unwrap().delivered, 1);
    assert!(rx
        .recv_timeout(Duration::from_secs(10))
        .unwrap()
        .contains("\"over\""));
    let stored = o.get(a.id).unwrap().unwrap();
    assert_eq!(stored.attempts, 3);
    assert_eq!(stored.delivered_at, Some(T0));
    assert!(o.list(AlertFilter::Pending).unwrap().is_empty());
}

#[test]
fn unusable_webhook_configurations_are_refused_by_name() {
    let e = Webhook::new("https://example.com/x", Duration::from_secs(1)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "webhook https://example.com/x refused: only http:// URLs are supported"
    );
    assert!(Webhook::new("http://", Duration::from_secs(1))
        .unwrap_err()
        .to_string()
        .contains("no host"));
    assert!(Webhook::new("http://127.0.0.1:1/", Duration::ZERO)
        .unwrap_err()
        .to_string()
        .contains("timeout"));
}

#[test]
fn the_license_manager_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Plm>();
    shareable::<PakRegistry>();
    shareable::<Outbox>();
}

// ---- Properties ----

#[derive(Clone, Debug)]
enum Op {
    Hours(i64),
    Usage(u32),
    Link(bool),
    Install(u32),
    Failover(bool),
    Tick,
}

fn arb_op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        3 => (1i64..24 * 40).prop_map(Op::Hours),
        2 => (0u32..30).prop_map(Op::Usage),
        1 => any::<bool>().prop_map(Op::Link),
        1 => (1u32..10).prop_map(Op::Install),
        1 => any::<bool>().prop_map(Op::Failover),
        2 => Just(Op::Tick),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    #[test]
    fn the_timeline_never_breaks_its_rules(ops in proptest::collection::vec(arb_op(), 1..40)) {
        let env = Env::new();
        let mut plm = env.open_ok();
        let mut installs = 0;
        for op in ops {
            match op {
                Op::Hours(h) => env.clock.advance_secs(h * Timestamp::HOUR),
                Op::Usage(n) => { plm.record_usage(n).unwrap(); }
                Op::Link(up) => env.link.0.store(up, Ordering::SeqCst),
                Op::Install(n) => {
                    installs += 1;
                    env.install(&format!("P{installs}"), "2.0", n);
                    plm.analyze_now().unwrap();
                }
                Op::Failover(reachable) => { plm.failover(reachable).unwrap(); }
                Op::Tick => { plm.tick().unwrap(); }
            }
            let s = plm.status().unwrap();
            let now = env.clock.now();
            proptest::prop_assert_eq!(s.service_available, s.mode != Mode::Deactivated);
            proptest::prop_assert_eq!(s.service_available, plm.check_service().is_ok());
            if let Some(v) = &s.violation {
                proptest::prop_assert_eq!(v.disable_date, v.since.plus_days(180));
                proptest::prop_assert!(v.since <= now);
                proptest::prop_assert!(!v.kinds.is_empty());
            }
            match s.mode {
                Mode::OverUseAlert => {
                    let v = s.violation.clone().unwrap();
                    proptest::prop_assert!(now < v.disable_date);
                    proptest::prop_assert_eq!(s.until, Some(v.disable_date));
                }
                Mode::Trial => {
                    proptest::prop_assert!(s.violation.is_none());
                    proptest::prop_assert!(now < s.trial_end.unwrap());
                }
                Mode::Deactivated => {
                    // Only six months of violation or a trial that ran out deactivate.
                    let by_violation = s.violation.as_ref().is_some_and(|v| now >= v.disable_date);
                    let by_trial = s.trial_end.is_some_and(|e| now >= e);
                    proptest::prop_assert!(by_violation || by_trial, "{:?}", s);
                }
                Mode::Normal => proptest::prop_assert!(s.violation.is_none() && s.trial.is_none()),
                other => proptest::prop_assert!(false, "unexpected mode {other}"),
            }
            // The installed count shown is the last analysis' count, never more than installed.
            let live = env.paks().installed("cwms-01", "USER", "2.0").unwrap();
            proptest::prop_assert!(s.installed <= live);
        }
        for a in plm.alerts(AlertFilter::All).unwrap() {
            match a.kind {
                AlertKind::LicensesExceeded | AlertKind::OutOfDate | AlertKind::InvalidLicenses
                | AlertKind::Reminder => {
                    let d = a.disable_date.unwrap();
                    proptest::prop_assert!(d > a.at || a.kind != AlertKind::Reminder);
                    proptest::prop_assert!(a.message.contains(&d.to_string()), "{}", a.message);
                }
                AlertKind::FreeTrial => proptest::prop_assert!(a.disable_date.is_some()),
                _ => {}
            }
        }
    }
}
