//! `weblm serve`: the license server daemon (HTTP + JSON, documented in `docs/openapi.yaml`).
//!
//! One process, one role: `standard` serves a license file through the lease ledger; `master`
//! and `local` are the two sides of Enterprise Wide Licensing ([`ewl`]). Every role has a health
//! endpoint, a usage report with 7/30-day peaks, who holds what, and an admin force-release.
//! Clients authenticate with a shared token each; SIGTERM (or Ctrl-C) stops accepting requests,
//! lets in-flight ones finish, and flushes the state before exit.

pub mod alloc;
pub mod compliance;
pub mod config;
pub mod demo;
pub mod error;
pub mod ewl;
pub mod peaks;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use anyhow::{Context, Result};
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use weblm_core::api::{
    AcquireRequest, AcquireResponse, ReleaseResponse, RenewResponse, MAX_REQUEST_COUNT,
};
use weblm_core::clock::{Clock, ManualClock, SystemClock, Timestamp};
use weblm_core::ledger::{LeaseId, Ledger, LedgerConfig};
use weblm_core::license::{self, Expect, VerifiedLicense};

use config::{Role, ServeConfig};
use error::ApiError;
use peaks::Peaks;

/// Shared server state.
pub struct App {
    /// The configuration.
    pub config: ServeConfig,
    /// The clock every rule reads.
    pub clock: Arc<dyn Clock>,
    /// The same clock when it is the test-only manual clock.
    pub manual: Option<ManualClock>,
    tokens: HashMap<String, Arc<str>>,
    /// The ledger (a local has none until its first allocation arrives).
    pub ledger: RwLock<Option<Arc<Ledger>>>,
    peaks: Mutex<Peaks>,
    /// Master side of Enterprise Wide Licensing.
    pub master: Option<ewl::Master>,
    /// Local side of Enterprise Wide Licensing.
    pub local: Option<ewl::Local>,
    /// The license manager database (`<state_db>.plm.db`: PAKs, installed licenses, alerts,
    /// compliance state), held exclusively while the server runs.
    pub plm_db: Arc<weblm_core::plm_db::PlmDb>,
    /// The Cisco-style license manager, when `[compliance]` is configured.
    pub compliance: Option<compliance::Manager>,
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The administrator.
    Admin,
    /// A configured client.
    Client(Arc<str>),
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

impl App {
    /// The calling client or admin, or 401.
    pub fn caller(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let token = bearer(headers).ok_or_else(ApiError::unauthorized)?;
        if token == self.config.admin_token {
            return Ok(Caller::Admin);
        }
        self.tokens
            .get(token)
            .map(|id| Caller::Client(id.clone()))
            .ok_or_else(ApiError::unauthorized)
    }

    fn client(&self, headers: &HeaderMap) -> Result<Arc<str>, ApiError> {
        match self.caller(headers)? {
            Caller::Client(c) => Ok(c),
            Caller::Admin => Err(ApiError::forbidden(
                "the admin token cannot hold leases; use a client token",
            )),
        }
    }

    fn admin(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        match self.caller(headers)? {
            Caller::Admin => Ok(()),
            Caller::Client(_) => Err(ApiError::forbidden("this endpoint needs the admin token")),
        }
    }

    /// The ledger, or 503 when a local has no allocation yet.
    pub fn ledger(&self) -> Option<Arc<Ledger>> {
        self.ledger
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn ledger_config(&self) -> LedgerConfig {
        LedgerConfig {
            lease_lifetime_secs: self.config.lease_lifetime_secs,
            ..LedgerConfig::default()
        }
    }

    /// Samples the usage peaks now.
    fn sample_peaks(&self) {
        let Some(ledger) = self.ledger() else { return };
        let Ok(usage) = ledger.usage_all() else {
            return;
        };
        let now = self.clock.now();
        let mut p = self.peaks.lock().unwrap_or_else(|p| p.into_inner());
        for u in usage {
            p.sample(&format!("{}@{}", u.feature, u.version), u.in_use, now);
        }
    }

    fn flush(&self) {
        self.sample_peaks();
        let path = self.config.sibling(".peaks.json");
        if let Err(e) = self
            .peaks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .save(&path)
        {
            tracing::warn!(file = %path.display(), error = %e, "cannot save usage peaks");
        }
    }
}

fn load_verified(config: &ServeConfig) -> Result<VerifiedLicense> {
    let key_path = config.vendor_public_key.as_ref().expect("checked");
    let key = license::decode_verifying_key(&license::read_text(key_path)?)
        .with_context(|| format!("reading {}", key_path.display()))?;
    let lic = config.license.as_ref().expect("checked");
    license::load_license(
        lic,
        &key,
        &Expect::host(config.host_id.clone().expect("checked")),
    )
    .with_context(|| format!("loading license {}", lic.display()))
}

/// The clock of a server with `config`: the system clock, or (TEST ONLY, `test_clock = true`)
/// a manual clock that continues from where it was last moved to (`<state_db>.test_clock`),
/// so a restarted server and the `weblm compliance` command see the same time.
pub fn clock_for(config: &ServeConfig) -> (Arc<dyn Clock>, Option<ManualClock>) {
    if !config.test_clock {
        return (Arc::new(SystemClock), None);
    }
    tracing::warn!("TEST-ONLY manual clock enabled: POST /v1/admin/test/clock moves time");
    let saved = std::fs::read_to_string(config.sibling(".test_clock"))
        .ok()
        .and_then(|t| t.trim().parse::<i64>().ok())
        .map(Timestamp);
    let start = config.test_clock_start.unwrap_or_else(|| SystemClock.now());
    let m = ManualClock::new(saved.map_or(start, |s| s.max(start)));
    (Arc::new(m.clone()), Some(m))
}

/// Builds the application state: opens the ledger, the EWL side, the peaks.
pub fn build(config: ServeConfig) -> Result<Arc<App>> {
    let (clock, manual) = clock_for(&config);
    if let Some(dir) = config.state_db.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tokens = config
        .clients
        .iter()
        .map(|c| (c.token.clone(), Arc::<str>::from(c.id.as_str())))
        .collect();
    let peaks = Peaks::load(&config.sibling(".peaks.json"));
    let plm_db = compliance::open_db(&config.sibling(".plm.db"))?;
    let manager = match &config.compliance {
        Some(section) => Some(compliance::Manager::open(
            section,
            plm_db.clone(),
            clock.clone(),
            config.local.as_ref().map(|l| l.master_url.as_str()),
        )?),
        None => None,
    };
    let mut app = App {
        clock: clock.clone(),
        manual,
        tokens,
        ledger: RwLock::new(None),
        peaks: Mutex::new(peaks),
        master: None,
        local: None,
        plm_db,
        compliance: manager,
        config,
    };
    match app.config.role {
        Role::Standard | Role::Master => {
            let lic = load_verified(&app.config)?;
            let ledger = Ledger::open(&app.config.state_db, &lic, clock, app.ledger_config())
                .with_context(|| format!("opening {}", app.config.state_db.display()))?;
            let ledger = Arc::new(ledger);
            if app.config.role == Role::Master {
                app.master = Some(ewl::Master::new(&app.config, &ledger)?);
            }
            *app.ledger.get_mut().unwrap_or_else(|p| p.into_inner()) = Some(ledger);
        }
        Role::Local => {
            let (local, ledger) = ewl::Local::open(&app.config, clock, app.ledger_config())?;
            app.local = Some(local);
            *app.ledger.get_mut().unwrap_or_else(|p| p.into_inner()) = ledger.map(Arc::new);
        }
    }
    Ok(Arc::new(app))
}

/// The HTTP routes.
pub fn router(app: Arc<App>) -> Router {
    let limit = app.config.max_body_bytes;
    Router::new()
        .route("/health", get(health))
        .route("/v1/leases", post(acquire).get(who_holds_what))
        .route("/v1/leases/:id/renew", post(renew))
        .route("/v1/leases/:id", delete(release))
        .route("/v1/usage", get(usage))
        .route("/v1/admin/release-client", post(release_client))
        .route("/v1/admin/test/clock", post(test_clock))
        .route("/v1/admin/ewl/allocation", post(ewl::admin_set_allocation))
        .route("/v1/ewl/allocation", put(ewl::install_allocation))
        .route("/v1/ewl/borrow", post(ewl::borrow))
        .route("/v1/ewl/return", post(ewl::give_back))
        .route("/v1/ewl/ack", post(ewl::ack))
        .route("/v1/alloc/plan", post(alloc::plan_route))
        .route("/v1/admin/paks", post(alloc::register_pak))
        .route("/v1/admin/paks/:id/fulfil", post(alloc::fulfil_pak))
        .route("/v1/admin/rehost", post(alloc::rehost))
        .route("/v1/admin/licenses", get(alloc::licenses))
        .route("/v1/admin/alerts", get(alloc::alerts))
        .route("/v1/compliance", get(compliance::status))
        .route("/v1/admin/compliance/analyze", post(compliance::analyze))
        .route("/v1/admin/compliance/sync", post(compliance::sync))
        .route("/v1/admin/compliance/failover", post(compliance::failover))
        .route("/v1/admin/compliance/history", get(compliance::history))
        .fallback(|| async { ApiError::not_found("no such endpoint; see docs/openapi.yaml") })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}

/// Maps a JSON body rejection to a named error (413 for an oversized body).
pub fn json_error(r: JsonRejection) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "request body is larger than max_body_bytes",
        )
    } else {
        ApiError::new(r.status(), "bad_json", r.body_text())
    }
}

fn lease_path(p: Result<UrlPath<LeaseId>, PathRejection>) -> Result<LeaseId, ApiError> {
    p.map(|UrlPath(id)| id)
        .map_err(|e| ApiError::bad("bad_lease_id", format!("lease id: {}", e.body_text())))
}

/// Checks the count of a request: 1..=MAX_REQUEST_COUNT.
pub fn check_count(count: i64) -> Result<u32, ApiError> {
    if count < 1 {
        return Err(ApiError::bad(
            "bad_count",
            format!("count must be at least 1, got {count}"),
        ));
    }
    if count as u64 > MAX_REQUEST_COUNT {
        return Err(ApiError::bad(
            "bad_count",
            format!("count {count} is larger than the maximum of {MAX_REQUEST_COUNT}"),
        ));
    }
    Ok(count as u32)
}

fn check_name(what: &str, s: &str) -> Result<(), ApiError> {
    if s.is_empty() || s.len() > 128 {
        return Err(ApiError::bad(
            "bad_request",
            format!("{what} must be 1 to 128 characters"),
        ));
    }
    Ok(())
}

async fn health(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    let mut v = json!({
        "status": "ok",
        "role": app.config.role.as_str(),
        "version": env!("CARGO_PKG_VERSION"),
        "time": app.clock.now(),
        "test_clock": app.manual.is_some(),
    });
    if let Some(m) = &app.master {
        v["alerts"] = json!(m.alerts());
    }
    if let Some(l) = &app.local {
        v["allocation"] = l.health(&app);
    }
    if let Some(c) = &app.compliance {
        v["service_available"] = json!(c.check_service().is_ok());
    }
    Json(v)
}

async fn acquire(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Json<AcquireRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<AcquireResponse>), ApiError> {
    let client = app.client(&headers)?;
    if let Some(c) = &app.compliance {
        c.check_service()?;
    }
    let Json(req) = body.map_err(json_error)?;
    check_name("feature", &req.feature)?;
    check_name("version", &req.version)?;
    let count = check_count(req.count)?;
    let grant = match app.config.role {
        Role::Standard => {
            let ledger = app.ledger().expect("standard has a ledger");
            ledger.acquire(&client, &req.feature, &req.version, count)?
        }
        Role::Master => {
            let m = app.master.as_ref().expect("master");
            m.acquire(&app, &client, &req.feature, &req.version, count)?
        }
        Role::Local => {
            let l = app.local.as_ref().expect("local");
            l.acquire(&app, &client, &req.feature, &req.version, count)
                .await?
        }
    };
    let status = if grant.granted > 0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(AcquireResponse {
            lease: grant.lease,
            granted: grant.granted,
            wanted: grant.wanted,
            expires_at: grant.expires_at,
            lifetime_secs: app.config.lease_lifetime_secs,
        }),
    ))
}

async fn renew(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    id: Result<UrlPath<LeaseId>, PathRejection>,
) -> Result<Json<RenewResponse>, ApiError> {
    let client = app.client(&headers)?;
    let id = lease_path(id)?;
    if let Some(c) = &app.compliance {
        c.check_service()?;
    }
    if let Some(l) = &app.local {
        l.check_lapse(&app);
    }
    let ledger = app
        .ledger()
        .ok_or_else(|| weblm_core::ledger::LedgerError::UnknownLease(id))?;
    let lifetime = match &app.master {
        Some(m) => m.reserve_secs(),
        None => app.config.lease_lifetime_secs,
    };
    let expires_at = ledger.renew_held(id, &client, lifetime)?;
    Ok(Json(RenewResponse {
        lease: id,
        expires_at,
        lifetime_secs: app.config.lease_lifetime_secs,
    }))
}

async fn release(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    id: Result<UrlPath<LeaseId>, PathRejection>,
) -> Result<Json<ReleaseResponse>, ApiError> {
    let client = app.client(&headers)?;
    let id = lease_path(id)?;
    let ledger = app
        .ledger()
        .ok_or_else(|| weblm_core::ledger::LedgerError::UnknownLease(id))?;
    let released = ledger.release_held(id, &client)?;
    if let Some(l) = &app.local {
        l.released(&app);
    }
    Ok(Json(ReleaseResponse {
        lease: id,
        released,
    }))
}

/// One line of the usage report.
#[derive(Serialize)]
struct UsageLine {
    feature: String,
    version: String,
    /// Licenses this server may grant (its entitlement; for a local, its allocation).
    allocated: u32,
    in_use: u64,
    /// `in_use / allocated` in percent (0 when nothing is allocated).
    percent: f64,
    peak_7d: u64,
    peak_30d: u64,
    leases: usize,
    #[serde(flatten)]
    extra: serde_json::Map<String, serde_json::Value>,
}

async fn usage(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    app.admin(&headers)?;
    app.sample_peaks();
    let now = app.clock.now();
    let mut lines = Vec::new();
    if let Some(ledger) = app.ledger() {
        let peaks = app.peaks.lock().unwrap_or_else(|p| p.into_inner());
        for u in ledger.usage_all()? {
            let key = format!("{}@{}", u.feature, u.version);
            let mut extra = serde_json::Map::new();
            if let Some(m) = &app.master {
                m.report_extra(&app, &ledger, &u, &mut extra);
            }
            if let Some(l) = &app.local {
                l.report_extra(&u, &mut extra);
            }
            lines.push(UsageLine {
                percent: if u.entitled == 0 {
                    0.0
                } else {
                    (u.in_use as f64 * 1000.0 / u.entitled as f64).round() / 10.0
                },
                allocated: u.entitled,
                in_use: u.in_use,
                peak_7d: peaks.peak(&key, now, 7),
                peak_30d: peaks.peak(&key, now, 30),
                leases: u.leases,
                feature: u.feature,
                version: u.version,
                extra,
            });
        }
    }
    Ok(Json(json!({
        "role": app.config.role.as_str(),
        "time": now,
        "features": lines,
    })))
}

#[derive(Serialize)]
struct Holding {
    lease: LeaseId,
    client: String,
    feature: String,
    version: String,
    count: u32,
    since: Timestamp,
    last_renewal: Timestamp,
    expires_at: Timestamp,
}

async fn who_holds_what(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    app.admin(&headers)?;
    let leases = match app.ledger() {
        Some(l) => l.leases()?,
        None => Vec::new(),
    };
    let out: Vec<Holding> = leases
        .into_iter()
        .map(|l| Holding {
            lease: l.id,
            client: l.client,
            feature: l.feature,
            version: l.version,
            count: l.count,
            since: l.granted_at,
            last_renewal: l.renewed_at,
            expires_at: l.expires_at,
        })
        .collect();
    Ok(Json(json!({ "leases": out })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseClient {
    client: String,
}

async fn release_client(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Json<ReleaseClient>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    app.admin(&headers)?;
    let Json(req) = body.map_err(json_error)?;
    check_name("client", &req.client)?;
    let released = match app.ledger() {
        Some(l) => l.release_client(&req.client)?,
        None => 0,
    };
    tracing::info!(client = %req.client, released, "admin force-release");
    if let Some(l) = &app.local {
        l.released(&app);
    }
    Ok(Json(json!({ "client": req.client, "released": released })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveClock {
    advance_secs: i64,
}

/// TEST ONLY (enabled by `test_clock = true`): moves the server's manual clock forward.
async fn test_clock(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Json<MoveClock>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    app.admin(&headers)?;
    let Some(m) = &app.manual else {
        return Err(ApiError::not_found(
            "the test clock is not enabled on this server (test_clock = true)",
        ));
    };
    let Json(req) = body.map_err(json_error)?;
    if !(0..=400 * Timestamp::DAY).contains(&req.advance_secs) {
        return Err(ApiError::bad(
            "bad_request",
            "advance_secs must be between 0 and 400 days",
        ));
    }
    m.advance_secs(req.advance_secs);
    if let Err(e) = std::fs::write(app.config.sibling(".test_clock"), m.now().0.to_string()) {
        tracing::warn!(error = %e, "cannot save the test clock");
    }
    tracing::warn!(advance_secs = req.advance_secs, now = %m.now(), "TEST clock moved");
    maintenance(&app).await;
    Ok(Json(json!({ "time": m.now() })))
}

/// Periodic work: peaks, EWL pushes, lapses and returns, the license manager's tick.
async fn maintenance(app: &Arc<App>) {
    app.sample_peaks();
    if let Some(ledger) = app.ledger() {
        let _ = ledger.expire();
    }
    if app.master.is_some() {
        ewl::Master::tick(app).await;
    }
    if let Some(l) = &app.local {
        l.check_lapse(app);
        ewl::Local::return_unused(app).await;
    }
    compliance::maintain(app).await;
}

/// Runs the server until SIGTERM or Ctrl-C. Prints `listening on ADDR` on stdout when ready.
pub fn run(config_path: &Path) -> Result<()> {
    let config = ServeConfig::load(config_path)?;
    run_config(config)
}

/// Runs the server with a loaded configuration.
pub fn run_config(config: ServeConfig) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve(config))
}

async fn serve(config: ServeConfig) -> Result<()> {
    let listen = config.listen.clone();
    // Handlers first: a SIGTERM right after "listening on" must shut down cleanly too.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("installing the SIGINT handler")?;
    let app = build(config)?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, role = app.config.role.as_str(), "weblm server listening");
    println!("listening on {addr}");
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let bg = app.clone();
    let mut bg_stop = stop_rx.clone();
    let background = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        let mut n = 0u64;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = bg_stop.changed() => break,
            }
            maintenance(&bg).await;
            n += 1;
            if n.is_multiple_of(60) {
                bg.flush();
            }
        }
    });
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("interrupt: shutting down"),
            _ = stop_rx.changed() => {}
        }
    };
    axum::serve(listener, router(app.clone()))
        .with_graceful_shutdown(shutdown)
        .await?;
    let _ = stop_tx.send(true);
    let _ = background.await;
    app.flush();
    // Dropping the last ledger handle closes SQLite (and checkpoints its WAL).
    app.ledger.write().unwrap_or_else(|p| p.into_inner()).take();
    tracing::info!("state flushed; bye");
    Ok(())
}
