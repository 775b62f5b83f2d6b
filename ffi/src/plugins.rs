//! `weblm_policy`: WebAssembly policy plugins from C (SPEC §9). A policy holds one plugin slot
//! per hook (`resolve_codes`, `distribute`, `compliance`), each answered by the native policy
//! until a plugin is loaded. Load, swap and unload a plugin for a hook; attach the policy to a
//! server (its `resolve_codes` then decides the server's entitlements); run `distribute` as a
//! what-if. Plugins are pinned by sha256, run with memory and fuel limits in a fresh instance
//! per call, and every answer is checked, so a plugin can never grant more than the native
//! rules allow; a failing plugin is answered by the native policy.

use std::ffi::c_char;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use weblm_core::distribute::{Bucket, DistributeInput, MAX_BUCKETS};
use weblm_core::ledger::Ledger;
use weblm_plugins::{
    ComplianceHook, DistributeHook, Fault, HostConfig, PluginError, PluginHost, PluginSlot,
    ResolveCodesHook,
};

use crate::boundary::{guard, out_arg, str_arg};
use crate::registry::Registry;
use crate::server::{weblm_server, SERVERS};
use crate::status::{
    weblm_status, FfiError, WEBLM_E_INTERNAL, WEBLM_E_INVALID_ARGUMENT, WEBLM_E_NULL_POINTER,
    WEBLM_E_OUT_OF_RANGE, WEBLM_E_PLUGIN,
};

/// Hook number of `resolve_codes` (combine license codes into an entitlement).
pub const WEBLM_HOOK_RESOLVE_CODES: u32 = 1;
/// Hook number of `distribute` (share licenses over weighted, prioritised, capped buckets).
pub const WEBLM_HOOK_DISTRIBUTE: u32 = 2;
/// Hook number of `compliance` (history and time to a mode).
pub const WEBLM_HOOK_COMPLIANCE: u32 = 4;
/// `cap` value of a bucket without a cap.
pub const WEBLM_NO_CAP: u32 = u32::MAX;

/// A set of policy hooks with their plugins (opaque). Create with `weblm_policy_new`, free with
/// `weblm_policy_free`. Thread-safe: plugins may be swapped while other threads call.
#[allow(non_camel_case_types)]
pub struct weblm_policy {
    _private: [u8; 0],
}

/// One bucket (zone, tenant, organization) of a `distribute` call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
#[allow(non_camel_case_types)]
pub struct weblm_bucket {
    /// Caller's id, unique within one call.
    pub id: u32,
    /// Configured share.
    pub weight: u32,
    /// 1 is the highest priority.
    pub priority: u32,
    /// Most licenses it may receive (`WEBLM_NO_CAP`: no cap).
    pub cap: u32,
}

/// How a `distribute` call was answered (filled by `weblm_policy_distribute`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
#[allow(non_camel_case_types)]
pub struct weblm_distribute_info {
    /// The hook's generation the call ran on (0 before any load; +1 per load or unload).
    pub generation: u64,
    /// Fuel the plugin used (0 when the native policy answered).
    pub fuel_used: u64,
    /// True when a loaded plugin failed and the native policy answered instead.
    pub fallback: bool,
}

pub(crate) struct Policy {
    resolve: Arc<ResolveCodesHook>,
    pub(crate) distribute: DistributeHook,
    compliance: ComplianceHook,
    servers: Mutex<Vec<Weak<Ledger>>>,
}

pub(crate) static POLICIES: Registry<Policy> = Registry::new("weblm_policy");

/// One wasmtime engine for the whole library.
fn host() -> Result<&'static PluginHost, FfiError> {
    static HOST: OnceLock<Result<PluginHost, String>> = OnceLock::new();
    HOST.get_or_init(|| PluginHost::new(HostConfig::default()).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| FfiError::new(WEBLM_E_INTERNAL, format!("plugin host: {e}")))
}

fn plugin_error(e: PluginError) -> FfiError {
    let status = match e.fault {
        Fault::BadPin(_) => WEBLM_E_INVALID_ARGUMENT,
        _ => WEBLM_E_PLUGIN,
    };
    FfiError::new(status, e.to_string())
}

impl Policy {
    fn slot(&self, hook: u32) -> Result<&PluginSlot, FfiError> {
        Ok(match hook {
            WEBLM_HOOK_RESOLVE_CODES => self.resolve.slot(),
            WEBLM_HOOK_DISTRIBUTE => self.distribute.slot(),
            WEBLM_HOOK_COMPLIANCE => self.compliance.slot(),
            other => {
                return Err(FfiError::new(
                    WEBLM_E_INVALID_ARGUMENT,
                    format!(
                        "`hook` is {other}; expected WEBLM_HOOK_RESOLVE_CODES (1), \
                         WEBLM_HOOK_DISTRIBUTE (2) or WEBLM_HOOK_COMPLIANCE (4)"
                    ),
                ))
            }
        })
    }

    /// Re-resolves every attached server's entitlements after a `resolve_codes` change.
    fn refresh_servers(&self) -> Result<(), FfiError> {
        let mut servers = self
            .servers
            .lock()
            .map_err(|_| FfiError::new(WEBLM_E_INTERNAL, "policy lock poisoned"))?;
        servers.retain(|w| w.strong_count() > 0);
        for ledger in servers.iter().filter_map(Weak::upgrade) {
            ledger.set_policy(self.resolve.clone())?;
        }
        Ok(())
    }
}

/// Creates a policy: every hook answered by its native policy (Sentinel code combination, EP
/// zone rounding, the standard compliance timeline). `*out` is owned by the caller: free it with
/// `weblm_policy_free`. Thread-safe.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_policy_new(out: *mut *mut weblm_policy) -> weblm_status {
    guard(|| {
        let out = out_arg(out, "out")?;
        host()?;
        *out = POLICIES.insert(Policy {
            resolve: Arc::new(ResolveCodesHook::new()),
            distribute: DistributeHook::new(),
            compliance: ComplianceHook::new(),
            servers: Mutex::new(Vec::new()),
        })?;
        Ok(())
    })
}

/// Frees a policy. Servers it is attached to keep using it until they get another one or are
/// freed. NULL is a no-op returning `WEBLM_OK`; a double free returns `WEBLM_E_INVALID_HANDLE`.
/// Thread-safe.
///
/// # Safety
/// Any pointer value is accepted: it is looked up, never dereferenced.
#[no_mangle]
pub unsafe extern "C" fn weblm_policy_free(policy: *mut weblm_policy) -> weblm_status {
    guard(|| POLICIES.remove(policy, "policy"))
}

/// Loads the WebAssembly module `wasm` (`len` bytes, binary or text format) and swaps it in as
/// `hook`'s plugin. The module's sha256 must equal `sha256_hex` (64 hex digits), checked before
/// anything is compiled. Compiling takes milliseconds and happens before the swap; calls in
/// flight finish on the previous plugin. For `WEBLM_HOOK_RESOLVE_CODES`, every server the
/// policy is attached to re-resolves its entitlements at once. `*out_generation` (may be NULL)
/// receives the hook's new generation.
///
/// Errors: `WEBLM_E_NULL_POINTER`, `WEBLM_E_INVALID_HANDLE`, `WEBLM_E_INVALID_ARGUMENT` (unknown
/// hook, malformed pin), `WEBLM_E_PLUGIN` (pin mismatch, not a module, forbidden import,
/// missing export, unsupported ABI version, hook not implemented, memory limit; the message
/// names the plugin and the fault). On error the previous plugin stays. Thread-safe.
///
/// # Safety
/// `wasm` is NULL or `len` readable bytes; `sha256_hex` is NULL or NUL-terminated;
/// `out_generation` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_policy_load(
    policy: *const weblm_policy,
    hook: u32,
    wasm: *const u8,
    len: usize,
    sha256_hex: *const c_char,
    out_generation: *mut u64,
) -> weblm_status {
    guard(|| {
        let p = POLICIES.get(policy, "policy")?;
        let slot = p.slot(hook)?;
        if wasm.is_null() {
            return Err(FfiError::null("wasm"));
        }
        let pin = str_arg(sha256_hex, "sha256_hex")?;
        let bytes = std::slice::from_raw_parts(wasm, len);
        let name = format!("{}-plugin", slot.hook());
        let plugin = host()?.load(&name, bytes, pin).map_err(plugin_error)?;
        let generation = slot.install(Arc::new(plugin)).map_err(plugin_error)?;
        if hook == WEBLM_HOOK_RESOLVE_CODES {
            p.refresh_servers()?;
        }
        if let Some(out) = out_generation.as_mut() {
            *out = generation;
        }
        Ok(())
    })
}

/// Removes `hook`'s plugin: the native policy answers again (and attached servers re-resolve
/// for `WEBLM_HOOK_RESOLVE_CODES`). `*out_generation` (may be NULL) receives the new
/// generation. Errors: `WEBLM_E_NULL_POINTER`, `WEBLM_E_INVALID_HANDLE`,
/// `WEBLM_E_INVALID_ARGUMENT` (unknown hook). Thread-safe.
///
/// # Safety
/// `out_generation` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_policy_unload(
    policy: *const weblm_policy,
    hook: u32,
    out_generation: *mut u64,
) -> weblm_status {
    guard(|| {
        let p = POLICIES.get(policy, "policy")?;
        let generation = p.slot(hook)?.unload();
        if hook == WEBLM_HOOK_RESOLVE_CODES {
            p.refresh_servers()?;
        }
        if let Some(out) = out_generation.as_mut() {
            *out = generation;
        }
        Ok(())
    })
}

/// Makes `server` combine its license codes with `policy`'s `resolve_codes` hook (the native
/// Sentinel rules until a plugin is loaded); every feature is resolved again at once. A plugin
/// answer above what the codes allow, or a failing plugin, is overruled by the native rules.
/// Errors: `WEBLM_E_NULL_POINTER`, `WEBLM_E_INVALID_HANDLE`. Thread-safe.
///
/// # Safety
/// Any pointer values are accepted for the handles.
#[no_mangle]
pub unsafe extern "C" fn weblm_server_set_policy(
    server: *const weblm_server,
    policy: *const weblm_policy,
) -> weblm_status {
    guard(|| {
        let ledger = SERVERS.get(server, "server")?;
        let p = POLICIES.get(policy, "policy")?;
        ledger.set_policy(p.resolve.clone())?;
        p.servers
            .lock()
            .map_err(|_| FfiError::new(WEBLM_E_INTERNAL, "policy lock poisoned"))?
            .push(Arc::downgrade(&ledger));
        Ok(())
    })
}

/// What-if: shares `total` licenses over the `n` buckets with `policy`'s `distribute` hook (EP
/// zone rounding until a plugin is loaded; SPEC §6) and writes each bucket's share to
/// `out_counts[i]` (in the order of `buckets`). `seed` orders equal priorities reproducibly.
/// The answer is checked (sum ≤ total, each ≤ its cap); a failing plugin is answered by the
/// native policy and `out_info->fallback` is set. `out_info` may be NULL.
///
/// Errors: `WEBLM_E_NULL_POINTER` (`buckets` or `out_counts` NULL while `n` > 0),
/// `WEBLM_E_INVALID_HANDLE`, `WEBLM_E_OUT_OF_RANGE` (`n` above 65536),
/// `WEBLM_E_INVALID_ARGUMENT` (two buckets with one id). Outputs are written only on success.
/// Thread-safe.
///
/// # Safety
/// `buckets` is NULL or `n` readable entries; `out_counts` is NULL or `n` writable entries;
/// `out_info` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_policy_distribute(
    policy: *const weblm_policy,
    total: u32,
    seed: u64,
    buckets: *const weblm_bucket,
    n: usize,
    out_counts: *mut u32,
    out_info: *mut weblm_distribute_info,
) -> weblm_status {
    guard(|| {
        let p = POLICIES.get(policy, "policy")?;
        if n > MAX_BUCKETS {
            return Err(FfiError::new(
                WEBLM_E_OUT_OF_RANGE,
                format!("`n` is {n}; at most {MAX_BUCKETS} buckets are allowed"),
            ));
        }
        if n > 0 && buckets.is_null() {
            return Err(FfiError::null("buckets"));
        }
        if n > 0 && out_counts.is_null() {
            return Err(FfiError::new(WEBLM_E_NULL_POINTER, "`out_counts` is NULL"));
        }
        let given: &[weblm_bucket] = if n == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(buckets, n)
        };
        let input = DistributeInput {
            total,
            seed,
            buckets: given
                .iter()
                .map(|b| Bucket {
                    id: b.id,
                    weight: b.weight,
                    priority: b.priority,
                    cap: b.cap,
                })
                .collect(),
        };
        weblm_core::distribute::validate_input(&input)
            .map_err(|e| FfiError::new(WEBLM_E_INVALID_ARGUMENT, e.to_string()))?;
        let ev = p.distribute.distribute(&input).map_err(plugin_error)?;
        if n > 0 {
            let out = std::slice::from_raw_parts_mut(out_counts, n);
            for (o, s) in out.iter_mut().zip(&ev.value.shares) {
                *o = s.count;
            }
        }
        if let Some(info) = out_info.as_mut() {
            *info = weblm_distribute_info {
                generation: ev.generation,
                fuel_used: ev.fuel_used,
                fallback: ev.fault.is_some(),
            };
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ptr;

    fn wasm(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../plugins/wasm/{name}.wasm",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn pin(bytes: &[u8]) -> std::ffi::CString {
        std::ffi::CString::new(weblm_plugins::sha256_hex(bytes)).unwrap()
    }

    #[test]
    fn load_swap_unload_and_distribute() {
        unsafe {
            let mut p = ptr::null_mut();
            assert_eq!(weblm_policy_new(&mut p), 0);
            let b = [
                weblm_bucket {
                    id: 1,
                    weight: 1,
                    priority: 1,
                    cap: 10,
                },
                weblm_bucket {
                    id: 2,
                    weight: 1,
                    priority: 2,
                    cap: 10,
                },
                weblm_bucket {
                    id: 3,
                    weight: 1,
                    priority: 3,
                    cap: 10,
                },
                weblm_bucket {
                    id: 4,
                    weight: 7,
                    priority: 4,
                    cap: 10,
                },
            ];
            let mut counts = [0u32; 4];
            let mut info = weblm_distribute_info {
                generation: 9,
                fuel_used: 9,
                fallback: true,
            };
            assert_eq!(
                weblm_policy_distribute(p, 7, 1, b.as_ptr(), 4, counts.as_mut_ptr(), &mut info),
                0
            );
            assert_eq!(counts, [1, 1, 1, 4]);
            assert_eq!(
                (info.generation, info.fuel_used, info.fallback),
                (0, 0, false)
            );

            let lr = wasm("largest_remainder");
            let mut g = 0;
            assert_eq!(
                weblm_policy_load(
                    p,
                    WEBLM_HOOK_DISTRIBUTE,
                    lr.as_ptr(),
                    lr.len(),
                    pin(&lr).as_ptr(),
                    &mut g
                ),
                0
            );
            assert_eq!(g, 1);
            assert_eq!(
                weblm_policy_distribute(p, 7, 1, b.as_ptr(), 4, counts.as_mut_ptr(), &mut info),
                0
            );
            assert_eq!(counts, [1, 1, 0, 5]);
            assert!(info.fuel_used > 0 && !info.fallback);

            // Wrong pin: refused, the running plugin stays.
            let zeros = std::ffi::CString::new("0".repeat(64)).unwrap();
            let ep = wasm("ep_zones");
            assert_eq!(
                weblm_policy_load(
                    p,
                    WEBLM_HOOK_DISTRIBUTE,
                    ep.as_ptr(),
                    ep.len(),
                    zeros.as_ptr(),
                    &mut g
                ),
                WEBLM_E_PLUGIN
            );
            assert_eq!(g, 1);
            // A plugin for another hook is refused for this one.
            let so = wasm("sentinel_override");
            assert_eq!(
                weblm_policy_load(
                    p,
                    WEBLM_HOOK_DISTRIBUTE,
                    so.as_ptr(),
                    so.len(),
                    pin(&so).as_ptr(),
                    ptr::null_mut()
                ),
                WEBLM_E_PLUGIN
            );
            assert_eq!(weblm_policy_unload(p, WEBLM_HOOK_DISTRIBUTE, &mut g), 0);
            assert_eq!(g, 2);
            assert_eq!(weblm_policy_unload(p, 3, &mut g), WEBLM_E_INVALID_ARGUMENT);
            let dup = [b[0], b[0]];
            assert_eq!(
                weblm_policy_distribute(
                    p,
                    7,
                    1,
                    dup.as_ptr(),
                    2,
                    counts.as_mut_ptr(),
                    ptr::null_mut()
                ),
                WEBLM_E_INVALID_ARGUMENT
            );
            assert_eq!(weblm_policy_free(p), 0);
            assert_eq!(weblm_policy_free(p), crate::status::WEBLM_E_INVALID_HANDLE);
        }
    }

    #[test]
    fn a_lying_plugin_is_answered_by_the_native_policy() {
        unsafe {
            let mut p = ptr::null_mut();
            assert_eq!(weblm_policy_new(&mut p), 0);
            let liar = std::fs::read(format!(
                "{}/../plugins/hostile/lying_distribute.wat",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap();
            assert_eq!(
                weblm_policy_load(
                    p,
                    WEBLM_HOOK_DISTRIBUTE,
                    liar.as_ptr(),
                    liar.len(),
                    pin(&liar).as_ptr(),
                    ptr::null_mut()
                ),
                0
            );
            let b = [weblm_bucket {
                id: 1,
                weight: 1,
                priority: 1,
                cap: WEBLM_NO_CAP,
            }];
            let mut counts = [99u32];
            let mut info = weblm_distribute_info {
                generation: 0,
                fuel_used: 0,
                fallback: false,
            };
            assert_eq!(
                weblm_policy_distribute(p, 5, 0, b.as_ptr(), 1, counts.as_mut_ptr(), &mut info),
                0
            );
            assert_eq!(counts, [5], "native answer, not the liar's 6");
            assert!(info.fallback);
            assert_eq!(weblm_policy_free(p), 0);
        }
    }
}
