//! Applications with guaranteed and common licenses, run call by call (Avaya Experience
//! Portal, SPEC §6, seed `004_…`).
//!
//! - Each application may have **guaranteed** licenses: its alone, taken from its
//!   organization's allocation ([`crate::orgs`]). The guarantees of an organization's
//!   applications may not add up to more than the organization holds.
//! - An application's guaranteed licenses are **spread over the media servers** (in equal parts
//!   through the `distribute` hook; the rounding remainder goes to servers in a seeded order).
//! - A call started on a media server uses, in this order: one of the application's guaranteed
//!   licenses **on that media server**; one of its organization's licenses that no application
//!   has as a guarantee ([`LicenseUse::OrganizationCommon`]); one of the global common pool
//!   ([`LicenseUse::Common`]). So a media server whose guaranteed share is used up serves from
//!   common licenses even while another server still has guaranteed ones for the application.
//! - When all of these are gone the call is refused ([`AppError::Starved`]): an application
//!   without a guarantee can be starved by others using up the common licenses.
//! - Ending a call returns its license to where it came from.
//!
//! The model never runs more calls than the organizations' grants plus the common pool.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::distribute::Distribute;
use crate::orgs::{OrgAllocation, DEFAULT_ORGANIZATION};
use crate::share::{share, Claim, ShareError};

fn default_org() -> String {
    DEFAULT_ORGANIZATION.to_string()
}

/// One application as configured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// The application's name (unique).
    pub name: String,
    /// The organization it belongs to (default: the Default Organization).
    #[serde(default = "default_org")]
    pub organization: String,
    /// Licenses guaranteed to it, from its organization.
    #[serde(default)]
    pub guaranteed: u32,
}

/// Which kind of license a call used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LicenseUse {
    /// One of the application's guaranteed licenses on that media server.
    Guaranteed,
    /// One of its organization's licenses that no application has as a guarantee.
    OrganizationCommon,
    /// One of the global common pool.
    Common,
}

/// A call's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CallId(pub u64);

/// A started call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallGrant {
    /// Its id (to end it).
    pub call: CallId,
    /// The application.
    pub app: String,
    /// The media server.
    pub media_server: String,
    /// The license it used.
    pub used: LicenseUse,
}

/// An application-level request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// No application has this name.
    #[error("no application named `{0}`")]
    UnknownApp(String),
    /// No media server has this name.
    #[error("no media server named `{0}`")]
    UnknownMediaServer(String),
    /// The application names an organization that does not exist.
    #[error("application `{app}` belongs to unknown organization `{org}`")]
    UnknownOrganization {
        /// The application.
        app: String,
        /// The organization.
        org: String,
    },
    /// The guarantees of an organization's applications exceed its licenses.
    #[error(
        "applications of organization `{org}` are guaranteed {guaranteed} licenses but it \
         holds only {licenses}"
    )]
    GuaranteesExceedOrganization {
        /// The organization.
        org: String,
        /// Σ guaranteed over its applications.
        guaranteed: u64,
        /// What the organization holds.
        licenses: u32,
    },
    /// Two applications or media servers share a name.
    #[error("`{0}` is configured more than once")]
    Duplicate(String),
    /// There are no media servers to spread guarantees over.
    #[error("no media servers are configured")]
    NoMediaServers,
    /// No license is left for this call.
    #[error(
        "call refused for application `{app}` on media server `{media_server}`: no guaranteed, \
         organization or common license is free"
    )]
    Starved {
        /// The application.
        app: String,
        /// The media server.
        media_server: String,
    },
    /// No active call has this id.
    #[error("no active call {0}")]
    UnknownCall(u64),
    /// The distribute policy failed or was refused.
    #[error(transparent)]
    Share(#[from] ShareError),
}

/// One application's state, for operators.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppStatus {
    /// The application.
    pub name: String,
    /// Its organization.
    pub organization: String,
    /// Guaranteed licenses per media server (in media-server order).
    pub guaranteed: Vec<u32>,
    /// Guaranteed licenses in use per media server.
    pub guaranteed_in_use: Vec<u32>,
    /// Active calls on any license.
    pub active: u32,
    /// Calls refused so far (starvation is observable here).
    pub refused: u64,
}

#[derive(Debug, Clone)]
struct App {
    cfg: AppConfig,
    org: usize,
    guaranteed: Vec<u32>,
    in_use: Vec<u32>,
    active: u32,
    refused: u64,
}

/// The call-by-call model of one system's applications.
#[derive(Debug, Clone)]
pub struct AppRuntime {
    media_servers: Vec<String>,
    apps: Vec<App>,
    org_names: Vec<String>,
    org_common_left: Vec<u32>,
    common_left: u32,
    common_total: u32,
    calls: HashMap<u64, (usize, usize, LicenseUse)>,
    next_call: u64,
}

impl AppRuntime {
    /// Builds the model from the organizations' allocation (their grants and the global common
    /// pool), the media servers and the applications.
    pub fn new(
        orgs: &OrgAllocation,
        media_servers: Vec<String>,
        apps: Vec<AppConfig>,
        policy: &dyn Distribute,
        seed: u64,
    ) -> Result<Self, AppError> {
        if media_servers.is_empty() {
            return Err(AppError::NoMediaServers);
        }
        let mut seen = std::collections::HashSet::new();
        for n in media_servers.iter().chain(apps.iter().map(|a| &a.name)) {
            if !seen.insert(n.as_str()) {
                return Err(AppError::Duplicate(n.clone()));
            }
        }
        let org_names: Vec<String> = orgs.orgs.iter().map(|o| o.name.clone()).collect();
        let mut guaranteed_per_org = vec![0u64; org_names.len()];
        let mut built = Vec::with_capacity(apps.len());
        for (i, cfg) in apps.into_iter().enumerate() {
            let org = org_names
                .iter()
                .position(|o| *o == cfg.organization)
                .ok_or_else(|| AppError::UnknownOrganization {
                    app: cfg.name.clone(),
                    org: cfg.organization.clone(),
                })?;
            guaranteed_per_org[org] += cfg.guaranteed as u64;
            let claims = vec![
                Claim {
                    weight: 1,
                    priority: 1,
                    cap: u32::MAX,
                };
                media_servers.len()
            ];
            let guaranteed = share(policy, cfg.guaranteed, seed.wrapping_add(i as u64), &claims)?;
            built.push(App {
                in_use: vec![0; media_servers.len()],
                guaranteed,
                cfg,
                org,
                active: 0,
                refused: 0,
            });
        }
        let mut org_common_left = Vec::with_capacity(org_names.len());
        for (o, share) in orgs.orgs.iter().enumerate() {
            if guaranteed_per_org[o] > share.granted as u64 {
                return Err(AppError::GuaranteesExceedOrganization {
                    org: share.name.clone(),
                    guaranteed: guaranteed_per_org[o],
                    licenses: share.granted,
                });
            }
            org_common_left.push(share.granted - guaranteed_per_org[o] as u32);
        }
        Ok(AppRuntime {
            media_servers,
            apps: built,
            org_names,
            org_common_left,
            common_left: orgs.common,
            common_total: orgs.common,
            calls: HashMap::new(),
            next_call: 1,
        })
    }

    fn app_index(&self, app: &str) -> Result<usize, AppError> {
        self.apps
            .iter()
            .position(|a| a.cfg.name == app)
            .ok_or_else(|| AppError::UnknownApp(app.to_string()))
    }

    fn ms_index(&self, ms: &str) -> Result<usize, AppError> {
        self.media_servers
            .iter()
            .position(|m| m == ms)
            .ok_or_else(|| AppError::UnknownMediaServer(ms.to_string()))
    }

    /// Starts a call of `app` on `media_server`: which license it used, or
    /// [`AppError::Starved`] when none is free.
    pub fn start_call(&mut self, app: &str, media_server: &str) -> Result<CallGrant, AppError> {
        let a = self.app_index(app)?;
        let m = self.ms_index(media_server)?;
        let org = self.apps[a].org;
        let used = if self.apps[a].in_use[m] < self.apps[a].guaranteed[m] {
            self.apps[a].in_use[m] += 1;
            LicenseUse::Guaranteed
        } else if self.org_common_left[org] > 0 {
            self.org_common_left[org] -= 1;
            LicenseUse::OrganizationCommon
        } else if self.common_left > 0 {
            self.common_left -= 1;
            LicenseUse::Common
        } else {
            self.apps[a].refused += 1;
            return Err(AppError::Starved {
                app: app.to_string(),
                media_server: media_server.to_string(),
            });
        };
        self.apps[a].active += 1;
        let id = self.next_call;
        self.next_call += 1;
        self.calls.insert(id, (a, m, used));
        Ok(CallGrant {
            call: CallId(id),
            app: app.to_string(),
            media_server: media_server.to_string(),
            used,
        })
    }

    /// Ends a call; its license returns to where it came from.
    pub fn end_call(&mut self, call: CallId) -> Result<(), AppError> {
        let (a, m, used) = self
            .calls
            .remove(&call.0)
            .ok_or(AppError::UnknownCall(call.0))?;
        match used {
            LicenseUse::Guaranteed => self.apps[a].in_use[m] -= 1,
            LicenseUse::OrganizationCommon => self.org_common_left[self.apps[a].org] += 1,
            LicenseUse::Common => self.common_left += 1,
        }
        self.apps[a].active -= 1;
        Ok(())
    }

    /// Active calls in total.
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// Global common licenses free now.
    pub fn common_free(&self) -> u32 {
        self.common_left
    }

    /// Global common licenses in total.
    pub fn common_total(&self) -> u32 {
        self.common_total
    }

    /// Organization `org`'s licenses not guaranteed to an application and free now.
    pub fn organization_common_free(&self, org: &str) -> Option<u32> {
        self.org_names
            .iter()
            .position(|o| o == org)
            .map(|i| self.org_common_left[i])
    }

    /// The media servers, in order.
    pub fn media_servers(&self) -> &[String] {
        &self.media_servers
    }

    /// Every application's state.
    pub fn status(&self) -> Vec<AppStatus> {
        self.apps
            .iter()
            .map(|a| AppStatus {
                name: a.cfg.name.clone(),
                organization: a.cfg.organization.clone(),
                guaranteed: a.guaranteed.clone(),
                guaranteed_in_use: a.in_use.clone(),
                active: a.active,
                refused: a.refused,
            })
            .collect()
    }

    /// One application's state.
    pub fn app_status(&self, app: &str) -> Result<AppStatus, AppError> {
        let i = self.app_index(app)?;
        Ok(self.status().swap_remove(i))
    }
}
