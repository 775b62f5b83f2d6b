//! # weblm-core
//!
//! The weblm licensing engine: vendor-signed license files ([`license`]), license codes and how
//! they combine into entitlements ([`codes`]), the lease ledger a WebLM server runs and an IR
//! process embeds ([`ledger`]), its SQLite state ([`store`]), and the clock every time rule
//! reads ([`clock`]). The three policy hooks have native defaults here: `resolve_codes`
//! ([`codes`]), `distribute` ([`distribute`]) and `compliance` ([`compliance`]); randomness a
//! policy needs comes from [`seeded`].
//!
//! ```
//! use std::sync::Arc;
//! use weblm_core::{clock::*, codes::*, license::*, ledger::*};
//! use chrono::NaiveDate;
//!
//! let key = generate_key().unwrap();
//! let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
//! let mut file = LicenseFile::issue(LicenseContent {
//!     format: FORMAT_VERSION, vendor: "Acme".into(), product: "IR".into(),
//!     product_version: "5.0".into(), host_id: "ir-01".into(), issued: day, codes: vec![],
//! }, &key).unwrap();
//! file.add_code(LicenseCode {
//!     position: 0, feature: "VALUE_IR_VOIP_PORTS".into(), version: "5.0".into(), count: 20,
//!     kind: CodeKind::Additive, term: Term::Permanent, trial_days: None, trial_hours: None,
//!     start: day, end: None, redundant: false,
//! }, &key).unwrap();
//! let license = file.verify(&key.verifying_key(), &Expect::host("ir-01")).unwrap();
//! let clock = Arc::new(ManualClock::new(Timestamp::from_date(day)));
//! let ledger = Ledger::in_memory(&license, clock, LedgerConfig::default());
//! let grant = ledger.acquire("ir-01", "VALUE_IR_VOIP_PORTS", "5.0", 35).unwrap();
//! assert_eq!(grant.granted, 20); // partial grant: 20 of 35
//! ```
#![warn(missing_docs)]

pub mod api;
pub mod client;
pub mod clock;
pub mod codes;
pub mod compliance;
pub mod distribute;
pub mod ledger;
pub mod license;
pub mod nvram;
pub mod seeded;
pub mod store;

// Enterprise allocation (SPEC §6): zones, tenants, organizations, reserved calls, the system
// pipeline and applications, all sharing through the `distribute` hook via `share`.
pub mod apps;
pub mod orgs;
pub mod pipeline;
pub mod plan;
pub mod reserved;
pub mod share;
pub mod tenants;
pub mod zones;

// Cisco-style compliance (SPEC §7): trial, violations, alerts, daily analysis, PAKs.
pub mod outbox;
pub mod pak;
pub mod plm;
pub mod plm_db;
