//! Reserved calls at zone and organization level (Avaya Experience Portal, SPEC §6).
//!
//! Each organization (in a zone) or application (in an organization) asks for **None**, a
//! **Minimum** or a **Maximum** number of reserved calls out of a pool (the zone's or the
//! organization's licenses):
//! - A single request above the whole pool is refused ([`ReservedError::AboveAvailable`]:
//!   25 asked, 20 available → error).
//! - If the pool covers every request, each is granted in full and the rest is the **common**
//!   pool.
//! - If not, every grant is cut in proportion to its request through the `distribute` hook
//!   (remainders by priority, seeded among equals) and the common pool is 0.
//! - None and Minimum entries may also use the common pool (their ceiling is their grant plus
//!   the common pool); a Maximum entry never runs more calls than it was granted.

use serde::{Deserialize, Serialize};

use crate::distribute::Distribute;
use crate::share::{share, Claim, ShareError};

/// What an entry asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "count")]
pub enum Reservation {
    /// Nothing reserved; uses the common pool only.
    None,
    /// At least this many calls reserved; may use the common pool above it.
    Minimum(u32),
    /// Exactly this many calls reserved and never more.
    Maximum(u32),
}

impl Reservation {
    /// The count reserved (0 for None).
    pub fn count(self) -> u32 {
        match self {
            Reservation::None => 0,
            Reservation::Minimum(n) | Reservation::Maximum(n) => n,
        }
    }

    /// Whether the entry may use the common pool.
    pub fn uses_common(self) -> bool {
        !matches!(self, Reservation::Maximum(_))
    }
}

fn one() -> u32 {
    1
}

/// One entry's request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReservationRequest {
    /// The organization or application (unique within the pool).
    pub name: String,
    /// What it asks for.
    pub reservation: Reservation,
    /// 1 is the highest; receives rounding remainders first when requests are cut.
    #[serde(default = "one")]
    pub priority: u32,
}

/// What one entry receives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservedGrant {
    /// The entry.
    pub name: String,
    /// What it asked for.
    pub reservation: Reservation,
    /// Calls reserved for it.
    pub reserved: u32,
    /// The most calls it can run: `reserved`, plus the common pool for None and Minimum.
    pub ceiling: u32,
}

/// The reserved-call allocation of one pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservedAllocation {
    /// The pool (the zone's or organization's licenses).
    pub pool: u32,
    /// Σ of the requests.
    pub requested_total: u64,
    /// Whether the requests were cut in proportion.
    pub cut: bool,
    /// Licenses left for everyone's shared use (0 when cut).
    pub common: u32,
    /// One grant per request, in order.
    pub grants: Vec<ReservedGrant>,
}

/// A reservation was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReservedError {
    /// One request is above the whole pool.
    #[error("`{name}` asks for {requested} reserved calls but only {available} are available")]
    AboveAvailable {
        /// The entry.
        name: String,
        /// The count asked for.
        requested: u32,
        /// The pool.
        available: u32,
    },
    /// Two entries share a name.
    #[error("`{0}` has more than one reservation")]
    Duplicate(String),
    /// The distribute policy failed or was refused.
    #[error(transparent)]
    Share(#[from] ShareError),
}

/// Allocates reserved calls out of `pool` by the rules of the module documentation.
pub fn reserve(
    pool: u32,
    requests: &[ReservationRequest],
    policy: &dyn Distribute,
    seed: u64,
) -> Result<ReservedAllocation, ReservedError> {
    let mut seen = std::collections::HashSet::new();
    for r in requests {
        if !seen.insert(r.name.as_str()) {
            return Err(ReservedError::Duplicate(r.name.clone()));
        }
        if r.reservation.count() > pool {
            return Err(ReservedError::AboveAvailable {
                name: r.name.clone(),
                requested: r.reservation.count(),
                available: pool,
            });
        }
    }
    allocate_reserved(pool, requests, policy, seed)
}

/// The allocation step of [`reserve`] without the per-request check against the pool: what the
/// what-if planner uses when a pool shrinks below requests that were valid when configured
/// (every request is then simply cut in proportion). Duplicate names are still refused.
pub fn allocate_reserved(
    pool: u32,
    requests: &[ReservationRequest],
    policy: &dyn Distribute,
    seed: u64,
) -> Result<ReservedAllocation, ReservedError> {
    let mut seen = std::collections::HashSet::new();
    for r in requests {
        if !seen.insert(r.name.as_str()) {
            return Err(ReservedError::Duplicate(r.name.clone()));
        }
    }
    let requested_total: u64 = requests.iter().map(|r| r.reservation.count() as u64).sum();
    let cut = requested_total > pool as u64;
    let reserved: Vec<u32> = if cut {
        let claims: Vec<Claim> = requests
            .iter()
            .map(|r| Claim {
                weight: r.reservation.count(),
                priority: r.priority.max(1),
                cap: r.reservation.count(),
            })
            .collect();
        share(policy, pool, seed, &claims)?
    } else {
        requests.iter().map(|r| r.reservation.count()).collect()
    };
    let sum: u64 = reserved.iter().map(|&g| g as u64).sum();
    // The SPEC: a cut leaves the common pool empty. The native policy hands out every license
    // in a cut; a plugin that leaves some over does not create a common pool from them.
    let common = if cut { 0 } else { (pool as u64 - sum) as u32 };
    Ok(ReservedAllocation {
        pool,
        requested_total,
        cut,
        common,
        grants: requests
            .iter()
            .zip(reserved)
            .map(|(r, g)| ReservedGrant {
                name: r.name.clone(),
                reservation: r.reservation,
                reserved: g,
                ceiling: if r.reservation.uses_common() {
                    g + common
                } else {
                    g
                },
            })
            .collect(),
    })
}
