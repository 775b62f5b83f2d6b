//! The durable state of the Cisco-style license manager (SPEC §7) in SQLite (rusqlite, WAL):
//! the alert outbox ([`crate::outbox`]), the compliance state and usage history
//! ([`crate::plm`]), PAKs and installed licenses ([`crate::pak`]). One database, shared by
//! those modules through an `Arc<PlmDb>`, so one transaction can span them.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

/// A storage failure, with the operation that failed.
#[derive(Debug, thiserror::Error)]
#[error("license manager database: {op}: {source}")]
pub struct PlmDbError {
    /// What was being done.
    pub op: &'static str,
    /// SQLite's error.
    #[source]
    pub source: rusqlite::Error,
}

pub(crate) fn at(op: &'static str) -> impl FnOnce(rusqlite::Error) -> PlmDbError {
    move |source| PlmDbError { op, source }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS plm_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    disable_date INTEGER,
    delivered_at INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT);
CREATE TABLE IF NOT EXISTS usage_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    installed INTEGER NOT NULL,
    out_of_date INTEGER NOT NULL,
    in_use INTEGER NOT NULL,
    peak INTEGER NOT NULL,
    mode INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS paks (
    id TEXT PRIMARY KEY,
    feature TEXT NOT NULL,
    version TEXT NOT NULL,
    total INTEGER NOT NULL CHECK (total >= 0),
    remaining INTEGER NOT NULL CHECK (remaining >= 0 AND remaining <= total),
    upgrade_from TEXT);
CREATE TABLE IF NOT EXISTS installed_licenses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    system_id TEXT NOT NULL,
    feature TEXT NOT NULL,
    version TEXT NOT NULL,
    count INTEGER NOT NULL CHECK (count >= 0),
    valid INTEGER NOT NULL,
    pak TEXT,
    note TEXT NOT NULL,
    at INTEGER NOT NULL);
";

/// The license manager's SQLite database.
#[derive(Debug)]
pub struct PlmDb {
    conn: Mutex<Connection>,
}

impl PlmDb {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, PlmDbError> {
        let conn = Connection::open(path).map_err(at("open"))?;
        // Fail fast (not after a 5 s wait) when another process holds it exclusively.
        conn.busy_timeout(std::time::Duration::ZERO)
            .map_err(at("set busy timeout"))?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(at(
            "enable WAL (is a weblm server using this license manager database?)",
        ))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(at("set busy timeout"))?;
        Self::init(conn)
    }

    /// Opens (creating if needed) the database at `path` for one owner: the connection holds
    /// it exclusively (SQLite `locking_mode=EXCLUSIVE`, claimed now without waiting) until it
    /// closes, so a second process or connection is refused at once. A running license
    /// manager ([`crate::plm::Plm`]) keeps its state in memory between operations; a second
    /// writer beside it would have its changes overwritten, so `weblm serve` opens its
    /// database this way and the CLI is refused while the server runs.
    pub fn open_exclusive(path: &Path) -> Result<Self, PlmDbError> {
        let conn = Connection::open(path).map_err(at("open"))?;
        crate::store::claim_exclusive(
            &conn,
            "claim the license manager database (is a weblm server using it?)",
        )
        .map_err(|(op, e)| at(op)(e))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(at("enable WAL"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(at("set busy timeout"))?;
        Self::init(conn)
    }

    /// A private in-memory database (tests, what-if runs).
    pub fn in_memory() -> Result<Self, PlmDbError> {
        Self::init(Connection::open_in_memory().map_err(at("open"))?)
    }

    fn init(conn: Connection) -> Result<Self, PlmDbError> {
        conn.execute_batch(SCHEMA).map_err(at("create schema"))?;
        Ok(PlmDb {
            conn: Mutex::new(conn),
        })
    }

    #[cfg(test)]
    fn probe(&self) -> rusqlite::Result<i64> {
        self.conn()
            .query_row("SELECT count(*) FROM plm_state", [], |r| r.get(0))
    }

    /// The connection (statements are atomic, so a poisoned lock is safe to reuse).
    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exclusive_owner_refuses_a_second_opener_and_releases_on_close() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("plm.db");
        let owner = PlmDb::open_exclusive(&p).unwrap();
        assert_eq!(owner.probe().unwrap(), 0);
        let e = PlmDb::open(&p).unwrap_err();
        assert!(e.to_string().contains("weblm server"), "{e}");
        let e = PlmDb::open_exclusive(&p).unwrap_err();
        assert!(e.to_string().contains("weblm server"), "{e}");
        drop(owner);
        let shared = PlmDb::open(&p).unwrap();
        assert_eq!(shared.probe().unwrap(), 0);
        // Shared openers do not exclude each other.
        let other = PlmDb::open(&p).unwrap();
        assert_eq!(other.probe().unwrap(), 0);
    }
}
