//! The client's persistent state ("NVRAM", as IR calls it): per feature the recorded license
//! count under IR's high-water rule, the previously configured count, the grace clock and the
//! last successful contact with a license server.
//!
//! The file is two lines: the state as JSON, then `hmac-sha256:<hex>` over exactly the first
//! line's bytes, keyed with the installation's secret (or a fixed key when none is configured,
//! which still detects corruption). It is written atomically: a temporary file in the same
//! directory, `fsync`, `rename`, then `fsync` of the directory. A file that is truncated, edited
//! or signed with another key fails with [`NvramError::Tampered`] or [`NvramError::Corrupt`],
//! and the client goes to Restricted mode with that reason.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::clock::Timestamp;

/// Key used when the installation configures no secret: detects corruption, not tampering by
/// someone who has read the source.
pub const DEFAULT_NVRAM_KEY: &[u8] = b"weblm-nvram-default-key-v1";

const MAC_PREFIX: &str = "hmac-sha256:";

/// Why the persistent state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum NvramError {
    /// The file could not be read or written.
    #[error("NVRAM file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file does not have the expected shape (truncated, not JSON, no MAC line).
    #[error("NVRAM file {path} is corrupt: {detail}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The MAC does not match the content: the file was edited or written with another key.
    #[error("NVRAM file {path} was tampered with: its MAC does not match its content")]
    Tampered {
        /// The file.
        path: PathBuf,
    },
}

/// The recorded state of one feature.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureRecord {
    /// The recorded count (IR's high-water mark).
    pub recorded: u32,
    /// The count configured when the record was last updated (to see a lowered configuration).
    pub configured: u32,
}

/// Everything the client keeps across restarts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NvramState {
    /// Format version (1).
    pub format: u32,
    /// Per feature key `FEATURE@VERSION`.
    pub features: BTreeMap<String, FeatureRecord>,
    /// When the client entered Grace mode (the grace clock), if it is in Grace or Restricted
    /// because of a shortage.
    pub grace_started: Option<Timestamp>,
    /// The last time a license server answered a request successfully.
    pub last_contact: Option<Timestamp>,
}

impl NvramState {
    /// The key under which a feature is recorded.
    pub fn key(feature: &str, version: &str) -> String {
        format!("{feature}@{version}")
    }

    /// Applies IR's high-water rule after an acquisition cycle: `acquired` licenses held of
    /// `configured` wanted. The record is set to `acquired` when that is at least the
    /// configured number or the configuration was lowered; otherwise it never goes down
    /// (configured 30, previously 20, now 15: the record stays 20). Returns the new record.
    pub fn record(&mut self, feature: &str, version: &str, configured: u32, acquired: u32) -> u32 {
        let rec = self
            .features
            .entry(Self::key(feature, version))
            .or_default();
        let lowered = rec.configured != 0 && configured < rec.configured;
        if acquired >= configured || lowered {
            rec.recorded = acquired.min(configured);
        } else {
            rec.recorded = rec.recorded.max(acquired);
        }
        rec.configured = configured;
        rec.recorded
    }

    /// The recorded count of a feature (0 on first start).
    pub fn recorded(&self, feature: &str, version: &str) -> u32 {
        self.features
            .get(&Self::key(feature, version))
            .map_or(0, |r| r.recorded)
    }
}

/// The NVRAM file of one client.
#[derive(Clone, Debug)]
pub struct Nvram {
    path: PathBuf,
    key: Vec<u8>,
}

fn mac_hex(key: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Nvram {
    /// The NVRAM at `path`, protected with `key` (an installation secret; empty: the default).
    pub fn new(path: impl Into<PathBuf>, key: &[u8]) -> Self {
        Nvram {
            path: path.into(),
            key: if key.is_empty() {
                DEFAULT_NVRAM_KEY.to_vec()
            } else {
                key.to_vec()
            },
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the state: `Ok(None)` when there is no file yet (first start).
    pub fn load(&self) -> Result<Option<NvramState>, NvramError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(NvramError::Io {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let corrupt = |detail: &str| NvramError::Corrupt {
            path: self.path.clone(),
            detail: detail.to_string(),
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| corrupt("not UTF-8 text"))?;
        let mut lines = text.split('\n');
        let body = lines.next().ok_or_else(|| corrupt("empty file"))?;
        let mac_line = lines
            .next()
            .ok_or_else(|| corrupt("no MAC line (truncated?)"))?;
        let mac = mac_line
            .strip_prefix(MAC_PREFIX)
            .ok_or_else(|| corrupt("the second line is not an hmac-sha256 MAC"))?;
        if lines.any(|l| !l.is_empty()) {
            return Err(corrupt("unexpected text after the MAC line"));
        }
        let expected = mac_hex(&self.key, body.as_bytes());
        // Compare in constant time through the hmac crate.
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("any key length");
        m.update(body.as_bytes());
        let given = decode_hex(mac).ok_or_else(|| corrupt("the MAC is not hex"))?;
        if m.verify_slice(&given).is_err() {
            debug_assert_ne!(expected, mac);
            return Err(NvramError::Tampered {
                path: self.path.clone(),
            });
        }
        let state: NvramState = serde_json::from_str(body)
            .map_err(|e| corrupt(&format!("state is not valid JSON: {e}")))?;
        if state.format != 1 {
            return Err(corrupt(&format!("unknown format {}", state.format)));
        }
        Ok(Some(state))
    }

    /// Writes the state atomically (temp file, fsync, rename, fsync of the directory).
    pub fn store(&self, state: &NvramState) -> Result<(), NvramError> {
        let io = |source| NvramError::Io {
            path: self.path.clone(),
            source,
        };
        let mut state = state.clone();
        state.format = 1;
        let body = serde_json::to_string(&state).expect("state serializes");
        let text = format!(
            "{body}\n{MAC_PREFIX}{}\n",
            mac_hex(&self.key, body.as_bytes())
        );
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let file_name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "nvram".into());
        let tmp = dir.join(format!(".{file_name}.tmp.{}", std::process::id()));
        {
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(text.as_bytes()).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn high_water_rule_follows_ir() {
        let mut s = NvramState::default();
        assert_eq!(s.recorded("F", "1"), 0, "first start records 0");
        assert_eq!(s.record("F", "1", 30, 20), 20);
        // configured 30, previously 20, now 15: stays 20
        assert_eq!(s.record("F", "1", 30, 15), 20);
        // acquired reaches the configured number: set to it
        assert_eq!(s.record("F", "1", 30, 30), 30);
        assert_eq!(s.record("F", "1", 30, 10), 30);
        // configuration lowered: set to what was acquired
        assert_eq!(s.record("F", "1", 12, 8), 8);
        assert_eq!(s.record("F", "1", 12, 5), 8);
    }

    #[test]
    fn round_trip_and_atomic_write() {
        let dir = tempfile::tempdir().unwrap();
        let nv = Nvram::new(dir.path().join("nv"), b"secret");
        assert_eq!(nv.load().unwrap(), None);
        let mut s = NvramState::default();
        s.record("F", "1", 30, 20);
        s.grace_started = Some(Timestamp(5));
        nv.store(&s).unwrap();
        let back = nv.load().unwrap().unwrap();
        assert_eq!(back.recorded("F", "1"), 20);
        assert_eq!(back.grace_started, Some(Timestamp(5)));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn tampered_corrupt_and_wrong_key_are_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nv");
        let nv = Nvram::new(&path, b"secret");
        let mut s = NvramState::default();
        s.record("F", "1", 30, 20);
        nv.store(&s).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        // raise the record by hand
        std::fs::write(&path, text.replace("\"recorded\":20", "\"recorded\":99")).unwrap();
        assert!(matches!(nv.load(), Err(NvramError::Tampered { .. })));
        // another key
        std::fs::write(&path, &text).unwrap();
        assert!(matches!(
            Nvram::new(&path, b"other").load(),
            Err(NvramError::Tampered { .. })
        ));
        // truncated
        std::fs::write(&path, &text[..text.len() / 2]).unwrap();
        let e = nv.load().unwrap_err();
        assert!(matches!(e, NvramError::Corrupt { .. }), "{e}");
        assert!(e.to_string().contains("corrupt"), "{e}");
    }
}
