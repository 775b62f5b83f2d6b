//! `distribute` over 10, 100 and 1 000 zones, native vs wasm, in one run; plus module compile
//! time, fresh-instance time (pooling vs on-demand) and fuel per call.
//!
//! ```sh
//! cargo bench -p weblm-plugins --bench distribute
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use weblm_core::distribute::{distribute, Bucket, DistributeInput, Rounding};
use weblm_plugins::{Allocator, HostConfig, Plugin, PluginHost};

fn wasm(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../plugins/wasm/{name}.wasm",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("committed plugin")
}

fn zones(n: u32) -> DistributeInput {
    // Configured 10..=49 licenses per zone, 3 priorities, caps at the configuration; the system
    // has 70 % of the configured sum, so every zone is cut and the remainder is handed out.
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

fn load(host: &PluginHost, name: &str) -> Plugin {
    host.load_unpinned(name, &wasm(name)).expect("load")
}

fn benches(c: &mut Criterion) {
    let pooled = PluginHost::new(HostConfig::default()).unwrap();
    let on_demand = PluginHost::new(HostConfig {
        allocator: Allocator::OnDemand,
        ..HostConfig::default()
    })
    .unwrap();
    let ep = load(&pooled, "ep_zones");
    let ep_od = load(&on_demand, "ep_zones");
    let lr = load(&pooled, "largest_remainder");

    println!("fuel per call (whole evaluation: instantiate, alloc, hook):");
    for n in [10u32, 100, 1000] {
        let inp = zones(n);
        let a = ep.distribute(&inp).unwrap();
        let b = lr.distribute(&inp).unwrap();
        assert_eq!(a.value, distribute(&inp, Rounding::PriorityFirst).unwrap());
        println!(
            "  {n:>5} zones: ep_zones (Rust) {:>9}  largest_remainder (C) {:>9}",
            a.fuel_used, b.fuel_used
        );
    }

    let mut g = c.benchmark_group("distribute");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    for n in [10u32, 100, 1000] {
        let inp = zones(n);
        g.bench_with_input(BenchmarkId::new("native", n), &inp, |b, inp| {
            b.iter(|| distribute(black_box(inp), Rounding::PriorityFirst).unwrap())
        });
        g.bench_with_input(
            BenchmarkId::new("wasm_ep_rust_pooling", n),
            &inp,
            |b, inp| b.iter(|| ep.distribute(black_box(inp)).unwrap()),
        );
        g.bench_with_input(
            BenchmarkId::new("wasm_ep_rust_on_demand", n),
            &inp,
            |b, inp| b.iter(|| ep_od.distribute(black_box(inp)).unwrap()),
        );
        g.bench_with_input(BenchmarkId::new("wasm_lr_c_pooling", n), &inp, |b, inp| {
            b.iter(|| lr.distribute(black_box(inp)).unwrap())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("instance");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    g.bench_function("fresh_pooling", |b| {
        b.iter(|| ep.instantiate_fresh().unwrap())
    });
    g.bench_function("fresh_on_demand", |b| {
        b.iter(|| ep_od.instantiate_fresh().unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("compile");
    g.warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10);
    let ep_bytes = wasm("ep_zones");
    let lr_bytes = wasm("largest_remainder");
    g.bench_function("ep_zones", |b| {
        b.iter(|| pooled.load_unpinned("ep", black_box(&ep_bytes)).unwrap())
    });
    g.bench_function("largest_remainder", |b| {
        b.iter(|| pooled.load_unpinned("lr", black_box(&lr_bytes)).unwrap())
    });
    g.finish();
}

criterion_group!(plugin_benches, benches);
criterion_main!(plugin_benches);
