//! Helpers for the multi-process tests: license files, configs, `weblm serve` processes on
//! 127.0.0.1 with ephemeral ports, HTTP calls with timeouts.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use chrono::NaiveDate;
use weblm_core::clock::Timestamp;
use weblm_core::codes::{CodeKind, LicenseCode, Term};
use weblm_core::license::{
    encode_signing_key, encode_verifying_key, generate_key, LicenseContent, LicenseFile,
    SigningKey, FORMAT_VERSION,
};

/// Where every test clock starts.
pub const T0: &str = "2026-11-24T00:00:00Z";
pub const ADMIN: &str = "admin-token-123";

pub fn t0() -> Timestamp {
    Timestamp(1_795_478_400)
}

/// A directory with a vendor key.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub key: SigningKey,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = generate_key().unwrap();
        std::fs::write(
            dir.path().join("vendor.pub"),
            encode_verifying_key(&key.verifying_key()),
        )
        .unwrap();
        Fixture { dir, key }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A signed license for `host` with `(feature, count)` codes, version 5.0.
    pub fn license(&self, name: &str, host: &str, features: &[(&str, u32)]) -> PathBuf {
        let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let codes = features
            .iter()
            .enumerate()
            .map(|(i, (f, c))| LicenseCode {
                position: i as u32 + 1,
                feature: f.to_string(),
                version: "5.0".into(),
                count: *c,
                kind: CodeKind::Additive,
                term: Term::Permanent,
                trial_days: None,
                trial_hours: None,
                start: day,
                end: None,
                redundant: false,
            })
            .collect();
        let file = LicenseFile::issue(
            LicenseContent {
                format: FORMAT_VERSION,
                vendor: "test".into(),
                product: "IR".into(),
                product_version: "5.0".into(),
                host_id: host.into(),
                issued: day,
                codes,
            },
            &self.key,
        )
        .unwrap();
        let p = self.path(name);
        std::fs::write(&p, file.to_toml()).unwrap();
        p
    }

    /// Writes a second key pair (for an EWL master) and returns (secret, public) paths.
    pub fn master_keys(&self) -> (PathBuf, PathBuf) {
        let k = generate_key().unwrap();
        let s = self.path("master.key");
        let p = self.path("master.pub");
        std::fs::write(&s, encode_signing_key(&k)).unwrap();
        std::fs::write(&p, encode_verifying_key(&k.verifying_key())).unwrap();
        (s, p)
    }

    /// A standard server config; returns its path.
    pub fn standard_config(
        &self,
        name: &str,
        license: &Path,
        host: &str,
        clients: &[(&str, &str)],
        extra: &str,
    ) -> PathBuf {
        let mut t = format!(
            "listen = \"127.0.0.1:0\"\nrole = \"standard\"\nlicense = {license:?}\n\
             vendor_public_key = {:?}\nhost_id = \"{host}\"\nstate_db = {:?}\n\
             admin_token = \"{ADMIN}\"\ntest_clock = true\ntest_clock_start = \"{T0}\"\n\
             log = \"warn\"\n{extra}\n",
            self.path("vendor.pub"),
            self.path(&format!("{name}.db")),
        );
        for (id, token) in clients {
            t.push_str(&format!(
                "[[clients]]\nid = \"{id}\"\ntoken = \"{token}\"\n"
            ));
        }
        let p = self.path(&format!("{name}.toml"));
        std::fs::write(&p, t).unwrap();
        p
    }
}

/// A running `weblm serve`.
pub struct Server {
    pub child: Option<Child>,
    pub config: PathBuf,
    pub addr: String,
}

fn spawn(config: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weblm"))
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start weblm serve");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(out);
        let mut line = String::new();
        while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            if let Some(a) = line.trim().strip_prefix("listening on ") {
                let _ = tx.send(a.to_string());
            }
            line.clear();
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(addr) => (child, addr),
        Err(_) => {
            let _ = child.kill();
            let st = child.wait();
            panic!("server with {} did not start: {st:?}", config.display());
        }
    }
}

impl Server {
    pub fn start(config: &Path) -> Self {
        let (child, addr) = spawn(config);
        Server {
            child: Some(child),
            config: config.to_path_buf(),
            addr,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    /// Sends a signal; for SIGSTOP, waits (bounded) until every thread is stopped.
    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.pid(), sig);
        }
        if sig == libc::SIGSTOP {
            for _ in 0..200 {
                if self.all_threads_stopped() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            panic!("server {} did not stop within 2 s of SIGSTOP", self.pid());
        }
    }

    fn all_threads_stopped(&self) -> bool {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid())) else {
            return false;
        };
        tasks.flatten().all(|t| {
            std::fs::read_to_string(t.path().join("stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit(')')
                        .next()
                        .map(|r| r.trim_start().starts_with('T'))
                })
                .unwrap_or(false)
        })
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Restart on the same port (rewrites `listen` in the config).
    pub fn restart(&mut self) {
        self.kill();
        let text = std::fs::read_to_string(&self.config).unwrap();
        let text = text
            .lines()
            .map(|l| {
                if l.starts_with("listen = ") {
                    format!("listen = \"{}\"", self.addr)
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&self.config, text).unwrap();
        let (child, addr) = spawn(&self.config);
        assert_eq!(addr, self.addr);
        self.child = Some(child);
    }

    /// SIGTERM and wait (bounded) for a clean exit; returns the exit status code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        for _ in 0..200 {
            if let Ok(Some(st)) = c.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
        panic!("server did not exit within 10 s of SIGTERM");
    }

    /// Moves the server's test clock.
    pub fn advance(&self, secs: i64) {
        let (s, b) = call(
            &self.url(),
            ADMIN,
            "POST",
            "/v1/admin/test/clock",
            Some(serde_json::json!({ "advance_secs": secs })),
        );
        assert_eq!(s, 200, "{b}");
    }

    /// The server's clock.
    pub fn now(&self) -> Timestamp {
        let (_, h) = call(&self.url(), "", "GET", "/health", None);
        serde_json::from_value(h["time"].clone()).expect("health has a time")
    }

    /// Moves the server's test clock forward to `t` (no-op if already there).
    pub fn set_to(&self, t: Timestamp) {
        let d = t.0 - self.now().0;
        if d > 0 {
            self.advance(d);
        }
    }

    pub fn usage(&self) -> serde_json::Value {
        let (s, b) = call(&self.url(), ADMIN, "GET", "/v1/usage", None);
        assert_eq!(s, 200, "{b}");
        b
    }

    /// One feature's usage line.
    pub fn feature(&self, feature: &str) -> serde_json::Value {
        let u = self.usage();
        u["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["feature"] == feature)
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(c) = &self.child {
            // Resume a stopped server so that the kill is delivered.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGCONT);
            }
        }
        self.kill();
    }
}

/// One HTTP call; returns (status, JSON body or Null). Status 0: no answer.
pub fn call(
    base: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(5))
        .build();
    let mut req = agent.request(method, &format!("{base}{path}"));
    if !token.is_empty() {
        req = req.set("Authorization", &format!("Bearer {token}"));
    }
    let res = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    match res {
        Ok(r) => {
            let s = r.status();
            (s, r.into_json().unwrap_or(serde_json::Value::Null))
        }
        Err(ureq::Error::Status(s, r)) => (s, r.into_json().unwrap_or(serde_json::Value::Null)),
        Err(e) => (0, serde_json::json!({ "transport": e.to_string() })),
    }
}

/// Raw call with a raw body (for malformed JSON).
pub fn call_raw(base: &str, token: &str, path: &str, body: &[u8]) -> (u16, serde_json::Value) {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(5))
        .build();
    let res = agent
        .post(&format!("{base}{path}"))
        .set("Authorization", &format!("Bearer {token}"))
        .set("Content-Type", "application/json")
        .send_bytes(body);
    match res {
        Ok(r) => {
            let s = r.status();
            (s, r.into_json().unwrap_or(serde_json::Value::Null))
        }
        Err(ureq::Error::Status(s, r)) => (s, r.into_json().unwrap_or(serde_json::Value::Null)),
        Err(e) => (0, serde_json::json!({ "transport": e.to_string() })),
    }
}

pub fn acquire(base: &str, token: &str, feature: &str, count: i64) -> (u16, serde_json::Value) {
    call(
        base,
        token,
        "POST",
        "/v1/leases",
        Some(serde_json::json!({"feature": feature, "version": "5.0", "count": count})),
    )
}
