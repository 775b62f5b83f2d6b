//! The wasmtime host: one [`PluginHost`] (one `Engine`), plugins compiled once into a
//! [`Plugin`] (`Module` + `InstancePre`), and a fresh `Store` per evaluation with memory, fuel
//! and size limits.
//!
//! A fresh store per call keeps policies stateless and reproducible (nothing a plugin does in
//! one call survives into the next; after a failure nothing is reused). The pooling allocator
//! makes that cheap: see `docs/plugins.md` for the figures that chose it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use wasmtime::{
    Config, Engine, ExternType, Func, Instance, InstanceAllocationStrategy, InstancePre, Linker,
    Module, ModuleExport, PoolingAllocationConfig, ResourceLimiter, Store, Trap, ValRaw, ValType,
};

use crate::abi::{self, Hook, HookSet};
use crate::error::{Fault, PluginError};

/// Per-call limits. Defaults follow Shopify Functions' budgets, scaled for policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most linear memory a plugin may have (default 16 MiB).
    pub memory_bytes: usize,
    /// Fuel (≈ wasm instructions) per call (default 10 000 000, about 1 ms here).
    pub fuel: u64,
    /// Largest encoded input (default 1 MiB).
    pub max_input: usize,
    /// Largest output (default 1 MiB).
    pub max_output: usize,
    /// Largest module file (default 8 MiB).
    pub max_module: usize,
    /// Wasm stack size (default 512 KiB).
    pub max_stack: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 16 << 20,
            fuel: 10_000_000,
            max_input: 1 << 20,
            max_output: 1 << 20,
            max_module: 8 << 20,
            max_stack: 512 << 10,
        }
    }
}

/// How instances get their memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allocator {
    /// wasmtime's pooling allocator with this many slots (concurrent evaluations). The default,
    /// 256 slots: instantiation is several times faster than on demand.
    Pooling {
        /// Concurrent instances at most; a call beyond that fails (and falls back).
        slots: u32,
    },
    /// mmap per instance.
    OnDemand,
}

/// Host settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostConfig {
    /// Per-call limits.
    pub limits: Limits,
    /// Instance allocation.
    pub allocator: Allocator,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            limits: Limits::default(),
            allocator: Allocator::Pooling { slots: 256 },
        }
    }
}

/// The plugin host: one wasmtime `Engine` shared by every plugin.
#[derive(Clone)]
pub struct PluginHost {
    engine: Engine,
    config: HostConfig,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("config", &self.config)
            .finish()
    }
}

/// Per-store state: the memory limiter and what it refused.
pub(crate) struct CallState {
    memory_limit: usize,
    denied: Option<usize>,
}

impl ResourceLimiter for CallState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            self.denied = Some(desired);
            // An error traps the plugin: a memory bomb is stopped, not left running.
            return Err(wasmtime::format_err!("memory limit exceeded"));
        }
        Ok(true)
    }
    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
    fn instances(&self) -> usize {
        1
    }
    fn tables(&self) -> usize {
        1
    }
    fn memories(&self) -> usize {
        1
    }
}

/// Calls and failures of one plugin.
#[derive(Debug, Default)]
pub struct PluginStats {
    calls: AtomicU64,
    failures: AtomicU64,
    last_fault: Mutex<Option<PluginError>>,
}

impl PluginStats {
    /// Calls made.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
    /// Calls that failed (any fault, including invalid output).
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
    /// The most recent failure.
    pub fn last_fault(&self) -> Option<PluginError> {
        self.last_fault
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    pub(crate) fn record(&self, result: Result<(), &PluginError>) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = result {
            self.failures.fetch_add(1, Ordering::Relaxed);
            *self.last_fault.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.clone());
        }
    }
}

/// A compiled, checked plugin, ready to be called from any thread.
pub struct Plugin {
    name: String,
    sha256: [u8; 32],
    size: usize,
    hooks: HookSet,
    abi_version: u32,
    limits: Limits,
    engine: Engine,
    pre: InstancePre<CallState>,
    exports: Exports,
    stats: PluginStats,
}

/// Export handles resolved once at load, so a call does no name lookups.
struct Exports {
    memory: ModuleExport,
    alloc: ModuleExport,
    hooks: [Option<ModuleExport>; 3],
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("sha256", &self.sha256_hex())
            .field("hooks", &self.hooks)
            .finish()
    }
}

/// The raw result of one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawCall {
    /// The output bytes (copied out of the plugin's memory).
    pub output: Vec<u8>,
    /// Fuel the call used (instantiation, allocation and the hook).
    pub fuel_used: u64,
}

/// The sha256 of `bytes`, as 64 lower-case hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl PluginHost {
    /// A host with `config`: fuel metering on, NaN canonicalization on, no threads, no SIMD
    /// relaxed nondeterminism.
    pub fn new(config: HostConfig) -> Result<Self, PluginError> {
        let mut c = Config::new();
        c.consume_fuel(true)
            .cranelift_nan_canonicalization(true)
            .wasm_relaxed_simd(false)
            .max_wasm_stack(config.limits.max_stack);
        if let Allocator::Pooling { slots } = config.allocator {
            let mut pool = PoolingAllocationConfig::new();
            pool.total_core_instances(slots)
                .total_memories(slots)
                .total_tables(slots)
                .max_memory_size(config.limits.memory_bytes)
                // Reset small memories with memset instead of madvise on every drop: plugins
                // touch a few pages per call, and a fresh instance per call is the norm.
                .linear_memory_keep_resident(256 << 10)
                .table_keep_resident(64 << 10);
            c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = match Engine::new(&c) {
            Ok(engine) => engine,
            // The pool reserves a large virtual range up front; where that is refused (a
            // `ulimit -v`, valgrind) fall back to allocating on demand.
            Err(_) if matches!(config.allocator, Allocator::Pooling { .. }) => {
                return Self::new(HostConfig {
                    allocator: Allocator::OnDemand,
                    ..config
                });
            }
            Err(e) => return Err(PluginError::load("<host>", Fault::Engine(e.to_string()))),
        };
        Ok(PluginHost { engine, config })
    }

    /// The host's settings (`allocator` is `OnDemand` if the pool could not be reserved).
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// Loads a plugin pinned to `expected_sha256` (64 hex digits): the digest is checked before
    /// anything else, then the module is compiled, checked against the ABI and its version
    /// read. `bytes` may be a `.wasm` binary or `.wat` text.
    pub fn load(
        &self,
        name: &str,
        bytes: &[u8],
        expected_sha256: &str,
    ) -> Result<Plugin, PluginError> {
        let want = expected_sha256.trim().to_ascii_lowercase();
        if want.len() != 64 || !want.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(PluginError::load(
                name,
                Fault::BadPin(expected_sha256.into()),
            ));
        }
        let actual = sha256_hex(bytes);
        if actual != want {
            return Err(PluginError::load(
                name,
                Fault::Sha256Mismatch {
                    expected: want,
                    actual,
                },
            ));
        }
        self.load_unpinned(name, bytes)
    }

    /// Loads a plugin without a pin, for tools that inspect a file (`weblm plugin check`) and
    /// for tests. Anything that installs a plugin for real should use [`PluginHost::load`].
    pub fn load_unpinned(&self, name: &str, bytes: &[u8]) -> Result<Plugin, PluginError> {
        let err = |f| PluginError::load(name, f);
        if bytes.len() > self.config.limits.max_module {
            return Err(err(Fault::ModuleTooLarge {
                size: bytes.len(),
                limit: self.config.limits.max_module,
            }));
        }
        let binary = wat::parse_bytes(bytes).map_err(|e| err(Fault::Compile(format!("{e}"))))?;
        check_memory(&binary, self.config.limits.memory_bytes).map_err(err)?;
        let module = Module::new(&self.engine, &binary)
            .map_err(|e| err(Fault::Compile(format!("{e:#}"))))?;
        if let Some(imp) = module.imports().next() {
            return Err(err(Fault::ForbiddenImport {
                module: imp.module().to_string(),
                name: imp.name().to_string(),
            }));
        }
        check_export(&module, abi::EXPORT_MEMORY, Shape::Memory).map_err(err)?;
        check_export(&module, abi::EXPORT_ABI_VERSION, Shape::NoArgsI32).map_err(err)?;
        check_export(&module, abi::EXPORT_HOOKS, Shape::NoArgsI32).map_err(err)?;
        check_export(&module, abi::EXPORT_ALLOC, Shape::Alloc).map_err(err)?;

        let linker: Linker<CallState> = Linker::new(&self.engine);
        let pre = linker
            .instantiate_pre(&module)
            .map_err(|e| err(Fault::Instantiate(format!("{e:#}"))))?;
        let export = |n: &str| {
            module
                .get_export_index(n)
                .ok_or_else(|| err(Fault::MissingExport(n.to_string())))
        };
        let exports = Exports {
            memory: export(abi::EXPORT_MEMORY)?,
            alloc: export(abi::EXPORT_ALLOC)?,
            hooks: Hook::ALL.map(|h| module.get_export_index(h.export())),
        };
        let mut plugin = Plugin {
            exports,
            name: name.to_string(),
            sha256: Sha256::digest(bytes).into(),
            size: bytes.len(),
            hooks: HookSet(0),
            abi_version: 0,
            limits: self.config.limits,
            engine: self.engine.clone(),
            pre,
            stats: PluginStats::default(),
        };
        let (version, hooks) = plugin.read_header().map_err(|e| e.fault).map_err(err)?;
        let (major, minor) = (version >> 16, version & 0xffff);
        if major != abi::ABI_MAJOR {
            return Err(err(Fault::AbiVersion {
                found_major: major,
                found_minor: minor,
                supported: abi::ABI_MAJOR,
            }));
        }
        if hooks == 0 || hooks & !7 != 0 {
            return Err(err(Fault::BadHookSet(hooks)));
        }
        for h in HookSet(hooks).hooks() {
            check_export(&module, h.export(), Shape::Hook).map_err(err)?;
        }
        plugin.abi_version = version;
        plugin.hooks = HookSet(hooks);
        Ok(plugin)
    }

    /// Reads a file and loads it pinned to `expected_sha256`; the plugin is named after the file.
    pub fn load_file(
        &self,
        path: &std::path::Path,
        expected_sha256: &str,
    ) -> Result<Plugin, PluginError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path)
            .map_err(|e| PluginError::load(&name, Fault::Compile(format!("cannot read: {e}"))))?;
        self.load(&name, &bytes, expected_sha256)
    }
}

/// Refuses a module whose initial memory is above `limit` before compiling it (the pooling
/// allocator would otherwise refuse it with an untyped compile error).
fn check_memory(binary: &[u8], limit: usize) -> Result<(), Fault> {
    for payload in wasmparser::Parser::new(0).parse_all(binary) {
        if let wasmparser::Payload::MemorySection(reader) =
            payload.map_err(|e| Fault::Compile(e.to_string()))?
        {
            for mem in reader {
                let mem = mem.map_err(|e| Fault::Compile(e.to_string()))?;
                let page = 1u64 << mem.page_size_log2.unwrap_or(16);
                let asked = mem.initial.saturating_mul(page);
                if asked > limit as u64 {
                    return Err(Fault::MemoryLimit {
                        limit,
                        asked: usize::try_from(asked).unwrap_or(usize::MAX),
                    });
                }
            }
        }
    }
    Ok(())
}

/// Calls `weblm_alloc(len)` without `Func::typed`, whose type check loads and clones the
/// function type under the engine's lock twice per call (≈ 0.1 µs per function here).
///
/// # Safety
/// `f` must have the type `(i32) -> i32`.
unsafe fn call_alloc(f: Func, store: &mut Store<CallState>, len: i32) -> wasmtime::Result<i32> {
    // One slot: the parameter in, the result out.
    let mut raw = [ValRaw::i32(len)];
    // SAFETY: the caller guarantees the type; the array holds the one parameter and the one
    // result, and an i32 parameter is a plain value (no references).
    unsafe { f.call_unchecked(&mut *store, &mut raw[..] as *mut [ValRaw]) }?;
    Ok(raw[0].get_i32())
}

/// Calls a hook `(ptr, len) -> i64` without `Func::typed` (see [`call_alloc`]).
///
/// # Safety
/// `f` must have the type `(i32, i32) -> i64`.
unsafe fn call_hook(
    f: Func,
    store: &mut Store<CallState>,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<i64> {
    // Two slots: the two parameters in, the one result out.
    let mut raw = [ValRaw::i32(ptr), ValRaw::i32(len)];
    // SAFETY: the caller guarantees the type; the array holds both parameters and the result,
    // and i32 parameters are plain values.
    unsafe { f.call_unchecked(&mut *store, &mut raw[..] as *mut [ValRaw]) }?;
    Ok(raw[0].get_i64())
}

fn hook_index(hook: Hook) -> usize {
    Hook::ALL
        .iter()
        .position(|h| *h == hook)
        .expect("every hook is in Hook::ALL")
}

enum Shape {
    Memory,
    NoArgsI32,
    Alloc,
    Hook,
}

fn check_export(module: &Module, name: &str, shape: Shape) -> Result<(), Fault> {
    let ty = module
        .get_export(name)
        .ok_or_else(|| Fault::MissingExport(name.to_string()))?;
    let (ok, expected) = match (&shape, &ty) {
        (Shape::Memory, ExternType::Memory(m)) => (!m.is_64() && !m.is_shared(), "a 32-bit memory"),
        (Shape::Memory, _) => (false, "a 32-bit memory"),
        (_, ExternType::Func(f)) => {
            let params: Vec<ValType> = f.params().collect();
            let results: Vec<ValType> = f.results().collect();
            let is = |v: &[ValType], want: &[ValType]| {
                v.len() == want.len() && v.iter().zip(want).all(|(a, b)| ValType::eq(a, b))
            };
            match shape {
                Shape::NoArgsI32 => (
                    is(&params, &[]) && is(&results, &[ValType::I32]),
                    "() -> i32",
                ),
                Shape::Alloc => (
                    is(&params, &[ValType::I32]) && is(&results, &[ValType::I32]),
                    "(i32) -> i32",
                ),
                _ => (
                    is(&params, &[ValType::I32, ValType::I32]) && is(&results, &[ValType::I64]),
                    "(i32, i32) -> i64",
                ),
            }
        }
        (Shape::NoArgsI32, _) => (false, "() -> i32"),
        (Shape::Alloc, _) => (false, "(i32) -> i32"),
        (Shape::Hook, _) => (false, "(i32, i32) -> i64"),
    };
    if ok {
        Ok(())
    } else {
        Err(Fault::WrongExportType {
            name: name.to_string(),
            expected,
        })
    }
}

impl Plugin {
    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The module's sha256 (hex).
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
    /// Module size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }
    /// Hooks it implements.
    pub fn hooks(&self) -> HookSet {
        self.hooks
    }
    /// `weblm_abi_version()` as reported: `major << 16 | minor`.
    pub fn abi_version(&self) -> u32 {
        self.abi_version
    }
    /// The limits it runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
    /// Calls and failures.
    pub fn stats(&self) -> &PluginStats {
        &self.stats
    }

    fn store(&self) -> Store<CallState> {
        let mut store = Store::new(
            &self.engine,
            CallState {
                memory_limit: self.limits.memory_bytes,
                denied: None,
            },
        );
        store.limiter(|s| s as &mut dyn ResourceLimiter);
        store
            .set_fuel(self.limits.fuel)
            .expect("fuel metering is enabled on the engine");
        store
    }

    fn classify(&self, store: &Store<CallState>, e: wasmtime::Error) -> Fault {
        if let Some(asked) = store.data().denied {
            return Fault::MemoryLimit {
                limit: self.limits.memory_bytes,
                asked,
            };
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => Fault::FuelExhausted {
                budget: self.limits.fuel,
            },
            Some(Trap::StackOverflow) => Fault::StackOverflow,
            Some(t) => Fault::Trap(t.to_string()),
            None => Fault::Trap(format!("{e:#}")),
        }
    }

    /// Instantiation failures: limits and traps (start function) as in a call; anything else
    /// (e.g. the instance pool is exhausted) is [`Fault::Instantiate`].
    fn classify_instantiate(&self, store: &Store<CallState>, e: wasmtime::Error) -> Fault {
        if store.data().denied.is_some() || e.downcast_ref::<Trap>().is_some() {
            self.classify(store, e)
        } else {
            Fault::Instantiate(format!("{e:#}"))
        }
    }

    fn read_header(&self) -> Result<(u32, u32), PluginError> {
        let mut store = self.store();
        let fail = |f| PluginError::load(&self.name, f);
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| fail(self.classify_instantiate(&store, e)))?;
        let version = instance
            .get_typed_func::<(), i32>(&mut store, abi::EXPORT_ABI_VERSION)
            .map_err(|e| fail(Fault::Instantiate(format!("{e:#}"))))?
            .call(&mut store, ())
            .map_err(|e| fail(self.classify(&store, e)))?;
        let hooks = instance
            .get_typed_func::<(), i32>(&mut store, abi::EXPORT_HOOKS)
            .map_err(|e| fail(Fault::Instantiate(format!("{e:#}"))))?
            .call(&mut store, ())
            .map_err(|e| fail(self.classify(&store, e)))?;
        Ok((version as u32, hooks as u32))
    }

    /// A fresh store and instance, or the instantiation fault.
    fn instantiate(&self) -> Result<FreshInstance<'_>, Fault> {
        let mut store = self.store();
        match self.pre.instantiate(&mut store) {
            Ok(instance) => Ok(FreshInstance {
                plugin: self,
                store,
                instance,
                used: false,
            }),
            Err(e) => Err(self.classify_instantiate(&store, e)),
        }
    }

    /// Creates a fresh store and instance, as every call does, and drops them: the
    /// per-evaluation instantiation cost (benchmarks, `weblm plugin check`).
    pub fn instantiate_fresh(&self) -> Result<(), PluginError> {
        self.fresh_instance().map(drop)
    }

    /// A fresh store and instance, ready for one call (see [`FreshInstance`]). Every call on
    /// a [`Plugin`] makes one; this lets a caller make it ahead of time, off the hot path.
    pub fn fresh_instance(&self) -> Result<FreshInstance<'_>, PluginError> {
        self.instantiate()
            .map_err(|f| PluginError::load(&self.name, f))
    }

    /// A fresh instance for a call to `hook`; failures are reported as that call's.
    pub(crate) fn instance_for(&self, hook: Hook) -> Result<FreshInstance<'_>, PluginError> {
        let fail = |f| PluginError::call(&self.name, hook, f);
        if !self.hooks.contains(hook) {
            return Err(fail(Fault::HookNotImplemented(hook)));
        }
        self.instantiate().map_err(fail)
    }

    /// Calls `hook` with the encoded `input` in a fresh instance under the limits, and copies
    /// the output out. Does not validate the output (the typed calls in [`crate::hooks`] do)
    /// and does not count the call in [`Plugin::stats`].
    pub fn call_raw(&self, hook: Hook, input: &[u8]) -> Result<RawCall, PluginError> {
        self.instance_for(hook)?.call_raw(hook, input)
    }
}

/// A fresh store and instance of a [`Plugin`], under the plugin's limits, for exactly one
/// call: a second call on it is refused, so the fresh-instance-per-evaluation rule (ABI §3)
/// holds whether the instance was made just before the call ([`Plugin::call_raw`] and the
/// typed hooks do that) or ahead of time ([`Plugin::fresh_instance`]). Dropping it releases
/// its pool slot.
pub struct FreshInstance<'p> {
    plugin: &'p Plugin,
    store: Store<CallState>,
    instance: Instance,
    used: bool,
}

impl std::fmt::Debug for FreshInstance<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FreshInstance")
            .field("plugin", &self.plugin.name)
            .finish()
    }
}

impl<'p> FreshInstance<'p> {
    /// The plugin it is an instance of.
    pub fn plugin(&self) -> &'p Plugin {
        self.plugin
    }

    /// Whether the instance has served its call.
    pub fn is_used(&self) -> bool {
        self.used
    }

    /// [`Plugin::call_raw`] on this instance.
    pub fn call_raw(&mut self, hook: Hook, input: &[u8]) -> Result<RawCall, PluginError> {
        self.call_with(
            hook,
            input.len(),
            |m| m.copy_from_slice(input),
            |out| Ok(out.to_vec()),
        )
        .map(|(output, fuel_used)| RawCall { output, fuel_used })
    }

    /// One call of `hook`: `weblm_alloc(in_len)`, `write` fills the `in_len` input bytes in
    /// place in linear memory (no intermediate buffer), the hook runs, and `read` decodes the
    /// output region in place. Returns `read`'s value and the fuel used.
    pub(crate) fn call_with<T>(
        &mut self,
        hook: Hook,
        in_len: usize,
        write: impl FnOnce(&mut [u8]),
        read: impl FnOnce(&[u8]) -> Result<T, Fault>,
    ) -> Result<(T, u64), PluginError> {
        let p = self.plugin;
        let fail = |f| PluginError::call(&p.name, hook, f);
        if self.used {
            return Err(fail(Fault::Instantiate(
                "this instance has already served a call; every call gets a fresh one".into(),
            )));
        }
        self.used = true;
        if !p.hooks.contains(hook) {
            return Err(fail(Fault::HookNotImplemented(hook)));
        }
        if in_len > p.limits.max_input {
            return Err(fail(Fault::InputTooLarge {
                size: in_len,
                limit: p.limits.max_input,
            }));
        }
        let in_len_i32 = i32::try_from(in_len).map_err(|_| {
            fail(Fault::InputTooLarge {
                size: in_len,
                limit: i32::MAX as usize,
            })
        })?;
        let store = &mut self.store;
        let instance = self.instance;
        let memory = instance
            .get_module_export(&mut *store, &p.exports.memory)
            .and_then(|e| e.into_memory())
            .ok_or_else(|| fail(Fault::MissingExport(abi::EXPORT_MEMORY.into())))?;
        let alloc = instance
            .get_module_export(&mut *store, &p.exports.alloc)
            .and_then(|e| e.into_func())
            .ok_or_else(|| fail(Fault::MissingExport(abi::EXPORT_ALLOC.into())))?;
        let func = p.exports.hooks[hook_index(hook)]
            .as_ref()
            .and_then(|e| instance.get_module_export(&mut *store, e))
            .and_then(|e| e.into_func())
            .ok_or_else(|| fail(Fault::MissingExport(hook.export().into())))?;
        debug_assert!(alloc.typed::<i32, i32>(&*store).is_ok());
        debug_assert!(func.typed::<(i32, i32), i64>(&*store).is_ok());

        // SAFETY: `load_unpinned` checked this module's `weblm_alloc` export is `(i32) -> i32`
        // (`Shape::Alloc`), and `get_module_export` returns `None` for an instance of another
        // module, so `alloc` has exactly that type.
        let ptr = unsafe { call_alloc(alloc, &mut *store, in_len_i32) }
            .map_err(|e| fail(p.classify(store, e)))? as u32;
        let data = memory.data_mut(&mut *store);
        let mem_size = data.len();
        let region = (ptr as usize)
            .checked_add(in_len)
            .and_then(|end| data.get_mut(ptr as usize..end))
            .ok_or_else(|| {
                fail(Fault::BadAlloc {
                    ptr,
                    len: in_len,
                    memory: mem_size,
                })
            })?;
        write(region);
        // SAFETY: as for `alloc`: the hook exports this plugin declares were checked to be
        // `(i32, i32) -> i64` (`Shape::Hook`) at load, and `func` comes from this module.
        let packed = unsafe { call_hook(func, &mut *store, ptr as i32, in_len_i32) }
            .map_err(|e| fail(p.classify(store, e)))?;
        if packed < 0 {
            return Err(fail(Fault::Reported(packed)));
        }
        let out_ptr = (packed as u64 & 0xffff_ffff) as u32;
        let out_len = (packed as u64 >> 32) as u32;
        if out_len as usize > p.limits.max_output {
            return Err(fail(Fault::OutputTooLarge {
                size: out_len as usize,
                limit: p.limits.max_output,
            }));
        }
        let data = memory.data(&*store);
        let output = data
            .get(out_ptr as usize..out_ptr as usize + out_len as usize)
            .ok_or(Fault::OutputOutOfBounds {
                ptr: out_ptr,
                len: out_len,
                memory: data.len(),
            })
            .map_err(fail)?;
        let value = read(output).map_err(fail)?;
        let fuel_used = p.limits.fuel - store.get_fuel().unwrap_or(0);
        Ok((value, fuel_used))
    }
}
