//! EP zone rounding (Avaya Experience Portal, SPEC §6) as a weblm `distribute` plugin.
//!
//! Mirrors `weblm_core::distribute::EpZonePolicy` exactly: each bucket gets
//! `min(floor(L*w/W), cap)`; the rounding remainder `L - sum(floor)` goes one license per bucket
//! in priority order (1 first), ties in the seeded random order (SplitMix64 keys), skipping
//! zero-weight and capped buckets; what is left stays unused. Since each bucket gets at most
//! one, the receivers are the first `remainder` eligible buckets in that order: a selection
//! (`select_nth_unstable`, O(n)) finds them without sorting.

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
        let remainder = (total - floors) as usize;
        if remainder > 0 {
            // Eligible for one more license: weight > 0 and below the cap. They are ordered by
            // (priority, SplitMix64 key, index) and the first `remainder` get one each; only
            // that set matters, so a selection replaces a full sort.
            let mut g = SplitMix64::new(input.seed);
            let mut eligible: Vec<(u32, u64, u32)> = Vec::with_capacity(b.len());
            for (i, x) in b.iter().enumerate() {
                let key = g.next();
                if x.weight > 0 && counts[i] < x.cap as u64 {
                    eligible.push((x.priority, key, i as u32));
                }
            }
            if eligible.len() > remainder {
                eligible.select_nth_unstable(remainder - 1);
                eligible.truncate(remainder);
            }
            for &(_, _, i) in &eligible {
                counts[i as usize] += 1;
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
