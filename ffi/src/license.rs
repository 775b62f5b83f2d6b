//! `weblm_license`: a license file whose signature, host id and (optionally) product version
//! were checked. Immutable once loaded, so it may be shared by any number of threads.

use std::ffi::{c_char, CString};
use std::path::Path;

use weblm_core::clock::Timestamp;
use weblm_core::codes::{self, CodeInput, ResolveContext};
use weblm_core::license::{decode_verifying_key, Expect, LicenseFile, VerifiedLicense};

use crate::boundary::{guard, opt_str_arg, out_arg, str_arg};
use crate::entitlement::{weblm_entitlement, EntitlementData, ENTITLEMENTS};
use crate::registry::Registry;
use crate::status::{
    weblm_status, FfiError, WEBLM_E_INVALID_UTF8, WEBLM_E_OUT_OF_RANGE, WEBLM_E_UNKNOWN_FEATURE,
};

/// The largest license file `weblm_license_load_bytes` accepts: 16 MiB.
pub const WEBLM_MAX_LICENSE_BYTES: usize = 16 * 1024 * 1024;

/// A verified license file (opaque). Create with `weblm_license_load_file` or
/// `weblm_license_load_bytes`; free with `weblm_license_free`.
///
/// Immutable: every function taking a `const weblm_license *` is thread-safe.
#[allow(non_camel_case_types)]
pub struct weblm_license {
    _private: [u8; 0],
}

/// What a license handle holds: the verified file plus C copies of the strings it hands out.
pub(crate) struct LicenseData {
    pub verified: VerifiedLicense,
    vendor: CString,
    product: CString,
    product_version: CString,
    host_id: CString,
    features: Vec<(CString, CString)>,
}

pub(crate) static LICENSES: Registry<LicenseData> = Registry::new("weblm_license");

/// A C copy of a string from a verified file (NUL bytes cannot occur in a parsed TOML string
/// we accept, but are escaped rather than trusted).
fn c_copy(s: &str) -> CString {
    CString::new(s.replace('\0', "\\0")).unwrap_or_default()
}

impl LicenseData {
    fn new(verified: VerifiedLicense) -> Self {
        let c = verified.content();
        let features = c
            .features()
            .keys()
            .map(|(f, v)| (c_copy(f), c_copy(v)))
            .collect();
        LicenseData {
            vendor: c_copy(&c.vendor),
            product: c_copy(&c.product),
            product_version: c_copy(&c.product_version),
            host_id: c_copy(&c.host_id),
            features,
            verified,
        }
    }
}

/// The key and expectations every load takes.
unsafe fn read_expect(
    public_key: *const c_char,
    host_id: *const c_char,
    product_version: *const c_char,
) -> Result<(weblm_core::license::VerifyingKey, Expect), FfiError> {
    let key = str_arg(public_key, "public_key")?;
    let host = str_arg(host_id, "host_id")?;
    let version = opt_str_arg(product_version, "product_version")?;
    let key = decode_verifying_key(key)?;
    Ok((
        key,
        Expect {
            host_id: host.to_string(),
            product_version: version.map(str::to_string),
        },
    ))
}

fn publish(verified: VerifiedLicense, out: &mut *mut weblm_license) -> Result<(), FfiError> {
    *out = LICENSES.insert(LicenseData::new(verified))?;
    Ok(())
}

/// Reads, parses and verifies the license file at `path`.
///
/// - `public_key`: the vendor's public key as text (`weblm-ed25519-public:...`, the content of
///   the `vendor.pub` file `weblm keygen` writes).
/// - `host_id`: this system's host id; a file for another system fails with
///   `WEBLM_E_WRONG_HOST`.
/// - `product_version`: this product's version, or NULL not to check it; a file for another
///   version fails with `WEBLM_E_VERSION_MISMATCH`.
/// - `out`: receives the new handle on success (untouched on failure). The caller owns it and
///   frees it with `weblm_license_free`.
///
/// Errors: `WEBLM_E_NULL_POINTER`, `WEBLM_E_INVALID_UTF8`, `WEBLM_E_IO`, `WEBLM_E_BAD_KEY`,
/// `WEBLM_E_MALFORMED_LICENSE`, `WEBLM_E_BAD_SIGNATURE`, `WEBLM_E_WRONG_HOST`,
/// `WEBLM_E_VERSION_MISMATCH`. Thread-safe.
///
/// # Safety
/// String arguments are NULL or NUL-terminated; `out` is NULL or points to writable storage.
#[no_mangle]
pub unsafe extern "C" fn weblm_license_load_file(
    path: *const c_char,
    public_key: *const c_char,
    host_id: *const c_char,
    product_version: *const c_char,
    out: *mut *mut weblm_license,
) -> weblm_status {
    guard(|| {
        let out = out_arg(out, "out")?;
        let path = str_arg(path, "path")?;
        let (key, expect) = read_expect(public_key, host_id, product_version)?;
        let verified = LicenseFile::read(Path::new(path))?.verify(&key, &expect)?;
        publish(verified, out)
    })
}

/// Parses and verifies a license file held in memory (`len` bytes at `data`, UTF-8 TOML, no
/// NUL terminator needed). The bytes are copied; the caller keeps ownership of `data`.
///
/// `len` must be at most `WEBLM_MAX_LICENSE_BYTES` (else `WEBLM_E_OUT_OF_RANGE`); `data` may be
/// NULL only when `len` is 0. Other arguments, ownership and errors as
/// `weblm_license_load_file` (plus `WEBLM_E_INVALID_UTF8` for the data itself, and no
/// `WEBLM_E_IO`). Thread-safe.
///
/// # Safety
/// `data` points to `len` readable bytes (or is NULL with `len` 0); strings as
/// `weblm_license_load_file`.
#[no_mangle]
pub unsafe extern "C" fn weblm_license_load_bytes(
    data: *const u8,
    len: usize,
    public_key: *const c_char,
    host_id: *const c_char,
    product_version: *const c_char,
    out: *mut *mut weblm_license,
) -> weblm_status {
    guard(|| {
        let out = out_arg(out, "out")?;
        if len > WEBLM_MAX_LICENSE_BYTES {
            return Err(FfiError::new(
                WEBLM_E_OUT_OF_RANGE,
                format!("`len` is {len} bytes, above the maximum license size {WEBLM_MAX_LICENSE_BYTES}"),
            ));
        }
        let bytes: &[u8] = if len == 0 {
            &[]
        } else if data.is_null() {
            return Err(FfiError::null("data"));
        } else {
            std::slice::from_raw_parts(data, len)
        };
        let text = std::str::from_utf8(bytes).map_err(|e| {
            FfiError::new(
                WEBLM_E_INVALID_UTF8,
                format!(
                    "license data is not valid UTF-8 (invalid byte at offset {})",
                    e.valid_up_to()
                ),
            )
        })?;
        let (key, expect) = read_expect(public_key, host_id, product_version)?;
        let verified = LicenseFile::parse(text)?.verify(&key, &expect)?;
        publish(verified, out)
    })
}

/// Frees a license handle. NULL is a no-op returning `WEBLM_OK`; a handle that is not live
/// (already freed: a double free) returns `WEBLM_E_INVALID_HANDLE` and changes nothing.
///
/// Strings obtained from this license become invalid. Servers created from it keep their own
/// copy and are unaffected. Thread-safe, but no other thread may still use the strings.
///
/// # Safety
/// Any pointer value is accepted: it is looked up, never dereferenced.
#[no_mangle]
pub unsafe extern "C" fn weblm_license_free(license: *mut weblm_license) -> weblm_status {
    guard(|| LICENSES.remove(license, "license"))
}

fn string_getter(
    license: *const weblm_license,
    out: *mut *const c_char,
    pick: impl FnOnce(&LicenseData) -> *const c_char,
) -> weblm_status {
    guard(|| {
        let out = out_arg(out, "out")?;
        let data = LICENSES.get(license, "license")?;
        *out = pick(&data);
        Ok(())
    })
}

/// The vendor named in the license file. `*out` is owned by the license and valid until
/// `weblm_license_free`. Thread-safe.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_license_vendor(
    license: *const weblm_license,
    out: *mut *const c_char,
) -> weblm_status {
    string_getter(license, out, |d| d.vendor.as_ptr())
}

/// The product named in the license file. Ownership as `weblm_license_vendor`. Thread-safe.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_license_product(
    license: *const weblm_license,
    out: *mut *const c_char,
) -> weblm_status {
    string_getter(license, out, |d| d.product.as_ptr())
}

/// The product version the license file is for. Ownership as `weblm_license_vendor`.
/// Thread-safe.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_license_product_version(
    license: *const weblm_license,
    out: *mut *const c_char,
) -> weblm_status {
    string_getter(license, out, |d| d.product_version.as_ptr())
}

/// The host id the license file was issued for. Ownership as `weblm_license_vendor`.
/// Thread-safe.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_license_host_id(
    license: *const weblm_license,
    out: *mut *const c_char,
) -> weblm_status {
    string_getter(license, out, |d| d.host_id.as_ptr())
}

/// The number of distinct feature/version pairs the license's codes name. Thread-safe.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_license_feature_count(
    license: *const weblm_license,
    out: *mut usize,
) -> weblm_status {
    guard(|| {
        let out = out_arg(out, "out")?;
        let data = LICENSES.get(license, "license")?;
        *out = data.features.len();
        Ok(())
    })
}

/// The feature/version pair at `index` (0-based, sorted by feature then version); `index` at
/// or past `weblm_license_feature_count` fails with `WEBLM_E_OUT_OF_RANGE`. Both strings are
/// owned by the license and valid until `weblm_license_free`. Thread-safe.
///
/// # Safety
/// `feature` and `version` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_license_feature_at(
    license: *const weblm_license,
    index: usize,
    feature: *mut *const c_char,
    version: *mut *const c_char,
) -> weblm_status {
    guard(|| {
        let feature = out_arg(feature, "feature")?;
        let version = out_arg(version, "version")?;
        let data = LICENSES.get(license, "license")?;
        let (f, v) = data.features.get(index).ok_or_else(|| {
            FfiError::new(
                WEBLM_E_OUT_OF_RANGE,
                format!(
                    "feature index {index} is out of range: the license names {} feature/version pairs",
                    data.features.len()
                ),
            )
        })?;
        *feature = f.as_ptr();
        *version = v.as_ptr();
        Ok(())
    })
}

/// What `feature` `version` is worth at time `at` (seconds since the Unix epoch, UTC) by the
/// license's codes alone, on a standalone (not redundant) server: the count, the validity
/// window and why each code counted or not (Sentinel RMS rules). Trial codes are taken as first
/// used at `at`; a running server's view, with real first uses, is `weblm_server_entitlement`.
///
/// `*out` receives a new entitlement handle the caller owns and frees with
/// `weblm_entitlement_free`. Errors: `WEBLM_E_NULL_POINTER`, `WEBLM_E_INVALID_HANDLE`,
/// `WEBLM_E_INVALID_UTF8`, `WEBLM_E_UNKNOWN_FEATURE`. Thread-safe.
///
/// # Safety
/// Strings are NULL or NUL-terminated; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weblm_license_entitlement(
    license: *const weblm_license,
    feature: *const c_char,
    version: *const c_char,
    at: i64,
    out: *mut *mut weblm_entitlement,
) -> weblm_status {
    guard(|| {
        let out = out_arg(out, "out")?;
        let data = LICENSES.get(license, "license")?;
        let feature = str_arg(feature, "feature")?;
        let version = str_arg(version, "version")?;
        let codes = data
            .verified
            .content()
            .features()
            .remove(&(feature.to_string(), version.to_string()))
            .ok_or_else(|| {
                FfiError::new(
                    WEBLM_E_UNKNOWN_FEATURE,
                    format!("unknown feature {feature} {version}: no license code names it"),
                )
            })?;
        let inputs: Vec<CodeInput> = codes.into_iter().map(CodeInput::new).collect();
        let ctx = ResolveContext {
            now: Timestamp(at),
            redundant_server: false,
        };
        let ent = codes::resolve(&inputs, &ctx);
        *out = ENTITLEMENTS.insert(EntitlementData::new(&ent))?;
        Ok(())
    })
}
