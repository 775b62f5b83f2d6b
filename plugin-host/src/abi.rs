//! The plugin ABI, version 1 (`plugins/ABI.md` is the normative text): export names, the hook
//! bits, and the little-endian byte layouts of each hook's input and output.
//!
//! Encoding is done here, on the host, in plain Rust with no wasmtime types, so the layouts are
//! tested on their own.

use std::fmt;

use weblm_core::clock::Timestamp;
use weblm_core::codes::{
    CodeDecision, CodeInput, CodeKind, CountRule, Entitlement, Reason, ResolveContext, Term,
};
use weblm_core::compliance::{ComplianceConfig, ComplianceInput};
use weblm_core::distribute::DistributeInput;

/// The ABI major version this host speaks.
pub const ABI_MAJOR: u32 = 1;
/// The ABI minor version this host implements (minor versions only add optional exports).
pub const ABI_MINOR: u32 = 0;
/// The value `weblm_abi_version()` returns for this ABI: `major << 16 | minor`.
pub const ABI_VERSION: u32 = (ABI_MAJOR << 16) | ABI_MINOR;

/// Export: linear memory.
pub const EXPORT_MEMORY: &str = "memory";
/// Export: `() -> i32`, the ABI version.
pub const EXPORT_ABI_VERSION: &str = "weblm_abi_version";
/// Export: `() -> i32`, the bit set of hooks implemented.
pub const EXPORT_HOOKS: &str = "weblm_hooks";
/// Export: `(len: i32) -> i32`, a pointer to `len` writable bytes for the input.
pub const EXPORT_ALLOC: &str = "weblm_alloc";

/// Timestamp sentinel for "no end" in code records.
pub const NO_END: i64 = i64::MAX;

/// One of the three policy hooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hook {
    /// Combine license codes into an entitlement (SPEC §2).
    ResolveCodes,
    /// Share licenses over buckets (SPEC §6).
    Distribute,
    /// Decide the compliance mode (SPEC §4, §7).
    Compliance,
}

impl Hook {
    /// All hooks.
    pub const ALL: [Hook; 3] = [Hook::ResolveCodes, Hook::Distribute, Hook::Compliance];

    /// The hook's bit in `weblm_hooks()`.
    pub fn bit(self) -> u32 {
        match self {
            Hook::ResolveCodes => 1,
            Hook::Distribute => 2,
            Hook::Compliance => 4,
        }
    }

    /// The export implementing the hook: `(ptr: i32, len: i32) -> i64`.
    pub fn export(self) -> &'static str {
        match self {
            Hook::ResolveCodes => "weblm_resolve_codes",
            Hook::Distribute => "weblm_distribute",
            Hook::Compliance => "weblm_compliance",
        }
    }

    /// The hook's name (as in SPEC §9 and the CLI).
    pub fn name(self) -> &'static str {
        match self {
            Hook::ResolveCodes => "resolve_codes",
            Hook::Distribute => "distribute",
            Hook::Compliance => "compliance",
        }
    }

    /// The hook named `name`.
    pub fn from_name(name: &str) -> Option<Hook> {
        Hook::ALL.into_iter().find(|h| h.name() == name)
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of hooks, as the `weblm_hooks()` bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HookSet(pub u32);

impl HookSet {
    /// Whether `hook` is in the set.
    pub fn contains(self, hook: Hook) -> bool {
        self.0 & hook.bit() != 0
    }
    /// The hooks in the set.
    pub fn hooks(self) -> Vec<Hook> {
        Hook::ALL
            .into_iter()
            .filter(|h| self.contains(*h))
            .collect()
    }
}

impl fmt::Display for HookSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.hooks().iter().map(|h| h.name()).collect();
        f.write_str(&names.join(", "))
    }
}

/// Little-endian writer.
struct W(Vec<u8>);
impl W {
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
}

/// Little-endian reader over an output; every read is bounds-checked.
struct R<'a>(&'a [u8]);
impl R<'_> {
    fn u32(&self, at: usize) -> Result<u32, String> {
        self.0
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
            .ok_or_else(|| format!("output too short: no u32 at offset {at}"))
    }
    fn i64(&self, at: usize) -> Result<i64, String> {
        self.0
            .get(at..at + 8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
            .ok_or_else(|| format!("output too short: no i64 at offset {at}"))
    }
    fn exact_len(&self, want: usize) -> Result<(), String> {
        if self.0.len() != want {
            return Err(format!(
                "output is {} bytes; its header says {want}",
                self.0.len()
            ));
        }
        Ok(())
    }
}

/// Encodes a `distribute` input: `total u32, n u32, seed u64`, then per bucket
/// `id u32, weight u32, priority u32, cap u32`.
pub fn encode_distribute(input: &DistributeInput) -> Vec<u8> {
    let mut v = vec![0; distribute_input_len(input)];
    encode_distribute_into(input, &mut v);
    v
}

/// Length of the encoded `distribute` input: `16 + 16·n`.
pub fn distribute_input_len(input: &DistributeInput) -> usize {
    16 + 16 * input.buckets.len()
}

/// [`encode_distribute`] into `out` (exactly [`distribute_input_len`] bytes), e.g. straight
/// into the plugin's linear memory.
///
/// # Panics
/// If `out` has another length.
pub fn encode_distribute_into(input: &DistributeInput, out: &mut [u8]) {
    assert_eq!(
        out.len(),
        distribute_input_len(input),
        "distribute input length"
    );
    let (head, body) = out.split_at_mut(16);
    head[0..4].copy_from_slice(&input.total.to_le_bytes());
    head[4..8].copy_from_slice(&(input.buckets.len() as u32).to_le_bytes());
    head[8..16].copy_from_slice(&input.seed.to_le_bytes());
    for (r, b) in body.chunks_exact_mut(16).zip(&input.buckets) {
        r[0..4].copy_from_slice(&b.id.to_le_bytes());
        r[4..8].copy_from_slice(&b.weight.to_le_bytes());
        r[8..12].copy_from_slice(&b.priority.to_le_bytes());
        r[12..16].copy_from_slice(&b.cap.to_le_bytes());
    }
}

/// Decodes a `distribute` output: `m u32, reserved u32`, then per entry
/// `id u32, reserved u32, count i64`. Returns the raw `(id, count)` pairs for the validator.
pub fn decode_distribute(out: &[u8]) -> Result<Vec<(u32, i64)>, String> {
    Ok(distribute_entries(out)?.collect())
}

/// The `(id, count)` entries of a `distribute` output, read in place (no copy) once the
/// header's length has been checked; what [`decode_distribute`] collects.
pub fn distribute_entries(
    out: &[u8],
) -> Result<impl ExactSizeIterator<Item = (u32, i64)> + Clone + '_, String> {
    let r = R(out);
    let m = r.u32(0)? as usize;
    r.exact_len(8usize.saturating_add(m.saturating_mul(16)))?;
    Ok(out[8..].chunks_exact(16).map(|e| {
        (
            u32::from_le_bytes(e[0..4].try_into().expect("4 bytes")),
            i64::from_le_bytes(e[8..16].try_into().expect("8 bytes")),
        )
    }))
}

fn kind_code(k: CodeKind) -> u32 {
    match k {
        CodeKind::Additive => 0,
        CodeKind::Exclusive => 1,
        CodeKind::Aggregate => 2,
    }
}

fn term_code(t: Term) -> u32 {
    match t {
        Term::Permanent => 0,
        Term::Trial => 1,
        Term::Until => 2,
    }
}

/// Encodes a `resolve_codes` input: `now i64, flags u32 (bit 0 redundant server), n u32`, then
/// 48 bytes per code: `position, count, kind, term, flags (bit 0 redundant), reserved` (u32) and
/// `starts, window_start, ends` (i64; `ends = i64::MAX`: no end). The host works out the
/// instants (trial lengths, first use) so plugins never need calendar arithmetic.
pub fn encode_resolve(codes: &[CodeInput], ctx: &ResolveContext) -> Vec<u8> {
    let mut w = W(Vec::with_capacity(16 + 48 * codes.len()));
    w.i64(ctx.now.0);
    w.u32(ctx.redundant_server as u32);
    w.u32(codes.len() as u32);
    for c in codes {
        let starts = c.code.start_ts();
        let window_start = match c.code.term {
            Term::Trial => c.first_use.unwrap_or(ctx.now).max(starts),
            _ => starts,
        };
        let ends = c.code.end_ts(c.first_use, ctx.now).map_or(NO_END, |t| t.0);
        w.u32(c.code.position);
        w.u32(c.code.count);
        w.u32(kind_code(c.code.kind));
        w.u32(term_code(c.code.term));
        w.u32(c.code.redundant as u32);
        w.u32(0);
        w.i64(starts.0);
        w.i64(window_start.0);
        w.i64(ends);
    }
    w.0
}

/// Decodes a `resolve_codes` output into an [`Entitlement`]: header
/// `count u32, n u32, flags u32 (bit 0 has valid_from, bit 1 has valid_until), reserved u32,
/// valid_from i64, valid_until i64`, then 24 bytes per decision:
/// `position u32, reason u32, by u32, reserved u32, at i64`. Each decision's `count` is taken
/// from the input code with that position; a position not among the inputs is refused.
pub fn decode_resolve(out: &[u8], codes: &[CodeInput]) -> Result<Entitlement, String> {
    let r = R(out);
    let count = r.u32(0)?;
    let n = r.u32(4)? as usize;
    let flags = r.u32(8)?;
    r.exact_len(32usize.saturating_add(n.saturating_mul(24)))?;
    let valid_from = (flags & 1 != 0)
        .then(|| r.i64(16))
        .transpose()?
        .map(Timestamp);
    let valid_until = (flags & 2 != 0)
        .then(|| r.i64(24))
        .transpose()?
        .map(Timestamp);
    let mut decisions = Vec::with_capacity(n);
    for j in 0..n {
        let at = 32 + 24 * j;
        let position = r.u32(at)?;
        let reason_code = r.u32(at + 4)?;
        let by = r.u32(at + 8)?;
        let when = Timestamp(r.i64(at + 16)?);
        let code = codes
            .iter()
            .find(|c| c.code.position == position)
            .ok_or_else(|| format!("decision names code #{position}, which is not an input"))?;
        let reason = match reason_code {
            0 => Reason::Counted {
                rule: CountRule::LastExclusive,
            },
            1 => Reason::Counted {
                rule: CountRule::Additive,
            },
            2 => Reason::Counted {
                rule: CountRule::Aggregate,
            },
            3 => Reason::NotYetStarted { starts: when },
            4 => Reason::Expired { ended: when },
            5 => Reason::OverriddenByExclusive { by },
            6 => Reason::OverriddenByAggregate,
            7 => Reason::OverriddenByRedundant { by },
            8 => Reason::ReplacedByPermanent { by },
            9 => Reason::RedundantOnStandaloneServer,
            other => return Err(format!("unknown reason code {other} for code #{position}")),
        };
        decisions.push(CodeDecision {
            position,
            count: code.code.count,
            counted: matches!(reason, Reason::Counted { .. }),
            reason,
        });
    }
    Ok(Entitlement {
        count,
        valid_from,
        valid_until,
        decisions,
    })
}

/// Encodes a `compliance` input (80 bytes): `now i64, flags u32` (bit 0 tampered, bits 1–4:
/// trial_since, short_since, last_contact, violation_since present), `entitled, in_use,
/// recorded, acquired, reserved` (u32), the four instants (i64, 0 when absent), then the
/// config `grace_days, trial_days, contact_alert_days, deactivate_after_days` (u32).
pub fn encode_compliance(input: &ComplianceInput, config: &ComplianceConfig) -> Vec<u8> {
    let mut w = W(Vec::with_capacity(80));
    let opts = [
        input.trial_since,
        input.short_since,
        input.last_contact,
        input.violation_since,
    ];
    let mut flags = input.tampered as u32;
    for (i, o) in opts.iter().enumerate() {
        if o.is_some() {
            flags |= 2 << i;
        }
    }
    w.i64(input.now.0);
    w.u32(flags);
    w.u32(input.entitled);
    w.u32(input.in_use);
    w.u32(input.recorded);
    w.u32(input.acquired);
    w.u32(0);
    for o in opts {
        w.i64(o.map_or(0, |t| t.0));
    }
    w.u32(config.grace_days);
    w.u32(config.trial_days);
    w.u32(config.contact_alert_days);
    w.u32(config.deactivate_after_days);
    w.0
}

/// Decodes a `compliance` output (16 bytes): `mode u32, flags u32 (bit 0 has until),
/// until i64`. Returns the raw mode number and instant for the validator.
pub fn decode_compliance(out: &[u8]) -> Result<(u32, Option<Timestamp>), String> {
    let r = R(out);
    r.exact_len(16)?;
    let mode = r.u32(0)?;
    let flags = r.u32(4)?;
    let until = (flags & 1 != 0)
        .then(|| r.i64(8))
        .transpose()?
        .map(Timestamp);
    Ok((mode, until))
}

#[cfg(test)]
mod tests {
    use super::*;
    use weblm_core::distribute::Bucket;

    #[test]
    fn distribute_layout() {
        let inp = DistributeInput {
            total: 7,
            seed: 0x0102_0304_0506_0708,
            buckets: vec![Bucket {
                id: 9,
                weight: 3,
                priority: 1,
                cap: 5,
            }],
        };
        let b = encode_distribute(&inp);
        assert_eq!(b.len(), 32);
        assert_eq!(&b[0..4], &7u32.to_le_bytes());
        assert_eq!(&b[4..8], &1u32.to_le_bytes());
        assert_eq!(&b[8..16], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(&b[16..20], &9u32.to_le_bytes());
        assert_eq!(&b[28..32], &5u32.to_le_bytes());

        let mut out = vec![];
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&9u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(-2i64).to_le_bytes());
        assert_eq!(decode_distribute(&out).unwrap(), vec![(9, -2)]);
        assert!(decode_distribute(&out[..20]).is_err());
        assert!(decode_distribute(&[]).is_err());
    }

    #[test]
    fn compliance_layout() {
        let i = ComplianceInput {
            now: Timestamp(100),
            tampered: true,
            short_since: Some(Timestamp(5)),
            ..Default::default()
        };
        let b = encode_compliance(&i, &ComplianceConfig::default());
        assert_eq!(b.len(), 80);
        assert_eq!(&b[8..12], &(1u32 | 4).to_le_bytes());
        assert_eq!(&b[40..48], &5i64.to_le_bytes());
        assert_eq!(&b[64..68], &30u32.to_le_bytes());
        let mut out = vec![];
        out.extend_from_slice(&2u32.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&200i64.to_le_bytes());
        assert_eq!(decode_compliance(&out).unwrap(), (2, Some(Timestamp(200))));
        assert!(decode_compliance(&out[..15]).is_err());
    }
}
