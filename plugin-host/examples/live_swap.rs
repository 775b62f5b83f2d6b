//! A running system whose `distribute` policy is swapped without a restart.
//!
//! ```sh
//! cargo run -p weblm-plugins --example live_swap -- POLICY.wasm [TOTAL]
//! ```
//! Every second it shares TOTAL licenses (default 33) over three zones (configured 50/30/20,
//! priorities 3/1/2) and prints the result, the policy and the generation. When POLICY.wasm
//! changes and `POLICY.wasm.sha256` holds its sha256, the plugin is loaded (off the hot path)
//! and swapped in; a file that fails to load is reported and the running policy stays.
//! Deleting POLICY.wasm unloads the plugin (native EP rounding again).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use weblm_core::distribute::{Bucket, DistributeInput};
use weblm_plugins::{DistributeHook, HostConfig, PluginHost};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().expect("usage: live_swap POLICY.wasm [TOTAL]"));
    let total: u32 = args
        .next()
        .map_or(33, |t| t.parse().expect("TOTAL is a number"));
    let pin_path = PathBuf::from(format!("{}.sha256", path.display()));
    let host = PluginHost::new(HostConfig::default()).expect("plugin host");
    let hook = DistributeHook::new();
    let input = DistributeInput {
        total,
        seed: 7,
        buckets: vec![
            Bucket {
                id: 1,
                weight: 50,
                priority: 3,
                cap: 50,
            },
            Bucket {
                id: 2,
                weight: 30,
                priority: 1,
                cap: 30,
            },
            Bucket {
                id: 3,
                weight: 20,
                priority: 2,
                cap: 20,
            },
        ],
    };
    let mut loaded: Option<Vec<u8>> = None;
    loop {
        match std::fs::read(&path) {
            Ok(bytes) if loaded.as_ref() != Some(&bytes) => {
                let pin = std::fs::read_to_string(&pin_path).unwrap_or_default();
                let pin = pin.split_whitespace().next().unwrap_or("");
                match host.load(&path.display().to_string(), &bytes, pin) {
                    Ok(p) => match hook.slot().install(Arc::new(p)) {
                        Ok(g) => println!("installed {} (generation {g})", path.display()),
                        Err(e) => println!("refused: {e}"),
                    },
                    Err(e) => println!("refused: {e}; keeping the running policy"),
                }
                loaded = Some(bytes);
            }
            Ok(_) => {}
            Err(_) if loaded.is_some() => {
                let g = hook.slot().unload();
                println!("{} removed: native policy (generation {g})", path.display());
                loaded = None;
            }
            Err(_) => {}
        }
        match hook.distribute(&input) {
            Ok(ev) => {
                let shares: Vec<String> = ev
                    .value
                    .shares
                    .iter()
                    .map(|s| format!("zone {}: {}", s.id, s.count))
                    .collect();
                println!(
                    "[gen {}] {} -> {}{}",
                    ev.generation,
                    ev.policy,
                    shares.join(", "),
                    ev.fault
                        .map(|f| format!(" (fallback: {f})"))
                        .unwrap_or_default()
                );
            }
            Err(e) => println!("error: {e}"),
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}
