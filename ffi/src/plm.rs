//! The Cisco-style compliance engine through the C ABI (thin wrapper over `weblm_core::plm`;
//! the rules are in docs/compliance.md): free trial, over-use / out-of-date / invalid licenses,
//! deactivation, the 12-hour sync and the daily analysis, on a `weblm_plm_db`.
//!
//! The license manager link is a flag the caller sets (`weblm_plm_set_license_manager_reachable`):
//! each synchronization (`weblm_plm_tick`, every 12 h) succeeds when it is true.

use std::ffi::c_char;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use weblm_core::clock::{Clock, SystemClock};
use weblm_core::compliance::StandardCompliance;
use weblm_core::outbox::{Outbox, Webhook};
use weblm_core::plm::{LicenseManagerLink, Plm, PlmConfig, PlmError};

use crate::alloc::{db_arc, write_text};
use crate::boundary::{guard, opt_str_arg, out_arg};
use crate::clock::CLOCKS;
use crate::registry::Registry;
use crate::status::{
    weblm_status, FfiError, WEBLM_E_INTERNAL, WEBLM_E_INVALID_ARGUMENT, WEBLM_E_STATE_DB,
};

/// A license manager (opaque): the compliance state of one system over a `weblm_plm_db`.
/// Create with `weblm_plm_new`, free with `weblm_plm_free`. Thread-safe (calls are
/// serialized).
#[allow(non_camel_case_types)]
pub struct weblm_plm {
    _private: [u8; 0],
}

struct Flag(Arc<AtomicBool>);

impl LicenseManagerLink for Flag {
    fn sync(&self) -> Result<(), String> {
        if self.0.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err("license manager marked unreachable".into())
        }
    }
}

struct PlmHandle {
    plm: Mutex<Plm>,
    reachable: Arc<AtomicBool>,
}

static PLMS: Registry<PlmHandle> = Registry::new("weblm_plm");

fn plm_error(e: PlmError) -> FfiError {
    let status = match &e {
        PlmError::Db(_) | PlmError::Inventory(_) | PlmError::CorruptState(_) => WEBLM_E_STATE_DB,
        PlmError::Config(_) => WEBLM_E_INVALID_ARGUMENT,
        PlmError::Deactivated { .. } | PlmError::Policy { .. } | PlmError::PolicyFault { .. } => {
            WEBLM_E_INTERNAL
        }
    };
    FfiError::new(status, e.to_string())
}

fn with_plm<R>(
    plm: *const weblm_plm,
    f: impl FnOnce(&mut Plm, &AtomicBool) -> Result<R, FfiError>,
) -> Result<R, FfiError> {
    let h = PLMS.get(plm, "plm")?;
    let mut guard = h.plm.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut guard, &h.reachable)
}

/// Opens the license manager of one system over `db`. `clock` is a manual clock (tests) or
/// NULL for the system clock; `config_json` is NULL for the defaults or a JSON object with any
/// of `system_id` ("cwms-01"), `feature` ("USER"), `version` ("2.0"), `trial_days` (180),
/// `check_period_days` (30), `deactivate_after_days` (180), `sync_interval_hours` (12),
/// `contact_alert_days` (2), `analysis_hour` (2), `analysis_minute` (0). The first open of a
/// database is the deployment: with no licenses installed the free trial starts. The license
/// manager starts reachable. `*out` is owned by the caller: free it with `weblm_plm_free`.
/// Errors: `WEBLM_E_INVALID_ARGUMENT` (bad configuration), `WEBLM_E_STATE_DB`. Thread-safe.
///
/// # Safety
/// `config_json` is NULL or NUL-terminated; `out` is NULL or writable; any pointer value is
/// accepted for `db` and `clock`.
#[no_mangle]
pub unsafe extern "C" fn weblm_plm_new(
    db: *const crate::alloc::weblm_plm_db,
    clock: *const crate::clock::weblm_manual_clock,
    config_json: *const c_char,
    out: *mut *mut weblm_plm,
) -> weblm_status {
    guard(|| {
        let out = out_arg(out, "out")?;
        let db = db_arc(db)?;
        let clock: Arc<dyn Clock> = if clock.is_null() {
            Arc::new(SystemClock)
        } else {
            Arc::new((*CLOCKS.get(clock, "clock")?).clone())
        };
        let config = match opt_str_arg(config_json, "config_json")? {
            None => PlmConfig::default(),
            Some(text) => serde_json::from_str(text).map_err(|e| {
                FfiError::new(
                    WEBLM_E_INVALID_ARGUMENT,
                    format!("license manager configuration: {e}"),
                )
            })?,
        };
        let reachable = Arc::new(AtomicBool::new(true));
        let plm = Plm::open(
            db.clone(),
            Outbox::new(db, None),
            clock,
            Arc::new(StandardCompliance),
            Arc::new(Flag(reachable.clone())),
            config,
        )
        .map_err(plm_error)?;
        *out = PLMS.insert(PlmHandle {
            plm: Mutex::new(plm),
            reachable,
        })?;
        Ok(())
    })
}

/// Frees a license manager handle (its state stays in the database). NULL is a no-op; a handle
/// that is not live returns `WEBLM_E_INVALID_HANDLE`. Thread-safe.
///
/// # Safety
/// Any pointer value is accepted: it is looked up, never dereferenced.
#[no_mangle]
pub unsafe extern "C" fn weblm_plm_free(plm: *mut weblm_plm) -> weblm_status {
    guard(|| PLMS.remove(plm, "plm"))
}

/// Says whether the license manager can be reached; the next synchronization uses it.
/// Thread-safe.
///
/// # Safety
/// Any pointer value is accepted for `plm`.
#[no_mangle]
pub unsafe extern "C" fn weblm_plm_set_license_manager_reachable(
    plm: *const weblm_plm,
    reachable: bool,
) -> weblm_status {
    guard(|| {
        with_plm(plm, |_, flag| {
            flag.store(reachable, Ordering::SeqCst);
            Ok(())
        })
    })
}

/// Runs what is due at the clock's time: the synchronization (every 12 h), the daily analysis
/// (02:00 GMT by default), the violation checks and reminders, and webhook delivery of pending
/// alerts. Call it regularly (e.g. every minute). Thread-safe.
///
/// # Safety
/// Any pointer value is accepted for `plm`.
#[no_mangle]
pub unsafe extern "C" fn weblm_plm_tick(plm: *const weblm_plm) -> weblm_status {
    guard(|| with_plm(plm, |p, _| p.tick().map(|_| ()).map_err(plm_error)))
}

/// Records the current number of users (over-use is judged at once against the installed
/// count of the last analysis). Thread-safe.
///
/// # Safety
/// Any pointer value is accepted for `plm`.
#[no_mangle]
pub unsafe extern "C" fn weblm_plm_record_usage(plm: *const weblm_plm, users: u32) -> weblm_status {
    guard(|| {
        with_plm(plm, |p, _| {
            p.record_usage(users).map(|_| ()).map_err(plm_error)
        })
    })
}

/// The system failed over to another node; with `license_manager_reachable == false` the free
/// trial starts (180 days to restore the connection). Thread-safe.
///
/// # Safety
/// Any pointer value is accepted for `plm`.
#[no_mangle]
pub unsafe extern "C" fn weblm_plm_failover(
    plm: *const weblm_plm,
    license_manager_reachable: bool,
) -> weblm_status {
    guard(|| {
        with_plm(plm, |p, _| {
            p.failover(license_manager_reachable)
                .map(|_| ())
                .map_err(plm_error)
        })
    })
}

/// Runs the license analysis now (after installing licenses); fixed licenses restore service
/// at once. Thread-safe.
///
/// # Safety
/// Any pointer value is accepted for `plm`.
#[no_mangle]
pub unsafe extern "C" fn weblm_plm_analyze_now(plm: *const weblm_plm) -> weblm_status {
    guard(|| with_plm(plm, |p, _| p.analyze_now().map(|_| ()).map_err(plm_error)))
}

/// `*out` = whether users may use the service now (false once deactivated; administration
/// calls keep working). Thread-safe.
///
/// # Safety
/// `out` is NULL or writable; any pointer value is accepted for `plm`.
#[no_mangle]
pub unsafe extern "C" fn weblm_plm_service_available(
    plm: *const weblm_plm,
    out: *mut bool,
) -> weblm_status {
    guard(|| {
        let out = out_arg(out, "out")?;
        *out = with_plm(plm, |p, _| {
            p.status().map(|s| s.service_available).map_err(plm_error)
        })?;
        Ok(())
    })
}

/// The status as a JSON object: `now`, `mode` ("normal", "trial", "over_use_alert",
/// "deactivated", ...), `until`, `service_available`, `trial`, `trial_end`, `violation`
/// (`kinds`, `since`, `disable_date`), `installed` and `out_of_date` (as of the last
/// analysis), `in_use`, `last_analysis`, `next_analysis`, `last_contact`. Buffer: with
/// `buf == NULL` and `cap == 0` only `*out_len` (the JSON length without its NUL) is written;
/// otherwise `buf` must hold at least `*out_len + 1` bytes, or the call fails with
/// `WEBLM_E_OUT_OF_RANGE` and writes nothing. Thread-safe.
///
/// # Safety
/// `buf` is NULL or `cap` writable bytes; `out_len` is NULL or writable; any pointer value is
/// accepted for `plm`.
#[no_mangle]
pub unsafe extern "C" fn weblm_plm_status_json(
    plm: *const weblm_plm,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> weblm_status {
    guard(|| {
        let out_len = out_arg(out_len, "out_len")?;
        let status = with_plm(plm, |p, _| p.status().map_err(plm_error))?;
        let json = serde_json::to_string(&status)
            .map_err(|e| FfiError::new(WEBLM_E_INTERNAL, format!("status to JSON: {e}")))?;
        write_text(&json, buf, cap, out_len)
    })
}

/// Sets the webhook alerts are posted to (`url`: plain `http://`; NULL removes it), with a
/// request timeout of `timeout_ms` milliseconds. `WEBLM_E_INVALID_ARGUMENT` for an unusable URL
/// or a timeout of 0. Thread-safe.
///
/// # Safety
/// `url` is NULL or NUL-terminated; any pointer value is accepted for `plm`.
#[no_mangle]
pub unsafe extern "C" fn weblm_plm_set_webhook(
    plm: *const weblm_plm,
    url: *const c_char,
    timeout_ms: u32,
) -> weblm_status {
    guard(|| {
        let hook = match opt_str_arg(url, "url")? {
            None => None,
            Some(u) => Some(
                Webhook::new(u, Duration::from_millis(timeout_ms as u64))
                    .map_err(|e| FfiError::new(WEBLM_E_INVALID_ARGUMENT, e.to_string()))?,
            ),
        };
        with_plm(plm, |p, _| {
            p.set_webhook(hook);
            Ok(())
        })
    })
}
