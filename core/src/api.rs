//! The JSON bodies of the `weblm serve` HTTP API (documented in `docs/openapi.yaml`), shared by
//! the server and the client so that both sides agree on one shape.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::ledger::LeaseId;

/// Largest count one request may ask for; larger counts are refused as a bad request.
pub const MAX_REQUEST_COUNT: u64 = 1_000_000;

/// `POST /v1/leases`: ask for licenses of one feature/version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcquireRequest {
    /// Feature name.
    pub feature: String,
    /// Feature version.
    pub version: String,
    /// Licenses wanted (1..=[`MAX_REQUEST_COUNT`]); signed so that a negative count is
    /// reported as such rather than as a type error.
    pub count: i64,
}

/// The answer to an acquire: a partial grant (even 0) is a success.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcquireResponse {
    /// The lease, or `None` when nothing was granted.
    pub lease: Option<LeaseId>,
    /// Licenses granted.
    pub granted: u32,
    /// Licenses asked for.
    pub wanted: u32,
    /// When the lease expires on the server unless renewed.
    pub expires_at: Option<Timestamp>,
    /// The lease lifetime the client should renew against (renew at 80 % of it).
    pub lifetime_secs: i64,
}

/// The answer to `POST /v1/leases/{id}/renew`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewResponse {
    /// The lease.
    pub lease: LeaseId,
    /// The new expiry.
    pub expires_at: Timestamp,
    /// The lease lifetime the client should renew against.
    pub lifetime_secs: i64,
}

/// The answer to `DELETE /v1/leases/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseResponse {
    /// The lease.
    pub lease: LeaseId,
    /// Licenses returned to the pool.
    pub released: u32,
}

/// Every error answer: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// A machine-readable code and a message naming the problem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable code: `unauthorized`, `unknown_feature`, `bad_count`, `bad_json`,
    /// `body_too_large`, `unknown_lease`, `lease_expired`, `forbidden`, `not_found`,
    /// `conflict`, `unavailable`, `internal`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}
