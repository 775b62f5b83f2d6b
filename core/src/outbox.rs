//! Compliance alerts (SPEC §7): a durable notification outbox and an optional webhook.
//!
//! An alert is first written to the `alerts` table ([`Outbox::push`], committed before it
//! returns), so nothing is lost if the process dies; delivery to the configured webhook
//! ([`Webhook`]: an HTTP `POST` of the alert as JSON, with a timeout) happens afterwards in
//! [`Outbox::deliver_pending`]. A failed delivery stays pending, with the attempt count and the
//! error, and is retried on the next call. Operators list alerts with [`Outbox::list`].

use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::plm_db::{at, PlmDb, PlmDbError};

/// What an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The system runs in free-trial mode (fresh deployment or fail-over); names the end date.
    FreeTrial,
    /// The free trial ended without licenses: the system is deactivated.
    TrialEnded,
    /// Usage is above the installed licenses ("licenses exceeded").
    LicensesExceeded,
    /// Licenses of an older version are installed (out of date after an upgrade).
    OutOfDate,
    /// The license manager has not been reached for too long: licenses are invalid.
    InvalidLicenses,
    /// The 30-day check found the violation still there; names the disable date.
    Reminder,
    /// Six months of violation: the service is off (administration keeps working).
    Deactivated,
    /// The licenses are in order again; service restored.
    Restored,
}

impl AlertKind {
    /// The stable text form stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::FreeTrial => "free_trial",
            AlertKind::TrialEnded => "trial_ended",
            AlertKind::LicensesExceeded => "licenses_exceeded",
            AlertKind::OutOfDate => "out_of_date",
            AlertKind::InvalidLicenses => "invalid_licenses",
            AlertKind::Reminder => "reminder",
            AlertKind::Deactivated => "deactivated",
            AlertKind::Restored => "restored",
        }
    }

    /// The kind with text form `s`.
    pub fn parse(s: &str) -> Option<AlertKind> {
        Some(match s {
            "free_trial" => AlertKind::FreeTrial,
            "trial_ended" => AlertKind::TrialEnded,
            "licenses_exceeded" => AlertKind::LicensesExceeded,
            "out_of_date" => AlertKind::OutOfDate,
            "invalid_licenses" => AlertKind::InvalidLicenses,
            "reminder" => AlertKind::Reminder,
            "deactivated" => AlertKind::Deactivated,
            "restored" => AlertKind::Restored,
            _ => return None,
        })
    }
}

/// One alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Its id (increasing).
    pub id: i64,
    /// When it was raised.
    pub at: Timestamp,
    /// What it is about.
    pub kind: AlertKind,
    /// The text sent to operators.
    pub message: String,
    /// The date the service will be (or was) disabled, when one applies.
    pub disable_date: Option<Timestamp>,
    /// When the webhook accepted it (`None`: not yet, or no webhook).
    pub delivered_at: Option<Timestamp>,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// The last delivery error.
    pub last_error: Option<String>,
}

/// A webhook delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The receiver answered with a non-2xx status.
    #[error("webhook {url} answered HTTP {status}")]
    Status {
        /// The webhook.
        url: String,
        /// Its status code.
        status: u16,
    },
    /// The webhook configuration is unusable.
    #[error("webhook {url} refused: {message}")]
    BadConfig {
        /// The URL given.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// The request did not complete (connection refused, timeout, bad URL).
    #[error("webhook {url} could not be reached: {message}")]
    Transport {
        /// The webhook.
        url: String,
        /// What went wrong.
        message: String,
    },
}

/// An HTTP endpoint that receives every alert as a JSON `POST`.
#[derive(Clone, Debug)]
pub struct Webhook {
    url: String,
    agent: ureq::Agent,
}

impl Webhook {
    /// A webhook at `url` whose requests give up after `timeout`. Only plain `http://` URLs
    /// are accepted (the build has no TLS; put a TLS-terminating relay in front if needed),
    /// and the timeout must be positive.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, WebhookError> {
        let bad = |message: &str| WebhookError::BadConfig {
            url: url.to_string(),
            message: message.to_string(),
        };
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// URLs are supported"))?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(bad("the URL has no host"));
        }
        if timeout.is_zero() {
            return Err(bad("the timeout must be more than 0"));
        }
        Ok(Webhook {
            url: url.to_string(),
            agent: ureq::AgentBuilder::new().timeout(timeout).build(),
        })
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Posts one alert.
    pub fn post(&self, alert: &Alert) -> Result<(), WebhookError> {
        let body = serde_json::to_string(alert).expect("an alert always serializes");
        match self
            .agent
            .post(&self.url)
            .set("Content-Type", "application/json")
            .send_string(&body)
        {
            Ok(_) => Ok(()),
            Err(ureq::Error::Status(status, _)) => Err(WebhookError::Status {
                url: self.url.clone(),
                status,
            }),
            Err(e) => Err(WebhookError::Transport {
                url: self.url.clone(),
                message: e.to_string(),
            }),
        }
    }
}

/// Which alerts to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AlertFilter {
    /// Every alert.
    #[default]
    All,
    /// Alerts the webhook has not accepted yet.
    Pending,
}

/// The result of one delivery round.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// Alerts the webhook accepted.
    pub delivered: u32,
    /// Alerts whose delivery failed (still pending).
    pub failed: u32,
}

/// The durable alert outbox.
#[derive(Clone, Debug)]
pub struct Outbox {
    db: Arc<PlmDb>,
    webhook: Option<Webhook>,
}

fn row_to_alert(r: &rusqlite::Row<'_>) -> rusqlite::Result<Alert> {
    let kind: String = r.get(2)?;
    Ok(Alert {
        id: r.get(0)?,
        at: Timestamp(r.get(1)?),
        kind: AlertKind::parse(&kind).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                2,
                rusqlite::types::Type::Text,
                format!("unknown alert kind `{kind}`").into(),
            )
        })?,
        message: r.get(3)?,
        disable_date: r.get::<_, Option<i64>>(4)?.map(Timestamp),
        delivered_at: r.get::<_, Option<i64>>(5)?.map(Timestamp),
        attempts: r.get(6)?,
        last_error: r.get(7)?,
    })
}

const COLUMNS: &str = "id, at, kind, message, disable_date, delivered_at, attempts, last_error";

impl Outbox {
    /// An outbox in `db`, delivering to `webhook` if one is configured.
    pub fn new(db: Arc<PlmDb>, webhook: Option<Webhook>) -> Self {
        Outbox { db, webhook }
    }

    /// Configures (or removes) the webhook.
    pub fn set_webhook(&mut self, webhook: Option<Webhook>) {
        self.webhook = webhook;
    }

    /// Records an alert durably (committed when this returns).
    pub fn push(
        &self,
        now: Timestamp,
        kind: AlertKind,
        message: &str,
        disable_date: Option<Timestamp>,
    ) -> Result<Alert, PlmDbError> {
        let conn = self.db.conn();
        conn.execute(
            "INSERT INTO alerts (at, kind, message, disable_date) VALUES (?1, ?2, ?3, ?4)",
            params![now.0, kind.as_str(), message, disable_date.map(|d| d.0)],
        )
        .map_err(at("record alert"))?;
        let id = conn.last_insert_rowid();
        conn.query_row(
            &format!("SELECT {COLUMNS} FROM alerts WHERE id = ?1"),
            [id],
            row_to_alert,
        )
        .map_err(at("read alert"))
    }

    /// Alerts, oldest first.
    pub fn list(&self, filter: AlertFilter) -> Result<Vec<Alert>, PlmDbError> {
        let conn = self.db.conn();
        let sql = match filter {
            AlertFilter::All => format!("SELECT {COLUMNS} FROM alerts ORDER BY id"),
            AlertFilter::Pending => {
                format!("SELECT {COLUMNS} FROM alerts WHERE delivered_at IS NULL ORDER BY id")
            }
        };
        let mut s = conn.prepare(&sql).map_err(at("list alerts"))?;
        let rows = s.query_map([], row_to_alert).map_err(at("list alerts"))?;
        rows.collect::<Result<_, _>>().map_err(at("list alerts"))
    }

    /// One alert by id.
    pub fn get(&self, id: i64) -> Result<Option<Alert>, PlmDbError> {
        self.db
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM alerts WHERE id = ?1"),
                [id],
                row_to_alert,
            )
            .optional()
            .map_err(at("read alert"))
    }

    /// Posts every pending alert to the webhook, oldest first; accepted ones are marked
    /// delivered, failed ones stay pending with the error. Without a webhook nothing happens.
    pub fn deliver_pending(&self, now: Timestamp) -> Result<DeliveryReport, PlmDbError> {
        let mut report = DeliveryReport::default();
        let Some(hook) = &self.webhook else {
            return Ok(report);
        };
        for alert in self.list(AlertFilter::Pending)? {
            let result = hook.post(&alert);
            let conn = self.db.conn();
            match result {
                Ok(()) => {
                    conn.execute(
                        "UPDATE alerts SET delivered_at = ?2, attempts = attempts + 1, \
                         last_error = NULL WHERE id = ?1",
                        params![alert.id, now.0],
                    )
                    .map_err(at("mark alert delivered"))?;
                    report.delivered += 1;
                }
                Err(e) => {
                    conn.execute(
                        "UPDATE alerts SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
                        params![alert.id, e.to_string()],
                    )
                    .map_err(at("record delivery failure"))?;
                    report.failed += 1;
                }
            }
        }
        Ok(report)
    }
}
