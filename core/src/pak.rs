//! PAK fulfilment and rehosting (Cisco Prime License Manager, SPEC §7, seed `002_…`), and the
//! installed-license inventory the license analysis reads ([`crate::plm`]).
//!
//! - A **PAK** (product authorization key) holds `total` licenses of one feature/version.
//!   [`PakRegistry::fulfil`] installs part of it on a system now; the rest stays in the PAK for
//!   later. Asking for more than remains is refused naming what remains; a PAK with nothing left
//!   fails with exactly "The PAK you have entered, X, cannot be fulfilled because there are no
//!   licenses remaining in the PAK".
//! - An **upgrade PAK** (`upgrade_from = Some(old version)`) turns installed old-version licenses
//!   into new-version ones, at most as many as the system has installed: asking for 100 with 50
//!   installed upgrades 50 (partial fulfilment, with a note) and leaves 50 in the PAK for later.
//!   With no eligible licenses, or nothing left in the PAK, it fails with Cisco's upgrade
//!   message.
//! - **Rehost** moves every valid license of a system to another system id and marks them
//!   invalid on the old one (kept for the record, never counted again).
//!
//! Every operation is one SQLite transaction: a failure changes nothing.

use std::sync::Arc;

use rusqlite::{params, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::plm_db::{at, PlmDb, PlmDbError};

/// One PAK.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pak {
    /// Its key, as printed on the order.
    pub id: String,
    /// The feature its licenses are for.
    pub feature: String,
    /// The version its licenses are for.
    pub version: String,
    /// Licenses it held when issued.
    pub total: u32,
    /// Licenses not yet fulfilled.
    pub remaining: u32,
    /// For an upgrade PAK, the version it upgrades from.
    pub upgrade_from: Option<String>,
}

/// What one fulfilment did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fulfilment {
    /// The PAK.
    pub pak: String,
    /// The system the licenses were installed on.
    pub system_id: String,
    /// Feature.
    pub feature: String,
    /// Version installed.
    pub version: String,
    /// Licenses asked for.
    pub requested: u32,
    /// Licenses installed (or upgraded).
    pub fulfilled: u32,
    /// Licenses left in the PAK afterwards.
    pub remaining: u32,
    /// For an upgrade: the version the licenses were upgraded from.
    pub upgraded_from: Option<String>,
    /// Why fewer than requested were fulfilled, if so.
    pub note: Option<String>,
}

/// One installed-license record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseRecord {
    /// Record id.
    pub id: i64,
    /// The system it is installed on.
    pub system_id: String,
    /// Feature.
    pub feature: String,
    /// Version.
    pub version: String,
    /// Licenses.
    pub count: u32,
    /// False once rehosted away (invalid on this system).
    pub valid: bool,
    /// The PAK it came from.
    pub pak: Option<String>,
    /// How it got here (fulfilled, upgraded, rehosted from/to).
    pub note: String,
    /// When it was recorded.
    pub at: Timestamp,
}

/// What a rehost moved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rehost {
    /// The old system.
    pub from: String,
    /// The new system.
    pub to: String,
    /// Licenses moved (now invalid on `from`).
    pub moved: u64,
}

/// A PAK or inventory operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum PakError {
    /// The PAK is used up.
    #[error(
        "The PAK you have entered, {0}, cannot be fulfilled because there are no licenses \
         remaining in the PAK"
    )]
    NoLicensesRemaining(String),
    /// An upgrade PAK with nothing left or nothing installed to upgrade.
    #[error(
        "The upgrade PAK you have entered, {0}, cannot be fulfilled either because there are \
         no licenses remaining in the PAK or there are no licenses installed on this Cisco \
         Prime License Manager eligible to be upgraded using the PAK"
    )]
    UpgradeNotFulfillable(String),
    /// More asked for than the PAK holds.
    #[error("PAK {pak} has {remaining} licenses remaining; {requested} were requested")]
    MoreThanRemaining {
        /// The PAK.
        pak: String,
        /// Asked for.
        requested: u32,
        /// Left in it.
        remaining: u32,
    },
    /// No PAK with this key.
    #[error("unknown PAK {0}")]
    UnknownPak(String),
    /// A PAK with this key exists already.
    #[error("PAK {0} is already registered")]
    DuplicatePak(String),
    /// A count of 0.
    #[error("the number of licenses to fulfil must be at least 1")]
    ZeroCount,
    /// An empty system id, PAK key, feature or version.
    #[error("{0} may not be empty")]
    Empty(&'static str),
    /// Rehost onto the same system.
    #[error("cannot rehost system {0} onto itself")]
    SameSystem(String),
    /// Nothing valid to rehost.
    #[error("system {0} has no valid licenses to rehost")]
    NothingToRehost(String),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] PlmDbError),
}

/// PAKs and the installed licenses of every system, in one database.
#[derive(Clone, Debug)]
pub struct PakRegistry {
    db: Arc<PlmDb>,
}

fn non_empty(s: &str, what: &'static str) -> Result<(), PakError> {
    if s.is_empty() {
        Err(PakError::Empty(what))
    } else {
        Ok(())
    }
}

fn load_pak(tx: &Transaction<'_>, id: &str) -> Result<Pak, PakError> {
    tx.query_row(
        "SELECT id, feature, version, total, remaining, upgrade_from FROM paks WHERE id = ?1",
        [id],
        |r| {
            Ok(Pak {
                id: r.get(0)?,
                feature: r.get(1)?,
                version: r.get(2)?,
                total: r.get(3)?,
                remaining: r.get(4)?,
                upgrade_from: r.get(5)?,
            })
        },
    )
    .optional()
    .map_err(at("read PAK"))?
    .ok_or_else(|| PakError::UnknownPak(id.to_string()))
}

fn installed_in(
    tx: &Transaction<'_>,
    system: &str,
    feature: &str,
    version: &str,
) -> Result<u64, PakError> {
    Ok(tx
        .query_row(
            "SELECT COALESCE(SUM(count), 0) FROM installed_licenses \
             WHERE system_id = ?1 AND feature = ?2 AND version = ?3 AND valid = 1",
            params![system, feature, version],
            |r| r.get::<_, i64>(0),
        )
        .map_err(at("count installed licenses"))? as u64)
}

impl PakRegistry {
    /// The registry in `db`.
    pub fn new(db: Arc<PlmDb>) -> Self {
        PakRegistry { db }
    }

    /// Registers a PAK as ordered: `count` licenses of `feature`/`version`, upgrading from
    /// `upgrade_from` if given.
    pub fn register(
        &self,
        id: &str,
        feature: &str,
        version: &str,
        count: u32,
        upgrade_from: Option<&str>,
    ) -> Result<Pak, PakError> {
        non_empty(id, "a PAK key")?;
        non_empty(feature, "a feature")?;
        non_empty(version, "a version")?;
        if let Some(f) = upgrade_from {
            non_empty(f, "an upgrade-from version")?;
        }
        let mut conn = self.db.conn();
        let tx = conn.transaction().map_err(at("register PAK"))?;
        let exists: Option<String> = tx
            .query_row("SELECT id FROM paks WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(at("register PAK"))?;
        if exists.is_some() {
            return Err(PakError::DuplicatePak(id.to_string()));
        }
        tx.execute(
            "INSERT INTO paks (id, feature, version, total, remaining, upgrade_from) \
             VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
            params![id, feature, version, count, upgrade_from],
        )
        .map_err(at("register PAK"))?;
        let pak = load_pak(&tx, id)?;
        tx.commit().map_err(at("register PAK"))?;
        Ok(pak)
    }

    /// One PAK.
    pub fn pak(&self, id: &str) -> Result<Pak, PakError> {
        let mut conn = self.db.conn();
        let tx = conn.transaction().map_err(at("read PAK"))?;
        load_pak(&tx, id)
    }

    /// Every PAK, by key.
    pub fn paks(&self) -> Result<Vec<Pak>, PakError> {
        let conn = self.db.conn();
        let mut s = conn
            .prepare(
                "SELECT id, feature, version, total, remaining, upgrade_from FROM paks ORDER BY id",
            )
            .map_err(at("list PAKs"))?;
        let rows = s
            .query_map([], |r| {
                Ok(Pak {
                    id: r.get(0)?,
                    feature: r.get(1)?,
                    version: r.get(2)?,
                    total: r.get(3)?,
                    remaining: r.get(4)?,
                    upgrade_from: r.get(5)?,
                })
            })
            .map_err(at("list PAKs"))?;
        Ok(rows.collect::<Result<_, _>>().map_err(at("list PAKs"))?)
    }

    /// Fulfils `count` licenses of PAK `pak_id` on system `system_id` (see the module
    /// documentation for the rules).
    pub fn fulfil(
        &self,
        pak_id: &str,
        system_id: &str,
        count: u32,
        now: Timestamp,
    ) -> Result<Fulfilment, PakError> {
        non_empty(system_id, "a system id")?;
        let mut conn = self.db.conn();
        let tx = conn.transaction().map_err(at("fulfil PAK"))?;
        let pak = load_pak(&tx, pak_id)?;
        let (fulfilled, note) = match &pak.upgrade_from {
            None => {
                if pak.remaining == 0 {
                    return Err(PakError::NoLicensesRemaining(pak.id));
                }
                if count == 0 {
                    return Err(PakError::ZeroCount);
                }
                if count > pak.remaining {
                    return Err(PakError::MoreThanRemaining {
                        pak: pak.id,
                        requested: count,
                        remaining: pak.remaining,
                    });
                }
                (count, None)
            }
            Some(from) => {
                let eligible = installed_in(&tx, system_id, &pak.feature, from)?;
                if pak.remaining == 0 || eligible == 0 {
                    return Err(PakError::UpgradeNotFulfillable(pak.id));
                }
                if count == 0 {
                    return Err(PakError::ZeroCount);
                }
                if count > pak.remaining {
                    return Err(PakError::MoreThanRemaining {
                        pak: pak.id,
                        requested: count,
                        remaining: pak.remaining,
                    });
                }
                if count as u64 > eligible {
                    let n = eligible as u32;
                    (
                        n,
                        Some(format!(
                            "Unable to fulfill all the upgrade licenses in the PAK: only {n} \
                             licenses of version {from} are installed on system {system_id}; \
                             {n} upgraded, the rest stays in the PAK"
                        )),
                    )
                } else {
                    (count, None)
                }
            }
        };
        if let Some(from) = &pak.upgrade_from {
            // Consume old-version licenses, oldest records first.
            let mut left = fulfilled as i64;
            let rows: Vec<(i64, i64)> = {
                let mut s = tx
                    .prepare(
                        "SELECT id, count FROM installed_licenses WHERE system_id = ?1 AND \
                         feature = ?2 AND version = ?3 AND valid = 1 AND count > 0 ORDER BY id",
                    )
                    .map_err(at("upgrade licenses"))?;
                let r = s
                    .query_map(params![system_id, pak.feature, from], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .map_err(at("upgrade licenses"))?;
                r.collect::<Result<_, _>>()
                    .map_err(at("upgrade licenses"))?
            };
            for (id, c) in rows {
                if left == 0 {
                    break;
                }
                let take = c.min(left);
                tx.execute(
                    "UPDATE installed_licenses SET count = count - ?2 WHERE id = ?1",
                    params![id, take],
                )
                .map_err(at("upgrade licenses"))?;
                left -= take;
            }
        }
        let note_text = match &pak.upgrade_from {
            Some(from) => format!("upgraded from {from} with PAK {}", pak.id),
            None => format!("fulfilled from PAK {}", pak.id),
        };
        tx.execute(
            "INSERT INTO installed_licenses (system_id, feature, version, count, valid, pak, note, at) \
             VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7)",
            params![system_id, pak.feature, pak.version, fulfilled, pak.id, note_text, now.0],
        )
        .map_err(at("install licenses"))?;
        tx.execute(
            "UPDATE paks SET remaining = remaining - ?2 WHERE id = ?1",
            params![pak.id, fulfilled],
        )
        .map_err(at("update PAK"))?;
        tx.commit().map_err(at("fulfil PAK"))?;
        Ok(Fulfilment {
            remaining: pak.remaining - fulfilled,
            pak: pak.id,
            system_id: system_id.to_string(),
            feature: pak.feature,
            version: pak.version,
            requested: count,
            fulfilled,
            upgraded_from: pak.upgrade_from,
            note,
        })
    }

    /// Moves every valid license of `from` to `to`; they become invalid on `from`.
    pub fn rehost(&self, from: &str, to: &str, now: Timestamp) -> Result<Rehost, PakError> {
        non_empty(from, "a system id")?;
        non_empty(to, "a system id")?;
        if from == to {
            return Err(PakError::SameSystem(from.to_string()));
        }
        let mut conn = self.db.conn();
        let tx = conn.transaction().map_err(at("rehost"))?;
        let rows: Vec<(i64, String, String, i64, Option<String>)> = {
            let mut s = tx
                .prepare(
                    "SELECT id, feature, version, count, pak FROM installed_licenses \
                     WHERE system_id = ?1 AND valid = 1 AND count > 0 ORDER BY id",
                )
                .map_err(at("rehost"))?;
            let r = s
                .query_map([from], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .map_err(at("rehost"))?;
            r.collect::<Result<_, _>>().map_err(at("rehost"))?
        };
        if rows.is_empty() {
            return Err(PakError::NothingToRehost(from.to_string()));
        }
        let mut moved = 0u64;
        for (id, feature, version, count, pak) in rows {
            tx.execute(
                "UPDATE installed_licenses SET valid = 0, note = ?2 WHERE id = ?1",
                params![id, format!("rehosted to {to}; invalid on this system")],
            )
            .map_err(at("rehost"))?;
            tx.execute(
                "INSERT INTO installed_licenses (system_id, feature, version, count, valid, pak, note, at) \
                 VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7)",
                params![to, feature, version, count, pak, format!("rehosted from {from}"), now.0],
            )
            .map_err(at("rehost"))?;
            moved += count as u64;
        }
        tx.commit().map_err(at("rehost"))?;
        Ok(Rehost {
            from: from.to_string(),
            to: to.to_string(),
            moved,
        })
    }

    /// Valid licenses of `feature`/`version` installed on `system_id`.
    pub fn installed(
        &self,
        system_id: &str,
        feature: &str,
        version: &str,
    ) -> Result<u64, PakError> {
        let mut conn = self.db.conn();
        let tx = conn.transaction().map_err(at("count installed licenses"))?;
        installed_in(&tx, system_id, feature, version)
    }

    /// Valid licenses of `feature` installed on `system_id`, per version (sorted by version).
    pub fn installed_by_version(
        &self,
        system_id: &str,
        feature: &str,
    ) -> Result<Vec<(String, u64)>, PakError> {
        let conn = self.db.conn();
        let mut s = conn
            .prepare(
                "SELECT version, SUM(count) FROM installed_licenses WHERE system_id = ?1 AND \
                 feature = ?2 AND valid = 1 GROUP BY version HAVING SUM(count) > 0 ORDER BY version",
            )
            .map_err(at("count installed licenses"))?;
        let rows = s
            .query_map(params![system_id, feature], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .map_err(at("count installed licenses"))?;
        Ok(rows
            .collect::<Result<_, _>>()
            .map_err(at("count installed licenses"))?)
    }

    /// Every license record of `system_id` (valid and invalid), oldest first.
    pub fn licenses(&self, system_id: &str) -> Result<Vec<LicenseRecord>, PakError> {
        let conn = self.db.conn();
        let mut s = conn
            .prepare(
                "SELECT id, system_id, feature, version, count, valid, pak, note, at \
                 FROM installed_licenses WHERE system_id = ?1 ORDER BY id",
            )
            .map_err(at("list licenses"))?;
        let rows = s
            .query_map([system_id], |r| {
                Ok(LicenseRecord {
                    id: r.get(0)?,
                    system_id: r.get(1)?,
                    feature: r.get(2)?,
                    version: r.get(3)?,
                    count: r.get(4)?,
                    valid: r.get::<_, i64>(5)? != 0,
                    pak: r.get(6)?,
                    note: r.get(7)?,
                    at: Timestamp(r.get(8)?),
                })
            })
            .map_err(at("list licenses"))?;
        Ok(rows
            .collect::<Result<_, _>>()
            .map_err(at("list licenses"))?)
    }
}
