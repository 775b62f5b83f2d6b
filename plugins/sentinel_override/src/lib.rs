//! Sentinel RMS code combination, "exclusive-code override" (SPEC §2), as a weblm
//! `resolve_codes` plugin. Mirrors `weblm_core::codes::resolve` exactly, decision for decision:
//!
//! 1. Codes not yet started or already ended drop out.
//! 2. On a redundant server the first live redundant additive code overrides every
//!    non-redundant code; on a standalone server redundant codes do not count.
//! 3. If an exclusive code is live, only the last added one counts (the override).
//! 4. Otherwise aggregate codes beat additive ones.
//! 5. Otherwise additive codes add up; a permanent additive code replaces trial codes.

use weblm_plugin_kit::*;

/// The policy.
pub fn sentinel(input: &ResolveInput) -> Result<Entitlement, i64> {
    let codes = &input.codes;
    let now = input.now;
    let mut order: Vec<usize> = (0..codes.len()).collect();
    order.sort_by_key(|&i| codes[i].position);
    // fate[i] = Some((reason, by, at)) once decided against.
    let mut fate: Vec<Option<(u32, u32, i64)>> = vec![None; codes.len()];
    for &i in &order {
        let c = &codes[i];
        if now < c.starts {
            fate[i] = Some((reason::NOT_YET_STARTED, 0, c.starts));
        } else if c.ends != NO_END && now >= c.ends {
            fate[i] = Some((reason::EXPIRED, 0, c.ends));
        }
    }
    let live = |fate: &Vec<Option<(u32, u32, i64)>>, i: usize| fate[i].is_none();

    if input.redundant_server {
        let r = order
            .iter()
            .copied()
            .find(|&i| live(&fate, i) && codes[i].redundant && codes[i].kind == kind::ADDITIVE);
        if let Some(r) = r {
            let by = codes[r].position;
            for &i in &order {
                if live(&fate, i) && !codes[i].redundant {
                    fate[i] = Some((reason::OVERRIDDEN_BY_REDUNDANT, by, 0));
                }
            }
        }
    } else {
        for &i in &order {
            if live(&fate, i) && codes[i].redundant {
                fate[i] = Some((reason::REDUNDANT_ON_STANDALONE, 0, 0));
            }
        }
    }

    let last_exclusive = order
        .iter()
        .copied()
        .filter(|&i| live(&fate, i) && codes[i].kind == kind::EXCLUSIVE)
        .max_by_key(|&i| codes[i].position);
    let counted_reason;
    if let Some(x) = last_exclusive {
        let by = codes[x].position;
        for &i in &order {
            if i != x && live(&fate, i) {
                fate[i] = Some((reason::OVERRIDDEN_BY_EXCLUSIVE, by, 0));
            }
        }
        counted_reason = reason::COUNTED_LAST_EXCLUSIVE;
    } else if order
        .iter()
        .any(|&i| live(&fate, i) && codes[i].kind == kind::AGGREGATE)
    {
        for &i in &order {
            if live(&fate, i) && codes[i].kind == kind::ADDITIVE {
                fate[i] = Some((reason::OVERRIDDEN_BY_AGGREGATE, 0, 0));
            }
        }
        counted_reason = reason::COUNTED_AGGREGATE;
    } else {
        let permanent = order
            .iter()
            .copied()
            .find(|&i| live(&fate, i) && codes[i].term == term::PERMANENT);
        if let Some(p) = permanent {
            let by = codes[p].position;
            for &i in &order {
                if live(&fate, i) && codes[i].term == term::TRIAL {
                    fate[i] = Some((reason::REPLACED_BY_PERMANENT, by, 0));
                }
            }
        }
        counted_reason = reason::COUNTED_ADDITIVE;
    }

    let mut out = Entitlement::default();
    for &i in &order {
        let c = &codes[i];
        let (reason, by, at) = match fate[i] {
            Some(f) => f,
            None => {
                out.count = out.count.saturating_add(c.count);
                out.valid_from = Some(
                    out.valid_from
                        .map_or(c.window_start, |v| v.max(c.window_start)),
                );
                if c.ends != NO_END {
                    out.valid_until = Some(out.valid_until.map_or(c.ends, |v| v.min(c.ends)));
                }
                (counted_reason, 0, 0)
            }
        };
        out.decisions.push(Decision {
            position: c.position,
            reason,
            by,
            at,
        });
    }
    Ok(out)
}

weblm_plugin! { resolve_codes => sentinel }
