//! `weblm compliance ...`: the Cisco-style license manager (SPEC §7) of a server configuration,
//! run from the command line on the server's license manager database while the server is
//! stopped (a running server holds the database and answers the same over HTTP:
//! `GET /v1/compliance`, `POST /v1/admin/compliance/...`). It uses the configuration's
//! `[compliance]` section, clock and license manager link, exactly as `weblm serve` would.

use std::path::PathBuf;

use anyhow::{anyhow, Result};
use clap::Subcommand;
use serde_json::json;
use weblm_core::plm::PlmStatus;

use crate::serve::compliance::{open_db, Manager};
use crate::serve::config::ServeConfig;

/// `weblm compliance ...`
#[derive(Subcommand)]
pub enum ComplianceCmd {
    /// The mode, the free trial and its end date, the violation and its disable date.
    Status(Opts),
    /// Run the license analysis now (after installing licenses).
    Analyze(Opts),
    /// Contact the license manager now.
    Sync(Opts),
    /// Run what is due now: contact every 12 h, the daily analysis, reminders, webhook.
    Tick(Opts),
    /// This node took over after a fail-over: contact the license manager, and start the free
    /// trial when it cannot be reached.
    Failover(Opts),
    /// The usage history recorded by the analyses.
    History(Opts),
}

/// Options every `weblm compliance` command takes.
#[derive(clap::Args)]
pub struct Opts {
    /// The server configuration (`weblm serve --config`) with a `[compliance]` section.
    #[arg(long)]
    config: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn open(opts: &Opts) -> Result<Manager> {
    let config = ServeConfig::load(&opts.config)?;
    let section = config.compliance.as_ref().ok_or_else(|| {
        anyhow!(
            "{} has no [compliance] section: compliance is not enabled",
            opts.config.display()
        )
    })?;
    let (clock, _) = crate::serve::clock_for(&config);
    let db = open_db(&config.sibling(".plm.db"))?;
    Manager::open(
        section,
        db,
        clock,
        config.local.as_ref().map(|l| l.master_url.as_str()),
    )
}

fn print_status(s: &PlmStatus) {
    println!("time:              {}", s.now);
    println!(
        "mode:              {}{}",
        s.mode,
        s.until.map(|u| format!(" until {u}")).unwrap_or_default()
    );
    println!(
        "service:           {}",
        if s.service_available {
            "available"
        } else {
            "REFUSED (deactivated; administration still works)"
        }
    );
    if let (Some(t), Some(end)) = (s.trial, s.trial_end) {
        println!(
            "free trial:        since {} ({}), ends {end}",
            t.since,
            match t.reason {
                weblm_core::plm::TrialReason::FreshDeployment => "deployed without licenses",
                weblm_core::plm::TrialReason::Failover => "fail-over, license manager unreachable",
            }
        );
    }
    if let Some(v) = &s.violation {
        let kinds: Vec<String> = v
            .kinds
            .iter()
            .map(|k| match k {
                weblm_core::plm::ViolationKind::OverUse => "licenses exceeded",
                weblm_core::plm::ViolationKind::OutOfDate => "out-of-date licenses",
                weblm_core::plm::ViolationKind::Invalid => "invalid licenses (no contact)",
            })
            .map(String::from)
            .collect();
        println!(
            "violation:         {} since {}, disable date {}",
            kinds.join(", "),
            v.since,
            v.disable_date
        );
    }
    println!(
        "installed:         {} (other versions: {}), users {}",
        s.installed, s.out_of_date, s.in_use
    );
    println!(
        "last analysis:     {}, next {}",
        s.last_analysis
            .map(|t| t.to_string())
            .unwrap_or_else(|| "never".into()),
        s.next_analysis
    );
    println!("last contact:      {}", s.last_contact);
}

/// Prints the outcome of a contact attempt (`key` names it in JSON) and the status after it.
fn show_contact(o: &Opts, m: &Manager, key: &str, reached: bool, s: &PlmStatus) -> Result<()> {
    if o.json {
        let v = json!({ key: reached, "status": s });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "license manager {}: {}",
        m.license_manager.as_deref().unwrap_or("(this server)"),
        if reached { "reached" } else { "UNREACHABLE" }
    );
    print_status(s);
    Ok(())
}

/// Runs `weblm compliance ...`.
pub fn run(cmd: ComplianceCmd) -> Result<()> {
    let show = |opts: &Opts, s: PlmStatus| -> Result<()> {
        if opts.json {
            println!("{}", serde_json::to_string_pretty(&s)?);
        } else {
            print_status(&s);
        }
        Ok(())
    };
    match cmd {
        ComplianceCmd::Status(o) => {
            let s = open(&o)?.with(|p| p.status())?;
            show(&o, s)
        }
        ComplianceCmd::Analyze(o) => {
            let s = open(&o)?.with(|p| p.analyze_now())?;
            show(&o, s)
        }
        ComplianceCmd::Tick(o) => {
            let r = open(&o)?.with(|p| p.tick())?;
            if o.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
                return Ok(());
            }
            println!(
                "synced: {}, analysed: {}, alerts delivered: {}, failed: {}",
                match r.synced {
                    Some(true) => "yes",
                    Some(false) => "FAILED",
                    None => "not due",
                },
                r.analysed,
                r.delivery.delivered,
                r.delivery.failed
            );
            print_status(&r.status);
            Ok(())
        }
        ComplianceCmd::Sync(o) => {
            let m = open(&o)?;
            let synced = m.with(|p| p.sync_now())?;
            let s = m.with(|p| p.status())?;
            show_contact(&o, &m, "synced", synced, &s)
        }
        ComplianceCmd::Failover(o) => {
            let m = open(&o)?;
            let (reachable, s) = m.failover()?;
            show_contact(&o, &m, "license_manager_reachable", reachable, &s)
        }
        ComplianceCmd::History(o) => {
            let h = open(&o)?.with(|p| p.usage_history())?;
            if o.json {
                println!("{}", serde_json::to_string_pretty(&h)?);
                return Ok(());
            }
            println!(
                "{:<22} {:>9} {:>11} {:>6} {:>6}  mode",
                "analysis", "installed", "other ver.", "users", "peak"
            );
            for r in h {
                println!(
                    "{:<22} {:>9} {:>11} {:>6} {:>6}  {}",
                    r.at.to_string(),
                    r.installed,
                    r.out_of_date,
                    r.in_use,
                    r.peak,
                    r.mode
                );
            }
            Ok(())
        }
    }
}
