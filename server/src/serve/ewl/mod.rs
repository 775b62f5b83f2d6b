//! Enterprise Wide Licensing (SPEC §5): the master and the local side.
//!
//! **Allocations are signed license files.** The master holds the enterprise license in its
//! ledger. Each local's share is an *allocation lease* in that ledger (client `alloc:<local>`,
//! one per feature) and, on the local, a license file signed with the master's key (product
//! `weblm-allocation`, host id = the local's name, product version = a serial number, codes
//! valid `until` the end of the validity period). The local serves that file through its own
//! ledger, so the ledger's invariant bounds the local, and the master's ledger bounds the
//! enterprise: Σ allocation leases + floating leases ≤ purchased.
//!
//! **Safety rule**: a file the master has issued never names more licenses than the master's
//! allocation lease holds, and the lease outlives the file's validity by a margin. Giving a
//! local more resizes the lease first; taking licenses back issues a smaller file and shrinks
//! the lease only after the local confirms it installed it (and it refuses when the licenses
//! are in use).
//!
//! **Re-sending and lapse**: every `resend_every_secs` (7 days) the master probes the local and,
//! if it answers, issues a fresh file (valid `allocation_validity_secs`, 30 days) and renews
//! the allocation leases; failed pushes re-send the *same* file every `retry_secs` and raise an
//! alert after `alert_after_failures`. A dead local therefore gets no extension: its lease ends
//! `validity + margin` after the last file, and its licenses return to the floating pool. The
//! local releases every lease it granted when its file lapses.
//!
//! **Floating licenses** go to IR clients directly (leases renewed every lease lifetime, but
//! reserved for `reserve_secs`, 30 days, after the last renewal before they are reclaimed) and
//! to locals that *borrow* when a client asks a local for more than it has; a local gives
//! unused borrowed licenses back on its own.

use std::time::Duration;

use chrono::{DateTime, NaiveDate};
use serde::{Deserialize, Serialize};
use weblm_core::clock::Timestamp;

/// Product name of allocation files.
pub const ALLOCATION_PRODUCT: &str = "weblm-allocation";
/// Client id prefix of a local's allocation leases in the master's ledger.
const ALLOC_PREFIX: &str = "alloc:";

/// (feature, version).
type Key = (String, String);

/// An allocation on the wire: the signed file, its serial and the local's base allocation.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Serial number (also the file's product version); a local installs only newer ones.
    pub serial: u64,
    /// The signed license file (TOML).
    pub license: String,
    /// The installed (base) allocation per feature; what exceeds it is borrowed.
    pub base: Vec<super::config::AllocationEntry>,
}

/// `{feature, version, count}` bodies of borrow/return.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountRequest {
    /// Feature name.
    pub feature: String,
    /// Feature version.
    pub version: String,
    /// Licenses.
    pub count: i64,
}

/// The UTC date of an instant.
fn date_of(t: Timestamp) -> NaiveDate {
    DateTime::from_timestamp(t.0, 0)
        .map(|d| d.date_naive())
        .unwrap_or(NaiveDate::MIN)
}

/// An HTTP client for calls between servers (2 s connect, 3 s overall).
fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(2))
        .timeout(Duration::from_secs(3))
        .build()
}

/// One HTTP call to another server, off the async runtime.
async fn call(
    agent: ureq::Agent,
    method: &'static str,
    url: String,
    token: String,
    body: Option<serde_json::Value>,
) -> Result<serde_json::Value, String> {
    tokio::task::spawn_blocking(move || {
        let req = agent
            .request(method, &url)
            .set("Authorization", &format!("Bearer {token}"));
        let res = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        match res {
            Ok(r) => r
                .into_json::<serde_json::Value>()
                .map_err(|e| format!("{url}: bad answer: {e}")),
            Err(ureq::Error::Status(code, r)) => {
                let text = r.into_string().unwrap_or_default();
                Err(format!("{url}: HTTP {code}: {text}"))
            }
            Err(e) => Err(format!("{url}: {e}")),
        }
    })
    .await
    .map_err(|e| format!("request task failed: {e}"))?
}

mod local;
mod master;

pub use local::{install_allocation, Local};
pub use master::{ack, admin_set_allocation, borrow, give_back, Master};
