//! `weblm-loadgen`: load generator for `weblm serve` on loopback.
//!
//! Starts a `weblm serve` (standard role, SQLite state in a temporary folder) on 127.0.0.1 with
//! an ephemeral port, then:
//! 1. **Throughput/latency**: `--clients` concurrent clients (default 64), each on its own
//!    keep-alive HTTP/1.1 connection with its own token, loop acquire → renew → release for
//!    `--seconds`; prints requests/s and p50/p99/max latency per request. The clients run as
//!    tasks on `--threads` threads (default 1, leaving the other core to the server).
//! 2. **Memory per lease**: the server's resident memory (VmRSS) before and after granting
//!    `--leases` one-license leases that stay held; prints bytes per lease.
//!
//! Build and run with optimizations: `cargo run --release -p weblm --bin weblm-loadgen`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use weblm_core::codes::{CodeKind, LicenseCode, Term};
use weblm_core::license::{
    encode_verifying_key, generate_key, LicenseContent, LicenseFile, FORMAT_VERSION,
};

struct Args {
    clients: usize,
    threads: usize,
    seconds: u64,
    leases: usize,
    server_bin: PathBuf,
}

fn parse_args() -> Result<Args> {
    let exe = std::env::current_exe()?;
    let mut a = Args {
        clients: 64,
        threads: 1,
        seconds: 10,
        leases: 100_000,
        server_bin: exe.with_file_name("weblm"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().with_context(|| format!("{k} needs a value"))?;
        match k.as_str() {
            "--clients" => a.clients = v.parse()?,
            "--threads" => a.threads = v.parse()?,
            "--seconds" => a.seconds = v.parse()?,
            "--leases" => a.leases = v.parse()?,
            "--server-bin" => a.server_bin = v.into(),
            _ => bail!(
                "unknown option {k} (--clients N --threads N --seconds N --leases N --server-bin PATH)"
            ),
        }
    }
    if a.clients == 0 || a.threads == 0 {
        bail!("--clients and --threads must be at least 1");
    }
    Ok(a)
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: &str) -> Result<Sender> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn send(
    s: &mut Sender,
    method: &str,
    path: &str,
    token: &str,
    body: Option<String>,
) -> Result<(u16, Bytes)> {
    s.ready().await?;
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.unwrap_or_default())))?;
    let res = s.send_request(req).await?;
    let status = res.status().as_u16();
    let body = res.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

fn lease_of(body: &[u8]) -> Result<u64> {
    let v: serde_json::Value = serde_json::from_slice(body)?;
    v["lease"]
        .as_u64()
        .with_context(|| format!("no lease in {v}"))
}

fn rss_kib(pid: u32) -> Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("no VmRSS")
}

fn pct(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let dir = tempfile::tempdir()?;
    let key = generate_key()?;
    std::fs::write(
        dir.path().join("vendor.pub"),
        encode_verifying_key(&key.verifying_key()),
    )?;
    let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
    let lic = LicenseFile::issue(
        LicenseContent {
            format: FORMAT_VERSION,
            vendor: "load".into(),
            product: "IR".into(),
            product_version: "5.0".into(),
            host_id: "load-host".into(),
            issued: day,
            codes: vec![LicenseCode {
                position: 1,
                feature: "LOAD".into(),
                version: "5.0".into(),
                count: 100_000_000,
                kind: CodeKind::Additive,
                term: Term::Permanent,
                trial_days: None,
                trial_hours: None,
                start: day,
                end: None,
                redundant: false,
            }],
        },
        &key,
    )?;
    std::fs::write(dir.path().join("license.toml"), lic.to_toml())?;
    let mut cfg = String::from(
        "listen = \"127.0.0.1:0\"\nrole = \"standard\"\nlicense = \"license.toml\"\n\
         vendor_public_key = \"vendor.pub\"\nhost_id = \"load-host\"\nstate_db = \"state.db\"\n\
         admin_token = \"load-admin-token\"\nlease_lifetime_secs = 3600\nlog = \"warn\"\n",
    );
    for i in 0..=args.clients {
        cfg.push_str(&format!(
            "[[clients]]\nid = \"load-{i}\"\ntoken = \"load-token-{i}\"\n"
        ));
    }
    let cfg_path = dir.path().join("weblm.toml");
    std::fs::write(&cfg_path, cfg)?;
    let mut child = Command::new(&args.server_bin)
        .args(["serve", "--config"])
        .arg(&cfg_path)
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", args.server_bin.display()))?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .with_context(|| format!("unexpected server output {line:?}"))?
        .to_string();
    let pid = child.id();
    let result = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()?
        .block_on(run(&args, &addr, pid));
    let _ = child.kill();
    let _ = child.wait();
    result
}

async fn run(args: &Args, addr: &str, pid: u32) -> Result<()> {
    println!(
        "weblm-loadgen: server pid {pid} at {addr}; {} clients, {} s, acquire/renew/release",
        args.clients, args.seconds
    );
    let addr = Arc::new(addr.to_string());
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..args.clients {
        let addr = addr.clone();
        tasks.push(tokio::spawn(async move {
            let token = format!("load-token-{i}");
            let mut s = connect(&addr).await?;
            let mut lat: Vec<u32> = Vec::with_capacity(200_000);
            let mut errors = 0u64;
            let acquire = r#"{"feature":"LOAD","version":"5.0","count":1}"#.to_string();
            while Instant::now() < deadline {
                let t = Instant::now();
                let (st, body) =
                    send(&mut s, "POST", "/v1/leases", &token, Some(acquire.clone())).await?;
                lat.push(t.elapsed().as_micros() as u32);
                if st != 201 {
                    errors += 1;
                    continue;
                }
                let id = lease_of(&body)?;
                let t = Instant::now();
                let (st, _) = send(
                    &mut s,
                    "POST",
                    &format!("/v1/leases/{id}/renew"),
                    &token,
                    None,
                )
                .await?;
                lat.push(t.elapsed().as_micros() as u32);
                errors += (st != 200) as u64;
                let t = Instant::now();
                let (st, _) =
                    send(&mut s, "DELETE", &format!("/v1/leases/{id}"), &token, None).await?;
                lat.push(t.elapsed().as_micros() as u32);
                errors += (st != 200) as u64;
            }
            anyhow::Ok((lat, errors))
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await??;
        all.extend(lat);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    println!(
        "throughput: {:.0} requests/s ({} requests in {:.1} s, {} errors)",
        all.len() as f64 / elapsed,
        all.len(),
        elapsed,
        errors
    );
    println!(
        "latency: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        pct(&all, 0.50) as f64 / 1000.0,
        pct(&all, 0.99) as f64 / 1000.0,
        all.last().copied().unwrap_or(0) as f64 / 1000.0
    );

    // Memory per lease: hold `leases` one-license leases.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kib(pid)?;
    let per_conn = args.leases.div_ceil(8);
    let mut tasks = Vec::new();
    for c in 0..8 {
        let addr = addr.clone();
        let n = per_conn.min(args.leases.saturating_sub(c * per_conn));
        tasks.push(tokio::spawn(async move {
            let token = format!("load-token-{}", 0);
            let mut s = connect(&addr).await?;
            let body = r#"{"feature":"LOAD","version":"5.0","count":1}"#.to_string();
            for _ in 0..n {
                let (st, _) =
                    send(&mut s, "POST", "/v1/leases", &token, Some(body.clone())).await?;
                if st != 201 {
                    bail!("acquire answered {st}");
                }
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = rss_kib(pid)?;
    let per = (after.saturating_sub(before) * 1024) as f64 / args.leases as f64;
    println!(
        "memory: server RSS {before} KiB -> {after} KiB for {} held leases = {per:.0} bytes per lease",
        args.leases
    );
    Ok(())
}
