//! License codes and how they combine into an entitlement (SPEC §2, Sentinel RMS semantics).
//!
//! [`resolve`] is a pure function from the codes of one feature/version, the time, and the
//! server's redundancy to an [`Entitlement`]: the effective count, its validity window, and for
//! every code whether it counted and why. It is the native default of the [`ResolveCodes`]
//! policy hook; a plugin may replace it, and [`check_entitlement`] is the host-side check that
//! keeps any replacement from granting more than the codes allow.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// How a code combines with the other codes of its feature/version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CodeKind {
    /// Adds to the other additive codes (5 + 2 = 7 users).
    Additive,
    /// Only the last-added exclusive code counts; every other code is ignored.
    Exclusive,
    /// Sentinel's optional third kind: counts add only while the codes overlap in time, each
    /// keeping its own dates. Precedence: exclusive > aggregate > additive.
    Aggregate,
}

impl fmt::Display for CodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CodeKind::Additive => "additive",
            CodeKind::Exclusive => "exclusive",
            CodeKind::Aggregate => "aggregate",
        })
    }
}

/// How long a code lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Term {
    /// No end.
    Permanent,
    /// Runs from first use and ends at the earliest of `trial_days`, `trial_hours` and `end`.
    Trial,
    /// Valid through the `end` date (inclusive).
    Until,
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Term::Permanent => "permanent",
            Term::Trial => "trial",
            Term::Until => "until",
        })
    }
}

/// One grant inside a license file: the fields of a Sentinel license code.
///
/// Dates are whole UTC days. `start` is the first day the code may be used; `end` is the last
/// day it may be used (inclusive: the code expires at the following midnight UTC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseCode {
    /// Position in the order the codes were added (1 for the first). Decides which exclusive
    /// code is the "last added".
    pub position: u32,
    /// Feature name, e.g. `VALUE_IR_VOIP_PORTS`.
    pub feature: String,
    /// Feature version, e.g. `5.0`.
    pub version: String,
    /// Number of licenses this code grants.
    pub count: u32,
    /// Additive, exclusive or aggregate.
    pub kind: CodeKind,
    /// Permanent, trial or until a date.
    pub term: Term,
    /// Trial length in days (trial codes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_days: Option<u32>,
    /// Trial length in hours (trial codes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_hours: Option<u32>,
    /// First day the code may be used.
    pub start: NaiveDate,
    /// Last day the code may be used (required for `until`, optional for `trial`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<NaiveDate>,
    /// Redundant codes serve a redundant server pool (SPEC §8); never trial codes.
    #[serde(default)]
    pub redundant: bool,
}

impl LicenseCode {
    /// A permanent, non-redundant code of `kind` starting on `start`, position 0 (set when the
    /// code is added to a file). Change the public fields for other terms.
    pub fn permanent(
        feature: impl Into<String>,
        version: impl Into<String>,
        count: u32,
        kind: CodeKind,
        start: NaiveDate,
    ) -> Self {
        LicenseCode {
            position: 0,
            feature: feature.into(),
            version: version.into(),
            count,
            kind,
            term: Term::Permanent,
            trial_days: None,
            trial_hours: None,
            start,
            end: None,
            redundant: false,
        }
    }

    /// Checks the rules a single code must meet on its own; the message names the problem.
    pub fn validate(&self) -> Result<(), String> {
        if self.feature.trim().is_empty() {
            return Err("feature name is empty".into());
        }
        if self.version.trim().is_empty() {
            return Err("feature version is empty".into());
        }
        if self.redundant && self.term == Term::Trial {
            return Err("a redundant code cannot be a trial code (SPEC §2 rule 6)".into());
        }
        match self.term {
            Term::Permanent => {
                if self.end.is_some() || self.trial_days.is_some() || self.trial_hours.is_some() {
                    return Err("a permanent code has no end date and no trial length".into());
                }
            }
            Term::Until => {
                if self.end.is_none() {
                    return Err("an `until` code needs an end date".into());
                }
                if self.trial_days.is_some() || self.trial_hours.is_some() {
                    return Err("only trial codes have a trial length".into());
                }
            }
            Term::Trial => {
                if self.trial_days.is_none() && self.trial_hours.is_none() && self.end.is_none() {
                    return Err("a trial code needs trial_days, trial_hours or an end date".into());
                }
                if self.trial_days == Some(0) || self.trial_hours == Some(0) {
                    return Err("a trial length must be at least 1".into());
                }
            }
        }
        if let Some(end) = self.end {
            if end < self.start {
                return Err(format!(
                    "end date {end} is before start date {}",
                    self.start
                ));
            }
        }
        Ok(())
    }

    /// The instant the code becomes usable (midnight UTC of `start`).
    pub fn start_ts(&self) -> Timestamp {
        Timestamp::from_date(self.start)
    }

    /// The instant the code stops counting, given when a trial was first used (`None`: not used
    /// yet, so the trial would start `now`). `None` for codes that never end.
    pub fn end_ts(&self, first_use: Option<Timestamp>, now: Timestamp) -> Option<Timestamp> {
        let date_end = self.end.map(|d| Timestamp::from_date(d).plus_days(1));
        match self.term {
            Term::Permanent => None,
            Term::Until => date_end,
            Term::Trial => {
                let from = first_use.unwrap_or(now).max(self.start_ts());
                [
                    date_end,
                    self.trial_days.map(|d| from.plus_days(d as i64)),
                    self.trial_hours
                        .map(|h| from.plus_secs(h as i64 * Timestamp::HOUR)),
                ]
                .into_iter()
                .flatten()
                .min()
            }
        }
    }
}

/// A code as a policy sees it: the code plus its run-time state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeInput {
    /// The code from the license file.
    pub code: LicenseCode,
    /// When a trial code was first used (`None`: never; it starts on first use).
    pub first_use: Option<Timestamp>,
}

impl CodeInput {
    /// A code that has never been used.
    pub fn new(code: LicenseCode) -> Self {
        CodeInput {
            code,
            first_use: None,
        }
    }
}

/// What the resolution depends on besides the codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResolveContext {
    /// The time of the evaluation.
    pub now: Timestamp,
    /// Whether this server runs in a redundant pool (SPEC §2 rule 4, §8).
    pub redundant_server: bool,
}

/// Why a code counted or did not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// The code counts towards the entitlement.
    Counted {
        /// Which rule made it count.
        rule: CountRule,
    },
    /// The code's start date is still ahead.
    NotYetStarted {
        /// When it starts.
        starts: Timestamp,
    },
    /// The code's end (date or trial period) has passed.
    Expired {
        /// When it ended.
        ended: Timestamp,
    },
    /// A later exclusive code replaces every other code.
    OverriddenByExclusive {
        /// Position of the exclusive code that counts.
        by: u32,
    },
    /// Aggregate codes take precedence over additive codes.
    OverriddenByAggregate,
    /// On a redundant server a redundant additive code overrides non-redundant codes.
    OverriddenByRedundant {
        /// Position of the redundant additive code.
        by: u32,
    },
    /// A permanent additive code replaces trial codes, even unexpired ones.
    ReplacedByPermanent {
        /// Position of the permanent code.
        by: u32,
    },
    /// Redundant codes serve only a redundant server pool; this server is not one.
    RedundantOnStandaloneServer,
}

/// The rule under which a counted code counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CountRule {
    /// The last-added exclusive code.
    LastExclusive,
    /// An additive code, summed with the others.
    Additive,
    /// An aggregate code, summed while the codes overlap.
    Aggregate,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Counted { rule: CountRule::LastExclusive } => {
                f.write_str("counted: last exclusive code added")
            }
            Reason::Counted { rule: CountRule::Additive } => {
                f.write_str("counted: additive, summed with the other additive codes")
            }
            Reason::Counted { rule: CountRule::Aggregate } => {
                f.write_str("counted: aggregate, summed while the codes overlap")
            }
            Reason::NotYetStarted { starts } => write!(f, "ignored: starts {starts}"),
            Reason::Expired { ended } => write!(f, "ignored: expired {ended}"),
            Reason::OverriddenByExclusive { by } => {
                write!(f, "ignored: exclusive code #{by} was added last and replaces it")
            }
            Reason::OverriddenByAggregate => {
                f.write_str("ignored: aggregate codes take precedence over additive codes")
            }
            Reason::OverriddenByRedundant { by } => write!(
                f,
                "ignored: redundant additive code #{by} overrides non-redundant codes on a redundant server"
            ),
            Reason::ReplacedByPermanent { by } => {
                write!(f, "ignored: permanent code #{by} replaces trial codes")
            }
            Reason::RedundantOnStandaloneServer => {
                f.write_str("ignored: redundant code on a server that is not redundant")
            }
        }
    }
}

/// One code's fate in a resolution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CodeDecision {
    /// The code's position in the file.
    pub position: u32,
    /// The code's count.
    pub count: u32,
    /// Whether it counts.
    pub counted: bool,
    /// Why.
    #[serde(flatten)]
    pub reason: Reason,
}

/// What one feature/version is worth now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entitlement {
    /// Number of licenses that may be in use.
    pub count: u32,
    /// Start of the combined validity window (latest start of the counted codes).
    pub valid_from: Option<Timestamp>,
    /// End of the combined validity window (earliest end of the counted codes; `None`: no end).
    pub valid_until: Option<Timestamp>,
    /// Every code, in file order, with whether and why it counted.
    pub decisions: Vec<CodeDecision>,
}

impl Entitlement {
    /// Positions of the codes that counted.
    pub fn counted_positions(&self) -> Vec<u32> {
        self.decisions
            .iter()
            .filter(|d| d.counted)
            .map(|d| d.position)
            .collect()
    }
}

/// The `resolve_codes` policy hook: combine the codes of one feature/version into an
/// entitlement. The native default is [`SentinelPolicy`]; the plugin host provides wasm ones.
pub trait ResolveCodes: Send + Sync {
    /// A name for messages and reports.
    fn name(&self) -> &str;
    /// Combines `codes` (all of one feature/version, any order) at `ctx`.
    fn resolve(&self, codes: &[CodeInput], ctx: &ResolveContext) -> Result<Entitlement, String>;
}

/// The native default policy: Sentinel RMS semantics, SPEC §2.
#[derive(Clone, Copy, Debug, Default)]
pub struct SentinelPolicy;

impl ResolveCodes for SentinelPolicy {
    fn name(&self) -> &str {
        "native:sentinel"
    }
    fn resolve(&self, codes: &[CodeInput], ctx: &ResolveContext) -> Result<Entitlement, String> {
        Ok(resolve(codes, ctx))
    }
}

/// SPEC §2 as a pure function. Rules, applied in this order:
///
/// 1. Codes not yet started or already ended (date, trial days or hours, whichever is first,
///    a trial counting from its first use) drop out; the rest are recombined (rules 5 and 8).
/// 2. Redundancy (rule 4, which comes first): on a redundant server, a live redundant additive
///    code overrides every non-redundant code. On a server that is not redundant, redundant
///    codes do not count (our decision, as Sentinel's standalone servers do).
/// 3. If an exclusive code remains, only the last added one counts (rule 1).
/// 4. Otherwise, if aggregate codes remain, they sum and additive codes are ignored (rule 7).
/// 5. Otherwise additive codes sum (rule 2); a permanent additive code replaces every trial code
///    (rule 3; "permanent" means the `permanent` term, not a dated code).
///
/// The window is the latest start and the earliest end of the codes that count.
pub fn resolve(codes: &[CodeInput], ctx: &ResolveContext) -> Entitlement {
    let now = ctx.now;
    let mut order: Vec<usize> = (0..codes.len()).collect();
    order.sort_by_key(|&i| codes[i].code.position);

    let mut fate: Vec<Option<Reason>> = vec![None; codes.len()];
    // Rule 5/8: time.
    for &i in &order {
        let c = &codes[i];
        if now < c.code.start_ts() {
            fate[i] = Some(Reason::NotYetStarted {
                starts: c.code.start_ts(),
            });
        } else if let Some(end) = c.code.end_ts(c.first_use, now) {
            if now >= end {
                fate[i] = Some(Reason::Expired { ended: end });
            }
        }
    }
    let live = |fate: &Vec<Option<Reason>>, i: usize| fate[i].is_none();

    // Rule 4: redundancy.
    if ctx.redundant_server {
        let redundant_additive = order.iter().copied().find(|&i| {
            live(&fate, i) && codes[i].code.redundant && codes[i].code.kind == CodeKind::Additive
        });
        if let Some(r) = redundant_additive {
            let by = codes[r].code.position;
            for &i in &order {
                if live(&fate, i) && !codes[i].code.redundant {
                    fate[i] = Some(Reason::OverriddenByRedundant { by });
                }
            }
        }
    } else {
        for &i in &order {
            if live(&fate, i) && codes[i].code.redundant {
                fate[i] = Some(Reason::RedundantOnStandaloneServer);
            }
        }
    }

    // Rule 1: last exclusive wins.
    let last_exclusive = order
        .iter()
        .copied()
        .filter(|&i| live(&fate, i) && codes[i].code.kind == CodeKind::Exclusive)
        .max_by_key(|&i| codes[i].code.position);
    let rule;
    if let Some(x) = last_exclusive {
        let by = codes[x].code.position;
        for &i in &order {
            if i != x && live(&fate, i) {
                fate[i] = Some(Reason::OverriddenByExclusive { by });
            }
        }
        rule = CountRule::LastExclusive;
    } else if order
        .iter()
        .any(|&i| live(&fate, i) && codes[i].code.kind == CodeKind::Aggregate)
    {
        // Rule 7: aggregate > additive.
        for &i in &order {
            if live(&fate, i) && codes[i].code.kind == CodeKind::Additive {
                fate[i] = Some(Reason::OverriddenByAggregate);
            }
        }
        rule = CountRule::Aggregate;
    } else {
        // Rule 3: permanent replaces trial.
        let permanent = order
            .iter()
            .copied()
            .find(|&i| live(&fate, i) && codes[i].code.term == Term::Permanent);
        if let Some(p) = permanent {
            let by = codes[p].code.position;
            for &i in &order {
                if live(&fate, i) && codes[i].code.term == Term::Trial {
                    fate[i] = Some(Reason::ReplacedByPermanent { by });
                }
            }
        }
        rule = CountRule::Additive;
    }

    let mut count: u32 = 0;
    let mut valid_from: Option<Timestamp> = None;
    let mut valid_until: Option<Timestamp> = None;
    let mut decisions = Vec::with_capacity(codes.len());
    for &i in &order {
        let c = &codes[i];
        let reason = match fate[i].take() {
            Some(r) => r,
            None => {
                // Sums cannot overflow for a validated license file (checked at load); saturate
                // rather than wrap for anything else.
                count = count.saturating_add(c.code.count);
                let start = match c.code.term {
                    Term::Trial => c.first_use.unwrap_or(now).max(c.code.start_ts()),
                    _ => c.code.start_ts(),
                };
                valid_from = Some(valid_from.map_or(start, |v| v.max(start)));
                if let Some(end) = c.code.end_ts(c.first_use, now) {
                    valid_until = Some(valid_until.map_or(end, |v| v.min(end)));
                }
                Reason::Counted { rule }
            }
        };
        decisions.push(CodeDecision {
            position: c.code.position,
            count: c.code.count,
            counted: matches!(reason, Reason::Counted { .. }),
            reason,
        });
    }
    Entitlement {
        count,
        valid_from,
        valid_until,
        decisions,
    }
}

/// The earliest instant after `now` at which any code starts or ends, i.e. when the
/// entitlement must be resolved again. Trial codes not yet used are taken as starting now.
pub fn next_change(codes: &[CodeInput], now: Timestamp) -> Option<Timestamp> {
    codes
        .iter()
        .flat_map(|c| [Some(c.code.start_ts()), c.code.end_ts(c.first_use, now)])
        .flatten()
        .filter(|t| *t > now)
        .min()
}

/// A policy's entitlement broke the rules every policy must keep.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EntitlementFault {
    /// It names a code that is not among the inputs.
    #[error("entitlement names code #{0}, which is not among the codes given")]
    UnknownCode(u32),
    /// It counts the same code more than once.
    #[error("entitlement counts code #{0} more than once")]
    CountedTwice(u32),
    /// It counts a code that is not live now.
    #[error("entitlement counts code #{0}, which has not started or has ended")]
    DeadCodeCounted(u32),
    /// Its count exceeds the sum of the codes it says counted.
    #[error("entitlement of {count} exceeds the {allowed} its counted codes allow")]
    AboveCodes {
        /// The count the policy returned.
        count: u32,
        /// The sum of the counted codes.
        allowed: u64,
    },
}

/// Host-side check of a policy's output: every counted code exists and is live, and the count
/// is at most the sum of the counted codes. A policy that fails this is never trusted with a
/// grant (SPEC §9).
pub fn check_entitlement(
    codes: &[CodeInput],
    ctx: &ResolveContext,
    ent: &Entitlement,
) -> Result<(), EntitlementFault> {
    let mut allowed: u64 = 0;
    let mut seen = std::collections::HashSet::new();
    for d in ent.decisions.iter().filter(|d| d.counted) {
        if !seen.insert(d.position) {
            return Err(EntitlementFault::CountedTwice(d.position));
        }
        let c = codes
            .iter()
            .find(|c| c.code.position == d.position)
            .ok_or(EntitlementFault::UnknownCode(d.position))?;
        let live = ctx.now >= c.code.start_ts()
            && c.code
                .end_ts(c.first_use, ctx.now)
                .is_none_or(|e| ctx.now < e);
        if !live {
            return Err(EntitlementFault::DeadCodeCounted(d.position));
        }
        allowed += c.code.count as u64;
    }
    if ent.count as u64 > allowed {
        return Err(EntitlementFault::AboveCodes {
            count: ent.count,
            allowed,
        });
    }
    Ok(())
}
