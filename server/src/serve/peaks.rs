//! Peak usage per feature and day, for the 7- and 30-day peaks of the usage report. Sampled by
//! the server's maintenance task and at report time; saved next to the state database.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use weblm_core::clock::Timestamp;

/// Days kept (the longest report window).
const KEEP_DAYS: i64 = 30;

/// Daily peaks of licenses in use, per feature key `FEATURE@VERSION`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Peaks {
    days: HashMap<String, BTreeMap<i64, u64>>,
}

impl Peaks {
    /// Loads saved peaks (an unreadable file starts empty, with a warning).
    pub fn load(path: &Path) -> Self {
        match std::fs::read_to_string(path) {
            Ok(t) => serde_json::from_str(&t).unwrap_or_else(|e| {
                tracing::warn!(file = %path.display(), error = %e, "peaks file unreadable; starting empty");
                Peaks::default()
            }),
            Err(_) => Peaks::default(),
        }
    }

    /// Saves atomically (temp + rename).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let tmp = PathBuf::from(format!("{}.tmp", path.display()));
        std::fs::write(&tmp, serde_json::to_vec(self).expect("serializes"))?;
        std::fs::rename(&tmp, path)
    }

    /// Records that `in_use` licenses of `key` were in use at `now`.
    pub fn sample(&mut self, key: &str, in_use: u64, now: Timestamp) {
        let day = now.0.div_euclid(Timestamp::DAY);
        let d = self.days.entry(key.to_string()).or_default();
        let e = d.entry(day).or_insert(0);
        *e = (*e).max(in_use);
        while d
            .first_key_value()
            .is_some_and(|(k, _)| *k <= day - KEEP_DAYS)
        {
            d.pop_first();
        }
    }

    /// The peak over the last `days` days (today included).
    pub fn peak(&self, key: &str, now: Timestamp, days: i64) -> u64 {
        let today = now.0.div_euclid(Timestamp::DAY);
        self.days.get(key).map_or(0, |d| {
            d.range(today - days + 1..=today)
                .map(|(_, v)| *v)
                .max()
                .unwrap_or(0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peaks_cover_their_window_only() {
        let mut p = Peaks::default();
        let t0 = Timestamp(100 * Timestamp::DAY);
        p.sample("F@1", 9, t0);
        p.sample("F@1", 4, t0.plus_days(10));
        let now = t0.plus_days(10);
        assert_eq!(p.peak("F@1", now, 7), 4);
        assert_eq!(p.peak("F@1", now, 30), 9);
        assert_eq!(p.peak("F@1", t0.plus_days(35), 30), 4);
        assert_eq!(p.peak("G@1", now, 30), 0);
    }
}
