//! Differential tests: every plugin that mirrors a native policy gives identical results, on
//! 10 000+ random inputs each (proptest) and on the edge cases (0 licenses, 0 weights, one
//! zone, ties, caps). The plugins run through the host's full path (fresh instance, limits,
//! decoding, validation).

mod common;

use std::sync::OnceLock;

use chrono::NaiveDate;
use common::*;
use proptest::prelude::*;
use weblm_core::clock::Timestamp;
use weblm_core::codes::{resolve, CodeInput, CodeKind, LicenseCode, ResolveContext, Term};
use weblm_core::compliance::{evaluate, ComplianceConfig, ComplianceInput};
use weblm_core::distribute::{distribute, Bucket, DistributeInput, Rounding};
use weblm_plugins::Plugin;

fn plugin(name: &'static str) -> &'static Plugin {
    static HOST: OnceLock<weblm_plugins::PluginHost> = OnceLock::new();
    static P: OnceLock<Vec<(&'static str, Plugin)>> = OnceLock::new();
    let host = HOST.get_or_init(host);
    let all = P.get_or_init(|| {
        [
            "ep_zones",
            "largest_remainder",
            "sentinel_override",
            "standard_compliance",
        ]
        .into_iter()
        .map(|n| (n, committed(host, n)))
        .collect()
    });
    &all.iter()
        .find(|(n, _)| *n == name)
        .expect("known plugin")
        .1
}

fn same_distribution(inp: &DistributeInput) {
    let ep = plugin("ep_zones").distribute(inp).expect("ep_zones").value;
    assert_eq!(
        ep,
        distribute(inp, Rounding::PriorityFirst).unwrap(),
        "ep_zones on {inp:?}"
    );
    let lr = plugin("largest_remainder")
        .distribute(inp)
        .expect("largest_remainder")
        .value;
    assert_eq!(
        lr,
        distribute(inp, Rounding::LargestRemainder).unwrap(),
        "largest_remainder on {inp:?}"
    );
}

fn b(id: u32, weight: u32, priority: u32, cap: u32) -> Bucket {
    Bucket {
        id,
        weight,
        priority,
        cap,
    }
}

#[test]
fn distribute_edge_cases() {
    let cases = vec![
        // 0 licenses
        DistributeInput {
            total: 0,
            seed: 1,
            buckets: vec![b(1, 5, 1, 9), b(2, 3, 2, 9)],
        },
        // 0 weights
        DistributeInput {
            total: 10,
            seed: 1,
            buckets: vec![b(1, 0, 1, 9), b(2, 0, 1, 9)],
        },
        // no buckets
        DistributeInput {
            total: 10,
            seed: 1,
            buckets: vec![],
        },
        // one zone, with and without a cap
        DistributeInput {
            total: 10,
            seed: 1,
            buckets: vec![b(7, 3, 1, u32::MAX)],
        },
        DistributeInput {
            total: 10,
            seed: 1,
            buckets: vec![b(7, 3, 1, 4)],
        },
        // ties: equal weights and priorities, remainder decided by the seed
        DistributeInput {
            total: 10,
            seed: 99,
            buckets: (1..=7).map(|i| b(i, 1, 1, 9)).collect(),
        },
        DistributeInput {
            total: 10,
            seed: 100,
            buckets: (1..=7).map(|i| b(i, 1, 1, 9)).collect(),
        },
        // caps cutting shares and the remainder
        DistributeInput {
            total: 100,
            seed: 5,
            buckets: vec![b(1, 1, 1, 10), b(2, 1, 2, 20), b(3, 2, 1, 1000)],
        },
        DistributeInput {
            total: 5,
            seed: 0,
            buckets: vec![b(1, 1, 1, 2), b(2, 1, 2, 9)],
        },
        // extremes
        DistributeInput {
            total: u32::MAX,
            seed: u64::MAX,
            buckets: vec![
                b(1, u32::MAX, 1, u32::MAX),
                b(2, u32::MAX, u32::MAX, u32::MAX),
                b(3, 1, 0, 0),
            ],
        },
        // the SPEC example: 50/30/20 cut to 33
        DistributeInput {
            total: 33,
            seed: 7,
            buckets: vec![b(1, 50, 3, 50), b(2, 30, 1, 30), b(3, 20, 2, 20)],
        },
    ];
    for c in &cases {
        same_distribution(c);
    }
}

fn arb_distribute() -> impl Strategy<Value = DistributeInput> {
    let bucket = (
        prop_oneof![3 => 0u32..20, 1 => Just(0u32), 1 => 0u32..1_000_000, 1 => Just(u32::MAX)],
        prop_oneof![1u32..4, Just(0u32), any::<u32>()],
        prop_oneof![Just(u32::MAX), 0u32..30, Just(0u32)],
    );
    (
        prop_oneof![Just(0u32), 0u32..100, 0u32..100_000, Just(u32::MAX)],
        any::<u64>(),
        proptest::collection::vec(bucket, 0..40),
    )
        .prop_map(|(total, seed, bs)| DistributeInput {
            total,
            seed,
            buckets: bs
                .into_iter()
                .enumerate()
                .map(|(i, (w, p, c))| b((i as u32).wrapping_mul(2_654_435_761), w, p, c))
                .collect(),
        })
}

/// Many buckets (the benchmark's sizes) with priorities around the EP plugin's counted range
/// (below 64 counted per priority, 64 and above the general path), totals a share of the
/// weights (so the remainder is large and only some eligible buckets receive one), and in some
/// inputs huge weights (a weight sum past `u32::MAX`: 64-bit division).
fn arb_large_distribute() -> impl Strategy<Value = DistributeInput> {
    let bucket = (
        prop_oneof![8 => 0u32..50, 1 => Just(0u32)],
        0u32..1_000,
        prop_oneof![2 => Just(u32::MAX), 3 => 0u32..60, 1 => Just(0u32)],
    );
    (
        0u64..=120,
        any::<u64>(),
        proptest::collection::vec(bucket, 40..1_200),
        // Priorities of an input: 1..=3, 0..64 (all counted) or 0..70 (some not).
        prop_oneof![3 => Just((3u32, 1u32)), 2 => Just((64, 0)), 1 => Just((70, 0))],
        prop_oneof![3 => Just(None), 1 => Just(Some(u32::MAX)), 1 => Just(Some(5_000_000))],
    )
        .prop_map(|(pct, seed, bs, (span, first), huge)| {
            let mut buckets: Vec<Bucket> = bs
                .into_iter()
                .enumerate()
                .map(|(i, (w, p, c))| b(i as u32 * 7 + 3, w, first + p % span, c))
                .collect();
            if let Some(w) = huge {
                for x in buckets.iter_mut().step_by(17) {
                    x.weight = w;
                }
            }
            let sum: u64 = buckets.iter().map(|x| x.weight as u64).sum();
            DistributeInput {
                total: (sum * pct / 100).min(u32::MAX as u64) as u32,
                seed,
                buckets,
            }
        })
}

/// The benchmark's zones (weights 10–49, three priorities, caps at the weight, 70 % of the
/// configured sum), at its three sizes and other totals and seeds.
#[test]
fn distribute_benchmark_shapes() {
    for n in [10u32, 100, 1_000, 5_000] {
        for (pct, seed) in [(70u64, 42u64), (30, 1), (99, 7), (100, 3), (1, 9)] {
            let buckets: Vec<Bucket> = (0..n)
                .map(|i| b(i + 1, 10 + (i * 7919) % 40, 1 + i % 3, 10 + (i * 7919) % 40))
                .collect();
            let sum: u64 = buckets.iter().map(|x| x.weight as u64).sum();
            same_distribution(&DistributeInput {
                total: (sum * pct / 100) as u32,
                seed,
                buckets,
            });
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn distribute_plugins_match_native_on_many_buckets(inp in arb_large_distribute()) {
        same_distribution(&inp);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn distribute_plugins_match_native(inp in arb_distribute()) {
        same_distribution(&inp);
    }

    #[test]
    fn sentinel_override_matches_native(
        (codes, ctx) in arb_codes()
    ) {
        let native = resolve(&codes, &ctx);
        let wasm = plugin("sentinel_override").resolve_codes(&codes, &ctx).expect("sentinel_override").value;
        prop_assert_eq!(wasm, native);
    }

    #[test]
    fn compliance_plugin_matches_native(inp in arb_compliance(), cfg in arb_config()) {
        let native = evaluate(&inp, &cfg);
        let wasm = plugin("standard_compliance").compliance(&inp, &cfg).expect("standard_compliance").value;
        prop_assert_eq!(wasm, native);
    }
}

const BASE: i64 = 1_790_000_000;

fn arb_code() -> impl Strategy<Value = (LicenseCode, Option<i64>)> {
    (
        0u32..40,
        prop_oneof![
            Just(CodeKind::Additive),
            Just(CodeKind::Exclusive),
            Just(CodeKind::Aggregate)
        ],
        prop_oneof![Just(Term::Permanent), Just(Term::Trial), Just(Term::Until)],
        -20i64..20,
        0i64..30,
        (
            proptest::option::of(1u32..15),
            proptest::option::of(1u32..200),
        ),
        any::<bool>(),
        proptest::option::of(-20i64 * 86_400..20 * 86_400),
    )
        .prop_map(
            |(count, kind, term, start_off, len, (td, th), redundant, first_use)| {
                let day0 = NaiveDate::from_ymd_opt(2026, 9, 21).unwrap();
                let start = day0 + chrono::Days::new((start_off + 20) as u64);
                let end = start + chrono::Days::new(len as u64);
                let (trial_days, trial_hours, end) = match term {
                    Term::Permanent => (None, None, None),
                    Term::Until => (None, None, Some(end)),
                    Term::Trial => {
                        if td.is_none() && th.is_none() {
                            (Some(3), None, None)
                        } else {
                            (td, th, (len % 2 == 0).then_some(end))
                        }
                    }
                };
                let code = LicenseCode {
                    position: 0,
                    feature: "F".into(),
                    version: "1".into(),
                    count,
                    kind,
                    term,
                    trial_days,
                    trial_hours,
                    start,
                    end,
                    redundant: redundant && term != Term::Trial,
                };
                (code, first_use.filter(|_| term == Term::Trial))
            },
        )
}

fn arb_codes() -> impl Strategy<Value = (Vec<CodeInput>, ResolveContext)> {
    (
        proptest::collection::vec(arb_code(), 0..8),
        -30i64 * 86_400..30 * 86_400,
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(codes, now_off, redundant_server, shuffle)| {
            let now = Timestamp(BASE + now_off);
            let n = codes.len() as u64;
            let mut out: Vec<CodeInput> = codes
                .into_iter()
                .enumerate()
                .map(|(i, (mut code, first_use))| {
                    // Unique positions, in a scrambled file order.
                    code.position = ((i as u64 * 7 + shuffle % 5) % (n * 7 + 5)) as u32 + 1;
                    CodeInput {
                        code,
                        first_use: first_use.map(|f| Timestamp(BASE + f)).filter(|f| *f <= now),
                    }
                })
                .collect();
            if shuffle % 2 == 1 {
                out.reverse();
            }
            (
                out,
                ResolveContext {
                    now,
                    redundant_server,
                },
            )
        })
}

fn arb_instant() -> impl Strategy<Value = Option<Timestamp>> {
    proptest::option::of((-400i64 * 86_400..10 * 86_400).prop_map(|o| Timestamp(BASE + o)))
}

fn arb_compliance() -> impl Strategy<Value = ComplianceInput> {
    (
        (0u32..30, 0u32..30, 0u32..30, 0u32..30),
        prop_oneof![9 => Just(false), 1 => Just(true)],
        (arb_instant(), arb_instant(), arb_instant(), arb_instant()),
    )
        .prop_map(
            |((entitled, in_use, recorded, acquired), tampered, (t, s, c, v))| ComplianceInput {
                now: Timestamp(BASE),
                entitled,
                in_use,
                recorded,
                acquired,
                tampered,
                trial_since: t,
                short_since: s,
                last_contact: c,
                violation_since: v,
            },
        )
}

fn arb_config() -> impl Strategy<Value = ComplianceConfig> {
    prop_oneof![
        3 => Just(ComplianceConfig::default()),
        1 => (0u32..400, 0u32..400, 0u32..10, 0u32..400).prop_map(|(g, t, c, d)| ComplianceConfig {
            grace_days: g,
            trial_days: t,
            contact_alert_days: c,
            deactivate_after_days: d,
        }),
    ]
}
