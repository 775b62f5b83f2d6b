//! Allocation planner and license inventory over HTTP (thin wrappers over
//! `weblm_core::{plan, pak, outbox}`; the rules are in docs/allocation.md and
//! docs/compliance.md).
//!
//! - `POST /v1/alloc/plan?licenses=N` (any token): the body is a planner configuration as JSON
//!   (the fields of `weblm zones plan`'s file); answers the plan (`licenses` defaults to the
//!   configuration's `system_licenses`).
//! - Admin token, on the license manager database next to the state database
//!   (`<state_db>.plm.db`): `POST /v1/admin/paks` registers a PAK, `POST
//!   /v1/admin/paks/:id/fulfil` fulfils part of one, `POST /v1/admin/rehost` moves a system's
//!   licenses, `GET /v1/admin/licenses?system=S` lists a system's license records, `GET
//!   /v1/admin/alerts[?pending=true]` lists compliance alerts.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use weblm_core::distribute::EpZonePolicy;
use weblm_core::outbox::{Alert, AlertFilter, Outbox};
use weblm_core::pak::{Fulfilment, LicenseRecord, Pak, PakError, PakRegistry, Rehost};
use weblm_core::plan::{plan, Plan, PlanConfig};
use weblm_core::plm_db::PlmDb;

use super::error::ApiError;
use super::{json_error, App};

impl From<PakError> for ApiError {
    fn from(e: PakError) -> Self {
        let (status, code) = match &e {
            PakError::NoLicensesRemaining(_) | PakError::UpgradeNotFulfillable(_) => {
                (StatusCode::CONFLICT, "pak_exhausted")
            }
            PakError::MoreThanRemaining { .. }
            | PakError::NothingToRehost(_)
            | PakError::DuplicatePak(_) => (StatusCode::CONFLICT, "conflict"),
            PakError::UnknownPak(_) => (StatusCode::NOT_FOUND, "unknown_pak"),
            PakError::ZeroCount | PakError::Empty(_) | PakError::SameSystem(_) => {
                (StatusCode::BAD_REQUEST, "bad_request")
            }
            PakError::Db(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

fn plm_db(app: &App) -> Result<Arc<PlmDb>, ApiError> {
    Ok(app.plm_db.clone())
}

/// `?licenses=N` of the planner.
#[derive(Deserialize)]
pub struct PlanQuery {
    licenses: Option<u32>,
}

/// `POST /v1/alloc/plan`.
pub async fn plan_route(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<PlanQuery>,
    body: Result<Json<PlanConfig>, JsonRejection>,
) -> Result<Json<Plan>, ApiError> {
    app.caller(&headers)?;
    let Json(cfg) = body.map_err(json_error)?;
    let n = q.licenses.unwrap_or(cfg.system_licenses);
    plan(&cfg, n, &EpZonePolicy)
        .map(Json)
        .map_err(|e| ApiError::bad("bad_plan", e.to_string()))
}

/// Body of `POST /v1/admin/paks`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterPak {
    pak: String,
    feature: String,
    version: String,
    count: u32,
    #[serde(default)]
    upgrade_from: Option<String>,
}

/// `POST /v1/admin/paks`.
pub async fn register_pak(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Json<RegisterPak>, JsonRejection>,
) -> Result<(StatusCode, Json<Pak>), ApiError> {
    app.admin(&headers)?;
    let Json(r) = body.map_err(json_error)?;
    let p = PakRegistry::new(plm_db(&app)?).register(
        &r.pak,
        &r.feature,
        &r.version,
        r.count,
        r.upgrade_from.as_deref(),
    )?;
    Ok((StatusCode::CREATED, Json(p)))
}

/// Body of `POST /v1/admin/paks/:id/fulfil`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FulfilPak {
    system_id: String,
    count: u32,
}

/// `POST /v1/admin/paks/:id/fulfil`.
pub async fn fulfil_pak(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    body: Result<Json<FulfilPak>, JsonRejection>,
) -> Result<Json<Fulfilment>, ApiError> {
    app.admin(&headers)?;
    let Json(r) = body.map_err(json_error)?;
    let now = app.clock.now();
    let f = PakRegistry::new(plm_db(&app)?).fulfil(&id, &r.system_id, r.count, now)?;
    super::compliance::licenses_changed(&app).await?;
    Ok(Json(f))
}

/// Body of `POST /v1/admin/rehost`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RehostBody {
    from: String,
    to: String,
}

/// `POST /v1/admin/rehost`.
pub async fn rehost(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Json<RehostBody>, JsonRejection>,
) -> Result<Json<Rehost>, ApiError> {
    app.admin(&headers)?;
    let Json(r) = body.map_err(json_error)?;
    let now = app.clock.now();
    let moved = PakRegistry::new(plm_db(&app)?).rehost(&r.from, &r.to, now)?;
    super::compliance::licenses_changed(&app).await?;
    Ok(Json(moved))
}

/// `?system=S`.
#[derive(Deserialize)]
pub struct SystemQuery {
    system: String,
}

/// `GET /v1/admin/licenses?system=S`.
pub async fn licenses(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<SystemQuery>,
) -> Result<Json<Vec<LicenseRecord>>, ApiError> {
    app.admin(&headers)?;
    Ok(Json(PakRegistry::new(plm_db(&app)?).licenses(&q.system)?))
}

/// `?pending=true`.
#[derive(Deserialize)]
pub struct AlertsQuery {
    #[serde(default)]
    pending: bool,
}

/// `GET /v1/admin/alerts`.
pub async fn alerts(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<AlertsQuery>,
) -> Result<Json<Vec<Alert>>, ApiError> {
    app.admin(&headers)?;
    let filter = if q.pending {
        AlertFilter::Pending
    } else {
        AlertFilter::All
    };
    Outbox::new(plm_db(&app)?, None)
        .list(filter)
        .map(Json)
        .map_err(|e| ApiError::unavailable(e.to_string()))
}
