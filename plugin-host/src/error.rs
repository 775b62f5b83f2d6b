//! Typed plugin failures: every error names the plugin and the fault, never a bare string.

use weblm_core::codes::EntitlementFault;
use weblm_core::compliance::ComplianceFault;
use weblm_core::distribute::{DistributeInputError, DistributionFault};

use crate::abi::Hook;

/// What went wrong with a plugin. Each variant is one failure class (Shopify Functions'
/// list: trap, fuel, memory, stack, ABI, sizes, invalid output).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    /// The module's sha256 is not the one it was pinned to.
    #[error("sha256 mismatch: expected {expected}, got {actual}")]
    Sha256Mismatch {
        /// The pinned digest (hex).
        expected: String,
        /// The module's digest (hex).
        actual: String,
    },
    /// The pinned digest is not 64 hex digits.
    #[error("bad sha256 pin `{0}`: expected 64 hex digits")]
    BadPin(String),
    /// The module file is larger than the configured cap.
    #[error("module is {size} bytes, above the {limit}-byte limit")]
    ModuleTooLarge {
        /// Its size.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// The bytes are not a valid WebAssembly module (or wasmtime refused to compile them).
    #[error("invalid module: {0}")]
    Compile(String),
    /// The module imports something; plugins may import nothing (no WASI, no host functions).
    #[error("forbidden import `{module}::{name}`: plugins may not import anything")]
    ForbiddenImport {
        /// Import module name.
        module: String,
        /// Import field name.
        name: String,
    },
    /// A required export is missing.
    #[error("missing export `{0}`")]
    MissingExport(String),
    /// An export has the wrong kind or signature.
    #[error("export `{name}` has the wrong type: expected {expected}")]
    WrongExportType {
        /// The export.
        name: String,
        /// What the ABI wants.
        expected: &'static str,
    },
    /// The plugin speaks an ABI version this host does not.
    #[error(
        "ABI version {found_major}.{found_minor} is not supported; this host speaks {supported}.x"
    )]
    AbiVersion {
        /// Major version the plugin reports.
        found_major: u32,
        /// Minor version the plugin reports.
        found_minor: u32,
        /// The major version this host speaks.
        supported: u32,
    },
    /// The plugin declares no hook, or an unknown hook bit.
    #[error("bad hook set {0:#x}: expected a non-empty combination of 1 (resolve_codes), 2 (distribute), 4 (compliance)")]
    BadHookSet(u32),
    /// The plugin does not implement the hook it was asked for.
    #[error("does not implement hook `{0}`")]
    HookNotImplemented(Hook),
    /// Instantiation failed (for a reason other than memory).
    #[error("instantiation failed: {0}")]
    Instantiate(String),
    /// The call used up its fuel budget (an endless or too long computation).
    #[error("fuel budget of {budget} exhausted")]
    FuelExhausted {
        /// The budget.
        budget: u64,
    },
    /// The plugin tried to use more memory than allowed.
    #[error("memory limit of {limit} bytes exceeded (asked for {asked} bytes)")]
    MemoryLimit {
        /// The limit.
        limit: usize,
        /// The size it asked for.
        asked: usize,
    },
    /// The wasm call stack overflowed.
    #[error("call stack exhausted")]
    StackOverflow,
    /// The plugin trapped (unreachable, out-of-bounds access, division by zero, ...).
    #[error("trap: {0}")]
    Trap(String),
    /// The encoded input is larger than the cap.
    #[error("input of {size} bytes is above the {limit}-byte limit")]
    InputTooLarge {
        /// Its size.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// The output is larger than the cap.
    #[error("output of {size} bytes is above the {limit}-byte limit")]
    OutputTooLarge {
        /// Its size.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// `weblm_alloc` returned a region outside linear memory.
    #[error("weblm_alloc returned {ptr:#x}+{len}, outside linear memory of {memory} bytes")]
    BadAlloc {
        /// Pointer returned.
        ptr: u32,
        /// Length asked for.
        len: usize,
        /// Memory size.
        memory: usize,
    },
    /// The output region lies outside linear memory.
    #[error("output {ptr:#x}+{len} lies outside linear memory of {memory} bytes")]
    OutputOutOfBounds {
        /// Pointer returned.
        ptr: u32,
        /// Length returned.
        len: u32,
        /// Memory size.
        memory: usize,
    },
    /// The output bytes do not follow the hook's encoding.
    #[error("malformed output: {0}")]
    MalformedOutput(String),
    /// The plugin returned a negative value: an error of its own (the value as returned).
    #[error("plugin reported error {0}")]
    Reported(i64),
    /// A distribution that breaks the host's rules (over the total, a cap, unknown ids, ...).
    #[error("invalid distribution: {0}")]
    InvalidDistribution(#[from] DistributionFault),
    /// An entitlement above what the codes allow (or naming unknown/dead codes).
    #[error("invalid entitlement: {0}")]
    InvalidEntitlement(#[from] EntitlementFault),
    /// A compliance decision that breaks the host's rules.
    #[error("invalid compliance decision: {0}")]
    InvalidCompliance(#[from] ComplianceFault),
    /// The input itself was refused before any plugin ran.
    #[error("bad input: {0}")]
    BadInput(#[from] DistributeInputError),
    /// The host's engine could not be set up.
    #[error("engine: {0}")]
    Engine(String),
}

/// A failure of one plugin: which plugin, which hook (if in a call), and the fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("plugin `{plugin}`{}: {fault}", hook.map(|h| format!(" ({h})")).unwrap_or_default())]
pub struct PluginError {
    /// The plugin's name.
    pub plugin: String,
    /// The hook being called, if the failure happened in a call.
    pub hook: Option<Hook>,
    /// What went wrong.
    pub fault: Fault,
}

impl PluginError {
    /// A failure of `plugin` outside a call (loading, checking).
    pub fn load(plugin: &str, fault: Fault) -> Self {
        PluginError {
            plugin: plugin.to_string(),
            hook: None,
            fault,
        }
    }

    /// A failure of `plugin` while calling `hook`.
    pub fn call(plugin: &str, hook: Hook, fault: Fault) -> Self {
        PluginError {
            plugin: plugin.to_string(),
            hook: Some(hook),
            fault,
        }
    }
}
