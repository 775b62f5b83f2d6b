//! SPEC §2: every seed example and rule of code combination, plus property tests.

use chrono::NaiveDate;
use proptest::prelude::*;
use weblm_core::clock::Timestamp;
use weblm_core::codes::*;

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(d as u64)
}

fn at(d: u32) -> ResolveContext {
    ResolveContext {
        now: Timestamp::from_date(day(d)),
        redundant_server: false,
    }
}

fn code(position: u32, count: u32, kind: CodeKind) -> LicenseCode {
    LicenseCode {
        position,
        feature: "77".into(),
        version: "5.0".into(),
        count,
        kind,
        term: Term::Permanent,
        trial_days: None,
        trial_hours: None,
        start: day(0),
        end: None,
        redundant: false,
    }
}

fn until(mut c: LicenseCode, start: u32, end: u32) -> LicenseCode {
    c.term = Term::Until;
    c.start = day(start);
    c.end = Some(day(end));
    c
}

fn trial(mut c: LicenseCode, days: u32) -> LicenseCode {
    c.term = Term::Trial;
    c.trial_days = Some(days);
    c
}

fn inputs(codes: &[LicenseCode]) -> Vec<CodeInput> {
    codes.iter().cloned().map(CodeInput::new).collect()
}

fn reason_of(e: &Entitlement, pos: u32) -> &Reason {
    &e.decisions
        .iter()
        .find(|d| d.position == pos)
        .unwrap()
        .reason
}

#[test]
fn seed_additive_five_plus_two_is_seven() {
    // 003_…: feature 77 version 5.0, two additive codes of 5 and 2 users → 7.
    let e = resolve(
        &inputs(&[
            code(1, 5, CodeKind::Additive),
            code(2, 2, CodeKind::Additive),
        ]),
        &at(1),
    );
    assert_eq!(e.count, 7);
    assert_eq!(e.counted_positions(), vec![1, 2]);
}

#[test]
fn only_last_added_exclusive_counts_and_everything_else_is_ignored() {
    let codes = [
        code(1, 5, CodeKind::Additive),
        code(2, 10, CodeKind::Exclusive),
        code(3, 2, CodeKind::Additive),
        code(4, 3, CodeKind::Exclusive),
        code(5, 1, CodeKind::Additive),
    ];
    let e = resolve(&inputs(&codes), &at(1));
    assert_eq!(e.count, 3);
    assert_eq!(e.counted_positions(), vec![4]);
    assert_eq!(reason_of(&e, 2), &Reason::OverriddenByExclusive { by: 4 });
    assert_eq!(reason_of(&e, 5), &Reason::OverriddenByExclusive { by: 4 });
    assert_eq!(
        reason_of(&e, 4),
        &Reason::Counted {
            rule: CountRule::LastExclusive
        }
    );
}

#[test]
fn last_exclusive_is_by_position_not_by_slice_order() {
    let mut codes = inputs(&[
        code(7, 9, CodeKind::Exclusive),
        code(3, 4, CodeKind::Exclusive),
    ]);
    codes.reverse();
    assert_eq!(resolve(&codes, &at(1)).count, 9);
}

#[test]
fn permanent_replaces_an_unexpired_trial() {
    let codes = [
        trial(code(1, 8, CodeKind::Additive), 30),
        code(2, 3, CodeKind::Additive),
    ];
    let e = resolve(&inputs(&codes), &at(1));
    assert_eq!(e.count, 3);
    assert_eq!(reason_of(&e, 1), &Reason::ReplacedByPermanent { by: 2 });
}

#[test]
fn dated_code_does_not_replace_a_trial_they_add() {
    let codes = [
        trial(code(1, 8, CodeKind::Additive), 30),
        until(code(2, 3, CodeKind::Additive), 0, 100),
    ];
    assert_eq!(resolve(&inputs(&codes), &at(1)).count, 11);
}

#[test]
fn redundant_additive_overrides_non_redundant_codes_on_a_redundant_server() {
    let mut r = code(3, 4, CodeKind::Additive);
    r.redundant = true;
    let codes = [
        code(1, 10, CodeKind::Exclusive),
        code(2, 6, CodeKind::Additive),
        r,
    ];
    let mut ctx = at(1);
    ctx.redundant_server = true;
    let e = resolve(&inputs(&codes), &ctx);
    assert_eq!(e.count, 4);
    assert_eq!(reason_of(&e, 1), &Reason::OverriddenByRedundant { by: 3 });
    assert_eq!(reason_of(&e, 2), &Reason::OverriddenByRedundant { by: 3 });
    // The same file on a standalone server: the redundant code does not count, the exclusive does.
    let e = resolve(&inputs(&codes), &at(1));
    assert_eq!(e.count, 10);
    assert_eq!(reason_of(&e, 3), &Reason::RedundantOnStandaloneServer);
}

#[test]
fn redundant_trial_codes_are_refused() {
    let mut c = trial(code(1, 5, CodeKind::Additive), 10);
    c.redundant = true;
    let err = c.validate().unwrap_err();
    assert!(err.contains("redundant code cannot be a trial"), "{err}");
}

#[test]
fn combined_additive_window_is_latest_start_and_earliest_end() {
    let codes = [
        until(code(1, 5, CodeKind::Additive), 0, 100),
        until(code(2, 2, CodeKind::Additive), 10, 50),
    ];
    let e = resolve(&inputs(&codes), &at(20));
    assert_eq!(e.count, 7);
    assert_eq!(e.valid_from, Some(Timestamp::from_date(day(10))));
    // `end` is inclusive: the window closes at the midnight after day 50.
    assert_eq!(e.valid_until, Some(Timestamp::from_date(day(51))));
}

#[test]
fn expired_codes_drop_out_and_the_rest_recombine() {
    // An exclusive code that ends on day 30: before, it rules; after, the additive codes sum.
    let codes = [
        code(1, 5, CodeKind::Additive),
        code(2, 2, CodeKind::Additive),
        until(code(3, 50, CodeKind::Exclusive), 0, 30),
    ];
    assert_eq!(resolve(&inputs(&codes), &at(30)).count, 50);
    let e = resolve(&inputs(&codes), &at(31));
    assert_eq!(e.count, 7);
    assert!(matches!(reason_of(&e, 3), Reason::Expired { .. }));
}

#[test]
fn codes_not_yet_started_do_not_count() {
    let codes = [
        code(1, 5, CodeKind::Additive),
        until(code(2, 2, CodeKind::Additive), 10, 20),
    ];
    let e = resolve(&inputs(&codes), &at(5));
    assert_eq!(e.count, 5);
    assert_eq!(
        reason_of(&e, 2),
        &Reason::NotYetStarted {
            starts: Timestamp::from_date(day(10))
        }
    );
    assert_eq!(
        next_change(&inputs(&codes), Timestamp::from_date(day(5))),
        Some(Timestamp::from_date(day(10)))
    );
}

#[test]
fn trial_runs_from_first_use_and_ends_at_the_earliest_limit() {
    let t = trial(code(1, 8, CodeKind::Additive), 30);
    // Never used: counts, and its window would start now.
    let unused = CodeInput::new(t.clone());
    assert_eq!(resolve(std::slice::from_ref(&unused), &at(100)).count, 8);
    // First used on day 10: expires on day 40.
    let used = CodeInput {
        code: t.clone(),
        first_use: Some(Timestamp::from_date(day(10))),
    };
    assert_eq!(resolve(std::slice::from_ref(&used), &at(39)).count, 8);
    let e = resolve(std::slice::from_ref(&used), &at(40));
    assert_eq!(e.count, 0);
    assert_eq!(
        reason_of(&e, 1),
        &Reason::Expired {
            ended: Timestamp::from_date(day(40))
        }
    );
    // Trial hours shorter than days: 12 hours win.
    let mut h = t.clone();
    h.trial_hours = Some(12);
    let used = CodeInput {
        code: h,
        first_use: Some(Timestamp::from_date(day(10))),
    };
    let e = resolve(
        std::slice::from_ref(&used),
        &ResolveContext {
            now: Timestamp::from_date(day(10)).plus_secs(13 * 3600),
            redundant_server: false,
        },
    );
    assert_eq!(e.count, 0);
    // End date earlier than the trial length wins too.
    let mut d = t;
    d.end = Some(day(15));
    let used = CodeInput {
        code: d,
        first_use: Some(Timestamp::from_date(day(10))),
    };
    assert_eq!(resolve(std::slice::from_ref(&used), &at(16)).count, 0);
    assert_eq!(resolve(std::slice::from_ref(&used), &at(15)).count, 8);
}

#[test]
fn aggregate_codes_sum_while_they_overlap_and_take_precedence_over_additive() {
    let codes = [
        code(1, 100, CodeKind::Additive),
        until(code(2, 5, CodeKind::Aggregate), 0, 20),
        until(code(3, 3, CodeKind::Aggregate), 10, 30),
    ];
    assert_eq!(resolve(&inputs(&codes), &at(5)).count, 5);
    let e = resolve(&inputs(&codes), &at(15));
    assert_eq!(e.count, 8);
    assert_eq!(reason_of(&e, 1), &Reason::OverriddenByAggregate);
    assert_eq!(resolve(&inputs(&codes), &at(25)).count, 3);
    // All aggregates ended: additive counts again.
    assert_eq!(resolve(&inputs(&codes), &at(40)).count, 100);
    // Exclusive beats aggregate.
    let mut with_x = codes.to_vec();
    with_x.push(code(4, 1, CodeKind::Exclusive));
    assert_eq!(resolve(&inputs(&with_x), &at(15)).count, 1);
}

#[test]
fn reasons_read_well() {
    let e = resolve(
        &inputs(&[
            code(1, 5, CodeKind::Exclusive),
            code(2, 2, CodeKind::Exclusive),
        ]),
        &at(1),
    );
    assert_eq!(
        reason_of(&e, 1).to_string(),
        "ignored: exclusive code #2 was added last and replaces it"
    );
}

#[test]
fn check_entitlement_rejects_lying_policies() {
    let codes = inputs(&[
        code(1, 5, CodeKind::Additive),
        until(code(2, 2, CodeKind::Additive), 0, 3),
    ]);
    let ctx = at(10);
    let good = resolve(&codes, &ctx);
    assert_eq!(check_entitlement(&codes, &ctx, &good), Ok(()));
    let mut above = good.clone();
    above.count = 6;
    assert_eq!(
        check_entitlement(&codes, &ctx, &above),
        Err(EntitlementFault::AboveCodes {
            count: 6,
            allowed: 5
        })
    );
    let mut dead = good.clone();
    dead.decisions[1].counted = true;
    assert_eq!(
        check_entitlement(&codes, &ctx, &dead),
        Err(EntitlementFault::DeadCodeCounted(2))
    );
    let mut unknown = good.clone();
    unknown.decisions[0].position = 9;
    assert_eq!(
        check_entitlement(&codes, &ctx, &unknown),
        Err(EntitlementFault::UnknownCode(9))
    );
    let mut twice = good;
    twice.decisions.push(twice.decisions[0].clone());
    twice.count = 10;
    assert_eq!(
        check_entitlement(&codes, &ctx, &twice),
        Err(EntitlementFault::CountedTwice(1))
    );
}

fn arb_code(position: u32) -> impl Strategy<Value = LicenseCode> {
    (
        0u32..1000,
        prop_oneof![
            Just(CodeKind::Additive),
            Just(CodeKind::Exclusive),
            Just(CodeKind::Aggregate)
        ],
        0u8..3,
        0u32..40,
        1u32..40,
        any::<bool>(),
    )
        .prop_map(move |(count, kind, term, start, len, redundant)| {
            let mut c = code(position, count, kind);
            c.start = day(start);
            match term {
                0 => {}
                1 => {
                    c.term = Term::Until;
                    c.end = Some(day(start + len));
                }
                _ => {
                    c.term = Term::Trial;
                    c.trial_days = Some(len);
                }
            }
            c.redundant = redundant && c.term != Term::Trial;
            c
        })
}

fn arb_codes() -> impl Strategy<Value = Vec<LicenseCode>> {
    (0usize..8).prop_flat_map(|n| (0..n as u32).map(|i| arb_code(i + 1)).collect::<Vec<_>>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn order_of_codes_never_matters(codes in arb_codes(), now in 0u32..80, redundant in any::<bool>(), seed in any::<u64>()) {
        let ctx = ResolveContext { now: Timestamp::from_date(day(now)), redundant_server: redundant };
        let a = resolve(&inputs(&codes), &ctx);
        let mut shuffled = codes.clone();
        let len = shuffled.len();
        if len > 1 {
            for i in 0..len {
                let j = (seed.wrapping_mul(i as u64 + 7) % len as u64) as usize;
                shuffled.swap(i, j);
            }
        }
        let b = resolve(&inputs(&shuffled), &ctx);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn additive_only_sums_the_live_non_trial_or_trial_codes(counts in proptest::collection::vec(0u32..1000, 0..10)) {
        let codes: Vec<_> = counts.iter().enumerate().map(|(i, &n)| code(i as u32 + 1, n, CodeKind::Additive)).collect();
        prop_assert_eq!(resolve(&inputs(&codes), &at(1)).count, counts.iter().sum::<u32>());
    }

    #[test]
    fn adding_an_exclusive_code_makes_only_it_count(codes in arb_codes(), n in 0u32..1000, now in 0u32..80) {
        let mut with = codes.clone();
        let mut x = code(100, n, CodeKind::Exclusive);
        x.start = day(0);
        with.push(x);
        let e = resolve(&inputs(&with), &at(now));
        prop_assert_eq!(e.count, n);
        prop_assert_eq!(e.counted_positions(), vec![100]);
    }

    #[test]
    fn resolution_always_passes_the_host_check_and_never_exceeds_live_codes(codes in arb_codes(), now in 0u32..80, redundant in any::<bool>()) {
        let ctx = ResolveContext { now: Timestamp::from_date(day(now)), redundant_server: redundant };
        let ins = inputs(&codes);
        let e = resolve(&ins, &ctx);
        prop_assert_eq!(check_entitlement(&ins, &ctx, &e), Ok(()));
        prop_assert_eq!(e.decisions.len(), codes.len());
        let live: u64 = codes.iter().filter(|c| {
            ctx.now >= c.start_ts() && c.end_ts(None, ctx.now).is_none_or(|t| ctx.now < t)
        }).map(|c| c.count as u64).sum();
        prop_assert!(e.count as u64 <= live);
    }
}
