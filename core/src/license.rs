//! Vendor-signed license files: the TOML format, the canonical form the ed25519 signature
//! covers, issuing and adding codes (vendor side), and loading with every check (customer side).
//!
//! A file looks like this (`weblm show` prints one):
//!
//! ```toml
//! format = 1
//! vendor = "Acme Voice"
//! product = "IR"
//! product_version = "5.0"
//! host_id = "ir-host-01"
//! issued = "2026-11-24"
//!
//! [[code]]
//! position = 1
//! feature = "VALUE_IR_VOIP_PORTS"
//! version = "5.0"
//! count = 20
//! kind = "additive"
//! term = "permanent"
//! start = "2026-11-24"
//! redundant = false
//!
//! [signature]
//! algorithm = "ed25519"
//! value = "…base64…"
//! ```
//!
//! The signature covers [`LicenseContent::canonical_bytes`]: a domain-separation line followed
//! by the content as compact JSON with fields in declaration order. TOML layout, comments and
//! key order can change without breaking the signature; any change of a value breaks it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use chrono::NaiveDate;
use ed25519_dalek::{Signer, Verifier};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::codes::LicenseCode;

/// The license file format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
const SIGNING_DOMAIN: &[u8] = b"weblm-license-v1\n";
const SECRET_PREFIX: &str = "weblm-ed25519-secret:";
const PUBLIC_PREFIX: &str = "weblm-ed25519-public:";

/// Why a license file or key was refused. Each variant's message names the problem.
#[derive(Debug, thiserror::Error)]
pub enum LicenseError {
    /// The file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not a well-formed license file.
    #[error("malformed license file at line {line}, column {column}: {message}")]
    Malformed {
        /// 1-based line (0 when the format gives none).
        line: usize,
        /// 1-based column (0 when the format gives none).
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// A field this format does not define: refused rather than silently ignored.
    #[error("unknown field `{field}` in license file at line {line}, column {column}")]
    UnknownField {
        /// The field's name.
        field: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The file's format version is not one this build reads.
    #[error("unsupported license file format {found}; this build reads format {supported}")]
    UnsupportedFormat {
        /// The file's format number.
        found: u32,
        /// The format this build reads.
        supported: u32,
    },
    /// The signature does not match the content: tampered with, or signed by another key.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// The file was issued for another system.
    #[error("license file was not issued for this system: file is for {file_host}, this system is {this_host}")]
    WrongHost {
        /// The host id in the file.
        file_host: String,
        /// This system's host id.
        this_host: String,
    },
    /// The file was issued for another product version.
    #[error("product version mismatch: license file is for {product} {file_version}, this is {product} {expected}")]
    VersionMismatch {
        /// The product named in the file.
        product: String,
        /// The product version in the file.
        file_version: String,
        /// The version this system runs.
        expected: String,
    },
    /// A count is out of range, or the codes of one feature/version add up past the maximum.
    #[error("count overflow for {feature} {version}: {detail}")]
    CountOverflow {
        /// The feature.
        feature: String,
        /// Its version.
        version: String,
        /// What overflowed.
        detail: String,
    },
    /// A license code breaks a rule (SPEC §2); `position` 0 means a code not yet added.
    #[error("invalid license code #{position}: {reason}")]
    InvalidCode {
        /// The code's position.
        position: u32,
        /// The rule it breaks.
        reason: String,
    },
    /// A key file is malformed.
    #[error("bad key: {0}")]
    BadKey(String),
}

/// Everything in a license file except its signature: what the vendor signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseContent {
    /// Format version ([`FORMAT_VERSION`]).
    pub format: u32,
    /// The vendor's name.
    pub vendor: String,
    /// The product the file licenses.
    pub product: String,
    /// The product version the file licenses.
    pub product_version: String,
    /// The one system the file is for.
    pub host_id: String,
    /// The day the file was issued.
    pub issued: NaiveDate,
    /// The license codes, in the order they were added.
    #[serde(default, rename = "code")]
    pub codes: Vec<LicenseCode>,
}

impl LicenseContent {
    /// Content in the current format with no codes yet.
    pub fn new(
        vendor: impl Into<String>,
        product: impl Into<String>,
        product_version: impl Into<String>,
        host_id: impl Into<String>,
        issued: NaiveDate,
    ) -> Self {
        LicenseContent {
            format: FORMAT_VERSION,
            vendor: vendor.into(),
            product: product.into(),
            product_version: product_version.into(),
            host_id: host_id.into(),
            issued,
            codes: Vec::new(),
        }
    }

    /// The bytes the signature covers.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = SIGNING_DOMAIN.to_vec();
        // Serialization of these plain structs cannot fail.
        out.extend(serde_json::to_vec(self).expect("license content serializes"));
        out
    }

    /// The codes grouped by (feature, version), each group in file order.
    pub fn features(&self) -> BTreeMap<(String, String), Vec<LicenseCode>> {
        let mut map: BTreeMap<(String, String), Vec<LicenseCode>> = BTreeMap::new();
        for c in &self.codes {
            map.entry((c.feature.clone(), c.version.clone()))
                .or_default()
                .push(c.clone());
        }
        map
    }

    /// Checks the content's own rules: known format, valid codes, unique positions, and counts
    /// whose per-feature sum fits in a `u32` (so no combination can overflow).
    pub fn validate(&self) -> Result<(), LicenseError> {
        if self.format != FORMAT_VERSION {
            return Err(LicenseError::UnsupportedFormat {
                found: self.format,
                supported: FORMAT_VERSION,
            });
        }
        let mut seen = std::collections::BTreeSet::new();
        for c in &self.codes {
            if !seen.insert(c.position) {
                return Err(LicenseError::InvalidCode {
                    position: c.position,
                    reason: "two codes share this position".into(),
                });
            }
            c.validate().map_err(|reason| LicenseError::InvalidCode {
                position: c.position,
                reason,
            })?;
        }
        for ((feature, version), codes) in self.features() {
            let total: u64 = codes.iter().map(|c| c.count as u64).sum();
            if total > u32::MAX as u64 {
                return Err(LicenseError::CountOverflow {
                    feature,
                    version,
                    detail: format!("codes add up to {total}, above the maximum {}", u32::MAX),
                });
            }
        }
        Ok(())
    }
}

/// The signature block of a license file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureBlock {
    /// Always `ed25519`.
    pub algorithm: String,
    /// The signature, standard base64.
    pub value: String,
}

/// A license file as parsed, not yet verified. Use [`LicenseFile::verify`] (or
/// [`load_license`]) to get a [`VerifiedLicense`], the only form the engine accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LicenseFile {
    /// The signed content.
    pub content: LicenseContent,
    /// The signature over [`LicenseContent::canonical_bytes`].
    pub signature: SignatureBlock,
}

/// The file as written: the content's fields, with counts read wide so that an out-of-range count
/// is reported as [`LicenseError::CountOverflow`] rather than as a parse error, and the
/// signature table. (serde cannot combine `flatten` with `deny_unknown_fields`, hence the copy.)
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRepr {
    format: u32,
    vendor: String,
    product: String,
    product_version: String,
    host_id: String,
    issued: NaiveDate,
    #[serde(default, rename = "code")]
    codes: Vec<CodeRepr>,
    signature: SignatureBlock,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeRepr {
    position: u32,
    feature: String,
    version: String,
    count: i64,
    kind: crate::codes::CodeKind,
    term: crate::codes::Term,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trial_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trial_hours: Option<u32>,
    start: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end: Option<NaiveDate>,
    #[serde(default)]
    redundant: bool,
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn toml_error(text: &str, e: &toml::de::Error) -> LicenseError {
    let (line, column) = e.span().map_or((0, 0), |s| line_col(text, s.start));
    let message = e.message().to_string();
    // serde's standard wording for deny_unknown_fields: "unknown field `x`, expected ...".
    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some(field) = rest.split('`').next() {
            return LicenseError::UnknownField {
                field: field.to_string(),
                line,
                column,
            };
        }
    }
    LicenseError::Malformed {
        line,
        column,
        message,
    }
}

impl LicenseFile {
    /// Parses license file text and checks the content's own rules. The signature is not
    /// checked here.
    pub fn parse(text: &str) -> Result<Self, LicenseError> {
        let r: FileRepr = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        let mut codes = Vec::with_capacity(r.codes.len());
        for c in r.codes {
            let count = u32::try_from(c.count).map_err(|_| LicenseError::CountOverflow {
                feature: c.feature.clone(),
                version: c.version.clone(),
                detail: format!(
                    "code #{} has count {}, outside 0..={}",
                    c.position,
                    c.count,
                    u32::MAX
                ),
            })?;
            codes.push(LicenseCode {
                position: c.position,
                feature: c.feature,
                version: c.version,
                count,
                kind: c.kind,
                term: c.term,
                trial_days: c.trial_days,
                trial_hours: c.trial_hours,
                start: c.start,
                end: c.end,
                redundant: c.redundant,
            });
        }
        let content = LicenseContent {
            format: r.format,
            vendor: r.vendor,
            product: r.product,
            product_version: r.product_version,
            host_id: r.host_id,
            issued: r.issued,
            codes,
        };
        content.validate()?;
        Ok(LicenseFile {
            content,
            signature: r.signature,
        })
    }

    /// Reads and parses a license file from disk.
    pub fn read(path: &Path) -> Result<Self, LicenseError> {
        let text = std::fs::read_to_string(path).map_err(|source| LicenseError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text)
    }

    /// The file as TOML text.
    pub fn to_toml(&self) -> String {
        #[derive(Serialize)]
        struct Out<'a> {
            format: u32,
            vendor: &'a str,
            product: &'a str,
            product_version: &'a str,
            host_id: &'a str,
            issued: NaiveDate,
            #[serde(rename = "code")]
            codes: &'a [LicenseCode],
            signature: &'a SignatureBlock,
        }
        let c = &self.content;
        toml::to_string(&Out {
            format: c.format,
            vendor: &c.vendor,
            product: &c.product,
            product_version: &c.product_version,
            host_id: &c.host_id,
            issued: c.issued,
            codes: &c.codes,
            signature: &self.signature,
        })
        .expect("license file serializes as TOML")
    }

    /// Vendor side: sign `content` into a license file. Refuses content that breaks the rules.
    pub fn issue(content: LicenseContent, key: &SigningKey) -> Result<Self, LicenseError> {
        content.validate()?;
        let sig = key.sign(&content.canonical_bytes());
        Ok(LicenseFile {
            content,
            signature: SignatureBlock {
                algorithm: "ed25519".into(),
                value: base64::engine::general_purpose::STANDARD.encode(sig.to_bytes()),
            },
        })
    }

    /// Vendor side, in the manner of Sentinel's `lslic`: add one code after the existing ones
    /// (its position is set to the next one) and re-sign. The file must verify under `key`
    /// first, so a tampered file is never re-signed. Returns the new code's position.
    pub fn add_code(
        &mut self,
        mut code: LicenseCode,
        key: &SigningKey,
    ) -> Result<u32, LicenseError> {
        self.check_signature(&key.verifying_key())?;
        code.position = self
            .content
            .codes
            .iter()
            .map(|c| c.position)
            .max()
            .unwrap_or(0)
            + 1;
        let mut content = self.content.clone();
        content.codes.push(code);
        let position = content.codes.last().map(|c| c.position).unwrap_or(1);
        *self = Self::issue(content, key)?;
        Ok(position)
    }

    /// Checks the signature only.
    pub fn check_signature(&self, key: &VerifyingKey) -> Result<(), LicenseError> {
        if self.signature.algorithm != "ed25519" {
            return Err(LicenseError::BadSignature(format!(
                "unsupported algorithm `{}` (expected ed25519)",
                self.signature.algorithm
            )));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(self.signature.value.trim())
            .map_err(|e| LicenseError::BadSignature(format!("signature is not base64: {e}")))?;
        let sig = ed25519_dalek::Signature::from_slice(&bytes).map_err(|_| {
            LicenseError::BadSignature(format!("signature is {} bytes, expected 64", bytes.len()))
        })?;
        key.verify(&self.content.canonical_bytes(), &sig)
            .map_err(|_| {
                LicenseError::BadSignature(
                    "signature does not match the content: the file was changed after signing, or \
                 was signed by another vendor key"
                        .into(),
                )
            })
    }

    /// Customer side: checks the signature, then the host id and product version.
    pub fn verify(
        self,
        key: &VerifyingKey,
        expect: &Expect,
    ) -> Result<VerifiedLicense, LicenseError> {
        self.check_signature(key)?;
        if self.content.host_id != expect.host_id {
            return Err(LicenseError::WrongHost {
                file_host: self.content.host_id.clone(),
                this_host: expect.host_id.clone(),
            });
        }
        if let Some(v) = &expect.product_version {
            if &self.content.product_version != v {
                return Err(LicenseError::VersionMismatch {
                    product: self.content.product.clone(),
                    file_version: self.content.product_version.clone(),
                    expected: v.clone(),
                });
            }
        }
        Ok(VerifiedLicense(self))
    }
}

/// What the loading system expects of a license file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expect {
    /// This system's host id.
    pub host_id: String,
    /// This system's product version, if it should be checked.
    pub product_version: Option<String>,
}

impl Expect {
    /// Expect `host_id`, any product version.
    pub fn host(host_id: impl Into<String>) -> Self {
        Expect {
            host_id: host_id.into(),
            product_version: None,
        }
    }
}

/// A license file whose signature, host id and product version were checked. The engine only
/// takes these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedLicense(LicenseFile);

impl VerifiedLicense {
    /// The checked content.
    pub fn content(&self) -> &LicenseContent {
        &self.0.content
    }
    /// The checked file.
    pub fn file(&self) -> &LicenseFile {
        &self.0
    }
}

/// Reads, parses and verifies a license file in one step.
pub fn load_license(
    path: &Path,
    key: &VerifyingKey,
    expect: &Expect,
) -> Result<VerifiedLicense, LicenseError> {
    LicenseFile::read(path)?.verify(key, expect)
}

/// Generates a new vendor signing key from the OS's random source.
pub fn generate_key() -> Result<SigningKey, LicenseError> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed)
        .map_err(|e| LicenseError::BadKey(format!("no random source: {e}")))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// A signing key as one line of text (`weblm-ed25519-secret:<base64>`).
pub fn encode_signing_key(key: &SigningKey) -> String {
    format!(
        "{SECRET_PREFIX}{}\n",
        base64::engine::general_purpose::STANDARD.encode(key.to_bytes())
    )
}

/// A public key as one line of text (`weblm-ed25519-public:<base64>`).
pub fn encode_verifying_key(key: &VerifyingKey) -> String {
    format!(
        "{PUBLIC_PREFIX}{}\n",
        base64::engine::general_purpose::STANDARD.encode(key.to_bytes())
    )
}

fn decode_key_bytes(text: &str, prefix: &str, what: &str) -> Result<[u8; 32], LicenseError> {
    let body = text.trim().strip_prefix(prefix).ok_or_else(|| {
        LicenseError::BadKey(format!(
            "not a weblm {what} key (expected it to start with `{prefix}`)"
        ))
    })?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| LicenseError::BadKey(format!("{what} key is not base64: {e}")))?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        LicenseError::BadKey(format!("{what} key is {} bytes, expected 32", b.len()))
    })
}

/// Parses a signing key written by [`encode_signing_key`].
pub fn decode_signing_key(text: &str) -> Result<SigningKey, LicenseError> {
    Ok(SigningKey::from_bytes(&decode_key_bytes(
        text,
        SECRET_PREFIX,
        "secret",
    )?))
}

/// Parses a public key written by [`encode_verifying_key`].
pub fn decode_verifying_key(text: &str) -> Result<VerifyingKey, LicenseError> {
    VerifyingKey::from_bytes(&decode_key_bytes(text, PUBLIC_PREFIX, "public")?)
        .map_err(|e| LicenseError::BadKey(format!("public key is not a valid ed25519 point: {e}")))
}

/// Reads a file to a string, with the path in the error.
pub fn read_text(path: &Path) -> Result<String, LicenseError> {
    std::fs::read_to_string(path).map_err(|source| LicenseError::Io {
        path: path.to_path_buf(),
        source,
    })
}
