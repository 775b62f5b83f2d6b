/*
 * The standard compliance timeline (SPEC §4 Avaya grace, SPEC §7 Cisco trial / over-use /
 * deactivation) as a weblm `compliance` plugin in C. Mirrors
 * weblm_core::compliance::evaluate exactly; the rules, first match wins:
 *   1. tampered                      -> restricted
 *   2. violation (recorded, over-use now, or contact older than contact_alert_days)
 *                                    -> over-use alert until start + deactivate_after_days,
 *                                       then deactivated
 *   3. trial_since set               -> trial until + trial_days, then deactivated
 *   4. acquired < recorded           -> grace until short_since (or now) + grace_days,
 *                                       then restricted
 *   5.                               -> normal
 */
#include "weblm_plugin.h"

WEBLM_PLUGIN(WEBLM_HOOK_COMPLIANCE)

#define DAY 86400

static int64_t plus_days(int64_t t, uint32_t days) {
    int64_t d = (int64_t)days * DAY; /* at most ~3.7e14: no overflow */
    if (t > INT64_MAX - d) return INT64_MAX;
    return t + d;
}

static int64_t answer(uint32_t mode, int has_until, int64_t until) {
    uint8_t *out = weblm_malloc(WEBLM_COMPLIANCE_OUT);
    if (!out) return WEBLM_ERR_NO_MEMORY;
    weblm_wr_u32(out, mode);
    weblm_wr_u32(out + 4, has_until ? 1u : 0u);
    weblm_wr_u64(out + 8, has_until ? (uint64_t)until : 0u);
    return weblm_pack(out, WEBLM_COMPLIANCE_OUT);
}

WEBLM_EXPORT int64_t weblm_compliance(int32_t ptr, int32_t len) {
    const uint8_t *in = (const uint8_t *)(uintptr_t)ptr;
    int64_t now, trial_since, short_since, last_contact, violation = 0, end;
    uint32_t flags, entitled, in_use, recorded, acquired;
    uint32_t grace_days, trial_days, contact_days, deactivate_days;
    int has_violation;

    if (len != WEBLM_COMPLIANCE_IN) return WEBLM_ERR_BAD_INPUT;
    now = (int64_t)weblm_rd_u64(in);
    flags = weblm_rd_u32(in + 8);
    entitled = weblm_rd_u32(in + 12);
    in_use = weblm_rd_u32(in + 16);
    recorded = weblm_rd_u32(in + 20);
    acquired = weblm_rd_u32(in + 24);
    trial_since = (int64_t)weblm_rd_u64(in + 32);
    short_since = (int64_t)weblm_rd_u64(in + 40);
    last_contact = (int64_t)weblm_rd_u64(in + 48);
    grace_days = weblm_rd_u32(in + 64);
    trial_days = weblm_rd_u32(in + 68);
    contact_days = weblm_rd_u32(in + 72);
    deactivate_days = weblm_rd_u32(in + 76);

    if (flags & 1) return answer(WEBLM_MODE_RESTRICTED, 0, 0);

    has_violation = (flags & 16) != 0;
    if (has_violation) violation = (int64_t)weblm_rd_u64(in + 56);
    if (in_use > entitled) {
        if (!has_violation || now < violation) violation = now;
        has_violation = 1;
    }
    if (flags & 8) {
        int64_t alert = plus_days(last_contact, contact_days);
        if (now >= alert) {
            if (!has_violation || alert < violation) violation = alert;
            has_violation = 1;
        }
    }
    if (has_violation) {
        end = plus_days(violation, deactivate_days);
        return now < end ? answer(WEBLM_MODE_OVER_USE_ALERT, 1, end)
                         : answer(WEBLM_MODE_DEACTIVATED, 0, 0);
    }
    if (flags & 2) {
        end = plus_days(trial_since, trial_days);
        return now < end ? answer(WEBLM_MODE_TRIAL, 1, end) : answer(WEBLM_MODE_DEACTIVATED, 0, 0);
    }
    if (acquired < recorded) {
        end = plus_days((flags & 4) ? short_since : now, grace_days);
        return now < end ? answer(WEBLM_MODE_GRACE, 1, end) : answer(WEBLM_MODE_RESTRICTED, 0, 0);
    }
    return answer(WEBLM_MODE_NORMAL, 0, 0);
}
