//! Live-handle registries: why a double free or a stale handle is a status, never UB.
//!
//! A handle given to C is an opaque token, not an address: a number drawn from one
//! process-wide counter that never repeats, so a freed handle never comes back as another
//! object, and a handle of one type is never a live handle of another. Each handle type has one
//! registry mapping its tokens to an `Arc` of the object. A token from C is only looked up,
//! never dereferenced: one that is not in the registry (freed already, never created, a handle
//! of another type, garbage) is refused with `WEBLM_E_INVALID_HANDLE`. A call clones the `Arc`
//! out of the registry, so a `_free` on another thread during the call only drops the
//! registry's reference; the object lives until the call ends.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, RwLock};

use rustc_hash::FxHashMap;

use crate::status::{FfiError, WEBLM_E_INTERNAL, WEBLM_E_INVALID_HANDLE};

/// The live handles of one type `T`, exposed to C as `*H`.
pub(crate) struct Registry<T> {
    type_name: &'static str,
    live: LazyLock<RwLock<FxHashMap<usize, Arc<T>>>>,
}

/// The next handle token: shared by every handle type, never reused. Tokens are spaced by 16
/// and start high, so that they look like aligned pointers and are never NULL or small.
static NEXT_TOKEN: AtomicUsize = AtomicUsize::new(1);
const TOKEN_BASE: usize = 0x1_0000;
const TOKEN_STEP: usize = 16;

fn poisoned() -> FfiError {
    FfiError::new(
        WEBLM_E_INTERNAL,
        "internal error: handle registry lock poisoned",
    )
}

impl<T> Registry<T> {
    /// An empty registry for handles called `type_name` in messages.
    pub const fn new(type_name: &'static str) -> Self {
        Registry {
            type_name,
            live: LazyLock::new(|| RwLock::new(FxHashMap::default())),
        }
    }

    /// Registers `obj` and returns its handle.
    pub fn insert<H>(&self, obj: T) -> Result<*mut H, FfiError> {
        let n = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
        let token = n
            .checked_mul(TOKEN_STEP)
            .and_then(|t| t.checked_add(TOKEN_BASE))
            .ok_or_else(|| {
                FfiError::new(WEBLM_E_INTERNAL, "internal error: handle tokens exhausted")
            })?;
        let mut live = self.live.write().map_err(|_| poisoned())?;
        live.insert(token, Arc::new(obj));
        Ok(token as *mut H)
    }

    /// The object behind a live handle.
    pub fn get<H>(&self, handle: *const H, what: &str) -> Result<Arc<T>, FfiError> {
        if handle.is_null() {
            return Err(FfiError::null(what));
        }
        let live = self.live.read().map_err(|_| poisoned())?;
        live.get(&(handle as usize))
            .cloned()
            .ok_or_else(|| self.not_live(what))
    }

    /// Runs `f` on the object behind a live handle while holding the registry's read lock,
    /// saving the `Arc` clone of [`Registry::get`] on hot paths. A `_free` of any handle of
    /// this type waits until `f` returns. `f` must not touch any registry (no nested lock
    /// order, hence no deadlock); work that does uses [`Registry::get`].
    pub fn with<H, R>(
        &self,
        handle: *const H,
        what: &str,
        f: impl FnOnce(&T) -> Result<R, FfiError>,
    ) -> Result<R, FfiError> {
        if handle.is_null() {
            return Err(FfiError::null(what));
        }
        let live = self.live.read().map_err(|_| poisoned())?;
        let obj = live
            .get(&(handle as usize))
            .ok_or_else(|| self.not_live(what))?;
        f(obj)
    }

    /// Removes a handle. NULL is a no-op; a handle that is not live is an error.
    pub fn remove<H>(&self, handle: *const H, what: &str) -> Result<(), FfiError> {
        if handle.is_null() {
            return Ok(());
        }
        let removed = {
            let mut live = self.live.write().map_err(|_| poisoned())?;
            live.remove(&(handle as usize))
        };
        // The object is dropped here, outside the lock (or later, by a call still using it).
        match removed {
            Some(obj) => {
                drop(obj);
                Ok(())
            }
            None => Err(self.not_live(what)),
        }
    }

    fn not_live(&self, what: &str) -> FfiError {
        FfiError::new(
            WEBLM_E_INVALID_HANDLE,
            format!(
                "`{what}` is not a live {} handle: it was freed already (double free or use \
                 after free), or was never returned by libweblm",
                self.type_name
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::WEBLM_E_NULL_POINTER;

    struct Opaque;

    #[test]
    fn double_free_and_stale_use_are_refused() {
        static R: Registry<String> = Registry::new("weblm_test");
        let h: *mut Opaque = R.insert("x".to_string()).unwrap();
        assert_eq!(*R.get(h, "h").unwrap(), "x");
        let held = R.get(h, "h").unwrap();
        R.remove(h, "h").unwrap();
        // A call in flight keeps the object alive after the free.
        assert_eq!(*held, "x");
        let e = R.remove(h, "h").unwrap_err();
        assert_eq!(e.status, WEBLM_E_INVALID_HANDLE);
        assert!(e.message.contains("weblm_test"), "{}", e.message);
        assert_eq!(R.get(h, "h").unwrap_err().status, WEBLM_E_INVALID_HANDLE);
        assert!(R.remove(std::ptr::null::<Opaque>(), "h").is_ok());
        assert_eq!(
            R.get(std::ptr::null::<Opaque>(), "h").unwrap_err().status,
            WEBLM_E_NULL_POINTER
        );
        // A made-up address is never dereferenced.
        let bogus = 0xdead_beef_usize as *const Opaque;
        assert_eq!(
            R.get(bogus, "h").unwrap_err().status,
            WEBLM_E_INVALID_HANDLE
        );
    }
}
