//! Durable ledger state in SQLite (rusqlite, bundled, WAL mode): live leases, stable feature
//! ids, trial first-use times, the lease-id reservation and the clock's high-water mark.
//!
//! Durability: every grant, renewal and release is its own committed transaction before the
//! ledger answers, so a process killed with SIGKILL loses nothing it reported. The journal runs
//! with `synchronous=NORMAL`, which survives any process crash; [`Durability::Full`] adds an
//! fsync per commit for power-loss safety at a large cost in grants per second.
//!
//! A store holds its database exclusively (SQLite `locking_mode=EXCLUSIVE`): a second process or
//! connection that opens the same file is refused at once with an error that says so.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use crate::clock::Timestamp;

/// A storage failure, with the operation that failed.
#[derive(Debug, thiserror::Error)]
#[error("state database: {op}: {source}")]
pub struct StoreError {
    /// What the store was doing.
    pub op: &'static str,
    /// SQLite's error.
    #[source]
    pub source: rusqlite::Error,
}

fn at(op: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError { op, source }
}

/// How hard commits are pushed to disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// WAL with `synchronous=NORMAL`: survives a process crash (the default).
    #[default]
    Process,
    /// WAL with `synchronous=FULL`: also survives power loss; far fewer grants per second.
    Full,
}

/// One persisted lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRow {
    /// Lease id.
    pub id: u64,
    /// Stable feature id.
    pub feature_id: u32,
    /// Client id.
    pub client: String,
    /// Licenses held.
    pub count: u32,
    /// When granted.
    pub granted_at: Timestamp,
    /// Last renewal (or grant).
    pub renewed_at: Timestamp,
    /// When it expires unless renewed.
    pub expires_at: Timestamp,
}

/// The SQLite state database of one ledger.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS features (
    id INTEGER PRIMARY KEY, feature TEXT NOT NULL, version TEXT NOT NULL,
    seq_reserved INTEGER NOT NULL DEFAULT 0,
    UNIQUE (feature, version));
CREATE TABLE IF NOT EXISTS leases (
    id INTEGER PRIMARY KEY, feature_id INTEGER NOT NULL REFERENCES features(id),
    client TEXT NOT NULL, count INTEGER NOT NULL CHECK (count > 0),
    granted_at INTEGER NOT NULL, renewed_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS trial_first_use (
    feature_id INTEGER NOT NULL, position INTEGER NOT NULL, first_use INTEGER NOT NULL,
    PRIMARY KEY (feature_id, position));
";

/// Claims `conn`'s database for this connection alone, now, without waiting (SQLite
/// `locking_mode=EXCLUSIVE` and an exclusive transaction), and leaves the busy timeout at 0;
/// the lock is held until the connection closes (the OS drops it if the process dies). On
/// failure: the step that failed (`claim_op` for the claim itself) and SQLite's error.
pub(crate) fn claim_exclusive(
    conn: &Connection,
    claim_op: &'static str,
) -> Result<(), (&'static str, rusqlite::Error)> {
    conn.busy_timeout(std::time::Duration::ZERO)
        .map_err(|e| ("set busy timeout", e))?;
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
        .map_err(|e| ("set exclusive locking", e))?;
    conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;")
        .map_err(|e| (claim_op, e))
}

impl Store {
    /// Opens (creating if needed) the state database at `path`.
    pub fn open(path: &Path, durability: Durability) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(at("open"))?;
        // One ledger per state database: two processes serving the same database would each
        // grant from their own in-memory counts and together exceed the entitlement. The
        // exclusive lock is claimed now, without waiting, and held until the store closes (the
        // OS drops it if the process dies). It also keeps the WAL index in process memory.
        claim_exclusive(
            &conn,
            "claim the state database (is another weblm process using it?)",
        )
        .map_err(|(op, e)| at(op)(e))?;
        let sync = match durability {
            Durability::Process => "NORMAL",
            Durability::Full => "FULL",
        };
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(at("enable WAL"))?;
        conn.pragma_update(None, "synchronous", sync)
            .map_err(at("set synchronous"))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(at("enable foreign keys"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(at("set busy timeout"))?;
        conn.execute_batch(SCHEMA).map_err(at("create schema"))?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (each statement is
        // atomic), so a poisoned lock is safe to reuse.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A `meta` value.
    pub fn meta(&self, key: &str) -> Result<Option<i64>, StoreError> {
        self.conn()
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(at("read meta"))
    }

    /// Sets a `meta` value.
    pub fn set_meta(&self, key: &str, value: i64) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            .and_then(|mut s| s.execute(params![key, value]))
            .map(|_| ())
            .map_err(at("write meta"))
    }

    /// Every known feature: stable id, name, version, and lease sequence numbers reserved.
    pub fn features(&self) -> Result<Vec<(u32, String, String, u64)>, StoreError> {
        let conn = self.conn();
        let mut s = conn
            .prepare("SELECT id, feature, version, seq_reserved FROM features ORDER BY id")
            .map_err(at("read features"))?;
        let rows = s
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? as u64))
            })
            .map_err(at("read features"))?;
        rows.collect::<Result<_, _>>().map_err(at("read features"))
    }

    /// Records that a feature's lease sequence numbers below `upto` are taken.
    pub fn set_seq_reserved(&self, feature_id: u32, upto: u64) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached("UPDATE features SET seq_reserved = ?2 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![feature_id, upto as i64]))
            .map(|_| ())
            .map_err(at("reserve lease ids"))
    }

    /// Records a feature under a stable id.
    pub fn insert_feature(&self, id: u32, feature: &str, version: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO features (id, feature, version) VALUES (?1, ?2, ?3)",
                params![id, feature, version],
            )
            .map(|_| ())
            .map_err(at("record feature"))
    }

    /// Every persisted lease.
    pub fn leases(&self) -> Result<Vec<LeaseRow>, StoreError> {
        let conn = self.conn();
        let mut s = conn
            .prepare("SELECT id, feature_id, client, count, granted_at, renewed_at, expires_at FROM leases ORDER BY id")
            .map_err(at("read leases"))?;
        let rows = s
            .query_map([], |r| {
                Ok(LeaseRow {
                    id: r.get::<_, i64>(0)? as u64,
                    feature_id: r.get(1)?,
                    client: r.get(2)?,
                    count: r.get(3)?,
                    granted_at: Timestamp(r.get(4)?),
                    renewed_at: Timestamp(r.get(5)?),
                    expires_at: Timestamp(r.get(6)?),
                })
            })
            .map_err(at("read leases"))?;
        rows.collect::<Result<_, _>>().map_err(at("read leases"))
    }

    /// Persists a new lease (committed when this returns).
    pub fn insert_lease(&self, l: &LeaseRow) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO leases (id, feature_id, client, count, granted_at, renewed_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    l.id as i64,
                    l.feature_id,
                    l.client,
                    l.count,
                    l.granted_at.0,
                    l.renewed_at.0,
                    l.expires_at.0
                ])
            })
            .map(|_| ())
            .map_err(at("record lease"))
    }

    /// Persists a renewal.
    pub fn renew_lease(
        &self,
        id: u64,
        renewed_at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached("UPDATE leases SET renewed_at = ?2, expires_at = ?3 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![id as i64, renewed_at.0, expires_at.0]))
            .map(|_| ())
            .map_err(at("renew lease"))
    }

    /// Persists a change of a lease's count (see `Ledger::resize`).
    pub fn set_lease_count(&self, id: u64, count: u32) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached("UPDATE leases SET count = ?2 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![id as i64, count]))
            .map(|_| ())
            .map_err(at("resize lease"))
    }

    /// Removes leases (released or expired) in one transaction.
    pub fn delete_leases(&self, ids: &[u64]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(at("remove leases"))?;
        {
            let mut s = tx
                .prepare_cached("DELETE FROM leases WHERE id = ?1")
                .map_err(at("remove leases"))?;
            for id in ids {
                s.execute([*id as i64]).map_err(at("remove leases"))?;
            }
        }
        tx.commit().map_err(at("remove leases"))
    }

    /// Trial first-use times: (feature id, code position, first use).
    pub fn first_uses(&self) -> Result<Vec<(u32, u32, Timestamp)>, StoreError> {
        let conn = self.conn();
        let mut s = conn
            .prepare("SELECT feature_id, position, first_use FROM trial_first_use")
            .map_err(at("read trial first use"))?;
        let rows = s
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, Timestamp(r.get(2)?))))
            .map_err(at("read trial first use"))?;
        rows.collect::<Result<_, _>>()
            .map_err(at("read trial first use"))
    }

    /// Records a trial code's first use (the first record wins).
    pub fn set_first_use(
        &self,
        feature_id: u32,
        position: u32,
        at_: Timestamp,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT OR IGNORE INTO trial_first_use (feature_id, position, first_use) VALUES (?1, ?2, ?3)",
                params![feature_id, position, at_.0],
            )
            .map(|_| ())
            .map_err(at("record trial first use"))
    }
}
