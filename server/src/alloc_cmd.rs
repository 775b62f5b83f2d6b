//! `weblm zones`, `weblm pak`, `weblm alerts`: the what-if allocation planner (SPEC §6) and the
//! Cisco-style PAK inventory and alert outbox (SPEC §7) from the command line.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use weblm_core::clock::{Clock, SystemClock};
use weblm_core::distribute::{Distribute, EpZonePolicy, LargestRemainderPolicy};
use weblm_core::outbox::{AlertFilter, Outbox};
use weblm_core::pak::PakRegistry;
use weblm_core::plan::{plan, Plan, PlanConfig};
use weblm_core::plm_db::PlmDb;
use weblm_core::reserved::Reservation;

/// Which native `distribute` policy to plan with.
#[derive(Clone, Copy, ValueEnum)]
pub enum PolicyArg {
    /// Avaya EP rounding: remainder by priority, seeded among equals (the default).
    Ep,
    /// Largest fractional part first.
    LargestRemainder,
}

/// `weblm zones ...`
#[derive(Subcommand)]
pub enum ZonesCmd {
    /// What each zone, tenant side (SIP/H.323) and organization would get if the system's
    /// licenses dropped (or rose) to N. The configuration is TOML or JSON (docs/allocation.md).
    Plan {
        /// Planner configuration file (TOML, or JSON when it starts with `{`).
        #[arg(long)]
        config: PathBuf,
        /// The license count to plan for (default: the configuration's system_licenses).
        #[arg(long)]
        licenses: Option<u32>,
        /// Override the configuration's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Distribution policy.
        #[arg(long, value_enum, default_value = "ep")]
        policy: PolicyArg,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
}

/// `weblm pak ...`
#[derive(Subcommand)]
pub enum PakCmd {
    /// Register a PAK as ordered.
    Register {
        /// License manager database (created if missing).
        #[arg(long)]
        db: PathBuf,
        /// The PAK key.
        #[arg(long)]
        pak: String,
        /// Feature.
        #[arg(long)]
        feature: String,
        /// Version the licenses are for.
        #[arg(long = "feature-version")]
        version: String,
        /// Licenses in the PAK.
        #[arg(long)]
        count: u32,
        /// Makes it an upgrade PAK from this version.
        #[arg(long)]
        upgrade_from: Option<String>,
    },
    /// Install COUNT licenses of a PAK on a system (the rest stays in the PAK).
    Fulfil {
        /// License manager database.
        #[arg(long)]
        db: PathBuf,
        /// The PAK key.
        #[arg(long)]
        pak: String,
        /// The system id to install on.
        #[arg(long)]
        system: String,
        /// Licenses to fulfil.
        #[arg(long)]
        count: u32,
    },
    /// Move every valid license of one system to another; they become invalid on the old one.
    Rehost {
        /// License manager database.
        #[arg(long)]
        db: PathBuf,
        /// The old system id.
        #[arg(long)]
        from: String,
        /// The new system id.
        #[arg(long)]
        to: String,
    },
    /// List PAKs, or the licenses of one system with --system.
    List {
        /// License manager database.
        #[arg(long)]
        db: PathBuf,
        /// Show this system's license records instead.
        #[arg(long)]
        system: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `weblm alerts ...`
#[derive(Subcommand)]
pub enum AlertsCmd {
    /// List compliance alerts from the outbox.
    List {
        /// License manager database.
        #[arg(long)]
        db: PathBuf,
        /// Only alerts the webhook has not accepted yet.
        #[arg(long)]
        pending: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `weblm zones ...`.
pub fn zones(cmd: ZonesCmd) -> Result<()> {
    match cmd {
        ZonesCmd::Plan {
            config,
            licenses,
            seed,
            policy,
            json,
        } => {
            let text = std::fs::read_to_string(&config)
                .with_context(|| format!("cannot read {}", config.display()))?;
            let mut cfg =
                PlanConfig::parse(&text).with_context(|| format!("in {}", config.display()))?;
            if let Some(s) = seed {
                cfg.seed = s;
            }
            let n = licenses.unwrap_or(cfg.system_licenses);
            let policy: &dyn Distribute = match policy {
                PolicyArg::Ep => &EpZonePolicy,
                PolicyArg::LargestRemainder => &LargestRemainderPolicy,
            };
            let p = plan(&cfg, n, policy)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&p)?);
            } else {
                print_plan(&cfg, &p);
            }
            Ok(())
        }
    }
}

fn print_plan(cfg: &PlanConfig, p: &Plan) {
    let z = &p.zones;
    println!(
        "Plan at {} licenses (system has {} today; zones assigned {}{})",
        p.licenses,
        cfg.system_licenses,
        z.assigned_total,
        if z.cut {
            "; zones cut in proportion"
        } else {
            ""
        }
    );
    if !z.zones.is_empty() {
        println!();
        println!(
            "{:<24} {:>8} {:>8} {:>8} {:>8}",
            "ZONE", "PRIORITY", "ASSIGNED", "CAP", "GETS"
        );
        for (s, c) in z.zones.iter().zip(&cfg.zones) {
            println!(
                "{:<24} {:>8} {:>8} {:>8} {:>8}",
                s.name, c.priority, s.assigned, s.cap, s.granted
            );
        }
        println!(
            "zones get {} in total; unassigned {}; unused {}",
            z.granted_total, z.unassigned, z.unused
        );
    }
    for zt in &p.zone_tenants {
        println!(
            "zone {}: SIP {}  H.323 {}  unused {}",
            zt.zone, zt.split.sip, zt.split.h323, zt.split.unused
        );
    }
    if let Some(t) = &p.tenant {
        println!();
        println!(
            "TENANT SPLIT: SIP {}  H.323 {}  unused {}",
            t.sip, t.h323, t.unused
        );
    }
    if let Some(o) = &p.organizations {
        println!();
        println!(
            "{:<24} {:>8} {:>8}   (SIP pool {}{})",
            "ORGANIZATION",
            "ASSIGNED",
            "GETS",
            o.pool,
            if o.cut { ", cut in proportion" } else { "" }
        );
        for s in &o.orgs {
            println!("{:<24} {:>8} {:>8}", s.name, s.assigned, s.granted);
        }
        println!("common pool: {}", o.common);
    }
    for r in &p.reservations {
        let a = &r.allocation;
        println!();
        println!(
            "RESERVED CALLS in zone {} (zone gets {}, today {}{})",
            r.zone,
            a.pool,
            r.pool_today,
            if a.cut { "; cut in proportion" } else { "" }
        );
        println!(
            "{:<24} {:<8} {:>6} {:>8} {:>8}",
            "NAME", "KIND", "ASKED", "RESERVED", "CEILING"
        );
        for g in &a.grants {
            let (kind, asked) = match g.reservation {
                Reservation::None => ("none", 0),
                Reservation::Minimum(n) => ("minimum", n),
                Reservation::Maximum(n) => ("maximum", n),
            };
            println!(
                "{:<24} {:<8} {:>6} {:>8} {:>8}",
                g.name, kind, asked, g.reserved, g.ceiling
            );
        }
        println!("common pool in zone {}: {}", r.zone, a.common);
    }
    if let Some(pl) = &p.pipeline {
        println!();
        println!("{:<12} {:>8} {:>8}", "PIPELINE", "SIP", "H.323");
        for (name, s) in [
            ("configured", pl.configured),
            ("licensed", pl.licensed),
            ("allocated", pl.allocated),
        ] {
            println!("{:<12} {:>8} {:>8}", name, s.sip, s.h323);
        }
        println!(
            "unused licenses {}; licensed ports beyond media-server capacity {}",
            pl.unused_licenses, pl.over_capacity
        );
    }
}

fn registry(db: &std::path::Path) -> Result<PakRegistry> {
    let db = PlmDb::open(db).with_context(|| format!("opening {}", db.display()))?;
    Ok(PakRegistry::new(Arc::new(db)))
}

/// Runs `weblm pak ...`.
pub fn pak(cmd: PakCmd) -> Result<()> {
    let now = SystemClock.now();
    match cmd {
        PakCmd::Register {
            db,
            pak,
            feature,
            version,
            count,
            upgrade_from,
        } => {
            let p = registry(&db)?.register(
                &pak,
                &feature,
                &version,
                count,
                upgrade_from.as_deref(),
            )?;
            println!(
                "registered PAK {}: {} licenses of {} {}{}",
                p.id,
                p.total,
                p.feature,
                p.version,
                p.upgrade_from
                    .map(|f| format!(" (upgrade from {f})"))
                    .unwrap_or_default()
            );
        }
        PakCmd::Fulfil {
            db,
            pak,
            system,
            count,
        } => {
            let f = registry(&db)?.fulfil(&pak, &system, count, now)?;
            println!(
                "fulfilled {} of {} requested from PAK {} on {}: {} {}{}; {} remain in the PAK",
                f.fulfilled,
                f.requested,
                f.pak,
                f.system_id,
                f.feature,
                f.version,
                f.upgraded_from
                    .map(|v| format!(" (upgraded from {v})"))
                    .unwrap_or_default(),
                f.remaining
            );
            if let Some(n) = f.note {
                println!("note: {n}");
            }
        }
        PakCmd::Rehost { db, from, to } => {
            let r = registry(&db)?.rehost(&from, &to, now)?;
            println!(
                "rehosted {} licenses from {} to {}; they are invalid on {}",
                r.moved, r.from, r.to, r.from
            );
        }
        PakCmd::List { db, system, json } => {
            let reg = registry(&db)?;
            match system {
                None => {
                    let paks = reg.paks()?;
                    if json {
                        println!("{}", serde_json::to_string_pretty(&paks)?);
                    } else {
                        println!(
                            "{:<20} {:<16} {:<8} {:>6} {:>9} UPGRADE FROM",
                            "PAK", "FEATURE", "VERSION", "TOTAL", "REMAINING"
                        );
                        for p in paks {
                            println!(
                                "{:<20} {:<16} {:<8} {:>6} {:>9} {}",
                                p.id,
                                p.feature,
                                p.version,
                                p.total,
                                p.remaining,
                                p.upgrade_from.unwrap_or_default()
                            );
                        }
                    }
                }
                Some(s) => {
                    let lic = reg.licenses(&s)?;
                    if json {
                        println!("{}", serde_json::to_string_pretty(&lic)?);
                    } else {
                        println!(
                            "{:<16} {:<8} {:>6} {:<7} NOTE",
                            "FEATURE", "VERSION", "COUNT", "VALID"
                        );
                        for l in lic {
                            println!(
                                "{:<16} {:<8} {:>6} {:<7} {}",
                                l.feature,
                                l.version,
                                l.count,
                                if l.valid { "yes" } else { "no" },
                                l.note
                            );
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Runs `weblm alerts ...`.
pub fn alerts(cmd: AlertsCmd) -> Result<()> {
    match cmd {
        AlertsCmd::List { db, pending, json } => {
            let db =
                Arc::new(PlmDb::open(&db).with_context(|| format!("opening {}", db.display()))?);
            let list = Outbox::new(db, None).list(if pending {
                AlertFilter::Pending
            } else {
                AlertFilter::All
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for a in list {
                    println!(
                        "#{} {} {:<18} {}{}",
                        a.id,
                        a.at,
                        a.kind.as_str(),
                        a.message,
                        if a.delivered_at.is_some() {
                            ""
                        } else {
                            " [pending]"
                        }
                    );
                }
            }
        }
    }
    Ok(())
}
