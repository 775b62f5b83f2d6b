//! The `compliance` policy hook: from usage and contact history and the time to a mode
//! (SPEC §4 Avaya grace/restricted, SPEC §7 Cisco trial, over-use alert, deactivation).
//!
//! [`evaluate`] is a pure function of a [`ComplianceInput`] (facts the caller keeps: counts,
//! when a shortage, a trial or a violation began, the last contact with the license manager)
//! and a [`ComplianceConfig`]. It returns a [`ComplianceDecision`]: the mode and the instant it
//! changes by the passage of time alone. Keeping the history (and the grace clock across
//! restarts) is the caller's job; this module only decides.
//!
//! ## The rules, in order (first match wins)
//! 1. Tampered state or license data → **Restricted** (SPEC §4), no end.
//! 2. Violation (SPEC §7). Its start is the earliest of `violation_since` (out-of-date or
//!    invalid licenses, recorded by the caller), `now` if `in_use > entitled` (over-use) and
//!    `last_contact + contact_alert_days` if that instant has passed (license manager out of
//!    reach). With a start: before `start + deactivate_after_days` → **OverUseAlert** until
//!    then; from then on → **Deactivated**, no end (fixing the licenses restores service).
//! 3. Trial: `trial_since` is set when the system runs without installed licenses (fresh
//!    deployment, or a fail-over to a node without its license manager). Before
//!    `trial_since + trial_days` → **Trial** until then; after → **Deactivated**.
//! 4. Shortage (SPEC §4): `acquired < recorded`. The grace clock starts at `short_since`
//!    (`now` if unknown). Before `start + grace_days` → **Grace** until then; after →
//!    **Restricted**, no end (recovery returns to Normal at once).
//! 5. Otherwise **Normal**, no end.

use crate::clock::Timestamp;

/// The modes a system can be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u32)]
pub enum Mode {
    /// Everything is in order.
    Normal = 0,
    /// Short of the recorded licenses; still operating up to the record (SPEC §4).
    Grace = 1,
    /// Grace ran out, or state was tampered with: only licenses really held (plus a floor).
    Restricted = 2,
    /// Running without installed licenses for a limited time (SPEC §7).
    Trial = 3,
    /// Over-use, invalid or out-of-date licenses, or no contact: alert with a disable date.
    OverUseAlert = 4,
    /// The service is off until the licenses are fixed; administration keeps working.
    Deactivated = 5,
}

impl Mode {
    /// The mode with ABI number `n` (see `plugins/ABI.md`).
    pub fn from_u32(n: u32) -> Option<Mode> {
        Some(match n {
            0 => Mode::Normal,
            1 => Mode::Grace,
            2 => Mode::Restricted,
            3 => Mode::Trial,
            4 => Mode::OverUseAlert,
            5 => Mode::Deactivated,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Normal => "normal",
            Mode::Grace => "grace",
            Mode::Restricted => "restricted",
            Mode::Trial => "trial",
            Mode::OverUseAlert => "over-use alert",
            Mode::Deactivated => "deactivated",
        })
    }
}

/// The time rules, in days. Defaults: the SPEC's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ComplianceConfig {
    /// Grace period before Restricted (SPEC §4: 30, the Avaya norm).
    pub grace_days: u32,
    /// Free-trial length (SPEC §7: 180).
    pub trial_days: u32,
    /// Days without contact before a violation starts (SPEC §7: 2).
    pub contact_alert_days: u32,
    /// Days from a violation's start to deactivation (SPEC §7: six months, taken as 6 × 30).
    pub deactivate_after_days: u32,
}

impl Default for ComplianceConfig {
    fn default() -> Self {
        ComplianceConfig {
            grace_days: 30,
            trial_days: 180,
            contact_alert_days: 2,
            deactivate_after_days: 180,
        }
    }
}

/// The facts a compliance decision is made from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ComplianceInput {
    /// The time of the evaluation.
    pub now: Timestamp,
    /// Licenses entitled (purchased and valid).
    pub entitled: u32,
    /// Licenses in use.
    pub in_use: u32,
    /// The recorded high-water mark (SPEC §3).
    pub recorded: u32,
    /// Licenses acquired now.
    pub acquired: u32,
    /// Persistent state or license data failed its integrity check.
    pub tampered: bool,
    /// When the system started running without installed licenses (`None`: it has licenses).
    pub trial_since: Option<Timestamp>,
    /// When `acquired` first fell below `recorded` in the current shortage.
    pub short_since: Option<Timestamp>,
    /// The last successful contact with the license manager (`None`: not tracked).
    pub last_contact: Option<Timestamp>,
    /// When invalid or out-of-date licenses were first seen (`None`: none).
    pub violation_since: Option<Timestamp>,
}

/// A compliance policy's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ComplianceDecision {
    /// The mode now.
    pub mode: Mode,
    /// When the mode changes by time alone (`None`: it does not).
    pub until: Option<Timestamp>,
}

/// A policy's decision broke the rules every policy must keep.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ComplianceFault {
    /// The mode number is not one of the six modes.
    #[error("unknown mode number {0}")]
    UnknownMode(u32),
    /// Tampered state may only lead to Restricted or Deactivated.
    #[error("mode {0} for tampered state; only restricted or deactivated are allowed")]
    LenientOnTamper(Mode),
    /// The change instant is not in the future.
    #[error("mode ends at {until}, not after now ({now})")]
    UntilNotAfterNow {
        /// The instant returned.
        until: Timestamp,
        /// The evaluation time.
        now: Timestamp,
    },
}

/// The `compliance` policy hook. The native default is [`StandardCompliance`].
pub trait Compliance: Send + Sync {
    /// A name for messages and reports.
    fn name(&self) -> &str;
    /// Decides the mode for `input`.
    fn decide(
        &self,
        input: &ComplianceInput,
        config: &ComplianceConfig,
    ) -> Result<ComplianceDecision, String>;
}

/// The native default: [`evaluate`].
#[derive(Clone, Copy, Debug, Default)]
pub struct StandardCompliance;

impl Compliance for StandardCompliance {
    fn name(&self) -> &str {
        "native:standard-compliance"
    }
    fn decide(
        &self,
        input: &ComplianceInput,
        config: &ComplianceConfig,
    ) -> Result<ComplianceDecision, String> {
        Ok(evaluate(input, config))
    }
}

/// The rules of the module documentation as a pure function.
pub fn evaluate(input: &ComplianceInput, config: &ComplianceConfig) -> ComplianceDecision {
    let now = input.now;
    let days = |d: u32| d as i64;
    if input.tampered {
        return ComplianceDecision {
            mode: Mode::Restricted,
            until: None,
        };
    }
    let mut violation = input.violation_since;
    if input.in_use > input.entitled {
        violation = Some(violation.map_or(now, |v| v.min(now)));
    }
    if let Some(contact) = input.last_contact {
        let alert = contact.plus_days(days(config.contact_alert_days));
        if now >= alert {
            violation = Some(violation.map_or(alert, |v| v.min(alert)));
        }
    }
    if let Some(start) = violation {
        let off = start.plus_days(days(config.deactivate_after_days));
        return if now < off {
            ComplianceDecision {
                mode: Mode::OverUseAlert,
                until: Some(off),
            }
        } else {
            ComplianceDecision {
                mode: Mode::Deactivated,
                until: None,
            }
        };
    }
    if let Some(start) = input.trial_since {
        let end = start.plus_days(days(config.trial_days));
        return if now < end {
            ComplianceDecision {
                mode: Mode::Trial,
                until: Some(end),
            }
        } else {
            ComplianceDecision {
                mode: Mode::Deactivated,
                until: None,
            }
        };
    }
    if input.acquired < input.recorded {
        let start = input.short_since.unwrap_or(now);
        let end = start.plus_days(days(config.grace_days));
        return if now < end {
            ComplianceDecision {
                mode: Mode::Grace,
                until: Some(end),
            }
        } else {
            ComplianceDecision {
                mode: Mode::Restricted,
                until: None,
            }
        };
    }
    ComplianceDecision {
        mode: Mode::Normal,
        until: None,
    }
}

/// Host-side check of a policy's raw answer (mode number, change instant): the mode exists,
/// tampered state is never treated leniently, and the change instant lies after `now`.
pub fn check_decision(
    input: &ComplianceInput,
    mode: u32,
    until: Option<Timestamp>,
) -> Result<ComplianceDecision, ComplianceFault> {
    let mode = Mode::from_u32(mode).ok_or(ComplianceFault::UnknownMode(mode))?;
    if input.tampered && !matches!(mode, Mode::Restricted | Mode::Deactivated) {
        return Err(ComplianceFault::LenientOnTamper(mode));
    }
    if let Some(u) = until {
        if u <= input.now {
            return Err(ComplianceFault::UntilNotAfterNow {
                until: u,
                now: input.now,
            });
        }
    }
    Ok(ComplianceDecision { mode, until })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp(1_790_000_000);
    fn day(n: i64) -> Timestamp {
        T0.plus_days(n)
    }
    fn base() -> ComplianceInput {
        ComplianceInput {
            now: T0,
            entitled: 20,
            in_use: 10,
            recorded: 20,
            acquired: 20,
            ..Default::default()
        }
    }
    fn eval(i: ComplianceInput) -> ComplianceDecision {
        evaluate(&i, &ComplianceConfig::default())
    }

    #[test]
    fn normal_when_everything_is_in_order() {
        assert_eq!(eval(base()).mode, Mode::Normal);
        assert_eq!(eval(base()).until, None);
    }

    #[test]
    fn avaya_grace_thirty_days_then_restricted_and_recovery() {
        let short = ComplianceInput {
            acquired: 15,
            short_since: Some(T0),
            ..base()
        };
        let d = eval(ComplianceInput {
            now: day(29),
            ..short
        });
        assert_eq!(
            d,
            ComplianceDecision {
                mode: Mode::Grace,
                until: Some(day(30))
            }
        );
        let d = eval(ComplianceInput {
            now: day(30),
            ..short
        });
        assert_eq!(d.mode, Mode::Restricted);
        // Recovery: licenses obtained again.
        let d = eval(ComplianceInput {
            now: day(40),
            acquired: 20,
            ..short
        });
        assert_eq!(d.mode, Mode::Normal);
        // Unknown start: the grace clock starts now.
        let d = eval(ComplianceInput {
            short_since: None,
            ..short
        });
        assert_eq!(d.until, Some(day(30)));
    }

    #[test]
    fn tampered_state_is_restricted_at_once() {
        let d = eval(ComplianceInput {
            tampered: true,
            ..base()
        });
        assert_eq!(d.mode, Mode::Restricted);
    }

    #[test]
    fn cisco_trial_180_days_then_deactivated() {
        let t = ComplianceInput {
            entitled: 0,
            in_use: 0,
            recorded: 0,
            acquired: 0,
            trial_since: Some(T0),
            ..base()
        };
        let d = eval(ComplianceInput { now: day(179), ..t });
        assert_eq!(
            d,
            ComplianceDecision {
                mode: Mode::Trial,
                until: Some(day(180))
            }
        );
        assert_eq!(
            eval(ComplianceInput { now: day(180), ..t }).mode,
            Mode::Deactivated
        );
    }

    #[test]
    fn over_use_alerts_then_deactivates_after_six_months() {
        let v = ComplianceInput {
            in_use: 25,
            violation_since: Some(T0),
            ..base()
        };
        let d = eval(ComplianceInput { now: day(100), ..v });
        assert_eq!(
            d,
            ComplianceDecision {
                mode: Mode::OverUseAlert,
                until: Some(day(180))
            }
        );
        assert_eq!(
            eval(ComplianceInput { now: day(180), ..v }).mode,
            Mode::Deactivated
        );
        // Fixing the licenses restores service at once.
        let fixed = ComplianceInput {
            now: day(200),
            in_use: 20,
            violation_since: None,
            ..v
        };
        assert_eq!(eval(fixed).mode, Mode::Normal);
        // Over-use with no recorded start starts the clock now.
        let d = eval(ComplianceInput {
            in_use: 21,
            ..base()
        });
        assert_eq!(d.until, Some(day(180)));
    }

    #[test]
    fn lost_contact_starts_the_violation_clock_after_two_days() {
        let c = ComplianceInput {
            last_contact: Some(T0),
            ..base()
        };
        assert_eq!(
            eval(ComplianceInput { now: day(1), ..c }).mode,
            Mode::Normal
        );
        let d = eval(ComplianceInput { now: day(2), ..c });
        assert_eq!(
            d,
            ComplianceDecision {
                mode: Mode::OverUseAlert,
                until: Some(day(182))
            }
        );
        assert_eq!(
            eval(ComplianceInput { now: day(182), ..c }).mode,
            Mode::Deactivated
        );
    }

    #[test]
    fn violations_outrank_trial_and_grace() {
        let both = ComplianceInput {
            acquired: 10,
            short_since: Some(T0),
            trial_since: Some(T0),
            violation_since: Some(T0),
            now: day(5),
            ..base()
        };
        assert_eq!(eval(both).mode, Mode::OverUseAlert);
        assert_eq!(
            eval(ComplianceInput {
                violation_since: None,
                ..both
            })
            .mode,
            Mode::Trial
        );
    }

    #[test]
    fn validator_refuses_bad_decisions() {
        let i = base();
        assert_eq!(
            check_decision(&i, 9, None),
            Err(ComplianceFault::UnknownMode(9))
        );
        assert_eq!(
            check_decision(
                &ComplianceInput {
                    tampered: true,
                    ..i
                },
                0,
                None
            ),
            Err(ComplianceFault::LenientOnTamper(Mode::Normal))
        );
        assert!(matches!(
            check_decision(&i, 1, Some(T0)),
            Err(ComplianceFault::UntilNotAfterNow { .. })
        ));
        assert_eq!(
            check_decision(&i, 1, Some(day(1))),
            Ok(ComplianceDecision {
                mode: Mode::Grace,
                until: Some(day(1))
            })
        );
    }
}
