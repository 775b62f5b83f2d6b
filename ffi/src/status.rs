//! Status codes, their names, and the thread-local last-error message.
//!
//! Inside the crate every failure is an `FfiError` (a status plus a message naming the
//! problem); at the C edge it becomes a `weblm_status` return value and the message is kept for
//! `weblm_last_error()` on the calling thread.

use std::cell::RefCell;
use std::ffi::{c_char, CString};

use weblm_core::ledger::LedgerError;
use weblm_core::license::LicenseError;

/// The result of every fallible libweblm function: `WEBLM_OK` (0) or one of the `WEBLM_E_*`
/// constants. A plain `uint32_t` so that every language binding can read it as an integer.
#[allow(non_camel_case_types)]
pub type weblm_status = u32;

/// Success.
pub const WEBLM_OK: weblm_status = 0;
/// A required pointer argument (handle, string or out-parameter) was NULL.
pub const WEBLM_E_NULL_POINTER: weblm_status = 1;
/// The handle is not a live handle of the expected type: already freed (double free, use after
/// free), or never returned by libweblm.
pub const WEBLM_E_INVALID_HANDLE: weblm_status = 2;
/// A string argument is not valid UTF-8.
pub const WEBLM_E_INVALID_UTF8: weblm_status = 3;
/// An argument is wrong for this call (e.g. an empty client id, `wanted` of 0).
pub const WEBLM_E_INVALID_ARGUMENT: weblm_status = 4;
/// A count, length or index is outside its allowed range.
pub const WEBLM_E_OUT_OF_RANGE: weblm_status = 5;
/// A file could not be read.
pub const WEBLM_E_IO: weblm_status = 6;
/// The license file is not well formed: syntax, unknown field, unsupported format version, a
/// code that breaks a rule, or counts that overflow.
pub const WEBLM_E_MALFORMED_LICENSE: weblm_status = 7;
/// The license file's signature does not match its content under the vendor key given.
pub const WEBLM_E_BAD_SIGNATURE: weblm_status = 8;
/// The license file was not issued for this system (host id).
pub const WEBLM_E_WRONG_HOST: weblm_status = 9;
/// The license file was issued for another product version.
pub const WEBLM_E_VERSION_MISMATCH: weblm_status = 10;
/// The vendor public key text is malformed.
pub const WEBLM_E_BAD_KEY: weblm_status = 11;
/// No license code names this feature/version.
pub const WEBLM_E_UNKNOWN_FEATURE: weblm_status = 12;
/// No live lease has this id (never granted, released, or expired and swept).
pub const WEBLM_E_UNKNOWN_LEASE: weblm_status = 13;
/// The lease expired before it was renewed; its licenses went back to the pool.
pub const WEBLM_E_LEASE_EXPIRED: weblm_status = 14;
/// The clock went backwards past the tolerance; no new grants or renewals until it is correct.
pub const WEBLM_E_CLOCK_ROLLBACK: weblm_status = 15;
/// The state database failed; nothing was granted or changed.
pub const WEBLM_E_STATE_DB: weblm_status = 16;
/// An internal error, including a Rust panic caught at the API boundary. Nothing crossed the
/// boundary; the message says what happened.
pub const WEBLM_E_INTERNAL: weblm_status = 17;
/// A policy plugin was refused or failed: sha256 pin mismatch, not a WebAssembly module, a
/// forbidden import, a missing export, an unsupported plugin ABI version, a hook it does not
/// implement, or a limit; the message names the plugin and the fault.
pub const WEBLM_E_PLUGIN: weblm_status = 18;

/// Every status this build defines, with its name (for `weblm_status_str`).
pub(crate) const STATUS_NAMES: [(weblm_status, &str); 19] = [
    (WEBLM_OK, "WEBLM_OK\0"),
    (WEBLM_E_NULL_POINTER, "WEBLM_E_NULL_POINTER\0"),
    (WEBLM_E_INVALID_HANDLE, "WEBLM_E_INVALID_HANDLE\0"),
    (WEBLM_E_INVALID_UTF8, "WEBLM_E_INVALID_UTF8\0"),
    (WEBLM_E_INVALID_ARGUMENT, "WEBLM_E_INVALID_ARGUMENT\0"),
    (WEBLM_E_OUT_OF_RANGE, "WEBLM_E_OUT_OF_RANGE\0"),
    (WEBLM_E_IO, "WEBLM_E_IO\0"),
    (WEBLM_E_MALFORMED_LICENSE, "WEBLM_E_MALFORMED_LICENSE\0"),
    (WEBLM_E_BAD_SIGNATURE, "WEBLM_E_BAD_SIGNATURE\0"),
    (WEBLM_E_WRONG_HOST, "WEBLM_E_WRONG_HOST\0"),
    (WEBLM_E_VERSION_MISMATCH, "WEBLM_E_VERSION_MISMATCH\0"),
    (WEBLM_E_BAD_KEY, "WEBLM_E_BAD_KEY\0"),
    (WEBLM_E_UNKNOWN_FEATURE, "WEBLM_E_UNKNOWN_FEATURE\0"),
    (WEBLM_E_UNKNOWN_LEASE, "WEBLM_E_UNKNOWN_LEASE\0"),
    (WEBLM_E_LEASE_EXPIRED, "WEBLM_E_LEASE_EXPIRED\0"),
    (WEBLM_E_CLOCK_ROLLBACK, "WEBLM_E_CLOCK_ROLLBACK\0"),
    (WEBLM_E_STATE_DB, "WEBLM_E_STATE_DB\0"),
    (WEBLM_E_INTERNAL, "WEBLM_E_INTERNAL\0"),
    (WEBLM_E_PLUGIN, "WEBLM_E_PLUGIN\0"),
];

const UNKNOWN_STATUS: &str = "WEBLM_E_UNKNOWN_STATUS\0";

/// A failure inside the library: the status the caller sees and a message naming the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FfiError {
    pub status: weblm_status,
    pub message: String,
}

impl FfiError {
    pub fn new(status: weblm_status, message: impl Into<String>) -> Self {
        FfiError {
            status,
            message: message.into(),
        }
    }
    pub fn null(what: &str) -> Self {
        Self::new(WEBLM_E_NULL_POINTER, format!("`{what}` is NULL"))
    }
}

impl From<LicenseError> for FfiError {
    fn from(e: LicenseError) -> Self {
        let status = match &e {
            LicenseError::Io { .. } => WEBLM_E_IO,
            LicenseError::Malformed { .. }
            | LicenseError::UnknownField { .. }
            | LicenseError::UnsupportedFormat { .. }
            | LicenseError::CountOverflow { .. }
            | LicenseError::InvalidCode { .. } => WEBLM_E_MALFORMED_LICENSE,
            LicenseError::BadSignature(_) => WEBLM_E_BAD_SIGNATURE,
            LicenseError::WrongHost { .. } => WEBLM_E_WRONG_HOST,
            LicenseError::VersionMismatch { .. } => WEBLM_E_VERSION_MISMATCH,
            LicenseError::BadKey(_) => WEBLM_E_BAD_KEY,
        };
        FfiError::new(status, e.to_string())
    }
}

impl From<LedgerError> for FfiError {
    fn from(e: LedgerError) -> Self {
        let status = match &e {
            LedgerError::UnknownFeature { .. } => WEBLM_E_UNKNOWN_FEATURE,
            LedgerError::UnknownLease(_) => WEBLM_E_UNKNOWN_LEASE,
            LedgerError::LeaseExpired { .. } => WEBLM_E_LEASE_EXPIRED,
            LedgerError::InvalidRequest(_) => WEBLM_E_INVALID_ARGUMENT,
            LedgerError::ClockRollback(_) => WEBLM_E_CLOCK_ROLLBACK,
            LedgerError::Store(_) => WEBLM_E_STATE_DB,
            LedgerError::Internal(_) => WEBLM_E_INTERNAL,
        };
        FfiError::new(status, e.to_string())
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `message` as this thread's last error.
pub(crate) fn set_last_error(message: &str) {
    let c = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // `try_with`: during thread teardown the slot may be gone; the message is then dropped
    // rather than panicking outside the panic boundary.
    let _ = LAST_ERROR.try_with(|e| {
        if let Ok(mut e) = e.try_borrow_mut() {
            *e = c;
        }
    });
}

/// Clears this thread's last error (a call succeeded).
pub(crate) fn clear_last_error() {
    let _ = LAST_ERROR.try_with(|e| {
        if let Ok(mut e) = e.try_borrow_mut() {
            if !e.as_bytes().is_empty() {
                *e = CString::default();
            }
        }
    });
}

/// The name of a status code, e.g. `"WEBLM_E_WRONG_HOST"`; `"WEBLM_E_UNKNOWN_STATUS"` for a
/// value this build does not define.
///
/// Never NULL. The string is static: do not free it.
/// Thread-safe. Does not change `weblm_last_error()`.
#[no_mangle]
pub extern "C" fn weblm_status_str(status: weblm_status) -> *const c_char {
    STATUS_NAMES
        .iter()
        .find(|(s, _)| *s == status)
        .map_or(UNKNOWN_STATUS, |(_, n)| n)
        .as_ptr()
        .cast()
}

/// The message of the last failed libweblm call on the calling thread, naming the problem
/// (e.g. `"license file was not issued for this system: ..."`); `""` when the last call on this
/// thread succeeded.
///
/// Never NULL. The string belongs to the library and stays valid until the next libweblm call
/// on the same thread (other than `weblm_last_error`, `weblm_status_str` and the version
/// functions): copy it if you need it longer. Do not free it.
/// Thread-safe: each thread has its own message.
#[no_mangle]
pub extern "C" fn weblm_last_error() -> *const c_char {
    LAST_ERROR
        .try_with(|e| e.try_borrow().map(|e| e.as_ptr()).ok())
        .ok()
        .flatten()
        .unwrap_or(c"".as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn every_status_has_a_distinct_name_and_unknown_values_are_named() {
        for (i, (s, name)) in STATUS_NAMES.iter().enumerate() {
            assert_eq!(*s as usize, i, "statuses are dense from 0");
            let got = unsafe { CStr::from_ptr(weblm_status_str(*s)) };
            assert_eq!(got.to_bytes_with_nul(), name.as_bytes());
        }
        let unknown = unsafe { CStr::from_ptr(weblm_status_str(9999)) };
        assert_eq!(unknown.to_str().unwrap(), "WEBLM_E_UNKNOWN_STATUS");
    }

    #[test]
    fn last_error_is_per_thread() {
        set_last_error("boom");
        let other = std::thread::spawn(|| {
            let s = unsafe { CStr::from_ptr(weblm_last_error()) };
            s.to_str().unwrap().to_string()
        })
        .join()
        .unwrap();
        assert_eq!(other, "");
        let here = unsafe { CStr::from_ptr(weblm_last_error()) };
        assert_eq!(here.to_str().unwrap(), "boom");
        clear_last_error();
        let here = unsafe { CStr::from_ptr(weblm_last_error()) };
        assert_eq!(here.to_str().unwrap(), "");
    }

    #[test]
    fn interior_nul_in_a_message_does_not_lose_it() {
        set_last_error("a\0b");
        let here = unsafe { CStr::from_ptr(weblm_last_error()) };
        assert_eq!(here.to_str().unwrap(), "a\\0b");
    }
}
