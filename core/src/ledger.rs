//! The lease ledger: the engine a WebLM server runs and an IR process can embed.
//!
//! `acquire(client, feature, version, wanted)` grants `0..=wanted` licenses (partial grants
//! allowed) as a lease that lives for the configured lifetime unless renewed; `renew` extends
//! it; `release` returns it; unrenewed leases expire and their licenses return to the pool.
//!
//! **Invariant**: for every feature, the licenses held by live leases never exceed the
//! entitlement, under any interleaving of threads. Each feature has one mutex; a grant is
//! computed, persisted and recorded while it is held, so no two grants can both see the same
//! free licenses.
//!
//! **Entitlement changes** take effect without a restart: [`Ledger::reload`] installs a new
//! license file, and each feature remembers the next instant at which one of its codes starts
//! or ends and resolves its codes again when that instant has passed. If the entitlement drops
//! below what is in use (a code expired, a file with fewer licenses), existing leases are kept
//! and may be renewed, but no new grant is made until usage falls below the new entitlement.
//!
//! **Persistence**: with a [`Store`], every grant, renewal and release is committed before the
//! call returns; a restarted ledger reloads every live lease. Expired leases are dropped from
//! memory first and from the database on a best-effort basis: a row left behind is expired and
//! is discarded when the ledger next opens, so it can never count twice.
//!
//! **Clock rollback**: time comes through a [`RollbackGuard`] whose high-water mark is persisted;
//! if the clock goes back past the tolerance, `acquire` and `renew` fail with
//! [`LedgerError::ClockRollback`] (fail closed) while `release` keeps working.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};

use arc_swap::ArcSwap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::clock::{
    Clock, ClockRollback, RollbackGuard, Timestamp, DEFAULT_ROLLBACK_TOLERANCE_SECS,
};
use crate::codes::{
    self, CodeInput, Entitlement, ResolveCodes, ResolveContext, SentinelPolicy, Term,
};
use crate::license::VerifiedLicense;
use crate::store::{Durability, LeaseRow, Store, StoreError};

/// A lease id. The high bits name the feature, the low [`SEQ_BITS`] bits a sequence number that
/// is never reused, even across restarts of a persistent ledger.
pub type LeaseId = u64;
/// Bits of a [`LeaseId`] that hold the sequence number.
pub const SEQ_BITS: u32 = 40;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;
const SEQ_BLOCK: u64 = 1 << 16;
const CLOCK_PERSIST_EVERY_SECS: i64 = 60;

/// Default lease lifetime: 600 s, as WebLM's.
pub const DEFAULT_LEASE_LIFETIME_SECS: i64 = 600;

/// Ledger settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerConfig {
    /// How long a lease lives without renewal, in seconds (default 600).
    pub lease_lifetime_secs: i64,
    /// How far the clock may step back before it is distrusted, in seconds (default 300).
    pub rollback_tolerance_secs: i64,
    /// Whether this server runs in a redundant pool (SPEC §2 rule 4).
    pub redundant_server: bool,
    /// How hard commits go to disk, for a persistent ledger.
    pub durability: Durability,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            lease_lifetime_secs: DEFAULT_LEASE_LIFETIME_SECS,
            rollback_tolerance_secs: DEFAULT_ROLLBACK_TOLERANCE_SECS,
            redundant_server: false,
            durability: Durability::Process,
        }
    }
}

/// Why a ledger operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// No license code names this feature/version.
    #[error("unknown feature {feature} {version}: no license code names it")]
    UnknownFeature {
        /// The feature asked for.
        feature: String,
        /// The version asked for.
        version: String,
    },
    /// No live lease has this id (never granted, released, or expired).
    #[error("no live lease {0}: it was never granted, was released, or expired")]
    UnknownLease(LeaseId),
    /// The lease expired before it was renewed.
    #[error("lease {id} expired at {expired}: its licenses went back to the pool")]
    LeaseExpired {
        /// The lease.
        id: LeaseId,
        /// When it expired.
        expired: Timestamp,
    },
    /// The request itself is wrong.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The clock went backwards.
    #[error(transparent)]
    ClockRollback(#[from] ClockRollback),
    /// The state database failed; nothing was granted or changed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A thread panicked while holding this feature's lock; the feature is refused rather than
    /// trusted.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The outcome of an acquire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// The new lease, or `None` when nothing was granted.
    pub lease: Option<LeaseId>,
    /// Licenses granted (0..=wanted).
    pub granted: u32,
    /// Licenses asked for.
    pub wanted: u32,
    /// When the lease expires unless renewed.
    pub expires_at: Option<Timestamp>,
}

/// Counts for one feature/version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Feature name.
    pub feature: String,
    /// Feature version.
    pub version: String,
    /// The entitlement now.
    pub entitled: u32,
    /// Licenses held by live leases.
    pub in_use: u64,
    /// Licenses that can be granted now (`entitled - in_use`, never below 0).
    pub available: u64,
    /// Number of live leases.
    pub leases: usize,
}

/// One live lease, for "who holds what".
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LeaseInfo {
    /// Lease id.
    pub id: LeaseId,
    /// Feature name.
    pub feature: String,
    /// Feature version.
    pub version: String,
    /// Holder.
    pub client: String,
    /// Licenses held.
    pub count: u32,
    /// When granted.
    pub granted_at: Timestamp,
    /// Last renewal.
    pub renewed_at: Timestamp,
    /// Expiry unless renewed.
    pub expires_at: Timestamp,
}

struct Lease {
    client: Box<str>,
    count: u32,
    granted_at: Timestamp,
    renewed_at: Timestamp,
    expires_at: Timestamp,
}

struct FeatureState {
    codes: Vec<CodeInput>,
    entitlement: Entitlement,
    next_change: Option<Timestamp>,
    in_use: u64,
    leases: FxHashMap<u64, Lease>,
    /// A lower bound of the earliest lease expiry (`i64::MAX`: no lease).
    earliest_expiry: Timestamp,
    policy_fault: Option<String>,
    /// Next lease sequence number of this feature.
    next_seq: u64,
    /// Sequence numbers below this are reserved in the database.
    seq_reserved: u64,
}

struct Slot {
    id: u32,
    feature: String,
    version: String,
    state: Mutex<FeatureState>,
}

/// The features a ledger knows. Read on every call without a lock (an `ArcSwap` snapshot);
/// replaced as a whole, under `catalog_writer`, when a license adds features.
#[derive(Clone, Default)]
struct Catalog {
    slots: Vec<Arc<Slot>>,
    by_name: HashMap<String, HashMap<String, u32>>,
}

impl Catalog {
    fn find(&self, feature: &str, version: &str) -> Option<&Arc<Slot>> {
        let id = *self.by_name.get(feature)?.get(version)?;
        self.slots.get(id as usize)
    }
}

/// The lease ledger. `Send + Sync`: share it with an `Arc` across threads.
pub struct Ledger {
    config: LedgerConfig,
    guard: RollbackGuard,
    policy: RwLock<Arc<dyn ResolveCodes>>,
    catalog: ArcSwap<Catalog>,
    catalog_writer: Mutex<()>,
    store: Option<Store>,
    clock_persisted: AtomicI64,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("config", &self.config)
            .field("persistent", &self.store.is_some())
            .finish()
    }
}

fn empty_entitlement() -> Entitlement {
    Entitlement {
        count: 0,
        valid_from: None,
        valid_until: None,
        decisions: Vec::new(),
    }
}

impl Ledger {
    /// An in-memory ledger serving `license`.
    pub fn in_memory(
        license: &VerifiedLicense,
        clock: Arc<dyn Clock>,
        config: LedgerConfig,
    ) -> Self {
        let ledger = Self::bare(clock, config, None, Timestamp(i64::MIN));
        ledger
            .reload(license)
            .expect("an in-memory reload touches no database");
        ledger
    }

    /// A persistent ledger serving `license`, with its state in the SQLite database at `path`
    /// (created if missing). Live leases and trial first uses from an earlier run are restored;
    /// leases that expired meanwhile are dropped.
    pub fn open(
        path: &Path,
        license: &VerifiedLicense,
        clock: Arc<dyn Clock>,
        config: LedgerConfig,
    ) -> Result<Self, LedgerError> {
        let store = Store::open(path, config.durability)?;
        let clock_hw = store
            .meta("clock_high_water")?
            .map_or(Timestamp(i64::MIN), Timestamp);
        let ledger = Self::bare(clock, config, Some(store), clock_hw);
        let store = ledger.store.as_ref().expect("just set");
        {
            let _writer = ledger.lock_writer();
            let mut cat = Catalog::default();
            for (id, feature, version, seq_reserved) in store.features()? {
                if id as usize != cat.slots.len() {
                    return Err(LedgerError::Internal(format!(
                        "state database has a gap in feature ids at {id}"
                    )));
                }
                let slot = Self::push_slot(&mut cat, id, feature, version);
                let mut st = lock(&slot)?;
                st.next_seq = seq_reserved.max(1);
                st.seq_reserved = seq_reserved;
            }
            let first_uses = store.first_uses()?;
            for (fid, pos, t) in first_uses {
                if let Some(slot) = cat.slots.get(fid as usize) {
                    // Placeholder codes carry first uses until the license's codes arrive.
                    let mut st = lock(slot)?;
                    st.codes.push(CodeInput {
                        code: placeholder_code(pos),
                        first_use: Some(t),
                    });
                }
            }
            ledger.catalog.store(Arc::new(cat));
        }
        ledger.reload(license)?;
        let now = ledger.guard.now()?;
        let mut stale = Vec::new();
        {
            let cat = ledger.read_catalog()?;
            for row in store.leases()? {
                let Some(slot) = cat.slots.get(row.feature_id as usize) else {
                    stale.push(row.id);
                    continue;
                };
                if row.expires_at <= now {
                    stale.push(row.id);
                    continue;
                }
                let mut st = lock(slot)?;
                st.in_use += row.count as u64;
                st.earliest_expiry = st.earliest_expiry.min(row.expires_at);
                st.leases.insert(
                    row.id,
                    Lease {
                        client: row.client.into_boxed_str(),
                        count: row.count,
                        granted_at: row.granted_at,
                        renewed_at: row.renewed_at,
                        expires_at: row.expires_at,
                    },
                );
            }
        }
        store.delete_leases(&stale)?;
        Ok(ledger)
    }

    fn bare(
        clock: Arc<dyn Clock>,
        config: LedgerConfig,
        store: Option<Store>,
        clock_hw: Timestamp,
    ) -> Self {
        Ledger {
            guard: RollbackGuard::new(clock, clock_hw, config.rollback_tolerance_secs),
            config,
            policy: RwLock::new(Arc::new(SentinelPolicy)),
            catalog: ArcSwap::from_pointee(Catalog::default()),
            catalog_writer: Mutex::new(()),
            store,
            clock_persisted: AtomicI64::new(clock_hw.0),
        }
    }

    fn push_slot(cat: &mut Catalog, id: u32, feature: String, version: String) -> Arc<Slot> {
        let slot = Arc::new(Slot {
            id,
            feature: feature.clone(),
            version: version.clone(),
            state: Mutex::new(FeatureState {
                codes: Vec::new(),
                entitlement: empty_entitlement(),
                next_change: None,
                in_use: 0,
                leases: FxHashMap::default(),
                earliest_expiry: Timestamp(i64::MAX),
                policy_fault: None,
                next_seq: 1,
                seq_reserved: 0,
            }),
        });
        cat.slots.push(slot.clone());
        cat.by_name.entry(feature).or_default().insert(version, id);
        slot
    }

    fn read_catalog(&self) -> Result<arc_swap::Guard<Arc<Catalog>>, LedgerError> {
        Ok(self.catalog.load())
    }

    fn lock_writer(&self) -> MutexGuard<'_, ()> {
        // The writer lock guards no data of its own; a poisoned one is safe to take.
        self.catalog_writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The settings this ledger runs with.
    pub fn config(&self) -> &LedgerConfig {
        &self.config
    }

    /// Replaces the `resolve_codes` policy; every feature is resolved again at once.
    pub fn set_policy(&self, policy: Arc<dyn ResolveCodes>) -> Result<(), LedgerError> {
        *self
            .policy
            .write()
            .map_err(|_| LedgerError::Internal("policy lock poisoned".into()))? = policy;
        let now = self.guard.now()?;
        let cat = self.read_catalog()?;
        for slot in &cat.slots {
            let mut st = lock(slot)?;
            self.refresh(&mut st, now);
        }
        Ok(())
    }

    /// Installs a new license file (a code added, a new file) without a restart. Features the
    /// new file no longer names drop to an entitlement of 0; their leases are kept until
    /// released or expired, and no new grant is made for them.
    pub fn reload(&self, license: &VerifiedLicense) -> Result<(), LedgerError> {
        let now = self.guard.now()?;
        let mut features = license.content().features();
        let _writer = self.lock_writer();
        let mut cat = Catalog::clone(&self.catalog.load());
        // Features the ledger already knows.
        for slot in cat.slots.clone() {
            let codes = features
                .remove(&(slot.feature.clone(), slot.version.clone()))
                .unwrap_or_default();
            let mut st = lock(&slot)?;
            st.codes = merge_first_uses(&st.codes, codes);
            self.refresh(&mut st, now);
        }
        // New features.
        for ((feature, version), codes) in features {
            let id = u32::try_from(cat.slots.len())
                .map_err(|_| LedgerError::Internal("too many features".into()))?;
            if let Some(store) = &self.store {
                store.insert_feature(id, &feature, &version)?;
            }
            let slot = Self::push_slot(&mut cat, id, feature, version);
            let mut st = lock(&slot)?;
            st.codes = merge_first_uses(&[], codes);
            self.refresh(&mut st, now);
        }
        self.catalog.store(Arc::new(cat));
        Ok(())
    }

    fn refresh(&self, st: &mut FeatureState, now: Timestamp) {
        let ctx = ResolveContext {
            now,
            redundant_server: self.config.redundant_server,
        };
        let policy = self
            .policy
            .read()
            .map(|p| p.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        let ent = match policy.resolve(&st.codes, &ctx) {
            Ok(ent) => match codes::check_entitlement(&st.codes, &ctx, &ent) {
                Ok(()) => {
                    st.policy_fault = None;
                    ent
                }
                Err(fault) => {
                    st.policy_fault =
                        Some(format!("policy {} broke a rule: {fault}", policy.name()));
                    codes::resolve(&st.codes, &ctx)
                }
            },
            Err(e) => {
                st.policy_fault = Some(format!("policy {} failed: {e}", policy.name()));
                codes::resolve(&st.codes, &ctx)
            }
        };
        st.entitlement = ent;
        st.next_change = codes::next_change(&st.codes, now);
    }

    /// The next lease id of a feature. Sequence numbers live in the feature's own state (its
    /// lock is held), so threads on different features share nothing; a persistent ledger
    /// reserves them in blocks so ids are never reused after a restart, without a database write
    /// per grant.
    fn next_lease_id(
        &self,
        feature_id: u32,
        st: &mut FeatureState,
    ) -> Result<LeaseId, LedgerError> {
        let seq = st.next_seq;
        if seq > SEQ_MASK {
            return Err(LedgerError::Internal(
                "lease sequence numbers exhausted".into(),
            ));
        }
        if let Some(store) = &self.store {
            if seq >= st.seq_reserved {
                let upto = (seq / SEQ_BLOCK + 1) * SEQ_BLOCK;
                store.set_seq_reserved(feature_id, upto)?;
                st.seq_reserved = upto;
            }
        }
        st.next_seq = seq + 1;
        Ok(((feature_id as u64) << SEQ_BITS) | seq)
    }

    fn note_time(&self, now: Timestamp) {
        if let Some(store) = &self.store {
            let prev = self.clock_persisted.load(Ordering::Relaxed);
            if now.0 >= prev.saturating_add(CLOCK_PERSIST_EVERY_SECS)
                && self
                    .clock_persisted
                    .compare_exchange(prev, now.0, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            {
                // Best effort: a missed write only makes rollback detection a minute laxer.
                let _ = store.set_meta("clock_high_water", now.0);
            }
        }
    }

    /// Grants up to `wanted` licenses of `feature` `version` to `client`. Grants what is free
    /// (possibly 0, with no lease) rather than failing.
    pub fn acquire(
        &self,
        client: &str,
        feature: &str,
        version: &str,
        wanted: u32,
    ) -> Result<Grant, LedgerError> {
        self.acquire_for(
            client,
            feature,
            version,
            wanted,
            self.config.lease_lifetime_secs,
        )
    }

    /// Like [`Ledger::acquire`], with a lifetime for this lease instead of the configured one
    /// (an Enterprise master keeps allocations and direct reservations for days).
    pub fn acquire_for(
        &self,
        client: &str,
        feature: &str,
        version: &str,
        wanted: u32,
        lifetime_secs: i64,
    ) -> Result<Grant, LedgerError> {
        if lifetime_secs <= 0 {
            return Err(LedgerError::InvalidRequest(
                "lease lifetime must be positive".into(),
            ));
        }
        if wanted == 0 {
            return Err(LedgerError::InvalidRequest(
                "wanted must be at least 1".into(),
            ));
        }
        if client.is_empty() {
            return Err(LedgerError::InvalidRequest("client id is empty".into()));
        }
        let now = self.guard.now()?;
        let cat = self.read_catalog()?;
        let slot = cat
            .find(feature, version)
            .ok_or_else(|| LedgerError::UnknownFeature {
                feature: feature.to_string(),
                version: version.to_string(),
            })?;
        let mut st = lock(slot)?;
        if st.next_change.is_some_and(|t| now >= t) {
            self.refresh(&mut st, now);
        }
        let mut available = (st.entitlement.count as u64).saturating_sub(st.in_use);
        if available < wanted as u64 && now >= st.earliest_expiry {
            self.sweep(&mut st, now);
            available = (st.entitlement.count as u64).saturating_sub(st.in_use);
        }
        let granted = available.min(wanted as u64) as u32;
        if granted == 0 {
            return Ok(Grant {
                lease: None,
                granted: 0,
                wanted,
                expires_at: None,
            });
        }
        self.mark_trial_use(slot.id, &mut st, now)?;
        let id = self.next_lease_id(slot.id, &mut st)?;
        let expires_at = now.plus_secs(lifetime_secs);
        if let Some(store) = &self.store {
            store.insert_lease(&LeaseRow {
                id,
                feature_id: slot.id,
                client: client.to_string(),
                count: granted,
                granted_at: now,
                renewed_at: now,
                expires_at,
            })?;
        }
        st.leases.insert(
            id,
            Lease {
                client: client.into(),
                count: granted,
                granted_at: now,
                renewed_at: now,
                expires_at,
            },
        );
        st.in_use += granted as u64;
        st.earliest_expiry = st.earliest_expiry.min(expires_at);
        drop(st);
        self.note_time(now);
        Ok(Grant {
            lease: Some(id),
            granted,
            wanted,
            expires_at: Some(expires_at),
        })
    }

    /// Trial codes run from first use: the first grant while a never-used trial code counts
    /// starts its clock (persisted before the grant is recorded).
    fn mark_trial_use(
        &self,
        feature_id: u32,
        st: &mut FeatureState,
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        let counted = st.entitlement.counted_positions();
        let mut changed = false;
        for c in st.codes.iter_mut() {
            if c.code.term == Term::Trial
                && c.first_use.is_none()
                && counted.contains(&c.code.position)
            {
                if let Some(store) = &self.store {
                    store.set_first_use(feature_id, c.code.position, now)?;
                }
                c.first_use = Some(now);
                changed = true;
            }
        }
        if changed {
            self.refresh(st, now);
        }
        Ok(())
    }

    fn sweep(&self, st: &mut FeatureState, now: Timestamp) {
        let expired: Vec<u64> = st
            .leases
            .iter()
            .filter(|(_, l)| l.expires_at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            if let Some(l) = st.leases.remove(id) {
                st.in_use -= l.count as u64;
            }
        }
        st.earliest_expiry = st
            .leases
            .values()
            .map(|l| l.expires_at)
            .min()
            .unwrap_or(Timestamp(i64::MAX));
        if let Some(store) = &self.store {
            // Best effort (see the module docs): expired rows are discarded on open anyway.
            let _ = store.delete_leases(&expired);
        }
    }

    fn slot_of(&self, lease: LeaseId) -> Result<Arc<Slot>, LedgerError> {
        let cat = self.read_catalog()?;
        cat.slots
            .get((lease >> SEQ_BITS) as usize)
            .cloned()
            .ok_or(LedgerError::UnknownLease(lease))
    }

    /// Extends a live lease by the lease lifetime from now. Returns the new expiry.
    pub fn renew(&self, lease: LeaseId) -> Result<Timestamp, LedgerError> {
        self.renew_for(lease, self.config.lease_lifetime_secs)
    }

    /// Like [`Ledger::renew`], extending the lease by `lifetime_secs` from now.
    pub fn renew_for(&self, lease: LeaseId, lifetime_secs: i64) -> Result<Timestamp, LedgerError> {
        if lifetime_secs <= 0 {
            return Err(LedgerError::InvalidRequest(
                "lease lifetime must be positive".into(),
            ));
        }
        let now = self.guard.now()?;
        let slot = self.slot_of(lease)?;
        let mut st = lock(&slot)?;
        let expired = match st.leases.get(&lease) {
            None => return Err(LedgerError::UnknownLease(lease)),
            Some(l) => (l.expires_at <= now).then_some(l.expires_at),
        };
        if let Some(at) = expired {
            self.sweep(&mut st, now);
            return Err(LedgerError::LeaseExpired {
                id: lease,
                expired: at,
            });
        }
        let expires_at = now.plus_secs(lifetime_secs);
        if let Some(store) = &self.store {
            store.renew_lease(lease, now, expires_at)?;
        }
        let l = st.leases.get_mut(&lease).expect("checked above");
        l.renewed_at = now;
        l.expires_at = expires_at;
        drop(st);
        self.note_time(now);
        Ok(expires_at)
    }

    /// Returns a lease's licenses to the pool. Returns how many were released.
    pub fn release(&self, lease: LeaseId) -> Result<u32, LedgerError> {
        let slot = self.slot_of(lease)?;
        let mut st = lock(&slot)?;
        if !st.leases.contains_key(&lease) {
            return Err(LedgerError::UnknownLease(lease));
        }
        if let Some(store) = &self.store {
            store.delete_leases(&[lease])?;
        }
        let l = st.leases.remove(&lease).expect("checked above");
        st.in_use -= l.count as u64;
        Ok(l.count)
    }

    /// Like [`Ledger::renew_for`], only if `client` holds the lease (checked under the same
    /// lock as the renewal). Someone else's lease is reported as [`LedgerError::UnknownLease`],
    /// so a server does not reveal which leases exist.
    pub fn renew_held(
        &self,
        lease: LeaseId,
        client: &str,
        lifetime_secs: i64,
    ) -> Result<Timestamp, LedgerError> {
        if lifetime_secs <= 0 {
            return Err(LedgerError::InvalidRequest(
                "lease lifetime must be positive".into(),
            ));
        }
        let now = self.guard.now()?;
        let slot = self.slot_of(lease)?;
        let mut st = lock(&slot)?;
        let expired = match st.leases.get(&lease) {
            Some(l) if &*l.client == client => (l.expires_at <= now).then_some(l.expires_at),
            _ => return Err(LedgerError::UnknownLease(lease)),
        };
        if let Some(at) = expired {
            self.sweep(&mut st, now);
            return Err(LedgerError::LeaseExpired {
                id: lease,
                expired: at,
            });
        }
        let expires_at = now.plus_secs(lifetime_secs);
        if let Some(store) = &self.store {
            store.renew_lease(lease, now, expires_at)?;
        }
        let l = st.leases.get_mut(&lease).expect("checked above");
        l.renewed_at = now;
        l.expires_at = expires_at;
        drop(st);
        self.note_time(now);
        Ok(expires_at)
    }

    /// Like [`Ledger::release`], only if `client` holds the lease (checked under the same lock);
    /// someone else's lease is [`LedgerError::UnknownLease`].
    pub fn release_held(&self, lease: LeaseId, client: &str) -> Result<u32, LedgerError> {
        let slot = self.slot_of(lease)?;
        let mut st = lock(&slot)?;
        match st.leases.get(&lease) {
            Some(l) if &*l.client == client => {}
            _ => return Err(LedgerError::UnknownLease(lease)),
        }
        if let Some(store) = &self.store {
            store.delete_leases(&[lease])?;
        }
        let l = st.leases.remove(&lease).expect("checked above");
        st.in_use -= l.count as u64;
        Ok(l.count)
    }

    /// One live lease (expired leases are reported as [`LedgerError::LeaseExpired`]).
    pub fn lease(&self, lease: LeaseId) -> Result<LeaseInfo, LedgerError> {
        let now = self.guard.now()?;
        let slot = self.slot_of(lease)?;
        let st = lock(&slot)?;
        let l = st
            .leases
            .get(&lease)
            .ok_or(LedgerError::UnknownLease(lease))?;
        if l.expires_at <= now {
            return Err(LedgerError::LeaseExpired {
                id: lease,
                expired: l.expires_at,
            });
        }
        Ok(LeaseInfo {
            id: lease,
            feature: slot.feature.clone(),
            version: slot.version.clone(),
            client: l.client.to_string(),
            count: l.count,
            granted_at: l.granted_at,
            renewed_at: l.renewed_at,
            expires_at: l.expires_at,
        })
    }

    /// Changes the count of a live lease to `target` (at least 1): shrinking always succeeds;
    /// growing takes only what is free, so the result may be below `target`. Returns the new
    /// count. Used by an Enterprise master to give a Local more or take unused licenses back.
    pub fn resize(&self, lease: LeaseId, target: u32) -> Result<u32, LedgerError> {
        if target == 0 {
            return Err(LedgerError::InvalidRequest(
                "a lease cannot be resized to 0; release it instead".into(),
            ));
        }
        let now = self.guard.now()?;
        let slot = self.slot_of(lease)?;
        let mut st = lock(&slot)?;
        let (current, expires_at) = match st.leases.get(&lease) {
            None => return Err(LedgerError::UnknownLease(lease)),
            Some(l) => (l.count, l.expires_at),
        };
        if expires_at <= now {
            self.sweep(&mut st, now);
            return Err(LedgerError::LeaseExpired {
                id: lease,
                expired: expires_at,
            });
        }
        let new_count = if target <= current {
            target
        } else {
            if st.next_change.is_some_and(|t| now >= t) {
                self.refresh(&mut st, now);
            }
            if now >= st.earliest_expiry {
                self.sweep(&mut st, now);
            }
            let available = (st.entitlement.count as u64).saturating_sub(st.in_use);
            current + available.min((target - current) as u64) as u32
        };
        if new_count != current {
            if let Some(store) = &self.store {
                store.set_lease_count(lease, new_count)?;
            }
            let l = st.leases.get_mut(&lease).expect("checked above");
            l.count = new_count;
            st.in_use = st.in_use - current as u64 + new_count as u64;
        }
        Ok(new_count)
    }

    /// Admin force-release: returns every lease `client` holds. Returns the licenses released.
    pub fn release_client(&self, client: &str) -> Result<u64, LedgerError> {
        let cat = self.read_catalog()?;
        let mut total = 0;
        for slot in &cat.slots {
            let mut st = lock(slot)?;
            let ids: Vec<u64> = st
                .leases
                .iter()
                .filter(|(_, l)| &*l.client == client)
                .map(|(id, _)| *id)
                .collect();
            if let Some(store) = &self.store {
                store.delete_leases(&ids)?;
            }
            for id in ids {
                if let Some(l) = st.leases.remove(&id) {
                    st.in_use -= l.count as u64;
                    total += l.count as u64;
                }
            }
        }
        Ok(total)
    }

    /// Drops every expired lease now (the ledger also does this lazily when licenses run short).
    pub fn expire(&self) -> Result<(), LedgerError> {
        let now = self.guard.now()?;
        let cat = self.read_catalog()?;
        for slot in &cat.slots {
            let mut st = lock(slot)?;
            self.sweep(&mut st, now);
            if st.next_change.is_some_and(|t| now >= t) {
                self.refresh(&mut st, now);
            }
        }
        Ok(())
    }

    fn usage_of(&self, slot: &Slot, now: Timestamp) -> Result<Usage, LedgerError> {
        let mut st = lock(slot)?;
        self.sweep(&mut st, now);
        if st.next_change.is_some_and(|t| now >= t) {
            self.refresh(&mut st, now);
        }
        Ok(Usage {
            feature: slot.feature.clone(),
            version: slot.version.clone(),
            entitled: st.entitlement.count,
            in_use: st.in_use,
            available: (st.entitlement.count as u64).saturating_sub(st.in_use),
            leases: st.leases.len(),
        })
    }

    /// In-use and available counts of one feature/version (expired leases dropped first).
    pub fn usage(&self, feature: &str, version: &str) -> Result<Usage, LedgerError> {
        let now = self.guard.now()?;
        let cat = self.read_catalog()?;
        let slot = cat
            .find(feature, version)
            .ok_or_else(|| LedgerError::UnknownFeature {
                feature: feature.to_string(),
                version: version.to_string(),
            })?;
        self.usage_of(slot, now)
    }

    /// Counts for every feature/version the ledger knows, in id order.
    pub fn usage_all(&self) -> Result<Vec<Usage>, LedgerError> {
        let now = self.guard.now()?;
        let cat = self.read_catalog()?;
        cat.slots.iter().map(|s| self.usage_of(s, now)).collect()
    }

    /// The current entitlement of one feature/version, with the reason for every code, and the
    /// fault of the installed policy if it was overruled.
    pub fn entitlement(
        &self,
        feature: &str,
        version: &str,
    ) -> Result<(Entitlement, Option<String>), LedgerError> {
        let now = self.guard.now()?;
        let cat = self.read_catalog()?;
        let slot = cat
            .find(feature, version)
            .ok_or_else(|| LedgerError::UnknownFeature {
                feature: feature.to_string(),
                version: version.to_string(),
            })?;
        let mut st = lock(slot)?;
        if st.next_change.is_some_and(|t| now >= t) {
            self.refresh(&mut st, now);
        }
        Ok((st.entitlement.clone(), st.policy_fault.clone()))
    }

    /// Every live lease (who holds what), in lease-id order.
    pub fn leases(&self) -> Result<Vec<LeaseInfo>, LedgerError> {
        let now = self.guard.now()?;
        let cat = self.read_catalog()?;
        let mut out = Vec::new();
        for slot in &cat.slots {
            let mut st = lock(slot)?;
            self.sweep(&mut st, now);
            out.extend(st.leases.iter().map(|(id, l)| LeaseInfo {
                id: *id,
                feature: slot.feature.clone(),
                version: slot.version.clone(),
                client: l.client.to_string(),
                count: l.count,
                granted_at: l.granted_at,
                renewed_at: l.renewed_at,
                expires_at: l.expires_at,
            }));
        }
        out.sort_by_key(|l| l.id);
        Ok(out)
    }
}

fn lock(slot: &Slot) -> Result<MutexGuard<'_, FeatureState>, LedgerError> {
    slot.state.lock().map_err(|_| {
        LedgerError::Internal(format!(
            "a thread panicked while holding feature {} {}; refusing to trust its counts",
            slot.feature, slot.version
        ))
    })
}

/// A stand-in that carries a persisted first-use time until the real code is installed.
fn placeholder_code(position: u32) -> crate::codes::LicenseCode {
    crate::codes::LicenseCode {
        position,
        feature: String::new(),
        version: String::new(),
        count: 0,
        kind: crate::codes::CodeKind::Additive,
        term: Term::Trial,
        trial_days: None,
        trial_hours: None,
        start: chrono::NaiveDate::MIN,
        end: None,
        redundant: false,
    }
}

/// New codes for a feature, keeping the first-use time each position already had.
fn merge_first_uses(old: &[CodeInput], new: Vec<crate::codes::LicenseCode>) -> Vec<CodeInput> {
    new.into_iter()
        .map(|code| {
            let first_use = old
                .iter()
                .find(|o| o.code.position == code.position)
                .and_then(|o| o.first_use);
            CodeInput { code, first_use }
        })
        .collect()
}
