//! EP zone rounding (Avaya Experience Portal, SPEC §6) as a weblm `distribute` plugin.
//!
//! Mirrors `weblm_core::distribute::EpZonePolicy` exactly: each bucket gets
//! `min(floor(L*w/W), cap)`; the rounding remainder `L - sum(floor)` goes one license per bucket
//! in priority order (1 first), ties in the seeded random order (SplitMix64 keys), skipping
//! zero-weight and capped buckets; what is left stays unused.

use weblm_plugin_kit::*;

/// The policy.
pub fn ep_zones(input: &DistributeInput) -> Result<Vec<Share>, i64> {
    let b = &input.buckets;
    let total = input.total as u64;
    let sum_w: u64 = b.iter().map(|x| x.weight as u64).sum();
    let mut counts = vec![0u64; b.len()];
    if sum_w > 0 && total > 0 {
        let mut floors = 0u64;
        for (i, x) in b.iter().enumerate() {
            let fl = total * x.weight as u64 / sum_w;
            floors += fl;
            counts[i] = fl.min(x.cap as u64);
        }
        let mut remainder = total - floors;
        if remainder > 0 {
            let mut g = SplitMix64::new(input.seed);
            let keys: Vec<u64> = b.iter().map(|_| g.next()).collect();
            let mut order: Vec<usize> = (0..b.len()).filter(|&i| b[i].weight > 0).collect();
            order.sort_unstable_by_key(|&i| (b[i].priority, keys[i], i));
            for i in order {
                if remainder == 0 {
                    break;
                }
                if counts[i] < b[i].cap as u64 {
                    counts[i] += 1;
                    remainder -= 1;
                }
            }
        }
    }
    Ok(b.iter()
        .zip(counts)
        .map(|(x, c)| Share {
            id: x.id,
            count: c as i64,
        })
        .collect())
}

weblm_plugin! { distribute => ep_zones }
