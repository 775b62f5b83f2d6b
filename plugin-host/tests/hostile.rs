//! Hostile plugins (plugins/hostile/*.wat): each is contained with its own typed error naming
//! the plugin, and the hook falls back to the native policy without over-granting.

mod common;

use std::sync::Arc;

use common::*;
use weblm_core::clock::Timestamp;
use weblm_core::codes::EntitlementFault;
use weblm_core::codes::{CodeInput, CodeKind, LicenseCode, ResolveContext, Term};
use weblm_core::compliance::ComplianceFault;
use weblm_core::compliance::{ComplianceConfig, ComplianceInput};
use weblm_core::distribute::{distribute, Bucket, DistributeInput, DistributionFault, Rounding};
use weblm_plugins::{
    DistributeHook, Fallback, Fault, Hook, HostConfig, Limits, Plugin, PluginError, PluginHost,
};

fn input() -> DistributeInput {
    DistributeInput {
        total: 10,
        seed: 3,
        buckets: vec![
            Bucket {
                id: 1,
                weight: 2,
                priority: 1,
                cap: u32::MAX,
            },
            Bucket {
                id: 2,
                weight: 1,
                priority: 2,
                cap: u32::MAX,
            },
        ],
    }
}

fn load(name: &str) -> Plugin {
    host()
        .load_unpinned(name, &hostile_bytes(name))
        .expect("loads")
}

fn load_err(name: &str) -> PluginError {
    host()
        .load_unpinned(name, &hostile_bytes(name))
        .expect_err("must be refused")
}

/// Calls `distribute` on the hostile plugin directly and through a hook with the native
/// fallback; returns the fault.
fn distribute_fault(name: &str) -> Fault {
    let plugin = Arc::new(load(name));
    let err = plugin.distribute(&input()).expect_err("must fail");
    assert_eq!(err.plugin, name);
    assert_eq!(err.hook, Some(Hook::Distribute));
    assert_eq!(plugin.stats().failures(), 1);

    let hook = DistributeHook::new();
    hook.slot().install(plugin.clone()).unwrap();
    let ev = hook.distribute(&input()).unwrap();
    assert_eq!(
        ev.value,
        distribute(&input(), Rounding::PriorityFirst).unwrap()
    );
    assert_eq!(ev.policy, "native:ep-zones");
    assert_eq!(ev.fault.as_ref().unwrap().fault, err.fault);
    assert_eq!(hook.slot().fallbacks(), 1);
    // And with Fallback::Refuse the error comes back.
    let refusing = DistributeHook::with(
        Arc::new(weblm_core::distribute::EpZonePolicy),
        Fallback::Refuse,
    );
    refusing.slot().install(plugin).unwrap();
    assert_eq!(refusing.distribute(&input()).unwrap_err().fault, err.fault);
    err.fault
}

#[test]
fn endless_loop_runs_out_of_fuel() {
    assert_eq!(
        distribute_fault("endless_loop"),
        Fault::FuelExhausted {
            budget: Limits::default().fuel
        }
    );
}

#[test]
fn fuel_budget_is_configurable() {
    let host = PluginHost::new(HostConfig {
        limits: Limits {
            fuel: 5_000,
            ..Limits::default()
        },
        ..HostConfig::default()
    })
    .unwrap();
    let p = host
        .load_unpinned("endless_loop", &hostile_bytes("endless_loop"))
        .unwrap();
    assert_eq!(
        p.distribute(&input()).unwrap_err().fault,
        Fault::FuelExhausted { budget: 5_000 }
    );
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    match distribute_fault("memory_bomb") {
        Fault::MemoryLimit { limit, asked } => {
            assert_eq!(limit, 16 << 20);
            assert!(asked > limit);
        }
        other => panic!("expected MemoryLimit, got {other:?}"),
    }
}

#[test]
fn memory_limit_is_configurable() {
    let host = PluginHost::new(HostConfig {
        limits: Limits {
            memory_bytes: 2 << 20,
            ..Limits::default()
        },
        ..HostConfig::default()
    })
    .unwrap();
    let p = host
        .load_unpinned("memory_bomb", &hostile_bytes("memory_bomb"))
        .unwrap();
    assert!(matches!(
        p.distribute(&input()).unwrap_err().fault,
        Fault::MemoryLimit { limit, .. } if limit == 2 << 20
    ));
}

#[test]
fn huge_initial_memory_is_refused_at_load() {
    let e = load_err("huge_memory");
    assert_eq!(e.plugin, "huge_memory");
    assert_eq!(
        e.fault,
        Fault::MemoryLimit {
            limit: 16 << 20,
            asked: 64 << 20
        }
    );
}

#[test]
fn trap_is_contained() {
    assert!(matches!(distribute_fault("trap"), Fault::Trap(m) if m.contains("unreachable")));
}

#[test]
fn stack_overflow_is_contained() {
    assert_eq!(distribute_fault("stack_overflow"), Fault::StackOverflow);
}

#[test]
fn wrong_abi_version_is_refused() {
    let e = load_err("wrong_abi");
    assert_eq!(
        e.fault,
        Fault::AbiVersion {
            found_major: 2,
            found_minor: 0,
            supported: 1
        }
    );
    assert!(e.to_string().contains("wrong_abi"), "{e}");
    assert!(e.to_string().contains("ABI version 2.0"), "{e}");
}

#[test]
fn missing_export_is_refused() {
    assert_eq!(
        load_err("missing_export").fault,
        Fault::MissingExport("weblm_distribute".into())
    );
}

/// The host calls `weblm_alloc` and the hooks without a per-call type check
/// (`Func::call_unchecked`), so a wrong export type must never get past the load.
#[test]
fn wrong_export_types_are_refused_at_load() {
    assert_eq!(
        load_err("wrong_hook_type").fault,
        Fault::WrongExportType {
            name: "weblm_distribute".into(),
            expected: "(i32, i32) -> i64"
        }
    );
    assert_eq!(
        load_err("wrong_alloc_type").fault,
        Fault::WrongExportType {
            name: "weblm_alloc".into(),
            expected: "(i32) -> i32"
        }
    );
}

#[test]
fn imports_are_refused() {
    assert_eq!(
        load_err("wasi_import").fault,
        Fault::ForbiddenImport {
            module: "wasi_snapshot_preview1".into(),
            name: "fd_write".into()
        }
    );
}

#[test]
fn output_outside_memory_is_refused() {
    assert!(matches!(
        distribute_fault("out_of_bounds"),
        Fault::OutputOutOfBounds {
            ptr: 0xFFF0,
            len: 4096,
            ..
        }
    ));
}

#[test]
fn lying_distribution_above_total_is_refused() {
    assert_eq!(
        distribute_fault("lying_distribute"),
        Fault::InvalidDistribution(DistributionFault::AboveTotal { sum: 11, total: 10 })
    );
}

#[test]
fn lying_distribution_above_cap_is_refused() {
    let p = load("lying_distribute");
    let mut inp = input();
    inp.buckets[0].cap = 4;
    assert_eq!(
        p.distribute(&inp).unwrap_err().fault,
        Fault::InvalidDistribution(DistributionFault::AboveCap {
            id: 1,
            count: 11,
            cap: 4
        })
    );
}

#[test]
fn negative_count_is_refused() {
    assert_eq!(
        distribute_fault("negative_distribute"),
        Fault::InvalidDistribution(DistributionFault::Negative { id: 1, count: -5 })
    );
}

#[test]
fn unknown_bucket_is_refused() {
    assert_eq!(
        distribute_fault("unknown_bucket"),
        Fault::InvalidDistribution(DistributionFault::UnknownBucket(999_999))
    );
}

#[test]
fn plugin_reported_error_is_contained() {
    assert_eq!(distribute_fault("reported_error"), Fault::Reported(-7));
}

#[test]
fn lying_entitlement_is_refused() {
    let p = load("lying_resolve");
    let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let codes = vec![CodeInput::new(LicenseCode {
        position: 1,
        feature: "F".into(),
        version: "1".into(),
        count: 20,
        kind: CodeKind::Additive,
        term: Term::Permanent,
        trial_days: None,
        trial_hours: None,
        start: day,
        end: None,
        redundant: false,
    })];
    let ctx = ResolveContext {
        now: Timestamp::from_date(day).plus_days(1),
        redundant_server: false,
    };
    assert_eq!(
        p.resolve_codes(&codes, &ctx).unwrap_err().fault,
        Fault::InvalidEntitlement(EntitlementFault::AboveCodes {
            count: 1_000_000,
            allowed: 20
        })
    );
}

#[test]
fn lying_compliance_is_refused() {
    let p = load("lying_compliance");
    let tampered = ComplianceInput {
        now: Timestamp(1_000),
        tampered: true,
        ..Default::default()
    };
    assert_eq!(
        p.compliance(&tampered, &ComplianceConfig::default())
            .unwrap_err()
            .fault,
        Fault::InvalidCompliance(ComplianceFault::LenientOnTamper(
            weblm_core::compliance::Mode::Normal
        ))
    );
    // The same plugin's honest-looking answer passes for untampered input.
    let ok = ComplianceInput {
        now: Timestamp(1_000),
        ..Default::default()
    };
    assert!(p.compliance(&ok, &ComplianceConfig::default()).is_ok());
}

#[test]
fn hook_not_implemented_is_refused() {
    let p = Arc::new(load("lying_resolve"));
    assert_eq!(
        p.distribute(&input()).unwrap_err().fault,
        Fault::HookNotImplemented(Hook::Distribute)
    );
    let hook = DistributeHook::new();
    assert_eq!(
        hook.slot().install(p).unwrap_err().fault,
        Fault::HookNotImplemented(Hook::Distribute)
    );
}

#[test]
fn garbage_bytes_are_refused() {
    let e = host()
        .load_unpinned("garbage", b"\0asm\x01\0\0\0garbage")
        .unwrap_err();
    assert!(matches!(e.fault, Fault::Compile(_)), "{e}");
}

#[test]
fn oversized_module_is_refused() {
    let host = PluginHost::new(HostConfig {
        limits: Limits {
            max_module: 100,
            ..Limits::default()
        },
        ..HostConfig::default()
    })
    .unwrap();
    let bytes = std::fs::read(plugins_dir().join("wasm/ep_zones.wasm")).unwrap();
    assert!(matches!(
        host.load_unpinned("big", &bytes).unwrap_err().fault,
        Fault::ModuleTooLarge { limit: 100, .. }
    ));
}

#[test]
fn oversized_input_is_refused() {
    let host = PluginHost::new(HostConfig {
        limits: Limits {
            max_input: 64,
            ..Limits::default()
        },
        ..HostConfig::default()
    })
    .unwrap();
    let p = committed(&host, "ep_zones");
    let mut inp = input();
    inp.buckets = (0..10)
        .map(|i| Bucket {
            id: i,
            weight: 1,
            priority: 1,
            cap: 9,
        })
        .collect();
    assert!(matches!(
        p.distribute(&inp).unwrap_err().fault,
        Fault::InputTooLarge { limit: 64, .. }
    ));
}
