//! The Cisco-style license manager (SPEC §7, `weblm_core::plm`) run by `weblm serve` when the
//! configuration has a `[compliance]` section: free trial, over-use / out-of-date / invalid
//! licenses, deactivation, the 12-hour contact with the license manager, the daily analysis,
//! and the alert outbox with its webhook. `weblm compliance ...` runs the same engine on the
//! same database while the server is stopped.
//!
//! ## What the server does with it
//! - **Usage**: every maintenance pass (each second, and after a test-clock move) records the
//!   number of licenses held of the configured `feature` (all versions) as the users in use,
//!   then runs [`Plm::tick`] (sync when due, the daily analysis, reminders, webhook delivery).
//! - **Deactivation**: while the system is deactivated, acquiring and renewing leases are
//!   refused (`403 deactivated`, naming the reason); releases and every admin endpoint keep
//!   working. The flag is refreshed by each pass and by each admin action, so fixing the
//!   licenses (fulfilling a PAK runs the analysis at once) restores service at once.
//! - **The license manager link**: `license_manager_url` is contacted with `GET <url>/health`
//!   (another `weblm serve`, or anything answering 2xx there). Without it a local contacts its
//!   master, and a standard or master server is its own license manager (always reachable).
//! - **The database** is `<state_db>.plm.db`, held exclusively by the server (a second opener,
//!   such as `weblm pak` while the server runs, is refused and told why).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use weblm_core::clock::Clock;
use weblm_core::compliance::{Compliance, StandardCompliance};
use weblm_core::outbox::{Outbox, Webhook};
use weblm_core::plm::{
    LicenseManagerLink, Plm, PlmConfig, PlmError, PlmStatus, TickReport, UsageRecord,
};
use weblm_core::plm_db::PlmDb;
use weblm_plugins::{ComplianceHook, HostConfig, PluginHost};

use super::error::ApiError;
use super::App;

/// Keys of `[compliance]` that belong to the server; every other key is a [`PlmConfig`] field.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerKeys {
    license_manager_url: Option<String>,
    webhook_url: Option<String>,
    webhook_timeout_ms: Option<u64>,
    plugin: Option<PathBuf>,
    plugin_sha256: Option<String>,
}

/// The `[compliance]` section of a server configuration: the license manager's settings
/// ([`PlmConfig`]: `system_id`, `feature`, `version`, `trial_days`, `check_period_days`,
/// `deactivate_after_days`, `sync_interval_hours`, `contact_alert_days`, `analysis_hour`,
/// `analysis_minute`) plus the server's own keys below. Unknown keys are refused by name.
#[derive(Clone, Debug)]
pub struct ComplianceSection {
    /// The license manager's settings. `system_id` defaults to the server's `host_id` (a
    /// local's `name`).
    pub plm: PlmConfig,
    /// Whether `system_id` was given (otherwise the host id fills it in).
    pub system_id_given: bool,
    /// Base URL of the license manager (`GET <url>/health` is the contact).
    pub license_manager_url: Option<String>,
    /// Where alerts are posted as JSON (plain `http://`).
    pub webhook_url: Option<String>,
    /// Webhook timeout in milliseconds (default 5 000).
    pub webhook_timeout_ms: u64,
    /// A `compliance` plugin (`.wasm`) that replaces the native timeline.
    pub plugin: Option<PathBuf>,
    /// The plugin's expected sha256 (required with `plugin`).
    pub plugin_sha256: Option<String>,
}

const SERVER_KEYS: [&str; 5] = [
    "license_manager_url",
    "webhook_url",
    "webhook_timeout_ms",
    "plugin",
    "plugin_sha256",
];

impl<'de> Deserialize<'de> for ComplianceSection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = toml::Table::deserialize(d)?;
        let mut own = toml::Table::new();
        for k in SERVER_KEYS {
            if let Some(v) = table.remove(k) {
                own.insert(k.to_string(), v);
            }
        }
        let keys = ServerKeys::deserialize(toml::Value::Table(own)).map_err(D::Error::custom)?;
        let system_id_given = table.contains_key("system_id");
        let plm = PlmConfig::deserialize(toml::Value::Table(table)).map_err(D::Error::custom)?;
        Ok(ComplianceSection {
            plm,
            system_id_given,
            license_manager_url: keys.license_manager_url,
            webhook_url: keys.webhook_url,
            webhook_timeout_ms: keys.webhook_timeout_ms.unwrap_or(5_000),
            plugin: keys.plugin,
            plugin_sha256: keys.plugin_sha256,
        })
    }
}

impl ComplianceSection {
    /// Checks what can be checked without opening anything.
    pub fn check(&self) -> Result<(), String> {
        if self.plugin.is_some() != self.plugin_sha256.is_some() {
            return Err("compliance.plugin and compliance.plugin_sha256 go together".into());
        }
        if let Some(u) = &self.license_manager_url {
            if !u.starts_with("http://") {
                return Err(format!(
                    "compliance.license_manager_url {u:?}: only http:// URLs are supported"
                ));
            }
        }
        if self.webhook_timeout_ms == 0 {
            return Err("compliance.webhook_timeout_ms must be more than 0".into());
        }
        if self.plm.system_id.is_empty() || self.plm.feature.is_empty() {
            return Err("compliance.system_id and compliance.feature must not be empty".into());
        }
        Ok(())
    }
}

/// Contact with the license manager: `GET <url>/health` answering 2xx.
struct HttpLink {
    url: String,
    agent: ureq::Agent,
}

impl LicenseManagerLink for HttpLink {
    fn sync(&self) -> Result<(), String> {
        match self.agent.get(&format!("{}/health", self.url)).call() {
            Ok(_) => Ok(()),
            Err(ureq::Error::Status(code, _)) => {
                Err(format!("license manager {} answered HTTP {code}", self.url))
            }
            Err(e) => Err(format!("license manager {} unreachable: {e}", self.url)),
        }
    }
}

/// This server is its own license manager: contact always succeeds.
struct Itself;

impl LicenseManagerLink for Itself {
    fn sync(&self) -> Result<(), String> {
        Ok(())
    }
}

/// The license manager of a running server (or of one `weblm compliance` command).
pub struct Manager {
    plm: Mutex<Plm>,
    service: AtomicBool,
    reason: RwLock<String>,
    /// Which policy decides (native, or the plugin's name).
    pub policy: String,
    /// The license manager contacted (`None`: this server itself).
    pub license_manager: Option<String>,
}

fn lock(m: &Mutex<Plm>) -> std::sync::MutexGuard<'_, Plm> {
    // Every Plm operation saves its state before returning: a panic cannot leave a half state.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Manager {
    /// Opens the license manager over `db` with the section's settings. `default_link` is the
    /// license manager to contact when the section names none (a local's master).
    pub fn open(
        section: &ComplianceSection,
        db: Arc<PlmDb>,
        clock: Arc<dyn Clock>,
        default_link: Option<&str>,
    ) -> Result<Self> {
        let webhook = match &section.webhook_url {
            Some(u) => Some(
                Webhook::new(u, Duration::from_millis(section.webhook_timeout_ms))
                    .context("compliance.webhook_url")?,
            ),
            None => None,
        };
        let (policy, name): (Arc<dyn Compliance>, String) = match &section.plugin {
            Some(path) => {
                let host =
                    PluginHost::new(HostConfig::default()).context("starting the plugin host")?;
                let sha = section.plugin_sha256.as_deref().unwrap_or_default();
                let plugin = host
                    .load_file(path, sha)
                    .with_context(|| format!("loading compliance plugin {}", path.display()))?;
                let name = plugin.name().to_string();
                let hook = ComplianceHook::new();
                hook.slot()
                    .install(Arc::new(plugin))
                    .context("installing the compliance plugin")?;
                (Arc::new(hook), name)
            }
            None => (
                Arc::new(StandardCompliance),
                StandardCompliance.name().to_string(),
            ),
        };
        let url = section
            .license_manager_url
            .clone()
            .or_else(|| default_link.map(str::to_string))
            .map(|u| u.trim_end_matches('/').to_string());
        let link: Arc<dyn LicenseManagerLink> = match &url {
            Some(u) => Arc::new(HttpLink {
                url: u.clone(),
                agent: ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(5))
                    .build(),
            }),
            None => Arc::new(Itself),
        };
        let plm = Plm::open(
            db.clone(),
            Outbox::new(db, webhook),
            clock,
            policy,
            link,
            section.plm.clone(),
        )
        .context("opening the license manager")?;
        let m = Manager {
            plm: Mutex::new(plm),
            service: AtomicBool::new(true),
            reason: RwLock::new(String::new()),
            policy: name,
            license_manager: url,
        };
        m.refresh(&mut lock(&m.plm));
        Ok(m)
    }

    /// Re-reads whether the service is available (after any state change).
    fn refresh(&self, plm: &mut Plm) {
        match plm.check_service() {
            Ok(()) => self.service.store(true, Ordering::Release),
            Err(e) => {
                *self.reason.write().unwrap_or_else(|p| p.into_inner()) = e.to_string();
                self.service.store(false, Ordering::Release);
            }
        }
    }

    /// `Ok` while users may use the service; `403 deactivated` naming the reason when not.
    /// One atomic load: this is on every acquire and renewal.
    pub fn check_service(&self) -> Result<(), ApiError> {
        if self.service.load(Ordering::Acquire) {
            return Ok(());
        }
        let reason = self
            .reason
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Err(ApiError::new(StatusCode::FORBIDDEN, "deactivated", reason))
    }

    /// Runs `f` on the engine, then refreshes the service flag.
    pub fn with<T>(&self, f: impl FnOnce(&mut Plm) -> Result<T, PlmError>) -> Result<T, PlmError> {
        let mut plm = lock(&self.plm);
        let r = f(&mut plm);
        self.refresh(&mut plm);
        r
    }

    /// One maintenance pass: records `in_use`, then runs what is due.
    pub fn tick(&self, in_use: u32) -> Result<TickReport, PlmError> {
        self.with(|p| {
            p.record_usage(in_use)?;
            p.tick()
        })
    }

    /// The system failed over to this node: contact the license manager now; when it cannot
    /// be reached the free trial starts (SPEC §7).
    pub fn failover(&self) -> Result<(bool, PlmStatus), PlmError> {
        self.with(|p| {
            let reachable = p.sync_now()?;
            Ok((reachable, p.failover(reachable)?))
        })
    }
}

/// Opens the server's license manager database exclusively.
pub fn open_db(path: &Path) -> Result<Arc<PlmDb>> {
    PlmDb::open_exclusive(path)
        .map(Arc::new)
        .with_context(|| format!("opening {}", path.display()))
}

impl From<PlmError> for ApiError {
    fn from(e: PlmError) -> Self {
        match &e {
            PlmError::Deactivated { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, "deactivated", e.to_string())
            }
            PlmError::Config(_) => ApiError::bad("bad_request", e.to_string()),
            _ => ApiError::unavailable(e.to_string()),
        }
    }
}

/// The manager, or 404 when the server runs without `[compliance]`.
fn manager(app: &App) -> Result<&Manager, ApiError> {
    app.compliance.as_ref().ok_or_else(|| {
        ApiError::not_found("compliance is not enabled on this server (no [compliance] section)")
    })
}

/// Runs `f` on the engine off the async threads (it does SQLite and may contact the license
/// manager or the webhook).
async fn blocking<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&Manager) -> Result<T, PlmError> + Send + 'static,
) -> Result<T, ApiError> {
    manager(app)?;
    let app = app.clone();
    tokio::task::spawn_blocking(move || f(app.compliance.as_ref().expect("checked")))
        .await
        .map_err(|e| ApiError::unavailable(format!("license manager task failed: {e}")))?
        .map_err(ApiError::from)
}

/// What `GET /v1/compliance` answers.
#[derive(Serialize)]
pub struct StatusView {
    /// The status.
    #[serde(flatten)]
    pub status: PlmStatus,
    /// The system the licenses are installed on.
    pub system_id: String,
    /// The feature counted as users.
    pub feature: String,
    /// The policy that decides the mode.
    pub policy: String,
    /// The license manager contacted (`null`: this server).
    pub license_manager: Option<String>,
}

fn view(m: &Manager, p: &Plm, status: PlmStatus) -> StatusView {
    StatusView {
        status,
        system_id: p.config().system_id.clone(),
        feature: p.config().feature.clone(),
        policy: m.policy.clone(),
        license_manager: m.license_manager.clone(),
    }
}

/// `GET /v1/compliance` (any token): the mode, trial and its end date, the violation and its
/// disable date, installed counts of the last analysis.
pub async fn status(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Json<StatusView>, ApiError> {
    app.caller(&headers)?;
    blocking(&app, |m| {
        m.with(|p| {
            let s = p.status()?;
            Ok(view(m, p, s))
        })
    })
    .await
    .map(Json)
}

/// `POST /v1/admin/compliance/analyze`: runs the license analysis now.
pub async fn analyze(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Json<StatusView>, ApiError> {
    app.admin(&headers)?;
    blocking(&app, |m| {
        m.with(|p| {
            let s = p.analyze_now()?;
            Ok(view(m, p, s))
        })
    })
    .await
    .map(Json)
}

/// `POST /v1/admin/compliance/sync`: contacts the license manager now.
pub async fn sync(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    app.admin(&headers)?;
    blocking(&app, |m| {
        m.with(|p| {
            let synced = p.sync_now()?;
            let s = p.status()?;
            Ok(json!({ "synced": synced, "status": view(m, p, s) }))
        })
    })
    .await
    .map(Json)
}

/// `POST /v1/admin/compliance/failover`: this node took over; contacts the license manager
/// and starts the free trial when it cannot be reached.
pub async fn failover(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    app.admin(&headers)?;
    blocking(&app, |m| {
        let (reachable, s) = m.failover()?;
        m.with(|p| Ok(json!({ "license_manager_reachable": reachable, "status": view(m, p, s) })))
    })
    .await
    .map(Json)
}

/// `GET /v1/admin/compliance/history`: the usage history of the daily analyses.
pub async fn history(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Json<Vec<UsageRecord>>, ApiError> {
    app.admin(&headers)?;
    blocking(&app, |m| m.with(|p| p.usage_history()))
        .await
        .map(Json)
}

/// After licenses changed (PAK fulfilled, rehost): the analysis runs at once, so fixed
/// licenses restore service at once.
pub async fn licenses_changed(app: &Arc<App>) -> Result<(), ApiError> {
    if app.compliance.is_none() {
        return Ok(());
    }
    blocking(app, |m| m.with(|p| p.analyze_now().map(|_| ()))).await
}

/// The maintenance pass: usage of the counted feature, then [`Plm::tick`].
pub async fn maintain(app: &Arc<App>) {
    let Some(m) = &app.compliance else { return };
    let feature = m
        .with(|p| Ok(p.config().feature.clone()))
        .unwrap_or_default();
    let in_use: u64 = app
        .ledger()
        .and_then(|l| l.usage_all().ok())
        .map(|all| {
            all.iter()
                .filter(|u| u.feature == feature)
                .map(|u| u.in_use)
                .sum()
        })
        .unwrap_or(0);
    let in_use = u32::try_from(in_use).unwrap_or(u32::MAX);
    let app = app.clone();
    let r =
        tokio::task::spawn_blocking(move || app.compliance.as_ref().expect("checked").tick(in_use))
            .await;
    match r {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "license manager tick failed"),
        Err(e) => tracing::warn!(error = %e, "license manager tick task failed"),
    }
}
