//! Library and ABI versions, as header macros and as run-time functions, so a binding can check
//! that the header it was built with matches the library it loaded.

use std::ffi::c_char;

/// Major version of this library (header macro; compare with `weblm_version_number()`).
pub const WEBLM_VERSION_MAJOR: u32 = 0;
/// Minor version of this library.
pub const WEBLM_VERSION_MINOR: u32 = 1;
/// Patch version of this library.
pub const WEBLM_VERSION_PATCH: u32 = 0;
/// `MAJOR * 1000000 + MINOR * 1000 + PATCH`, as sqlite's `SQLITE_VERSION_NUMBER`.
pub const WEBLM_VERSION_NUMBER: u32 =
    WEBLM_VERSION_MAJOR * 1_000_000 + WEBLM_VERSION_MINOR * 1_000 + WEBLM_VERSION_PATCH;
/// The ABI version: raised whenever a function signature, struct layout or constant value of
/// this header changes incompatibly. A binding built for ABI N must refuse a library reporting
/// another value from `weblm_abi_version()`.
pub const WEBLM_ABI_VERSION: u32 = 1;

const VERSION_STR: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The library version as text, e.g. `"0.1.0"`.
///
/// Never NULL; static, do not free. Thread-safe.
#[no_mangle]
pub extern "C" fn weblm_version() -> *const c_char {
    VERSION_STR.as_ptr().cast()
}

/// The library version as a number (`MAJOR * 1000000 + MINOR * 1000 + PATCH`); equals
/// `WEBLM_VERSION_NUMBER` when header and library match. Thread-safe.
#[no_mangle]
pub extern "C" fn weblm_version_number() -> u32 {
    WEBLM_VERSION_NUMBER
}

/// The ABI version of the loaded library; equals `WEBLM_ABI_VERSION` when header and library
/// match. Thread-safe.
#[no_mangle]
pub extern "C" fn weblm_abi_version() -> u32 {
    WEBLM_ABI_VERSION
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn header_constants_match_the_cargo_version() {
        let parts: Vec<u32> = env!("CARGO_PKG_VERSION")
            .split('.')
            .map(|p| p.parse().unwrap())
            .collect();
        assert_eq!(
            parts,
            [
                WEBLM_VERSION_MAJOR,
                WEBLM_VERSION_MINOR,
                WEBLM_VERSION_PATCH
            ]
        );
        assert_eq!(
            weblm_version_number(),
            parts[0] * 1_000_000 + parts[1] * 1_000 + parts[2]
        );
        // The text macro lives in ffi/cbindgen.toml (cbindgen emits no string constants).
        let header = include_str!("../../include/weblm.h");
        let want = format!("#define WEBLM_VERSION \"{}\"", env!("CARGO_PKG_VERSION"));
        assert!(header.contains(&want), "include/weblm.h lacks `{want}`");
        let v = unsafe { CStr::from_ptr(weblm_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
