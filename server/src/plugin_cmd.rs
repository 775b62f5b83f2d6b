//! `weblm plugin check` and `weblm distribute`: inspect a policy plugin, and run the
//! `distribute` hook (native or a plugin) as a what-if.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use weblm_core::clock::Timestamp;
use weblm_core::codes::{CodeInput, CodeKind, LicenseCode, ResolveContext, Term};
use weblm_core::compliance::{ComplianceConfig, ComplianceInput};
use weblm_core::distribute::{distribute, Bucket, DistributeInput, Distribution, Rounding};
use weblm_plugins::{sha256_hex, Hook, HostConfig, Plugin, PluginHost};

/// `weblm plugin ...`
#[derive(clap::Subcommand)]
pub enum PluginCmd {
    /// Load a plugin, check its ABI version and exports, print its hooks, size, sha256 and
    /// the fuel of a sample call per hook.
    Check {
        /// The plugin module (.wasm, or .wat text).
        file: PathBuf,
        /// Refuse the file unless its sha256 is this (64 hex digits).
        #[arg(long)]
        sha256: Option<String>,
    },
}

/// How `weblm distribute` rounds without a plugin.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum RoundingArg {
    /// Avaya EP: remainder by priority, seeded random order among equal priorities.
    Ep,
    /// Largest fractional part first.
    LargestRemainder,
}

/// `weblm distribute ...`
#[derive(clap::Args)]
pub struct DistributeArgs {
    /// Licenses to share.
    #[arg(long)]
    total: u32,
    /// A bucket as id:weight:priority:cap (cap `-` or `max`: no cap). Repeat per bucket.
    #[arg(long = "bucket", value_parser = parse_bucket, required = true)]
    buckets: Vec<Bucket>,
    /// Seed for the random order among equal priorities.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Use this plugin instead of the native policy.
    #[arg(long)]
    plugin: Option<PathBuf>,
    /// The plugin's expected sha256 (recommended; without it the file is not pinned).
    #[arg(long, requires = "plugin")]
    sha256: Option<String>,
    /// The native rounding (without --plugin).
    #[arg(long, value_enum, default_value = "ep", conflicts_with = "plugin")]
    rounding: RoundingArg,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn parse_bucket(s: &str) -> Result<Bucket, String> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 4 {
        return Err(format!("`{s}`: expected id:weight:priority:cap"));
    }
    let num = |i: usize, what: &str| -> Result<u32, String> {
        parts[i]
            .parse::<u32>()
            .map_err(|e| format!("`{s}`: bad {what} `{}`: {e}", parts[i]))
    };
    let cap = match parts[3] {
        "-" | "max" => u32::MAX,
        _ => num(3, "cap")?,
    };
    Ok(Bucket {
        id: num(0, "id")?,
        weight: num(1, "weight")?,
        priority: num(2, "priority")?,
        cap,
    })
}

fn load(host: &PluginHost, file: &Path, sha256: Option<&str>) -> Result<Plugin> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.display().to_string());
    Ok(match sha256 {
        Some(pin) => host.load(&name, &bytes, pin)?,
        None => host.load_unpinned(&name, &bytes)?,
    })
}

/// Runs `weblm plugin ...`.
pub fn run_plugin(cmd: PluginCmd) -> Result<()> {
    match cmd {
        PluginCmd::Check { file, sha256 } => check(&file, sha256.as_deref()),
    }
}

fn check(file: &Path, sha256: Option<&str>) -> Result<()> {
    let host = PluginHost::new(HostConfig::default())?;
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let started = Instant::now();
    let plugin = load(&host, file, sha256)?;
    let compile = started.elapsed();
    let v = plugin.abi_version();
    println!("plugin      {}", file.display());
    println!("size        {} bytes", plugin.size());
    println!(
        "sha256      {}{}",
        sha256_hex(&bytes),
        if sha256.is_some() {
            " (matches the pin)"
        } else {
            " (not pinned)"
        }
    );
    println!("abi         {}.{}", v >> 16, v & 0xffff);
    println!("hooks       {}", plugin.hooks());
    println!(
        "load        {:.1} ms (compile + checks)",
        compile.as_secs_f64() * 1e3
    );
    let runs = 50;
    let started = Instant::now();
    for _ in 0..runs {
        plugin.instantiate_fresh()?;
    }
    println!(
        "instance    {:.1} µs per fresh store + instance (mean of {runs})",
        started.elapsed().as_secs_f64() * 1e6 / runs as f64
    );
    let limits = plugin.limits();
    println!(
        "limits      memory {} MiB, fuel {} per call",
        limits.memory_bytes >> 20,
        limits.fuel
    );
    for hook in plugin.hooks().hooks() {
        let (what, fuel) = sample_call(&plugin, hook)?;
        println!("sample      {hook}: {what}; fuel {fuel}");
    }
    println!("ok");
    Ok(())
}

fn sample_call(plugin: &Plugin, hook: Hook) -> Result<(String, u64)> {
    let now = Timestamp(1_790_000_000);
    Ok(match hook {
        Hook::Distribute => {
            let input = DistributeInput {
                total: 33,
                seed: 7,
                buckets: vec![
                    Bucket {
                        id: 1,
                        weight: 50,
                        priority: 3,
                        cap: 50,
                    },
                    Bucket {
                        id: 2,
                        weight: 30,
                        priority: 1,
                        cap: 30,
                    },
                    Bucket {
                        id: 3,
                        weight: 20,
                        priority: 2,
                        cap: 20,
                    },
                ],
            };
            let c = plugin.distribute(&input)?;
            (
                format!("33 over 50/30/20 -> {}", shares_text(&c.value)),
                c.fuel_used,
            )
        }
        Hook::ResolveCodes => {
            let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
            let code = |position, count, kind| {
                CodeInput::new(LicenseCode {
                    position,
                    feature: "SAMPLE".into(),
                    version: "1".into(),
                    count,
                    kind,
                    term: Term::Permanent,
                    trial_days: None,
                    trial_hours: None,
                    start: day,
                    end: None,
                    redundant: false,
                })
            };
            let codes = [
                code(1, 5, CodeKind::Additive),
                code(2, 2, CodeKind::Additive),
                code(3, 12, CodeKind::Exclusive),
            ];
            let c = plugin.resolve_codes(
                &codes,
                &ResolveContext {
                    now,
                    redundant_server: false,
                },
            )?;
            (
                format!("codes 5+2 additive, 12 exclusive -> {}", c.value.count),
                c.fuel_used,
            )
        }
        Hook::Compliance => {
            let input = ComplianceInput {
                now,
                entitled: 20,
                in_use: 10,
                recorded: 20,
                acquired: 15,
                short_since: Some(Timestamp(now.0 - 86_400)),
                ..Default::default()
            };
            let c = plugin.compliance(&input, &ComplianceConfig::default())?;
            (
                format!("short of the record for 1 day -> {}", c.value.mode),
                c.fuel_used,
            )
        }
    })
}

fn shares_text(d: &Distribution) -> String {
    d.shares
        .iter()
        .map(|s| format!("{}:{}", s.id, s.count))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `weblm distribute ...`.
pub fn run_distribute(a: DistributeArgs) -> Result<()> {
    let input = DistributeInput {
        total: a.total,
        seed: a.seed,
        buckets: a.buckets,
    };
    let (policy, d, fuel) = match &a.plugin {
        Some(file) => {
            let host = PluginHost::new(HostConfig::default())?;
            let plugin = load(&host, file, a.sha256.as_deref())?;
            if !plugin.hooks().contains(Hook::Distribute) {
                bail!("plugin {} does not implement distribute", file.display());
            }
            let c = plugin.distribute(&input)?;
            (plugin.name().to_string(), c.value, Some(c.fuel_used))
        }
        None => {
            let (name, r) = match a.rounding {
                RoundingArg::Ep => ("native:ep-zones", Rounding::PriorityFirst),
                RoundingArg::LargestRemainder => {
                    ("native:largest-remainder", Rounding::LargestRemainder)
                }
            };
            (name.to_string(), distribute(&input, r)?, None)
        }
    };
    if a.json {
        let shares: Vec<serde_json::Value> = d
            .shares
            .iter()
            .map(|s| serde_json::json!({"id": s.id, "count": s.count}))
            .collect();
        let out = serde_json::json!({
            "policy": policy, "total": input.total, "seed": input.seed,
            "distributed": d.sum(), "unused": input.total as u64 - d.sum(),
            "fuel_used": fuel, "shares": shares,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("policy {policy}");
        println!(
            "{:>10} {:>10} {:>8} {:>10} {:>8}",
            "bucket", "weight", "priority", "cap", "share"
        );
        for (b, s) in input.buckets.iter().zip(&d.shares) {
            let cap = if b.cap == u32::MAX {
                "-".to_string()
            } else {
                b.cap.to_string()
            };
            println!(
                "{:>10} {:>10} {:>8} {:>10} {:>8}",
                b.id, b.weight, b.priority, cap, s.count
            );
        }
        println!(
            "distributed {} of {} ({} unused){}",
            d.sum(),
            input.total,
            input.total as u64 - d.sum(),
            fuel.map(|f| format!("; fuel {f}")).unwrap_or_default()
        );
    }
    Ok(())
}
