//! Allocation costs: a zone cut over many zones through the `distribute` hook (with the
//! host-side check), a planner run, and start+end call pairs in the application model.
//! Run with `cargo bench -p weblm-core --bench alloc`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use weblm_core::apps::{AppConfig, AppRuntime};
use weblm_core::distribute::EpZonePolicy;
use weblm_core::orgs::Organizations;
use weblm_core::zones::{Zone, ZoneLicensing};

fn zones(n: u32) -> ZoneLicensing {
    let zs = (0..n)
        .map(|i| Zone {
            name: format!("z{i}"),
            assigned: 10 + i % 7,
            priority: 1 + i % 3,
            capacity: None,
            tenant: None,
        })
        .collect();
    let total = (0..n).map(|i| 10 + i % 7).sum();
    ZoneLicensing::with_zones(total, zs).unwrap()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc");
    for n in [10u32, 1000] {
        let z = zones(n);
        let cut_to = (z.assigned_total() * 2 / 3) as u32;
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("zone cut, {n} zones"), |b| {
            b.iter(|| z.plan(black_box(cut_to), &EpZonePolicy, 7).unwrap())
        });
    }
    let orgs = Organizations::with_orgs(1000, 100, vec![]).unwrap();
    let a = orgs.allocate(&EpZonePolicy, 0).unwrap();
    let mut rt = AppRuntime::new(
        &a,
        (0..8).map(|i| format!("ms{i}")).collect(),
        vec![AppConfig {
            name: "app".into(),
            organization: weblm_core::orgs::DEFAULT_ORGANIZATION.into(),
            guaranteed: 64,
        }],
        &EpZonePolicy,
        0,
    )
    .unwrap();
    g.bench_function("start+end call pair", |b| {
        b.iter(|| {
            let c = rt.start_call("app", "ms3").unwrap();
            rt.end_call(c.call).unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
