//! # weblm-plugin-kit
//!
//! Everything a Rust weblm policy plugin needs (ABI 1.0, `plugins/ABI.md`): the decoded input
//! types of the three hooks, the output types, the seeded [`SplitMix64`] generator, and the
//! [`weblm_plugin!`] macro that writes the exports (`weblm_abi_version`, `weblm_hooks`,
//! `weblm_alloc` and one function per hook).
//!
//! ```ignore
//! use weblm_plugin_kit::*;
//! fn my_rounding(input: &DistributeInput) -> Result<Vec<Share>, i64> { /* ... */ }
//! weblm_plugin! { distribute => my_rounding }
//! ```
//!
//! For large inputs, `distribute_counts => f` with `f(&DistributeRecords, &mut [u32])` reads
//! the buckets in place and writes the counts over the input (see [`run_distribute_counts`]).
//! Plugin crates should be `crate-type = ["cdylib"]` only: with an `rlib` as well, cargo does not
//! apply the release profile's `lto`, and the kit's small functions are then not inlined.
//!
//! Builds with Rust 1.63 (Debian's wasm32 toolchain). Plugins are pure: no clock (use `now`),
//! no randomness except [`SplitMix64`] seeded from the input.

/// `weblm_abi_version()`: major 1, minor 0.
pub const ABI_VERSION: i32 = 1 << 16;
/// Hook bit of `resolve_codes`.
pub const HOOK_RESOLVE_CODES: i32 = 1;
/// Hook bit of `distribute`.
pub const HOOK_DISTRIBUTE: i32 = 2;
/// Hook bit of `compliance`.
pub const HOOK_COMPLIANCE: i32 = 4;
/// `ends` value of a code that never ends.
pub const NO_END: i64 = i64::MAX;
/// Error a hook function returns for input it cannot decode.
pub const ERR_BAD_INPUT: i64 = 1;

/// SplitMix64, exactly as the host's (`weblm_core::seeded`).
#[derive(Clone, Copy, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    #[inline]
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }
    /// The next output.
    #[allow(clippy::should_implement_trait)]
    #[inline]
    pub fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// One bucket of a `distribute` input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// Caller's id.
    pub id: u32,
    /// Configured share.
    pub weight: u32,
    /// 1 is the highest.
    pub priority: u32,
    /// Most it may receive.
    pub cap: u32,
}

/// A `distribute` input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DistributeInput {
    /// Licenses to share.
    pub total: u32,
    /// Seed for random choices.
    pub seed: u64,
    /// Buckets in the caller's order.
    pub buckets: Vec<Bucket>,
}

/// One entry of a `distribute` output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    /// Bucket id.
    pub id: u32,
    /// Licenses it receives.
    pub count: i64,
}

/// Code kinds as numbered in the ABI.
pub mod kind {
    /// Additive.
    pub const ADDITIVE: u32 = 0;
    /// Exclusive.
    pub const EXCLUSIVE: u32 = 1;
    /// Aggregate.
    pub const AGGREGATE: u32 = 2;
}

/// Code terms as numbered in the ABI.
pub mod term {
    /// Permanent.
    pub const PERMANENT: u32 = 0;
    /// Trial.
    pub const TRIAL: u32 = 1;
    /// Until a date.
    pub const UNTIL: u32 = 2;
}

/// Decision reasons as numbered in the ABI.
pub mod reason {
    /// Counted: the last exclusive code.
    pub const COUNTED_LAST_EXCLUSIVE: u32 = 0;
    /// Counted: additive.
    pub const COUNTED_ADDITIVE: u32 = 1;
    /// Counted: aggregate.
    pub const COUNTED_AGGREGATE: u32 = 2;
    /// Not started (`at` = start).
    pub const NOT_YET_STARTED: u32 = 3;
    /// Expired (`at` = end).
    pub const EXPIRED: u32 = 4;
    /// Overridden by exclusive code `by`.
    pub const OVERRIDDEN_BY_EXCLUSIVE: u32 = 5;
    /// Overridden by aggregate codes.
    pub const OVERRIDDEN_BY_AGGREGATE: u32 = 6;
    /// Overridden by redundant code `by`.
    pub const OVERRIDDEN_BY_REDUNDANT: u32 = 7;
    /// Replaced by permanent code `by`.
    pub const REPLACED_BY_PERMANENT: u32 = 8;
    /// Redundant code on a standalone server.
    pub const REDUNDANT_ON_STANDALONE: u32 = 9;
}

/// One code of a `resolve_codes` input, with the instants the host worked out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Code {
    /// Order added (1 first).
    pub position: u32,
    /// Licenses it grants.
    pub count: u32,
    /// [`kind`] number.
    pub kind: u32,
    /// [`term`] number.
    pub term: u32,
    /// Redundant code.
    pub redundant: bool,
    /// First instant it may be used.
    pub starts: i64,
    /// Where it opens the validity window (trial: first use or now, not before `starts`).
    pub window_start: i64,
    /// Instant it stops counting ([`NO_END`]: never).
    pub ends: i64,
}

/// A `resolve_codes` input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolveInput {
    /// Evaluation time (seconds since the epoch).
    pub now: i64,
    /// This server is in a redundant pool.
    pub redundant_server: bool,
    /// The codes of one feature/version.
    pub codes: Vec<Code>,
}

/// One code's fate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The code.
    pub position: u32,
    /// [`reason`] number.
    pub reason: u32,
    /// Position of the code that overrode it (0 if none).
    pub by: u32,
    /// Start or end instant for `NOT_YET_STARTED` / `EXPIRED` (0 otherwise).
    pub at: i64,
}

/// A `resolve_codes` output.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Entitlement {
    /// Licenses entitled.
    pub count: u32,
    /// Start of the validity window.
    pub valid_from: Option<i64>,
    /// End of the validity window.
    pub valid_until: Option<i64>,
    /// Every code's fate.
    pub decisions: Vec<Decision>,
}

/// A `compliance` input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ComplianceInput {
    /// Evaluation time.
    pub now: i64,
    /// Tampered state.
    pub tampered: bool,
    /// Licenses entitled.
    pub entitled: u32,
    /// Licenses in use.
    pub in_use: u32,
    /// Recorded high-water mark.
    pub recorded: u32,
    /// Licenses acquired.
    pub acquired: u32,
    /// Running without licenses since.
    pub trial_since: Option<i64>,
    /// Short of the record since.
    pub short_since: Option<i64>,
    /// Last contact with the license manager.
    pub last_contact: Option<i64>,
    /// Invalid licenses seen since.
    pub violation_since: Option<i64>,
    /// Grace days.
    pub grace_days: u32,
    /// Trial days.
    pub trial_days: u32,
    /// Days without contact before a violation.
    pub contact_alert_days: u32,
    /// Days from violation to deactivation.
    pub deactivate_after_days: u32,
}

/// Mode numbers as in the ABI.
pub mod mode {
    /// Normal.
    pub const NORMAL: u32 = 0;
    /// Grace.
    pub const GRACE: u32 = 1;
    /// Restricted.
    pub const RESTRICTED: u32 = 2;
    /// Trial.
    pub const TRIAL: u32 = 3;
    /// Over-use alert.
    pub const OVER_USE_ALERT: u32 = 4;
    /// Deactivated.
    pub const DEACTIVATED: u32 = 5;
}

/// A `compliance` output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ComplianceOutput {
    /// [`mode`] number.
    pub mode: u32,
    /// When the mode changes by time alone.
    pub until: Option<i64>,
}

fn rd_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn rd_i64(b: &[u8], at: usize) -> Option<i64> {
    let s = b.get(at..at + 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(i64::from_le_bytes(a))
}

impl DistributeInput {
    /// Decodes the ABI layout.
    pub fn decode(b: &[u8]) -> Option<Self> {
        let n = rd_u32(b, 4)? as usize;
        if n.checked_mul(16).and_then(|x| x.checked_add(16)) != Some(b.len()) {
            return None;
        }
        let buckets = b[16..]
            .chunks_exact(16)
            .map(|r| Bucket {
                id: u32::from_le_bytes([r[0], r[1], r[2], r[3]]),
                weight: u32::from_le_bytes([r[4], r[5], r[6], r[7]]),
                priority: u32::from_le_bytes([r[8], r[9], r[10], r[11]]),
                cap: u32::from_le_bytes([r[12], r[13], r[14], r[15]]),
            })
            .collect();
        Some(DistributeInput {
            total: rd_u32(b, 0)?,
            seed: rd_i64(b, 8)? as u64,
            buckets,
        })
    }
}

/// A `distribute` input read in place from the bytes the host wrote (no copy, no allocation):
/// what [`weblm_plugin!`]'s `distribute_counts` hook hands to the plugin.
#[derive(Clone, Copy, Debug)]
pub struct DistributeRecords<'a> {
    total: u32,
    seed: u64,
    records: &'a [u8],
}

impl<'a> DistributeRecords<'a> {
    /// Reads the header of the ABI layout; `None` if the length does not match `n`.
    pub fn new(b: &'a [u8]) -> Option<Self> {
        let n = rd_u32(b, 4)? as usize;
        if n.checked_mul(16).and_then(|x| x.checked_add(16)) != Some(b.len()) {
            return None;
        }
        Some(DistributeRecords {
            total: rd_u32(b, 0)?,
            seed: rd_i64(b, 8)? as u64,
            records: &b[16..],
        })
    }
    /// Licenses to share.
    #[inline]
    pub fn total(&self) -> u32 {
        self.total
    }
    /// Seed for random choices.
    #[inline]
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// Number of buckets.
    #[inline]
    pub fn len(&self) -> usize {
        self.records.len() / 16
    }
    /// Whether there are no buckets.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
    /// Bucket `i` (panics if `i >= len()`).
    #[inline]
    pub fn bucket(&self, i: usize) -> Bucket {
        bucket_at(record(&self.records[16 * i..16 * i + 16]))
    }
    /// The buckets in input order.
    #[inline]
    pub fn buckets(&self) -> impl Iterator<Item = Bucket> + 'a {
        self.records
            .chunks_exact(16)
            .map(|r| bucket_at(record(r)))
    }
}

/// A 16-byte record (one length check, which `chunks_exact(16)` lets the compiler drop).
#[inline(always)]
fn record(r: &[u8]) -> &[u8; 16] {
    r.try_into().expect("16-byte record")
}

/// Reads one bucket record: four little-endian loads, no per-byte bounds checks.
#[inline(always)]
fn bucket_at(r: &[u8; 16]) -> Bucket {
    Bucket {
        id: u32::from_le_bytes([r[0], r[1], r[2], r[3]]),
        weight: u32::from_le_bytes([r[4], r[5], r[6], r[7]]),
        priority: u32::from_le_bytes([r[8], r[9], r[10], r[11]]),
        cap: u32::from_le_bytes([r[12], r[13], r[14], r[15]]),
    }
}

/// Writes a `distribute` output over its own input, in place: the output's entry `j` (16
/// bytes) lies exactly on the input's bucket record `j`, so the ids stay where they are and only
/// the reserved field and the count are written; the 8-byte output header goes over the input's
/// seed. Returns the output's offset in `b` (8). `b` is a whole, well-formed input
/// ([`DistributeRecords::new`] accepted it) and `counts` has one entry per bucket.
pub fn write_counts_in_place(b: &mut [u8], counts: &[u32]) -> usize {
    let n = counts.len();
    b[8..12].copy_from_slice(&(n as u32).to_le_bytes());
    b[12..16].copy_from_slice(&0u32.to_le_bytes());
    for (r, &c) in b[16..].chunks_exact_mut(16).zip(counts) {
        let r: &mut [u8; 16] = r.try_into().expect("16-byte record");
        r[4..8].copy_from_slice(&0u32.to_le_bytes());
        r[8..16].copy_from_slice(&(c as i64).to_le_bytes());
    }
    8
}

/// Encodes a `distribute` output.
pub fn encode_shares(shares: &[Share]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + 16 * shares.len());
    v.extend_from_slice(&(shares.len() as u32).to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    for s in shares {
        let mut e = [0u8; 16];
        e[0..4].copy_from_slice(&s.id.to_le_bytes());
        e[8..16].copy_from_slice(&s.count.to_le_bytes());
        v.extend_from_slice(&e);
    }
    v
}

impl ResolveInput {
    /// Decodes the ABI layout.
    pub fn decode(b: &[u8]) -> Option<Self> {
        let n = rd_u32(b, 12)? as usize;
        if n.checked_mul(48).and_then(|x| x.checked_add(16)) != Some(b.len()) {
            return None;
        }
        let mut codes = Vec::with_capacity(n);
        for i in 0..n {
            let at = 16 + 48 * i;
            codes.push(Code {
                position: rd_u32(b, at)?,
                count: rd_u32(b, at + 4)?,
                kind: rd_u32(b, at + 8)?,
                term: rd_u32(b, at + 12)?,
                redundant: rd_u32(b, at + 16)? & 1 != 0,
                starts: rd_i64(b, at + 24)?,
                window_start: rd_i64(b, at + 32)?,
                ends: rd_i64(b, at + 40)?,
            });
        }
        Some(ResolveInput {
            now: rd_i64(b, 0)?,
            redundant_server: rd_u32(b, 8)? & 1 != 0,
            codes,
        })
    }
}

impl Entitlement {
    /// Encodes the ABI layout.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(32 + 24 * self.decisions.len());
        let flags = self.valid_from.is_some() as u32 | (self.valid_until.is_some() as u32) << 1;
        v.extend_from_slice(&self.count.to_le_bytes());
        v.extend_from_slice(&(self.decisions.len() as u32).to_le_bytes());
        v.extend_from_slice(&flags.to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&self.valid_from.unwrap_or(0).to_le_bytes());
        v.extend_from_slice(&self.valid_until.unwrap_or(0).to_le_bytes());
        for d in &self.decisions {
            v.extend_from_slice(&d.position.to_le_bytes());
            v.extend_from_slice(&d.reason.to_le_bytes());
            v.extend_from_slice(&d.by.to_le_bytes());
            v.extend_from_slice(&0u32.to_le_bytes());
            v.extend_from_slice(&d.at.to_le_bytes());
        }
        v
    }
}

impl ComplianceInput {
    /// Decodes the ABI layout.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != 80 {
            return None;
        }
        let flags = rd_u32(b, 8)?;
        let opt = |bit: u32, at: usize| -> Option<Option<i64>> {
            let v = rd_i64(b, at)?;
            Some(if flags & bit != 0 { Some(v) } else { None })
        };
        Some(ComplianceInput {
            now: rd_i64(b, 0)?,
            tampered: flags & 1 != 0,
            entitled: rd_u32(b, 12)?,
            in_use: rd_u32(b, 16)?,
            recorded: rd_u32(b, 20)?,
            acquired: rd_u32(b, 24)?,
            trial_since: opt(2, 32)?,
            short_since: opt(4, 40)?,
            last_contact: opt(8, 48)?,
            violation_since: opt(16, 56)?,
            grace_days: rd_u32(b, 64)?,
            trial_days: rd_u32(b, 68)?,
            contact_alert_days: rd_u32(b, 72)?,
            deactivate_after_days: rd_u32(b, 76)?,
        })
    }
}

impl ComplianceOutput {
    /// Encodes the ABI layout.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(16);
        v.extend_from_slice(&self.mode.to_le_bytes());
        v.extend_from_slice(&(self.until.is_some() as u32).to_le_bytes());
        v.extend_from_slice(&self.until.unwrap_or(0).to_le_bytes());
        v
    }
}

/// The allocator the [`weblm_plugin!`] macro installs on wasm32: a bump allocator over linear
/// memory from `__heap_base`, growing memory as needed and never freeing. Every call runs in a
/// fresh instance (ABI §3), so nothing needs freeing, and it is much cheaper than a general
/// allocator (no bookkeeping, no `memory.grow` while the initial memory suffices).
#[cfg(target_arch = "wasm32")]
pub struct BumpAlloc;

#[cfg(target_arch = "wasm32")]
mod bump {
    use std::alloc::{GlobalAlloc, Layout};
    use std::arch::wasm32;

    extern "C" {
        static __heap_base: u8;
    }

    static mut TOP: usize = 0;

    unsafe fn claim(align: usize, size: usize) -> *mut u8 {
        if TOP == 0 {
            TOP = &__heap_base as *const u8 as usize;
        }
        let start = match TOP.checked_add(align - 1) {
            Some(v) => v & !(align - 1),
            None => return std::ptr::null_mut(),
        };
        let end = match start.checked_add(size) {
            Some(e) => e,
            None => return std::ptr::null_mut(),
        };
        let have = wasm32::memory_size(0) * 65536;
        if end > have {
            let pages = (end - have + 65535) / 65536;
            if wasm32::memory_grow(0, pages) == usize::MAX {
                return std::ptr::null_mut();
            }
        }
        TOP = end;
        start as *mut u8
    }

    unsafe impl GlobalAlloc for super::BumpAlloc {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            claim(layout.align(), layout.size())
        }
        // Memory above `TOP` has never been handed out, and a fresh instance's memory above
        // `__heap_base` (and whatever `memory.grow` adds) is zero: no memset needed.
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            claim(layout.align(), layout.size())
        }
        unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // The last block grows in place.
            if ptr as usize + layout.size() == TOP && new_size >= layout.size() {
                if claim(1, new_size - layout.size()).is_null() {
                    return std::ptr::null_mut();
                }
                return ptr;
            }
            let new = claim(layout.align(), new_size);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            }
            new
        }
    }
}

/// `weblm_alloc`: `len` bytes that stay valid for the rest of the (single-call) instance.
pub fn alloc(len: i32) -> i32 {
    let mut v: Vec<u8> = Vec::with_capacity(len.max(0) as usize);
    let p = v.as_mut_ptr();
    std::mem::forget(v);
    p as usize as i32
}

/// Leaks `out` (the instance is discarded after the call) and packs pointer and length.
pub fn pack(out: Vec<u8>) -> i64 {
    let out = out.into_boxed_slice();
    let len = out.len() as u64;
    let ptr = Box::leak(out).as_ptr() as usize as u64;
    ((len << 32) | ptr) as i64
}

/// # Safety
/// `ptr..ptr+len` must be the region the host wrote the input to.
unsafe fn input<'a>(ptr: i32, len: i32) -> &'a [u8] {
    if len <= 0 {
        return &[];
    }
    std::slice::from_raw_parts(ptr as usize as *const u8, len as usize)
}

/// Runs a `distribute` function on the raw ABI arguments.
///
/// # Safety
/// Called only by the exports [`weblm_plugin!`] writes, with the host's arguments.
pub unsafe fn run_distribute(
    ptr: i32,
    len: i32,
    f: fn(&DistributeInput) -> Result<Vec<Share>, i64>,
) -> i64 {
    match DistributeInput::decode(input(ptr, len)) {
        None => -ERR_BAD_INPUT,
        Some(i) => match f(&i) {
            Ok(s) => pack(encode_shares(&s)),
            Err(e) => -e.abs().max(1),
        },
    }
}

/// Runs a `distribute_counts` function on the raw ABI arguments: the input is read in place
/// ([`DistributeRecords`]), the function fills one count per bucket (all 0 to start with), and
/// the output is written over the input ([`write_counts_in_place`]): no decode, no output
/// allocation, no copy.
///
/// # Safety
/// Called only by the exports [`weblm_plugin!`] writes, with the host's arguments.
pub unsafe fn run_distribute_counts(
    ptr: i32,
    len: i32,
    f: fn(&DistributeRecords, &mut [u32]) -> Result<(), i64>,
) -> i64 {
    if len < 0 {
        return -ERR_BAD_INPUT;
    }
    let b: &mut [u8] = if len == 0 {
        &mut []
    } else {
        std::slice::from_raw_parts_mut(ptr as usize as *mut u8, len as usize)
    };
    let mut counts = match DistributeRecords::new(b) {
        None => return -ERR_BAD_INPUT,
        Some(r) => {
            let mut counts = vec![0u32; r.len()];
            if let Err(e) = f(&r, &mut counts) {
                return -e.abs().max(1);
            }
            counts
        }
    };
    let at = write_counts_in_place(b, &counts);
    counts.clear();
    let out_len = (len as usize - at) as u64;
    let out_ptr = (ptr as usize + at) as u64;
    ((out_len << 32) | out_ptr) as i64
}

/// Runs a `resolve_codes` function on the raw ABI arguments.
///
/// # Safety
/// Called only by the exports [`weblm_plugin!`] writes, with the host's arguments.
pub unsafe fn run_resolve_codes(
    ptr: i32,
    len: i32,
    f: fn(&ResolveInput) -> Result<Entitlement, i64>,
) -> i64 {
    match ResolveInput::decode(input(ptr, len)) {
        None => -ERR_BAD_INPUT,
        Some(i) => match f(&i) {
            Ok(e) => pack(e.encode()),
            Err(e) => -e.abs().max(1),
        },
    }
}

/// Runs a `compliance` function on the raw ABI arguments.
///
/// # Safety
/// Called only by the exports [`weblm_plugin!`] writes, with the host's arguments.
pub unsafe fn run_compliance(
    ptr: i32,
    len: i32,
    f: fn(&ComplianceInput) -> Result<ComplianceOutput, i64>,
) -> i64 {
    match ComplianceInput::decode(input(ptr, len)) {
        None => -ERR_BAD_INPUT,
        Some(i) => match f(&i) {
            Ok(o) => pack(o.encode()),
            Err(e) => -e.abs().max(1),
        },
    }
}

/// Writes a plugin's exports. List each hook with the function implementing it:
///
/// ```ignore
/// weblm_plugin! {
///     distribute => my_distribute,        // fn(&DistributeInput) -> Result<Vec<Share>, i64>
///  // or, in place (no decoding, no output buffer; one count per bucket, in input order):
///  // distribute_counts => my_counts,     // fn(&DistributeRecords, &mut [u32]) -> Result<(), i64>
///     resolve_codes => my_resolve,        // fn(&ResolveInput) -> Result<Entitlement, i64>
///     compliance => my_compliance,        // fn(&ComplianceInput) -> Result<ComplianceOutput, i64>
/// }
/// ```
/// An `Err(code)` becomes a negative return value, which the host reports as the plugin's own
/// error and answers with its fallback. On wasm32 the macro also installs [`BumpAlloc`] as the
/// global allocator (so a plugin crate must not declare another one).
#[macro_export]
macro_rules! weblm_plugin {
    ($($hook:ident => $f:path),+ $(,)?) => {
        #[cfg(target_arch = "wasm32")]
        #[global_allocator]
        static WEBLM_ALLOC: $crate::BumpAlloc = $crate::BumpAlloc;

        #[no_mangle]
        pub extern "C" fn weblm_abi_version() -> i32 {
            $crate::ABI_VERSION
        }
        #[no_mangle]
        pub extern "C" fn weblm_hooks() -> i32 {
            0 $(| $crate::__weblm_hook_bit!($hook))+
        }
        #[no_mangle]
        pub extern "C" fn weblm_alloc(len: i32) -> i32 {
            $crate::alloc(len)
        }
        $( $crate::__weblm_hook_export!($hook, $f); )+
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __weblm_hook_bit {
    (resolve_codes) => {
        $crate::HOOK_RESOLVE_CODES
    };
    (distribute) => {
        $crate::HOOK_DISTRIBUTE
    };
    (distribute_counts) => {
        $crate::HOOK_DISTRIBUTE
    };
    (compliance) => {
        $crate::HOOK_COMPLIANCE
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __weblm_hook_export {
    (resolve_codes, $f:path) => {
        #[no_mangle]
        pub extern "C" fn weblm_resolve_codes(ptr: i32, len: i32) -> i64 {
            unsafe { $crate::run_resolve_codes(ptr, len, $f) }
        }
    };
    (distribute, $f:path) => {
        #[no_mangle]
        pub extern "C" fn weblm_distribute(ptr: i32, len: i32) -> i64 {
            unsafe { $crate::run_distribute(ptr, len, $f) }
        }
    };
    (distribute_counts, $f:path) => {
        #[no_mangle]
        pub extern "C" fn weblm_distribute(ptr: i32, len: i32) -> i64 {
            unsafe { $crate::run_distribute_counts(ptr, len, $f) }
        }
    };
    (compliance, $f:path) => {
        #[no_mangle]
        pub extern "C" fn weblm_compliance(ptr: i32, len: i32) -> i64 {
            unsafe { $crate::run_compliance(ptr, len, $f) }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference() {
        let mut g = SplitMix64::new(0);
        assert_eq!(g.next(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn distribute_round_trip() {
        let mut b = Vec::new();
        b.extend_from_slice(&5u32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&9u64.to_le_bytes());
        for v in [3u32, 2, 1, 7] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        let i = DistributeInput::decode(&b).unwrap();
        assert_eq!(i.total, 5);
        assert_eq!(i.seed, 9);
        assert_eq!(
            i.buckets,
            vec![Bucket {
                id: 3,
                weight: 2,
                priority: 1,
                cap: 7
            }]
        );
        assert!(DistributeInput::decode(&b[..20]).is_none());
        assert_eq!(encode_shares(&[Share { id: 1, count: 2 }]).len(), 24);
    }

    fn two_buckets() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&5u32.to_le_bytes());
        b.extend_from_slice(&2u32.to_le_bytes());
        b.extend_from_slice(&9u64.to_le_bytes());
        for v in [3u32, 2, 1, 7, 4, 6, 2, 0xFFFF_FFFF] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b
    }

    #[test]
    fn records_read_in_place_like_decode() {
        let b = two_buckets();
        let r = DistributeRecords::new(&b).unwrap();
        let d = DistributeInput::decode(&b).unwrap();
        assert_eq!((r.total(), r.seed(), r.len()), (5, 9, 2));
        assert_eq!(r.buckets().collect::<Vec<_>>(), d.buckets);
        assert_eq!(r.bucket(1), d.buckets[1]);
        assert!(DistributeRecords::new(&b[..47]).is_none());
        assert!(DistributeRecords::new(&b[..15]).is_none());
        let empty = DistributeRecords::new(&b[..16]);
        assert!(empty.is_none(), "n = 2 but no records");
    }

    #[test]
    fn counts_are_written_over_the_input_as_the_output_layout() {
        let mut b = two_buckets();
        let at = write_counts_in_place(&mut b, &[3, 0xFFFF_FFFF]);
        let out = &b[at..];
        // Exactly the bytes encode_shares gives for the same shares.
        let want = encode_shares(&[
            Share { id: 3, count: 3 },
            Share {
                id: 4,
                count: 0xFFFF_FFFF,
            },
        ]);
        assert_eq!(out, &want[..]);
    }
}
