//! `weblm_server`: the embedded license server (the "Primary WebLM on the IR platform itself"),
//! a `weblm_core::ledger::Ledger` behind a handle: acquire, renew and release leases, and query
//! in-use and available counts. Thread-safe: any thread may call any server function at any
//! time; the ledger never grants more licenses than are entitled.

use std::ffi::c_char;
use std::path::Path;
use std::sync::Arc;

use weblm_core::clock::{Clock, SystemClock, DEFAULT_ROLLBACK_TOLERANCE_SECS};
use weblm_core::ledger::{LeaseId, Ledger, LedgerConfig, DEFAULT_LEASE_LIFETIME_SECS};
use weblm_core::store::Durability;

use crate::boundary::{guard, out_arg, str_arg};
use crate::clock::{weblm_manual_clock, CLOCKS};
use crate::entitlement::{weblm_entitlement, EntitlementData, ENTITLEMENTS};
use crate::license::{weblm_license, LICENSES};
use crate::registry::Registry;
use crate::status::{weblm_status, FfiError, WEBLM_E_OUT_OF_RANGE};

/// The lease id of "no lease" (a grant of 0 licenses). Real lease ids are never 0.
pub const WEBLM_NO_LEASE: u64 = 0;

/// An embedded license server (opaque). Create with `weblm_server_new` or
/// `weblm_server_new_in_memory`; free with `weblm_server_free`. Thread-safe.
#[allow(non_camel_case_types)]
pub struct weblm_server {
    _private: [u8; 0],
}

/// Server settings. Fill with `weblm_server_config_init` first, then change fields, so that
/// every field has a meaningful value.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
#[allow(non_camel_case_types)]
pub struct weblm_server_config {
    /// How long a lease lives without renewal, in seconds; 1 ..= 31536000 (default 600).
    pub lease_lifetime_secs: i64,
    /// How far the clock may step back before it is distrusted, in seconds; 0 ..= 31536000
    /// (default 300).
    pub rollback_tolerance_secs: i64,
    /// Whether this server runs in a redundant pool (redundant codes count; default false).
    pub redundant_server: bool,
    /// Persistent servers only: fsync every commit, surviving power loss at a large cost in
    /// grants per second (default false: every commit survives a process crash).
    pub durable_full: bool,
    /// A manual clock to read time from, or NULL for the system clock (default NULL). The server
    /// keeps its own reference: the clock handle may be freed afterwards.
    pub clock: *const weblm_manual_clock,
}

/// The outcome of `weblm_server_acquire`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
#[allow(non_camel_case_types)]
pub struct weblm_grant {
    /// The new lease, or `WEBLM_NO_LEASE` when nothing was granted.
    pub lease: u64,
    /// Licenses granted, 0 ..= `wanted` (a partial grant is a success).
    pub granted: u32,
    /// Licenses asked for.
    pub wanted: u32,
    /// When the lease expires unless renewed (seconds since the Unix epoch); `WEBLM_TIME_NONE`
    /// when nothing was granted.
    pub expires_at: i64,
}

/// In-use and available counts of one feature/version (filled by `weblm_server_usage`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
#[allow(non_camel_case_types)]
pub struct weblm_usage {
    /// The entitlement now.
    pub entitled: u32,
    /// Licenses held by live leases.
    pub in_use: u64,
    /// Licenses that can be granted now (`entitled - in_use`, never below 0).
    pub available: u64,
    /// Number of live leases.
    pub leases: u64,
}

pub(crate) static SERVERS: Registry<Ledger> = Registry::new("weblm_server");

const MAX_CONFIG_SECS: i64 = 365 * 86_400;

/// Fills `*out` with the defaults: 600 s leases, 300 s rollback tolerance, not redundant,
/// process-crash durability, system clock. Thread-safe.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_server_config_init(out: *mut weblm_server_config) -> weblm_status {
    guard(|| {
        let out = out_arg(out, "out")?;
        *out = weblm_server_config {
            lease_lifetime_secs: DEFAULT_LEASE_LIFETIME_SECS,
            rollback_tolerance_secs: DEFAULT_ROLLBACK_TOLERANCE_SECS,
            redundant_server: false,
            durable_full: false,
            clock: std::ptr::null(),
        };
        Ok(())
    })
}

unsafe fn read_config(
    config: *const weblm_server_config,
) -> Result<(LedgerConfig, Arc<dyn Clock>), FfiError> {
    let mut c = std::mem::MaybeUninit::uninit();
    let c = match config.as_ref() {
        Some(c) => *c,
        None => {
            weblm_server_config_init(c.as_mut_ptr());
            c.assume_init()
        }
    };
    if !(1..=MAX_CONFIG_SECS).contains(&c.lease_lifetime_secs) {
        return Err(FfiError::new(
            WEBLM_E_OUT_OF_RANGE,
            format!(
                "`lease_lifetime_secs` is {}, outside 1..={MAX_CONFIG_SECS}",
                c.lease_lifetime_secs
            ),
        ));
    }
    if !(0..=MAX_CONFIG_SECS).contains(&c.rollback_tolerance_secs) {
        return Err(FfiError::new(
            WEBLM_E_OUT_OF_RANGE,
            format!(
                "`rollback_tolerance_secs` is {}, outside 0..={MAX_CONFIG_SECS}",
                c.rollback_tolerance_secs
            ),
        ));
    }
    let clock: Arc<dyn Clock> = if c.clock.is_null() {
        Arc::new(SystemClock)
    } else {
        Arc::new(CLOCKS.get(c.clock, "config->clock")?.as_ref().clone())
    };
    Ok((
        LedgerConfig {
            lease_lifetime_secs: c.lease_lifetime_secs,
            rollback_tolerance_secs: c.rollback_tolerance_secs,
            redundant_server: c.redundant_server,
            durability: if c.durable_full {
                Durability::Full
            } else {
                Durability::Process
            },
        },
        clock,
    ))
}

/// Creates a persistent embedded server serving `license`, with its state (live leases, trial
/// first uses, clock high-water mark) in the SQLite database at `state_db_path` (created if
/// missing). Leases from an earlier run that are still live are restored.
///
/// `config` may be NULL for the defaults. The server keeps its own copy of the license: the
/// license handle may be freed afterwards. `*out` is owned by the caller: free it with
/// `weblm_server_free`. Errors: `WEBLM_E_NULL_POINTER`, `WEBLM_E_INVALID_HANDLE`,
/// `WEBLM_E_INVALID_UTF8`, `WEBLM_E_OUT_OF_RANGE` (config), `WEBLM_E_STATE_DB`,
/// `WEBLM_E_CLOCK_ROLLBACK`. Thread-safe.
///
/// # Safety
/// `state_db_path` is NULL or NUL-terminated; `config` is NULL or readable; `out` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_server_new(
    license: *const weblm_license,
    state_db_path: *const c_char,
    config: *const weblm_server_config,
    out: *mut *mut weblm_server,
) -> weblm_status {
    guard(|| {
        let out = out_arg(out, "out")?;
        let lic = LICENSES.get(license, "license")?;
        let path = str_arg(state_db_path, "state_db_path")?;
        let (cfg, clock) = read_config(config)?;
        let ledger = Ledger::open(Path::new(path), &lic.verified, clock, cfg)?;
        *out = SERVERS.insert(ledger)?;
        Ok(())
    })
}

/// Creates an embedded server whose state lives in memory only (lost at `weblm_server_free`):
/// for tests, benchmarks and hosts that persist nothing. Otherwise as `weblm_server_new`.
/// Thread-safe.
///
/// # Safety
/// `config` is NULL or readable; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_server_new_in_memory(
    license: *const weblm_license,
    config: *const weblm_server_config,
    out: *mut *mut weblm_server,
) -> weblm_status {
    guard(|| {
        let out = out_arg(out, "out")?;
        let lic = LICENSES.get(license, "license")?;
        let (cfg, clock) = read_config(config)?;
        *out = SERVERS.insert(Ledger::in_memory(&lic.verified, clock, cfg))?;
        Ok(())
    })
}

/// Frees a server: the in-memory state is dropped, a persistent server's database is closed
/// (its leases stay recorded for the next `weblm_server_new`). NULL is a no-op returning
/// `WEBLM_OK`; a handle that is not live (double free) returns `WEBLM_E_INVALID_HANDLE`. Calls
/// already running on other threads finish first. Thread-safe.
///
/// # Safety
/// Any pointer value is accepted: it is looked up, never dereferenced.
#[no_mangle]
pub unsafe extern "C" fn weblm_server_free(server: *mut weblm_server) -> weblm_status {
    guard(|| SERVERS.remove(server, "server"))
}

/// Installs a new verified license (a code added, a new file) without a restart. Features the
/// new file no longer names drop to an entitlement of 0; their leases are kept until released
/// or expired. The license handle stays owned by the caller. Thread-safe.
///
/// # Safety
/// Any pointer values are accepted for the handles.
#[no_mangle]
pub unsafe extern "C" fn weblm_server_reload(
    server: *const weblm_server,
    license: *const weblm_license,
) -> weblm_status {
    guard(|| {
        let ledger = SERVERS.get(server, "server")?;
        let lic = LICENSES.get(license, "license")?;
        ledger.reload(&lic.verified)?;
        Ok(())
    })
}

/// Grants `client` up to `wanted` licenses of `feature` `version` as one lease. Grants what is
/// free, possibly less than `wanted` or none at all (`out->granted` 0, `out->lease`
/// `WEBLM_NO_LEASE`): a shortfall is not an error. The lease lives for the lease lifetime
/// unless renewed with `weblm_server_renew`; return it with `weblm_server_release`.
///
/// `wanted` must be at least 1 and `client` non-empty (else `WEBLM_E_INVALID_ARGUMENT`).
/// Errors also: `WEBLM_E_NULL_POINTER`, `WEBLM_E_INVALID_HANDLE`, `WEBLM_E_INVALID_UTF8`,
/// `WEBLM_E_UNKNOWN_FEATURE`, `WEBLM_E_CLOCK_ROLLBACK`, `WEBLM_E_STATE_DB`. Thread-safe.
///
/// # Safety
/// Strings are NULL or NUL-terminated; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_server_acquire(
    server: *const weblm_server,
    client: *const c_char,
    feature: *const c_char,
    version: *const c_char,
    wanted: u32,
    out: *mut weblm_grant,
) -> weblm_status {
    guard(|| {
        let out = out_arg(out, "out")?;
        let client = str_arg(client, "client")?;
        let feature = str_arg(feature, "feature")?;
        let version = str_arg(version, "version")?;
        let g = SERVERS.with(server, "server", |ledger| {
            Ok(ledger.acquire(client, feature, version, wanted)?)
        })?;
        *out = weblm_grant {
            lease: g.lease.unwrap_or(WEBLM_NO_LEASE),
            granted: g.granted,
            wanted: g.wanted,
            expires_at: g.expires_at.map_or(crate::WEBLM_TIME_NONE, |t| t.0),
        };
        Ok(())
    })
}

/// Extends a live lease by the lease lifetime from now; `*expires_at` receives the new expiry
/// (seconds since the Unix epoch). Errors: `WEBLM_E_UNKNOWN_LEASE` (never granted, released, or
/// swept), `WEBLM_E_LEASE_EXPIRED` (its licenses went back to the pool: acquire again),
/// `WEBLM_E_CLOCK_ROLLBACK`, `WEBLM_E_STATE_DB`, `WEBLM_E_NULL_POINTER`,
/// `WEBLM_E_INVALID_HANDLE`. Thread-safe.
///
/// # Safety
/// `expires_at` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_server_renew(
    server: *const weblm_server,
    lease: u64,
    expires_at: *mut i64,
) -> weblm_status {
    guard(|| {
        let out = out_arg(expires_at, "expires_at")?;
        *out = SERVERS
            .with(server, "server", |ledger| {
                Ok(ledger.renew(lease as LeaseId)?)
            })?
            .0;
        Ok(())
    })
}

/// Returns a lease's licenses to the pool. `released` may be NULL; otherwise it receives the
/// number of licenses returned. Works even while the clock is distrusted. Errors:
/// `WEBLM_E_UNKNOWN_LEASE` (a second release of the same lease included),
/// `WEBLM_E_STATE_DB`, `WEBLM_E_INVALID_HANDLE`, `WEBLM_E_NULL_POINTER`. Thread-safe.
///
/// # Safety
/// `released` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_server_release(
    server: *const weblm_server,
    lease: u64,
    released: *mut u32,
) -> weblm_status {
    guard(|| {
        let n = SERVERS.with(server, "server", |ledger| {
            Ok(ledger.release(lease as LeaseId)?)
        })?;
        if let Some(r) = released.as_mut() {
            *r = n;
        }
        Ok(())
    })
}

/// Admin force-release: returns every lease `client` holds (e.g. a client that crashed).
/// `released` may be NULL; otherwise it receives the number of licenses returned (0 when the
/// client held none, which is not an error). Thread-safe.
///
/// # Safety
/// `client` is NULL or NUL-terminated; `released` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_server_release_client(
    server: *const weblm_server,
    client: *const c_char,
    released: *mut u64,
) -> weblm_status {
    guard(|| {
        let ledger = SERVERS.get(server, "server")?;
        let client = str_arg(client, "client")?;
        let n = ledger.release_client(client)?;
        if let Some(r) = released.as_mut() {
            *r = n;
        }
        Ok(())
    })
}

/// In-use and available counts of `feature` `version` now (expired leases are dropped first).
/// Errors: `WEBLM_E_UNKNOWN_FEATURE`, `WEBLM_E_CLOCK_ROLLBACK`, `WEBLM_E_NULL_POINTER`,
/// `WEBLM_E_INVALID_HANDLE`, `WEBLM_E_INVALID_UTF8`. Thread-safe.
///
/// # Safety
/// Strings are NULL or NUL-terminated; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_server_usage(
    server: *const weblm_server,
    feature: *const c_char,
    version: *const c_char,
    out: *mut weblm_usage,
) -> weblm_status {
    guard(|| {
        let out = out_arg(out, "out")?;
        let ledger = SERVERS.get(server, "server")?;
        let feature = str_arg(feature, "feature")?;
        let version = str_arg(version, "version")?;
        let u = ledger.usage(feature, version)?;
        *out = weblm_usage {
            entitled: u.entitled,
            in_use: u.in_use,
            available: u.available,
            leases: u.leases as u64,
        };
        Ok(())
    })
}

/// The server's current entitlement for `feature` `version`, with the reason for every code
/// (trial codes counted from their real first use, the server's redundancy setting applied).
/// `*out` is a new handle the caller owns and frees with `weblm_entitlement_free`. Errors as
/// `weblm_server_usage`. Thread-safe.
///
/// # Safety
/// Strings are NULL or NUL-terminated; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_server_entitlement(
    server: *const weblm_server,
    feature: *const c_char,
    version: *const c_char,
    out: *mut *mut weblm_entitlement,
) -> weblm_status {
    guard(|| {
        let out = out_arg(out, "out")?;
        let ledger = SERVERS.get(server, "server")?;
        let feature = str_arg(feature, "feature")?;
        let version = str_arg(version, "version")?;
        let (ent, _fault) = ledger.entitlement(feature, version)?;
        *out = ENTITLEMENTS.insert(EntitlementData::new(&ent))?;
        Ok(())
    })
}
