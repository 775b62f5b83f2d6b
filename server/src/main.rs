//! `weblm`: the command-line tool. Vendor side: `keygen`, `issue`, `add-code`. Customer side:
//! `show`, `verify`, `entitlements`. `demo` runs the whole path end to end.

mod alloc_cmd;
mod compliance_cmd;
mod plugin_cmd;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use clap::{Parser, Subcommand, ValueEnum};
use weblm_core::clock::{Clock, SystemClock, Timestamp};
use weblm_core::codes::{self, CodeInput, CodeKind, LicenseCode, ResolveContext, Term};
use weblm_core::ledger::{Ledger, LedgerConfig};
use weblm_core::license::{self, Expect, LicenseContent, LicenseFile, SigningKey, VerifyingKey};

mod cli_client;
mod serve;

#[derive(Parser)]
#[command(
    name = "weblm",
    version,
    about = "weblm licensing runtime: license files, entitlements, leases"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum KindArg {
    Additive,
    Exclusive,
    Aggregate,
}

#[derive(Clone, Copy, ValueEnum)]
enum TermArg {
    Permanent,
    Trial,
    Until,
}

#[derive(Subcommand)]
enum Cmd {
    /// Generate a vendor signing key pair (DIR/vendor.key secret, DIR/vendor.pub public).
    Keygen {
        /// Directory to write the keys into (created if missing).
        #[arg(long, default_value = ".")]
        out_dir: PathBuf,
        /// Overwrite existing key files.
        #[arg(long)]
        force: bool,
    },
    /// Issue a signed license file, with no codes yet, for one system and product version.
    Issue {
        /// Vendor secret key file.
        #[arg(long)]
        key: PathBuf,
        /// The system (host id) the file is for.
        #[arg(long)]
        host: String,
        /// Product name.
        #[arg(long, default_value = "IR")]
        product: String,
        /// Product version.
        #[arg(long)]
        product_version: String,
        /// Vendor name.
        #[arg(long, default_value = "weblm vendor")]
        vendor: String,
        /// Issue date (YYYY-MM-DD; default today, UTC).
        #[arg(long)]
        issued: Option<NaiveDate>,
        /// Output license file.
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Add one license code to a license file and re-sign it (like Sentinel's lslic).
    AddCode(AddCode),
    /// Print a license file in readable form.
    Show {
        /// License file.
        file: PathBuf,
    },
    /// Check a license file's signature, host id and (optionally) product version.
    Verify {
        /// License file.
        file: PathBuf,
        /// Vendor public key file.
        #[arg(long)]
        key: PathBuf,
        /// This system's host id.
        #[arg(long)]
        host: String,
        /// This system's product version.
        #[arg(long)]
        product_version: Option<String>,
    },
    /// Print the effective entitlement per feature/version, with the reason for every code.
    Entitlements {
        /// License file.
        file: PathBuf,
        /// Vendor public key file (with --host: verify before resolving).
        #[arg(long, requires = "host")]
        key: Option<PathBuf>,
        /// This system's host id.
        #[arg(long, requires = "key")]
        host: Option<String>,
        /// Evaluate at this time (RFC 3339 or YYYY-MM-DD; default now).
        #[arg(long)]
        at: Option<String>,
        /// Resolve as a server in a redundant pool.
        #[arg(long)]
        redundant: bool,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Policy plugins: `weblm plugin check FILE`.
    #[command(subcommand)]
    Plugin(plugin_cmd::PluginCmd),
    /// Share licenses over weighted, prioritised, capped buckets (zones), natively or with a
    /// plugin: a what-if of the `distribute` hook.
    Distribute(plugin_cmd::DistributeArgs),
    /// Run the license server daemon. Without --config: a demo server on a bundled demo
    /// license (files and SQLite state in --demo-dir, default ./weblm-demo).
    Serve {
        /// Configuration file (TOML; see docs/server.md).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Folder of the demo server (used without --config).
        #[arg(long, default_value = "weblm-demo")]
        demo_dir: PathBuf,
        /// Listen address of the demo server (used without --config).
        #[arg(long, default_value = "127.0.0.1:7070")]
        listen: String,
    },
    /// Talk to a running server from the command line.
    #[command(subcommand)]
    Client(cli_client::ClientCmd),
    /// End to end: make a key, issue a license, add the seed codes, print entitlements, and
    /// acquire leases from a persistent ledger.
    Demo {
        /// Working directory for the demo's files (default: a fresh temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Zone/tenant/organization allocation: the what-if planner (`zones plan`).
    #[command(subcommand)]
    Zones(alloc_cmd::ZonesCmd),
    /// PAK fulfilment and rehost in a license manager database.
    #[command(subcommand)]
    Pak(alloc_cmd::PakCmd),
    /// Compliance alerts from a license manager database.
    #[command(subcommand)]
    Alerts(alloc_cmd::AlertsCmd),
    /// The Cisco-style license manager of a server configuration (trial, over-use,
    /// deactivation, analysis, contact), run while the server is stopped.
    #[command(subcommand)]
    Compliance(compliance_cmd::ComplianceCmd),
}

#[derive(clap::Args)]
struct AddCode {
    /// License file to extend (rewritten in place).
    file: PathBuf,
    /// Vendor secret key file.
    #[arg(long)]
    key: PathBuf,
    /// Feature name.
    #[arg(long)]
    feature: String,
    /// Feature version.
    #[arg(long = "feature-version")]
    version: String,
    /// Number of licenses.
    #[arg(long)]
    count: u32,
    /// Code kind.
    #[arg(long, value_enum, default_value = "additive")]
    kind: KindArg,
    /// Term.
    #[arg(long, value_enum, default_value = "permanent")]
    term: TermArg,
    /// Trial length in days (trial term).
    #[arg(long)]
    trial_days: Option<u32>,
    /// Trial length in hours (trial term).
    #[arg(long)]
    trial_hours: Option<u32>,
    /// First day of use (YYYY-MM-DD; default today, UTC).
    #[arg(long)]
    start: Option<NaiveDate>,
    /// Last day of use, inclusive (YYYY-MM-DD).
    #[arg(long)]
    end: Option<NaiveDate>,
    /// A redundant code (never a trial).
    #[arg(long)]
    redundant: bool,
}

fn main() {
    let cli = Cli::parse();
    if !matches!(cli.cmd, Cmd::Serve { .. }) {
        restore_default_sigpipe();
    }
    if let Err(e) = run(cli) {
        eprintln!("weblm: error: {e:#}");
        std::process::exit(1);
    }
}

/// One-shot commands end quietly, like other Unix tools, when their output is closed early
/// (`weblm show FILE | head`): Rust ignores SIGPIPE, so printing would panic instead. The
/// daemon keeps ignoring it: a client that drops its connection must never stop the server.
fn restore_default_sigpipe() {
    // SAFETY: resetting a signal disposition to its default at start-up, before any thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

fn read_signing_key(path: &Path) -> Result<SigningKey> {
    let text = license::read_text(path)?;
    license::decode_signing_key(&text).with_context(|| format!("reading {}", path.display()))
}

fn read_public_key(path: &Path) -> Result<VerifyingKey> {
    let text = license::read_text(path)?;
    license::decode_verifying_key(&text).with_context(|| format!("reading {}", path.display()))
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn parse_at(at: &Option<String>) -> Result<Timestamp> {
    let Some(text) = at else {
        return Ok(SystemClock.now());
    };
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(Timestamp::from_date(d));
    }
    let t = chrono::DateTime::parse_from_rfc3339(text)
        .with_context(|| format!("--at `{text}` is neither YYYY-MM-DD nor RFC 3339"))?;
    Ok(Timestamp(t.timestamp()))
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Keygen { out_dir, force } => keygen(&out_dir, force).map(|_| ()),
        Cmd::Issue {
            key,
            host,
            product,
            product_version,
            vendor,
            issued,
            out,
        } => {
            let key = read_signing_key(&key)?;
            let file = LicenseFile::issue(
                LicenseContent::new(
                    vendor,
                    product,
                    product_version,
                    host,
                    issued.unwrap_or_else(today),
                ),
                &key,
            )?;
            write_file(&out, &file.to_toml())?;
            println!("issued {} for host {}", out.display(), file.content.host_id);
            Ok(())
        }
        Cmd::AddCode(a) => {
            let key = read_signing_key(&a.key)?;
            let mut file = LicenseFile::read(&a.file)?;
            let code = LicenseCode {
                position: 0,
                feature: a.feature,
                version: a.version,
                count: a.count,
                kind: match a.kind {
                    KindArg::Additive => CodeKind::Additive,
                    KindArg::Exclusive => CodeKind::Exclusive,
                    KindArg::Aggregate => CodeKind::Aggregate,
                },
                term: match a.term {
                    TermArg::Permanent => Term::Permanent,
                    TermArg::Trial => Term::Trial,
                    TermArg::Until => Term::Until,
                },
                trial_days: a.trial_days,
                trial_hours: a.trial_hours,
                start: a.start.unwrap_or_else(today),
                end: a.end,
                redundant: a.redundant,
            };
            let pos = file.add_code(code, &key)?;
            write_file(&a.file, &file.to_toml())?;
            println!("added code #{pos} to {}", a.file.display());
            Ok(())
        }
        Cmd::Show { file } => {
            let f = LicenseFile::read(&file)?;
            print!("{}", show(&f));
            Ok(())
        }
        Cmd::Verify {
            file,
            key,
            host,
            product_version,
        } => {
            let key = read_public_key(&key)?;
            let f = LicenseFile::read(&file)?;
            let v = f.verify(
                &key,
                &Expect {
                    host_id: host,
                    product_version,
                },
            )?;
            println!(
                "OK: {} is signed by this vendor key and issued for host {} ({} {}, {} codes)",
                file.display(),
                v.content().host_id,
                v.content().product,
                v.content().product_version,
                v.content().codes.len()
            );
            Ok(())
        }
        Cmd::Entitlements {
            file,
            key,
            host,
            at,
            redundant,
            json,
        } => {
            let f = LicenseFile::read(&file)?;
            let verified = match (key, host) {
                (Some(key), Some(host)) => {
                    let key = read_public_key(&key)?;
                    f.clone().verify(&key, &Expect::host(host))?;
                    true
                }
                _ => false,
            };
            let now = parse_at(&at)?;
            print!(
                "{}",
                entitlements(&f.content, now, redundant, json, verified)?
            );
            Ok(())
        }
        Cmd::Demo { dir } => demo(dir),
        Cmd::Zones(c) => alloc_cmd::zones(c),
        Cmd::Pak(c) => alloc_cmd::pak(c),
        Cmd::Alerts(c) => alloc_cmd::alerts(c),
        Cmd::Compliance(c) => compliance_cmd::run(c),
        Cmd::Plugin(cmd) => plugin_cmd::run_plugin(cmd),
        Cmd::Distribute(a) => plugin_cmd::run_distribute(a),
        Cmd::Serve {
            config,
            demo_dir,
            listen,
        } => match config {
            Some(c) => serve::run(&c),
            None => {
                let path = serve::demo::prepare(&demo_dir, &listen)?;
                let mut c = serve::config::ServeConfig::load(&path)?;
                c.listen = listen; // --listen wins over the address saved on the first run
                serve::run_config(c)
            }
        },
        Cmd::Client(c) => cli_client::run(c),
    }
}

fn keygen(dir: &Path, force: bool) -> Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let secret = dir.join("vendor.key");
    let public = dir.join("vendor.pub");
    if !force && (secret.exists() || public.exists()) {
        bail!(
            "{} or {} exists already (use --force to overwrite)",
            secret.display(),
            public.display()
        );
    }
    let key = license::generate_key()?;
    write_file(&secret, &license::encode_signing_key(&key))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600))?;
    }
    write_file(
        &public,
        &license::encode_verifying_key(&key.verifying_key()),
    )?;
    println!(
        "wrote {} (secret, keep it safe) and {}",
        secret.display(),
        public.display()
    );
    Ok((secret, public))
}

fn show(f: &LicenseFile) -> String {
    let c = &f.content;
    let mut out = format!(
        "license file (format {})\n  vendor:  {}\n  product: {} {}\n  host id: {}\n  issued:  {}\n  codes:   {}\n",
        c.format,
        c.vendor,
        c.product,
        c.product_version,
        c.host_id,
        c.issued,
        c.codes.len()
    );
    for code in &c.codes {
        let mut term = code.term.to_string();
        if let Some(d) = code.trial_days {
            term += &format!(" {d}d");
        }
        if let Some(h) = code.trial_hours {
            term += &format!(" {h}h");
        }
        out += &format!(
            "  #{:<3} {} {} count={} {} {} start={}{}{}\n",
            code.position,
            code.feature,
            code.version,
            code.count,
            code.kind,
            term,
            code.start,
            code.end.map(|e| format!(" end={e}")).unwrap_or_default(),
            if code.redundant { " redundant" } else { "" }
        );
    }
    out += &format!(
        "  signature: {} {}\n",
        f.signature.algorithm, f.signature.value
    );
    out
}

fn entitlements(
    c: &LicenseContent,
    now: Timestamp,
    redundant: bool,
    json: bool,
    verified: bool,
) -> Result<String> {
    let ctx = ResolveContext {
        now,
        redundant_server: redundant,
    };
    let mut rows = Vec::new();
    for ((feature, version), codes) in c.features() {
        let inputs: Vec<CodeInput> = codes.into_iter().map(CodeInput::new).collect();
        rows.push((feature, version, codes::resolve(&inputs, &ctx)));
    }
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|(f, v, e)| serde_json::json!({"feature": f, "version": v, "entitlement": e}))
            .collect();
        return Ok(serde_json::to_string_pretty(&serde_json::json!({
            "at": now, "redundant_server": redundant, "signature_checked": verified, "features": v
        }))? + "\n");
    }
    let mut out = format!(
        "entitlements at {now}{}{}\n",
        if redundant { " (redundant server)" } else { "" },
        if verified {
            ""
        } else {
            " (signature NOT checked: pass --key and --host)"
        }
    );
    for (feature, version, e) in rows {
        let window = format!(
            "{} .. {}",
            e.valid_from
                .map(|t| t.to_string())
                .unwrap_or_else(|| "-".into()),
            e.valid_until
                .map(|t| t.to_string())
                .unwrap_or_else(|| "no end".into())
        );
        out += &format!("{feature} {version}: {} licenses  [{window}]\n", e.count);
        for d in &e.decisions {
            out += &format!("    #{:<3} count {:<6} {}\n", d.position, d.count, d.reason);
        }
    }
    Ok(out)
}

fn demo(dir: Option<PathBuf>) -> Result<()> {
    let tmp;
    let dir = match dir {
        Some(d) => d,
        None => {
            tmp = std::env::temp_dir().join(format!("weblm-demo-{}", std::process::id()));
            tmp
        }
    };
    println!("== weblm demo in {}", dir.display());
    let (secret, public) = keygen(&dir, true)?;
    let key = read_signing_key(&secret)?;
    let day = today();
    let mut file = LicenseFile::issue(
        LicenseContent::new("Acme Voice", "IR", "5.0", "ir-host-01", day),
        &key,
    )?;
    let code = |feature: &str, count, kind, term, trial_days| LicenseCode {
        position: 0,
        feature: feature.into(),
        version: "5.0".into(),
        count,
        kind,
        term,
        trial_days,
        trial_hours: None,
        start: day,
        end: None,
        redundant: false,
    };
    // Sentinel's example: 5 + 2 concurrent users of feature 77 5.0 = 7.
    file.add_code(
        code("77", 5, CodeKind::Additive, Term::Permanent, None),
        &key,
    )?;
    file.add_code(
        code("77", 2, CodeKind::Additive, Term::Permanent, None),
        &key,
    )?;
    // Exclusive codes: only the last added counts.
    file.add_code(
        code("ASR", 10, CodeKind::Exclusive, Term::Permanent, None),
        &key,
    )?;
    file.add_code(
        code("ASR", 4, CodeKind::Exclusive, Term::Permanent, None),
        &key,
    )?;
    // A permanent code replaces a trial code.
    file.add_code(
        code("TTS", 8, CodeKind::Additive, Term::Trial, Some(30)),
        &key,
    )?;
    file.add_code(
        code("TTS", 3, CodeKind::Additive, Term::Permanent, None),
        &key,
    )?;
    // The IR ports of the Primary/Secondary example: 20 at this server.
    file.add_code(
        code(
            "VALUE_IR_VOIP_PORTS",
            20,
            CodeKind::Additive,
            Term::Permanent,
            None,
        ),
        &key,
    )?;
    let path = dir.join("license.toml");
    write_file(&path, &file.to_toml())?;
    println!(
        "== issued {} with {} codes",
        path.display(),
        file.content.codes.len()
    );
    let verified = license::load_license(
        &path,
        &read_public_key(&public)?,
        &Expect::host("ir-host-01"),
    )?;
    println!("== verified signature and host id\n");
    print!(
        "{}",
        entitlements(verified.content(), SystemClock.now(), false, false, true)?
    );

    let db = dir.join("state.db");
    let _ = std::fs::remove_file(&db);
    let ledger = Ledger::open(
        &db,
        &verified,
        Arc::new(SystemClock),
        LedgerConfig::default(),
    )?;
    let g = ledger.acquire("ir-host-01", "VALUE_IR_VOIP_PORTS", "5.0", 35)?;
    println!(
        "\n== acquire 35 VALUE_IR_VOIP_PORTS: granted {} (lease {:?}, expires {})",
        g.granted,
        g.lease,
        g.expires_at.map(|t| t.to_string()).unwrap_or_default()
    );
    let g2 = ledger.acquire("ir-host-02", "VALUE_IR_VOIP_PORTS", "5.0", 5)?;
    println!("== a second client asks for 5: granted {}", g2.granted);
    drop(ledger);
    let reopened = Ledger::open(
        &db,
        &verified,
        Arc::new(SystemClock),
        LedgerConfig::default(),
    )?;
    let u = reopened.usage("VALUE_IR_VOIP_PORTS", "5.0")?;
    println!(
        "== after reopening {}: {} in use, {} available of {} (leases survive restarts)",
        db.display(),
        u.in_use,
        u.available,
        u.entitled
    );
    Ok(())
}
