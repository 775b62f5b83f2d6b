//! EP zone rounding (Avaya Experience Portal, SPEC §6) as a weblm `distribute` plugin.
//!
//! Mirrors `weblm_core::distribute::EpZonePolicy` exactly: each bucket gets
//! `min(floor(L*w/W), cap)`; the rounding remainder `R = L - sum(floor)` goes one license per
//! bucket in priority order (1 first), ties in the seeded random order (SplitMix64 keys, then
//! the index), skipping zero-weight and capped buckets; what is left stays unused.
//!
//! Each eligible bucket gets at most one, so the receivers are the first `R` eligible buckets in
//! that order. Instead of sorting or selecting `(priority, key, index)` tuples, the plugin finds
//! two thresholds:
//! 1. `p*`, the priority of the R-th eligible bucket, from a count of eligible buckets per
//!    priority taken in the same pass as the floors; every eligible bucket of a priority before
//!    `p*` receives one;
//! 2. among priority `p*`, the `need` smallest keys: a selection over those keys alone (u64).
//!
//! SplitMix64's outputs for one seed are pairwise distinct (the states `seed + i·γ` are distinct
//! for i < 2^64 since γ is odd, and the output mix is a bijection), so the index never breaks a
//! tie and "key ≤ the need-th smallest key" picks exactly `need` buckets. Inputs with a priority
//! of [`COUNTED`] or more take the general path: a selection over `(priority, key, index)`.
//!
//! The input is read in place and the counts are written over it (`distribute_counts` in the
//! kit): no decoding, no output buffer.

use weblm_plugin_kit::*;

/// Priorities below this are counted in an array; any eligible bucket with a larger priority
/// sends the input to the general path.
pub const COUNTED: usize = 64;

/// `⌊a / b⌋` for `b ≤ u32::MAX` (`narrow`), with the 32-bit division when `a` fits in 32 bits:
/// wasm compilers emit a full 64-bit divide for `u64 / u64`, several times slower.
#[inline(always)]
fn div(a: u64, b: u64, narrow: bool) -> u64 {
    if narrow && a <= u32::MAX as u64 {
        (a as u32 / b as u32) as u64
    } else {
        a / b
    }
}

/// The policy.
pub fn ep_zones(input: &DistributeRecords, counts: &mut [u32]) -> Result<(), i64> {
    let total = input.total() as u64;
    let sum_w: u64 = input.buckets().map(|x| x.weight as u64).sum();
    if sum_w == 0 || total == 0 {
        return Ok(());
    }
    let narrow = sum_w <= u32::MAX as u64;
    // Floors and caps; the eligible buckets (weight > 0, below the cap) counted per priority.
    let mut per = [0u32; COUNTED];
    let mut wide = false;
    let mut floors = 0u64;
    for (c, x) in counts.iter_mut().zip(input.buckets()) {
        let fl = div(total * x.weight as u64, sum_w, narrow);
        floors += fl;
        // fl <= total <= u32::MAX
        let got = (fl as u32).min(x.cap);
        *c = got;
        if x.weight > 0 && got < x.cap {
            match per.get_mut(x.priority as usize) {
                Some(k) => *k += 1,
                None => wide = true,
            }
        }
    }
    let remainder = (total - floors) as usize;
    if remainder == 0 {
        return Ok(());
    }
    if wide {
        general(input, counts, remainder);
        return Ok(());
    }
    let eligible: usize = per.iter().map(|&k| k as usize).sum();
    if eligible <= remainder {
        // Everyone eligible receives one.
        for (c, x) in counts.iter_mut().zip(input.buckets()) {
            if x.weight > 0 && *c < x.cap {
                *c += 1;
            }
        }
        return Ok(());
    }
    // p* and the eligible buckets before it.
    let mut below = 0usize;
    let mut p_star = 0usize;
    while below + per[p_star] as usize <= remainder - 1 {
        below += per[p_star] as usize;
        p_star += 1;
    }
    let p_star = p_star as u32;
    let need = remainder - below;
    let class_len = per[p_star as usize] as usize;
    // Priorities before p* receive one; priority p* is collected (key, index).
    let mut g = SplitMix64::new(input.seed());
    let mut keys: Vec<u64> = Vec::with_capacity(class_len);
    let mut at: Vec<u32> = Vec::with_capacity(class_len);
    for (i, (c, x)) in counts.iter_mut().zip(input.buckets()).enumerate() {
        let key = g.next();
        if x.weight > 0 && *c < x.cap {
            if x.priority < p_star {
                *c += 1;
            } else if x.priority == p_star {
                keys.push(key);
                at.push(i as u32);
            }
        }
    }
    let k_star = if need < keys.len() {
        let mut sel = keys.clone();
        *sel.select_nth_unstable(need - 1).1
    } else {
        u64::MAX
    };
    for (&k, &i) in keys.iter().zip(&at) {
        if k <= k_star {
            counts[i as usize] += 1;
        }
    }
    Ok(())
}

/// Any priorities: the first `remainder` eligible buckets by `(priority, key, index)`, found by
/// a selection.
fn general(input: &DistributeRecords, counts: &mut [u32], remainder: usize) {
    let mut g = SplitMix64::new(input.seed());
    let mut eligible: Vec<(u32, u64, u32)> = Vec::with_capacity(counts.len());
    for (i, (x, &c)) in input.buckets().zip(counts.iter()).enumerate() {
        let key = g.next();
        if x.weight > 0 && c < x.cap {
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

weblm_plugin! { distribute_counts => ep_zones }
