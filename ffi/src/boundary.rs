//! The API boundary: every `extern "C"` body runs inside [`guard`], which catches panics and
//! turns results into status codes; plus the checked readers of C arguments (strings, byte
//! buffers, out-parameters) that turn NULL and bad UTF-8 into errors.

use std::any::Any;
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::status::{
    clear_last_error, set_last_error, weblm_status, FfiError, WEBLM_E_INTERNAL,
    WEBLM_E_INVALID_UTF8, WEBLM_OK,
};

/// Runs one API call: `Ok` → `WEBLM_OK` (last error cleared), `Err` → its status (message kept
/// for `weblm_last_error`), a panic → `WEBLM_E_INTERNAL`. Nothing unwinds into C.
pub(crate) fn guard(f: impl FnOnce() -> Result<(), FfiError>) -> weblm_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => {
            clear_last_error();
            WEBLM_OK
        }
        Ok(Err(e)) => {
            set_last_error(&e.message);
            e.status
        }
        Err(payload) => {
            set_last_error(&format!(
                "internal error: a panic was caught at the weblm API boundary: {}",
                panic_message(&*payload)
            ));
            WEBLM_E_INTERNAL
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

/// Reads a NUL-terminated UTF-8 string argument named `what`.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that stays valid for `'a`.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str, FfiError> {
    if p.is_null() {
        return Err(FfiError::null(what));
    }
    let bytes = CStr::from_ptr(p).to_bytes();
    std::str::from_utf8(bytes).map_err(|e| {
        FfiError::new(
            WEBLM_E_INVALID_UTF8,
            format!(
                "`{what}` is not valid UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// Reads an optional string argument: NULL means "not given".
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(
    p: *const c_char,
    what: &str,
) -> Result<Option<&'a str>, FfiError> {
    if p.is_null() {
        Ok(None)
    } else {
        str_arg(p, what).map(Some)
    }
}

/// Checks that an out-parameter is not NULL, before any work with side effects is done.
pub(crate) fn out_arg<'a, T>(p: *mut T, what: &str) -> Result<&'a mut T, FfiError> {
    // SAFETY: the caller passes a pointer to writable storage for a `T` or NULL (documented on
    // every function); NULL is refused here.
    unsafe { p.as_mut() }.ok_or_else(|| FfiError::null(what))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{weblm_last_error, WEBLM_E_NULL_POINTER};

    fn last() -> String {
        unsafe { CStr::from_ptr(weblm_last_error()) }
            .to_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_panic_becomes_internal_with_its_message() {
        let st = guard(|| panic!("kaboom {}", 42));
        assert_eq!(st, WEBLM_E_INTERNAL);
        assert!(last().contains("kaboom 42"), "{}", last());
        let st = guard(|| std::panic::panic_any(7u8));
        assert_eq!(st, WEBLM_E_INTERNAL);
        assert!(last().contains("(no message)"));
        assert_eq!(guard(|| Ok(())), WEBLM_OK);
        assert_eq!(last(), "");
    }

    #[test]
    fn strings_are_checked() {
        unsafe {
            assert_eq!(
                str_arg(std::ptr::null(), "feature").unwrap_err().status,
                WEBLM_E_NULL_POINTER
            );
            let bad = b"ab\xffc\0";
            let e = str_arg(bad.as_ptr().cast(), "feature").unwrap_err();
            assert_eq!(e.status, WEBLM_E_INVALID_UTF8);
            assert!(e.message.contains("offset 2"), "{}", e.message);
            assert_eq!(str_arg(c"ok".as_ptr(), "x").unwrap(), "ok");
            assert_eq!(opt_str_arg(std::ptr::null(), "x").unwrap(), None);
        }
    }
}
