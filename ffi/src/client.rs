//! `weblm_client`: the IR-side license client (`weblm_core::client`): a Primary and an optional
//! Secondary license server (each a `weblm serve` URL or an embedded `weblm_server`), per
//! feature the number of licenses wanted, background renewal, the NVRAM file, and the
//! Normal / Grace / Restricted modes with a mode-change callback. Thread-safe.

use std::ffi::{c_char, c_void, CString};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use weblm_core::client::{Client, ClientConfig, Endpoint, FeatureWant, Mode};
use weblm_core::clock::{Clock, SystemClock};

use crate::boundary::{guard, opt_str_arg, out_arg, str_arg};
use crate::clock::{weblm_manual_clock, CLOCKS};
use crate::registry::Registry;
use crate::server::{weblm_server, SERVERS};
use crate::status::{weblm_status, FfiError, WEBLM_E_INVALID_ARGUMENT, WEBLM_E_OUT_OF_RANGE};

/// Mode: holding at least the recorded licenses.
pub const WEBLM_MODE_NORMAL: u32 = 0;
/// Mode: fewer licenses than recorded, within the grace period (capacity = recorded count).
pub const WEBLM_MODE_GRACE: u32 = 1;
/// Mode: grace period over, or NVRAM tampered (capacity = held + restricted floor).
pub const WEBLM_MODE_RESTRICTED: u32 = 2;

fn mode_code(m: Mode) -> u32 {
    match m {
        Mode::Normal => WEBLM_MODE_NORMAL,
        Mode::Grace => WEBLM_MODE_GRACE,
        Mode::Restricted => WEBLM_MODE_RESTRICTED,
    }
}

/// A running license client (opaque). Create with `weblm_client_start`; free with
/// `weblm_client_free`. Thread-safe.
#[allow(non_camel_case_types)]
pub struct weblm_client {
    _private: [u8; 0],
}

/// One feature the client wants (part of `weblm_client_config`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
#[allow(non_camel_case_types)]
pub struct weblm_client_want {
    /// Feature name (UTF-8, NUL-terminated).
    pub feature: *const c_char,
    /// Feature version.
    pub version: *const c_char,
    /// Licenses configured (at least 1).
    pub wanted: u32,
    /// Licenses usable in Restricted mode on top of those really held.
    pub restricted_floor: u32,
}

/// Client settings. Fill with `weblm_client_config_init` first, then set fields. Strings and
/// arrays are borrowed for the `weblm_client_start` call only.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
#[allow(non_camel_case_types)]
pub struct weblm_client_config {
    /// This client's id (the lease holder name at an embedded server).
    pub client_id: *const c_char,
    /// Primary `weblm serve` base URL (e.g. "http://127.0.0.1:7070"), or NULL when
    /// `primary_server` is set.
    pub primary_url: *const c_char,
    /// This client's token at the Primary (with `primary_url`).
    pub primary_token: *const c_char,
    /// An embedded server as the Primary, or NULL.
    pub primary_server: *const weblm_server,
    /// Secondary base URL, or NULL.
    pub secondary_url: *const c_char,
    /// This client's token at the Secondary.
    pub secondary_token: *const c_char,
    /// An embedded server as the Secondary, or NULL.
    pub secondary_server: *const weblm_server,
    /// The features wanted: `wants_len` entries.
    pub wants: *const weblm_client_want,
    /// Number of entries in `wants` (at least 1, at most 1024).
    pub wants_len: usize,
    /// The NVRAM file path.
    pub nvram_path: *const c_char,
    /// The installation secret keying the NVRAM MAC (`nvram_key_len` bytes), or NULL.
    pub nvram_key: *const u8,
    /// Length of `nvram_key`.
    pub nvram_key_len: usize,
    /// Renew at this percentage of the lease lifetime, 1..=99 (default 80).
    pub renew_percent: u32,
    /// Retry a shortfall or failed renewal after this many seconds (default 60).
    pub retry_secs: i64,
    /// Grace period in seconds (default 30 days).
    pub grace_secs: i64,
    /// Timeout of one HTTP request in milliseconds (default 2000).
    pub request_timeout_ms: u32,
    /// How often the background thread looks at the clock, in milliseconds (default 1000).
    pub poll_interval_ms: u32,
    /// Run a background renewal thread (default true); false: call `weblm_client_tick`.
    pub background: bool,
    /// Release every lease at `weblm_client_close` / `weblm_client_free` (default true).
    pub release_on_close: bool,
    /// A manual clock to read time from, or NULL for the system clock.
    pub clock: *const weblm_manual_clock,
}

/// What the client holds and may use for one feature (filled by `weblm_client_feature`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
#[allow(non_camel_case_types)]
pub struct weblm_client_feature_status {
    /// Licenses configured.
    pub wanted: u32,
    /// Licenses held (sum over the Primary and the Secondary).
    pub held: u32,
    /// Held at the Primary.
    pub held_primary: u32,
    /// Held at the Secondary.
    pub held_secondary: u32,
    /// The NVRAM record (IR's high-water mark).
    pub recorded: u32,
    /// Licenses the IR may use now, given the mode.
    pub capacity: u32,
}

/// A mode-change callback: called from the thread that ran the cycle (the background thread,
/// or the caller of `weblm_client_tick` / `weblm_client_start`), with the old and new
/// `WEBLM_MODE_*` and a reason valid for the duration of the call. It must not call
/// `weblm_client_free` on the same client.
#[allow(non_camel_case_types)]
pub type weblm_mode_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, from: u32, to: u32, reason: *const c_char)>;

pub(crate) static CLIENTS: Registry<Client> = Registry::new("weblm_client");

/// Fills `*out` with the defaults: no servers, no features, renew at 80 %, retry 60 s, grace
/// 30 days, 2000 ms request timeout, 1000 ms poll, background thread on, release on close,
/// system clock. Thread-safe.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_client_config_init(out: *mut weblm_client_config) -> weblm_status {
    guard(|| {
        let out = out_arg(out, "out")?;
        *out = weblm_client_config {
            client_id: std::ptr::null(),
            primary_url: std::ptr::null(),
            primary_token: std::ptr::null(),
            primary_server: std::ptr::null(),
            secondary_url: std::ptr::null(),
            secondary_token: std::ptr::null(),
            secondary_server: std::ptr::null(),
            wants: std::ptr::null(),
            wants_len: 0,
            nvram_path: std::ptr::null(),
            nvram_key: std::ptr::null(),
            nvram_key_len: 0,
            renew_percent: 80,
            retry_secs: 60,
            grace_secs: weblm_core::client::DEFAULT_GRACE_SECS,
            request_timeout_ms: 2000,
            poll_interval_ms: 1000,
            background: true,
            release_on_close: true,
            clock: std::ptr::null(),
        };
        Ok(())
    })
}

unsafe fn endpoint(
    url: *const c_char,
    token: *const c_char,
    server: *const weblm_server,
    which: &str,
) -> Result<Option<Endpoint>, FfiError> {
    let url = opt_str_arg(url, &format!("{which}_url"))?;
    match (url, server.is_null()) {
        (Some(_), false) => Err(FfiError::new(
            WEBLM_E_INVALID_ARGUMENT,
            format!("set either `{which}_url` or `{which}_server`, not both"),
        )),
        (Some(url), true) => Ok(Some(Endpoint::Http {
            url: url.to_string(),
            token: opt_str_arg(token, &format!("{which}_token"))?
                .unwrap_or("")
                .to_string(),
        })),
        (None, false) => Ok(Some(Endpoint::Embedded(
            SERVERS.get(server, &format!("{which}_server"))?,
        ))),
        (None, true) => Ok(None),
    }
}

unsafe fn read_client_config(
    c: &weblm_client_config,
) -> Result<(ClientConfig, Arc<dyn Clock>), FfiError> {
    let id = str_arg(c.client_id, "client_id")?;
    let nvram = str_arg(c.nvram_path, "nvram_path")?;
    let primary = endpoint(c.primary_url, c.primary_token, c.primary_server, "primary")?
        .ok_or_else(|| {
            FfiError::new(
                WEBLM_E_INVALID_ARGUMENT,
                "no Primary: set `primary_url` or `primary_server`",
            )
        })?;
    let secondary = endpoint(
        c.secondary_url,
        c.secondary_token,
        c.secondary_server,
        "secondary",
    )?;
    if c.wants_len == 0 || c.wants_len > 1024 {
        return Err(FfiError::new(
            WEBLM_E_OUT_OF_RANGE,
            format!("`wants_len` is {}, outside 1..=1024", c.wants_len),
        ));
    }
    if c.wants.is_null() {
        return Err(FfiError::null("wants"));
    }
    if !(1..=99).contains(&c.renew_percent) {
        return Err(FfiError::new(
            WEBLM_E_OUT_OF_RANGE,
            format!("`renew_percent` is {}, outside 1..=99", c.renew_percent),
        ));
    }
    let key = if c.nvram_key.is_null() {
        if c.nvram_key_len != 0 {
            return Err(FfiError::null("nvram_key"));
        }
        Vec::new()
    } else {
        std::slice::from_raw_parts(c.nvram_key, c.nvram_key_len).to_vec()
    };
    let mut cfg = ClientConfig::new(id, primary, PathBuf::from(nvram));
    cfg.secondary = secondary;
    for (i, w) in std::slice::from_raw_parts(c.wants, c.wants_len)
        .iter()
        .enumerate()
    {
        cfg.features.push(FeatureWant {
            feature: str_arg(w.feature, &format!("wants[{i}].feature"))?.to_string(),
            version: str_arg(w.version, &format!("wants[{i}].version"))?.to_string(),
            wanted: w.wanted,
            restricted_floor: w.restricted_floor,
        });
    }
    cfg.nvram_key = key;
    cfg.renew_fraction = c.renew_percent as f64 / 100.0;
    cfg.retry_secs = c.retry_secs;
    cfg.grace_secs = c.grace_secs;
    cfg.request_timeout = Duration::from_millis(c.request_timeout_ms.max(1) as u64);
    cfg.poll_interval = Duration::from_millis(c.poll_interval_ms.max(1) as u64);
    cfg.background = c.background;
    cfg.release_on_close = c.release_on_close;
    let clock: Arc<dyn Clock> = if c.clock.is_null() {
        Arc::new(SystemClock)
    } else {
        Arc::new(CLOCKS.get(c.clock, "config->clock")?.as_ref().clone())
    };
    Ok((cfg, clock))
}

/// Starts a client: reads its NVRAM (a tampered or corrupt file puts it in Restricted mode,
/// it is not an error), acquires what it wants (Primary first, Secondary for the rest: one
/// synchronous cycle, bounded by the request timeouts) and starts the background renewal
/// thread if configured. `*out` is owned by the caller: free it with `weblm_client_free`.
/// Errors: `WEBLM_E_NULL_POINTER`, `WEBLM_E_INVALID_UTF8`, `WEBLM_E_INVALID_HANDLE` (an
/// embedded server or clock), `WEBLM_E_OUT_OF_RANGE`, `WEBLM_E_INVALID_ARGUMENT` (no Primary,
/// a feature wanting 0, both a URL and a server for one role, ...). An unreachable server is
/// not an error: see `weblm_client_feature` and `weblm_client_mode`. Thread-safe.
///
/// # Safety
/// `config` is NULL or readable, with the strings and arrays it points to; `out` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_client_start(
    config: *const weblm_client_config,
    out: *mut *mut weblm_client,
) -> weblm_status {
    guard(|| {
        let out = out_arg(out, "out")?;
        let c = config.as_ref().ok_or_else(|| FfiError::null("config"))?;
        let (cfg, clock) = read_client_config(c)?;
        let client = Client::start(cfg, clock)
            .map_err(|e| FfiError::new(WEBLM_E_INVALID_ARGUMENT, e.to_string()))?;
        *out = CLIENTS.insert(client)?;
        Ok(())
    })
}

/// Runs one renewal/acquisition cycle now (renew what is due, acquire what is missing, update
/// the NVRAM and the mode). The background thread does this on its own. Thread-safe.
///
/// # Safety
/// Any pointer value is accepted for `client`.
#[no_mangle]
pub unsafe extern "C" fn weblm_client_tick(client: *const weblm_client) -> weblm_status {
    guard(|| {
        CLIENTS.get(client, "client")?.tick();
        Ok(())
    })
}

/// The current mode (`WEBLM_MODE_*`). Thread-safe.
///
/// # Safety
/// `mode` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_client_mode(
    client: *const weblm_client,
    mode: *mut u32,
) -> weblm_status {
    guard(|| {
        let out = out_arg(mode, "mode")?;
        *out = mode_code(CLIENTS.get(client, "client")?.mode());
        Ok(())
    })
}

/// The name of a mode: "normal", "grace", "restricted", or "unknown". Never NULL; static.
#[no_mangle]
pub extern "C" fn weblm_mode_str(mode: u32) -> *const c_char {
    match mode {
        WEBLM_MODE_NORMAL => c"normal".as_ptr(),
        WEBLM_MODE_GRACE => c"grace".as_ptr(),
        WEBLM_MODE_RESTRICTED => c"restricted".as_ptr(),
        _ => c"unknown".as_ptr(),
    }
}

/// Copies why the client is in its mode into `buf` (at most `cap` bytes including the NUL,
/// truncated at a character boundary); `*len` (if not NULL) receives the full length in bytes
/// without the NUL. `buf` may be NULL when `cap` is 0 (to ask for the length). Thread-safe.
///
/// # Safety
/// `buf` is NULL or writable for `cap` bytes; `len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_client_reason(
    client: *const weblm_client,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> weblm_status {
    guard(|| {
        let reason = CLIENTS.get(client, "client")?.status().reason;
        if cap > 0 && buf.is_null() {
            return Err(FfiError::null("buf"));
        }
        if cap > 0 {
            let mut n = reason.len().min(cap - 1);
            while !reason.is_char_boundary(n) {
                n -= 1;
            }
            std::ptr::copy_nonoverlapping(reason.as_ptr(), buf.cast::<u8>(), n);
            *buf.add(n) = 0;
        }
        if let Some(l) = len.as_mut() {
            *l = reason.len();
        }
        Ok(())
    })
}

/// What the client holds and may use for `feature` `version`. Errors:
/// `WEBLM_E_UNKNOWN_FEATURE` for a feature the client was not configured with. Thread-safe.
///
/// # Safety
/// Strings are NULL or NUL-terminated; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_client_feature(
    client: *const weblm_client,
    feature: *const c_char,
    version: *const c_char,
    out: *mut weblm_client_feature_status,
) -> weblm_status {
    guard(|| {
        let out = out_arg(out, "out")?;
        let feature = str_arg(feature, "feature")?;
        let version = str_arg(version, "version")?;
        let st = CLIENTS.get(client, "client")?.status();
        let f = st
            .features
            .iter()
            .find(|f| f.feature == feature && f.version == version)
            .ok_or_else(|| {
                FfiError::new(
                    crate::status::WEBLM_E_UNKNOWN_FEATURE,
                    format!("the client is not configured for {feature} {version}"),
                )
            })?;
        let at = |w: weblm_core::client::Which| {
            f.leases
                .iter()
                .filter(|l| l.server == w)
                .map(|l| l.count)
                .sum()
        };
        *out = weblm_client_feature_status {
            wanted: f.wanted,
            held: f.held,
            held_primary: at(weblm_core::client::Which::Primary),
            held_secondary: at(weblm_core::client::Which::Secondary),
            recorded: f.recorded,
            capacity: f.capacity,
        };
        Ok(())
    })
}

struct UserData(*mut c_void);
// SAFETY: the caller of `weblm_client_on_mode_change` promises that `user_data` may be used
// from the thread that runs the cycles (documented there).
unsafe impl Send for UserData {}
unsafe impl Sync for UserData {}

/// Registers a callback called on every mode change, with `user_data` passed back unchanged.
/// It is called from the thread that runs the cycle (the background thread or the caller of
/// `weblm_client_tick`), so `user_data` must be usable from there; it stays registered until
/// the client is freed. Errors: `WEBLM_E_NULL_POINTER` for a NULL callback. Thread-safe.
///
/// # Safety
/// `callback` is a valid function for the client's lifetime; `user_data` is whatever the
/// callback expects.
#[no_mangle]
pub unsafe extern "C" fn weblm_client_on_mode_change(
    client: *const weblm_client,
    callback: weblm_mode_callback,
    user_data: *mut c_void,
) -> weblm_status {
    guard(|| {
        let cb = callback.ok_or_else(|| FfiError::null("callback"))?;
        let data = UserData(user_data);
        CLIENTS.get(client, "client")?.on_mode_change(move |c| {
            let reason = CString::new(c.reason.replace('\0', " ")).unwrap_or_default();
            let data = &data;
            // A callback written in Rust could panic: never let it unwind further.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                cb(data.0, mode_code(c.from), mode_code(c.to), reason.as_ptr())
            }));
        });
        Ok(())
    })
}

/// Stops the background thread and, if configured, releases every lease. The handle stays
/// valid (queries still work) until `weblm_client_free`. Idempotent. Thread-safe.
///
/// # Safety
/// Any pointer value is accepted for `client`.
#[no_mangle]
pub unsafe extern "C" fn weblm_client_close(client: *const weblm_client) -> weblm_status {
    guard(|| {
        CLIENTS.get(client, "client")?.close();
        Ok(())
    })
}

/// Closes (as `weblm_client_close`) and frees a client. NULL is a no-op returning `WEBLM_OK`;
/// a handle that is not live (double free) returns `WEBLM_E_INVALID_HANDLE`. Thread-safe.
///
/// # Safety
/// Any pointer value is accepted: it is looked up, never dereferenced.
#[no_mangle]
pub unsafe extern "C" fn weblm_client_free(client: *mut weblm_client) -> weblm_status {
    guard(|| {
        if client.is_null() {
            return Ok(());
        }
        CLIENTS.get(client, "client")?.close();
        CLIENTS.remove(client, "client")
    })
}
