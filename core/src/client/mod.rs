//! The IR-side license client: a Primary and an optional Secondary license server, per feature
//! the number of licenses wanted, background renewal, persistent state ([`crate::nvram`]) and
//! the Normal / Grace / Restricted modes of SPEC §3–§4.
//!
//! - **Acquire** asks the Primary first and the Secondary for the remainder, and holds the sum
//!   (35 wanted, 20 at the Primary, 15 at the Secondary: 35 held). A Primary that cannot be
//!   reached sends the whole request to the Secondary. A shortfall leaves the client short and
//!   is retried every `retry_secs`.
//! - **Renewal**: each lease is renewed at `renew_fraction` (default 80 %) of the lifetime the
//!   server announced; a server that is down keeps the lease counted until it would expire.
//! - **Modes**: holding at least the recorded count is **Normal**; holding less starts the grace
//!   clock (**Grace**: capacity stays at the recorded count); when the grace period (default
//!   30 days) ends without recovery the client is **Restricted** (capacity = held + configured
//!   floor). Getting the licenses back returns it to Normal at once. A tampered or corrupt NVRAM
//!   file puts it in Restricted mode with the reason until it holds its full configured counts.
//! - **Failures** of a server (down, slow, garbage) are per request: each HTTP call has a
//!   timeout and every error is recorded and retried; nothing panics or blocks forever.
//!
//! All time is read through a [`Clock`]; the background thread polls the clock, so a
//! [`crate::clock::ManualClock`] drives it in tests.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::clock::{Clock, Timestamp};
use crate::ledger::{LeaseId, Ledger, DEFAULT_LEASE_LIFETIME_SECS};
use crate::nvram::{Nvram, NvramState};

/// Default grace period: 30 days.
pub const DEFAULT_GRACE_SECS: i64 = 30 * Timestamp::DAY;

/// Where a client gets licenses.
#[derive(Clone)]
pub enum Endpoint {
    /// A `weblm serve` server: base URL (`http://127.0.0.1:7070`) and this client's token.
    Http {
        /// Base URL.
        url: String,
        /// Shared token sent as `Authorization: Bearer <token>`.
        token: String,
    },
    /// A ledger embedded in this process (the Primary running on the IR platform itself).
    Embedded(Arc<Ledger>),
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Http { url, .. } => write!(f, "Http({url})"),
            Endpoint::Embedded(_) => f.write_str("Embedded"),
        }
    }
}

impl Endpoint {
    fn describe(&self) -> String {
        match self {
            Endpoint::Http { url, .. } => url.clone(),
            Endpoint::Embedded(_) => "embedded ledger".into(),
        }
    }
}

/// One feature the client wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureWant {
    /// Feature name.
    pub feature: String,
    /// Feature version.
    pub version: String,
    /// Licenses configured (e.g. digital + VoIP ports = 35).
    pub wanted: u32,
    /// Licenses usable in Restricted mode on top of those really held (default 0).
    pub restricted_floor: u32,
}

/// Client settings.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// This client's id (sent to an embedded ledger; a server knows it from the token).
    pub client_id: String,
    /// The first point of contact.
    pub primary: Endpoint,
    /// Asked for what the Primary could not give.
    pub secondary: Option<Endpoint>,
    /// The features and counts wanted.
    pub features: Vec<FeatureWant>,
    /// The NVRAM file.
    pub nvram_path: PathBuf,
    /// The installation secret that keys the NVRAM MAC (empty: a built-in key).
    pub nvram_key: Vec<u8>,
    /// Lease lifetime of an embedded ledger's leases as the client sees them (default 600 s).
    pub lease_lifetime_secs: i64,
    /// Renew when this fraction of the lifetime has passed (default 0.8).
    pub renew_fraction: f64,
    /// Retry a shortfall or a failed renewal after this many seconds (default 60).
    pub retry_secs: i64,
    /// Grace period (default 30 days).
    pub grace_secs: i64,
    /// Release every lease on [`Client::close`] (default true).
    pub release_on_close: bool,
    /// Timeout of one HTTP request, connect included (default 2 s).
    pub request_timeout: Duration,
    /// Run a background thread that renews and retries (default true).
    pub background: bool,
    /// How often the background thread looks at the clock (default 1 s).
    pub poll_interval: Duration,
}

impl ClientConfig {
    /// Defaults for a client with only a Primary.
    pub fn new(client_id: impl Into<String>, primary: Endpoint, nvram_path: PathBuf) -> Self {
        ClientConfig {
            client_id: client_id.into(),
            primary,
            secondary: None,
            features: Vec::new(),
            nvram_path,
            nvram_key: Vec::new(),
            lease_lifetime_secs: DEFAULT_LEASE_LIFETIME_SECS,
            renew_fraction: 0.8,
            retry_secs: 60,
            grace_secs: DEFAULT_GRACE_SECS,
            release_on_close: true,
            request_timeout: Duration::from_secs(2),
            background: true,
            poll_interval: Duration::from_secs(1),
        }
    }

    /// Adds a wanted feature (restricted floor 0).
    pub fn want(mut self, feature: &str, version: &str, wanted: u32) -> Self {
        self.features.push(FeatureWant {
            feature: feature.into(),
            version: version.into(),
            wanted,
            restricted_floor: 0,
        });
        self
    }
}

/// Why a client could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The configuration is unusable.
    #[error("invalid client configuration: {0}")]
    Config(String),
}

/// A license server's failure to answer one request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerError {
    /// No answer: connection refused, timeout, DNS.
    #[error("{server} unreachable: {detail}")]
    Unreachable {
        /// The server.
        server: String,
        /// What happened.
        detail: String,
    },
    /// The server answered with an error.
    #[error("{server} refused ({status} {code}): {message}")]
    Refused {
        /// The server.
        server: String,
        /// HTTP status.
        status: u16,
        /// Error code from the body.
        code: String,
        /// Message from the body.
        message: String,
    },
    /// The server answered something that is not the API's JSON.
    #[error("{server} answered garbage: {detail}")]
    Garbage {
        /// The server.
        server: String,
        /// What was wrong.
        detail: String,
    },
}

impl ServerError {
    /// The lease is gone on the server (released by an admin, expired, unknown).
    fn lease_gone(&self) -> bool {
        matches!(self, ServerError::Refused { code, .. }
            if code == "unknown_lease" || code == "lease_expired")
    }
}

/// The client's mode (SPEC §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Holding at least the recorded counts.
    Normal,
    /// Short of the recorded counts, within the grace period: operating at the recorded counts.
    Grace,
    /// Grace period over, or persistent state tampered: only what is held plus the floor.
    Restricted,
}

impl Mode {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Normal => "normal",
            Mode::Grace => "grace",
            Mode::Restricted => "restricted",
        }
    }
}

/// A mode change, passed to callbacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModeChange {
    /// The mode before.
    pub from: Mode,
    /// The mode now.
    pub to: Mode,
    /// Why.
    pub reason: String,
    /// When (client clock).
    pub at: Timestamp,
}

/// Which configured server holds a lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Which {
    /// The Primary.
    Primary,
    /// The Secondary.
    Secondary,
}

/// One lease the client holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeldLease {
    /// The server holding it.
    pub server: Which,
    /// Lease id on that server.
    pub lease: LeaseId,
    /// Licenses.
    pub count: u32,
    /// Until when the lease counts as held: the server-side expiry, capped at one announced
    /// lease lifetime after the last successful acquire or renewal.
    pub expires_at: Timestamp,
    /// When the client renews it next.
    pub renew_due: Timestamp,
}

/// What the client holds and may use for one feature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FeatureStatus {
    /// Feature name.
    pub feature: String,
    /// Feature version.
    pub version: String,
    /// Configured count.
    pub wanted: u32,
    /// Licenses held (sum over servers).
    pub held: u32,
    /// NVRAM record.
    pub recorded: u32,
    /// Licenses the IR may use now, given the mode.
    pub capacity: u32,
    /// The leases.
    pub leases: Vec<HeldLease>,
}

/// A snapshot of the client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClientStatus {
    /// Mode.
    pub mode: Mode,
    /// Why it is in that mode.
    pub reason: String,
    /// Start of the grace clock, if running.
    pub grace_started: Option<Timestamp>,
    /// Last successful contact with a server.
    pub last_contact: Option<Timestamp>,
    /// The last server error seen, if any.
    pub last_error: Option<String>,
    /// Per feature.
    pub features: Vec<FeatureStatus>,
}

type Callback = Box<dyn Fn(&ModeChange) + Send + Sync>;

#[derive(Clone)]
struct FeatureRun {
    want: FeatureWant,
    leases: Vec<HeldLease>,
    acquire_due: Timestamp,
}

struct State {
    features: Vec<FeatureRun>,
    nvram: NvramState,
    /// Set when the NVRAM file was tampered/corrupt/unreadable: the reason.
    nvram_fault: Option<String>,
    mode: Mode,
    reason: String,
    last_error: Option<String>,
    closed: bool,
}

struct Inner {
    config: ClientConfig,
    clock: Arc<dyn Clock>,
    nvram: Nvram,
    agent: ureq::Agent,
    state: Mutex<State>,
    callbacks: Mutex<Vec<Arc<Callback>>>,
    stop: (Mutex<bool>, Condvar),
    /// Serializes cycles (and close): the network calls of a cycle run without the state lock,
    /// so mode and status queries never wait for a slow server.
    cycle: Mutex<()>,
}

/// A running client. Dropping it closes it.
pub struct Client {
    inner: Arc<Inner>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.inner.config.client_id)
            .finish()
    }
}

impl Client {
    /// Starts a client: reads its NVRAM, acquires what it wants (one synchronous cycle), and
    /// starts the background renewal thread if configured.
    pub fn start(config: ClientConfig, clock: Arc<dyn Clock>) -> Result<Client, ClientError> {
        if config.features.is_empty() {
            return Err(ClientError::Config("no features wanted".into()));
        }
        if config.client_id.is_empty() {
            return Err(ClientError::Config("client id is empty".into()));
        }
        if !(config.renew_fraction > 0.0 && config.renew_fraction < 1.0) {
            return Err(ClientError::Config(format!(
                "renew_fraction must be between 0 and 1, got {}",
                config.renew_fraction
            )));
        }
        if config.lease_lifetime_secs <= 0 || config.retry_secs <= 0 || config.grace_secs < 0 {
            return Err(ClientError::Config(
                "lease lifetime and retry interval must be positive, grace not negative".into(),
            ));
        }
        for f in &config.features {
            if f.wanted == 0 {
                return Err(ClientError::Config(format!(
                    "feature {} {} wants 0 licenses",
                    f.feature, f.version
                )));
            }
        }
        let nvram = Nvram::new(config.nvram_path.clone(), &config.nvram_key);
        let (nv, fault) = match nvram.load() {
            Ok(Some(s)) => (s, None),
            Ok(None) => (NvramState::default(), None),
            Err(e) => (NvramState::default(), Some(e.to_string())),
        };
        if let Some(f) = &fault {
            tracing::error!(reason = %f, "NVRAM unusable: Restricted mode");
        }
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(config.request_timeout)
            .timeout(config.request_timeout)
            .build();
        let now = clock.now();
        let features = config
            .features
            .iter()
            .map(|w| FeatureRun {
                want: w.clone(),
                leases: Vec::new(),
                acquire_due: now,
            })
            .collect();
        let inner = Arc::new(Inner {
            nvram,
            agent,
            clock,
            state: Mutex::new(State {
                features,
                nvram: nv,
                nvram_fault: fault,
                mode: Mode::Normal,
                reason: "starting".into(),
                last_error: None,
                closed: false,
            }),
            callbacks: Mutex::new(Vec::new()),
            stop: (Mutex::new(false), Condvar::new()),
            cycle: Mutex::new(()),
            config,
        });
        inner.tick();
        let thread = if inner.config.background {
            let bg = inner.clone();
            Some(
                std::thread::Builder::new()
                    .name("weblm-client".into())
                    .spawn(move || bg.run())
                    .map_err(|e| ClientError::Config(format!("cannot start thread: {e}")))?,
            )
        } else {
            None
        };
        Ok(Client {
            inner,
            thread: Mutex::new(thread),
        })
    }

    /// Runs one renewal/acquisition cycle now (the background thread does this on its own).
    pub fn tick(&self) {
        self.inner.tick();
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.inner.lock().mode
    }

    /// A snapshot of everything the client holds.
    pub fn status(&self) -> ClientStatus {
        self.inner.status()
    }

    /// Licenses the IR may use now for `feature` `version` (0 for a feature not configured).
    pub fn capacity(&self, feature: &str, version: &str) -> u32 {
        self.inner
            .status()
            .features
            .iter()
            .find(|f| f.feature == feature && f.version == version)
            .map_or(0, |f| f.capacity)
    }

    /// Licenses held for `feature` `version`.
    pub fn held(&self, feature: &str, version: &str) -> u32 {
        self.inner
            .status()
            .features
            .iter()
            .find(|f| f.feature == feature && f.version == version)
            .map_or(0, |f| f.held)
    }

    /// Registers a callback called (from the thread that ran the cycle) on every mode change.
    pub fn on_mode_change(&self, cb: impl Fn(&ModeChange) + Send + Sync + 'static) {
        self.inner
            .callbacks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::new(Box::new(cb)));
    }

    /// Stops the background thread and, if configured, releases every lease.
    pub fn close(&self) {
        {
            let (m, cv) = &self.inner.stop;
            *m.lock().unwrap_or_else(|p| p.into_inner()) = true;
            cv.notify_all();
        }
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
        // Wait for a cycle in flight (bounded by its request timeouts) so that no lease it
        // acquires is missed below.
        let _cycle = self.inner.cycle.lock().unwrap_or_else(|p| p.into_inner());
        let mut st = self.inner.lock();
        if st.closed {
            return;
        }
        st.closed = true;
        if self.inner.config.release_on_close {
            let leases: Vec<HeldLease> = st
                .features
                .iter_mut()
                .flat_map(|f| f.leases.drain(..))
                .collect();
            drop(st);
            for l in leases {
                if let Err(e) = self.inner.release(l.server, l.lease) {
                    tracing::warn!(error = %e, lease = l.lease, "release on close failed");
                }
            }
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.close();
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(&self) {
        let (m, cv) = &self.stop;
        loop {
            {
                let stopped = m.lock().unwrap_or_else(|p| p.into_inner());
                let (stopped, _) = cv
                    .wait_timeout_while(stopped, self.config.poll_interval, |s| !*s)
                    .unwrap_or_else(|p| p.into_inner());
                if *stopped {
                    return;
                }
            }
            self.tick();
        }
    }

    fn endpoint(&self, which: Which) -> Option<&Endpoint> {
        match which {
            Which::Primary => Some(&self.config.primary),
            Which::Secondary => self.config.secondary.as_ref(),
        }
    }

    fn renew_due(&self, now: Timestamp, lifetime: i64) -> Timestamp {
        now.plus_secs(((lifetime as f64) * self.config.renew_fraction).max(1.0) as i64)
    }

    /// One cycle: renew what is due, acquire what is missing, update NVRAM and the mode.
    fn tick(&self) {
        let _cycle = self.cycle.lock().unwrap_or_else(|p| p.into_inner());
        let mut runs = {
            let st = self.lock();
            if st.closed {
                return;
            }
            st.features.clone()
        };
        let now = self.clock.now();
        let mut contact = false;
        let mut last_error = None;
        let retry = self.config.retry_secs;
        // The network part, without the state lock.
        for f in runs.iter_mut() {
            // Renew.
            let mut kept = Vec::with_capacity(f.leases.len());
            for mut l in f.leases.drain(..) {
                if now < l.renew_due && now < l.expires_at {
                    kept.push(l);
                    continue;
                }
                match self.renew(l.server, l.lease) {
                    Ok(r) => {
                        contact = true;
                        l.expires_at = counted_until(now, r.expires_at, r.lifetime_secs);
                        l.renew_due = self.renew_due(now, r.lifetime_secs);
                        kept.push(l);
                    }
                    Err(e) if e.lease_gone() => {
                        contact = true;
                        tracing::warn!(error = %e, "lease lost");
                        last_error = Some(e.to_string());
                        // The shortfall is acquired again below.
                        f.acquire_due = now;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "renewal failed");
                        last_error = Some(e.to_string());
                        if now < l.expires_at {
                            l.renew_due = now.plus_secs(retry).min(l.expires_at);
                            kept.push(l);
                        }
                    }
                }
            }
            f.leases = kept;
            // Acquire the shortfall: Primary first, Secondary for the rest.
            let held: u32 = f.leases.iter().map(|l| l.count).sum();
            if held < f.want.wanted && now >= f.acquire_due {
                let mut missing = f.want.wanted - held;
                for which in [Which::Primary, Which::Secondary] {
                    if missing == 0 || self.endpoint(which).is_none() {
                        continue;
                    }
                    match self.acquire(which, &f.want.feature, &f.want.version, missing) {
                        Ok(a) => {
                            contact = true;
                            if let (Some(lease), Some(exp)) = (a.lease, a.expires_at) {
                                let granted = a.granted.min(missing);
                                missing -= granted;
                                f.leases.push(HeldLease {
                                    server: which,
                                    lease,
                                    count: granted,
                                    expires_at: counted_until(now, exp, a.lifetime_secs),
                                    renew_due: self.renew_due(now, a.lifetime_secs),
                                });
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "acquire failed");
                            last_error = Some(e.to_string());
                        }
                    }
                }
                if missing > 0 {
                    f.acquire_due = now.plus_secs(retry);
                }
            }
        }
        // NVRAM and mode.
        let mut st = self.lock();
        st.features = runs;
        let had_fault = st.nvram_fault.is_some();
        let all_full = st
            .features
            .iter()
            .all(|f| f.leases.iter().map(|l| l.count).sum::<u32>() >= f.want.wanted);
        if had_fault && all_full {
            tracing::info!("licenses fully obtained again: NVRAM rewritten, fault cleared");
            st.nvram_fault = None;
            st.nvram = NvramState::default();
        }
        let before = st.nvram.clone();
        if contact {
            st.nvram.last_contact = Some(now);
        }
        let mut short = false;
        let State {
            features, nvram, ..
        } = &mut *st;
        for f in features.iter() {
            let held: u32 = f.leases.iter().map(|l| l.count).sum();
            let rec = nvram.record(&f.want.feature, &f.want.version, f.want.wanted, held);
            if held < rec {
                short = true;
            }
        }
        let (mode, reason) = if let Some(fault) = &st.nvram_fault {
            (
                Mode::Restricted,
                format!("persistent state unusable: {fault}"),
            )
        } else if !short {
            st.nvram.grace_started = None;
            (Mode::Normal, "holding the recorded licenses".to_string())
        } else {
            let started = *st.nvram.grace_started.get_or_insert(now);
            let ends = started.plus_secs(self.config.grace_secs);
            if now < ends {
                (
                    Mode::Grace,
                    format!(
                        "holding fewer licenses than recorded since {started}; grace until {ends}"
                    ),
                )
            } else {
                (
                    Mode::Restricted,
                    format!("grace period ended at {ends} without recovering the licenses"),
                )
            }
        };
        if st.nvram_fault.is_none() && st.nvram != before {
            if let Err(e) = self.nvram.store(&st.nvram) {
                tracing::error!(error = %e, "cannot write NVRAM");
                last_error = Some(e.to_string());
            }
        }
        if last_error.is_some() {
            st.last_error = last_error;
        }
        let change = (st.mode != mode).then(|| ModeChange {
            from: st.mode,
            to: mode,
            reason: reason.clone(),
            at: now,
        });
        st.mode = mode;
        st.reason = reason;
        drop(st);
        if let Some(c) = change {
            tracing::info!(from = c.from.as_str(), to = c.to.as_str(), reason = %c.reason, "mode change");
            let cbs: Vec<_> = self
                .callbacks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            for cb in cbs {
                cb(&c);
            }
        }
    }

    fn status(&self) -> ClientStatus {
        let st = self.lock();
        let features = st
            .features
            .iter()
            .map(|f| {
                let held: u32 = f.leases.iter().map(|l| l.count).sum();
                let recorded = st.nvram.recorded(&f.want.feature, &f.want.version);
                let capacity = match st.mode {
                    Mode::Normal => held,
                    Mode::Grace => held.max(recorded),
                    Mode::Restricted => held
                        .saturating_add(f.want.restricted_floor)
                        .min(f.want.wanted.max(held)),
                };
                FeatureStatus {
                    feature: f.want.feature.clone(),
                    version: f.want.version.clone(),
                    wanted: f.want.wanted,
                    held,
                    recorded,
                    capacity,
                    leases: f.leases.clone(),
                }
            })
            .collect();
        ClientStatus {
            mode: st.mode,
            reason: st.reason.clone(),
            grace_started: st.nvram.grace_started,
            last_contact: st.nvram.last_contact,
            last_error: st.last_error.clone(),
            features,
        }
    }
}

/// How long a lease counts as held: the server's expiry, but never longer than the lease
/// lifetime it announced from the last successful contact (an Enterprise master reserves
/// licenses for days; a client that cannot renew must still notice within a lifetime).
fn counted_until(now: Timestamp, expires_at: Timestamp, lifetime_secs: i64) -> Timestamp {
    expires_at.min(now.plus_secs(lifetime_secs.max(1)))
}

mod transport;
