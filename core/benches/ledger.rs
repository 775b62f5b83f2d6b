//! Acquire+release pairs: in-memory ledger on one thread and on two threads, and the durable
//! (SQLite) path. Run with `cargo bench -p weblm-core --bench ledger`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use weblm_core::clock::SystemClock;
use weblm_core::codes::{CodeKind, LicenseCode};
use weblm_core::ledger::{Ledger, LedgerConfig};
use weblm_core::license::*;

fn license() -> VerifiedLicense {
    let key = generate_key().unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let mut f = LicenseFile::issue(
        LicenseContent::new("bench", "IR", "5.0", "bench", day),
        &key,
    )
    .unwrap();
    for feature in ["F0", "F1"] {
        let code = LicenseCode::permanent(feature, "1.0", 1_000_000, CodeKind::Additive, day);
        f.add_code(code, &key).unwrap();
    }
    f.verify(&key.verifying_key(), &Expect::host("bench"))
        .unwrap()
}

fn pairs(l: &Ledger, feature: &str, n: u64) {
    for _ in 0..n {
        let g = l.acquire("bench-client", feature, "1.0", 1).unwrap();
        l.release(g.lease.unwrap()).unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let lic = license();
    let mut g = c.benchmark_group("acquire_release_pair");
    g.throughput(Throughput::Elements(1));

    let mem = Arc::new(Ledger::in_memory(
        &lic,
        Arc::new(SystemClock),
        LedgerConfig::default(),
    ));
    g.bench_function("in_memory_1_thread", |b| {
        b.iter_custom(|n| {
            let t = Instant::now();
            pairs(&mem, "F0", n);
            t.elapsed()
        })
    });

    // Two threads, each on its own feature (the realistic case: features do not share a lock),
    // n pairs in total; the figure is aggregate pairs per second.
    g.bench_function("in_memory_2_threads", |b| {
        b.iter_custom(|n| {
            let t = Instant::now();
            std::thread::scope(|s| {
                for f in ["F0", "F1"] {
                    let mem = mem.clone();
                    s.spawn(move || pairs(&mem, f, n / 2 + 1));
                }
            });
            t.elapsed()
        })
    });

    // Two threads contending for one feature.
    g.bench_function("in_memory_2_threads_one_feature", |b| {
        b.iter_custom(|n| {
            let t = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    let mem = mem.clone();
                    s.spawn(move || pairs(&mem, "F0", n / 2 + 1));
                }
            });
            t.elapsed()
        })
    });

    let dir = tempfile::tempdir().unwrap();
    let durable = Ledger::open(
        &dir.path().join("bench.db"),
        &lic,
        Arc::new(SystemClock),
        LedgerConfig::default(),
    )
    .unwrap();
    g.measurement_time(Duration::from_secs(5));
    g.sample_size(20);
    // Each pair is two committed transactions (grant, then release).
    g.bench_function("durable_sqlite", |b| {
        b.iter_custom(|n| {
            let t = Instant::now();
            pairs(&durable, "F0", n);
            t.elapsed()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
