//! `weblm client ...`: ask a running `weblm serve` for licenses from the command line.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use weblm_core::client::{Client, ClientConfig, Endpoint, FeatureWant};
use weblm_core::clock::SystemClock;

/// Client subcommands.
#[derive(Subcommand)]
pub enum ClientCmd {
    /// Ask for licenses: prints the grant (lease id, granted, expiry) as JSON.
    Acquire {
        #[command(flatten)]
        server: Server,
        /// Feature name.
        #[arg(long)]
        feature: String,
        /// Feature version.
        #[arg(long = "feature-version")]
        version: String,
        /// Licenses wanted.
        #[arg(long, allow_hyphen_values = true)]
        count: i64,
    },
    /// Renew a lease.
    Renew {
        #[command(flatten)]
        server: Server,
        /// Lease id.
        lease: u64,
    },
    /// Release a lease.
    Release {
        #[command(flatten)]
        server: Server,
        /// Lease id.
        lease: u64,
    },
    /// Usage report (admin token).
    Usage {
        #[command(flatten)]
        server: Server,
    },
    /// Who holds what (admin token).
    Leases {
        #[command(flatten)]
        server: Server,
    },
    /// Force-release every lease of one client (admin token).
    ReleaseClient {
        #[command(flatten)]
        server: Server,
        /// The client id.
        client: String,
    },
    /// Run the IR client (Primary + optional Secondary, renewals, NVRAM, modes) for a while
    /// and print its status as JSON.
    Hold {
        /// Primary server URL.
        #[arg(long)]
        primary: String,
        /// Secondary server URL.
        #[arg(long)]
        secondary: Option<String>,
        /// Token (the same client token at both servers).
        #[arg(long)]
        token: String,
        /// Wanted licenses, FEATURE:VERSION:COUNT (repeatable).
        #[arg(long = "want", required = true)]
        wants: Vec<String>,
        /// NVRAM file.
        #[arg(long, default_value = "weblm-client.nvram")]
        nvram: PathBuf,
        /// How long to hold, in seconds.
        #[arg(long, default_value_t = 0)]
        seconds: u64,
    },
}

/// Where the server is.
#[derive(clap::Args)]
pub struct Server {
    /// Server base URL.
    #[arg(long, default_value = "http://127.0.0.1:7070")]
    url: String,
    /// Client or admin token.
    #[arg(long, default_value = "demo-client-token")]
    token: String,
}

fn send(server: &Server, method: &str, path: &str, body: Option<serde_json::Value>) -> Result<()> {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(5))
        .build();
    let req = agent
        .request(
            method,
            &format!("{}{path}", server.url.trim_end_matches('/')),
        )
        .set("Authorization", &format!("Bearer {}", server.token));
    let res = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    match res {
        Ok(r) => {
            println!("{}", r.into_string()?);
            Ok(())
        }
        Err(ureq::Error::Status(code, r)) => {
            bail!("HTTP {code}: {}", r.into_string().unwrap_or_default())
        }
        Err(e) => Err(e).with_context(|| format!("contacting {}", server.url)),
    }
}

fn parse_want(s: &str) -> Result<FeatureWant> {
    let parts: Vec<&str> = s.rsplitn(3, ':').collect();
    if parts.len() != 3 {
        bail!("--want {s}: expected FEATURE:VERSION:COUNT");
    }
    Ok(FeatureWant {
        feature: parts[2].into(),
        version: parts[1].into(),
        wanted: parts[0]
            .parse()
            .with_context(|| format!("--want {s}: bad count"))?,
        restricted_floor: 0,
    })
}

/// Runs a client subcommand.
pub fn run(cmd: ClientCmd) -> Result<()> {
    match cmd {
        ClientCmd::Acquire {
            server,
            feature,
            version,
            count,
        } => send(
            &server,
            "POST",
            "/v1/leases",
            Some(serde_json::json!({"feature": feature, "version": version, "count": count})),
        ),
        ClientCmd::Renew { server, lease } => {
            send(&server, "POST", &format!("/v1/leases/{lease}/renew"), None)
        }
        ClientCmd::Release { server, lease } => {
            send(&server, "DELETE", &format!("/v1/leases/{lease}"), None)
        }
        ClientCmd::Usage { server } => send(&server, "GET", "/v1/usage", None),
        ClientCmd::Leases { server } => send(&server, "GET", "/v1/leases", None),
        ClientCmd::ReleaseClient { server, client } => send(
            &server,
            "POST",
            "/v1/admin/release-client",
            Some(serde_json::json!({ "client": client })),
        ),
        ClientCmd::Hold {
            primary,
            secondary,
            token,
            wants,
            nvram,
            seconds,
        } => {
            let mut cfg = ClientConfig::new(
                "cli",
                Endpoint::Http {
                    url: primary,
                    token: token.clone(),
                },
                nvram,
            );
            cfg.secondary = secondary.map(|url| Endpoint::Http { url, token });
            for w in &wants {
                cfg.features.push(parse_want(w)?);
            }
            let client = Client::start(cfg, Arc::new(SystemClock))?;
            client.on_mode_change(|c| {
                eprintln!(
                    "weblm: mode {} -> {}: {}",
                    c.from.as_str(),
                    c.to.as_str(),
                    c.reason
                )
            });
            std::thread::sleep(Duration::from_secs(seconds));
            println!("{}", serde_json::to_string_pretty(&client.status())?);
            client.close();
            Ok(())
        }
    }
}
