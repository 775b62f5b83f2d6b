//! Hot-swappable hooks: a [`PluginSlot`] holds the plugin installed for one hook behind an
//! `Arc` and a lock, with a generation number; the typed hooks ([`DistributeHook`],
//! [`ResolveCodesHook`], [`ComplianceHook`]) call it and apply the fallback.
//!
//! ## Swap rule
//! A call takes a clone of the current `Arc` under a read lock held only for that clone, then
//! runs without any lock; [`PluginSlot::install`] swaps the `Arc` under the write lock. So a
//! swap never waits for calls, and calls in flight finish on the plugin they started with.
//! Compile the new plugin (slow) before installing it (instant).
//!
//! ## Fallback rule (fail closed)
//! When the installed plugin fails (trap, fuel, memory, ABI, or output the host's check
//! refuses), the call is answered by the hook's native policy ([`Fallback::Native`], the
//! default) or refused with the plugin's error ([`Fallback::Refuse`]). The native answer is
//! checked like any other. The failure is counted on the plugin and on the slot, and reported
//! in [`Evaluation::fault`]. Nothing a failing plugin returned is ever used.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use weblm_core::codes::{
    check_entitlement, CodeInput, Entitlement, ResolveCodes, ResolveContext, SentinelPolicy,
};
use weblm_core::compliance::{
    check_decision, Compliance, ComplianceConfig, ComplianceDecision, ComplianceInput,
    StandardCompliance,
};
use weblm_core::distribute::{
    check_distribution, Distribute, DistributeInput, Distribution, EpZonePolicy,
};

use crate::abi::Hook;
use crate::error::{Fault, PluginError};
use crate::host::Plugin;

/// What happens when the installed plugin fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fallback {
    /// Answer with the hook's native policy (fail closed: never more than native allows).
    #[default]
    Native,
    /// Return the plugin's error.
    Refuse,
}

struct Current {
    plugin: Option<Arc<Plugin>>,
    generation: u64,
}

/// The plugin installed for one hook, swappable while calls run.
pub struct PluginSlot {
    hook: Hook,
    current: RwLock<Arc<Current>>,
    fallbacks: AtomicU64,
}

impl std::fmt::Debug for PluginSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (p, g) = self.current();
        f.debug_struct("PluginSlot")
            .field("hook", &self.hook)
            .field("plugin", &p.map(|p| p.name().to_string()))
            .field("generation", &g)
            .finish()
    }
}

impl PluginSlot {
    /// An empty slot (native policy) for `hook`, generation 0.
    pub fn new(hook: Hook) -> Self {
        PluginSlot {
            hook,
            current: RwLock::new(Arc::new(Current {
                plugin: None,
                generation: 0,
            })),
            fallbacks: AtomicU64::new(0),
        }
    }

    /// The hook this slot serves.
    pub fn hook(&self) -> Hook {
        self.hook
    }

    /// The installed plugin (if any) and the generation.
    pub fn current(&self) -> (Option<Arc<Plugin>>, u64) {
        let c = self.snapshot();
        (c.plugin.clone(), c.generation)
    }

    /// The generation: 0 at the start, one more at every install or unload.
    pub fn generation(&self) -> u64 {
        self.snapshot().generation
    }

    /// Calls answered by the fallback because the plugin failed.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    fn snapshot(&self) -> Arc<Current> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn swap(&self, plugin: Option<Arc<Plugin>>) -> u64 {
        let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
        let generation = cur.generation + 1;
        *cur = Arc::new(Current { plugin, generation });
        generation
    }

    /// Installs `plugin` for this hook (it must implement it); returns the new generation.
    /// Calls already running finish on the previous plugin.
    pub fn install(&self, plugin: Arc<Plugin>) -> Result<u64, PluginError> {
        if !plugin.hooks().contains(self.hook) {
            return Err(PluginError::load(
                plugin.name(),
                Fault::HookNotImplemented(self.hook),
            ));
        }
        Ok(self.swap(Some(plugin)))
    }

    /// Removes the plugin: the native policy answers again. Returns the new generation.
    pub fn unload(&self) -> u64 {
        self.swap(None)
    }
}

/// The answer of a hook, with who gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation<T> {
    /// The validated answer.
    pub value: T,
    /// The policy that gave it (plugin name, or the native policy's name).
    pub policy: String,
    /// The slot generation the call ran on.
    pub generation: u64,
    /// The plugin's failure if the fallback answered.
    pub fault: Option<PluginError>,
    /// Fuel used by the plugin (0 for native answers).
    pub fuel_used: u64,
}

macro_rules! run_hook {
    ($self:ident, $call:expr, $native:expr) => {{
        let cur = $self.slot.snapshot();
        let generation = cur.generation;
        let fault = match &cur.plugin {
            Some(p) => match $call(p) {
                Ok(c) => {
                    return Ok(Evaluation {
                        value: c.value,
                        policy: p.name().to_string(),
                        generation,
                        fault: None,
                        fuel_used: c.fuel_used,
                    })
                }
                Err(e) => {
                    $self.slot.fallbacks.fetch_add(1, Ordering::Relaxed);
                    if $self.fallback == Fallback::Refuse {
                        return Err(e);
                    }
                    Some(e)
                }
            },
            None => None,
        };
        let value = $native?;
        Ok(Evaluation {
            value,
            policy: $self.native.name().to_string(),
            generation,
            fault,
            fuel_used: 0,
        })
    }};
}

fn native_fault(name: &str, hook: Hook, fault: Fault) -> PluginError {
    PluginError::call(name, hook, fault)
}

/// The `distribute` hook: a plugin slot over a native policy.
pub struct DistributeHook {
    slot: PluginSlot,
    native: Arc<dyn Distribute>,
    fallback: Fallback,
}

impl DistributeHook {
    /// Native EP zone rounding, fallback [`Fallback::Native`].
    pub fn new() -> Self {
        Self::with(Arc::new(EpZonePolicy), Fallback::Native)
    }
    /// A hook over `native` with `fallback`.
    pub fn with(native: Arc<dyn Distribute>, fallback: Fallback) -> Self {
        DistributeHook {
            slot: PluginSlot::new(Hook::Distribute),
            native,
            fallback,
        }
    }
    /// The plugin slot (install, unload, generation).
    pub fn slot(&self) -> &PluginSlot {
        &self.slot
    }
    /// Shares `input.total` over the buckets with the installed plugin or the native policy.
    pub fn distribute(
        &self,
        input: &DistributeInput,
    ) -> Result<Evaluation<Distribution>, PluginError> {
        run_hook!(
            self,
            |p: &Arc<Plugin>| p.distribute(input),
            self.native_distribute(input)
        )
    }
    fn native_distribute(&self, input: &DistributeInput) -> Result<Distribution, PluginError> {
        let name = self.native.name();
        let d = self
            .native
            .distribute(input)
            .map_err(|m| native_fault(name, Hook::Distribute, Fault::MalformedOutput(m)))?;
        let raw: Vec<(u32, i64)> = d.shares.iter().map(|s| (s.id, s.count as i64)).collect();
        check_distribution(input, &raw).map_err(|e| native_fault(name, Hook::Distribute, e.into()))
    }
}

impl Default for DistributeHook {
    fn default() -> Self {
        Self::new()
    }
}

/// The `resolve_codes` hook. It implements [`ResolveCodes`], so it can be given to
/// `Ledger::set_policy`; there a plugin failure is returned as an error, and the ledger answers
/// with the native Sentinel policy and reports the fault (`Ledger::entitlement`).
pub struct ResolveCodesHook {
    slot: PluginSlot,
    native: Arc<dyn ResolveCodes>,
    fallback: Fallback,
    name: String,
}

impl ResolveCodesHook {
    /// Native Sentinel policy, fallback [`Fallback::Native`].
    pub fn new() -> Self {
        Self::with(Arc::new(SentinelPolicy), Fallback::Native)
    }
    /// A hook over `native` with `fallback`.
    pub fn with(native: Arc<dyn ResolveCodes>, fallback: Fallback) -> Self {
        ResolveCodesHook {
            slot: PluginSlot::new(Hook::ResolveCodes),
            name: format!("hook:resolve_codes({})", native.name()),
            native,
            fallback,
        }
    }
    /// The plugin slot (install, unload, generation).
    pub fn slot(&self) -> &PluginSlot {
        &self.slot
    }
    /// Resolves `codes` with the installed plugin or the native policy.
    pub fn evaluate(
        &self,
        codes: &[CodeInput],
        ctx: &ResolveContext,
    ) -> Result<Evaluation<Entitlement>, PluginError> {
        run_hook!(
            self,
            |p: &Arc<Plugin>| p.resolve_codes(codes, ctx),
            self.native_resolve(codes, ctx)
        )
    }
    fn native_resolve(
        &self,
        codes: &[CodeInput],
        ctx: &ResolveContext,
    ) -> Result<Entitlement, PluginError> {
        let name = self.native.name();
        let e = self
            .native
            .resolve(codes, ctx)
            .map_err(|m| native_fault(name, Hook::ResolveCodes, Fault::MalformedOutput(m)))?;
        check_entitlement(codes, ctx, &e)
            .map_err(|f| native_fault(name, Hook::ResolveCodes, f.into()))?;
        Ok(e)
    }
}

impl Default for ResolveCodesHook {
    fn default() -> Self {
        Self::new()
    }
}

impl ResolveCodes for ResolveCodesHook {
    fn name(&self) -> &str {
        &self.name
    }
    fn resolve(&self, codes: &[CodeInput], ctx: &ResolveContext) -> Result<Entitlement, String> {
        let cur = self.slot.snapshot();
        match &cur.plugin {
            Some(p) => match p.resolve_codes(codes, ctx) {
                Ok(c) => Ok(c.value),
                Err(e) => {
                    self.slot.fallbacks.fetch_add(1, Ordering::Relaxed);
                    Err(e.to_string())
                }
            },
            None => self.native.resolve(codes, ctx),
        }
    }
}

/// The `compliance` hook: a plugin slot over a native policy.
pub struct ComplianceHook {
    slot: PluginSlot,
    native: Arc<dyn Compliance>,
    fallback: Fallback,
    name: String,
}

impl ComplianceHook {
    /// Native standard compliance, fallback [`Fallback::Native`].
    pub fn new() -> Self {
        Self::with(Arc::new(StandardCompliance), Fallback::Native)
    }
    /// A hook over `native` with `fallback`.
    pub fn with(native: Arc<dyn Compliance>, fallback: Fallback) -> Self {
        ComplianceHook {
            slot: PluginSlot::new(Hook::Compliance),
            name: format!("hook:compliance({})", native.name()),
            native,
            fallback,
        }
    }
    /// The plugin slot (install, unload, generation).
    pub fn slot(&self) -> &PluginSlot {
        &self.slot
    }
    /// Decides the mode with the installed plugin or the native policy.
    pub fn decide(
        &self,
        input: &ComplianceInput,
        config: &ComplianceConfig,
    ) -> Result<Evaluation<ComplianceDecision>, PluginError> {
        run_hook!(
            self,
            |p: &Arc<Plugin>| p.compliance(input, config),
            self.native_decide(input, config)
        )
    }
    fn native_decide(
        &self,
        input: &ComplianceInput,
        config: &ComplianceConfig,
    ) -> Result<ComplianceDecision, PluginError> {
        let name = self.native.name();
        let d = self
            .native
            .decide(input, config)
            .map_err(|m| native_fault(name, Hook::Compliance, Fault::MalformedOutput(m)))?;
        check_decision(input, d.mode as u32, d.until)
            .map_err(|f| native_fault(name, Hook::Compliance, f.into()))
    }
}

/// The hook as a [`Compliance`] policy, so a license manager (`weblm_core::plm::Plm`) can run
/// on it: the installed plugin decides, and its failures take the hook's fallback (native by
/// default; with [`Fallback::Refuse`] the plugin's error is returned). The decision is checked
/// again by the caller ([`check_decision`]).
impl Compliance for ComplianceHook {
    fn name(&self) -> &str {
        &self.name
    }
    fn decide(
        &self,
        input: &ComplianceInput,
        config: &ComplianceConfig,
    ) -> Result<ComplianceDecision, String> {
        // A fault the fallback answered is counted on the slot (`PluginSlot::fallbacks`).
        ComplianceHook::decide(self, input, config)
            .map(|ev| ev.value)
            .map_err(|e| e.to_string())
    }
}

impl Default for ComplianceHook {
    fn default() -> Self {
        Self::new()
    }
}
