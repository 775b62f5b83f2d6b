//! Organizations drawing from the global SIP pool (Avaya Experience Portal, SPEC §6, seed
//! `004_…`).
//!
//! There is always exactly one **Default Organization** ([`DEFAULT_ORGANIZATION`]), for
//! applications no organization owns; it starts with 0 licenses and can be given some. Any
//! number of **Configured Organizations** can be added. Every license assigned to an
//! organization is taken from the global SIP pool ("WebLM Licenses (SIP)", the SIP side of the
//! tenant split, [`crate::tenants`]); what no organization holds is the global **common** pool.
//!
//! - Assigning more than the pool holds is refused with [`OrgError::OverAssigned`] and changes
//!   nothing.
//! - When the pool later shrinks below the sum assigned (licenses lost), the organizations are
//!   cut in proportion through the `distribute` hook, like zones; the common pool is then 0.

use serde::{Deserialize, Serialize};

use crate::distribute::Distribute;
use crate::share::{share, Claim, ShareError};

/// The name of the Default Organization.
pub const DEFAULT_ORGANIZATION: &str = "Default Organization";

fn one() -> u32 {
    1
}

/// One organization as configured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organization {
    /// Its name (unique).
    pub name: String,
    /// Licenses assigned to it from the global SIP pool.
    #[serde(default)]
    pub licenses: u32,
    /// 1 is the highest; receives rounding remainders first when the pool is cut.
    #[serde(default = "one")]
    pub priority: u32,
}

/// An organization change was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OrgError {
    /// The organizations would hold more than the SIP pool.
    #[error(
        "cannot assign {requested} licenses to organization `{org}`: the SIP pool has \
         {pool}, of which {available} are not assigned to other organizations"
    )]
    OverAssigned {
        /// The organization.
        org: String,
        /// The count asked for.
        requested: u32,
        /// The SIP pool.
        pool: u32,
        /// What the pool has beyond the other organizations' assignments.
        available: u64,
    },
    /// An organization with this name exists already.
    #[error("organization `{0}` exists already")]
    Duplicate(String),
    /// No organization has this name.
    #[error("no organization named `{0}`")]
    Unknown(String),
    /// Empty name.
    #[error("an organization name may not be empty")]
    EmptyName,
    /// The Default Organization cannot be removed.
    #[error("the Default Organization cannot be removed")]
    RemoveDefault,
    /// The distribute policy failed or was refused.
    #[error(transparent)]
    Share(#[from] ShareError),
}

/// What one organization receives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgShare {
    /// The organization.
    pub name: String,
    /// Licenses assigned to it.
    pub assigned: u32,
    /// Licenses it receives now.
    pub granted: u32,
}

/// The organizations' allocation from one SIP pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgAllocation {
    /// The global SIP pool.
    pub pool: u32,
    /// Σ assigned over organizations.
    pub assigned_total: u64,
    /// Whether the organizations were cut in proportion (pool below Σ assigned).
    pub cut: bool,
    /// The global common pool: SIP licenses no organization holds.
    pub common: u32,
    /// One entry per organization, the Default Organization first.
    pub orgs: Vec<OrgShare>,
}

impl OrgAllocation {
    /// What organization `name` receives (`None`: unknown).
    pub fn granted(&self, name: &str) -> Option<u32> {
        self.orgs.iter().find(|o| o.name == name).map(|o| o.granted)
    }
}

/// The organizations of one system and the SIP pool they draw from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organizations {
    pool: u32,
    orgs: Vec<Organization>,
}

impl Organizations {
    /// A SIP pool of `pool` licenses with only the Default Organization, holding 0.
    pub fn new(pool: u32) -> Self {
        Organizations {
            pool,
            orgs: vec![Organization {
                name: DEFAULT_ORGANIZATION.to_string(),
                licenses: 0,
                priority: 1,
            }],
        }
    }

    /// Builds from a configuration: the Default Organization's licenses and the configured
    /// organizations; refused when they over-assign the pool.
    pub fn with_orgs(
        pool: u32,
        default_licenses: u32,
        orgs: Vec<Organization>,
    ) -> Result<Self, OrgError> {
        let mut o = Organizations::new(pool);
        o.assign(DEFAULT_ORGANIZATION, default_licenses)?;
        for org in orgs {
            o.add(&org.name, org.priority)?;
            o.assign(&org.name, org.licenses)?;
        }
        Ok(o)
    }

    /// Adds a Configured Organization with 0 licenses.
    pub fn add(&mut self, name: &str, priority: u32) -> Result<(), OrgError> {
        if name.is_empty() {
            return Err(OrgError::EmptyName);
        }
        if self.orgs.iter().any(|o| o.name == name) {
            return Err(OrgError::Duplicate(name.to_string()));
        }
        self.orgs.push(Organization {
            name: name.to_string(),
            licenses: 0,
            priority: priority.max(1),
        });
        Ok(())
    }

    /// Removes a Configured Organization; its licenses return to the common pool.
    pub fn remove(&mut self, name: &str) -> Result<(), OrgError> {
        if name == DEFAULT_ORGANIZATION {
            return Err(OrgError::RemoveDefault);
        }
        let i = self.index(name)?;
        self.orgs.remove(i);
        Ok(())
    }

    fn index(&self, name: &str) -> Result<usize, OrgError> {
        self.orgs
            .iter()
            .position(|o| o.name == name)
            .ok_or_else(|| OrgError::Unknown(name.to_string()))
    }

    /// Sets organization `name`'s licenses to `count`, taken from the SIP pool; refused
    /// (nothing changes) when the organizations would then hold more than the pool.
    pub fn assign(&mut self, name: &str, count: u32) -> Result<(), OrgError> {
        let i = self.index(name)?;
        let others: u64 = self
            .orgs
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, o)| o.licenses as u64)
            .sum();
        if others + count as u64 > self.pool as u64 {
            return Err(OrgError::OverAssigned {
                org: name.to_string(),
                requested: count,
                pool: self.pool,
                available: (self.pool as u64).saturating_sub(others),
            });
        }
        self.orgs[i].licenses = count;
        Ok(())
    }

    /// The SIP pool changed (the tenant split moved); nothing is reassigned.
    pub fn set_pool(&mut self, pool: u32) {
        self.pool = pool;
    }

    /// The SIP pool.
    pub fn pool(&self) -> u32 {
        self.pool
    }

    /// The organizations, the Default Organization first.
    pub fn orgs(&self) -> &[Organization] {
        &self.orgs
    }

    /// What each organization receives now and the common pool.
    pub fn allocate(&self, policy: &dyn Distribute, seed: u64) -> Result<OrgAllocation, OrgError> {
        self.plan(self.pool, policy, seed)
    }

    /// What each organization would receive from a SIP pool of `pool` licenses.
    pub fn plan(
        &self,
        pool: u32,
        policy: &dyn Distribute,
        seed: u64,
    ) -> Result<OrgAllocation, OrgError> {
        let assigned_total: u64 = self.orgs.iter().map(|o| o.licenses as u64).sum();
        let cut = assigned_total > pool as u64;
        let granted: Vec<u32> = if cut {
            let claims: Vec<Claim> = self
                .orgs
                .iter()
                .map(|o| Claim {
                    weight: o.licenses,
                    priority: o.priority,
                    cap: o.licenses,
                })
                .collect();
            share(policy, pool, seed, &claims)?
        } else {
            self.orgs.iter().map(|o| o.licenses).collect()
        };
        let sum: u64 = granted.iter().map(|&g| g as u64).sum();
        Ok(OrgAllocation {
            pool,
            assigned_total,
            cut,
            // A cut hands out every license when the assignments exceed the pool; what a
            // plugin leaves over is common, never more than the pool.
            common: (pool as u64 - sum) as u32,
            orgs: self
                .orgs
                .iter()
                .zip(granted)
                .map(|(o, g)| OrgShare {
                    name: o.name.clone(),
                    assigned: o.licenses,
                    granted: g,
                })
                .collect(),
        })
    }
}
