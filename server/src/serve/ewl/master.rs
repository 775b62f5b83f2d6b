//! The master side of Enterprise Wide Licensing (see the parent module).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use weblm_core::clock::Timestamp;
use weblm_core::codes::{CodeKind, LicenseCode, Term};
use weblm_core::ledger::{Grant, LeaseId, Ledger, Usage};
use weblm_core::license::{self, LicenseContent, LicenseFile, SigningKey, FORMAT_VERSION};

use super::super::config::{LocalEntry, MasterConfig, ServeConfig};
use super::super::error::ApiError;
use super::super::{check_count, check_name, json_error, App, Caller};
use super::{agent, call, date_of, CountRequest, Envelope, Key, ALLOCATION_PRODUCT, ALLOC_PREFIX};

struct Issued {
    serial: u64,
    counts: BTreeMap<Key, u32>,
    envelope: Envelope,
}

struct LocalState {
    entry: LocalEntry,
    base: BTreeMap<Key, u32>,
    leases: BTreeMap<Key, LeaseId>,
    /// A file issued for a push and not yet confirmed: retries re-send it unchanged.
    pending_push: Option<Issued>,
    /// A smaller file handed out by `return`, waiting for the local's ack.
    pending_ack: Option<Issued>,
    next_push: Timestamp,
    failures: u32,
    last_ack: Option<Timestamp>,
    /// The newest serial issued to this local: only a confirmation of that one may shrink
    /// the allocation leases (an older, smaller file may have been superseded by a larger one).
    latest: u64,
}

/// The master side.
pub struct Master {
    cfg: MasterConfig,
    key: SigningKey,
    name: String,
    locals: Mutex<BTreeMap<String, LocalState>>,
    alerts: Mutex<Vec<String>>,
    serial_file: std::path::PathBuf,
    serial: Mutex<u64>,
    agent: ureq::Agent,
}

impl Master {
    /// Sets up the master: finds the allocation leases already in the ledger and takes the
    /// configured allocations that are missing.
    pub fn new(config: &ServeConfig, ledger: &Arc<Ledger>) -> Result<Self> {
        let cfg = config.master.clone().expect("checked");
        if cfg.allocation_validity_secs < 2 * Timestamp::DAY {
            anyhow::bail!("master.allocation_validity_secs must be at least 2 days (allocation files end on day boundaries)");
        }
        let key = license::decode_signing_key(&license::read_text(&cfg.signing_key)?)
            .with_context(|| format!("reading {}", cfg.signing_key.display()))?;
        let serial_file = config.sibling(".serial");
        let serial = std::fs::read_to_string(&serial_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let existing = ledger.leases()?;
        let mut locals = BTreeMap::new();
        for e in &cfg.locals {
            let client = format!("{ALLOC_PREFIX}{}", e.name);
            let mut st = LocalState {
                entry: e.clone(),
                base: e
                    .allocation
                    .iter()
                    .map(|a| ((a.feature.clone(), a.version.clone()), a.count))
                    .collect(),
                leases: existing
                    .iter()
                    .filter(|l| l.client == client)
                    .map(|l| ((l.feature.clone(), l.version.clone()), l.id))
                    .collect(),
                pending_push: None,
                pending_ack: None,
                next_push: Timestamp(i64::MIN),
                failures: 0,
                last_ack: None,
                latest: 0,
            };
            let keys: Vec<(Key, u32)> = st.base.iter().map(|(k, c)| (k.clone(), *c)).collect();
            for (k, count) in keys {
                if count > 0 && !st.leases.contains_key(&k) {
                    let g = ledger.acquire_for(
                        &client,
                        &k.0,
                        &k.1,
                        count,
                        cfg.allocation_validity_secs + cfg.allocation_margin_secs,
                    )?;
                    if g.granted < count {
                        tracing::warn!(local = %e.name, feature = %k.0, wanted = count, granted = g.granted, "allocation only partly available");
                    }
                    if let Some(id) = g.lease {
                        st.leases.insert(k, id);
                    }
                }
            }
            locals.insert(e.name.clone(), st);
        }
        Ok(Master {
            name: config.host_id.clone().unwrap_or_default(),
            cfg,
            key,
            locals: Mutex::new(locals),
            alerts: Mutex::new(Vec::new()),
            serial_file,
            serial: Mutex::new(serial),
            agent: agent(),
        })
    }

    /// How long an IR client's direct licenses stay reserved after its last renewal.
    pub fn reserve_secs(&self) -> i64 {
        self.cfg.reserve_secs
    }

    fn alloc_lifetime(&self) -> i64 {
        self.cfg.allocation_validity_secs + self.cfg.allocation_margin_secs
    }

    /// Current alerts (failed pushes).
    pub fn alerts(&self) -> Vec<String> {
        self.alerts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn next_serial(&self) -> u64 {
        let mut s = self.serial.lock().unwrap_or_else(|p| p.into_inner());
        *s += 1;
        if let Err(e) = std::fs::write(&self.serial_file, s.to_string()) {
            tracing::warn!(error = %e, "cannot save the allocation serial");
        }
        *s
    }

    /// An IR client (or a local) takes floating licenses directly. Its own idle reservations of
    /// this feature (not renewed within a lease lifetime) are given back first, so a restarted
    /// client finds the licenses reserved for it.
    pub fn acquire(
        &self,
        app: &App,
        client: &str,
        feature: &str,
        version: &str,
        count: u32,
    ) -> Result<Grant, ApiError> {
        let ledger = app.ledger().expect("master has a ledger");
        let now = app.clock.now();
        let idle_after = app.config.lease_lifetime_secs;
        for l in ledger.leases()? {
            if l.client == client
                && l.feature == feature
                && l.version == version
                && l.renewed_at.plus_secs(idle_after) < now
            {
                let _ = ledger.release(l.id);
            }
        }
        Ok(ledger.acquire_for(client, feature, version, count, self.cfg.reserve_secs)?)
    }

    /// Allocation lease counts of one local.
    fn lease_counts(ledger: &Ledger, st: &LocalState) -> BTreeMap<Key, u32> {
        st.leases
            .iter()
            .filter_map(|(k, id)| ledger.lease(*id).ok().map(|l| (k.clone(), l.count)))
            .collect()
    }

    /// Makes sure every allocation lease of `st` is alive and lives `alloc_lifetime` from now
    /// (re-taking lapsed ones from the floating pool, up to the base), then signs a file with
    /// `counts` (which must not exceed the leases).
    fn refresh_leases(&self, ledger: &Ledger, name: &str, st: &mut LocalState) {
        let client = format!("{ALLOC_PREFIX}{name}");
        let mut keys: Vec<Key> = st.base.keys().cloned().collect();
        keys.extend(st.leases.keys().cloned());
        keys.sort();
        keys.dedup();
        for k in keys {
            let alive = st
                .leases
                .get(&k)
                .map(|id| ledger.renew_for(*id, self.alloc_lifetime()).is_ok())
                .unwrap_or(false);
            if !alive {
                st.leases.remove(&k);
                let want = st.base.get(&k).copied().unwrap_or(0);
                if want > 0 {
                    match ledger.acquire_for(&client, &k.0, &k.1, want, self.alloc_lifetime()) {
                        Ok(g) => {
                            if let Some(id) = g.lease {
                                st.leases.insert(k.clone(), id);
                            }
                        }
                        Err(e) => {
                            tracing::warn!(local = name, error = %e, "cannot re-take allocation")
                        }
                    }
                }
            }
        }
    }

    /// Signs a new allocation file for `st`; it supersedes any file awaiting confirmation.
    fn issue(
        &self,
        now: Timestamp,
        name: &str,
        st: &mut LocalState,
        counts: &BTreeMap<Key, u32>,
    ) -> Result<Issued> {
        let serial = self.next_serial();
        st.latest = serial;
        st.pending_ack = None;
        // A day early: tolerates a local whose clock is somewhat behind the master's.
        let start = date_of(now.plus_secs(-Timestamp::DAY));
        let end = date_of(now.plus_secs(self.cfg.allocation_validity_secs))
            .pred_opt()
            .unwrap_or(start);
        let codes = counts
            .iter()
            .filter(|(_, c)| **c > 0)
            .enumerate()
            .map(|(i, ((f, v), c))| LicenseCode {
                position: i as u32 + 1,
                feature: f.clone(),
                version: v.clone(),
                count: *c,
                kind: CodeKind::Additive,
                term: Term::Until,
                trial_days: None,
                trial_hours: None,
                start,
                end: Some(end),
                redundant: false,
            })
            .collect();
        let file = LicenseFile::issue(
            LicenseContent {
                format: FORMAT_VERSION,
                vendor: format!("weblm master {}", self.name),
                product: ALLOCATION_PRODUCT.into(),
                product_version: serial.to_string(),
                host_id: name.to_string(),
                issued: start,
                codes,
            },
            &self.key,
        )?;
        Ok(Issued {
            serial,
            counts: counts.clone(),
            envelope: Envelope {
                serial,
                license: file.to_toml(),
                base: st
                    .base
                    .iter()
                    .map(|((f, v), c)| super::super::config::AllocationEntry {
                        feature: f.clone(),
                        version: v.clone(),
                        count: *c,
                    })
                    .collect(),
            },
        })
    }

    /// Shrinks (or releases) allocation leases to a confirmed file's counts.
    fn apply_confirmed(ledger: &Ledger, st: &mut LocalState, counts: &BTreeMap<Key, u32>) {
        let keys: Vec<Key> = st.leases.keys().cloned().collect();
        for k in keys {
            let id = st.leases[&k];
            let c = counts.get(&k).copied().unwrap_or(0);
            if c == 0 {
                let _ = ledger.release(id);
                st.leases.remove(&k);
            } else if let Ok(l) = ledger.lease(id) {
                if c < l.count {
                    let _ = ledger.resize(id, c);
                }
            }
        }
    }

    fn alert(&self, msg: String) {
        tracing::error!(alert = %msg, "EWL alert");
        let mut a = self.alerts.lock().unwrap_or_else(|p| p.into_inner());
        a.retain(|m| !m.starts_with(msg.split(':').next().unwrap_or("")));
        a.push(msg);
    }

    /// Pushes due allocations (called every second and after a test clock move).
    pub async fn tick(app: &Arc<App>) {
        let m = app.master.as_ref().expect("master");
        let ledger = app.ledger().expect("master ledger");
        let now = app.clock.now();
        let due: Vec<(String, String, String)> = {
            let locals = m.locals.lock().unwrap_or_else(|p| p.into_inner());
            locals
                .iter()
                .filter(|(_, s)| now >= s.next_push)
                .map(|(n, s)| (n.clone(), s.entry.url.clone(), s.entry.push_token.clone()))
                .collect()
        };
        for (name, url, token) in due {
            let has_pending = {
                let locals = m.locals.lock().unwrap_or_else(|p| p.into_inner());
                locals.get(&name).is_some_and(|s| s.pending_push.is_some())
            };
            if !has_pending {
                // Issue a fresh file only to a local that answers: a dead local gets no extension.
                let probe = call(
                    m.agent.clone(),
                    "GET",
                    format!("{url}/health"),
                    token.clone(),
                    None,
                )
                .await;
                if let Err(e) = probe {
                    m.push_failed(&name, now, format!("probe failed: {e}"));
                    continue;
                }
                let mut locals = m.locals.lock().unwrap_or_else(|p| p.into_inner());
                let Some(st) = locals.get_mut(&name) else {
                    continue;
                };
                if st.pending_push.is_some() {
                    // Someone (an admin change) issued a file meanwhile: push that one.
                } else {
                    m.refresh_leases(&ledger, &name, st);
                    let counts = Self::lease_counts(&ledger, st);
                    match m.issue(now, &name, st, &counts) {
                        Ok(i) => st.pending_push = Some(i),
                        Err(e) => {
                            tracing::error!(error = %e, "cannot sign an allocation");
                            continue;
                        }
                    }
                }
            }
            let envelope = {
                let locals = m.locals.lock().unwrap_or_else(|p| p.into_inner());
                match locals.get(&name).and_then(|s| s.pending_push.as_ref()) {
                    Some(i) => i.envelope.clone(),
                    None => continue,
                }
            };
            let serial = envelope.serial;
            let res = call(
                m.agent.clone(),
                "PUT",
                format!("{url}/v1/ewl/allocation"),
                token,
                Some(serde_json::to_value(&envelope).expect("serializes")),
            )
            .await;
            let mut locals = m.locals.lock().unwrap_or_else(|p| p.into_inner());
            let Some(st) = locals.get_mut(&name) else {
                continue;
            };
            match res {
                Ok(_) => {
                    // Only the file we pushed leaves the pending slot; a newer pending file
                    // (an admin change issued meanwhile) stays and goes out next.
                    if st.pending_push.as_ref().is_some_and(|i| i.serial == serial) {
                        let i = st.pending_push.take().expect("checked");
                        if serial == st.latest {
                            Self::apply_confirmed(&ledger, st, &i.counts);
                        }
                    }
                    st.failures = 0;
                    st.last_ack = Some(now);
                    st.next_push = if st.pending_push.is_some() {
                        now
                    } else {
                        now.plus_secs(m.cfg.resend_every_secs)
                    };
                    tracing::info!(local = %name, serial, "allocation delivered");
                    drop(locals);
                    m.alerts
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .retain(|a| !a.starts_with(&format!("local {name}")));
                }
                Err(e) if e.contains("stale_allocation") => {
                    // The local already holds a newer file (a borrow or return overtook us).
                    if st.pending_push.as_ref().is_some_and(|p| p.serial == serial) {
                        st.pending_push = None;
                    }
                    st.failures = 0;
                    st.next_push = now.plus_secs(m.cfg.retry_secs);
                }
                Err(e) => {
                    drop(locals);
                    m.push_failed(&name, now, e);
                }
            }
        }
    }

    fn push_failed(&self, name: &str, now: Timestamp, error: String) {
        let failures = {
            let mut locals = self.locals.lock().unwrap_or_else(|p| p.into_inner());
            let Some(st) = locals.get_mut(name) else {
                return;
            };
            st.failures += 1;
            st.next_push = now.plus_secs(self.cfg.retry_secs);
            st.failures
        };
        tracing::warn!(local = name, failures, error = %error, "allocation push failed; will retry");
        if failures >= self.cfg.alert_after_failures {
            self.alert(format!(
                "local {name}: {failures} allocation pushes failed in a row; last error: {error}"
            ));
        }
    }

    /// Report fields of the master: licenses allocated to locals, floating in use, idle
    /// reservations of IR clients.
    pub fn report_extra(
        &self,
        app: &App,
        ledger: &Ledger,
        u: &Usage,
        out: &mut serde_json::Map<String, serde_json::Value>,
    ) {
        let leases = ledger.leases().unwrap_or_default();
        let now = app.clock.now();
        let idle_after = app.config.lease_lifetime_secs;
        let mine: Vec<_> = leases
            .iter()
            .filter(|l| l.feature == u.feature && l.version == u.version)
            .collect();
        let allocated: u64 = mine
            .iter()
            .filter(|l| l.client.starts_with(ALLOC_PREFIX))
            .map(|l| l.count as u64)
            .sum();
        let mut per_local = serde_json::Map::new();
        for l in mine.iter().filter(|l| l.client.starts_with(ALLOC_PREFIX)) {
            per_local.insert(l.client[ALLOC_PREFIX.len()..].to_string(), json!(l.count));
        }
        out.insert("purchased".into(), json!(u.entitled));
        out.insert("allocated_to_locals".into(), json!(allocated));
        out.insert("locals".into(), serde_json::Value::Object(per_local));
        out.insert("floating_in_use".into(), json!(u.in_use - allocated));
        out.insert("floating_free".into(), json!(u.available));
        // Licenses IR clients took directly and no longer renew, still reserved for them.
        let idle: u64 = mine
            .iter()
            .filter(|l| {
                !l.client.starts_with(ALLOC_PREFIX) && l.renewed_at.plus_secs(idle_after) < now
            })
            .map(|l| l.count as u64)
            .sum();
        out.insert("reserved_idle".into(), json!(idle));
    }

    fn local_of(&self, app: &App, headers: &HeaderMap) -> Result<String, ApiError> {
        match app.caller(headers)? {
            Caller::Client(c)
                if self
                    .locals
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .contains_key(&*c) =>
            {
                Ok(c.to_string())
            }
            _ => Err(ApiError::forbidden(
                "only a configured local may call this endpoint",
            )),
        }
    }
}

/// The common start of a local's count request (borrow, return): this server is a master, the
/// caller is one of its locals, the body parses and its count is in range.
fn local_count_request<'a>(
    app: &'a App,
    headers: &HeaderMap,
    body: Result<Json<CountRequest>, JsonRejection>,
) -> Result<(&'a Master, String, CountRequest, u32), ApiError> {
    let m = app
        .master
        .as_ref()
        .ok_or_else(|| ApiError::not_found("not a master"))?;
    let name = m.local_of(app, headers)?;
    let Json(req) = body.map_err(json_error)?;
    let count = check_count(req.count)?;
    Ok((m, name, req, count))
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
}

/// `POST /v1/ewl/borrow` (master; a local's token): lend floating licenses to a local by
/// growing its allocation; answers the new signed allocation.
pub async fn borrow(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Json<CountRequest>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (m, name, req, count) = local_count_request(&app, &headers, body)?;
    let ledger = app.ledger().expect("master ledger");
    let now = app.clock.now();
    let mut locals = m.locals.lock().unwrap_or_else(|p| p.into_inner());
    let st = locals.get_mut(&name).expect("checked");
    let k = (req.feature.clone(), req.version.clone());
    m.refresh_leases(&ledger, &name, st);
    let before = st
        .leases
        .get(&k)
        .and_then(|id| ledger.lease(*id).ok())
        .map_or(0, |l| l.count);
    let after = match st.leases.get(&k) {
        Some(id) => ledger.resize(*id, before + count)?,
        None => {
            let g = ledger.acquire_for(
                &format!("{ALLOC_PREFIX}{name}"),
                &k.0,
                &k.1,
                count,
                m.alloc_lifetime(),
            )?;
            if let Some(id) = g.lease {
                st.leases.insert(k.clone(), id);
            }
            g.granted
        }
    };
    let counts = Master::lease_counts(&ledger, st);
    let issued = m.issue(now, &name, st, &counts).map_err(internal)?;
    st.pending_push = None;
    st.last_ack = Some(now);
    tracing::info!(local = %name, feature = %k.0, asked = count, lent = after - before, "floating licenses lent to a local");
    Ok(Json(
        json!({ "lent": after - before, "allocation": issued.envelope }),
    ))
}

/// `POST /v1/ewl/return` (master; a local's token): a local gives licenses back; answers a
/// smaller signed allocation that the local installs and then confirms with `/v1/ewl/ack`.
pub async fn give_back(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Json<CountRequest>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (m, name, req, count) = local_count_request(&app, &headers, body)?;
    let ledger = app.ledger().expect("master ledger");
    let now = app.clock.now();
    let mut locals = m.locals.lock().unwrap_or_else(|p| p.into_inner());
    let st = locals.get_mut(&name).expect("checked");
    m.refresh_leases(&ledger, &name, st);
    let mut counts = Master::lease_counts(&ledger, st);
    let k = (req.feature.clone(), req.version.clone());
    let c = counts.get(&k).copied().unwrap_or(0);
    counts.insert(k, c.saturating_sub(count));
    let issued = m.issue(now, &name, st, &counts).map_err(internal)?;
    let env = issued.envelope.clone();
    st.pending_push = None;
    st.pending_ack = Some(issued);
    Ok(Json(json!({ "allocation": env })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ack {
    serial: u64,
}

/// `POST /v1/ewl/ack` (master; a local's token): the local installed allocation `serial`.
pub async fn ack(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let m = app
        .master
        .as_ref()
        .ok_or_else(|| ApiError::not_found("not a master"))?;
    let name = m.local_of(&app, &headers)?;
    let Json(v) = body.map_err(json_error)?;
    let a: Ack = serde_json::from_value(v).map_err(|e| ApiError::bad("bad_json", e.to_string()))?;
    let ledger = app.ledger().expect("master ledger");
    let mut locals = m.locals.lock().unwrap_or_else(|p| p.into_inner());
    let st = locals.get_mut(&name).expect("checked");
    match st.pending_ack.take() {
        Some(i) if i.serial == a.serial && a.serial == st.latest => {
            Master::apply_confirmed(&ledger, st, &i.counts);
            st.last_ack = Some(app.clock.now());
            Ok(Json(json!({ "serial": a.serial, "applied": true })))
        }
        other => {
            st.pending_ack = other;
            Err(ApiError::conflict(format!(
                "allocation {} is not the one awaiting confirmation",
                a.serial
            )))
        }
    }
}

/// Body of `POST /v1/admin/ewl/allocation`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetAllocation {
    /// The local.
    pub local: String,
    /// Feature name.
    pub feature: String,
    /// Feature version.
    pub version: String,
    /// The local's new installed allocation.
    pub count: i64,
}

/// `POST /v1/admin/ewl/allocation` (master; admin): set a local's allocation of one feature
/// (its installed allocation; borrowed licenses are folded into it): give a local more, or take
/// unused licenses back. Growth is taken from the floating pool at once (as far as it goes); a reduction is
/// pushed to the local and applied when it confirms (it refuses while the licenses are in use).
pub async fn admin_set_allocation(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Json<SetAllocation>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    app.admin(&headers)?;
    let m = app
        .master
        .as_ref()
        .ok_or_else(|| ApiError::not_found("not a master"))?;
    let Json(req) = body.map_err(json_error)?;
    check_name("feature", &req.feature)?;
    check_name("version", &req.version)?;
    if req.count < 0 || req.count as u64 > weblm_core::api::MAX_REQUEST_COUNT {
        return Err(ApiError::bad(
            "bad_count",
            format!("count {} out of range", req.count),
        ));
    }
    let target = req.count as u32;
    let ledger = app.ledger().expect("master ledger");
    let now = app.clock.now();
    let (granted, pending) = {
        let mut locals = m.locals.lock().unwrap_or_else(|p| p.into_inner());
        let st = locals
            .get_mut(&req.local)
            .ok_or_else(|| ApiError::not_found(format!("no local named `{}`", req.local)))?;
        let k = (req.feature.clone(), req.version.clone());
        st.base.insert(k.clone(), target);
        let current = st
            .leases
            .get(&k)
            .and_then(|id| ledger.lease(*id).ok())
            .map_or(0, |l| l.count);
        // The new allocation replaces everything the local had for this feature, borrowed
        // licenses included (they become part of its installed allocation or are taken back).
        let wanted = target;
        let mut counts = Master::lease_counts(&ledger, st);
        if wanted > current {
            let now_count = match st.leases.get(&k) {
                Some(id) => ledger.resize(*id, wanted)?,
                None => {
                    let g = ledger.acquire_for(
                        &format!("{ALLOC_PREFIX}{}", req.local),
                        &k.0,
                        &k.1,
                        wanted,
                        m.alloc_lifetime(),
                    )?;
                    if let Some(id) = g.lease {
                        st.leases.insert(k.clone(), id);
                    }
                    g.granted
                }
            };
            counts.insert(k.clone(), now_count);
        } else {
            counts.insert(k.clone(), wanted);
        }
        let issued = m.issue(now, &req.local, st, &counts).map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        })?;
        let c = issued.counts.get(&k).copied().unwrap_or(0);
        st.pending_push = Some(issued);
        st.next_push = now;
        (c, wanted < current)
    };
    Master::tick(&app).await;
    Ok(Json(
        json!({ "local": req.local, "feature": req.feature, "version": req.version, "allocation": granted, "reduction_pushed": pending }),
    ))
}
