//! An instance made ahead of time (`Plugin::fresh_instance`) serves exactly one call with the
//! same checks as `Plugin::distribute`: same answer and fuel, a lying plugin is still refused,
//! bad input is still refused, the call is counted, and a second call on it is refused.

mod common;

use common::*;
use weblm_core::distribute::{
    distribute, Bucket, DistributeInput, DistributeInputError, DistributionFault, Rounding,
};
use weblm_plugins::Fault;

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

#[test]
fn prepared_instance_answers_like_a_call() {
    let host = host();
    for name in ["ep_zones", "largest_remainder"] {
        let p = committed(&host, name);
        let rounding = if name == "ep_zones" {
            Rounding::PriorityFirst
        } else {
            Rounding::LargestRemainder
        };
        for n in [0, 1, 10, 100, 1000] {
            let inp = zones(n);
            let direct = p.distribute(&inp).unwrap();
            let mut inst = p.fresh_instance().unwrap();
            assert!(!inst.is_used());
            let prepared = inst.distribute(&inp).unwrap();
            assert_eq!(prepared, direct, "{name} at {n} zones");
            // One call per instance: a second is refused (and counted as a failure).
            assert!(matches!(
                inst.distribute(&inp).unwrap_err().fault,
                Fault::Instantiate(_)
            ));
            assert_eq!(prepared.value, distribute(&inp, rounding).unwrap());
        }
        assert_eq!(p.stats().calls(), 15);
        assert_eq!(p.stats().failures(), 5);
    }
}

#[test]
fn prepared_instance_still_refuses_a_lying_plugin() {
    let p = host()
        .load_unpinned("lying_distribute", &hostile_bytes("lying_distribute"))
        .unwrap();
    let inp = DistributeInput {
        total: 10,
        seed: 3,
        buckets: vec![
            Bucket {
                id: 1,
                weight: 2,
                priority: 1,
                cap: u32::MAX,
            },
            Bucket {
                id: 2,
                weight: 1,
                priority: 2,
                cap: u32::MAX,
            },
        ],
    };
    let err = p.fresh_instance().unwrap().distribute(&inp).unwrap_err();
    assert_eq!(
        err.fault,
        Fault::InvalidDistribution(DistributionFault::AboveTotal { sum: 11, total: 10 })
    );
    assert_eq!(p.stats().failures(), 1);
}

#[test]
fn prepared_instance_refuses_bad_input() {
    let p = committed(&host(), "ep_zones");
    let mut inp = zones(3);
    inp.buckets[2].id = 1;
    let err = p.fresh_instance().unwrap().distribute(&inp).unwrap_err();
    assert_eq!(
        err.fault,
        Fault::BadInput(DistributeInputError::DuplicateId(1))
    );
    assert_eq!(p.stats().failures(), 1);
}
