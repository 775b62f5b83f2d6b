//! `distribute` over 10, 100 and 1 000 zones, native vs wasm, in one run, with the ratios the
//! issue's targets are about; plus module compile time, fresh-instance time and fuel per call.
//!
//! ```sh
//! cargo bench -p weblm-plugins --bench distribute
//! ```
//!
//! Three figures per size, sampled in interleaved rounds (so load from other processes hits
//! all of them alike), each the median over the rounds:
//! - **native**: `weblm_core::distribute::distribute` (input check + EP rounding);
//! - **wasm call**: `FreshInstance::distribute` on an instance made *before* the timed region
//!   and dropped after it: input check, encoding into linear memory, `weblm_alloc`, the
//!   plugin's hook, the output checked in place (`check_shares`), the result; the ratio
//!   targets compare this with native (each call timed on its own: two clock reads, ~40 ns,
//!   are included);
//! - **wasm whole**: `Plugin::distribute`, a whole evaluation: the same plus a fresh store
//!   and instance from the `InstancePre` and its drop.
//!
//! - **LR(C) call**: the same wasm call for the C `largest_remainder` plugin (no target).
//!
//! The native policy and the `ep_zones` plugin run the same algorithm (the threshold selection
//! described in `weblm_core::distribute`), so the ratios compare like with like: what is left
//! is the cost of wasm (codegen, fuel metering, the copy in and the check out).
//!
//! Last, the host-side parts of a 1 000-zone call on their own (`validate_input`, which native
//! pays too; the encoding into memory; the output check), so the plugin's own time can be read
//! off the call time.

use std::hint::black_box;
use std::time::{Duration, Instant};

use weblm_core::distribute::{
    check_shares, distribute, validate_input, Bucket, DistributeInput, Rounding,
};
use weblm_plugins::{abi, Allocator, HostConfig, Plugin, PluginHost};

/// Interleaved rounds per size.
const ROUNDS: usize = 31;
/// Calls per wasm sample.
const BATCH: usize = 100;

fn wasm(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../plugins/wasm/{name}.wasm",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("committed plugin")
}

/// Zones configured 10..=49 licenses each, 3 priorities, caps at the configuration; the system
/// has 70 % of the configured sum, so every zone is cut and a remainder is handed out.
fn zones(n: u32) -> DistributeInput {
    let buckets: Vec<Bucket> = (0..n)
        .map(|i| Bucket {
            id: i + 1,
            weight: 10 + (i * 7919) % 40,
            priority: 1 + i % 3,
            cap: 10 + (i * 7919) % 40,
        })
        .collect();
    let sum: u64 = buckets.iter().map(|b| b.weight as u64).sum();
    DistributeInput {
        total: (sum * 7 / 10) as u32,
        seed: 42,
        buckets,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn per_call(d: Duration, calls: usize) -> f64 {
    d.as_secs_f64() * 1e6 / calls as f64
}

/// µs per native call, one sample.
fn sample_native(inp: &DistributeInput, calls: usize) -> f64 {
    let t = Instant::now();
    for _ in 0..calls {
        black_box(distribute(black_box(inp), Rounding::PriorityFirst).unwrap());
    }
    per_call(t.elapsed(), calls)
}

/// µs per call on an instance made before the timed region (and dropped after it), one
/// sample. Each call is timed on its own, so one pool slot is reused as in a whole evaluation.
fn sample_call(p: &Plugin, inp: &DistributeInput) -> f64 {
    let mut spent = Duration::ZERO;
    for _ in 0..BATCH {
        let mut inst = p.fresh_instance().unwrap();
        let t = Instant::now();
        let r = inst.distribute(black_box(inp));
        spent += t.elapsed();
        black_box(r.unwrap());
    }
    per_call(spent, BATCH)
}

/// µs per whole evaluation (fresh instance included), one sample.
fn sample_whole(p: &Plugin, inp: &DistributeInput) -> f64 {
    let t = Instant::now();
    for _ in 0..BATCH {
        black_box(p.distribute(black_box(inp)).unwrap());
    }
    per_call(t.elapsed(), BATCH)
}

/// The host-side parts of a 1 000-zone call, each timed alone (median of 31 samples of 1 000).
fn host_parts(ep: &Plugin) {
    let inp = zones(1000);
    let mut memory = vec![0u8; abi::distribute_input_len(&inp)];
    // The plugin's real answer, laid out as in its memory.
    let answer = ep.distribute(&inp).unwrap().value;
    let mut out = vec![0u8; 8 + 16 * answer.shares.len()];
    out[0..4].copy_from_slice(&(answer.shares.len() as u32).to_le_bytes());
    for (e, s) in out[8..].chunks_exact_mut(16).zip(&answer.shares) {
        e[0..4].copy_from_slice(&s.id.to_le_bytes());
        e[8..16].copy_from_slice(&(s.count as i64).to_le_bytes());
    }
    let part = |f: &mut dyn FnMut()| {
        let v = (0..31)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..1000 {
                    f();
                }
                per_call(t.elapsed(), 1000)
            })
            .collect();
        median(v)
    };
    let validate = part(&mut || validate_input(black_box(&inp)).unwrap());
    let encode = part(&mut || abi::encode_distribute_into(black_box(&inp), &mut memory));
    let check = part(&mut || {
        let entries = abi::distribute_entries(black_box(&out)).unwrap();
        black_box(check_shares(&inp, entries).unwrap());
    });
    println!(
        "host-side parts at 1 000 zones: validate_input {validate:.2} µs (native pays it too), \
         encode {encode:.2} µs, output check {check:.2} µs"
    );
}

fn time_median(reps: usize, mut f: impl FnMut()) -> f64 {
    let v = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    median(v)
}

fn main() {
    let host = PluginHost::new(HostConfig::default()).unwrap();
    let on_demand = PluginHost::new(HostConfig {
        allocator: Allocator::OnDemand,
        ..HostConfig::default()
    })
    .unwrap();
    let ep_bytes = wasm("ep_zones");
    let lr_bytes = wasm("largest_remainder");
    let ep = host.load_unpinned("ep_zones", &ep_bytes).unwrap();
    let lr = host.load_unpinned("largest_remainder", &lr_bytes).unwrap();
    let ep_od = on_demand.load_unpinned("ep_zones", &ep_bytes).unwrap();
    println!("allocator: {:?}", host.config().allocator);

    // Warm up.
    for n in [10, 100, 1000] {
        let inp = zones(n);
        for _ in 0..200 {
            black_box(ep.distribute(&inp).unwrap());
            black_box(distribute(&inp, Rounding::PriorityFirst).unwrap());
        }
    }

    println!();
    println!(
        "distribute, EP rounding (ep_zones.wasm, Rust); median of {ROUNDS} interleaved rounds"
    );
    println!(
        "{:>6} {:>11} {:>11} {:>11} {:>10} {:>11} {:>12} {:>12}",
        "zones",
        "native µs",
        "call µs",
        "whole µs",
        "call/nat",
        "whole/nat",
        "fuel/call",
        "LR(C) call"
    );
    let mut summary = Vec::new();
    for n in [10u32, 100, 1000] {
        let inp = zones(n);
        let native_calls = if n >= 1000 { 200 } else { 2000 };
        assert_eq!(
            ep.distribute(&inp).unwrap().value,
            distribute(&inp, Rounding::PriorityFirst).unwrap()
        );
        let (mut nat, mut call, mut whole, mut lr_call) = (vec![], vec![], vec![], vec![]);
        for _ in 0..ROUNDS {
            nat.push(sample_native(&inp, native_calls));
            call.push(sample_call(&ep, &inp));
            whole.push(sample_whole(&ep, &inp));
            lr_call.push(sample_call(&lr, &inp));
        }
        let (nat, call, whole, lr_call) =
            (median(nat), median(call), median(whole), median(lr_call));
        let fuel = ep.distribute(&inp).unwrap().fuel_used;
        println!(
            "{n:>6} {nat:>11.2} {call:>11.2} {whole:>11.2} {:>9.2}× {:>10.2}× {fuel:>12} {lr_call:>12.2}",
            call / nat,
            whole / nat
        );
        summary.push((n, nat, call, whole));
    }

    host_parts(&ep);

    println!();
    let inst = time_median(2001, || ep.instantiate_fresh().unwrap());
    let inst_od = time_median(2001, || ep_od.instantiate_fresh().unwrap());
    let comp_ep = time_median(11, || {
        host.load_unpinned("ep", black_box(&ep_bytes)).unwrap();
    });
    let comp_lr = time_median(11, || {
        host.load_unpinned("lr", black_box(&lr_bytes)).unwrap();
    });
    println!("fresh instance (store + instantiate + drop): pooling {inst:.2} µs, on-demand {inst_od:.2} µs");
    println!(
        "load (sha256-free compile + ABI checks): ep_zones.wasm ({} B) {:.1} ms, largest_remainder.wasm ({} B) {:.1} ms",
        ep_bytes.len(),
        comp_ep / 1000.0,
        lr_bytes.len(),
        comp_lr / 1000.0
    );
    for n in [10, 100, 1000] {
        let inp = zones(n);
        println!(
            "fuel per call at {n:>4} zones: ep_zones {:>8}, largest_remainder {:>8}",
            ep.distribute(&inp).unwrap().fuel_used,
            lr.distribute(&inp).unwrap().fuel_used
        );
    }

    println!();
    println!("targets (issue 4):");
    for &(n, nat, call, whole) in &summary {
        let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
        match n {
            100 => {
                println!(
                    "  wasm call ≤ 3× native at 100 zones: {:.2}× — {}",
                    call / nat,
                    verdict(call <= 3.0 * nat)
                );
                println!(
                    "  whole evaluation ≤ 10 µs at 100 zones: {whole:.2} µs — {}",
                    verdict(whole <= 10.0)
                );
            }
            1000 => println!(
                "  wasm call ≤ 1.5× native at 1 000 zones: {:.2}× — {}",
                call / nat,
                verdict(call <= 1.5 * nat)
            ),
            _ => {}
        }
    }
}
