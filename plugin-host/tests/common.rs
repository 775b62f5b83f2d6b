//! Shared test helpers: paths to the committed plugins and hostile fixtures.
#![allow(dead_code)]

use std::path::PathBuf;

use weblm_plugins::{sha256_hex, HostConfig, Plugin, PluginHost};

pub fn plugins_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins")
}

pub fn host() -> PluginHost {
    PluginHost::new(HostConfig::default()).expect("host")
}

/// Loads a committed plugin from plugins/wasm, pinned to its own digest.
pub fn committed(host: &PluginHost, name: &str) -> Plugin {
    let path = plugins_dir().join("wasm").join(format!("{name}.wasm"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    host.load(name, &bytes, &sha256_hex(&bytes)).expect("load")
}

pub fn hostile_bytes(name: &str) -> Vec<u8> {
    let path = plugins_dir().join("hostile").join(format!("{name}.wat"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
