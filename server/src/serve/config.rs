//! The `weblm serve` configuration file (TOML). See `docs/server.md` for a full example.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use weblm_core::api::MAX_REQUEST_COUNT;
use weblm_core::clock::Timestamp;

/// What a server does (SPEC §3, §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Serves its license file's entitlements through the lease ledger.
    Standard,
    /// Enterprise master: holds the enterprise license, allocates to locals, lends floating.
    Master,
    /// Enterprise local: serves the allocation its master gives it, borrows the rest.
    Local,
}

impl Role {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Standard => "standard",
            Role::Master => "master",
            Role::Local => "local",
        }
    }
}

/// One client allowed to talk to the server.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientEntry {
    /// Client id (the lease holder name). For a master, a local's name.
    pub id: String,
    /// Shared token, sent as `Authorization: Bearer <token>`.
    pub token: String,
}

/// One feature of an allocation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AllocationEntry {
    /// Feature name.
    pub feature: String,
    /// Feature version.
    pub version: String,
    /// Licenses.
    pub count: u32,
}

/// A local as its master sees it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalEntry {
    /// The local's name (its `[local] name`, and its client id at the master).
    pub name: String,
    /// The local's base URL.
    pub url: String,
    /// Token the master sends when it pushes an allocation (the local's `push_token`).
    pub push_token: String,
    /// The installed allocation.
    #[serde(default)]
    pub allocation: Vec<AllocationEntry>,
}

/// `[master]`: Enterprise Wide Licensing master settings (all periods configurable, SPEC §5).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasterConfig {
    /// Key that signs allocation files (a `weblm keygen` secret key).
    pub signing_key: PathBuf,
    /// How long an allocation stays valid (default 30 days).
    #[serde(default = "d30")]
    pub allocation_validity_secs: i64,
    /// How often the master re-sends each allocation (default 7 days).
    #[serde(default = "d7")]
    pub resend_every_secs: i64,
    /// Retry interval of a failed push (default 60 s).
    #[serde(default = "s60")]
    pub retry_secs: i64,
    /// Failed pushes in a row before an alert (default 3).
    #[serde(default = "three")]
    pub alert_after_failures: u32,
    /// How long licenses an IR client took directly stay reserved after its last renewal
    /// (default 30 days).
    #[serde(default = "d30")]
    pub reserve_secs: i64,
    /// Safety margin the master keeps an allocation beyond the validity it sent (default 1 day).
    #[serde(default = "d1")]
    pub allocation_margin_secs: i64,
    /// The locals.
    #[serde(default)]
    pub locals: Vec<LocalEntry>,
}

/// `[local]`: Enterprise Wide Licensing local settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalConfig {
    /// This local's name (the host id of its allocation files, its client id at the master).
    pub name: String,
    /// The master's base URL.
    pub master_url: String,
    /// This local's token at the master.
    pub master_token: String,
    /// The master's public key (verifies allocation files).
    pub master_public_key: PathBuf,
    /// Token the master must send to push an allocation here.
    pub push_token: String,
    /// How often the local gives unused borrowed licenses back (default 60 s).
    #[serde(default = "s60")]
    pub return_every_secs: i64,
}

fn d30() -> i64 {
    30 * Timestamp::DAY
}
fn d7() -> i64 {
    7 * Timestamp::DAY
}
fn d1() -> i64 {
    Timestamp::DAY
}
fn s60() -> i64 {
    60
}
fn three() -> u32 {
    3
}
fn lifetime() -> i64 {
    600
}
fn body_limit() -> usize {
    16 * 1024
}
fn info() -> String {
    "info".into()
}

/// The whole configuration file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Address to listen on (`127.0.0.1:7070`; port 0 picks a free port, printed at start).
    pub listen: String,
    /// Role (default standard).
    #[serde(default = "standard")]
    pub role: Role,
    /// License file (standard and master).
    pub license: Option<PathBuf>,
    /// Vendor public key (standard and master).
    pub vendor_public_key: Option<PathBuf>,
    /// This system's host id (the license file must be issued for it; standard and master).
    pub host_id: Option<String>,
    /// SQLite state database. Sibling files `<db>.peaks.json` and `<db>.allocation.json`
    /// hold usage peaks and (for a local) the installed allocation.
    pub state_db: PathBuf,
    /// Lease lifetime in seconds (default 600).
    #[serde(default = "lifetime")]
    pub lease_lifetime_secs: i64,
    /// Largest request body accepted, in bytes (default 16 KiB).
    #[serde(default = "body_limit")]
    pub max_body_bytes: usize,
    /// Token of the administrator (usage, who holds what, force-release).
    pub admin_token: String,
    /// The clients and their tokens.
    #[serde(default)]
    pub clients: Vec<ClientEntry>,
    /// TEST ONLY: run on a manual clock that `POST /v1/admin/test/clock` moves. Never in
    /// production: whoever holds the admin token could move license time.
    #[serde(default)]
    pub test_clock: bool,
    /// TEST ONLY: where the manual clock starts (RFC 3339; default: the system time).
    pub test_clock_start: Option<Timestamp>,
    /// Log filter (tracing `EnvFilter` syntax; `RUST_LOG` overrides; default `info`).
    #[serde(default = "info")]
    pub log: String,
    /// Master settings (role = master).
    pub master: Option<MasterConfig>,
    /// Local settings (role = local).
    pub local: Option<LocalConfig>,
    /// The Cisco-style license manager (SPEC §7): trial, over-use, deactivation, alerts. See
    /// [`super::compliance`]; absent: not run.
    pub compliance: Option<super::compliance::ComplianceSection>,
}

fn standard() -> Role {
    Role::Standard
}

/// A configuration problem, naming the field.
#[derive(Debug, thiserror::Error)]
#[error("config {path}: {message}")]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

impl ServeConfig {
    /// Reads and checks a configuration file. Relative paths in it are relative to the file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let err = |message: String| ConfigError {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let mut c: ServeConfig = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut c.state_db);
        if let Some(p) = c.license.as_mut() {
            fix(p);
        }
        if let Some(p) = c.vendor_public_key.as_mut() {
            fix(p);
        }
        if let Some(m) = c.master.as_mut() {
            fix(&mut m.signing_key);
        }
        if let Some(l) = c.local.as_mut() {
            fix(&mut l.master_public_key);
        }
        let system = c
            .host_id
            .clone()
            .or_else(|| c.local.as_ref().map(|l| l.name.clone()));
        if let Some(cs) = c.compliance.as_mut() {
            if let Some(p) = cs.plugin.as_mut() {
                fix(p);
            }
            if !cs.system_id_given {
                if let Some(s) = system {
                    cs.plm.system_id = s;
                }
            }
        }
        c.check().map_err(err)?;
        Ok(c)
    }

    /// Checks the fields that belong together.
    pub fn check(&self) -> Result<(), String> {
        if self.lease_lifetime_secs <= 0 {
            return Err("lease_lifetime_secs must be positive".into());
        }
        if self.admin_token.len() < 8 {
            return Err("admin_token must be at least 8 characters".into());
        }
        let mut seen = std::collections::HashSet::new();
        for c in &self.clients {
            if c.id.is_empty() || c.token.len() < 8 {
                return Err(format!(
                    "client `{}`: id must not be empty and token must be at least 8 characters",
                    c.id
                ));
            }
            if c.token == self.admin_token || !seen.insert(c.token.clone()) {
                return Err(format!("client `{}`: its token is not unique", c.id));
            }
        }
        match self.role {
            Role::Standard | Role::Master => {
                if self.license.is_none()
                    || self.vendor_public_key.is_none()
                    || self.host_id.is_none()
                {
                    return Err(format!(
                        "role {} needs license, vendor_public_key and host_id",
                        self.role.as_str()
                    ));
                }
            }
            Role::Local => {
                if self.local.is_none() {
                    return Err("role local needs a [local] section".into());
                }
            }
        }
        if let Some(cs) = &self.compliance {
            cs.check()?;
        }
        if self.role == Role::Master {
            let m = self
                .master
                .as_ref()
                .ok_or("role master needs a [master] section")?;
            for (name, v) in [
                ("allocation_validity_secs", m.allocation_validity_secs),
                ("resend_every_secs", m.resend_every_secs),
                ("retry_secs", m.retry_secs),
                ("reserve_secs", m.reserve_secs),
            ] {
                if v <= 0 {
                    return Err(format!("master.{name} must be positive"));
                }
            }
            for l in &m.locals {
                for a in &l.allocation {
                    if a.count as u64 > MAX_REQUEST_COUNT {
                        return Err(format!("local {}: allocation too large", l.name));
                    }
                }
                if !self.clients.iter().any(|c| c.id == l.name) {
                    return Err(format!(
                        "local `{}` has no [[clients]] entry (it needs a token to borrow and return)",
                        l.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// Sibling file of the state database.
    pub fn sibling(&self, suffix: &str) -> PathBuf {
        let mut s = self.state_db.clone().into_os_string();
        s.push(suffix);
        PathBuf::from(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
listen = "127.0.0.1:0"
license = "lic.toml"
vendor_public_key = "vendor.pub"
host_id = "h"
state_db = "state/ledger.db"
admin_token = "admin-token"
[[clients]]
id = "ir-01"
token = "client-token-1"
"#;

    fn load(text: &str) -> Result<ServeConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("weblm.toml");
        std::fs::write(&p, text).unwrap();
        ServeConfig::load(&p)
    }

    #[test]
    fn a_good_config_resolves_paths_next_to_the_file() {
        let c = load(BASE).unwrap();
        assert_eq!(c.role, Role::Standard);
        assert_eq!(c.lease_lifetime_secs, 600);
        assert!(c.state_db.is_absolute() && c.state_db.ends_with("state/ledger.db"));
        assert!(c
            .sibling(".peaks.json")
            .ends_with("state/ledger.db.peaks.json"));
    }

    #[test]
    fn the_compliance_section_mixes_license_manager_and_server_keys() {
        let c = load(&format!(
            "{BASE}\n[compliance]\nfeature = \"VOIP\"\ntrial_days = 90\n\
             license_manager_url = \"http://127.0.0.1:9\"\nwebhook_timeout_ms = 250\n"
        ))
        .unwrap();
        let cs = c.compliance.unwrap();
        assert_eq!(cs.plm.feature, "VOIP");
        assert_eq!(cs.plm.trial_days, 90);
        assert_eq!(cs.plm.check_period_days, 30, "defaults stay");
        assert_eq!(cs.plm.system_id, "h", "system_id defaults to host_id");
        assert_eq!(
            cs.license_manager_url.as_deref(),
            Some("http://127.0.0.1:9")
        );
        assert_eq!(cs.webhook_timeout_ms, 250);
        let c = load(&format!("{BASE}\n[compliance]\nsystem_id = \"cwms-9\"\n")).unwrap();
        assert_eq!(c.compliance.unwrap().plm.system_id, "cwms-9");
        for (bad, named) in [
            ("trial_dayz = 3", "trial_dayz"),
            ("webhook_url = 7", "webhook_url"),
            ("plugin = \"p.wasm\"", "plugin_sha256"),
            ("license_manager_url = \"https://x\"", "license_manager_url"),
            ("webhook_timeout_ms = 0", "webhook_timeout_ms"),
            ("analysis_hour = \"two\"", "analysis_hour"),
        ] {
            let e = load(&format!("{BASE}\n[compliance]\n{bad}\n")).unwrap_err();
            assert!(e.to_string().contains(named), "{bad}: {e}");
        }
    }

    #[test]
    fn mistakes_are_named() {
        let e = load(&format!("{BASE}\nlisten_adress = \"x\"\n")).unwrap_err();
        assert!(e.to_string().contains("listen_adress"), "{e}");
        let e = load(&BASE.replace("admin-token", "short")).unwrap_err();
        assert!(e.to_string().contains("admin_token"), "{e}");
        let e = load(&BASE.replace("client-token-1", "admin-token")).unwrap_err();
        assert!(e.to_string().contains("not unique"), "{e}");
        let e = load(&BASE.replace("host_id = \"h\"\n", "")).unwrap_err();
        assert!(e.to_string().contains("host_id"), "{e}");
        let e = load(&format!("role = \"master\"\n{BASE}")).unwrap_err();
        assert!(e.to_string().contains("[master]"), "{e}");
        let e = load(&format!("role = \"local\"\n{BASE}")).unwrap_err();
        assert!(e.to_string().contains("[local]"), "{e}");
        let e = load(&format!("role = \"boss\"\n{BASE}")).unwrap_err();
        assert!(e.to_string().contains("boss"), "{e}");
        let e = load(&format!("{BASE}\nlease_lifetime_secs = 0\n")).unwrap_err();
        assert!(e.to_string().contains("lease_lifetime_secs"), "{e}");
        let master = format!(
            "role = \"master\"\n{BASE}\n[master]\nsigning_key = \"m.key\"\n\
             [[master.locals]]\nname = \"site-x\"\nurl = \"http://x\"\npush_token = \"push-token\"\n"
        );
        let e = load(&master).unwrap_err();
        assert!(
            e.to_string().contains("site-x") && e.to_string().contains("[[clients]]"),
            "{e}"
        );
    }
}
