//! # libweblm
//!
//! The C ABI of the weblm licensing runtime, built as `libweblm.so` / `libweblm.a`, with the
//! header `include/weblm.h` generated from this crate by cbindgen (`ffi/cbindgen.toml`). The
//! conventions (status codes, last error, handles, ownership, thread safety) are written at
//! the top of the header and in `docs/c-api.md`.
//!
//! Layout: `status` (codes, last error), `boundary` (panic catching, argument checks),
//! `registry` (live handles: double free is a status, not UB), `version`, `license`,
//! `entitlement`, `clock`, `server`, `plugins` (policy plugins, `weblm_policy`), `client`
//! (the IR license client).
#![warn(missing_docs)]

// Declaration order is the order of the generated header.
pub mod alloc;
pub(crate) mod boundary;
pub mod clock;
pub mod entitlement;
pub mod license;
pub mod plm;
pub mod plugins;
pub(crate) mod registry;
pub mod server;
// After `server` and `clock`: the client refers to their handles.
pub mod client;
pub mod status;
pub mod version;

pub use alloc::*;
pub use client::*;
pub use clock::*;
pub use entitlement::*;
pub use license::*;
pub use plm::*;
pub use plugins::*;
pub use server::*;
pub use status::*;
pub use version::*;
