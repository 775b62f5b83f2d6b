//! The local side of Enterprise Wide Licensing (see the parent module).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::json;
use weblm_core::clock::{Clock, Timestamp};
use weblm_core::ledger::{Grant, Ledger, LedgerConfig, LedgerError, Usage};
use weblm_core::license::{self, Expect, LicenseFile, VerifiedLicense, VerifyingKey};

use super::super::config::{LocalConfig, ServeConfig};
use super::super::error::ApiError;
use super::super::{bearer, json_error, App};
use super::{agent, call, Envelope, Key, ALLOCATION_PRODUCT};

struct Installed {
    serial: u64,
    counts: BTreeMap<Key, u32>,
    base: BTreeMap<Key, u32>,
    valid_until: Option<Timestamp>,
}

/// The local side.
pub struct Local {
    cfg: LocalConfig,
    master_key: VerifyingKey,
    ledger_config: LedgerConfig,
    clock: Arc<dyn Clock>,
    installed: Mutex<Option<Installed>>,
    /// Serializes acquisitions, installs and returns (an install checks in-use counts).
    gate: tokio::sync::Mutex<()>,
    next_return: Mutex<Timestamp>,
    agent: ureq::Agent,
    file: std::path::PathBuf,
    db: std::path::PathBuf,
}

fn verify_envelope(
    key: &VerifyingKey,
    name: &str,
    env: &Envelope,
) -> Result<VerifiedLicense, ApiError> {
    let file = LicenseFile::parse(&env.license)
        .map_err(|e| ApiError::bad("bad_allocation", format!("allocation file: {e}")))?;
    let lic = file
        .verify(key, &Expect::host(name))
        .map_err(|e| ApiError::forbidden(format!("allocation refused: {e}")))?;
    if lic.content().product != ALLOCATION_PRODUCT
        || lic.content().product_version != env.serial.to_string()
    {
        return Err(ApiError::bad(
            "bad_allocation",
            "not an allocation file, or its serial does not match",
        ));
    }
    Ok(lic)
}

fn counts_of(lic: &VerifiedLicense) -> BTreeMap<Key, u32> {
    lic.content()
        .features()
        .into_iter()
        .map(|(k, codes)| (k, codes.iter().map(|c| c.count).sum()))
        .collect()
}

fn valid_until_of(lic: &VerifiedLicense) -> Option<Timestamp> {
    lic.content()
        .codes
        .iter()
        .filter_map(|c| c.end)
        .max()
        .map(|d| Timestamp::from_date(d).plus_days(1))
}

impl Local {
    /// Opens the local: the last installed allocation (if any) and its ledger.
    pub fn open(
        config: &ServeConfig,
        clock: Arc<dyn Clock>,
        ledger_config: LedgerConfig,
    ) -> Result<(Self, Option<Ledger>)> {
        let cfg = config.local.clone().expect("checked");
        let master_key =
            license::decode_verifying_key(&license::read_text(&cfg.master_public_key)?)
                .with_context(|| format!("reading {}", cfg.master_public_key.display()))?;
        let file = config.sibling(".allocation.json");
        let mut installed = None;
        let mut ledger = None;
        if let Ok(text) = std::fs::read_to_string(&file) {
            let env: Envelope = serde_json::from_str(&text)
                .with_context(|| format!("reading {}", file.display()))?;
            let lic = verify_envelope(&master_key, &cfg.name, &env)
                .map_err(|e| anyhow::anyhow!("{}: {}", file.display(), e.message))?;
            ledger = Some(Ledger::open(
                &config.state_db,
                &lic,
                clock.clone(),
                ledger_config.clone(),
            )?);
            installed = Some(Installed {
                serial: env.serial,
                counts: counts_of(&lic),
                base: env
                    .base
                    .iter()
                    .map(|a| ((a.feature.clone(), a.version.clone()), a.count))
                    .collect(),
                valid_until: valid_until_of(&lic),
            });
        }
        Ok((
            Local {
                cfg,
                master_key,
                ledger_config,
                clock,
                installed: Mutex::new(installed),
                gate: tokio::sync::Mutex::new(()),
                next_return: Mutex::new(Timestamp(i64::MIN)),
                agent: agent(),
                file,
                db: config.state_db.clone(),
            },
            ledger,
        ))
    }

    fn installed(&self) -> std::sync::MutexGuard<'_, Option<Installed>> {
        self.installed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Health fields of a local.
    pub fn health(&self, app: &App) -> serde_json::Value {
        let now = app.clock.now();
        match &*self.installed() {
            None => json!({ "installed": false }),
            Some(i) => json!({
                "installed": true,
                "serial": i.serial,
                "valid_until": i.valid_until,
                "lapsed": i.valid_until.is_some_and(|v| now >= v),
            }),
        }
    }

    /// Report fields of a local: base allocation and borrowed licenses.
    pub fn report_extra(&self, u: &Usage, out: &mut serde_json::Map<String, serde_json::Value>) {
        if let Some(i) = &*self.installed() {
            let k = (u.feature.clone(), u.version.clone());
            let base = i.base.get(&k).copied().unwrap_or(0);
            let c = i.counts.get(&k).copied().unwrap_or(0);
            out.insert("base".into(), json!(base));
            out.insert("borrowed".into(), json!(c.saturating_sub(base)));
            out.insert("valid_until".into(), json!(i.valid_until));
        }
    }

    /// Installs a newer allocation (caller holds the gate). Refuses one that would leave more
    /// licenses in use than it allows.
    fn install(&self, app: &App, env: &Envelope) -> Result<(), ApiError> {
        let lic = verify_envelope(&self.master_key, &self.cfg.name, env)?;
        if let Some(i) = &*self.installed() {
            if env.serial == i.serial {
                // Delivered twice (a retry after a lost answer): already installed.
                return Ok(());
            }
            if env.serial < i.serial {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "stale_allocation",
                    format!(
                        "allocation {} is not newer than the installed {}",
                        env.serial, i.serial
                    ),
                ));
            }
        }
        let counts = counts_of(&lic);
        if let Some(ledger) = app.ledger() {
            for u in ledger.usage_all()? {
                let c = counts
                    .get(&(u.feature.clone(), u.version.clone()))
                    .copied()
                    .unwrap_or(0);
                if u.in_use > c as u64 {
                    return Err(ApiError::conflict(format!(
                        "cannot reduce {} {} to {c}: {} licenses are in use",
                        u.feature, u.version, u.in_use
                    )));
                }
            }
            ledger.reload(&lic)?;
        } else {
            let ledger = Ledger::open(
                &self.db,
                &lic,
                self.clock.clone(),
                self.ledger_config.clone(),
            )
            .map_err(|e| ApiError::unavailable(e.to_string()))?;
            *app.ledger.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(ledger));
        }
        let tmp = self.file.with_extension("json.tmp");
        let saved = std::fs::write(&tmp, serde_json::to_vec(env).expect("serializes"))
            .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
            .and_then(|_| std::fs::rename(&tmp, &self.file));
        if let Err(e) = saved {
            tracing::error!(error = %e, "cannot save the allocation");
        }
        tracing::info!(serial = env.serial, ?counts, "allocation installed");
        *self.installed() = Some(Installed {
            serial: env.serial,
            counts,
            base: env
                .base
                .iter()
                .map(|a| ((a.feature.clone(), a.version.clone()), a.count))
                .collect(),
            valid_until: valid_until_of(&lic),
        });
        Ok(())
    }

    /// When the allocation has lapsed, releases every lease granted from it.
    pub fn check_lapse(&self, app: &App) {
        let now = app.clock.now();
        let lapsed = self
            .installed()
            .as_ref()
            .is_some_and(|i| i.valid_until.is_some_and(|v| now >= v));
        if !lapsed {
            return;
        }
        if let Some(ledger) = app.ledger() {
            let leases = ledger.leases().unwrap_or_default();
            if !leases.is_empty() {
                tracing::error!(
                    leases = leases.len(),
                    "allocation lapsed without renewal from the master: releasing every lease"
                );
            }
            for l in leases {
                let _ = ledger.release(l.id);
            }
        }
    }

    /// A client released licenses: give unused borrowed ones back at the next tick.
    pub fn released(&self, _app: &App) {
        *self.next_return.lock().unwrap_or_else(|p| p.into_inner()) = Timestamp(i64::MIN);
    }

    async fn master_call(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        call(
            self.agent.clone(),
            "POST",
            format!("{}{path}", self.cfg.master_url.trim_end_matches('/')),
            self.cfg.master_token.clone(),
            Some(body),
        )
        .await
    }

    /// Grants from the allocation; borrows the shortfall from the master first.
    pub async fn acquire(
        &self,
        app: &App,
        client: &str,
        feature: &str,
        version: &str,
        count: u32,
    ) -> Result<Grant, ApiError> {
        let _gate = self.gate.lock().await;
        self.check_lapse(app);
        let available = app
            .ledger()
            .and_then(|l| l.usage(feature, version).ok())
            .map_or(0, |u| u.available);
        if available < count as u64 {
            let need = count as u64 - available;
            match self
                .master_call(
                    "/v1/ewl/borrow",
                    json!({"feature": feature, "version": version, "count": need}),
                )
                .await
            {
                Ok(v) => {
                    let env: Result<Envelope, _> = serde_json::from_value(v["allocation"].clone());
                    match env {
                        Ok(env) => {
                            if let Err(e) = self.install(app, &env) {
                                tracing::warn!(error = %e.message, "borrowed allocation not installed");
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "master answered a bad allocation"),
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot borrow from the master"),
            }
        }
        match app.ledger() {
            Some(l) => Ok(l.acquire(client, feature, version, count)?),
            None => Err(ApiError::from(LedgerError::UnknownFeature {
                feature: feature.into(),
                version: version.into(),
            })),
        }
    }

    /// Gives unused borrowed licenses back to the master (one feature per call).
    pub async fn return_unused(app: &Arc<App>) {
        let l = app.local.as_ref().expect("local");
        let now = app.clock.now();
        {
            let mut nr = l.next_return.lock().unwrap_or_else(|p| p.into_inner());
            if now < *nr {
                return;
            }
            *nr = now.plus_secs(l.cfg.return_every_secs);
        }
        let Some(ledger) = app.ledger() else { return };
        let _gate = l.gate.lock().await;
        let Ok(usage) = ledger.usage_all() else {
            return;
        };
        let give = {
            let inst = l.installed();
            let Some(i) = &*inst else { return };
            usage.iter().find_map(|u| {
                let k = (u.feature.clone(), u.version.clone());
                let c = i.counts.get(&k).copied().unwrap_or(0) as u64;
                let b = i.base.get(&k).copied().unwrap_or(0) as u64;
                let n = c.saturating_sub(b).min(c.saturating_sub(u.in_use));
                (n > 0).then_some((k, n))
            })
        };
        let Some(((feature, version), n)) = give else {
            return;
        };
        let res = l
            .master_call(
                "/v1/ewl/return",
                json!({"feature": feature, "version": version, "count": n}),
            )
            .await;
        let env: Envelope = match res.and_then(|v| {
            serde_json::from_value(v["allocation"].clone()).map_err(|e| e.to_string())
        }) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "cannot return borrowed licenses");
                return;
            }
        };
        if let Err(e) = l.install(app, &env) {
            tracing::warn!(error = %e.message, "returned allocation not installed");
            return;
        }
        match l
            .master_call("/v1/ewl/ack", json!({"serial": env.serial}))
            .await
        {
            Ok(_) => tracing::info!(%feature, returned = n, "borrowed licenses given back"),
            Err(e) => {
                tracing::warn!(error = %e, "return not confirmed; the master keeps them reserved")
            }
        }
        *l.next_return.lock().unwrap_or_else(|p| p.into_inner()) = Timestamp(i64::MIN);
    }
}

/// `PUT /v1/ewl/allocation` (local; the master's push token): install a newer allocation.
pub async fn install_allocation(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Json<Envelope>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let l = app
        .local
        .as_ref()
        .ok_or_else(|| ApiError::not_found("not a local"))?;
    if bearer(&headers) != Some(l.cfg.push_token.as_str()) {
        return Err(ApiError::unauthorized());
    }
    let Json(env) = body.map_err(json_error)?;
    let _gate = l.gate.lock().await;
    l.install(&app, &env)?;
    Ok(Json(json!({ "serial": env.serial, "installed": true })))
}
