//! The what-if planner: what every zone, tenant side and organization would get if the system's
//! licenses were `N` (SPEC §6), from one small configuration (TOML or JSON).
//!
//! ```toml
//! system_licenses = 100   # licenses today; the zones' assignments are checked against it
//! seed = 7                # seed for the random order among equal priorities
//! media_capacity = 120    # optional: ports the media servers can run (pipeline stage)
//!
//! [tenant]                # optional: configured SIP calls and H.323 stations
//! sip = 60
//! h323 = 90
//!
//! [[zone]]
//! name = "east"
//! assigned = 60
//! priority = 1            # default 1 (the highest)
//! capacity = 50           # optional
//! tenant = { sip = 40, h323 = 20 }   # optional: split the zone's licenses SIP / H.323
//!
//! [organizations]         # optional
//! default = 5             # the Default Organization's licenses (default 0)
//! [[organizations.org]]
//! name = "A"
//! licenses = 15
//!
//! [[reservation]]         # optional: reserved calls at zone level
//! zone = "east"
//! name = "A"              # the organization (or application) reserving
//! kind = "minimum"        # none | minimum | maximum
//! count = 10
//! ```
//!
//! At `N` licenses: the zones are allocated ([`crate::zones`]); the tenant split
//! ([`crate::tenants`]) divides `N` into SIP and H.323; the organizations draw from the SIP side
//! (all `N` when no `[tenant]` is given) and are cut in proportion if it is short
//! ([`crate::orgs`]); with `media_capacity`, the pipeline ([`crate::pipeline`]) shows what runs.
//! Reservations are checked against what their zone gets today (a request above it is refused,
//! [`crate::reserved::reserve`]) and then shared out of what the zone would get at `N`
//! ([`crate::reserved::allocate_reserved`]: in full with the rest common, or cut in proportion
//! with an empty common pool).

use serde::{Deserialize, Serialize};

use crate::distribute::Distribute;
use crate::orgs::{OrgAllocation, OrgError, Organization, Organizations};
use crate::pipeline::{self, PipelineInput, PipelineResult};
use crate::reserved::{
    allocate_reserved, reserve, Reservation, ReservationRequest, ReservedAllocation, ReservedError,
};
use crate::share::ShareError;
use crate::tenants::{split, TenantConfig, TenantSplit};
use crate::zones::{Zone, ZoneAllocation, ZoneError, ZoneLicensing};

/// The organizations section of a plan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgsConfig {
    /// The Default Organization's licenses.
    #[serde(default)]
    pub default: u32,
    /// The configured organizations.
    #[serde(default, rename = "org")]
    pub orgs: Vec<Organization>,
}

/// The kind of a planned reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationKind {
    /// Nothing reserved; common pool only.
    None,
    /// At least `count`; may use the common pool.
    Minimum,
    /// Exactly `count` at most.
    Maximum,
}

fn one() -> u32 {
    1
}

/// One reservation of reserved calls in a zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanReservation {
    /// The zone it draws from.
    pub zone: String,
    /// The organization or application reserving.
    pub name: String,
    /// None, Minimum or Maximum.
    pub kind: ReservationKind,
    /// The count (ignored for None).
    #[serde(default)]
    pub count: u32,
    /// 1 is the highest; receives rounding remainders first.
    #[serde(default = "one")]
    pub priority: u32,
}

impl PlanReservation {
    fn request(&self) -> ReservationRequest {
        ReservationRequest {
            name: self.name.clone(),
            reservation: match self.kind {
                ReservationKind::None => Reservation::None,
                ReservationKind::Minimum => Reservation::Minimum(self.count),
                ReservationKind::Maximum => Reservation::Maximum(self.count),
            },
            priority: self.priority,
        }
    }
}

/// One zone's SIP / H.323 split in a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ZoneTenantSplit {
    /// The zone.
    pub zone: String,
    /// Its licenses at the planned count, split by its `tenant` configuration.
    pub split: TenantSplit,
}

/// The reserved calls of one zone in a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ZoneReservations {
    /// The zone.
    pub zone: String,
    /// What the zone gets today (requests are checked against it).
    pub pool_today: u32,
    /// The reservations out of what the zone would get at the planned count.
    pub allocation: ReservedAllocation,
}

/// A planner configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanConfig {
    /// The system's licenses today.
    pub system_licenses: u32,
    /// Seed for ties among equal priorities.
    #[serde(default)]
    pub seed: u64,
    /// Ports the media servers can run (enables the pipeline stage).
    #[serde(default)]
    pub media_capacity: Option<u32>,
    /// Configured SIP calls and H.323 stations.
    #[serde(default)]
    pub tenant: Option<TenantConfig>,
    /// The zones.
    #[serde(default, rename = "zone")]
    pub zones: Vec<Zone>,
    /// The organizations.
    #[serde(default)]
    pub organizations: Option<OrgsConfig>,
    /// Reserved calls at zone level.
    #[serde(default, rename = "reservation")]
    pub reservations: Vec<PlanReservation>,
}

/// A plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The configuration text is not valid TOML or JSON for a plan.
    #[error("plan configuration: {0}")]
    Parse(String),
    /// The zones are refused.
    #[error(transparent)]
    Zones(#[from] ZoneError),
    /// The organizations are refused.
    #[error(transparent)]
    Orgs(#[from] OrgError),
    /// A distribution failed or was refused.
    #[error(transparent)]
    Share(#[from] ShareError),
    /// A reservation is refused.
    #[error("zone `{zone}`: {source}")]
    Reserved {
        /// The zone.
        zone: String,
        /// Why.
        source: ReservedError,
    },
    /// A reservation names a zone that is not configured.
    #[error("a reservation names zone `{0}`, which is not configured")]
    UnknownZone(String),
}

impl PlanConfig {
    /// Reads a configuration: JSON when the text starts with `{`, TOML otherwise.
    pub fn parse(text: &str) -> Result<Self, PlanError> {
        if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| PlanError::Parse(format!("JSON: {e}")))
        } else {
            toml::from_str(text).map_err(|e| PlanError::Parse(format!("TOML: {e}")))
        }
    }
}

/// What everyone would get at `licenses`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The license count planned for.
    pub licenses: u32,
    /// The zones.
    pub zones: ZoneAllocation,
    /// The SIP/H.323 split (with a `[tenant]` section).
    pub tenant: Option<TenantSplit>,
    /// The organizations (with an `[organizations]` section).
    pub organizations: Option<OrgAllocation>,
    /// The pipeline (with `media_capacity` and `[tenant]`).
    pub pipeline: Option<PipelineResult>,
    /// Reserved calls per zone (zones with reservations, in zone order).
    pub reservations: Vec<ZoneReservations>,
    /// SIP / H.323 split per zone (zones with a `tenant` configuration, in zone order).
    pub zone_tenants: Vec<ZoneTenantSplit>,
}

/// Plans `config` at `licenses` with `policy`.
pub fn plan(
    config: &PlanConfig,
    licenses: u32,
    policy: &dyn Distribute,
) -> Result<Plan, PlanError> {
    let zl = ZoneLicensing::with_zones(config.system_licenses, config.zones.clone())?;
    let zones = zl.plan(licenses, policy, config.seed)?;
    let tenant = config
        .tenant
        .map(|t| split(licenses, t, policy, config.seed))
        .transpose()?;
    let organizations = match &config.organizations {
        None => None,
        Some(o) => {
            let today = config
                .tenant
                .map(|t| split(config.system_licenses, t, policy, config.seed))
                .transpose()?
                .map_or(config.system_licenses, |s| s.sip);
            let orgs = Organizations::with_orgs(today, o.default, o.orgs.clone())?;
            let pool = tenant.map_or(licenses, |s| s.sip);
            Some(orgs.plan(pool, policy, config.seed)?)
        }
    };
    let pipeline = match (config.media_capacity, config.tenant) {
        (Some(media_capacity), Some(configured)) => Some(pipeline::run(
            PipelineInput {
                configured,
                licenses,
                media_capacity,
            },
            policy,
            config.seed,
        )?),
        _ => None,
    };
    for r in &config.reservations {
        if !config.zones.iter().any(|z| z.name == r.zone) {
            return Err(PlanError::UnknownZone(r.zone.clone()));
        }
    }
    let today = zl.allocate(policy, config.seed)?;
    let mut reservations = Vec::new();
    for (i, z) in config.zones.iter().enumerate() {
        let requests: Vec<ReservationRequest> = config
            .reservations
            .iter()
            .filter(|r| r.zone == z.name)
            .map(PlanReservation::request)
            .collect();
        if requests.is_empty() {
            continue;
        }
        let at = |source| PlanError::Reserved {
            zone: z.name.clone(),
            source,
        };
        let pool_today = today.zones[i].granted;
        reserve(pool_today, &requests, policy, config.seed).map_err(at)?;
        let allocation = allocate_reserved(zones.zones[i].granted, &requests, policy, config.seed)
            .map_err(at)?;
        reservations.push(ZoneReservations {
            zone: z.name.clone(),
            pool_today,
            allocation,
        });
    }
    let mut zone_tenants = Vec::new();
    for (z, share) in config.zones.iter().zip(&zones.zones) {
        if let Some(t) = z.tenant {
            zone_tenants.push(ZoneTenantSplit {
                zone: z.name.clone(),
                split: split(share.granted, t, policy, config.seed)?,
            });
        }
    }
    Ok(Plan {
        licenses,
        zones,
        tenant,
        organizations,
        pipeline,
        reservations,
        zone_tenants,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distribute::EpZonePolicy;

    const TOML: &str = r#"
system_licenses = 100
seed = 7
media_capacity = 30
[tenant]
sip = 60
h323 = 90
[[zone]]
name = "east"
assigned = 50
priority = 3
[[zone]]
name = "west"
assigned = 30
tenant = { sip = 40, h323 = 20 }
[[zone]]
name = "north"
assigned = 20
priority = 2
[organizations]
default = 5
[[organizations.org]]
name = "A"
licenses = 20
[[organizations.org]]
name = "B"
licenses = 15
[[reservation]]
zone = "east"
name = "A"
kind = "minimum"
count = 30
[[reservation]]
zone = "east"
name = "B"
kind = "maximum"
count = 10
[[reservation]]
zone = "west"
name = "A"
kind = "none"
"#;

    #[test]
    fn plans_every_level_at_a_lower_count() {
        let c = PlanConfig::parse(TOML).unwrap();
        let p = plan(&c, 33, &EpZonePolicy).unwrap();
        let z: Vec<u32> = p.zones.zones.iter().map(|z| z.granted).collect();
        assert_eq!(z, vec![16, 10, 7]);
        // 33 × 60 ÷ 150 = 13.2 → SIP 13, H.323 20.
        let t = p.tenant.unwrap();
        assert_eq!((t.sip, t.h323), (13, 20));
        // Organizations assigned 5 + 20 + 15 = 40 of today's SIP pool (40), cut to 13.
        let o = p.organizations.unwrap();
        assert!(o.cut);
        assert_eq!(o.orgs.iter().map(|x| x.granted).sum::<u32>(), 13);
        assert_eq!(o.common, 0);
        let pl = p.pipeline.unwrap();
        assert_eq!(pl.allocated.total(), 30);
        // East gets 16 of its 50: reservations 30 + 10 are cut to 12 + 4, common 0.
        let east = &p.reservations[0];
        assert_eq!((east.zone.as_str(), east.pool_today), ("east", 50));
        let r: Vec<u32> = east.allocation.grants.iter().map(|g| g.reserved).collect();
        assert_eq!(r, vec![12, 4]);
        assert_eq!(east.allocation.common, 0);
        // Today: full grants and 10 common in east.
        let today = plan(&c, 100, &EpZonePolicy).unwrap();
        assert_eq!(today.reservations[0].allocation.common, 10);
        assert_eq!(today.reservations[1].allocation.common, 30);
        // West's 10 licenses split by its own SIP 40 / H.323 20: SIP 6 (6.67 down), H.323 4.
        assert_eq!(p.zone_tenants.len(), 1);
        assert_eq!(p.zone_tenants[0].zone, "west");
        assert_eq!(
            (p.zone_tenants[0].split.sip, p.zone_tenants[0].split.h323),
            (6, 4)
        );
    }

    #[test]
    fn a_reservation_above_its_zone_is_refused() {
        let c = PlanConfig::parse(
            "system_licenses = 20\n[[zone]]\nname = \"z\"\nassigned = 20\n\
             [[reservation]]\nzone = \"z\"\nname = \"A\"\nkind = \"minimum\"\ncount = 25\n",
        )
        .unwrap();
        let e = plan(&c, 20, &EpZonePolicy).unwrap_err();
        assert_eq!(
            e.to_string(),
            "zone `z`: `A` asks for 25 reserved calls but only 20 are available"
        );
        let c = PlanConfig::parse(
            "system_licenses = 20\n[[reservation]]\nzone = \"q\"\nname = \"A\"\nkind = \"none\"\n",
        )
        .unwrap();
        assert!(matches!(
            plan(&c, 20, &EpZonePolicy),
            Err(PlanError::UnknownZone(_))
        ));
    }

    #[test]
    fn json_works_and_bad_configs_are_named() {
        let c =
            PlanConfig::parse(r#"{"system_licenses": 10, "zone": [{"name": "a", "assigned": 4}]}"#)
                .unwrap();
        assert_eq!(plan(&c, 2, &EpZonePolicy).unwrap().zones.granted_total, 2);
        let e = PlanConfig::parse("system_licenses = 10\nzones = 3\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `zones`"), "{e}");
        let c = PlanConfig::parse("system_licenses = 10\n[[zone]]\nname = \"a\"\nassigned = 11\n")
            .unwrap();
        assert!(matches!(
            plan(&c, 5, &EpZonePolicy),
            Err(PlanError::Zones(ZoneError::OverAssigned { .. }))
        ));
    }
}
