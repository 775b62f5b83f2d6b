//! Tenant licensing: splitting Telephony + Announcement-Only licenses between SIP and H.323
//! (Avaya Experience Portal, SPEC §6, seed `004_…`).
//!
//! `SIP licenses = Licenses × SIP ÷ (SIP + H323)`, where `SIP` is the configured maximum
//! simultaneous SIP calls and `H323` the number of configured H.323 stations. Our exact rule:
//! - `usable = min(Licenses, SIP + H323)`: licenses beyond what is configured have no port to
//!   serve and stay **unused** (so neither side ever exceeds what it has configured).
//! - `SIP licenses = ⌊usable × SIP ÷ (SIP + H323)⌋` (rounded **down**) and H.323 gets the rest,
//!   `usable − SIP licenses`. The rounding licence therefore always goes to H.323, as the EP
//!   formula computes SIP and gives H.323 "the rest".
//! - `SIP + H323 = 0`: nothing is configured, both get 0 and every license is unused.
//!
//! The split runs through the `distribute` hook (buckets H.323 with priority 1, SIP with
//! priority 2, each capped at what it has configured), whose native rounding gives exactly the
//! rule above, so a plugin may replace it like every other distribution.

use serde::{Deserialize, Serialize};

use crate::distribute::Distribute;
use crate::share::{share, Claim, ShareError};

/// The configured SIP calls and H.323 stations of a system or zone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Maximum simultaneous SIP calls configured.
    #[serde(default)]
    pub sip: u32,
    /// H.323 stations configured.
    #[serde(default)]
    pub h323: u32,
}

/// The licenses each side receives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSplit {
    /// Licenses given to SIP (the global SIP pool organizations draw from).
    pub sip: u32,
    /// Licenses given to H.323.
    pub h323: u32,
    /// Licenses beyond what is configured, or all of them when nothing is.
    pub unused: u32,
}

/// The split of the module documentation, computed directly (the reference rule).
pub fn split_formula(licenses: u32, config: TenantConfig) -> TenantSplit {
    let configured = config.sip as u64 + config.h323 as u64;
    if configured == 0 {
        return TenantSplit {
            sip: 0,
            h323: 0,
            unused: licenses,
        };
    }
    let usable = (licenses as u64).min(configured);
    let sip = usable * config.sip as u64 / configured;
    TenantSplit {
        sip: sip as u32,
        h323: (usable - sip) as u32,
        unused: (licenses as u64 - usable) as u32,
    }
}

/// The split through `policy` (the native [`crate::distribute::EpZonePolicy`] gives exactly
/// [`split_formula`]); the answer is checked, so no side exceeds its configuration or the total.
pub fn split(
    licenses: u32,
    config: TenantConfig,
    policy: &dyn Distribute,
    seed: u64,
) -> Result<TenantSplit, ShareError> {
    let configured = config.sip as u64 + config.h323 as u64;
    let usable = (licenses as u64).min(configured) as u32;
    let got = share(
        policy,
        usable,
        seed,
        &[
            Claim {
                weight: config.h323,
                priority: 1,
                cap: config.h323,
            },
            Claim {
                weight: config.sip,
                priority: 2,
                cap: config.sip,
            },
        ],
    )?;
    let (h323, sip) = (got[0], got[1]);
    Ok(TenantSplit {
        sip,
        h323,
        unused: licenses - sip - h323,
    })
}
