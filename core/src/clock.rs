//! Time as the engine sees it: a [`Clock`] abstraction with a system clock for production, a
//! manual clock that tests move by hand, and a [`RollbackGuard`] that refuses to trust a clock
//! that moved backwards by more than a tolerance.
//!
//! Every time-dependent rule in weblm (lease lifetimes, trial periods, code expiry, grace
//! periods, 30-day reclaim) reads time through a `Clock`, so tests move time instead of waiting.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

/// A point in time: whole seconds since the Unix epoch, UTC.
///
/// Seconds are the resolution of every licensing rule (lease lifetimes, trial hours, dates).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Seconds in one day.
    pub const DAY: i64 = 86_400;
    /// Seconds in one hour.
    pub const HOUR: i64 = 3_600;

    /// Midnight UTC at the start of `date`.
    pub fn from_date(date: NaiveDate) -> Self {
        Timestamp(
            date.and_hms_opt(0, 0, 0)
                .expect("midnight exists")
                .and_utc()
                .timestamp(),
        )
    }

    /// This instant moved by `secs` seconds (saturating at the ends of the range).
    pub fn plus_secs(self, secs: i64) -> Self {
        Timestamp(self.0.saturating_add(secs))
    }

    /// This instant moved forward by `days` days (saturating).
    pub fn plus_days(self, days: i64) -> Self {
        self.plus_secs(days.saturating_mul(Self::DAY))
    }

    /// RFC 3339 text for messages and reports (`2026-11-24T00:00:00Z`).
    pub fn to_rfc3339(self) -> String {
        DateTime::<Utc>::from_timestamp(self.0, 0)
            .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_else(|| format!("@{}", self.0))
    }
}

/// Serialized as RFC 3339 text (`"2026-11-24T00:00:00Z"`), the form reports and the HTTP API use.
impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

/// Read from RFC 3339 text or from whole seconds since the epoch.
impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Secs(i64),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::Secs(s) => Ok(Timestamp(s)),
            Repr::Text(t) => DateTime::parse_from_rfc3339(&t)
                .map(|d| Timestamp(d.timestamp()))
                .map_err(|e| serde::de::Error::custom(format!("bad timestamp `{t}`: {e}"))),
        }
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// A source of the current time. Implementations must be cheap: the ledger reads the clock on
/// every acquire.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The operating system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Timestamp(secs)
    }
}

/// A clock that only moves when told to: for tests and for the documented test-only admin
/// endpoints that move a server through days of simulated time. Clones share the same time.
#[derive(Clone, Debug)]
pub struct ManualClock {
    secs: Arc<AtomicI64>,
}

impl ManualClock {
    /// A manual clock standing at `start`.
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            secs: Arc::new(AtomicI64::new(start.0)),
        }
    }

    /// Set the time (it may go backwards, which is how rollback tests are written).
    pub fn set(&self, t: Timestamp) {
        self.secs.store(t.0, Ordering::SeqCst);
    }

    /// Move the time forward (or backward, with a negative value) by `secs` seconds.
    pub fn advance_secs(&self, secs: i64) {
        self.secs.fetch_add(secs, Ordering::SeqCst);
    }

    /// Move the time forward by `days` days.
    pub fn advance_days(&self, days: i64) {
        self.advance_secs(days * Timestamp::DAY);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.secs.load(Ordering::SeqCst))
    }
}

/// The clock moved backwards by more than the tolerance: licensing decisions made on it cannot
/// be trusted (a classic way to stretch a trial), so the caller refuses new grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "clock rollback detected: the clock reads {now} but time {last_seen} was already seen \
     (back by {back_secs} s, tolerance {tolerance_secs} s); no new grants until the clock is correct"
)]
pub struct ClockRollback {
    /// The latest time seen so far.
    pub last_seen: Timestamp,
    /// The time the clock reads now.
    pub now: Timestamp,
    /// How far back the clock moved, in seconds.
    pub back_secs: i64,
    /// The tolerance that was exceeded, in seconds.
    pub tolerance_secs: i64,
}

/// Default tolerance for backwards clock steps: 5 minutes covers NTP corrections.
pub const DEFAULT_ROLLBACK_TOLERANCE_SECS: i64 = 300;

/// Reads a [`Clock`] and remembers the latest time it has seen (the high-water mark). A reading
/// more than `tolerance_secs` behind the mark is reported as [`ClockRollback`]; smaller steps
/// back are tolerated and read as the mark itself, so time never appears to run backwards.
#[derive(Debug)]
pub struct RollbackGuard {
    clock: Arc<dyn Clock>,
    high_water: AtomicI64,
    tolerance_secs: i64,
}

impl RollbackGuard {
    /// A guard over `clock` whose high-water mark starts at `last_seen` (a persisted mark, or
    /// `Timestamp(i64::MIN)` for none).
    pub fn new(clock: Arc<dyn Clock>, last_seen: Timestamp, tolerance_secs: i64) -> Self {
        RollbackGuard {
            clock,
            high_water: AtomicI64::new(last_seen.0),
            tolerance_secs,
        }
    }

    /// The current time, or [`ClockRollback`] when the clock went back past the tolerance.
    pub fn now(&self) -> Result<Timestamp, ClockRollback> {
        let now = self.clock.now();
        // Read first: the mark changes at most once a second, and a read-modify-write on every
        // call would bounce this cache line between cores.
        let mut prev = self.high_water.load(Ordering::Acquire);
        if now.0 > prev {
            prev = self.high_water.fetch_max(now.0, Ordering::AcqRel);
        }
        if now.0 >= prev {
            return Ok(now);
        }
        let back = prev - now.0;
        if back > self.tolerance_secs {
            Err(ClockRollback {
                last_seen: Timestamp(prev),
                now,
                back_secs: back,
                tolerance_secs: self.tolerance_secs,
            })
        } else {
            Ok(Timestamp(prev))
        }
    }

    /// The latest time seen so far (to persist across restarts).
    pub fn high_water(&self) -> Timestamp {
        Timestamp(self.high_water.load(Ordering::Acquire))
    }

    /// The underlying clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(Timestamp(1_000));
        assert_eq!(c.now(), Timestamp(1_000));
        c.advance_days(30);
        assert_eq!(c.now(), Timestamp(1_000 + 30 * 86_400));
        let shared = c.clone();
        shared.set(Timestamp(5));
        assert_eq!(c.now(), Timestamp(5));
    }

    #[test]
    fn rollback_beyond_tolerance_is_reported_small_steps_are_absorbed() {
        let c = ManualClock::new(Timestamp(10_000));
        let g = RollbackGuard::new(Arc::new(c.clone()), Timestamp(i64::MIN), 300);
        assert_eq!(g.now().unwrap(), Timestamp(10_000));
        c.set(Timestamp(9_900)); // 100 s back: NTP-sized, tolerated, reads as the mark
        assert_eq!(g.now().unwrap(), Timestamp(10_000));
        c.set(Timestamp(9_000)); // 1000 s back: refused
        let e = g.now().unwrap_err();
        assert_eq!(e.back_secs, 1_000);
        assert!(e.to_string().contains("clock rollback detected"), "{e}");
        c.set(Timestamp(10_050)); // forward again: trusted
        assert_eq!(g.now().unwrap(), Timestamp(10_050));
    }

    #[test]
    fn persisted_high_water_catches_rollback_across_restart() {
        let c = ManualClock::new(Timestamp(1_000));
        let g = RollbackGuard::new(Arc::new(c), Timestamp(100_000), 300);
        assert!(g.now().is_err());
    }

    #[test]
    fn date_conversion_is_midnight_utc() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        assert_eq!(Timestamp::from_date(d).to_rfc3339(), "2026-11-24T00:00:00Z");
    }
}
