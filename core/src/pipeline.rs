//! The system pipeline configured → licensed → allocated (Avaya Experience Portal, SPEC §6).
//!
//! 1. **Configured**: SIP ports (maximum simultaneous calls) and H.323 stations.
//! 2. **Licensed**: when the licenses cover the configured ports, each side is licensed for what
//!    it configured and surplus licenses are unused; when they do not, the licenses are shared in
//!    proportion to the configured resources by the tenant split ([`crate::tenants`]), and
//!    configured ports above what is licensed stay unlicensed (unused).
//! 3. **Allocated** = `min(licensed, media-server capacity)`: when the media servers cannot run
//!    every licensed port, H.323 and SIP are cut in proportion to their licensed counts through
//!    the `distribute` hook (the rounding licence to H.323, as in the tenant split).

use serde::{Deserialize, Serialize};

use crate::distribute::Distribute;
use crate::share::{share, Claim, ShareError};
use crate::tenants::{split, TenantConfig, TenantSplit};

/// The pipeline's input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineInput {
    /// Configured SIP ports and H.323 stations.
    pub configured: TenantConfig,
    /// Telephony + Announcement-Only licenses the system has.
    pub licenses: u32,
    /// Ports the media servers can run in total.
    pub media_capacity: u32,
}

/// SIP and H.323 counts at one stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sides {
    /// SIP.
    pub sip: u32,
    /// H.323.
    pub h323: u32,
}

impl Sides {
    /// SIP + H.323.
    pub fn total(self) -> u64 {
        self.sip as u64 + self.h323 as u64
    }
}

/// Every stage of the pipeline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineResult {
    /// What is configured.
    pub configured: Sides,
    /// What is licensed (never above configured, never above the licenses).
    pub licensed: Sides,
    /// What runs: licensed, cut to the media servers' capacity.
    pub allocated: Sides,
    /// Configured ports without a license.
    pub unlicensed: Sides,
    /// Licenses beyond the configured ports.
    pub unused_licenses: u32,
    /// Licensed ports the media servers cannot run.
    pub over_capacity: u32,
}

/// Runs the pipeline of the module documentation.
pub fn run(
    input: PipelineInput,
    policy: &dyn Distribute,
    seed: u64,
) -> Result<PipelineResult, ShareError> {
    let c = input.configured;
    let TenantSplit {
        sip,
        h323,
        unused: unused_licenses,
    } = split(input.licenses, c, policy, seed)?;
    let licensed = Sides { sip, h323 };
    let allocated = if licensed.total() <= input.media_capacity as u64 {
        licensed
    } else {
        let got = share(
            policy,
            input.media_capacity,
            seed,
            &[
                Claim {
                    weight: h323,
                    priority: 1,
                    cap: h323,
                },
                Claim {
                    weight: sip,
                    priority: 2,
                    cap: sip,
                },
            ],
        )?;
        Sides {
            h323: got[0],
            sip: got[1],
        }
    };
    Ok(PipelineResult {
        configured: Sides {
            sip: c.sip,
            h323: c.h323,
        },
        licensed,
        allocated,
        unlicensed: Sides {
            sip: c.sip - licensed.sip,
            h323: c.h323 - licensed.h323,
        },
        unused_licenses,
        over_capacity: (licensed.total() - allocated.total()) as u32,
    })
}
