//! # weblm-plugins
//!
//! The WebAssembly policy plugin host (SPEC §9). A [`PluginHost`] owns one wasmtime engine;
//! [`PluginHost::load`] checks a module's sha256 pin, compiles it once, checks its imports
//! (none allowed) and exports against the ABI ([`abi`], `plugins/ABI.md`) and reads its ABI
//! version and hooks. Each call runs in a fresh store with memory, fuel and size limits; every
//! output passes the hook's host-side check, so a plugin can never over-grant. The typed hooks
//! in [`slot`] swap plugins while calls run and fall back to the native policy on any failure.
//!
//! A separate crate, not a `weblm-core` feature: wasmtime takes minutes to build, and the
//! lease ledger, the server and the C library build without it on every other branch.
//!
//! ```
//! use weblm_plugins::{PluginHost, HostConfig, slot::DistributeHook, sha256_hex};
//! use weblm_core::distribute::{Bucket, DistributeInput};
//! use std::sync::Arc;
//!
//! let host = PluginHost::new(HostConfig::default()).unwrap();
//! let wasm = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/wasm/ep_zones.wasm")).unwrap();
//! let plugin = host.load("ep_zones", &wasm, &sha256_hex(&wasm)).unwrap();
//! let hook = DistributeHook::new();
//! hook.slot().install(Arc::new(plugin)).unwrap();
//! let input = DistributeInput { total: 10, seed: 1, buckets: vec![
//!     Bucket { id: 1, weight: 2, priority: 1, cap: u32::MAX },
//!     Bucket { id: 2, weight: 1, priority: 2, cap: u32::MAX },
//! ]};
//! let ev = hook.distribute(&input).unwrap();
//! assert_eq!(ev.value.get(1) + ev.value.get(2), 10);
//! assert_eq!(ev.policy, "ep_zones");
//! ```
#![warn(missing_docs)]

pub mod abi;
pub mod error;
pub mod hooks;
pub mod host;
pub mod slot;

pub use abi::{Hook, HookSet};
pub use error::{Fault, PluginError};
pub use hooks::Checked;
pub use host::{
    sha256_hex, Allocator, FreshInstance, HostConfig, Limits, Plugin, PluginHost, PluginStats,
    RawCall,
};
pub use slot::{
    ComplianceHook, DistributeHook, Evaluation, Fallback, PluginSlot, ResolveCodesHook,
};
