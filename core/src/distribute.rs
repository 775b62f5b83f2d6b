//! The `distribute` policy hook: share N licenses over weighted, prioritised, capped buckets
//! (zones, tenants, organizations; SPEC §6).
//!
//! A [`DistributeInput`] holds the licenses to share (`total`), a `seed`, and the buckets, each
//! with an id, a weight (its configured share), a priority (1 is the highest; lower numbers come
//! first) and a cap (it never receives more). The native default is [`EpZonePolicy`], Avaya
//! Experience Portal's zone rounding; [`LargestRemainderPolicy`] is a vendor variant that rounds
//! differently. [`check_distribution`] is the host-side check every plugin output passes before
//! use, so no policy can hand out more than `total`, more than a cap, or licenses to an unknown
//! bucket.
//!
//! ## The rounding rules, exactly
//! Let `L = total`, `W = Σ weight` (as u64) and, for each bucket, `floor_i = ⌊L·w_i / W⌋`
//! (0 when `W = 0`).
//! 1. Each bucket first gets `min(floor_i, cap_i)`. Licenses a cap cuts off stay unused.
//! 2. The rounding remainder `R = L − Σ floor_i` (before caps; `R = 0` when `W = 0`) is handed
//!    out one license per bucket in a single pass over the *remainder order*, skipping buckets
//!    with weight 0 and buckets already at their cap. What is left after the pass stays unused.
//! 3. Tie keys: `key_i` is the i-th output (input order, i = 0, 1, …) of
//!    [`SplitMix64`](crate::seeded::SplitMix64) seeded with `seed`.
//! 4. Remainder order, [`Rounding::PriorityFirst`] (EP): by priority ascending, then `key`
//!    ascending, then input index ascending (a seeded random order among equal priorities).
//!    [`Rounding::LargestRemainder`]: by `(L·w_i) mod W` descending, then as PriorityFirst.
//!
//! Shares are returned in input order. Buckets with weight 0 always receive 0.
//!
//! ## How the receivers are found
//! Each eligible bucket (weight > 0, below its cap) receives at most one license in step 2, so
//! the receivers are the first `R` eligible buckets in the remainder order; their order among
//! themselves does not matter, so nothing is sorted. For [`Rounding::PriorityFirst`] with every
//! eligible priority below 64 (the same algorithm as the `ep_zones` plugin), the floors pass
//! counts the eligible buckets per priority; if there are at most `R`, each receives one.
//! Otherwise `p*` is the priority of the `R`-th eligible bucket: every eligible bucket of a
//! priority before `p*` receives one, and of priority `p*` the `need` buckets with the smallest
//! keys, found by a selection over `(key, index)` pairs by key (O(n)). This is exact because
//! the SplitMix64 outputs for one seed are pairwise distinct (the states `seed + i·γ` differ for
//! i < 2^64 since γ is odd, and the output mix is a bijection): the index never breaks a tie.
//! [`Rounding::LargestRemainder`], and PriorityFirst with an eligible priority of 64 or more,
//! select the first `R` of the `(rank, priority, key, index)` tuples instead.

use rustc_hash::{FxHashMap, FxHashSet};

use crate::seeded::SplitMix64;

/// Largest number of buckets a distribution may have.
pub const MAX_BUCKETS: usize = 65_536;

/// One bucket (zone, tenant, organization) that receives a share of the licenses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bucket {
    /// Caller's id for the bucket; unique within one input.
    pub id: u32,
    /// Its configured share (e.g. the licenses an administrator assigned to the zone).
    pub weight: u32,
    /// 1 is the highest priority; lower numbers receive the remainder first.
    pub priority: u32,
    /// Most licenses it may receive (`u32::MAX`: no cap).
    pub cap: u32,
}

/// What a `distribute` policy is asked to share.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DistributeInput {
    /// Licenses to share.
    pub total: u32,
    /// Seed for the random order among equal priorities (reproducible).
    pub seed: u64,
    /// The buckets, in the caller's order.
    pub buckets: Vec<Bucket>,
}

/// One bucket's share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Share {
    /// The bucket's id.
    pub id: u32,
    /// Licenses it receives.
    pub count: u32,
}

/// A policy's answer: one share per bucket, in input order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Distribution {
    /// Shares in the order of [`DistributeInput::buckets`].
    pub shares: Vec<Share>,
}

impl Distribution {
    /// Licenses handed out.
    pub fn sum(&self) -> u64 {
        self.shares.iter().map(|s| s.count as u64).sum()
    }

    /// The share of bucket `id` (0 if absent).
    pub fn get(&self, id: u32) -> u32 {
        self.shares
            .iter()
            .find(|s| s.id == id)
            .map_or(0, |s| s.count)
    }
}

/// The input itself is unusable (checked before any policy runs).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DistributeInputError {
    /// Two buckets share one id.
    #[error("bucket id {0} appears more than once")]
    DuplicateId(u32),
    /// More buckets than [`MAX_BUCKETS`].
    #[error("{0} buckets; at most {MAX_BUCKETS} are allowed")]
    TooManyBuckets(usize),
}

/// A policy's distribution broke the rules every policy must keep.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DistributionFault {
    /// It names a bucket that is not in the input.
    #[error("distribution names bucket {0}, which is not in the input")]
    UnknownBucket(u32),
    /// It names one bucket twice.
    #[error("distribution names bucket {0} more than once")]
    DuplicateBucket(u32),
    /// A share is negative.
    #[error("distribution gives bucket {id} a negative count {count}")]
    Negative {
        /// The bucket.
        id: u32,
        /// The count returned.
        count: i64,
    },
    /// A share is above the bucket's cap.
    #[error("distribution gives bucket {id} {count} licenses, above its cap of {cap}")]
    AboveCap {
        /// The bucket.
        id: u32,
        /// The count returned.
        count: i64,
        /// The bucket's cap.
        cap: u32,
    },
    /// The shares add up to more than the total.
    #[error("distribution hands out {sum} licenses, more than the {total} available")]
    AboveTotal {
        /// Sum of the shares.
        sum: u128,
        /// Licenses available.
        total: u32,
    },
}

/// How the rounding remainder is handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rounding {
    /// Avaya EP: by priority, seeded random order among equal priorities.
    PriorityFirst,
    /// Largest fractional part first, then as `PriorityFirst`.
    LargestRemainder,
}

/// The `distribute` policy hook. The native default is [`EpZonePolicy`]; the plugin host
/// provides wasm ones.
pub trait Distribute: Send + Sync {
    /// A name for messages and reports.
    fn name(&self) -> &str;
    /// Shares `input.total` over `input.buckets`.
    fn distribute(&self, input: &DistributeInput) -> Result<Distribution, String>;
}

/// The native default: Avaya EP zone rounding (SPEC §6), [`Rounding::PriorityFirst`].
#[derive(Clone, Copy, Debug, Default)]
pub struct EpZonePolicy;

impl Distribute for EpZonePolicy {
    fn name(&self) -> &str {
        "native:ep-zones"
    }
    fn distribute(&self, input: &DistributeInput) -> Result<Distribution, String> {
        distribute(input, Rounding::PriorityFirst).map_err(|e| e.to_string())
    }
}

/// A vendor variant: largest remainder first ([`Rounding::LargestRemainder`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct LargestRemainderPolicy;

impl Distribute for LargestRemainderPolicy {
    fn name(&self) -> &str {
        "native:largest-remainder"
    }
    fn distribute(&self, input: &DistributeInput) -> Result<Distribution, String> {
        distribute(input, Rounding::LargestRemainder).map_err(|e| e.to_string())
    }
}

/// Checks the input: unique ids, at most [`MAX_BUCKETS`] buckets.
pub fn validate_input(input: &DistributeInput) -> Result<(), DistributeInputError> {
    if input.buckets.len() > MAX_BUCKETS {
        return Err(DistributeInputError::TooManyBuckets(input.buckets.len()));
    }
    let mut seen = FxHashSet::with_capacity_and_hasher(input.buckets.len(), Default::default());
    for b in &input.buckets {
        if !seen.insert(b.id) {
            return Err(DistributeInputError::DuplicateId(b.id));
        }
    }
    Ok(())
}

/// The tie keys: the i-th SplitMix64 output for bucket i.
pub fn tie_keys(seed: u64, n: usize) -> Vec<u64> {
    let mut g = SplitMix64::new(seed);
    (0..n).map(|_| g.next()).collect()
}

/// Priorities below this are counted per priority in the floors pass, for the threshold
/// selection of [`Rounding::PriorityFirst`]; an eligible bucket with a larger priority sends the
/// input to the general selection.
const COUNTED: usize = 64;

/// SPEC §6 zone rounding as a pure function; see the module documentation for the exact rule.
pub fn distribute(
    input: &DistributeInput,
    rounding: Rounding,
) -> Result<Distribution, DistributeInputError> {
    validate_input(input)?;
    let b = &input.buckets;
    let total = input.total as u64;
    let sum_w: u64 = b.iter().map(|x| x.weight as u64).sum();
    if sum_w == 0 || total == 0 {
        let zero = |x: &Bucket| Share { id: x.id, count: 0 };
        return Ok(Distribution {
            shares: b.iter().map(zero).collect(),
        });
    }
    // Floors and caps; the eligible buckets (weight > 0, below the cap) counted per priority.
    let mut out: Vec<Share> = Vec::with_capacity(b.len());
    let mut per = [0u32; COUNTED];
    let mut wide = false;
    let mut floors: u64 = 0;
    for x in b {
        let fl = total * x.weight as u64 / sum_w;
        floors += fl;
        // fl <= total <= u32::MAX
        let count = (fl as u32).min(x.cap);
        if x.weight > 0 && count < x.cap {
            match per.get_mut(x.priority as usize) {
                Some(k) => *k += 1,
                None => wide = true,
            }
        }
        out.push(Share { id: x.id, count });
    }
    let remainder = (total - floors) as usize;
    if remainder > 0 {
        match rounding {
            Rounding::PriorityFirst if !wide => {
                by_threshold(b, &mut out, &per, remainder, input.seed)
            }
            _ => by_selection(b, &mut out, remainder, input.seed, rounding, total, sum_w),
        }
    }
    Ok(Distribution { shares: out })
}

/// [`Rounding::PriorityFirst`] when every eligible bucket's priority is below [`COUNTED`]
/// (`per[p]` eligible buckets of priority `p`): one license each to the first `remainder`
/// eligible buckets by `(priority, key)`, found from two thresholds.
fn by_threshold(
    b: &[Bucket],
    out: &mut [Share],
    per: &[u32; COUNTED],
    remainder: usize,
    seed: u64,
) {
    let eligible: usize = per.iter().map(|&k| k as usize).sum();
    if eligible <= remainder {
        // Everyone eligible receives one.
        give_one(b, out, u32::MAX);
        return;
    }
    // p*, the priority of the remainder-th eligible bucket, and the eligible buckets before it
    // (the loop stops at the latest at the last priority with eligible buckets, since
    // eligible > remainder).
    let (mut below, mut p) = (0usize, 0usize);
    while below + (per[p] as usize) < remainder {
        below += per[p] as usize;
        p += 1;
    }
    let (p_star, need, class_len) = (p as u32, remainder - below, per[p] as usize);
    if need == class_len {
        // The whole of priority p* receives one too.
        give_one(b, out, p_star);
        return;
    }
    // Priorities before p* receive one; priority p* is collected as (key, index) and its `need`
    // smallest keys receive one.
    let mut g = SplitMix64::new(seed);
    let mut class: Vec<(u64, u32)> = Vec::with_capacity(class_len);
    for (i, (s, x)) in out.iter_mut().zip(b).enumerate() {
        let key = g.next();
        if x.weight > 0 && s.count < x.cap {
            if x.priority < p_star {
                s.count += 1;
            } else if x.priority == p_star {
                class.push((key, i as u32));
            }
        }
    }
    // The keys are pairwise distinct, so the `need` smallest are well defined without the index.
    class.select_nth_unstable_by_key(need - 1, |e| e.0);
    for &(_, i) in &class[..need] {
        out[i as usize].count += 1;
    }
}

/// One license to every eligible bucket of priority `last` or before.
fn give_one(b: &[Bucket], out: &mut [Share], last: u32) {
    for (s, x) in out.iter_mut().zip(b) {
        if x.weight > 0 && s.count < x.cap && x.priority <= last {
            s.count += 1;
        }
    }
}

/// Any rounding and any priorities: one license each to the first `remainder` eligible buckets
/// by `(largest-remainder rank, priority, key, index)`, found by a selection over those tuples.
fn by_selection(
    b: &[Bucket],
    out: &mut [Share],
    remainder: usize,
    seed: u64,
    rounding: Rounding,
    total: u64,
    sum_w: u64,
) {
    let mut g = SplitMix64::new(seed);
    let mut eligible: Vec<(u64, u32, u64, u32)> = Vec::with_capacity(b.len());
    for (i, (s, x)) in out.iter().zip(b).enumerate() {
        let key = g.next();
        if x.weight > 0 && s.count < x.cap {
            // The rank is 0 for PriorityFirst and `u64::MAX - (L·w mod W)` for
            // LargestRemainder (larger fractions first).
            let rank = match rounding {
                Rounding::PriorityFirst => 0,
                Rounding::LargestRemainder => u64::MAX - total * x.weight as u64 % sum_w,
            };
            eligible.push((rank, x.priority, key, i as u32));
        }
    }
    if eligible.len() > remainder {
        eligible.select_nth_unstable(remainder - 1);
        eligible.truncate(remainder);
    }
    for &(_, _, _, i) in &eligible {
        out[i as usize].count += 1;
    }
}

fn shares(b: &[Bucket], counts: &[u32]) -> Distribution {
    Distribution {
        shares: b
            .iter()
            .zip(counts)
            .map(|(x, &count)| Share { id: x.id, count })
            .collect(),
    }
}

/// Host-side check of any policy's raw answer `(bucket id, count)`: every id is in the input
/// and named once, no count is negative or above its bucket's cap, and the sum is at most the
/// total. Buckets the answer does not name receive 0. Returns the shares in input order.
pub fn check_distribution(
    input: &DistributeInput,
    raw: &[(u32, i64)],
) -> Result<Distribution, DistributionFault> {
    check_shares(input, raw.iter().copied())
}

/// [`check_distribution`] over any sequence of raw answers, e.g. decoded lazily from a plugin's
/// memory without an intermediate vector. Same checks, same faults.
pub fn check_shares<I>(input: &DistributeInput, raw: I) -> Result<Distribution, DistributionFault>
where
    I: ExactSizeIterator<Item = (u32, i64)> + Clone,
{
    // Fast path, what the native policies and the seed plugins return: the answer names
    // every bucket once, in input order, and keeps every rule. One branch-free pass checks all
    // of that (an id in its place, `0 <= count <= cap` as one unsigned compare, the sum), then
    // the shares are collected.
    if raw.len() == input.buckets.len() {
        let mut ok = true;
        // When `ok` each count is at most u32::MAX, so the sum of fewer than 2^32 of them
        // cannot wrap; when not `ok` the sum is not used.
        let mut sum: u64 = 0;
        for (b, (id, count)) in input.buckets.iter().zip(raw.clone()) {
            ok &= (id == b.id) & ((count as u64) <= b.cap as u64);
            sum = sum.wrapping_add(count as u64);
        }
        if ok && sum <= input.total as u64 {
            return Ok(Distribution {
                shares: input
                    .buckets
                    .iter()
                    .zip(raw)
                    .map(|(b, (_, count))| Share {
                        id: b.id,
                        count: count as u32,
                    })
                    .collect(),
            });
        }
    }
    // Anything else, faults included, takes the general path, which names the first fault.
    check_any_order(input, raw)
}

/// The general path of [`check_shares`]: entries in any order, through an index by id; the
/// first broken rule in the answer's order is the fault, the sum is checked last.
fn check_any_order<I>(input: &DistributeInput, raw: I) -> Result<Distribution, DistributionFault>
where
    I: Iterator<Item = (u32, i64)>,
{
    let index: FxHashMap<u32, usize> = input
        .buckets
        .iter()
        .enumerate()
        .map(|(i, b)| (b.id, i))
        .collect();
    let mut counts: Vec<Option<u32>> = vec![None; input.buckets.len()];
    let mut sum: u128 = 0;
    for (id, count) in raw {
        let &i = index.get(&id).ok_or(DistributionFault::UnknownBucket(id))?;
        if counts[i].is_some() {
            return Err(DistributionFault::DuplicateBucket(id));
        }
        if count < 0 {
            return Err(DistributionFault::Negative { id, count });
        }
        let cap = input.buckets[i].cap;
        if count > cap as i64 {
            return Err(DistributionFault::AboveCap { id, count, cap });
        }
        counts[i] = Some(count as u32);
        sum += count as u128;
    }
    if sum > input.total as u128 {
        return Err(DistributionFault::AboveTotal {
            sum,
            total: input.total,
        });
    }
    let counts: Vec<u32> = counts.into_iter().map(|c| c.unwrap_or(0)).collect();
    Ok(shares(&input.buckets, &counts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bucket(id: u32, weight: u32, priority: u32, cap: u32) -> Bucket {
        Bucket {
            id,
            weight,
            priority,
            cap,
        }
    }

    fn input(total: u32, seed: u64, buckets: Vec<Bucket>) -> DistributeInput {
        DistributeInput {
            total,
            seed,
            buckets,
        }
    }

    fn counts(d: &Distribution) -> Vec<u32> {
        d.shares.iter().map(|s| s.count).collect()
    }

    #[test]
    fn proportional_cut_with_remainder_by_priority() {
        // Zones configured 50/30/20, system falls to 33: floors 16, 9, 6 = 31; the remainder 2
        // goes to priorities 1 then 2.
        let inp = input(
            33,
            7,
            vec![
                bucket(1, 50, 3, 50),
                bucket(2, 30, 1, 30),
                bucket(3, 20, 2, 20),
            ],
        );
        let d = distribute(&inp, Rounding::PriorityFirst).unwrap();
        assert_eq!(counts(&d), vec![16, 10, 7]);
        assert_eq!(d.sum(), 33);
    }

    #[test]
    fn largest_remainder_rounds_differently() {
        // 10 over weights 1, 1, 1, 7 (W = 10) at total 7: exact shares 0.7 ×3, 4.9.
        // floors 0,0,0,4 (R = 3). PriorityFirst: priorities 1,2,3 get one each → 1,1,1,4.
        // LargestRemainder: 4.9 has the largest fraction → 5, then 0.7s by priority → 1,1,0,5.
        let inp = input(
            7,
            1,
            vec![
                bucket(1, 1, 1, 10),
                bucket(2, 1, 2, 10),
                bucket(3, 1, 3, 10),
                bucket(4, 7, 4, 10),
            ],
        );
        assert_eq!(
            counts(&distribute(&inp, Rounding::PriorityFirst).unwrap()),
            vec![1, 1, 1, 4]
        );
        assert_eq!(
            counts(&distribute(&inp, Rounding::LargestRemainder).unwrap()),
            vec![1, 1, 0, 5]
        );
    }

    #[test]
    fn caps_are_respected_and_excess_stays_unused() {
        let inp = input(100, 0, vec![bucket(1, 1, 1, 10), bucket(2, 1, 1, 20)]);
        let d = distribute(&inp, Rounding::PriorityFirst).unwrap();
        assert_eq!(counts(&d), vec![10, 20]);
        assert_eq!(d.sum(), 30);
    }

    #[test]
    fn remainder_skips_capped_buckets() {
        // total 5 over weights 1,1 → floors 2,2, R = 1; priority 1 is capped at 2, so the
        // remainder goes to the other one.
        let inp = input(5, 0, vec![bucket(1, 1, 1, 2), bucket(2, 1, 2, 9)]);
        assert_eq!(
            counts(&distribute(&inp, Rounding::PriorityFirst).unwrap()),
            vec![2, 3]
        );
    }

    #[test]
    fn zero_licenses_zero_weights_and_no_buckets() {
        let z = input(0, 0, vec![bucket(1, 5, 1, 9)]);
        assert_eq!(
            counts(&distribute(&z, Rounding::PriorityFirst).unwrap()),
            vec![0]
        );
        let w = input(10, 0, vec![bucket(1, 0, 1, 9), bucket(2, 0, 1, 9)]);
        assert_eq!(
            counts(&distribute(&w, Rounding::PriorityFirst).unwrap()),
            vec![0, 0]
        );
        let e = input(10, 0, vec![]);
        assert!(distribute(&e, Rounding::PriorityFirst)
            .unwrap()
            .shares
            .is_empty());
        // A zero-weight bucket gets nothing, not even remainder.
        let m = input(3, 0, vec![bucket(1, 0, 1, 9), bucket(2, 2, 2, 9)]);
        assert_eq!(
            counts(&distribute(&m, Rounding::PriorityFirst).unwrap()),
            vec![0, 3]
        );
    }

    #[test]
    fn ties_are_random_but_reproducible_from_the_seed() {
        let mk = |seed| input(1, seed, (1..=8).map(|i| bucket(i, 1, 1, 9)).collect());
        let winner = |seed| {
            distribute(&mk(seed), Rounding::PriorityFirst)
                .unwrap()
                .shares
                .iter()
                .find(|s| s.count == 1)
                .unwrap()
                .id
        };
        assert_eq!(winner(42), winner(42));
        let winners: std::collections::HashSet<u32> = (0..64).map(winner).collect();
        assert!(
            winners.len() > 4,
            "seeds pick different winners: {winners:?}"
        );
        // The winner is the bucket with the smallest tie key.
        let keys = tie_keys(42, 8);
        let min = (0..8).min_by_key(|&i| keys[i]).unwrap();
        assert_eq!(winner(42), min as u32 + 1);
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let inp = input(3, 0, vec![bucket(1, 1, 1, 9), bucket(1, 1, 1, 9)]);
        assert_eq!(
            distribute(&inp, Rounding::PriorityFirst),
            Err(DistributeInputError::DuplicateId(1))
        );
    }

    #[test]
    fn validator_catches_every_fault() {
        let inp = input(10, 0, vec![bucket(1, 1, 1, 6), bucket(2, 1, 1, 6)]);
        assert_eq!(
            check_distribution(&inp, &[(3, 1)]),
            Err(DistributionFault::UnknownBucket(3))
        );
        assert_eq!(
            check_distribution(&inp, &[(1, 1), (1, 1)]),
            Err(DistributionFault::DuplicateBucket(1))
        );
        assert_eq!(
            check_distribution(&inp, &[(1, -1)]),
            Err(DistributionFault::Negative { id: 1, count: -1 })
        );
        assert_eq!(
            check_distribution(&inp, &[(1, 7)]),
            Err(DistributionFault::AboveCap {
                id: 1,
                count: 7,
                cap: 6
            })
        );
        assert_eq!(
            check_distribution(&inp, &[(1, 6), (2, 5)]),
            Err(DistributionFault::AboveTotal { sum: 11, total: 10 })
        );
        let ok = check_distribution(&inp, &[(2, 4)]).unwrap();
        assert_eq!(counts(&ok), vec![0, 4]);
        // The same checks when the answer lists every bucket in input order.
        assert_eq!(
            check_distribution(&inp, &[(1, -1), (2, 0)]),
            Err(DistributionFault::Negative { id: 1, count: -1 })
        );
        assert_eq!(
            check_distribution(&inp, &[(1, 0), (2, 7)]),
            Err(DistributionFault::AboveCap {
                id: 2,
                count: 7,
                cap: 6
            })
        );
        assert_eq!(
            check_distribution(&inp, &[(1, 6), (2, 5)]),
            Err(DistributionFault::AboveTotal { sum: 11, total: 10 })
        );
        assert_eq!(
            counts(&check_distribution(&inp, &[(1, 6), (2, 4)]).unwrap()),
            vec![6, 4]
        );
        // Out of order takes the general path.
        assert_eq!(
            counts(&check_distribution(&inp, &[(2, 4), (1, 6)]).unwrap()),
            vec![6, 4]
        );
        // In order at first, then a duplicate, an unknown id or an extra entry: the general
        // path decides, with the same faults.
        assert_eq!(
            check_distribution(&inp, &[(1, 1), (1, 1)]),
            Err(DistributionFault::DuplicateBucket(1))
        );
        assert_eq!(
            check_distribution(&inp, &[(1, 1), (2, 1), (3, 0)]),
            Err(DistributionFault::UnknownBucket(3))
        );
        assert_eq!(
            check_distribution(&inp, &[(1, 1), (2, 1), (2, 0)]),
            Err(DistributionFault::DuplicateBucket(2))
        );
        // A lazily decoded answer is checked the same way.
        assert_eq!(
            check_shares(&inp, [(1, 6), (2, 5)].into_iter()),
            Err(DistributionFault::AboveTotal { sum: 11, total: 10 })
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// Answers that list every bucket in order (the fast path), with counts around 0 and
        /// the caps (u32::MAX and beyond included), sometimes one id changed or one entry
        /// dropped or repeated: the fast paths agree with the general path (whose faults the
        /// unit test above pins down), fault for fault.
        #[test]
        fn fast_paths_equal_the_general_path(
            inp in arb_input(),
            deltas in proptest::collection::vec(
                prop_oneof![-2i64..3, Just(i64::MIN), Just(u32::MAX as i64 + 1)], 12),
            from_cap in proptest::collection::vec(any::<bool>(), 12),
            edit in 0usize..40,
            retotal in 0i64..4,
        ) {
            let mut inp = inp;
            let mut raw: Vec<(u32, i64)> = inp
                .buckets
                .iter()
                .zip(deltas.iter().zip(&from_cap))
                .map(|(b, (&d, &c))| {
                    let base = if c && b.cap != u32::MAX { b.cap as i64 } else { 0 };
                    (b.id, base.saturating_add(d))
                })
                .collect();
            match (edit % 4, raw.len()) {
                (_, 0) | (0, _) => {}
                (1, n) => raw[edit % n].0 = 2,        // an id not in the input (ids are 3k+1)
                (2, n) => { raw.remove(edit % n); }
                (_, n) => raw.push(raw[edit % n]),
            }
            // Often the total sits right at the answer's sum (one below, equal, one above).
            if retotal > 0 {
                let sum: i64 = raw.iter().map(|r| r.1.clamp(0, u32::MAX as i64)).sum();
                if let Ok(t) = u32::try_from(sum + retotal - 2) {
                    inp.total = t;
                }
            }
            prop_assert_eq!(
                check_distribution(&inp, &raw),
                check_any_order(&inp, raw.iter().copied())
            );
        }
    }

    fn arb_input() -> impl Strategy<Value = DistributeInput> {
        // Mostly EP's small priorities (the threshold selection), some around and above 64 (the
        // general selection).
        let one = (
            0u32..50,
            prop_oneof![8 => 1u32..4, 1 => 62u32..66, 1 => Just(u32::MAX)],
            prop_oneof![0u32..60, Just(u32::MAX)],
        );
        (
            prop_oneof![Just(0u32), 0u32..200, Just(u32::MAX)],
            any::<u64>(),
            proptest::collection::vec(one, 0..12),
        )
            .prop_map(|(total, seed, bs)| DistributeInput {
                total,
                seed,
                buckets: bs
                    .into_iter()
                    .enumerate()
                    .map(|(i, (w, p, c))| bucket(i as u32 * 3 + 1, w, p, c))
                    .collect(),
            })
    }

    /// Larger inputs (up to 300 buckets, or exactly one), each with its priorities drawn from one
    /// small set, some of them reaching 64 and beyond (the general selection); totals a share
    /// of the weights (large remainders, only some eligible buckets receiving one), a few, 0 or
    /// `u32::MAX`; caps and zero weights that make buckets ineligible.
    fn arb_large_input() -> impl Strategy<Value = DistributeInput> {
        let one = (
            prop_oneof![8 => 0u32..50, 2 => Just(0u32), 1 => 0u32..1_000_000, 1 => Just(u32::MAX)],
            any::<usize>(),
            prop_oneof![3 => Just(u32::MAX), 3 => 0u32..40, 1 => Just(0u32)],
        );
        let palette: [Vec<u32>; 8] = [
            vec![1],
            vec![1, 2, 3],
            vec![0, 1, 2, 3, 4, 5],
            vec![1, 2, 4, 8, 16],
            (0..64).collect(),
            vec![1, 2, 63],
            vec![1, 2, 64],
            vec![3, 63, 64, 1_000, u32::MAX],
        ];
        (
            prop_oneof![
                6 => (0u64..=120).prop_map(Total::Percent),
                1 => (0u32..20).prop_map(Total::Exactly),
                1 => Just(Total::Exactly(u32::MAX)),
            ],
            any::<u64>(),
            prop_oneof![
                1 => proptest::collection::vec(one.clone(), 1..=1),
                6 => proptest::collection::vec(one, 0..300),
            ],
            proptest::sample::select(palette.to_vec()),
        )
            .prop_map(|(total, seed, bs, priorities)| {
                let buckets: Vec<Bucket> = bs
                    .into_iter()
                    .enumerate()
                    .map(|(i, (w, p, c))| {
                        bucket(i as u32 * 5 + 2, w, priorities[p % priorities.len()], c)
                    })
                    .collect();
                let sum: u64 = buckets.iter().map(|x| x.weight as u64).sum();
                let total = match total {
                    Total::Percent(pct) => (sum * pct / 100).min(u32::MAX as u64) as u32,
                    Total::Exactly(t) => t,
                };
                input(total, seed, buckets)
            })
    }

    /// How [`arb_large_input`] picks the total.
    #[derive(Clone, Copy, Debug)]
    enum Total {
        Percent(u64),
        Exactly(u32),
    }

    /// Which selection `distribute(_, PriorityFirst)` needs for an input, worked out from the
    /// rule (not from the implementation), to check that the strategies reach every one.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    enum Path {
        /// No remainder to hand out (or nothing to share).
        NoRemainder,
        /// An eligible priority of 64 or more: the tuple selection.
        General,
        /// The remainder covers every eligible bucket.
        AllEligible,
        /// `p*` is the first priority with eligible buckets, which only partly receive one.
        FirstPriority,
        /// `p*` is a later priority, which only partly receives one.
        LaterPriority,
        /// The remainder ends exactly with the last bucket of priority `p*` (`need` == its size).
        WholeClass,
    }

    fn path(inp: &DistributeInput) -> Path {
        let b = &inp.buckets;
        let total = inp.total as u64;
        let w: u64 = b.iter().map(|x| x.weight as u64).sum();
        if w == 0 || total == 0 {
            return Path::NoRemainder;
        }
        let floors: u64 = b.iter().map(|x| total * x.weight as u64 / w).sum();
        let remainder = total - floors;
        if remainder == 0 {
            return Path::NoRemainder;
        }
        let mut eligible: Vec<u32> = b
            .iter()
            .filter(|x| {
                let got = ((total * x.weight as u64 / w) as u32).min(x.cap);
                x.weight > 0 && got < x.cap
            })
            .map(|x| x.priority)
            .collect();
        if eligible.iter().any(|&p| p >= 64) {
            return Path::General;
        }
        if eligible.len() as u64 <= remainder {
            return Path::AllEligible;
        }
        eligible.sort_unstable();
        let p_star = eligible[remainder as usize - 1];
        if eligible.get(remainder as usize) != Some(&p_star) {
            Path::WholeClass
        } else if p_star == eligible[0] {
            Path::FirstPriority
        } else {
            Path::LaterPriority
        }
    }

    #[test]
    fn the_strategies_reach_every_selection_path() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let mut runner = TestRunner::deterministic();
        let mut seen: std::collections::HashMap<(bool, Path), usize> = Default::default();
        for _ in 0..2_000 {
            let small = arb_input().new_tree(&mut runner).unwrap().current();
            *seen.entry((false, path(&small))).or_default() += 1;
            let large = arb_large_input().new_tree(&mut runner).unwrap().current();
            *seen.entry((true, path(&large))).or_default() += 1;
        }
        for large in [false, true] {
            for p in [
                Path::NoRemainder,
                Path::General,
                Path::AllEligible,
                Path::FirstPriority,
                Path::LaterPriority,
                Path::WholeClass,
            ] {
                let n = seen.get(&(large, p)).copied().unwrap_or(0);
                assert!(n >= 20, "large={large} {p:?}: {n} of 2000 inputs; {seen:?}");
            }
        }
    }

    /// `distribute` and [`reference`] agree, for both roundings; returns the PriorityFirst counts.
    fn checked(inp: &DistributeInput) -> Vec<u32> {
        for r in [Rounding::PriorityFirst, Rounding::LargestRemainder] {
            assert_eq!(
                counts(&distribute(inp, r).unwrap()),
                reference(inp, r),
                "{r:?}"
            );
        }
        counts(&distribute(inp, Rounding::PriorityFirst).unwrap())
    }

    /// The indices among `of` with the `need` smallest tie keys for `seed` over `n` buckets.
    fn smallest_keys(seed: u64, n: usize, of: &[usize], need: usize) -> Vec<usize> {
        let keys = tie_keys(seed, n);
        let mut v = of.to_vec();
        v.sort_by_key(|&i| keys[i]);
        v.truncate(need);
        v.sort_unstable();
        v
    }

    /// Weight-1 buckets (ids 1..), so with `total` below their number every floor is 0 and the
    /// remainder is `total`.
    fn unit_buckets(priorities: &[u32], caps: &[u32]) -> Vec<Bucket> {
        priorities
            .iter()
            .zip(caps)
            .enumerate()
            .map(|(i, (&p, &c))| bucket(i as u32 + 1, 1, p, c))
            .collect()
    }

    #[test]
    fn remainder_covers_every_eligible_bucket() {
        // W = 4 (the zero-weight bucket adds nothing), floors 0; eligible: buckets 3 and 4
        // (bucket 1 and 5 are capped at 0, bucket 2 has weight 0).
        let mut bs = unit_buckets(&[1, 1, 2, 1, 3], &[0, 9, 9, 9, 0]);
        bs[1].weight = 0;
        // R = 3 > 2 eligible: each receives one, the third stays unused.
        let d = distribute(&input(3, 5, bs.clone()), Rounding::PriorityFirst).unwrap();
        assert_eq!(counts(&d), vec![0, 0, 1, 1, 0]);
        assert_eq!(d.sum(), 2);
        assert_eq!(checked(&input(3, 5, bs.clone())), vec![0, 0, 1, 1, 0]);
        // R = 2 = eligible.
        assert_eq!(checked(&input(2, 5, bs)), vec![0, 0, 1, 1, 0]);
        // One zone takes the whole total, whatever its priority.
        for p in [0, 1, 63, 64, u32::MAX] {
            assert_eq!(checked(&input(7, 1, vec![bucket(9, 3, p, 100)])), vec![7]);
        }
    }

    #[test]
    fn threshold_in_the_first_priority() {
        // R = 2 among four eligible buckets of priority 1: the two smallest keys win; priority 2
        // gets nothing.
        let pr = [2, 1, 1, 2, 1, 2, 1];
        for seed in 0..50 {
            let got = checked(&input(2, seed, unit_buckets(&pr, &[9; 7])));
            let mut want = vec![0; 7];
            for i in smallest_keys(seed, 7, &[1, 2, 4, 6], 2) {
                want[i] = 1;
            }
            assert_eq!(got, want, "seed {seed}");
        }
        // The same with priority 0, the first counted priority.
        let pr = [1, 0, 0, 1, 0];
        for seed in 0..50 {
            let got = checked(&input(1, seed, unit_buckets(&pr, &[9; 5])));
            let mut want = vec![0; 5];
            for i in smallest_keys(seed, 5, &[1, 2, 4], 1) {
                want[i] = 1;
            }
            assert_eq!(got, want, "seed {seed}");
        }
    }

    /// Priorities 1 (two eligible, one at weight 0), 2 (one eligible, one capped at 0),
    /// 3 (four), none of 4, 5 (two); weight 1 each otherwise, so the remainder is the total.
    fn tiers() -> Vec<Bucket> {
        let pr = [3, 1, 5, 2, 3, 1, 3, 2, 5, 3, 1];
        let caps = [9, 9, 9, 0, 9, 9, 9, 9, 9, 9, 9];
        let mut bs = unit_buckets(&pr, &caps);
        bs[10].weight = 0;
        bs
    }

    #[test]
    fn threshold_in_a_later_priority() {
        let (prio1_2, prio3, prio5) = ([1, 5, 7], [0, 4, 6, 9], [2, 8]);
        for seed in 0..50 {
            // R = 5: priorities 1 and 2 (3 buckets), then 2 of the 4 of priority 3.
            let got = checked(&input(5, seed, tiers()));
            let mut want = vec![0; 11];
            for i in prio1_2 {
                want[i] = 1;
            }
            for i in smallest_keys(seed, 11, &prio3, 2) {
                want[i] = 1;
            }
            assert_eq!(got, want, "seed {seed}");
            // R = 8: all of 1, 2 and 3 (7 buckets), the empty priority 4 passed, 1 of the 2
            // of priority 5.
            let got = checked(&input(8, seed, tiers()));
            let mut want = vec![0; 11];
            for i in prio1_2.iter().chain(&prio3) {
                want[*i] = 1;
            }
            for i in smallest_keys(seed, 11, &prio5, 1) {
                want[i] = 1;
            }
            assert_eq!(got, want, "seed {seed}");
        }
    }

    #[test]
    fn threshold_takes_a_whole_priority() {
        // R = 7 ends exactly with the last of priority 3: priorities 1, 2, 3 all receive one,
        // priority 5 nothing; R = 3 ends with priority 2.
        for seed in 0..20 {
            assert_eq!(
                checked(&input(7, seed, tiers())),
                vec![1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 0]
            );
            assert_eq!(
                checked(&input(3, seed, tiers())),
                vec![0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0]
            );
        }
    }

    #[test]
    fn priorities_of_64_and_more_take_the_general_path() {
        // Two of priority 1 and one of 100, R = 2: the priority-1 buckets.
        let bs = unit_buckets(&[100, 1, 1], &[9; 3]);
        assert_eq!(checked(&input(2, 3, bs)), vec![0, 1, 1]);
        // 64 before 100 before 200 before u32::MAX.
        let bs = unit_buckets(&[200, u32::MAX, 64, 100], &[9; 4]);
        assert_eq!(checked(&input(1, 3, bs.clone())), vec![0, 0, 1, 0]);
        assert_eq!(checked(&input(2, 3, bs.clone())), vec![0, 0, 1, 1]);
        assert_eq!(checked(&input(3, 3, bs)), vec![1, 0, 1, 1]);
        // 63 (counted) and 64 (not) in one input, R = 3: both of 63, then the smaller key of 64.
        let pr = [64, 63, 64, 63, u32::MAX];
        for seed in 0..50 {
            let got = checked(&input(3, seed, unit_buckets(&pr, &[9; 5])));
            let mut want = vec![0, 1, 0, 1, 0];
            for i in smallest_keys(seed, 5, &[0, 2], 1) {
                want[i] = 1;
            }
            assert_eq!(got, want, "seed {seed}");
        }
    }

    /// The rule as the SPEC words it: one license at a time along the full remainder order.
    fn reference(input: &DistributeInput, rounding: Rounding) -> Vec<u32> {
        let b = &input.buckets;
        let total = input.total as u64;
        let w: u64 = b.iter().map(|x| x.weight as u64).sum();
        if w == 0 || total == 0 {
            return vec![0; b.len()];
        }
        let keys = tie_keys(input.seed, b.len());
        let mut counts: Vec<u32> = b
            .iter()
            .map(|x| ((total * x.weight as u64 / w) as u32).min(x.cap))
            .collect();
        let floors: u64 = b.iter().map(|x| total * x.weight as u64 / w).sum();
        let mut remainder = total - floors;
        let mut order: Vec<usize> = (0..b.len()).filter(|&i| b[i].weight > 0).collect();
        order.sort_by(|&i, &j| {
            let fi = total * b[i].weight as u64 % w;
            let fj = total * b[j].weight as u64 % w;
            let by_frac = match rounding {
                Rounding::PriorityFirst => std::cmp::Ordering::Equal,
                Rounding::LargestRemainder => fj.cmp(&fi),
            };
            by_frac
                .then(b[i].priority.cmp(&b[j].priority))
                .then(keys[i].cmp(&keys[j]))
                .then(i.cmp(&j))
        });
        for i in order {
            if remainder == 0 {
                break;
            }
            if counts[i] < b[i].cap {
                counts[i] += 1;
                remainder -= 1;
            }
        }
        counts
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn selection_equals_the_one_at_a_time_rule(inp in arb_input()) {
            for r in [Rounding::PriorityFirst, Rounding::LargestRemainder] {
                prop_assert_eq!(counts(&distribute(&inp, r).unwrap()), reference(&inp, r));
            }
        }

        #[test]
        fn selection_equals_the_one_at_a_time_rule_on_large_inputs(inp in arb_large_input()) {
            for r in [Rounding::PriorityFirst, Rounding::LargestRemainder] {
                prop_assert_eq!(counts(&distribute(&inp, r).unwrap()), reference(&inp, r));
            }
        }

        #[test]
        fn native_results_always_pass_the_validator(inp in arb_input()) {
            for r in [Rounding::PriorityFirst, Rounding::LargestRemainder] {
                let d = distribute(&inp, r).unwrap();
                let raw: Vec<(u32, i64)> = d.shares.iter().map(|s| (s.id, s.count as i64)).collect();
                prop_assert_eq!(check_distribution(&inp, &raw).unwrap(), d.clone());
                // Without caps every license is handed out when any weight is positive.
                let uncapped = inp.buckets.iter().all(|b| b.cap == u32::MAX);
                let any_weight = inp.buckets.iter().any(|b| b.weight > 0);
                if uncapped && any_weight {
                    prop_assert_eq!(d.sum(), inp.total as u64);
                }
                // Nobody receives more than one license above its exact proportional share.
                let w: u64 = inp.buckets.iter().map(|b| b.weight as u64).sum();
                for (b, s) in inp.buckets.iter().zip(&d.shares) {
                    if let Some(exact) = (inp.total as u64 * b.weight as u64).checked_div(w) {
                        prop_assert!(s.count as u64 <= exact + 1);
                    }
                }
            }
        }
    }
}
