//! Cisco Prime License Manager-style compliance (SPEC §7, seed `002_…`): free trial, over-use,
//! out-of-date and invalid licenses, deactivation, the 12-hour synchronization and the daily
//! license analysis.
//!
//! [`Plm`] keeps the Cisco state (when each violation began, reminders sent, the trial, the last
//! contact, the last analysis) in its database ([`crate::plm_db`]) and asks the `compliance`
//! hook ([`crate::compliance`], native [`crate::compliance::StandardCompliance`] or a plugin
//! behind `&dyn Compliance`) for the mode, checking its answer with
//! [`crate::compliance::check_decision`]. Time comes only from a [`Clock`].
//!
//! ## Rules
//! - **Free trial**: a system deployed with no installed licenses runs in trial mode for
//!   `trial_days` (180); so does a system that fails over to a node that cannot reach its
//!   license manager ([`Plm::failover`]). The end date is in [`PlmStatus::trial_end`] and in the
//!   `free_trial` alert. Installing licenses (seen by the analysis) ends a deployment trial;
//!   reaching the license manager again ends a fail-over trial. A trial that runs out
//!   deactivates the system. During a trial, usage is not held against installed licenses.
//! - **Violations** share one state machine. Over-use: users above the installed count of the
//!   last analysis (alert `licenses_exceeded`). Out-of-date: valid licenses of the feature for
//!   another version than the product's are installed (after an upgrade). Invalid: no contact
//!   with the license manager for `contact_alert_days` (2): the clock starts two days after
//!   the last contact. The violation starts at the earliest active one; each new kind raises an alert
//!   naming the disable date (`start + deactivate_after_days`, six months = 180 days).
//! - At the end of every `check_period_days` (30) period the violation is checked again; if it
//!   is still there a `reminder` alert names the disable date again.
//! - At the disable date the system is **deactivated** (`deactivated` alert): the service is
//!   refused ([`Plm::check_service`]) while administration (status, alerts, installing
//!   licenses, analysis) keeps working. Fixing the licenses (installing them and running the
//!   analysis, usage back under the installed count, contact restored) ends the violation and
//!   restores service at once (`restored` alert).
//! - The license manager is contacted every `sync_interval_hours` (12) by [`Plm::tick`].
//! - The license analysis runs daily at `analysis_hour:analysis_minute` GMT (02:00) from
//!   [`Plm::tick`], and on demand after an administrator installs licenses
//!   ([`Plm::analyze_now`]). It reads the installed licenses ([`crate::pak::PakRegistry`]),
//!   records a usage-history row, and is the only source of the installed counts operators see.

use std::sync::Arc;

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::clock::{Clock, Timestamp};
use crate::compliance::{
    check_decision, Compliance, ComplianceConfig, ComplianceFault, ComplianceInput, Mode,
};
use crate::outbox::{Alert, AlertFilter, AlertKind, DeliveryReport, Outbox};
use crate::pak::{PakError, PakRegistry};
use crate::plm_db::{at, PlmDb, PlmDbError};

/// The license manager's settings. Defaults: the SPEC's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlmConfig {
    /// This system's id (the one licenses are installed on).
    pub system_id: String,
    /// The user-license feature counted.
    pub feature: String,
    /// The product version; licenses of other versions are out of date.
    pub version: String,
    /// Free-trial length in days (180).
    pub trial_days: u32,
    /// Days between violation checks and reminders (30).
    pub check_period_days: u32,
    /// Days from a violation's start to deactivation (six months, taken as 180).
    pub deactivate_after_days: u32,
    /// Hours between synchronizations with the license manager (12).
    pub sync_interval_hours: u32,
    /// Days without contact before licenses become invalid (2).
    pub contact_alert_days: u32,
    /// Hour (GMT) of the daily license analysis (2).
    pub analysis_hour: u32,
    /// Minute of the daily license analysis (0).
    pub analysis_minute: u32,
}

impl Default for PlmConfig {
    fn default() -> Self {
        PlmConfig {
            system_id: "cwms-01".into(),
            feature: "USER".into(),
            version: "2.0".into(),
            trial_days: 180,
            check_period_days: 30,
            deactivate_after_days: 180,
            sync_interval_hours: 12,
            contact_alert_days: 2,
            analysis_hour: 2,
            analysis_minute: 0,
        }
    }
}

/// The link to the license manager (PLM/ELM): one synchronization attempt.
pub trait LicenseManagerLink: Send + Sync {
    /// Synchronizes; `Err` with the reason when the license manager cannot be reached.
    fn sync(&self) -> Result<(), String>;
}

/// Why the system runs in free-trial mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrialReason {
    /// Deployed without installed licenses.
    FreshDeployment,
    /// Failed over to a node that cannot reach the license manager.
    Failover,
}

/// A running free trial.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trial {
    /// Why.
    pub reason: TrialReason,
    /// Since when.
    pub since: Timestamp,
}

/// The kinds of violation sharing the state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    /// Usage above installed licenses.
    OverUse,
    /// Licenses of another version installed.
    OutOfDate,
    /// No contact with the license manager.
    Invalid,
}

/// The violation in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// Which kinds are active.
    pub kinds: Vec<ViolationKind>,
    /// When the violation began (the earliest active kind).
    pub since: Timestamp,
    /// When the service is (or was) disabled.
    pub disable_date: Timestamp,
}

/// What operators see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlmStatus {
    /// The time of this status.
    pub now: Timestamp,
    /// The compliance mode.
    pub mode: Mode,
    /// When the mode changes by time alone.
    pub until: Option<Timestamp>,
    /// Whether users may use the service (false when deactivated).
    pub service_available: bool,
    /// The free trial, if one runs.
    pub trial: Option<Trial>,
    /// The trial's end date.
    pub trial_end: Option<Timestamp>,
    /// The violation in force, if any.
    pub violation: Option<Violation>,
    /// Installed licenses of the product version, as of the last analysis.
    pub installed: u64,
    /// Installed licenses of other versions, as of the last analysis.
    pub out_of_date: u64,
    /// Users now.
    pub in_use: u32,
    /// The last analysis.
    pub last_analysis: Option<Timestamp>,
    /// The next scheduled analysis.
    pub next_analysis: Timestamp,
    /// The last successful contact with the license manager.
    pub last_contact: Timestamp,
}

/// One usage-history row (written by each analysis).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UsageRecord {
    /// When the analysis ran.
    pub at: Timestamp,
    /// Installed licenses of the product version.
    pub installed: u64,
    /// Installed licenses of other versions.
    pub out_of_date: u64,
    /// Users at the analysis.
    pub in_use: u32,
    /// Most users since the previous analysis.
    pub peak: u32,
    /// The mode after the analysis.
    pub mode: Mode,
}

/// What one [`Plm::tick`] did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TickReport {
    /// `Some(true)`: synchronized; `Some(false)`: the attempt failed; `None`: not due.
    pub synced: Option<bool>,
    /// Whether the daily analysis ran.
    pub analysed: bool,
    /// Webhook deliveries.
    pub delivery: DeliveryReport,
    /// The status afterwards.
    pub status: PlmStatus,
}

/// A license-manager operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PlmError {
    /// The service is refused: the system is deactivated.
    #[error(
        "service refused: the system is deactivated ({reason}); fix the licenses to restore it"
    )]
    Deactivated {
        /// Why.
        reason: String,
    },
    /// The compliance policy failed.
    #[error("compliance policy {policy} failed: {message}")]
    Policy {
        /// The policy.
        policy: String,
        /// What it reported.
        message: String,
    },
    /// The compliance policy's answer was refused.
    #[error("compliance policy {policy} gave a refused answer: {fault}")]
    PolicyFault {
        /// The policy.
        policy: String,
        /// What was wrong.
        fault: ComplianceFault,
    },
    /// The stored state is unreadable.
    #[error("license manager state is corrupt: {0}")]
    CorruptState(String),
    /// A configuration value is out of range.
    #[error("bad license manager configuration: {0}")]
    Config(String),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] PlmDbError),
    /// The inventory failed.
    #[error(transparent)]
    Inventory(#[from] PakError),
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    deployed_at: Timestamp,
    trial: Option<Trial>,
    trial_end_alerted: bool,
    last_contact: Timestamp,
    last_sync_attempt: Option<Timestamp>,
    over_use_since: Option<Timestamp>,
    out_of_date_since: Option<Timestamp>,
    invalid_since: Option<Timestamp>,
    violation_start: Option<Timestamp>,
    reminders_sent: u32,
    deactivated_alerted: bool,
    installed: u64,
    out_of_date: u64,
    last_analysis: Option<Timestamp>,
    next_analysis: Timestamp,
    in_use: u32,
    peak: u32,
}

/// The next instant after `t` whose GMT time of day is `hour:minute`.
pub fn next_daily(t: Timestamp, hour: u32, minute: u32) -> Timestamp {
    let day = t.0 - t.0.rem_euclid(Timestamp::DAY);
    let at = Timestamp(day + hour as i64 * Timestamp::HOUR + minute as i64 * 60);
    if at > t {
        at
    } else {
        at.plus_days(1)
    }
}

/// The Cisco-style license manager of one system.
pub struct Plm {
    db: Arc<PlmDb>,
    clock: Arc<dyn Clock>,
    policy: Arc<dyn Compliance>,
    link: Arc<dyn LicenseManagerLink>,
    outbox: Outbox,
    inventory: PakRegistry,
    config: PlmConfig,
    state: State,
}

impl std::fmt::Debug for Plm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plm")
            .field("config", &self.config)
            .field("policy", &self.policy.name())
            .finish_non_exhaustive()
    }
}

impl Plm {
    /// Opens the license manager over `db`. The first open is the deployment: the analysis
    /// runs at once, and with no licenses installed the free trial starts.
    pub fn open(
        db: Arc<PlmDb>,
        outbox: Outbox,
        clock: Arc<dyn Clock>,
        policy: Arc<dyn Compliance>,
        link: Arc<dyn LicenseManagerLink>,
        config: PlmConfig,
    ) -> Result<Self, PlmError> {
        if config.analysis_hour > 23 || config.analysis_minute > 59 {
            return Err(PlmError::Config(format!(
                "analysis time {:02}:{:02} is not a time of day",
                config.analysis_hour, config.analysis_minute
            )));
        }
        if config.check_period_days == 0 || config.sync_interval_hours == 0 {
            return Err(PlmError::Config(
                "check_period_days and sync_interval_hours must be at least 1".into(),
            ));
        }
        let stored: Option<String> = db
            .conn()
            .query_row("SELECT value FROM plm_state WHERE key = 'state'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(at("read state"))?;
        let inventory = PakRegistry::new(db.clone());
        let now = clock.now();
        let fresh = stored.is_none();
        let state = match stored {
            Some(s) => {
                let mut st: State =
                    serde_json::from_str(&s).map_err(|e| PlmError::CorruptState(e.to_string()))?;
                // The analysis time may have been reconfigured: the next run follows the last
                // one at the configured time (a missed run is due at once).
                st.next_analysis = next_daily(
                    st.last_analysis.unwrap_or(st.deployed_at),
                    config.analysis_hour,
                    config.analysis_minute,
                );
                st
            }
            None => State {
                deployed_at: now,
                last_contact: now,
                next_analysis: next_daily(now, config.analysis_hour, config.analysis_minute),
                ..State::default()
            },
        };
        let mut plm = Plm {
            db,
            clock,
            policy,
            link,
            outbox,
            inventory,
            config,
            state,
        };
        if fresh {
            let installed = plm.inventory.installed(
                &plm.config.system_id,
                &plm.config.feature,
                &plm.config.version,
            )?;
            if installed == 0 {
                plm.start_trial(now, TrialReason::FreshDeployment)?;
            }
            plm.analysis(now)?;
            plm.evaluate(now)?;
        }
        Ok(plm)
    }

    fn save(&self) -> Result<(), PlmError> {
        let s = serde_json::to_string(&self.state).expect("state always serializes");
        self.db
            .conn()
            .execute(
                "INSERT INTO plm_state (key, value) VALUES ('state', ?1) \
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [s],
            )
            .map_err(at("write state"))?;
        Ok(())
    }

    fn alert(
        &self,
        now: Timestamp,
        kind: AlertKind,
        message: String,
        disable: Option<Timestamp>,
    ) -> Result<Alert, PlmError> {
        Ok(self.outbox.push(now, kind, &message, disable)?)
    }

    fn start_trial(&mut self, now: Timestamp, reason: TrialReason) -> Result<(), PlmError> {
        let end = now.plus_days(self.config.trial_days as i64);
        self.state.trial = Some(Trial { reason, since: now });
        self.state.trial_end_alerted = false;
        let why = match reason {
            TrialReason::FreshDeployment => {
                "the system was deployed without installed licenses; install licenses to end it"
            }
            TrialReason::Failover => {
                "after a fail-over this node cannot reach the license manager; restore the \
                 connection to end it"
            }
        };
        self.alert(
            now,
            AlertKind::FreeTrial,
            format!(
                "System {} runs in free-trial mode until {end}: {why}",
                self.config.system_id
            ),
            Some(end),
        )?;
        Ok(())
    }

    /// The configuration.
    pub fn config(&self) -> &PlmConfig {
        &self.config
    }

    /// The outbox (to list alerts or deliver them).
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Configures (or, with `None`, removes) the webhook alerts are posted to.
    pub fn set_webhook(&mut self, webhook: Option<crate::outbox::Webhook>) {
        self.outbox.set_webhook(webhook);
    }

    /// The installed-license inventory and PAKs.
    pub fn inventory(&self) -> &PakRegistry {
        &self.inventory
    }

    /// Alerts for operators (administration; works in every mode).
    pub fn alerts(&self, filter: AlertFilter) -> Result<Vec<Alert>, PlmError> {
        Ok(self.outbox.list(filter)?)
    }

    /// Usage history recorded by the analyses, oldest first.
    pub fn usage_history(&self) -> Result<Vec<UsageRecord>, PlmError> {
        let conn = self.db.conn();
        let mut s = conn
            .prepare(
                "SELECT at, installed, out_of_date, in_use, peak, mode FROM usage_history ORDER BY id",
            )
            .map_err(at("read usage history"))?;
        let rows = s
            .query_map([], |r| {
                let mode: u32 = r.get(5)?;
                Ok(UsageRecord {
                    at: Timestamp(r.get(0)?),
                    installed: r.get::<_, i64>(1)? as u64,
                    out_of_date: r.get::<_, i64>(2)? as u64,
                    in_use: r.get(3)?,
                    peak: r.get(4)?,
                    mode: Mode::from_u32(mode).unwrap_or(Mode::Normal),
                })
            })
            .map_err(at("read usage history"))?;
        Ok(rows
            .collect::<Result<_, _>>()
            .map_err(at("read usage history"))?)
    }

    /// Records the current number of users; over-use is judged against the installed count of
    /// the last analysis, at once.
    pub fn record_usage(&mut self, in_use: u32) -> Result<PlmStatus, PlmError> {
        let now = self.clock.now();
        self.state.in_use = in_use;
        self.state.peak = self.state.peak.max(in_use);
        self.evaluate(now)
    }

    /// The system failed over to another node; `license_manager_reachable` says whether that
    /// node can reach the license manager. If not, the free trial starts (180 days to restore
    /// the connection); a trial already running is not restarted.
    pub fn failover(&mut self, license_manager_reachable: bool) -> Result<PlmStatus, PlmError> {
        let now = self.clock.now();
        // A trial already running keeps its start: repeated fail-overs do not extend it.
        if !license_manager_reachable && self.state.trial.is_none() {
            self.start_trial(now, TrialReason::Failover)?;
        }
        self.evaluate(now)
    }

    /// One synchronization attempt with the license manager, now.
    pub fn sync_now(&mut self) -> Result<bool, PlmError> {
        let now = self.clock.now();
        let ok = self.sync(now)?;
        self.evaluate(now)?;
        Ok(ok)
    }

    fn sync(&mut self, now: Timestamp) -> Result<bool, PlmError> {
        self.state.last_sync_attempt = Some(now);
        let ok = self.link.sync().is_ok();
        if ok {
            self.state.last_contact = now;
            self.state.invalid_since = None;
            if matches!(self.state.trial, Some(t) if t.reason == TrialReason::Failover) {
                self.state.trial = None;
                self.state.trial_end_alerted = false;
                self.alert(
                    now,
                    AlertKind::Restored,
                    format!(
                        "System {} reached its license manager again: free-trial mode ended",
                        self.config.system_id
                    ),
                    None,
                )?;
            }
        }
        self.save()?;
        Ok(ok)
    }

    /// Runs the license analysis now (an administrator installed or changed licenses).
    pub fn analyze_now(&mut self) -> Result<PlmStatus, PlmError> {
        let now = self.clock.now();
        self.analysis(now)?;
        self.evaluate(now)
    }

    fn analysis(&mut self, now: Timestamp) -> Result<(), PlmError> {
        let by_version = self
            .inventory
            .installed_by_version(&self.config.system_id, &self.config.feature)?;
        let mut installed = 0;
        let mut out_of_date = 0;
        for (v, n) in by_version {
            if v == self.config.version {
                installed += n;
            } else {
                out_of_date += n;
            }
        }
        self.state.installed = installed;
        self.state.out_of_date = out_of_date;
        self.state.last_analysis = Some(now);
        if installed > 0
            && matches!(self.state.trial, Some(t) if t.reason == TrialReason::FreshDeployment)
        {
            self.state.trial = None;
            self.state.trial_end_alerted = false;
            self.alert(
                now,
                AlertKind::Restored,
                format!(
                    "System {}: {installed} licenses installed; free-trial mode ended",
                    self.config.system_id
                ),
                None,
            )?;
        }
        let peak = self.state.peak.max(self.state.in_use);
        // The violation state follows the new snapshot before the row records the mode.
        let mode = self.evaluate(now)?.mode;
        self.db
            .conn()
            .execute(
                "INSERT INTO usage_history (at, installed, out_of_date, in_use, peak, mode) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    now.0,
                    installed as i64,
                    out_of_date as i64,
                    self.state.in_use,
                    peak,
                    mode as u32
                ],
            )
            .map_err(at("record usage history"))?;
        self.state.peak = self.state.in_use;
        self.save()
    }

    /// Runs what is due at the clock's time: the synchronization (every 12 h), the daily
    /// analysis, the violation checks, and webhook delivery of pending alerts.
    pub fn tick(&mut self) -> Result<TickReport, PlmError> {
        let now = self.clock.now();
        let sync_due = self.state.last_sync_attempt.is_none_or(|t| {
            now >= t.plus_secs(self.config.sync_interval_hours as i64 * Timestamp::HOUR)
        });
        let synced = if sync_due {
            Some(self.sync(now)?)
        } else {
            None
        };
        let analysed = now >= self.state.next_analysis;
        if analysed {
            self.analysis(now)?;
            self.state.next_analysis =
                next_daily(now, self.config.analysis_hour, self.config.analysis_minute);
        }
        let status = self.evaluate(now)?;
        let delivery = self.outbox.deliver_pending(now)?;
        Ok(TickReport {
            synced,
            analysed,
            delivery,
            status,
        })
    }

    /// The status now (evaluates, so alerts due by time alone are raised).
    pub fn status(&mut self) -> Result<PlmStatus, PlmError> {
        let now = self.clock.now();
        self.evaluate(now)
    }

    /// `Ok` when users may use the service; [`PlmError::Deactivated`] when not.
    pub fn check_service(&mut self) -> Result<(), PlmError> {
        let s = self.status()?;
        if s.service_available {
            return Ok(());
        }
        let reason = match (&s.violation, &s.trial) {
            (Some(v), _) => format!(
                "license violation ({}) since {}, disabled on {}",
                kinds_text(&v.kinds),
                v.since,
                v.disable_date
            ),
            (None, Some(t)) => format!(
                "free trial since {} ended on {}",
                t.since,
                t.since.plus_days(self.config.trial_days as i64)
            ),
            (None, None) => "deactivated by the compliance policy".into(),
        };
        Err(PlmError::Deactivated { reason })
    }

    fn in_trial(&self) -> bool {
        self.state.trial.is_some()
    }

    fn violation_start(&self) -> Option<Timestamp> {
        [
            self.state.over_use_since,
            self.state.out_of_date_since,
            self.state.invalid_since,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn active_kinds(&self) -> Vec<ViolationKind> {
        let mut k = Vec::new();
        if self.state.over_use_since.is_some() {
            k.push(ViolationKind::OverUse);
        }
        if self.state.out_of_date_since.is_some() {
            k.push(ViolationKind::OutOfDate);
        }
        if self.state.invalid_since.is_some() {
            k.push(ViolationKind::Invalid);
        }
        k
    }

    fn decide(&self, now: Timestamp) -> Result<(Mode, Option<Timestamp>), PlmError> {
        let failover_trial =
            matches!(self.state.trial, Some(t) if t.reason == TrialReason::Failover);
        let installed = u32::try_from(self.state.installed).unwrap_or(u32::MAX);
        let input = ComplianceInput {
            now,
            entitled: if self.in_trial() {
                installed.max(self.state.in_use)
            } else {
                installed
            },
            in_use: self.state.in_use,
            recorded: 0,
            acquired: 0,
            tampered: false,
            trial_since: self.state.trial.map(|t| t.since),
            short_since: None,
            last_contact: if failover_trial {
                None
            } else {
                Some(self.state.last_contact)
            },
            violation_since: self.violation_start(),
        };
        let config = ComplianceConfig {
            trial_days: self.config.trial_days,
            contact_alert_days: self.config.contact_alert_days,
            deactivate_after_days: self.config.deactivate_after_days,
            ..ComplianceConfig::default()
        };
        let d = self
            .policy
            .decide(&input, &config)
            .map_err(|message| PlmError::Policy {
                policy: self.policy.name().to_string(),
                message,
            })?;
        let d = check_decision(&input, d.mode as u32, d.until).map_err(|fault| {
            PlmError::PolicyFault {
                policy: self.policy.name().to_string(),
                fault,
            }
        })?;
        Ok((d.mode, d.until))
    }

    fn disable_date(&self, start: Timestamp) -> Timestamp {
        start.plus_days(self.config.deactivate_after_days as i64)
    }

    /// Updates the violation state at `now`, raises the alerts due, saves, and reports.
    fn evaluate(&mut self, now: Timestamp) -> Result<PlmStatus, PlmError> {
        let sys = self.config.system_id.clone();
        let failover_trial =
            matches!(self.state.trial, Some(t) if t.reason == TrialReason::Failover);
        let had_violation = self.state.violation_start.is_some();
        let mut new_kinds = Vec::new();
        // Invalid licenses: no contact for `contact_alert_days` (suspended during a fail-over
        // trial, which has its own 180 days to restore the connection).
        let lost_at = self
            .state
            .last_contact
            .plus_days(self.config.contact_alert_days as i64);
        if !failover_trial && now >= lost_at {
            if self.state.invalid_since.is_none() {
                self.state.invalid_since = Some(lost_at);
                new_kinds.push(ViolationKind::Invalid);
            }
        } else {
            self.state.invalid_since = None;
        }
        // Over-use against the last analysis' installed count (not during a trial).
        if !self.in_trial() && self.state.in_use as u64 > self.state.installed {
            if self.state.over_use_since.is_none() {
                self.state.over_use_since = Some(now);
                new_kinds.push(ViolationKind::OverUse);
            }
        } else {
            self.state.over_use_since = None;
        }
        // Out-of-date licenses.
        if self.state.out_of_date > 0 {
            if self.state.out_of_date_since.is_none() {
                self.state.out_of_date_since = Some(now);
                new_kinds.push(ViolationKind::OutOfDate);
            }
        } else {
            self.state.out_of_date_since = None;
        }
        let start = self.violation_start();
        let period = self.config.check_period_days as i64 * Timestamp::DAY;
        if start != self.state.violation_start {
            // A new or moved violation: count checks from its start.
            self.state.reminders_sent = start.map_or(0, |s| ((now.0 - s.0).max(0) / period) as u32);
            self.state.violation_start = start;
        }
        for kind in &new_kinds {
            let disable = self.disable_date(start.expect("a new kind means a violation"));
            let (k, text) = match kind {
                ViolationKind::OverUse => (
                    AlertKind::LicensesExceeded,
                    format!(
                        "Licenses exceeded on system {sys}: {} users, {} licenses installed. \
                         The service will be disabled on {disable} unless usage is brought to \
                         or below the installed licenses",
                        self.state.in_use, self.state.installed
                    ),
                ),
                ViolationKind::OutOfDate => (
                    AlertKind::OutOfDate,
                    format!(
                        "Out-of-date licenses on system {sys}: {} licenses are not for version \
                         {}. Rehost and upgrade them before {disable}, when the service will \
                         be disabled",
                        self.state.out_of_date, self.config.version
                    ),
                ),
                ViolationKind::Invalid => (
                    AlertKind::InvalidLicenses,
                    format!(
                        "Invalid licenses on system {sys}: no contact with the license manager \
                         since {}. The service will be disabled on {disable}",
                        self.state.last_contact
                    ),
                ),
            };
            self.alert(now, k, text, Some(disable))?;
        }
        let (mode, until) = self.decide(now)?;
        if let Some(s) = start {
            let disable = self.disable_date(s);
            let checks = ((now.0 - s.0).max(0) / period) as u32;
            if now < disable && checks > self.state.reminders_sent {
                self.state.reminders_sent = checks;
                self.alert(
                    now,
                    AlertKind::Reminder,
                    format!(
                        "Reminder (check {checks}): system {sys} is still in violation ({}) \
                         since {s}; the service will be disabled on {disable}",
                        kinds_text(&self.active_kinds())
                    ),
                    Some(disable),
                )?;
            }
        }
        if mode == Mode::Deactivated {
            if start.is_some() && !self.state.deactivated_alerted {
                self.state.deactivated_alerted = true;
                let disable = self.disable_date(start.unwrap_or(now));
                self.alert(
                    now,
                    AlertKind::Deactivated,
                    format!(
                        "System {sys} is deactivated since {disable}: license violation ({}) for \
                         six months. Users cannot use the service; administration still \
                         works. Fix the licenses to restore service at once",
                        kinds_text(&self.active_kinds())
                    ),
                    Some(disable),
                )?;
            } else if start.is_none() && self.in_trial() && !self.state.trial_end_alerted {
                self.state.trial_end_alerted = true;
                let end = self
                    .state
                    .trial
                    .map(|t| t.since.plus_days(self.config.trial_days as i64));
                self.alert(
                    now,
                    AlertKind::TrialEnded,
                    format!(
                        "System {sys}: the free trial ended on {}; the service is deactivated \
                         until licenses are installed or the license manager is reached",
                        end.unwrap_or(now)
                    ),
                    end,
                )?;
            }
        }
        if had_violation && start.is_none() {
            self.state.deactivated_alerted = false;
            self.state.reminders_sent = 0;
            self.alert(
                now,
                AlertKind::Restored,
                format!("System {sys}: licenses are in order again; service restored"),
                None,
            )?;
        }
        self.save()?;
        Ok(PlmStatus {
            now,
            mode,
            until,
            service_available: mode != Mode::Deactivated,
            trial: self.state.trial,
            trial_end: self
                .state
                .trial
                .map(|t| t.since.plus_days(self.config.trial_days as i64)),
            violation: start.map(|s| Violation {
                kinds: self.active_kinds(),
                since: s,
                disable_date: self.disable_date(s),
            }),
            installed: self.state.installed,
            out_of_date: self.state.out_of_date,
            in_use: self.state.in_use,
            last_analysis: self.state.last_analysis,
            next_analysis: self.state.next_analysis,
            last_contact: self.state.last_contact,
        })
    }
}

fn kinds_text(kinds: &[ViolationKind]) -> String {
    kinds
        .iter()
        .map(|k| match k {
            ViolationKind::OverUse => "licenses exceeded",
            ViolationKind::OutOfDate => "out-of-date licenses",
            ViolationKind::Invalid => "invalid licenses",
        })
        .collect::<Vec<_>>()
        .join(", ")
}
