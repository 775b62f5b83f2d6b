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

    /// The connection (statements are atomic, so a poisoned lock is safe to reuse).
    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}
