//! `weblm_entitlement`: a snapshot of what one feature/version is worth, with the reason for
//! every license code. Immutable, so thread-safe.

use std::ffi::{c_char, CString};

use weblm_core::codes::{CountRule, Entitlement, Reason};

use crate::boundary::{guard, out_arg};
use crate::registry::Registry;
use crate::status::{weblm_status, FfiError, WEBLM_E_OUT_OF_RANGE};

/// "No time": a validity window with no start or no end, or a reason without a time.
pub const WEBLM_TIME_NONE: i64 = i64::MIN;

/// Why a license code counted or not: one of the `WEBLM_REASON_*` constants.
#[allow(non_camel_case_types)]
pub type weblm_reason = u32;
/// Counted: the last exclusive code added (every other code is ignored).
pub const WEBLM_REASON_COUNTED_LAST_EXCLUSIVE: weblm_reason = 0;
/// Counted: an additive code, summed with the other additive codes.
pub const WEBLM_REASON_COUNTED_ADDITIVE: weblm_reason = 1;
/// Counted: an aggregate code, summed while the codes overlap.
pub const WEBLM_REASON_COUNTED_AGGREGATE: weblm_reason = 2;
/// Ignored: the code's start is still ahead (`at` = when it starts).
pub const WEBLM_REASON_NOT_YET_STARTED: weblm_reason = 3;
/// Ignored: the code's end date or trial period has passed (`at` = when it ended).
pub const WEBLM_REASON_EXPIRED: weblm_reason = 4;
/// Ignored: a later exclusive code (`by`) replaces every other code.
pub const WEBLM_REASON_OVERRIDDEN_BY_EXCLUSIVE: weblm_reason = 5;
/// Ignored: aggregate codes take precedence over additive codes.
pub const WEBLM_REASON_OVERRIDDEN_BY_AGGREGATE: weblm_reason = 6;
/// Ignored: on a redundant server, redundant additive code `by` overrides non-redundant codes.
pub const WEBLM_REASON_OVERRIDDEN_BY_REDUNDANT: weblm_reason = 7;
/// Ignored: permanent code `by` replaces trial codes.
pub const WEBLM_REASON_REPLACED_BY_PERMANENT: weblm_reason = 8;
/// Ignored: a redundant code on a server that is not redundant.
pub const WEBLM_REASON_REDUNDANT_ON_STANDALONE_SERVER: weblm_reason = 9;

/// An entitlement snapshot (opaque). Returned by `weblm_license_entitlement` and
/// `weblm_server_entitlement`; free with `weblm_entitlement_free`. Immutable and thread-safe.
#[allow(non_camel_case_types)]
pub struct weblm_entitlement {
    _private: [u8; 0],
}

/// One license code's fate in an entitlement (filled by `weblm_entitlement_code_at`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
#[allow(non_camel_case_types)]
pub struct weblm_code_decision {
    /// The code's position in the license file (1 for the first code added).
    pub position: u32,
    /// The code's own count.
    pub count: u32,
    /// Whether the code counts towards the entitlement.
    pub counted: bool,
    /// Why: a `WEBLM_REASON_*` constant.
    pub reason: weblm_reason,
    /// The position of the code that overrode or replaced this one; 0 when none.
    pub by: u32,
    /// When the code starts (`NOT_YET_STARTED`) or ended (`EXPIRED`), seconds since the Unix
    /// epoch; `WEBLM_TIME_NONE` otherwise.
    pub at: i64,
    /// The reason as an English sentence. Owned by the entitlement handle; valid until
    /// `weblm_entitlement_free`.
    pub text: *const c_char,
}

struct DecisionData {
    position: u32,
    count: u32,
    counted: bool,
    reason: weblm_reason,
    by: u32,
    at: i64,
    text: CString,
}

pub(crate) struct EntitlementData {
    count: u32,
    valid_from: i64,
    valid_until: i64,
    decisions: Vec<DecisionData>,
}

pub(crate) static ENTITLEMENTS: Registry<EntitlementData> = Registry::new("weblm_entitlement");

fn reason_fields(r: &Reason) -> (weblm_reason, u32, i64) {
    match r {
        Reason::Counted {
            rule: CountRule::LastExclusive,
        } => (WEBLM_REASON_COUNTED_LAST_EXCLUSIVE, 0, WEBLM_TIME_NONE),
        Reason::Counted {
            rule: CountRule::Additive,
        } => (WEBLM_REASON_COUNTED_ADDITIVE, 0, WEBLM_TIME_NONE),
        Reason::Counted {
            rule: CountRule::Aggregate,
        } => (WEBLM_REASON_COUNTED_AGGREGATE, 0, WEBLM_TIME_NONE),
        Reason::NotYetStarted { starts } => (WEBLM_REASON_NOT_YET_STARTED, 0, starts.0),
        Reason::Expired { ended } => (WEBLM_REASON_EXPIRED, 0, ended.0),
        Reason::OverriddenByExclusive { by } => {
            (WEBLM_REASON_OVERRIDDEN_BY_EXCLUSIVE, *by, WEBLM_TIME_NONE)
        }
        Reason::OverriddenByAggregate => (WEBLM_REASON_OVERRIDDEN_BY_AGGREGATE, 0, WEBLM_TIME_NONE),
        Reason::OverriddenByRedundant { by } => {
            (WEBLM_REASON_OVERRIDDEN_BY_REDUNDANT, *by, WEBLM_TIME_NONE)
        }
        Reason::ReplacedByPermanent { by } => {
            (WEBLM_REASON_REPLACED_BY_PERMANENT, *by, WEBLM_TIME_NONE)
        }
        Reason::RedundantOnStandaloneServer => (
            WEBLM_REASON_REDUNDANT_ON_STANDALONE_SERVER,
            0,
            WEBLM_TIME_NONE,
        ),
    }
}

impl EntitlementData {
    pub fn new(e: &Entitlement) -> Self {
        EntitlementData {
            count: e.count,
            valid_from: e.valid_from.map_or(WEBLM_TIME_NONE, |t| t.0),
            valid_until: e.valid_until.map_or(WEBLM_TIME_NONE, |t| t.0),
            decisions: e
                .decisions
                .iter()
                .map(|d| {
                    let (reason, by, at) = reason_fields(&d.reason);
                    DecisionData {
                        position: d.position,
                        count: d.count,
                        counted: d.counted,
                        reason,
                        by,
                        at,
                        text: CString::new(d.reason.to_string()).unwrap_or_default(),
                    }
                })
                .collect(),
        }
    }
}

/// Frees an entitlement handle. NULL is a no-op returning `WEBLM_OK`; a handle that is not
/// live (double free) returns `WEBLM_E_INVALID_HANDLE`. Reason texts obtained from it become
/// invalid. Thread-safe.
///
/// # Safety
/// Any pointer value is accepted: it is looked up, never dereferenced.
#[no_mangle]
pub unsafe extern "C" fn weblm_entitlement_free(
    entitlement: *mut weblm_entitlement,
) -> weblm_status {
    guard(|| ENTITLEMENTS.remove(entitlement, "entitlement"))
}

/// The number of licenses the feature/version is worth. Thread-safe.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_entitlement_count(
    entitlement: *const weblm_entitlement,
    out: *mut u32,
) -> weblm_status {
    guard(|| {
        let out = out_arg(out, "out")?;
        *out = ENTITLEMENTS.get(entitlement, "entitlement")?.count;
        Ok(())
    })
}

/// The combined validity window, seconds since the Unix epoch: the latest start and the
/// earliest end of the codes that count. `WEBLM_TIME_NONE` for "no start" (nothing counts) or
/// "no end". Both out-parameters are required. Thread-safe.
///
/// # Safety
/// `valid_from` and `valid_until` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_entitlement_window(
    entitlement: *const weblm_entitlement,
    valid_from: *mut i64,
    valid_until: *mut i64,
) -> weblm_status {
    guard(|| {
        let from = out_arg(valid_from, "valid_from")?;
        let until = out_arg(valid_until, "valid_until")?;
        let e = ENTITLEMENTS.get(entitlement, "entitlement")?;
        *from = e.valid_from;
        *until = e.valid_until;
        Ok(())
    })
}

/// The number of license codes the entitlement explains (every code of the feature/version,
/// counted or not). Thread-safe.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_entitlement_code_count(
    entitlement: *const weblm_entitlement,
    out: *mut usize,
) -> weblm_status {
    guard(|| {
        let out = out_arg(out, "out")?;
        *out = ENTITLEMENTS
            .get(entitlement, "entitlement")?
            .decisions
            .len();
        Ok(())
    })
}

/// The decision for the code at `index` (0-based, in license-file order); `index` at or past
/// `weblm_entitlement_code_count` fails with `WEBLM_E_OUT_OF_RANGE`. `out->text` is owned by
/// the entitlement. Thread-safe.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_entitlement_code_at(
    entitlement: *const weblm_entitlement,
    index: usize,
    out: *mut weblm_code_decision,
) -> weblm_status {
    guard(|| {
        let out = out_arg(out, "out")?;
        let e = ENTITLEMENTS.get(entitlement, "entitlement")?;
        let d = e.decisions.get(index).ok_or_else(|| {
            FfiError::new(
                WEBLM_E_OUT_OF_RANGE,
                format!(
                    "code index {index} is out of range: the entitlement explains {} codes",
                    e.decisions.len()
                ),
            )
        })?;
        *out = weblm_code_decision {
            position: d.position,
            count: d.count,
            counted: d.counted,
            reason: d.reason,
            by: d.by,
            at: d.at,
            text: d.text.as_ptr(),
        };
        Ok(())
    })
}
