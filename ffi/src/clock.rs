//! `weblm_manual_clock`: a clock that moves only when told to, for tests of lease expiry,
//! trials and clock rollback through the C API. Production servers use the system clock.

use weblm_core::clock::{Clock, ManualClock, Timestamp};

use crate::boundary::{guard, out_arg};
use crate::registry::Registry;
use crate::status::weblm_status;

/// A manual clock (opaque). Create with `weblm_manual_clock_new`, free with
/// `weblm_manual_clock_free`. Thread-safe: it may be moved while servers read it.
#[allow(non_camel_case_types)]
pub struct weblm_manual_clock {
    _private: [u8; 0],
}

pub(crate) static CLOCKS: Registry<ManualClock> = Registry::new("weblm_manual_clock");

/// Creates a manual clock standing at `start` (seconds since the Unix epoch, UTC). Give it to a
/// server through `weblm_server_config.clock`. `*out` is owned by the caller: free it with
/// `weblm_manual_clock_free` (servers using it keep their own reference). Thread-safe.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_manual_clock_new(
    start: i64,
    out: *mut *mut weblm_manual_clock,
) -> weblm_status {
    guard(|| {
        let out = out_arg(out, "out")?;
        *out = CLOCKS.insert(ManualClock::new(Timestamp(start)))?;
        Ok(())
    })
}

/// Sets the clock to `now` (seconds since the Unix epoch); it may go backwards, which is how
/// clock-rollback handling is tested. Thread-safe.
///
/// # Safety
/// Any pointer value is accepted for `clock`.
#[no_mangle]
pub unsafe extern "C" fn weblm_manual_clock_set(
    clock: *const weblm_manual_clock,
    now: i64,
) -> weblm_status {
    guard(|| {
        CLOCKS.get(clock, "clock")?.set(Timestamp(now));
        Ok(())
    })
}

/// Moves the clock by `secs` seconds (negative: backwards). Thread-safe.
///
/// # Safety
/// Any pointer value is accepted for `clock`.
#[no_mangle]
pub unsafe extern "C" fn weblm_manual_clock_advance(
    clock: *const weblm_manual_clock,
    secs: i64,
) -> weblm_status {
    guard(|| {
        CLOCKS.get(clock, "clock")?.advance_secs(secs);
        Ok(())
    })
}

/// The clock's current time, seconds since the Unix epoch. Thread-safe.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_manual_clock_now(
    clock: *const weblm_manual_clock,
    out: *mut i64,
) -> weblm_status {
    guard(|| {
        let out = out_arg(out, "out")?;
        *out = CLOCKS.get(clock, "clock")?.now().0;
        Ok(())
    })
}

/// Frees a manual clock handle. NULL is a no-op returning `WEBLM_OK`; a handle that is not live
/// (double free) returns `WEBLM_E_INVALID_HANDLE`. Servers using the clock keep running on it.
/// Thread-safe.
///
/// # Safety
/// Any pointer value is accepted: it is looked up, never dereferenced.
#[no_mangle]
pub unsafe extern "C" fn weblm_manual_clock_free(clock: *mut weblm_manual_clock) -> weblm_status {
    guard(|| CLOCKS.remove(clock, "clock"))
}
