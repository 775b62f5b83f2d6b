//! Zone licensing (Avaya Experience Portal, SPEC §6, seed `004_…`).
//!
//! An administrator assigns the system's telephony licenses to zones by hand. The rules:
//! - The sum assigned over all zones may not exceed the system's licenses: [`ZoneLicensing::assign`]
//!   refuses it with [`ZoneError::OverAssigned`] and changes nothing.
//! - Licenses added to the system later are **not** distributed: they stay unassigned until an
//!   administrator assigns them ([`ZoneAllocation::unassigned`]).
//! - When the system's licenses fall below the sum assigned, every zone is cut in proportion to
//!   its assignment through the `distribute` hook ([`crate::share`]): `floor(L × zone ÷ Σ)`, the
//!   remainder one license at a time by priority (1 first) and seeded-random among equal
//!   priorities. The assignments themselves are kept, so the zones get them back in full once
//!   the licenses return.
//! - A zone never receives more than its capacity (`capacity`, e.g. the ports its media
//!   servers have) nor more than it was assigned; what a cap cuts off stays unused.

use serde::{Deserialize, Serialize};

use crate::distribute::Distribute;
use crate::share::{share, Claim, ShareError};

/// Default zone priority (1 is the highest).
pub const DEFAULT_PRIORITY: u32 = 1;

fn default_priority() -> u32 {
    DEFAULT_PRIORITY
}

/// One zone as configured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    /// The zone's name (unique).
    pub name: String,
    /// Licenses an administrator assigned to it.
    #[serde(default)]
    pub assigned: u32,
    /// 1 is the highest priority; receives rounding remainders first.
    #[serde(default = "default_priority")]
    pub priority: u32,
    /// Most licenses the zone can use (`None`: no limit beyond its assignment).
    #[serde(default)]
    pub capacity: Option<u32>,
    /// The zone's configured SIP calls and H.323 stations, to split what it receives between
    /// SIP and H.323 ([`crate::tenants`]; `None`: not split).
    #[serde(default)]
    pub tenant: Option<crate::tenants::TenantConfig>,
}

impl Zone {
    /// The most the zone may receive: its assignment, limited by its capacity.
    pub fn cap(&self) -> u32 {
        self.capacity
            .map_or(self.assigned, |c| c.min(self.assigned))
    }
}

/// A zone configuration was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    /// The zones would hold more licenses than the system has.
    #[error(
        "zones would be assigned {assigned} licenses but the system has only {system} \
         ({available} still unassigned)"
    )]
    OverAssigned {
        /// The sum the zones would be assigned.
        assigned: u64,
        /// The system's licenses.
        system: u32,
        /// What was unassigned before the refused change.
        available: u64,
    },
    /// Two zones share one name.
    #[error("zone `{0}` is configured more than once")]
    DuplicateZone(String),
    /// No zone has this name.
    #[error("no zone named `{0}`")]
    UnknownZone(String),
    /// A zone has an empty name.
    #[error("a zone name may not be empty")]
    EmptyName,
    /// A priority of 0 (priorities start at 1).
    #[error("zone `{0}` has priority 0; priorities start at 1 (the highest)")]
    ZeroPriority(String),
    /// The distribute policy failed or was refused.
    #[error(transparent)]
    Share(#[from] ShareError),
}

/// What one zone receives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneShare {
    /// The zone.
    pub name: String,
    /// Its assignment.
    pub assigned: u32,
    /// Its cap (assignment limited by capacity).
    pub cap: u32,
    /// Licenses it receives now.
    pub granted: u32,
}

/// The zones' allocation at one system license count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneAllocation {
    /// The system's licenses.
    pub system_licenses: u32,
    /// Σ assigned over zones.
    pub assigned_total: u64,
    /// Σ granted over zones (never above `system_licenses`).
    pub granted_total: u64,
    /// System licenses no administrator has assigned (`system − Σ assigned`, 0 when cut).
    pub unassigned: u64,
    /// System licenses nobody receives (unassigned ones plus those cut off by capacities).
    pub unused: u64,
    /// Whether the zones were cut in proportion (system below Σ assigned).
    pub cut: bool,
    /// One entry per zone, in configuration order.
    pub zones: Vec<ZoneShare>,
}

/// The administrator's zone configuration for one system.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneLicensing {
    system_licenses: u32,
    zones: Vec<Zone>,
}

impl ZoneLicensing {
    /// A system with `system_licenses` licenses and no zones.
    pub fn new(system_licenses: u32) -> Self {
        ZoneLicensing {
            system_licenses,
            zones: Vec::new(),
        }
    }

    /// A system with zones already assigned; refused if the zones hold more than the system
    /// or a zone is malformed.
    pub fn with_zones(system_licenses: u32, zones: Vec<Zone>) -> Result<Self, ZoneError> {
        let mut z = ZoneLicensing::new(system_licenses);
        for zone in zones {
            let assigned = zone.assigned;
            let name = zone.name.clone();
            z.add_zone(Zone {
                assigned: 0,
                ..zone
            })?;
            z.assign(&name, assigned)?;
        }
        Ok(z)
    }

    /// Adds a zone (with whatever it was assigned; refused when that over-assigns).
    pub fn add_zone(&mut self, zone: Zone) -> Result<(), ZoneError> {
        if zone.name.is_empty() {
            return Err(ZoneError::EmptyName);
        }
        if zone.priority == 0 {
            return Err(ZoneError::ZeroPriority(zone.name));
        }
        if self.zones.iter().any(|z| z.name == zone.name) {
            return Err(ZoneError::DuplicateZone(zone.name));
        }
        let assigned = zone.assigned;
        let name = zone.name.clone();
        self.zones.push(Zone {
            assigned: 0,
            ..zone
        });
        if let Err(e) = self.assign(&name, assigned) {
            self.zones.pop();
            return Err(e);
        }
        Ok(())
    }

    /// Sets zone `name`'s assignment to `count`; refused (nothing changes) when the zones would
    /// then hold more than the system's licenses.
    pub fn assign(&mut self, name: &str, count: u32) -> Result<(), ZoneError> {
        let i = self
            .zones
            .iter()
            .position(|z| z.name == name)
            .ok_or_else(|| ZoneError::UnknownZone(name.to_string()))?;
        let others: u64 = self
            .zones
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, z)| z.assigned as u64)
            .sum();
        let assigned = others + count as u64;
        if assigned > self.system_licenses as u64 {
            return Err(ZoneError::OverAssigned {
                assigned,
                system: self.system_licenses,
                available: (self.system_licenses as u64)
                    .saturating_sub(others + self.zones[i].assigned as u64),
            });
        }
        self.zones[i].assigned = count;
        Ok(())
    }

    /// The system's licenses changed (licenses added, expired or withdrawn). Nothing is
    /// reassigned: added licenses stay unassigned, a drop cuts the zones in [`Self::allocate`].
    pub fn set_system_licenses(&mut self, n: u32) {
        self.system_licenses = n;
    }

    /// The system's licenses.
    pub fn system_licenses(&self) -> u32 {
        self.system_licenses
    }

    /// The zones, in configuration order.
    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    /// Σ assigned over zones.
    pub fn assigned_total(&self) -> u64 {
        self.zones.iter().map(|z| z.assigned as u64).sum()
    }

    /// What every zone receives now.
    pub fn allocate(
        &self,
        policy: &dyn Distribute,
        seed: u64,
    ) -> Result<ZoneAllocation, ZoneError> {
        allocate(self.system_licenses, &self.zones, policy, seed)
    }

    /// What every zone would receive if the system had `n` licenses (the what-if planner).
    pub fn plan(
        &self,
        n: u32,
        policy: &dyn Distribute,
        seed: u64,
    ) -> Result<ZoneAllocation, ZoneError> {
        allocate(n, &self.zones, policy, seed)
    }
}

/// The allocation rule of the module documentation, for `system` licenses and these zones.
pub fn allocate(
    system: u32,
    zones: &[Zone],
    policy: &dyn Distribute,
    seed: u64,
) -> Result<ZoneAllocation, ZoneError> {
    let assigned_total: u64 = zones.iter().map(|z| z.assigned as u64).sum();
    let cut = assigned_total > system as u64;
    let granted: Vec<u32> = if cut {
        let claims: Vec<Claim> = zones
            .iter()
            .map(|z| Claim {
                weight: z.assigned,
                priority: z.priority,
                cap: z.cap(),
            })
            .collect();
        share(policy, system, seed, &claims)?
    } else {
        zones.iter().map(Zone::cap).collect()
    };
    let granted_total: u64 = granted.iter().map(|&g| g as u64).sum();
    Ok(ZoneAllocation {
        system_licenses: system,
        assigned_total,
        granted_total,
        unassigned: (system as u64).saturating_sub(assigned_total),
        unused: system as u64 - granted_total,
        cut,
        zones: zones
            .iter()
            .zip(granted)
            .map(|(z, g)| ZoneShare {
                name: z.name.clone(),
                assigned: z.assigned,
                cap: z.cap(),
                granted: g,
            })
            .collect(),
    })
}
