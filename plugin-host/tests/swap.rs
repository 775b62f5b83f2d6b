//! Hot swap: plugins replaced while calls run on several threads, with zero failed calls;
//! generations; unload; swapping changes outcomes.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use common::*;
use weblm_core::distribute::{distribute, Bucket, DistributeInput, Rounding};
use weblm_plugins::{DistributeHook, Hook, PluginSlot};

fn input() -> DistributeInput {
    // Weights 1,1,1,7 at total 7: EP gives 1,1,1,4, largest remainder 1,1,0,5.
    DistributeInput {
        total: 7,
        seed: 1,
        buckets: vec![
            Bucket {
                id: 1,
                weight: 1,
                priority: 1,
                cap: 10,
            },
            Bucket {
                id: 2,
                weight: 1,
                priority: 2,
                cap: 10,
            },
            Bucket {
                id: 3,
                weight: 1,
                priority: 3,
                cap: 10,
            },
            Bucket {
                id: 4,
                weight: 7,
                priority: 4,
                cap: 10,
            },
        ],
    }
}

#[test]
fn swapping_changes_outcomes_and_generations() {
    let host = host();
    let hook = DistributeHook::new();
    assert_eq!(hook.slot().generation(), 0);
    let native = hook.distribute(&input()).unwrap();
    assert_eq!(native.policy, "native:ep-zones");
    assert_eq!(native.generation, 0);

    let g1 = hook
        .slot()
        .install(Arc::new(committed(&host, "ep_zones")))
        .unwrap();
    let ep = hook.distribute(&input()).unwrap();
    assert_eq!((ep.policy.as_str(), ep.generation), ("ep_zones", g1));
    assert_eq!(ep.value, native.value);
    assert!(ep.fuel_used > 0);

    let g2 = hook
        .slot()
        .install(Arc::new(committed(&host, "largest_remainder")))
        .unwrap();
    assert_eq!(g2, g1 + 1);
    let lr = hook.distribute(&input()).unwrap();
    assert_eq!(lr.policy, "largest_remainder");
    assert_eq!(
        lr.value,
        distribute(&input(), Rounding::LargestRemainder).unwrap()
    );
    assert_ne!(lr.value, ep.value, "the vendor variant rounds differently");
    assert_eq!(lr.value.get(4), 5);
    assert_eq!(ep.value.get(4), 4);

    let g3 = hook.slot().unload();
    assert_eq!(g3, g2 + 1);
    let back = hook.distribute(&input()).unwrap();
    assert_eq!(back.policy, "native:ep-zones");
    assert_eq!(back.value, native.value);
}

#[test]
fn in_flight_calls_finish_on_the_plugin_they_started_with() {
    let host = host();
    let slot = PluginSlot::new(Hook::Distribute);
    slot.install(Arc::new(committed(&host, "ep_zones")))
        .unwrap();
    let (held, generation) = slot.current();
    slot.install(Arc::new(committed(&host, "largest_remainder")))
        .unwrap();
    // The old plugin is still alive and callable through the Arc a call took.
    let held = held.unwrap();
    assert_eq!(held.name(), "ep_zones");
    assert_eq!(held.distribute(&input()).unwrap().value.get(4), 4);
    assert_eq!(slot.generation(), generation + 1);
}

#[test]
fn swap_under_load_from_several_threads_has_zero_failed_calls() {
    let host = host();
    let ep = Arc::new(committed(&host, "ep_zones"));
    let lr = Arc::new(committed(&host, "largest_remainder"));
    let hook = Arc::new(DistributeHook::new());
    hook.slot().install(ep.clone()).unwrap();
    let want_ep = distribute(&input(), Rounding::PriorityFirst).unwrap();
    let want_lr = distribute(&input(), Rounding::LargestRemainder).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (hook, stop, calls) = (hook.clone(), stop.clone(), calls.clone());
        let (want_ep, want_lr) = (want_ep.clone(), want_lr.clone());
        workers.push(thread::spawn(move || {
            let mut seen = [0u64; 2];
            while !stop.load(Ordering::Relaxed) {
                let ev = hook.distribute(&input()).expect("no call fails");
                assert!(ev.fault.is_none(), "no call falls back: {:?}", ev.fault);
                match ev.policy.as_str() {
                    "ep_zones" => {
                        assert_eq!(ev.value, want_ep);
                        seen[0] += 1
                    }
                    "largest_remainder" => {
                        assert_eq!(ev.value, want_lr);
                        seen[1] += 1
                    }
                    other => panic!("unexpected policy {other}"),
                }
                calls.fetch_add(1, Ordering::Relaxed);
            }
            seen
        }));
    }
    let mut swaps = 0;
    while swaps < 200 || calls.load(Ordering::Relaxed) < 2_000 {
        let next = if swaps % 2 == 0 {
            lr.clone()
        } else {
            ep.clone()
        };
        hook.slot().install(next).unwrap();
        swaps += 1;
        thread::yield_now();
    }
    stop.store(true, Ordering::Relaxed);
    let mut seen = [0u64; 2];
    for w in workers {
        let s = w.join().expect("worker did not panic");
        seen[0] += s[0];
        seen[1] += s[1];
    }
    assert_eq!(hook.slot().generation(), 1 + swaps);
    assert_eq!(hook.slot().fallbacks(), 0);
    assert_eq!(ep.stats().failures() + lr.stats().failures(), 0);
    assert!(
        seen[0] > 0 && seen[1] > 0,
        "both plugins served calls: {seen:?}"
    );
    assert_eq!(ep.stats().calls() + lr.stats().calls(), seen[0] + seen[1]);
}

#[test]
fn on_demand_allocator_gives_the_same_results() {
    let host = weblm_plugins::PluginHost::new(weblm_plugins::HostConfig {
        allocator: weblm_plugins::Allocator::OnDemand,
        ..weblm_plugins::HostConfig::default()
    })
    .unwrap();
    let p = committed(&host, "ep_zones");
    p.instantiate_fresh().unwrap();
    assert_eq!(
        p.distribute(&input()).unwrap().value,
        distribute(&input(), Rounding::PriorityFirst).unwrap()
    );
}
