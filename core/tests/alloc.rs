//! Enterprise allocation (SPEC §6, seed `004_…`): every seed example, the rules we settled
//! (rounding, the zero case, reserved calls, the pipeline) and property tests: nobody exceeds
//! a cap or the total, totals are conserved, equal inputs and seeds give equal outputs.

use proptest::prelude::*;
use weblm_core::apps::{AppConfig, AppError, AppRuntime, LicenseUse};
use weblm_core::distribute::{
    Distribute, DistributeInput, Distribution, EpZonePolicy, LargestRemainderPolicy, Share,
};
use weblm_core::orgs::{OrgError, Organization, Organizations, DEFAULT_ORGANIZATION};
use weblm_core::pipeline::{self, PipelineInput, Sides};
use weblm_core::reserved::{reserve, Reservation, ReservationRequest, ReservedError};
use weblm_core::share::ShareError;
use weblm_core::tenants::{split, split_formula, TenantConfig, TenantSplit};
use weblm_core::zones::{Zone, ZoneError, ZoneLicensing};

fn zone(name: &str, assigned: u32, priority: u32) -> Zone {
    Zone {
        name: name.into(),
        assigned,
        priority,
        capacity: None,
        tenant: None,
    }
}

fn granted(a: &weblm_core::zones::ZoneAllocation) -> Vec<u32> {
    a.zones.iter().map(|z| z.granted).collect()
}

// ---- Zones ----

#[test]
fn seed_zone_sum_may_not_exceed_system_licenses() {
    let mut z = ZoneLicensing::new(100);
    z.add_zone(zone("east", 60, 1)).unwrap();
    z.add_zone(zone("west", 0, 1)).unwrap();
    let e = z.assign("west", 41).unwrap_err();
    assert_eq!(
        e,
        ZoneError::OverAssigned {
            assigned: 101,
            system: 100,
            available: 40
        }
    );
    assert_eq!(
        e.to_string(),
        "zones would be assigned 101 licenses but the system has only 100 (40 still unassigned)"
    );
    // Nothing changed; 40 is fine.
    assert_eq!(z.zones()[1].assigned, 0);
    z.assign("west", 40).unwrap();
    // A zone added with too much is refused and not added.
    assert!(matches!(
        z.add_zone(zone("north", 1, 1)),
        Err(ZoneError::OverAssigned { .. })
    ));
    assert_eq!(z.zones().len(), 2);
    // A configuration that over-assigns is refused as a whole.
    assert!(matches!(
        ZoneLicensing::with_zones(10, vec![zone("a", 6, 1), zone("b", 5, 1)]),
        Err(ZoneError::OverAssigned { assigned: 11, .. })
    ));
}

#[test]
fn seed_system_below_zone_sum_cuts_in_proportion_with_remainder_by_priority() {
    // Zones 50/30/20 of 100; the system falls to 33: floors 16, 9, 6 (= 31); the 2 left go to
    // priority 1 (west) then 2 (north).
    let mut z = ZoneLicensing::with_zones(
        100,
        vec![
            zone("east", 50, 3),
            zone("west", 30, 1),
            zone("north", 20, 2),
        ],
    )
    .unwrap();
    z.set_system_licenses(33);
    let a = z.allocate(&EpZonePolicy, 7).unwrap();
    assert!(a.cut);
    assert_eq!(granted(&a), vec![16, 10, 7]);
    assert_eq!(a.granted_total, 33);
    assert_eq!(a.unassigned, 0);
    // Assignments are kept: when licenses come back, the zones get them in full again.
    z.set_system_licenses(100);
    assert_eq!(
        granted(&z.allocate(&EpZonePolicy, 7).unwrap()),
        vec![50, 30, 20]
    );
}

#[test]
fn seed_added_licenses_stay_unassigned_until_an_administrator_assigns_them() {
    let mut z = ZoneLicensing::with_zones(40, vec![zone("a", 30, 1), zone("b", 10, 1)]).unwrap();
    z.set_system_licenses(60);
    let a = z.allocate(&EpZonePolicy, 0).unwrap();
    assert_eq!(granted(&a), vec![30, 10]);
    assert_eq!(a.unassigned, 20);
    assert_eq!(a.unused, 20);
    z.assign("b", 30).unwrap();
    let a = z.allocate(&EpZonePolicy, 0).unwrap();
    assert_eq!(granted(&a), vec![30, 30]);
    assert_eq!(a.unassigned, 0);
}

#[test]
fn seed_rounding_remainder_is_random_among_equal_priorities_but_reproducible() {
    // Three zones of 10 at the same priority; 20 licenses: floors 6, 6, 6, 2 left over for two
    // of the three, chosen by the seed.
    let z = ZoneLicensing::with_zones(
        30,
        vec![zone("a", 10, 1), zone("b", 10, 1), zone("c", 10, 1)],
    )
    .unwrap();
    let mut outcomes = std::collections::HashSet::new();
    for seed in 0..64u64 {
        let a = z.plan(20, &EpZonePolicy, seed).unwrap();
        assert_eq!(a.granted_total, 20);
        assert_eq!(
            a,
            z.plan(20, &EpZonePolicy, seed).unwrap(),
            "same seed, same result"
        );
        let g = granted(&a);
        assert!(g.iter().all(|&x| x == 6 || x == 7), "{g:?}");
        outcomes.insert(g);
    }
    assert_eq!(
        outcomes.len(),
        3,
        "every zone can be the one left at 6: {outcomes:?}"
    );
    // A higher priority always wins the remainder regardless of the seed.
    let z = ZoneLicensing::with_zones(
        30,
        vec![zone("a", 10, 2), zone("b", 10, 1), zone("c", 10, 2)],
    )
    .unwrap();
    for seed in 0..16u64 {
        assert_eq!(granted(&z.plan(19, &EpZonePolicy, seed).unwrap())[1], 7);
    }
}

#[test]
fn seed_excess_licenses_are_not_used_when_they_exceed_zone_capacity() {
    let mut z = ZoneLicensing::new(100);
    z.add_zone(Zone {
        name: "a".into(),
        assigned: 40,
        priority: 1,
        capacity: Some(25),
        tenant: None,
    })
    .unwrap();
    z.add_zone(zone("b", 30, 1)).unwrap();
    let a = z.allocate(&EpZonePolicy, 0).unwrap();
    assert_eq!(granted(&a), vec![25, 30]);
    assert_eq!(a.unused, 45);
    // Cut: a zone's share is capped, the excess stays unused (not given to others).
    let a = z.plan(35, &EpZonePolicy, 0).unwrap();
    assert_eq!(granted(&a), vec![20, 15]);
    let a = z.plan(63, &EpZonePolicy, 0).unwrap();
    assert_eq!(a.zones[0].granted, 25);
    assert!(a.zones[1].granted <= 30);
}

#[test]
fn zone_configuration_errors_name_the_problem() {
    let mut z = ZoneLicensing::new(10);
    z.add_zone(zone("a", 1, 1)).unwrap();
    assert_eq!(
        z.add_zone(zone("a", 1, 1)),
        Err(ZoneError::DuplicateZone("a".into()))
    );
    assert_eq!(z.assign("zz", 1), Err(ZoneError::UnknownZone("zz".into())));
    assert_eq!(z.add_zone(zone("", 1, 1)), Err(ZoneError::EmptyName));
    assert_eq!(
        z.add_zone(zone("p", 1, 0)),
        Err(ZoneError::ZeroPriority("p".into()))
    );
}

struct Greedy;
impl Distribute for Greedy {
    fn name(&self) -> &str {
        "test:greedy"
    }
    fn distribute(&self, input: &DistributeInput) -> Result<Distribution, String> {
        Ok(Distribution {
            shares: input
                .buckets
                .iter()
                .map(|b| Share {
                    id: b.id,
                    count: b.cap,
                })
                .collect(),
        })
    }
}

#[test]
fn an_over_granting_plugin_cannot_over_grant_zones_or_orgs() {
    let z = ZoneLicensing::with_zones(100, vec![zone("a", 60, 1), zone("b", 40, 1)]).unwrap();
    let e = z.plan(50, &Greedy, 0).unwrap_err();
    assert!(
        matches!(e, ZoneError::Share(ShareError::Fault { .. })),
        "{e}"
    );
    let o = Organizations::with_orgs(20, 5, vec![org("A", 10)]).unwrap();
    assert!(matches!(
        o.plan(10, &Greedy, 0),
        Err(OrgError::Share(ShareError::Fault { .. }))
    ));
}

#[test]
fn a_plugin_rounding_is_used_when_swapped_in() {
    // 7 over zones 1,1,1,7: EP gives 1,1,1,4, the largest-remainder variant 1,1,0,5.
    let z = ZoneLicensing::with_zones(
        10,
        vec![
            zone("a", 1, 1),
            zone("b", 1, 2),
            zone("c", 1, 3),
            zone("d", 7, 4),
        ],
    )
    .unwrap();
    assert_eq!(
        granted(&z.plan(7, &EpZonePolicy, 1).unwrap()),
        vec![1, 1, 1, 4]
    );
    assert_eq!(
        granted(&z.plan(7, &LargestRemainderPolicy, 1).unwrap()),
        vec![1, 1, 0, 5]
    );
}

// ---- Tenants ----

#[test]
fn seed_tenant_split_sip_formula_with_h323_taking_the_rest() {
    // 100 licenses, 60 SIP calls, 90 H.323 stations: SIP = 100 × 60 ÷ 150 = 40, H.323 = 60.
    let c = TenantConfig { sip: 60, h323: 90 };
    let s = split(100, c, &EpZonePolicy, 0).unwrap();
    assert_eq!(
        s,
        TenantSplit {
            sip: 40,
            h323: 60,
            unused: 0
        }
    );
    // Rounding: 10 × 10 ÷ 30 = 3.33 → SIP 3 (down), H.323 gets the rest, 7.
    let s = split(10, TenantConfig { sip: 10, h323: 20 }, &EpZonePolicy, 0).unwrap();
    assert_eq!((s.sip, s.h323), (3, 7));
    // 10 × 20 ÷ 30 = 6.67 → SIP 6, H.323 4.
    let s = split(10, TenantConfig { sip: 20, h323: 10 }, &EpZonePolicy, 0).unwrap();
    assert_eq!((s.sip, s.h323), (6, 4));
}

#[test]
fn tenant_split_zero_case_and_licenses_beyond_configuration() {
    assert_eq!(
        split(50, TenantConfig::default(), &EpZonePolicy, 0).unwrap(),
        TenantSplit {
            sip: 0,
            h323: 0,
            unused: 50
        }
    );
    assert_eq!(
        split(50, TenantConfig { sip: 0, h323: 8 }, &EpZonePolicy, 0).unwrap(),
        TenantSplit {
            sip: 0,
            h323: 8,
            unused: 42
        }
    );
    assert_eq!(
        split(50, TenantConfig { sip: 20, h323: 10 }, &EpZonePolicy, 0).unwrap(),
        TenantSplit {
            sip: 20,
            h323: 10,
            unused: 20
        }
    );
}

#[test]
fn seed_zone_licenses_are_split_for_h323_and_sip() {
    // A zone's grant after a cut is split between its SIP and H.323 configuration.
    let z = ZoneLicensing::with_zones(100, vec![zone("a", 60, 1), zone("b", 40, 1)]).unwrap();
    let a = z.plan(50, &EpZonePolicy, 0).unwrap();
    let za = a.zones[0].granted;
    assert_eq!(za, 30);
    let s = split(za, TenantConfig { sip: 40, h323: 20 }, &EpZonePolicy, 0).unwrap();
    assert_eq!((s.sip, s.h323), (20, 10));
}

// ---- Organizations ----

fn org(name: &str, licenses: u32) -> Organization {
    Organization {
        name: name.into(),
        licenses,
        priority: 1,
    }
}

#[test]
fn seed_default_organization_starts_at_zero_and_can_be_configured() {
    let mut o = Organizations::new(40);
    let a = o.allocate(&EpZonePolicy, 0).unwrap();
    assert_eq!(a.orgs.len(), 1);
    assert_eq!(a.orgs[0].name, DEFAULT_ORGANIZATION);
    assert_eq!(a.granted(DEFAULT_ORGANIZATION), Some(0));
    assert_eq!(a.common, 40);
    o.assign(DEFAULT_ORGANIZATION, 5).unwrap();
    let a = o.allocate(&EpZonePolicy, 0).unwrap();
    assert_eq!(a.granted(DEFAULT_ORGANIZATION), Some(5));
    assert_eq!(a.common, 35);
    assert_eq!(o.remove(DEFAULT_ORGANIZATION), Err(OrgError::RemoveDefault));
}

#[test]
fn seed_configured_organizations_draw_from_the_sip_pool_and_over_assignment_is_refused() {
    let sip_pool = split(100, TenantConfig { sip: 60, h323: 90 }, &EpZonePolicy, 0)
        .unwrap()
        .sip;
    assert_eq!(sip_pool, 40);
    let mut o = Organizations::with_orgs(sip_pool, 5, vec![org("A", 15), org("B", 10)]).unwrap();
    let a = o.allocate(&EpZonePolicy, 0).unwrap();
    assert_eq!(a.granted("A"), Some(15));
    assert_eq!(a.granted("B"), Some(10));
    assert_eq!(a.common, 10);
    let e = o.assign("B", 21).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot assign 21 licenses to organization `B`: the SIP pool has 40, of which 20 are \
         not assigned to other organizations"
    );
    assert_eq!(
        o.orgs()[2].licenses,
        10,
        "a refused assignment changes nothing"
    );
    o.assign("B", 20).unwrap();
    assert_eq!(o.allocate(&EpZonePolicy, 0).unwrap().common, 0);
    assert!(matches!(
        Organizations::with_orgs(10, 0, vec![org("A", 11)]),
        Err(OrgError::OverAssigned { .. })
    ));
    assert_eq!(o.add("A", 1), Err(OrgError::Duplicate("A".into())));
    // The pool shrinks: organizations are cut in proportion and nothing is common.
    o.set_pool(20);
    let a = o.allocate(&EpZonePolicy, 3).unwrap();
    assert!(a.cut);
    assert_eq!(a.common, 0);
    assert_eq!(a.orgs.iter().map(|x| x.granted as u64).sum::<u64>(), 20);
}

// ---- Reserved calls ----

fn req(name: &str, r: Reservation) -> ReservationRequest {
    ReservationRequest {
        name: name.into(),
        reservation: r,
        priority: 1,
    }
}

#[test]
fn spec_reserved_request_above_the_zone_is_refused() {
    let e = reserve(20, &[req("A", Reservation::Minimum(25))], &EpZonePolicy, 0).unwrap_err();
    assert_eq!(
        e,
        ReservedError::AboveAvailable {
            name: "A".into(),
            requested: 25,
            available: 20
        }
    );
    assert_eq!(
        e.to_string(),
        "`A` asks for 25 reserved calls but only 20 are available"
    );
}

#[test]
fn spec_reserved_full_grants_and_the_rest_to_common_when_the_pool_suffices() {
    let a = reserve(
        20,
        &[
            req("A", Reservation::Minimum(5)),
            req("B", Reservation::Maximum(8)),
            req("C", Reservation::None),
        ],
        &EpZonePolicy,
        0,
    )
    .unwrap();
    assert!(!a.cut);
    assert_eq!(a.common, 7);
    let r: Vec<(u32, u32)> = a.grants.iter().map(|g| (g.reserved, g.ceiling)).collect();
    // Minimum and None may use the common pool, Maximum may not.
    assert_eq!(r, vec![(5, 12), (8, 8), (0, 7)]);
}

#[test]
fn spec_reserved_proportional_cut_and_empty_common_when_the_pool_is_short() {
    let a = reserve(
        20,
        &[
            req("A", Reservation::Minimum(15)),
            req("B", Reservation::Maximum(10)),
            req("C", Reservation::None),
        ],
        &EpZonePolicy,
        0,
    )
    .unwrap();
    assert!(a.cut);
    assert_eq!(a.common, 0);
    let r: Vec<u32> = a.grants.iter().map(|g| g.reserved).collect();
    assert_eq!(r, vec![12, 8, 0]);
    assert_eq!(
        a.grants[2].ceiling, 0,
        "None gets nothing when common is empty"
    );
    assert!(matches!(
        reserve(
            5,
            &[req("A", Reservation::None), req("A", Reservation::None)],
            &EpZonePolicy,
            0
        ),
        Err(ReservedError::Duplicate(_))
    ));
}

#[test]
fn spec_reserved_calls_at_zone_then_organization_level() {
    // Zone level: organizations reserve out of the zone's 30 licenses.
    let zone = reserve(
        30,
        &[
            req("Org A", Reservation::Minimum(12)),
            req("Org B", Reservation::Maximum(8)),
        ],
        &EpZonePolicy,
        1,
    )
    .unwrap();
    assert_eq!(zone.common, 10);
    // Organization level: Org A's applications reserve out of Org A's 12.
    let org_a = zone.grants[0].reserved;
    let apps = reserve(
        org_a,
        &[
            req("billing", Reservation::Minimum(8)),
            req("survey", Reservation::Maximum(6)),
            req("promo", Reservation::None),
        ],
        &EpZonePolicy,
        1,
    )
    .unwrap();
    assert!(apps.cut, "8 + 6 = 14 > 12");
    assert_eq!(apps.common, 0);
    let r: Vec<u32> = apps.grants.iter().map(|g| g.reserved).collect();
    assert_eq!(r.iter().sum::<u32>(), 12);
    assert_eq!(r[2], 0);
    // An application asking more than its organization has is refused.
    assert!(matches!(
        reserve(
            org_a,
            &[req("big", Reservation::Maximum(13))],
            &EpZonePolicy,
            1
        ),
        Err(ReservedError::AboveAvailable {
            requested: 13,
            available: 12,
            ..
        })
    ));
}

// ---- Pipeline ----

#[test]
fn spec_pipeline_configured_licensed_allocated() {
    // Enough licenses and capacity: everything configured runs, surplus licenses unused.
    let r = pipeline::run(
        PipelineInput {
            configured: TenantConfig { sip: 30, h323: 20 },
            licenses: 60,
            media_capacity: 100,
        },
        &EpZonePolicy,
        0,
    )
    .unwrap();
    assert_eq!(r.licensed, Sides { sip: 30, h323: 20 });
    assert_eq!(r.allocated, r.licensed);
    assert_eq!(r.unused_licenses, 10);
    // Licenses short: shared in proportion to configured resources; the rest unlicensed.
    let r = pipeline::run(
        PipelineInput {
            configured: TenantConfig { sip: 30, h323: 20 },
            licenses: 25,
            media_capacity: 100,
        },
        &EpZonePolicy,
        0,
    )
    .unwrap();
    assert_eq!(r.licensed, Sides { sip: 15, h323: 10 });
    assert_eq!(r.unlicensed, Sides { sip: 15, h323: 10 });
    // Capacity short: H.323 and SIP cut in proportion to what is licensed.
    let r = pipeline::run(
        PipelineInput {
            configured: TenantConfig { sip: 30, h323: 20 },
            licenses: 50,
            media_capacity: 25,
        },
        &EpZonePolicy,
        0,
    )
    .unwrap();
    assert_eq!(r.licensed, Sides { sip: 30, h323: 20 });
    assert_eq!(r.allocated, Sides { sip: 15, h323: 10 });
    assert_eq!(r.over_capacity, 25);
}

// ---- Applications ----

fn runtime(common_pool: u32) -> AppRuntime {
    // SIP pool: org A holds 6, the Default Organization 0, common = pool − 6.
    let o = Organizations::with_orgs(6 + common_pool, 0, vec![org("A", 6)]).unwrap();
    let a = o.allocate(&EpZonePolicy, 0).unwrap();
    AppRuntime::new(
        &a,
        vec!["ms1".into(), "ms2".into()],
        vec![
            AppConfig {
                name: "billing".into(),
                organization: "A".into(),
                guaranteed: 4,
            },
            AppConfig {
                name: "survey".into(),
                organization: "A".into(),
                guaranteed: 2,
            },
            AppConfig {
                name: "promo".into(),
                organization: DEFAULT_ORGANIZATION.into(),
                guaranteed: 0,
            },
        ],
        &EpZonePolicy,
        0,
    )
    .unwrap()
}

#[test]
fn seed_guaranteed_licenses_are_spread_over_media_servers_and_used_only_by_their_app() {
    let rt = runtime(2);
    let s = rt.app_status("billing").unwrap();
    assert_eq!(s.guaranteed, vec![2, 2]);
    let s = rt.app_status("survey").unwrap();
    assert_eq!(s.guaranteed, vec![1, 1]);
    // Another application cannot use billing's guarantee: promo goes to common.
    let mut rt = runtime(2);
    assert_eq!(
        rt.start_call("promo", "ms1").unwrap().used,
        LicenseUse::Common
    );
}

#[test]
fn seed_media_server_out_of_guarantees_uses_common_while_another_still_has_some() {
    let mut rt = runtime(2);
    assert_eq!(
        rt.start_call("billing", "ms1").unwrap().used,
        LicenseUse::Guaranteed
    );
    assert_eq!(
        rt.start_call("billing", "ms1").unwrap().used,
        LicenseUse::Guaranteed
    );
    // ms1's guaranteed share is used; ms2 still has 2 for billing, yet ms1 serves from common.
    assert_eq!(
        rt.start_call("billing", "ms1").unwrap().used,
        LicenseUse::Common
    );
    assert_eq!(
        rt.app_status("billing").unwrap().guaranteed_in_use,
        vec![2, 0]
    );
    assert_eq!(
        rt.start_call("billing", "ms2").unwrap().used,
        LicenseUse::Guaranteed
    );
}

#[test]
fn seed_an_application_without_guarantee_is_starved_observably() {
    let mut rt = runtime(2);
    // billing exhausts its ms1 guarantees then takes both common licenses.
    for _ in 0..4 {
        rt.start_call("billing", "ms1").unwrap();
    }
    assert_eq!(rt.common_free(), 0);
    let e = rt.start_call("promo", "ms2").unwrap_err();
    assert_eq!(
        e,
        AppError::Starved {
            app: "promo".into(),
            media_server: "ms2".into()
        }
    );
    assert_eq!(rt.app_status("promo").unwrap().refused, 1);
    // Applications with guarantees still run on them.
    assert_eq!(
        rt.start_call("survey", "ms2").unwrap().used,
        LicenseUse::Guaranteed
    );
    assert_eq!(
        rt.start_call("billing", "ms2").unwrap().used,
        LicenseUse::Guaranteed
    );
}

#[test]
fn ending_a_call_returns_its_license_where_it_came_from() {
    let mut rt = runtime(1);
    let g1 = rt.start_call("billing", "ms1").unwrap();
    let g2 = rt.start_call("billing", "ms1").unwrap();
    let c = rt.start_call("billing", "ms1").unwrap();
    assert_eq!(c.used, LicenseUse::Common);
    assert!(rt.start_call("promo", "ms1").is_err());
    rt.end_call(c.call).unwrap();
    assert_eq!(
        rt.start_call("promo", "ms1").unwrap().used,
        LicenseUse::Common
    );
    rt.end_call(g1.call).unwrap();
    assert_eq!(
        rt.app_status("billing").unwrap().guaranteed_in_use,
        vec![1, 0]
    );
    assert_eq!(rt.end_call(g1.call), Err(AppError::UnknownCall(g1.call.0)));
    rt.end_call(g2.call).unwrap();
    assert_eq!(rt.active_calls(), 1);
}

#[test]
fn organization_licenses_not_guaranteed_serve_its_own_apps_only() {
    let o = Organizations::with_orgs(10, 0, vec![org("A", 5)]).unwrap();
    let a = o.allocate(&EpZonePolicy, 0).unwrap();
    let mut rt = AppRuntime::new(
        &a,
        vec!["ms1".into()],
        vec![
            AppConfig {
                name: "x".into(),
                organization: "A".into(),
                guaranteed: 3,
            },
            AppConfig {
                name: "y".into(),
                organization: DEFAULT_ORGANIZATION.into(),
                guaranteed: 0,
            },
        ],
        &EpZonePolicy,
        0,
    )
    .unwrap();
    assert_eq!(rt.organization_common_free("A"), Some(2));
    for _ in 0..3 {
        assert_eq!(
            rt.start_call("x", "ms1").unwrap().used,
            LicenseUse::Guaranteed
        );
    }
    assert_eq!(
        rt.start_call("x", "ms1").unwrap().used,
        LicenseUse::OrganizationCommon
    );
    // y (another organization) never gets A's licenses, only the global common pool (5).
    for _ in 0..5 {
        assert_eq!(rt.start_call("y", "ms1").unwrap().used, LicenseUse::Common);
    }
    assert!(rt.start_call("y", "ms1").is_err());
    assert_eq!(rt.organization_common_free("A"), Some(1));
}

#[test]
fn guarantee_spread_over_media_servers_is_seeded_and_reproducible() {
    let o = Organizations::with_orgs(10, 4, vec![]).unwrap();
    let a = o.allocate(&EpZonePolicy, 0).unwrap();
    let build = |seed| {
        AppRuntime::new(
            &a,
            vec!["m1".into(), "m2".into(), "m3".into()],
            vec![AppConfig {
                name: "x".into(),
                organization: DEFAULT_ORGANIZATION.into(),
                guaranteed: 4,
            }],
            &EpZonePolicy,
            seed,
        )
        .unwrap()
        .app_status("x")
        .unwrap()
        .guaranteed
    };
    let mut seen = std::collections::HashSet::new();
    for seed in 0..32u64 {
        let g = build(seed);
        assert_eq!(g, build(seed), "same seed, same spread");
        assert_eq!(g.iter().sum::<u32>(), 4);
        assert!(g.iter().all(|&x| x == 1 || x == 2), "{g:?}");
        seen.insert(g);
    }
    assert_eq!(
        seen.len(),
        3,
        "each media server can get the extra one: {seen:?}"
    );
}

#[test]
fn app_configuration_errors() {
    let o = Organizations::with_orgs(10, 0, vec![org("A", 5)]).unwrap();
    let a = o.allocate(&EpZonePolicy, 0).unwrap();
    let app = |name: &str, org: &str, g| AppConfig {
        name: name.into(),
        organization: org.into(),
        guaranteed: g,
    };
    let e = AppRuntime::new(
        &a,
        vec!["m".into()],
        vec![app("x", "A", 6)],
        &EpZonePolicy,
        0,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "applications of organization `A` are guaranteed 6 licenses but it holds only 5"
    );
    assert!(matches!(
        AppRuntime::new(
            &a,
            vec!["m".into()],
            vec![app("x", "Z", 1)],
            &EpZonePolicy,
            0
        ),
        Err(AppError::UnknownOrganization { .. })
    ));
    assert_eq!(
        AppRuntime::new(&a, vec![], vec![], &EpZonePolicy, 0).unwrap_err(),
        AppError::NoMediaServers
    );
    let mut rt = AppRuntime::new(
        &a,
        vec!["m".into()],
        vec![app("x", "A", 1)],
        &EpZonePolicy,
        0,
    )
    .unwrap();
    assert_eq!(
        rt.start_call("x", "nope").unwrap_err(),
        AppError::UnknownMediaServer("nope".into())
    );
    assert_eq!(
        rt.start_call("nope", "m").unwrap_err(),
        AppError::UnknownApp("nope".into())
    );
}

// ---- Properties ----

fn arb_zones() -> impl Strategy<Value = Vec<Zone>> {
    proptest::collection::vec((0u32..80, 1u32..4, proptest::option::of(0u32..90)), 0..8).prop_map(
        |v| {
            v.into_iter()
                .enumerate()
                .map(|(i, (assigned, priority, capacity))| Zone {
                    name: format!("z{i}"),
                    assigned,
                    priority,
                    capacity,
                    tenant: None,
                })
                .collect()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn zones_never_exceed_caps_or_total_and_are_deterministic(
        zones in arb_zones(), n in 0u32..700, seed in any::<u64>()
    ) {
        let sum: u32 = zones.iter().map(|z| z.assigned).sum();
        let z = ZoneLicensing::with_zones(sum, zones.clone()).unwrap();
        let a = z.plan(n, &EpZonePolicy, seed).unwrap();
        prop_assert!(a.granted_total <= n as u64);
        prop_assert_eq!(a.granted_total + a.unused, n as u64);
        for (s, zc) in a.zones.iter().zip(&zones) {
            prop_assert!(s.granted <= zc.cap());
            prop_assert!(s.granted <= zc.assigned);
        }
        if n as u64 >= sum as u64 {
            // No cut: every zone gets its cap, the rest is unassigned.
            for (s, zc) in a.zones.iter().zip(&zones) {
                prop_assert_eq!(s.granted, zc.cap());
            }
            prop_assert_eq!(a.unassigned, n as u64 - sum as u64);
        } else if zones.iter().all(|zc| zc.capacity.is_none()) {
            // Uncapped cut: every license is handed out (conservation).
            prop_assert_eq!(a.granted_total, n as u64);
        }
        prop_assert_eq!(a, z.plan(n, &EpZonePolicy, seed).unwrap());
    }

    #[test]
    fn tenant_split_respects_configuration_and_conserves_licenses(
        l in any::<u32>(), sip in 0u32..100_000, h323 in 0u32..100_000
    ) {
        let c = TenantConfig { sip, h323 };
        let s = split(l, c, &EpZonePolicy, 0).unwrap();
        prop_assert_eq!(s, split_formula(l, c));
        prop_assert!(s.sip <= sip && s.h323 <= h323);
        prop_assert_eq!(s.sip as u64 + s.h323 as u64 + s.unused as u64, l as u64);
    }

    #[test]
    fn organizations_never_exceed_assignment_or_pool(
        assigned in proptest::collection::vec(0u32..50, 0..6), default in 0u32..20,
        pool in 0u32..300, seed in any::<u64>()
    ) {
        let total: u32 = assigned.iter().sum::<u32>() + default;
        let orgs: Vec<Organization> = assigned.iter().enumerate()
            .map(|(i, &n)| org(&format!("o{i}"), n)).collect();
        let o = Organizations::with_orgs(total, default, orgs).unwrap();
        let a = o.plan(pool, &EpZonePolicy, seed).unwrap();
        let sum: u64 = a.orgs.iter().map(|x| x.granted as u64).sum();
        prop_assert_eq!(sum + a.common as u64, pool as u64);
        for x in &a.orgs {
            prop_assert!(x.granted <= x.assigned);
        }
        prop_assert_eq!(a, o.plan(pool, &EpZonePolicy, seed).unwrap());
        // Over-assignment of the real pool is always refused.
        let mut o2 = o.clone();
        prop_assert!(o2.assign(DEFAULT_ORGANIZATION, default + 1).is_err() || total == u32::MAX);
    }

    #[test]
    fn reserved_grants_never_exceed_requests_or_pool(
        reqs in proptest::collection::vec((0u8..3, 0u32..40, 1u32..3), 0..7),
        pool in 0u32..120, seed in any::<u64>()
    ) {
        let requests: Vec<ReservationRequest> = reqs.iter().enumerate().map(|(i, &(k, n, p))| {
            ReservationRequest {
                name: format!("r{i}"),
                reservation: match k { 0 => Reservation::None, 1 => Reservation::Minimum(n), _ => Reservation::Maximum(n) },
                priority: p,
            }
        }).collect();
        match reserve(pool, &requests, &EpZonePolicy, seed) {
            Err(ReservedError::AboveAvailable { requested, available, .. }) => {
                prop_assert!(requested > available);
            }
            Err(e) => prop_assert!(false, "unexpected {e}"),
            Ok(a) => {
                let sum: u64 = a.grants.iter().map(|g| g.reserved as u64).sum();
                prop_assert!(sum <= pool as u64);
                for g in &a.grants {
                    prop_assert!(g.reserved <= g.reservation.count());
                    prop_assert!(g.ceiling as u64 <= pool as u64);
                }
                if a.cut {
                    prop_assert_eq!(a.common, 0);
                    prop_assert_eq!(sum, pool as u64);
                } else {
                    prop_assert_eq!(sum + a.common as u64, pool as u64);
                }
                prop_assert_eq!(a, reserve(pool, &requests, &EpZonePolicy, seed).unwrap());
            }
        }
    }

    #[test]
    fn pipeline_stages_never_grow(
        sip in 0u32..500, h323 in 0u32..500, licenses in 0u32..1200, cap in 0u32..1200,
        seed in any::<u64>()
    ) {
        let r = pipeline::run(PipelineInput {
            configured: TenantConfig { sip, h323 }, licenses, media_capacity: cap,
        }, &EpZonePolicy, seed).unwrap();
        prop_assert!(r.licensed.sip <= sip && r.licensed.h323 <= h323);
        prop_assert!(r.allocated.sip <= r.licensed.sip && r.allocated.h323 <= r.licensed.h323);
        prop_assert!(r.allocated.total() <= cap as u64);
        prop_assert_eq!(r.licensed.total() + r.unused_licenses as u64, licenses as u64);
        prop_assert_eq!(r.allocated.total(), r.licensed.total().min(cap as u64));
    }

    #[test]
    fn calls_never_exceed_licenses(
        ops in proptest::collection::vec((0usize..3, 0usize..2, any::<bool>()), 0..200),
        common in 0u32..5
    ) {
        let mut rt = runtime(common);
        let apps = ["billing", "survey", "promo"];
        let ms = ["ms1", "ms2"];
        let mut live = Vec::new();
        for (a, m, end) in ops {
            if end && !live.is_empty() {
                let c = live.swap_remove(0);
                rt.end_call(c).unwrap();
            } else if let Ok(g) = rt.start_call(apps[a], ms[m]) {
                live.push(g.call);
            }
            // Org A holds 6, plus the common pool: never more calls than that.
            prop_assert!(rt.active_calls() as u32 <= 6 + common);
            for s in rt.status() {
                for (u, g) in s.guaranteed_in_use.iter().zip(&s.guaranteed) {
                    prop_assert!(u <= g);
                }
            }
            prop_assert!(rt.common_free() <= common);
        }
    }
}
