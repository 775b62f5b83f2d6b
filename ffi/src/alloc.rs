//! Enterprise allocation and Cisco-style license inventory through the C ABI (thin wrappers
//! over `weblm_core::{plan, tenants, pak, outbox}`; the rules are in docs/allocation.md and
//! docs/compliance.md).
//!
//! Texts (plan and alert JSON) are written into a caller buffer: with `buf == NULL` and
//! `cap == 0` the call only reports the text's length (without the NUL) in `*out_len`; with a
//! buffer of at least that length + 1 bytes it writes the text and its NUL and the length; a
//! smaller buffer is refused with `WEBLM_E_OUT_OF_RANGE` (the message names the size needed)
//! and nothing is written, as for every failure.

use std::ffi::c_char;
use std::path::Path;
use std::sync::Arc;

use weblm_core::clock::Timestamp;
use weblm_core::distribute::EpZonePolicy;
use weblm_core::outbox::{AlertFilter, Outbox};
use weblm_core::pak::{PakError, PakRegistry};
use weblm_core::plan::{plan, PlanConfig, PlanError};
use weblm_core::plm_db::PlmDb;
use weblm_core::tenants::{split_formula, TenantConfig};

use crate::boundary::{guard, opt_str_arg, out_arg, str_arg};
use crate::registry::Registry;
use crate::status::{
    weblm_status, FfiError, WEBLM_E_INTERNAL, WEBLM_E_INVALID_ARGUMENT, WEBLM_E_OUT_OF_RANGE,
    WEBLM_E_STATE_DB,
};

/// A license manager database (opaque): PAKs, installed licenses and compliance alerts. Open
/// with `weblm_plm_db_open` or `weblm_plm_db_open_in_memory`; free with `weblm_plm_db_free`.
/// Thread-safe.
#[allow(non_camel_case_types)]
pub struct weblm_plm_db {
    _private: [u8; 0],
}

static PLM_DBS: Registry<Arc<PlmDb>> = Registry::new("weblm_plm_db");

impl From<PakError> for FfiError {
    fn from(e: PakError) -> Self {
        let status = match &e {
            PakError::Db(_) => WEBLM_E_STATE_DB,
            PakError::NoLicensesRemaining(_)
            | PakError::UpgradeNotFulfillable(_)
            | PakError::MoreThanRemaining { .. }
            | PakError::NothingToRehost(_) => WEBLM_E_OUT_OF_RANGE,
            PakError::UnknownPak(_)
            | PakError::DuplicatePak(_)
            | PakError::ZeroCount
            | PakError::Empty(_)
            | PakError::SameSystem(_) => WEBLM_E_INVALID_ARGUMENT,
        };
        FfiError::new(status, e.to_string())
    }
}

fn plan_error(e: PlanError) -> FfiError {
    let status = match &e {
        PlanError::Share(_) => WEBLM_E_INTERNAL,
        _ => WEBLM_E_INVALID_ARGUMENT,
    };
    FfiError::new(status, e.to_string())
}

/// Writes `text` into the caller's buffer (see the module documentation).
///
/// # Safety
/// `buf` is NULL or points to `cap` writable bytes.
pub(crate) unsafe fn write_text(
    text: &str,
    buf: *mut c_char,
    cap: usize,
    out_len: &mut usize,
) -> Result<(), FfiError> {
    if buf.is_null() {
        if cap == 0 {
            *out_len = text.len();
            return Ok(());
        }
        return Err(FfiError::null("buf"));
    }
    if cap < text.len() + 1 {
        return Err(FfiError::new(
            WEBLM_E_OUT_OF_RANGE,
            format!(
                "the buffer holds {cap} bytes; {} are needed (the text and its NUL)",
                text.len() + 1
            ),
        ));
    }
    std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), text.len());
    *buf.add(text.len()) = 0;
    *out_len = text.len();
    Ok(())
}

/// The `distribute` hook of a `weblm_policy` (a loaded wasm plugin, or the native EP policy
/// until one is loaded) as a core `Distribute` policy. A failing plugin is answered by the
/// native policy, as everywhere; every answer is checked again by the allocation code.
struct PolicyDistribute<'a>(&'a weblm_plugins::DistributeHook);

impl weblm_core::distribute::Distribute for PolicyDistribute<'_> {
    fn name(&self) -> &str {
        "weblm_policy distribute hook"
    }
    fn distribute(
        &self,
        input: &weblm_core::distribute::DistributeInput,
    ) -> Result<weblm_core::distribute::Distribution, String> {
        self.0
            .distribute(input)
            .map(|ev| ev.value)
            .map_err(|e| e.to_string())
    }
}

/// The what-if planner (`weblm zones plan`): what every zone, the SIP/H.323 split, every
/// organization, the zone reservations and the pipeline would get at `licenses` licenses, for
/// the planner configuration `config` (TOML, or JSON when it starts with `{`; see
/// docs/allocation.md), as JSON. Every proportional cut goes through `policy`'s `distribute`
/// hook (a wasm plugin loaded with `weblm_policy_load`), or the native EP rounding when
/// `policy` is NULL.
/// Buffer: with `buf == NULL` and `cap == 0` only `*out_len` (the JSON length without its NUL)
/// is written; otherwise `buf` must hold at least `*out_len + 1` bytes, or the call fails with
/// `WEBLM_E_OUT_OF_RANGE` (the message names the size needed) and writes nothing.
///
/// Errors: `WEBLM_E_INVALID_ARGUMENT` for a malformed or refused configuration (over-assigned
/// zones or organizations, a reservation above its zone; the message names it),
/// `WEBLM_E_OUT_OF_RANGE` for a buffer too small. Thread-safe.
///
/// # Safety
/// `config` is NULL or a NUL-terminated string; `buf` is NULL or `cap` writable bytes;
/// `out_len` is NULL or writable; any pointer value is accepted for `policy`.
#[no_mangle]
pub unsafe extern "C" fn weblm_alloc_plan_json(
    policy: *const crate::plugins::weblm_policy,
    config: *const c_char,
    licenses: u32,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> weblm_status {
    guard(|| {
        let out_len = out_arg(out_len, "out_len")?;
        let text = str_arg(config, "config")?;
        let cfg = PlanConfig::parse(text).map_err(plan_error)?;
        let p = if policy.is_null() {
            plan(&cfg, licenses, &EpZonePolicy)
        } else {
            let pol = crate::plugins::POLICIES.get(policy, "policy")?;
            plan(&cfg, licenses, &PolicyDistribute(&pol.distribute))
        }
        .map_err(plan_error)?;
        let json = serde_json::to_string(&p)
            .map_err(|e| FfiError::new(WEBLM_E_INTERNAL, format!("plan to JSON: {e}")))?;
        write_text(&json, buf, cap, out_len)
    })
}

/// The tenant split: with `usable = min(licenses, sip + h323)`,
/// `*out_sip = floor(usable * sip / (sip + h323))` and `*out_h323 = usable - *out_sip`; both 0
/// when `sip + h323 == 0` (docs/allocation.md). Thread-safe.
///
/// # Safety
/// `out_sip` and `out_h323` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_alloc_tenant_split(
    licenses: u32,
    sip: u32,
    h323: u32,
    out_sip: *mut u32,
    out_h323: *mut u32,
) -> weblm_status {
    guard(|| {
        let out_sip = out_arg(out_sip, "out_sip")?;
        let out_h323 = out_arg(out_h323, "out_h323")?;
        let s = split_formula(licenses, TenantConfig { sip, h323 });
        *out_sip = s.sip;
        *out_h323 = s.h323;
        Ok(())
    })
}

/// Opens (creating if needed) the license manager database at `path`. `*out` is owned by the
/// caller: free it with `weblm_plm_db_free`. `WEBLM_E_STATE_DB` if it cannot be opened.
/// Thread-safe.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_plm_db_open(
    path: *const c_char,
    out: *mut *mut weblm_plm_db,
) -> weblm_status {
    guard(|| {
        let out = out_arg(out, "out")?;
        let path = str_arg(path, "path")?;
        let db = PlmDb::open(Path::new(path))
            .map_err(|e| FfiError::new(WEBLM_E_STATE_DB, e.to_string()))?;
        *out = PLM_DBS.insert(Arc::new(db))?;
        Ok(())
    })
}

/// Opens a private in-memory license manager database (tests). Free with `weblm_plm_db_free`.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_plm_db_open_in_memory(out: *mut *mut weblm_plm_db) -> weblm_status {
    guard(|| {
        let out = out_arg(out, "out")?;
        let db = PlmDb::in_memory().map_err(|e| FfiError::new(WEBLM_E_STATE_DB, e.to_string()))?;
        *out = PLM_DBS.insert(Arc::new(db))?;
        Ok(())
    })
}

/// Frees a license manager database handle. NULL is a no-op returning `WEBLM_OK`; a handle that
/// is not live (double free) returns `WEBLM_E_INVALID_HANDLE`. Thread-safe.
///
/// # Safety
/// Any pointer value is accepted: it is looked up, never dereferenced.
#[no_mangle]
pub unsafe extern "C" fn weblm_plm_db_free(db: *mut weblm_plm_db) -> weblm_status {
    guard(|| PLM_DBS.remove(db, "db"))
}

/// The database behind a live `weblm_plm_db` handle.
pub(crate) fn db_arc(db: *const weblm_plm_db) -> Result<Arc<PlmDb>, FfiError> {
    Ok(Arc::clone(&*PLM_DBS.get(db, "db")?))
}

fn paks(db: *const weblm_plm_db) -> Result<PakRegistry, FfiError> {
    Ok(PakRegistry::new(db_arc(db)?))
}

/// Registers a PAK as ordered: `count` licenses of `feature`/`version`; with `upgrade_from`
/// (NULL: none) an upgrade PAK from that version. `WEBLM_E_INVALID_ARGUMENT` for a PAK key
/// registered already or an empty string. Thread-safe.
///
/// # Safety
/// String arguments are NULL or NUL-terminated; any pointer value is accepted for `db`.
#[no_mangle]
pub unsafe extern "C" fn weblm_pak_register(
    db: *const weblm_plm_db,
    pak: *const c_char,
    feature: *const c_char,
    version: *const c_char,
    count: u32,
    upgrade_from: *const c_char,
) -> weblm_status {
    guard(|| {
        let pak = str_arg(pak, "pak")?;
        let feature = str_arg(feature, "feature")?;
        let version = str_arg(version, "version")?;
        let upgrade_from = opt_str_arg(upgrade_from, "upgrade_from")?;
        paks(db)?.register(pak, feature, version, count, upgrade_from)?;
        Ok(())
    })
}

/// Fulfils `count` licenses of PAK `pak` on system `system_id` at time `now` (Unix seconds);
/// the rest stays in the PAK. `*out_fulfilled` receives the licenses installed (an upgrade PAK
/// may fulfil fewer than asked: at most the old-version licenses installed), `*out_remaining`
/// what is left in the PAK. `WEBLM_E_OUT_OF_RANGE` when the PAK has nothing left (message:
/// "The PAK you have entered, X, cannot be fulfilled because there are no licenses remaining
/// in the PAK"), when more is asked than remains, or when an upgrade PAK has nothing to
/// upgrade; `WEBLM_E_INVALID_ARGUMENT` for an unknown PAK or a count of 0. A refusal changes
/// nothing. Thread-safe.
///
/// # Safety
/// String arguments are NULL or NUL-terminated; out-parameters are NULL or writable; any
/// pointer value is accepted for `db`.
#[no_mangle]
pub unsafe extern "C" fn weblm_pak_fulfil(
    db: *const weblm_plm_db,
    pak: *const c_char,
    system_id: *const c_char,
    count: u32,
    now: i64,
    out_fulfilled: *mut u32,
    out_remaining: *mut u32,
) -> weblm_status {
    guard(|| {
        let out_fulfilled = out_arg(out_fulfilled, "out_fulfilled")?;
        let out_remaining = out_arg(out_remaining, "out_remaining")?;
        let pak = str_arg(pak, "pak")?;
        let system_id = str_arg(system_id, "system_id")?;
        let f = paks(db)?.fulfil(pak, system_id, count, Timestamp(now))?;
        *out_fulfilled = f.fulfilled;
        *out_remaining = f.remaining;
        Ok(())
    })
}

/// Moves every valid license of system `from` to system `to`; they become invalid on `from`.
/// `*out_moved` receives the licenses moved. `WEBLM_E_OUT_OF_RANGE` when `from` has nothing to
/// rehost, `WEBLM_E_INVALID_ARGUMENT` when `from == to`. Thread-safe.
///
/// # Safety
/// String arguments are NULL or NUL-terminated; `out_moved` is NULL or writable; any pointer
/// value is accepted for `db`.
#[no_mangle]
pub unsafe extern "C" fn weblm_pak_rehost(
    db: *const weblm_plm_db,
    from: *const c_char,
    to: *const c_char,
    now: i64,
    out_moved: *mut u64,
) -> weblm_status {
    guard(|| {
        let out_moved = out_arg(out_moved, "out_moved")?;
        let from = str_arg(from, "from")?;
        let to = str_arg(to, "to")?;
        *out_moved = paks(db)?.rehost(from, to, Timestamp(now))?.moved;
        Ok(())
    })
}

/// Valid licenses of `feature`/`version` installed on `system_id`. Thread-safe.
///
/// # Safety
/// String arguments are NULL or NUL-terminated; `out` is NULL or writable; any pointer value
/// is accepted for `db`.
#[no_mangle]
pub unsafe extern "C" fn weblm_pak_installed(
    db: *const weblm_plm_db,
    system_id: *const c_char,
    feature: *const c_char,
    version: *const c_char,
    out: *mut u64,
) -> weblm_status {
    guard(|| {
        let out = out_arg(out, "out")?;
        let system_id = str_arg(system_id, "system_id")?;
        let feature = str_arg(feature, "feature")?;
        let version = str_arg(version, "version")?;
        *out = paks(db)?.installed(system_id, feature, version)?;
        Ok(())
    })
}

/// The compliance alerts of the database as a JSON array (oldest first; each with `id`, `at`,
/// `kind`, `message`, `disable_date`, `delivered_at`, `attempts`, `last_error`);
/// `pending_only`: only those the webhook has not accepted. Thread-safe.
/// Buffer: with `buf == NULL` and `cap == 0` only `*out_len` (the JSON length without its NUL)
/// is written; otherwise `buf` must hold at least `*out_len + 1` bytes, or the call fails with
/// `WEBLM_E_OUT_OF_RANGE` (the message names the size needed) and writes nothing.
///
/// # Safety
/// `buf` is NULL or `cap` writable bytes; `out_len` is NULL or writable; any pointer value is
/// accepted for `db`.
#[no_mangle]
pub unsafe extern "C" fn weblm_plm_alerts_json(
    db: *const weblm_plm_db,
    pending_only: bool,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> weblm_status {
    guard(|| {
        let out_len = out_arg(out_len, "out_len")?;
        let list = Outbox::new(db_arc(db)?, None)
            .list(if pending_only {
                AlertFilter::Pending
            } else {
                AlertFilter::All
            })
            .map_err(|e| FfiError::new(WEBLM_E_STATE_DB, e.to_string()))?;
        let json = serde_json::to_string(&list)
            .map_err(|e| FfiError::new(WEBLM_E_INTERNAL, format!("alerts to JSON: {e}")))?;
        write_text(&json, buf, cap, out_len)
    })
}
