/*
 * C tests of libweblm: every function of include/weblm.h, every error path (NULL handles and
 * pointers, invalid UTF-8, double free, stale handles, out-of-range counts and indexes, wrong
 * signature, wrong host, wrong version, malformed data, expired leases, clock rollback, a bad
 * state-database path) and concurrent acquires from several threads.
 *
 * Usage: test_weblm WORKDIR
 * WORKDIR holds what tests/ffi.sh generated with the `weblm` CLI: license.toml (host
 * ir-host-01, product IR 5.0), license2.toml (the same plus 10 VALUE_IR_VOIP_PORTS),
 * vendor.pub (the vendor key that signed them) and other.pub (another vendor's key).
 *
 * Prints one line per failure and a closing "N passed, N failed" line; exits 1 on any failure.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weblm.h"

static int passed, failed;

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (cond) {                                                                       \
            passed++;                                                                     \
        } else {                                                                          \
            failed++;                                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__,       \
                    __LINE__, #cond, weblm_last_error());                                 \
        }                                                                                 \
    } while (0)

/* A call must return `want`; on failure the last error must name the problem (non-empty),
 * and on success it must be empty. */
#define EXPECT(call, want)                                                                \
    do {                                                                                  \
        weblm_status st_ = (call);                                                        \
        const char *le_ = weblm_last_error();                                             \
        if (st_ == (want) && ((want) == WEBLM_OK ? le_[0] == '\0' : le_[0] != '\0')) {   \
            passed++;                                                                     \
        } else {                                                                          \
            failed++;                                                                     \
            fprintf(stderr, "%s:%d: %s returned %s, expected %s (last error: \"%s\")\n",  \
                    __FILE__, __LINE__, #call, weblm_status_str(st_),                     \
                    weblm_status_str(want), le_);                                         \
        }                                                                                 \
    } while (0)

/* As EXPECT, and the last error contains `needle`. */
#define EXPECT_MSG(call, want, needle)                                                    \
    do {                                                                                  \
        EXPECT(call, want);                                                               \
        CHECK(strstr(weblm_last_error(), (needle)) != NULL);                              \
    } while (0)

#define T0 1780272000LL          /* 2026-06-01T00:00:00Z */
#define T_2026_01_01 1767225600LL
#define T_2026_03_02 1772409600LL
#define T_2099_01_01 4070908800LL

static const char BAD_UTF8[] = {'a', (char)0xff, 'b', 0};
static const char *HOST = "ir-host-01";
static const char *VOIP = "VALUE_IR_VOIP_PORTS";

static char *read_file(const char *dir, const char *name, size_t *len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    buf[n] = 0;
    fclose(f);
    if (len) *len = (size_t)n;
    return buf;
}

static void test_versions_and_status(void) {
    unsigned major = 99, minor = 99, patch = 99;
    CHECK(strcmp(weblm_version(), WEBLM_VERSION) == 0);
    CHECK(weblm_version_number() == WEBLM_VERSION_NUMBER);
    CHECK(WEBLM_VERSION_NUMBER ==
          WEBLM_VERSION_MAJOR * 1000000 + WEBLM_VERSION_MINOR * 1000 + WEBLM_VERSION_PATCH);
    CHECK(sscanf(WEBLM_VERSION, "%u.%u.%u", &major, &minor, &patch) == 3);
    CHECK(major == WEBLM_VERSION_MAJOR && minor == WEBLM_VERSION_MINOR &&
          patch == WEBLM_VERSION_PATCH);
    CHECK(weblm_abi_version() == WEBLM_ABI_VERSION);

    CHECK(strcmp(weblm_status_str(WEBLM_OK), "WEBLM_OK") == 0);
    CHECK(strcmp(weblm_status_str(WEBLM_E_WRONG_HOST), "WEBLM_E_WRONG_HOST") == 0);
    CHECK(strcmp(weblm_status_str(WEBLM_E_INTERNAL), "WEBLM_E_INTERNAL") == 0);
    CHECK(strcmp(weblm_status_str(9999), "WEBLM_E_UNKNOWN_STATUS") == 0);
    for (weblm_status s = WEBLM_OK; s <= WEBLM_E_INTERNAL; s++) {
        CHECK(strncmp(weblm_status_str(s), "WEBLM_", 6) == 0);
        CHECK(strcmp(weblm_status_str(s), "WEBLM_E_UNKNOWN_STATUS") != 0);
    }
    CHECK(weblm_last_error() != NULL);
}

static void test_license_load(const char *dir, const char *key, const char *other_key,
                              weblm_license **out_license) {
    char path[4096];
    weblm_license *lic = NULL;
    weblm_license *sentinel = (weblm_license *)&path; /* must stay untouched on failure */
    weblm_license *l2 = sentinel;
    snprintf(path, sizeof path, "%s/license.toml", dir);

    EXPECT(weblm_license_load_file(path, key, HOST, NULL, &lic), WEBLM_OK);
    CHECK(lic != NULL);

    /* The product version is checked when given. */
    EXPECT(weblm_license_load_file(path, key, HOST, "5.0", &l2), WEBLM_OK);
    EXPECT(weblm_license_free(l2), WEBLM_OK);
    l2 = sentinel;
    EXPECT_MSG(weblm_license_load_file(path, key, HOST, "6.0", &l2), WEBLM_E_VERSION_MISMATCH,
               "product version mismatch");
    CHECK(l2 == sentinel);
    /* Wrong host, wrong vendor key, malformed key, missing file. */
    EXPECT_MSG(weblm_license_load_file(path, key, "other-host", NULL, &l2), WEBLM_E_WRONG_HOST,
               "not issued for this system");
    CHECK(l2 == sentinel);
    EXPECT_MSG(weblm_license_load_file(path, other_key, HOST, NULL, &l2), WEBLM_E_BAD_SIGNATURE,
               "signature");
    EXPECT_MSG(weblm_license_load_file(path, "not a key", HOST, NULL, &l2), WEBLM_E_BAD_KEY,
               "not a weblm public key");
    EXPECT_MSG(weblm_license_load_file("/nonexistent/license.toml", key, HOST, NULL, &l2),
               WEBLM_E_IO, "/nonexistent/license.toml");
    CHECK(l2 == sentinel);
    /* NULL pointers. */
    EXPECT_MSG(weblm_license_load_file(NULL, key, HOST, NULL, &l2), WEBLM_E_NULL_POINTER, "path");
    EXPECT_MSG(weblm_license_load_file(path, NULL, HOST, NULL, &l2), WEBLM_E_NULL_POINTER,
               "public_key");
    EXPECT_MSG(weblm_license_load_file(path, key, NULL, NULL, &l2), WEBLM_E_NULL_POINTER,
               "host_id");
    EXPECT_MSG(weblm_license_load_file(path, key, HOST, NULL, NULL), WEBLM_E_NULL_POINTER, "out");
    /* Invalid UTF-8 in every string argument. */
    EXPECT_MSG(weblm_license_load_file(BAD_UTF8, key, HOST, NULL, &l2), WEBLM_E_INVALID_UTF8,
               "path");
    EXPECT_MSG(weblm_license_load_file(path, BAD_UTF8, HOST, NULL, &l2), WEBLM_E_INVALID_UTF8,
               "public_key");
    EXPECT_MSG(weblm_license_load_file(path, key, BAD_UTF8, NULL, &l2), WEBLM_E_INVALID_UTF8,
               "host_id");
    EXPECT_MSG(weblm_license_load_file(path, key, HOST, BAD_UTF8, &l2), WEBLM_E_INVALID_UTF8,
               "product_version");
    CHECK(l2 == sentinel);

    /* From bytes. */
    size_t len = 0;
    char *text = read_file(dir, "license.toml", &len);
    EXPECT(weblm_license_load_bytes((const uint8_t *)text, len, key, HOST, "5.0", &l2), WEBLM_OK);
    CHECK(l2 != sentinel && l2 != NULL);
    EXPECT(weblm_license_free(l2), WEBLM_OK);
    l2 = sentinel;
    /* Tampered with: one count changed after signing. */
    char *count = strstr(text, "count = 20");
    CHECK(count != NULL);
    if (count) {
        count[9] = '9'; /* 20 -> 29 */
        EXPECT_MSG(weblm_license_load_bytes((const uint8_t *)text, len, key, HOST, NULL, &l2),
                   WEBLM_E_BAD_SIGNATURE, "signature does not match");
        count[9] = '0';
    }
    /* Wrong host from bytes too. */
    EXPECT(weblm_license_load_bytes((const uint8_t *)text, len, key, "x", NULL, &l2),
           WEBLM_E_WRONG_HOST);
    /* Not TOML at all; empty; not UTF-8; too long; NULL data. */
    const char *junk = "this is [[ not a license";
    EXPECT_MSG(weblm_license_load_bytes((const uint8_t *)junk, strlen(junk), key, HOST, NULL, &l2),
               WEBLM_E_MALFORMED_LICENSE, "malformed license file");
    EXPECT(weblm_license_load_bytes(NULL, 0, key, HOST, NULL, &l2), WEBLM_E_MALFORMED_LICENSE);
    EXPECT_MSG(weblm_license_load_bytes((const uint8_t *)BAD_UTF8, 3, key, HOST, NULL, &l2),
               WEBLM_E_INVALID_UTF8, "offset 1");
    EXPECT_MSG(weblm_license_load_bytes((const uint8_t *)text, (size_t)WEBLM_MAX_LICENSE_BYTES + 1,
                                        key, HOST, NULL, &l2),
               WEBLM_E_OUT_OF_RANGE, "maximum");
    EXPECT_MSG(weblm_license_load_bytes(NULL, 5, key, HOST, NULL, &l2), WEBLM_E_NULL_POINTER,
               "data");
    EXPECT(weblm_license_load_bytes((const uint8_t *)text, len, NULL, HOST, NULL, &l2),
           WEBLM_E_NULL_POINTER);
    EXPECT(weblm_license_load_bytes((const uint8_t *)text, len, key, NULL, NULL, &l2),
           WEBLM_E_NULL_POINTER);
    EXPECT(weblm_license_load_bytes((const uint8_t *)text, len, key, HOST, NULL, NULL),
           WEBLM_E_NULL_POINTER);
    EXPECT(weblm_license_load_bytes((const uint8_t *)text, len, other_key, HOST, NULL, &l2),
           WEBLM_E_BAD_SIGNATURE);
    EXPECT(weblm_license_load_bytes((const uint8_t *)text, len, key, HOST, "4.0", &l2),
           WEBLM_E_VERSION_MISMATCH);
    CHECK(l2 == sentinel);
    free(text);
    *out_license = lic;
}

static void test_license_queries(weblm_license *lic) {
    const char *s = "untouched";
    const char *f = NULL, *v = NULL;
    size_t n = 0;

    EXPECT(weblm_license_vendor(lic, &s), WEBLM_OK);
    CHECK(strcmp(s, "Acme Voice") == 0);
    EXPECT(weblm_license_product(lic, &s), WEBLM_OK);
    CHECK(strcmp(s, "IR") == 0);
    EXPECT(weblm_license_product_version(lic, &s), WEBLM_OK);
    CHECK(strcmp(s, "5.0") == 0);
    EXPECT(weblm_license_host_id(lic, &s), WEBLM_OK);
    CHECK(strcmp(s, HOST) == 0);
    EXPECT(weblm_license_vendor(NULL, &s), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_license_product(NULL, &s), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_license_product_version(lic, NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_license_host_id(lic, NULL), WEBLM_E_NULL_POINTER);

    EXPECT(weblm_license_feature_count(lic, &n), WEBLM_OK);
    CHECK(n == 6);
    EXPECT(weblm_license_feature_at(lic, 0, &f, &v), WEBLM_OK);
    CHECK(f && strcmp(f, "77") == 0 && strcmp(v, "5.0") == 0);
    EXPECT(weblm_license_feature_at(lic, 5, &f, &v), WEBLM_OK);
    CHECK(strcmp(f, VOIP) == 0);
    f = "untouched";
    EXPECT_MSG(weblm_license_feature_at(lic, 6, &f, &v), WEBLM_E_OUT_OF_RANGE, "index 6");
    EXPECT(weblm_license_feature_at(lic, (size_t)-1, &f, &v), WEBLM_E_OUT_OF_RANGE);
    CHECK(strcmp(f, "untouched") == 0);
    EXPECT(weblm_license_feature_at(lic, 0, NULL, &v), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_license_feature_at(lic, 0, &f, NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_license_feature_at(NULL, 0, &f, &v), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_license_feature_count(NULL, &n), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_license_feature_count(lic, NULL), WEBLM_E_NULL_POINTER);
}

/* Checks one decision of an entitlement. */
static void expect_decision(const weblm_entitlement *e, size_t i, uint32_t position, bool counted,
                            weblm_reason reason, uint32_t by, int64_t at) {
    weblm_code_decision d;
    memset(&d, 0, sizeof d);
    EXPECT(weblm_entitlement_code_at(e, i, &d), WEBLM_OK);
    CHECK(d.position == position);
    CHECK(d.counted == counted);
    CHECK(d.reason == reason);
    CHECK(d.by == by);
    CHECK(d.at == at);
    CHECK(d.text != NULL && strlen(d.text) > 0);
    CHECK(strncmp(d.text, counted ? "counted" : "ignored", 7) == 0);
}

static void test_entitlements(weblm_license *lic) {
    weblm_entitlement *e = NULL;
    uint32_t count = 999;
    int64_t from = 0, until = 0;
    size_t n = 0;

    /* 20 permanent additive ports. */
    EXPECT(weblm_license_entitlement(lic, VOIP, "5.0", T0, &e), WEBLM_OK);
    EXPECT(weblm_entitlement_count(e, &count), WEBLM_OK);
    CHECK(count == 20);
    EXPECT(weblm_entitlement_window(e, &from, &until), WEBLM_OK);
    CHECK(from == T_2026_01_01 && until == WEBLM_TIME_NONE);
    EXPECT(weblm_entitlement_code_count(e, &n), WEBLM_OK);
    CHECK(n == 1);
    expect_decision(e, 0, 1, true, WEBLM_REASON_COUNTED_ADDITIVE, 0, WEBLM_TIME_NONE);
    {
        weblm_code_decision d;
        d.position = 4242;
        EXPECT_MSG(weblm_entitlement_code_at(e, 1, &d), WEBLM_E_OUT_OF_RANGE, "index 1");
        CHECK(d.position == 4242);
    }
    EXPECT(weblm_entitlement_code_at(e, 0, NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_entitlement_count(e, NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_entitlement_window(e, NULL, &until), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_entitlement_window(e, &from, NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_entitlement_code_count(e, NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_entitlement_free(e), WEBLM_OK);

    /* 5 + 2 additive = 7. */
    EXPECT(weblm_license_entitlement(lic, "77", "5.0", T0, &e), WEBLM_OK);
    EXPECT(weblm_entitlement_count(e, &count), WEBLM_OK);
    CHECK(count == 7);
    expect_decision(e, 0, 2, true, WEBLM_REASON_COUNTED_ADDITIVE, 0, WEBLM_TIME_NONE);
    expect_decision(e, 1, 3, true, WEBLM_REASON_COUNTED_ADDITIVE, 0, WEBLM_TIME_NONE);
    EXPECT(weblm_entitlement_free(e), WEBLM_OK);

    /* Exclusive 10 then exclusive 4: only the last added counts. */
    EXPECT(weblm_license_entitlement(lic, "ASR", "5.0", T0, &e), WEBLM_OK);
    EXPECT(weblm_entitlement_count(e, &count), WEBLM_OK);
    CHECK(count == 4);
    expect_decision(e, 0, 4, false, WEBLM_REASON_OVERRIDDEN_BY_EXCLUSIVE, 5, WEBLM_TIME_NONE);
    expect_decision(e, 1, 5, true, WEBLM_REASON_COUNTED_LAST_EXCLUSIVE, 0, WEBLM_TIME_NONE);
    EXPECT(weblm_entitlement_free(e), WEBLM_OK);

    /* Trial 8 replaced by permanent 3. */
    EXPECT(weblm_license_entitlement(lic, "TTS", "5.0", T0, &e), WEBLM_OK);
    EXPECT(weblm_entitlement_count(e, &count), WEBLM_OK);
    CHECK(count == 3);
    expect_decision(e, 0, 6, false, WEBLM_REASON_REPLACED_BY_PERMANENT, 7, WEBLM_TIME_NONE);
    expect_decision(e, 1, 7, true, WEBLM_REASON_COUNTED_ADDITIVE, 0, WEBLM_TIME_NONE);
    EXPECT(weblm_entitlement_free(e), WEBLM_OK);

    /* A code that ended on 2026-03-01 (inclusive) counts before, not after. */
    EXPECT(weblm_license_entitlement(lic, "OLD", "5.0", T0, &e), WEBLM_OK);
    EXPECT(weblm_entitlement_count(e, &count), WEBLM_OK);
    CHECK(count == 0);
    EXPECT(weblm_entitlement_window(e, &from, &until), WEBLM_OK);
    CHECK(from == WEBLM_TIME_NONE && until == WEBLM_TIME_NONE);
    expect_decision(e, 0, 8, false, WEBLM_REASON_EXPIRED, 0, T_2026_03_02);
    EXPECT(weblm_entitlement_free(e), WEBLM_OK);
    EXPECT(weblm_license_entitlement(lic, "OLD", "5.0", T_2026_01_01 + 86400, &e), WEBLM_OK);
    EXPECT(weblm_entitlement_count(e, &count), WEBLM_OK);
    CHECK(count == 9);
    EXPECT(weblm_entitlement_window(e, &from, &until), WEBLM_OK);
    CHECK(until == T_2026_03_02);
    EXPECT(weblm_entitlement_free(e), WEBLM_OK);

    /* A code that starts in 2099. */
    EXPECT(weblm_license_entitlement(lic, "FUTURE", "5.0", T0, &e), WEBLM_OK);
    expect_decision(e, 0, 9, false, WEBLM_REASON_NOT_YET_STARTED, 0, T_2099_01_01);
    EXPECT(weblm_entitlement_free(e), WEBLM_OK);

    /* Times at the ends of int64_t are answered, not overflowed. */
    EXPECT(weblm_license_entitlement(lic, "TTS", "5.0", INT64_MIN, &e), WEBLM_OK);
    expect_decision(e, 0, 6, false, WEBLM_REASON_NOT_YET_STARTED, 0, T_2026_01_01);
    EXPECT(weblm_entitlement_free(e), WEBLM_OK);
    EXPECT(weblm_license_entitlement(lic, "OLD", "5.0", INT64_MAX, &e), WEBLM_OK);
    expect_decision(e, 0, 8, false, WEBLM_REASON_EXPIRED, 0, T_2026_03_02);
    EXPECT(weblm_entitlement_free(e), WEBLM_OK);

    /* Errors. */
    weblm_entitlement *sentinel = (weblm_entitlement *)&count;
    e = sentinel;
    EXPECT_MSG(weblm_license_entitlement(lic, "NOPE", "5.0", T0, &e), WEBLM_E_UNKNOWN_FEATURE,
               "NOPE");
    EXPECT(weblm_license_entitlement(lic, VOIP, "4.0", T0, &e), WEBLM_E_UNKNOWN_FEATURE);
    EXPECT(weblm_license_entitlement(NULL, VOIP, "5.0", T0, &e), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_license_entitlement(lic, NULL, "5.0", T0, &e), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_license_entitlement(lic, VOIP, NULL, T0, &e), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_license_entitlement(lic, VOIP, "5.0", T0, NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_license_entitlement(lic, BAD_UTF8, "5.0", T0, &e), WEBLM_E_INVALID_UTF8);
    EXPECT(weblm_license_entitlement(lic, VOIP, BAD_UTF8, T0, &e), WEBLM_E_INVALID_UTF8);
    CHECK(e == sentinel);
    EXPECT(weblm_entitlement_count(NULL, &count), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_entitlement_window(NULL, &from, &until), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_entitlement_code_count(NULL, &n), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_entitlement_code_at(NULL, 0, NULL), WEBLM_E_NULL_POINTER);
}

static void test_manual_clock(void) {
    weblm_manual_clock *c = NULL;
    int64_t now = 0;
    EXPECT(weblm_manual_clock_new(T0, &c), WEBLM_OK);
    EXPECT(weblm_manual_clock_now(c, &now), WEBLM_OK);
    CHECK(now == T0);
    EXPECT(weblm_manual_clock_advance(c, 90), WEBLM_OK);
    EXPECT(weblm_manual_clock_now(c, &now), WEBLM_OK);
    CHECK(now == T0 + 90);
    EXPECT(weblm_manual_clock_advance(c, -100), WEBLM_OK);
    EXPECT(weblm_manual_clock_now(c, &now), WEBLM_OK);
    CHECK(now == T0 - 10);
    EXPECT(weblm_manual_clock_set(c, 5), WEBLM_OK);
    EXPECT(weblm_manual_clock_now(c, &now), WEBLM_OK);
    CHECK(now == 5);
    EXPECT(weblm_manual_clock_new(0, NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_manual_clock_now(c, NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_manual_clock_now(NULL, &now), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_manual_clock_set(NULL, 1), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_manual_clock_advance(NULL, 1), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_manual_clock_free(c), WEBLM_OK);
    /* Double free and use after free are statuses, not crashes. */
    EXPECT_MSG(weblm_manual_clock_free(c), WEBLM_E_INVALID_HANDLE, "freed already");
    EXPECT(weblm_manual_clock_set(c, 1), WEBLM_E_INVALID_HANDLE);
    EXPECT(weblm_manual_clock_advance(c, 1), WEBLM_E_INVALID_HANDLE);
    EXPECT(weblm_manual_clock_now(c, &now), WEBLM_E_INVALID_HANDLE);
    EXPECT(weblm_manual_clock_free(NULL), WEBLM_OK);
}

static void test_server(weblm_license *lic, const char *dir, const char *key) {
    weblm_server_config cfg;
    weblm_manual_clock *clock = NULL;
    weblm_server *srv = NULL;
    weblm_grant g, g2;
    weblm_usage u;
    int64_t exp = 0;
    uint32_t released = 0;
    uint64_t released_all = 0;

    memset(&cfg, 0xab, sizeof cfg);
    EXPECT(weblm_server_config_init(&cfg), WEBLM_OK);
    CHECK(cfg.lease_lifetime_secs == 600 && cfg.rollback_tolerance_secs == 300);
    CHECK(!cfg.redundant_server && !cfg.durable_full && cfg.clock == NULL);
    EXPECT(weblm_server_config_init(NULL), WEBLM_E_NULL_POINTER);

    EXPECT(weblm_manual_clock_new(T0, &clock), WEBLM_OK);
    cfg.clock = clock;
    EXPECT(weblm_server_new_in_memory(lic, &cfg, &srv), WEBLM_OK);
    /* The server keeps its own clock reference. */
    EXPECT(weblm_manual_clock_free(clock), WEBLM_OK);
    EXPECT(weblm_manual_clock_new(T0, &clock), WEBLM_OK);
    EXPECT(weblm_server_free(srv), WEBLM_OK);
    cfg.clock = clock;
    EXPECT(weblm_server_new_in_memory(lic, &cfg, &srv), WEBLM_OK);

    /* Partial grant: 20 of 35. */
    EXPECT(weblm_server_acquire(srv, "ir-01", VOIP, "5.0", 35, &g), WEBLM_OK);
    CHECK(g.granted == 20 && g.wanted == 35 && g.lease != WEBLM_NO_LEASE);
    CHECK(g.expires_at == T0 + 600);
    /* Nothing left: a grant of 0 is not an error. */
    EXPECT(weblm_server_acquire(srv, "ir-02", VOIP, "5.0", 1, &g2), WEBLM_OK);
    CHECK(g2.granted == 0 && g2.lease == WEBLM_NO_LEASE && g2.expires_at == WEBLM_TIME_NONE);
    EXPECT(weblm_server_usage(srv, VOIP, "5.0", &u), WEBLM_OK);
    CHECK(u.entitled == 20 && u.in_use == 20 && u.available == 0 && u.leases == 1);

    /* Renew moves the expiry; release returns the licenses; a second release is refused. */
    EXPECT(weblm_manual_clock_advance(clock, 300), WEBLM_OK);
    EXPECT(weblm_server_renew(srv, g.lease, &exp), WEBLM_OK);
    CHECK(exp == T0 + 900);
    EXPECT(weblm_server_release(srv, g.lease, &released), WEBLM_OK);
    CHECK(released == 20);
    released = 77;
    EXPECT_MSG(weblm_server_release(srv, g.lease, &released), WEBLM_E_UNKNOWN_LEASE,
               "no live lease");
    CHECK(released == 77);
    EXPECT(weblm_server_renew(srv, g.lease, &exp), WEBLM_E_UNKNOWN_LEASE);
    EXPECT(weblm_server_release(srv, 0, NULL), WEBLM_E_UNKNOWN_LEASE);
    EXPECT(weblm_server_usage(srv, VOIP, "5.0", &u), WEBLM_OK);
    CHECK(u.in_use == 0 && u.available == 20 && u.leases == 0);

    /* A lease not renewed in time expires and its licenses go back. */
    EXPECT(weblm_server_acquire(srv, "ir-01", VOIP, "5.0", 5, &g), WEBLM_OK);
    CHECK(g.granted == 5);
    EXPECT(weblm_manual_clock_advance(clock, 601), WEBLM_OK);
    exp = 12345;
    EXPECT_MSG(weblm_server_renew(srv, g.lease, &exp), WEBLM_E_LEASE_EXPIRED, "expired");
    CHECK(exp == 12345);
    EXPECT(weblm_server_usage(srv, VOIP, "5.0", &u), WEBLM_OK);
    CHECK(u.in_use == 0);

    /* Bad requests. */
    g.granted = 4242;
    EXPECT_MSG(weblm_server_acquire(srv, "ir-01", VOIP, "5.0", 0, &g), WEBLM_E_INVALID_ARGUMENT,
               "wanted");
    EXPECT_MSG(weblm_server_acquire(srv, "", VOIP, "5.0", 1, &g), WEBLM_E_INVALID_ARGUMENT,
               "client");
    EXPECT_MSG(weblm_server_acquire(srv, "ir-01", "NOPE", "5.0", 1, &g), WEBLM_E_UNKNOWN_FEATURE,
               "NOPE");
    EXPECT(weblm_server_acquire(NULL, "ir-01", VOIP, "5.0", 1, &g), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_server_acquire(srv, NULL, VOIP, "5.0", 1, &g), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_server_acquire(srv, "ir-01", NULL, "5.0", 1, &g), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_server_acquire(srv, "ir-01", VOIP, NULL, 1, &g), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_server_acquire(srv, "ir-01", VOIP, "5.0", 1, NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_server_acquire(srv, BAD_UTF8, VOIP, "5.0", 1, &g), WEBLM_E_INVALID_UTF8);
    EXPECT(weblm_server_acquire(srv, "ir-01", BAD_UTF8, "5.0", 1, &g), WEBLM_E_INVALID_UTF8);
    EXPECT(weblm_server_acquire(srv, "ir-01", VOIP, BAD_UTF8, 1, &g), WEBLM_E_INVALID_UTF8);
    CHECK(g.granted == 4242);
    /* A NULL out-parameter is refused before anything is granted. */
    EXPECT(weblm_server_usage(srv, VOIP, "5.0", &u), WEBLM_OK);
    CHECK(u.in_use == 0);
    EXPECT(weblm_server_renew(NULL, 1, &exp), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_server_renew(srv, 1, NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_server_release(NULL, 1, NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_server_usage(srv, "NOPE", "5.0", &u), WEBLM_E_UNKNOWN_FEATURE);
    EXPECT(weblm_server_usage(NULL, VOIP, "5.0", &u), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_server_usage(srv, NULL, "5.0", &u), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_server_usage(srv, VOIP, NULL, &u), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_server_usage(srv, VOIP, "5.0", NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_server_usage(srv, BAD_UTF8, "5.0", &u), WEBLM_E_INVALID_UTF8);

    /* Admin force-release of one client's leases. */
    EXPECT(weblm_server_acquire(srv, "crashed", VOIP, "5.0", 3, &g), WEBLM_OK);
    EXPECT(weblm_server_acquire(srv, "crashed", "77", "5.0", 2, &g), WEBLM_OK);
    EXPECT(weblm_server_acquire(srv, "alive", "77", "5.0", 1, &g2), WEBLM_OK);
    EXPECT(weblm_server_release_client(srv, "crashed", &released_all), WEBLM_OK);
    CHECK(released_all == 5);
    EXPECT(weblm_server_release_client(srv, "nobody", NULL), WEBLM_OK);
    EXPECT(weblm_server_usage(srv, "77", "5.0", &u), WEBLM_OK);
    CHECK(u.in_use == 1 && u.available == 6);
    EXPECT(weblm_server_release_client(NULL, "x", NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_server_release_client(srv, NULL, NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_server_release_client(srv, BAD_UTF8, NULL), WEBLM_E_INVALID_UTF8);

    /* The server's entitlement, with reasons. */
    {
        weblm_entitlement *e = NULL;
        uint32_t count = 0;
        EXPECT(weblm_server_entitlement(srv, "ASR", "5.0", &e), WEBLM_OK);
        EXPECT(weblm_entitlement_count(e, &count), WEBLM_OK);
        CHECK(count == 4);
        expect_decision(e, 0, 4, false, WEBLM_REASON_OVERRIDDEN_BY_EXCLUSIVE, 5, WEBLM_TIME_NONE);
        EXPECT(weblm_entitlement_free(e), WEBLM_OK);
        EXPECT(weblm_server_entitlement(srv, "NOPE", "5.0", &e), WEBLM_E_UNKNOWN_FEATURE);
        EXPECT(weblm_server_entitlement(NULL, "ASR", "5.0", &e), WEBLM_E_NULL_POINTER);
        EXPECT(weblm_server_entitlement(srv, NULL, "5.0", &e), WEBLM_E_NULL_POINTER);
        EXPECT(weblm_server_entitlement(srv, "ASR", NULL, &e), WEBLM_E_NULL_POINTER);
        EXPECT(weblm_server_entitlement(srv, "ASR", "5.0", NULL), WEBLM_E_NULL_POINTER);
        EXPECT(weblm_server_entitlement(srv, "ASR", BAD_UTF8, &e), WEBLM_E_INVALID_UTF8);
    }

    /* Reload a license with 10 more ports: 30 without a restart. */
    {
        char path[4096];
        weblm_license *lic2 = NULL;
        snprintf(path, sizeof path, "%s/license2.toml", dir);
        EXPECT(weblm_license_load_file(path, key, HOST, "5.0", &lic2), WEBLM_OK);
        EXPECT(weblm_server_reload(srv, lic2), WEBLM_OK);
        EXPECT(weblm_server_usage(srv, VOIP, "5.0", &u), WEBLM_OK);
        CHECK(u.entitled == 30 && u.available == 30);
        EXPECT(weblm_server_reload(NULL, lic2), WEBLM_E_NULL_POINTER);
        EXPECT(weblm_server_reload(srv, NULL), WEBLM_E_NULL_POINTER);
        EXPECT(weblm_license_free(lic2), WEBLM_OK);
        EXPECT(weblm_server_reload(srv, lic2), WEBLM_E_INVALID_HANDLE);
    }

    /* Clock rollback: no new grants or renewals, release still works. */
    EXPECT(weblm_server_acquire(srv, "ir-01", VOIP, "5.0", 2, &g), WEBLM_OK);
    EXPECT(weblm_manual_clock_advance(clock, -1000), WEBLM_OK);
    EXPECT_MSG(weblm_server_acquire(srv, "ir-01", VOIP, "5.0", 1, &g2), WEBLM_E_CLOCK_ROLLBACK,
               "clock rollback");
    EXPECT(weblm_server_renew(srv, g.lease, &exp), WEBLM_E_CLOCK_ROLLBACK);
    EXPECT(weblm_server_release(srv, g.lease, &released), WEBLM_OK);
    CHECK(released == 2);
    EXPECT(weblm_manual_clock_advance(clock, 1000), WEBLM_OK);
    EXPECT(weblm_server_acquire(srv, "ir-01", VOIP, "5.0", 1, &g2), WEBLM_OK);

    /* Config out of range; NULL arguments; a freed clock in the config. */
    {
        weblm_server *s2 = (weblm_server *)&cfg;
        weblm_server_config bad = cfg;
        bad.lease_lifetime_secs = 0;
        EXPECT_MSG(weblm_server_new_in_memory(lic, &bad, &s2), WEBLM_E_OUT_OF_RANGE,
                   "lease_lifetime_secs");
        bad.lease_lifetime_secs = 600;
        bad.rollback_tolerance_secs = -1;
        EXPECT_MSG(weblm_server_new_in_memory(lic, &bad, &s2), WEBLM_E_OUT_OF_RANGE,
                   "rollback_tolerance_secs");
        EXPECT(weblm_server_new_in_memory(NULL, &cfg, &s2), WEBLM_E_NULL_POINTER);
        EXPECT(weblm_server_new_in_memory(lic, &cfg, NULL), WEBLM_E_NULL_POINTER);
        CHECK(s2 == (weblm_server *)&cfg);
        /* NULL config: defaults with the system clock. */
        EXPECT(weblm_server_new_in_memory(lic, NULL, &s2), WEBLM_OK);
        EXPECT(weblm_server_acquire(s2, "ir-01", VOIP, "5.0", 1, &g), WEBLM_OK);
        CHECK(g.granted == 1);
        EXPECT(weblm_server_free(s2), WEBLM_OK);
        EXPECT(weblm_manual_clock_free(clock), WEBLM_OK);
        bad = cfg; /* cfg.clock now names a freed clock */
        EXPECT(weblm_server_new_in_memory(lic, &bad, &s2), WEBLM_E_INVALID_HANDLE);
    }

    /* Double free and use after free of a server. */
    EXPECT(weblm_server_free(srv), WEBLM_OK);
    EXPECT_MSG(weblm_server_free(srv), WEBLM_E_INVALID_HANDLE, "weblm_server");
    EXPECT(weblm_server_acquire(srv, "ir-01", VOIP, "5.0", 1, &g), WEBLM_E_INVALID_HANDLE);
    EXPECT(weblm_server_renew(srv, 1, &exp), WEBLM_E_INVALID_HANDLE);
    EXPECT(weblm_server_release(srv, 1, NULL), WEBLM_E_INVALID_HANDLE);
    EXPECT(weblm_server_release_client(srv, "x", NULL), WEBLM_E_INVALID_HANDLE);
    EXPECT(weblm_server_usage(srv, VOIP, "5.0", &u), WEBLM_E_INVALID_HANDLE);
    EXPECT(weblm_server_free(NULL), WEBLM_OK);
    /* A pointer libweblm never returned is refused, not dereferenced. */
    EXPECT(weblm_server_free((weblm_server *)&u), WEBLM_E_INVALID_HANDLE);
    EXPECT(weblm_server_usage((weblm_server *)&u, VOIP, "5.0", &u), WEBLM_E_INVALID_HANDLE);
}

static void test_persistent_server(weblm_license *lic, const char *dir) {
    char db[4096];
    weblm_server *srv = NULL;
    weblm_grant g;
    weblm_usage u;
    snprintf(db, sizeof db, "%s/state.db", dir);
    remove(db);

    EXPECT(weblm_server_new(lic, db, NULL, &srv), WEBLM_OK);
    EXPECT(weblm_server_acquire(srv, "ir-01", VOIP, "5.0", 7, &g), WEBLM_OK);
    CHECK(g.granted == 7);
    EXPECT(weblm_server_free(srv), WEBLM_OK);
    /* Leases survive a restart. */
    EXPECT(weblm_server_new(lic, db, NULL, &srv), WEBLM_OK);
    EXPECT(weblm_server_usage(srv, VOIP, "5.0", &u), WEBLM_OK);
    CHECK(u.in_use == 7 && u.available == 13 && u.leases == 1);
    EXPECT(weblm_server_release(srv, g.lease, NULL), WEBLM_OK);
    EXPECT(weblm_server_free(srv), WEBLM_OK);

    weblm_server *s2 = (weblm_server *)&u;
    EXPECT_MSG(weblm_server_new(lic, "/nonexistent/dir/state.db", NULL, &s2), WEBLM_E_STATE_DB,
               "state database");
    EXPECT(weblm_server_new(NULL, db, NULL, &s2), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_server_new(lic, NULL, NULL, &s2), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_server_new(lic, db, NULL, NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_server_new(lic, BAD_UTF8, NULL, &s2), WEBLM_E_INVALID_UTF8);
    CHECK(s2 == (weblm_server *)&u);
}

/* Several threads acquire concurrently: never more than the entitlement in use. */
#define THREADS 4
#define PER_THREAD 10
struct worker {
    weblm_server *srv;
    uint64_t leases[PER_THREAD];
    uint32_t granted;
    int errors;
};

static void *worker_main(void *arg) {
    struct worker *w = arg;
    char client[32];
    snprintf(client, sizeof client, "client-%p", (void *)w);
    for (int i = 0; i < PER_THREAD; i++) {
        weblm_grant g;
        if (weblm_server_acquire(w->srv, client, VOIP, "5.0", 3, &g) != WEBLM_OK) {
            w->errors++;
            continue;
        }
        w->leases[i] = g.lease;
        w->granted += g.granted;
    }
    return NULL;
}

/* ---- the IR license client (weblm_client): Primary/Secondary, modes, callback ---------- */

struct mode_log {
    int calls;
    uint32_t from[8], to[8];
    char last_reason[256];
};

static void on_mode(void *user_data, uint32_t from, uint32_t to, const char *reason) {
    struct mode_log *log = user_data;
    if (log->calls < 8) {
        log->from[log->calls] = from;
        log->to[log->calls] = to;
    }
    log->calls++;
    snprintf(log->last_reason, sizeof log->last_reason, "%s", reason);
}

static void test_client(weblm_license *lic, const char *dir) {
    weblm_manual_clock *clock = NULL;
    weblm_server *primary = NULL, *secondary = NULL;
    weblm_server_config scfg;
    EXPECT(weblm_manual_clock_new(T0, &clock), WEBLM_OK);
    EXPECT(weblm_server_config_init(&scfg), WEBLM_OK);
    scfg.clock = clock;
    EXPECT(weblm_server_new_in_memory(lic, &scfg, &primary), WEBLM_OK);
    EXPECT(weblm_server_new_in_memory(lic, &scfg, &secondary), WEBLM_OK);

    char nvram[4096];
    snprintf(nvram, sizeof nvram, "%s/client-c.nvram", dir);
    remove(nvram);
    weblm_client_want want = {VOIP, "5.0", 35, 2};
    weblm_client_config cfg;
    EXPECT(weblm_client_config_init(&cfg), WEBLM_OK);
    CHECK(cfg.renew_percent == 80 && cfg.background && cfg.release_on_close);
    CHECK(cfg.grace_secs == 30LL * 86400);

    /* Bad configurations. */
    weblm_client *c = NULL;
    EXPECT(weblm_client_start(NULL, &c), WEBLM_E_NULL_POINTER);
    EXPECT_MSG(weblm_client_start(&cfg, &c), WEBLM_E_NULL_POINTER, "client_id");
    cfg.client_id = "ir-01";
    cfg.nvram_path = nvram;
    EXPECT_MSG(weblm_client_start(&cfg, &c), WEBLM_E_INVALID_ARGUMENT, "Primary");
    cfg.primary_server = primary;
    cfg.primary_url = "http://127.0.0.1:1";
    EXPECT_MSG(weblm_client_start(&cfg, &c), WEBLM_E_INVALID_ARGUMENT, "not both");
    cfg.primary_url = NULL;
    EXPECT_MSG(weblm_client_start(&cfg, &c), WEBLM_E_OUT_OF_RANGE, "wants_len");
    cfg.wants = &want;
    cfg.wants_len = 1;
    cfg.renew_percent = 100;
    EXPECT_MSG(weblm_client_start(&cfg, &c), WEBLM_E_OUT_OF_RANGE, "renew_percent");
    cfg.renew_percent = 80;
    cfg.client_id = BAD_UTF8;
    EXPECT(weblm_client_start(&cfg, &c), WEBLM_E_INVALID_UTF8);
    cfg.client_id = "ir-01";
    CHECK(c == NULL);

    /* 35 wanted: 20 at the Primary, 15 at the Secondary. */
    cfg.secondary_server = secondary;
    cfg.background = false;
    cfg.clock = clock;
    EXPECT(weblm_client_start(&cfg, &c), WEBLM_OK);
    weblm_client_feature_status fs;
    EXPECT(weblm_client_feature(c, VOIP, "5.0", &fs), WEBLM_OK);
    CHECK(fs.wanted == 35 && fs.held == 35 && fs.held_primary == 20 && fs.held_secondary == 15);
    CHECK(fs.recorded == 35 && fs.capacity == 35);
    EXPECT_MSG(weblm_client_feature(c, "NOPE", "5.0", &fs), WEBLM_E_UNKNOWN_FEATURE, "NOPE");
    EXPECT(weblm_client_feature(c, NULL, "5.0", &fs), WEBLM_E_NULL_POINTER);
    uint32_t mode = 99;
    EXPECT(weblm_client_mode(c, &mode), WEBLM_OK);
    CHECK(mode == WEBLM_MODE_NORMAL);
    EXPECT(weblm_client_mode(c, NULL), WEBLM_E_NULL_POINTER);
    CHECK(strcmp(weblm_mode_str(WEBLM_MODE_GRACE), "grace") == 0);
    CHECK(strcmp(weblm_mode_str(77), "unknown") == 0);
    size_t len = 0;
    char reason[256];
    EXPECT(weblm_client_reason(c, NULL, 0, &len), WEBLM_OK);
    CHECK(len > 0);
    EXPECT(weblm_client_reason(c, reason, 5, &len), WEBLM_OK);
    CHECK(strlen(reason) == 4);
    EXPECT(weblm_client_reason(c, NULL, 5, &len), WEBLM_E_NULL_POINTER);

    struct mode_log log;
    memset(&log, 0, sizeof log);
    EXPECT(weblm_client_on_mode_change(c, on_mode, &log), WEBLM_OK);
    EXPECT(weblm_client_on_mode_change(c, NULL, &log), WEBLM_E_NULL_POINTER);

    /* The Secondary's licenses are taken away and given to someone else: Grace. */
    uint64_t gone = 0;
    EXPECT(weblm_server_release_client(secondary, "ir-01", &gone), WEBLM_OK);
    CHECK(gone == 15);
    weblm_grant g;
    EXPECT(weblm_server_acquire(secondary, "thief", VOIP, "5.0", 20, &g), WEBLM_OK);
    EXPECT(weblm_manual_clock_advance(clock, 480), WEBLM_OK);
    EXPECT(weblm_client_tick(c), WEBLM_OK);
    int64_t thief_exp;
    EXPECT(weblm_server_renew(secondary, g.lease, &thief_exp), WEBLM_OK);
    EXPECT(weblm_client_mode(c, &mode), WEBLM_OK);
    CHECK(mode == WEBLM_MODE_GRACE);
    EXPECT(weblm_client_feature(c, VOIP, "5.0", &fs), WEBLM_OK);
    CHECK(fs.held == 20 && fs.recorded == 35 && fs.capacity == 35);
    CHECK(log.calls == 1 && log.from[0] == WEBLM_MODE_NORMAL && log.to[0] == WEBLM_MODE_GRACE);
    CHECK(strstr(log.last_reason, "grace") != NULL);

    /* 30 days later, still short: Restricted (held + floor of 2). The thief keeps renewing. */
    for (int day = 0; day < 31; day++) {
        for (int i = 0; i < 180; i++) { /* every 480 s */
            EXPECT(weblm_manual_clock_advance(clock, 480), WEBLM_OK);
            int64_t exp;
            if (weblm_server_renew(secondary, g.lease, &exp) != WEBLM_OK) failed++;
            if (weblm_client_tick(c) != WEBLM_OK) failed++;
        }
    }
    EXPECT(weblm_client_mode(c, &mode), WEBLM_OK);
    CHECK(mode == WEBLM_MODE_RESTRICTED);
    EXPECT(weblm_client_feature(c, VOIP, "5.0", &fs), WEBLM_OK);
    CHECK(fs.held == 20 && fs.capacity == 22);
    CHECK(log.calls == 2 && log.to[1] == WEBLM_MODE_RESTRICTED);

    /* The thief leaves: back to Normal at once. */
    EXPECT(weblm_server_release(secondary, g.lease, NULL), WEBLM_OK);
    EXPECT(weblm_manual_clock_advance(clock, 60), WEBLM_OK);
    EXPECT(weblm_client_tick(c), WEBLM_OK);
    EXPECT(weblm_client_mode(c, &mode), WEBLM_OK);
    CHECK(mode == WEBLM_MODE_NORMAL);
    CHECK(log.calls == 3 && log.to[2] == WEBLM_MODE_NORMAL);

    /* Close releases everything; free; double free. */
    EXPECT(weblm_client_close(c), WEBLM_OK);
    weblm_usage u;
    EXPECT(weblm_server_usage(primary, VOIP, "5.0", &u), WEBLM_OK);
    CHECK(u.in_use == 0);
    EXPECT(weblm_server_usage(secondary, VOIP, "5.0", &u), WEBLM_OK);
    CHECK(u.in_use == 0);
    EXPECT(weblm_client_free(c), WEBLM_OK);
    EXPECT(weblm_client_free(c), WEBLM_E_INVALID_HANDLE);
    EXPECT(weblm_client_tick(c), WEBLM_E_INVALID_HANDLE);
    EXPECT(weblm_client_free(NULL), WEBLM_OK);

    /* An unreachable HTTP Primary: everything goes to the (embedded) Secondary. */
    cfg.primary_server = NULL;
    cfg.primary_url = "http://127.0.0.1:1";
    cfg.primary_token = "tok";
    cfg.request_timeout_ms = 500;
    remove(nvram);
    EXPECT(weblm_client_start(&cfg, &c), WEBLM_OK);
    EXPECT(weblm_client_feature(c, VOIP, "5.0", &fs), WEBLM_OK);
    CHECK(fs.held_primary == 0 && fs.held_secondary == 20 && fs.held == 20);
    EXPECT(weblm_client_free(c), WEBLM_OK);

    EXPECT(weblm_server_free(primary), WEBLM_OK);
    EXPECT(weblm_server_free(secondary), WEBLM_OK);
    EXPECT(weblm_manual_clock_free(clock), WEBLM_OK);
}

static void test_threads(weblm_license *lic) {
    weblm_server *srv = NULL;
    struct worker w[THREADS];
    pthread_t t[THREADS];
    weblm_usage u;
    uint32_t total = 0;
    EXPECT(weblm_server_new_in_memory(lic, NULL, &srv), WEBLM_OK);
    memset(w, 0, sizeof w);
    for (int i = 0; i < THREADS; i++) {
        w[i].srv = srv;
        CHECK(pthread_create(&t[i], NULL, worker_main, &w[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        CHECK(w[i].errors == 0);
        total += w[i].granted;
    }
    EXPECT(weblm_server_usage(srv, VOIP, "5.0", &u), WEBLM_OK);
    CHECK(total == 20); /* 4 x 10 x 3 asked, 20 entitled: exactly 20 granted */
    CHECK(u.in_use == total && u.available == 0);
    for (int i = 0; i < THREADS; i++)
        for (int j = 0; j < PER_THREAD; j++)
            if (w[i].leases[j] != WEBLM_NO_LEASE)
                EXPECT(weblm_server_release(srv, w[i].leases[j], NULL), WEBLM_OK);
    EXPECT(weblm_server_usage(srv, VOIP, "5.0", &u), WEBLM_OK);
    CHECK(u.in_use == 0);
    EXPECT(weblm_server_free(srv), WEBLM_OK);
}

static void test_license_free(weblm_license *lic) {
    const char *s = NULL;
    weblm_entitlement *e = NULL;
    EXPECT(weblm_license_entitlement(lic, VOIP, "5.0", T0, &e), WEBLM_OK);
    EXPECT(weblm_license_free(lic), WEBLM_OK);
    /* The entitlement is a snapshot: it outlives the license. */
    {
        uint32_t count = 0;
        EXPECT(weblm_entitlement_count(e, &count), WEBLM_OK);
        CHECK(count == 20);
    }
    EXPECT_MSG(weblm_license_free(lic), WEBLM_E_INVALID_HANDLE, "weblm_license");
    EXPECT(weblm_license_host_id(lic, &s), WEBLM_E_INVALID_HANDLE);
    EXPECT(weblm_license_entitlement(lic, VOIP, "5.0", T0, &e), WEBLM_E_INVALID_HANDLE);
    EXPECT(weblm_license_free(NULL), WEBLM_OK);
    EXPECT(weblm_entitlement_free(e), WEBLM_OK);
    EXPECT_MSG(weblm_entitlement_free(e), WEBLM_E_INVALID_HANDLE, "weblm_entitlement");
    {
        uint32_t count = 0;
        EXPECT(weblm_entitlement_count(e, &count), WEBLM_E_INVALID_HANDLE);
    }
    EXPECT(weblm_entitlement_free(NULL), WEBLM_OK);
    /* A handle of one type is not accepted as another. */
    weblm_manual_clock *c = NULL;
    EXPECT(weblm_manual_clock_new(0, &c), WEBLM_OK);
    EXPECT(weblm_license_free((weblm_license *)c), WEBLM_E_INVALID_HANDLE);
    EXPECT(weblm_manual_clock_free(c), WEBLM_OK);
}

/* The pin of plugins/wasm/NAME from plugins/wasm/SHA256SUMS (written by plugins/build.sh). */
static void plugin_pin(const char *pdir, const char *name, char pin[65]) {
    size_t len = 0;
    char *sums = read_file(pdir, "SHA256SUMS", &len);
    char *at = strstr(sums, name);
    pin[0] = 0;
    if (at && at - sums >= 66) {
        memcpy(pin, at - 66, 64);
        pin[64] = 0;
    }
    free(sums);
}

static void test_policies(weblm_license *lic) {
    const char *pdir = getenv("WEBLM_PLUGINS_DIR") ? getenv("WEBLM_PLUGINS_DIR") : "plugins/wasm";
    char lr_pin[65], so_pin[65];
    size_t lr_len = 0, so_len = 0;
    char *lr = read_file(pdir, "largest_remainder.wasm", &lr_len);
    char *so = read_file(pdir, "sentinel_override.wasm", &so_len);
    plugin_pin(pdir, "largest_remainder.wasm", lr_pin);
    plugin_pin(pdir, "sentinel_override.wasm", so_pin);
    CHECK(strlen(lr_pin) == 64 && strlen(so_pin) == 64);
    const uint8_t *lrb = (const uint8_t *)lr, *sob = (const uint8_t *)so;

    weblm_policy *pol = NULL;
    EXPECT(weblm_policy_new(NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_policy_new(&pol), WEBLM_OK);

    /* distribute: native EP rounding, then the C largest-remainder plugin, then native again. */
    weblm_bucket b[4] = {{1, 1, 1, 10}, {2, 1, 2, 10}, {3, 1, 3, 10}, {4, 7, 4, WEBLM_NO_CAP}};
    uint32_t counts[4] = {0};
    weblm_distribute_info info;
    EXPECT(weblm_policy_distribute(pol, 7, 1, b, 4, counts, &info), WEBLM_OK);
    CHECK(counts[0] == 1 && counts[1] == 1 && counts[2] == 1 && counts[3] == 4);
    CHECK(info.generation == 0 && info.fuel_used == 0 && !info.fallback);
    uint64_t gen = 99;
    EXPECT(weblm_policy_load(pol, WEBLM_HOOK_DISTRIBUTE, lrb, lr_len, lr_pin, &gen), WEBLM_OK);
    CHECK(gen == 1);
    EXPECT(weblm_policy_distribute(pol, 7, 1, b, 4, counts, &info), WEBLM_OK);
    CHECK(counts[0] == 1 && counts[1] == 1 && counts[2] == 0 && counts[3] == 5);
    CHECK(info.generation == 1 && info.fuel_used > 0 && !info.fallback);
    EXPECT(weblm_policy_distribute(pol, 7, 1, b, 4, counts, NULL), WEBLM_OK);
    /* Caps hold: 100 licenses, bucket caps 10/10/10 and weight share of bucket 4 = 70. */
    EXPECT(weblm_policy_distribute(pol, 100, 1, b, 4, counts, NULL), WEBLM_OK);
    CHECK(counts[0] == 10 && counts[1] == 10 && counts[2] == 10 && counts[3] == 70);
    /* Errors, with outputs untouched. */
    counts[0] = 12345;
    EXPECT(weblm_policy_distribute(NULL, 7, 1, b, 4, counts, NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_policy_distribute(pol, 7, 1, NULL, 4, counts, NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_policy_distribute(pol, 7, 1, b, 4, NULL, NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_policy_distribute(pol, 7, 1, b, 70000, counts, NULL), WEBLM_E_OUT_OF_RANGE);
    weblm_bucket dup[2] = {{1, 1, 1, 5}, {1, 2, 1, 5}};
    EXPECT_MSG(weblm_policy_distribute(pol, 7, 1, dup, 2, counts, NULL), WEBLM_E_INVALID_ARGUMENT,
               "bucket id 1 appears more than once");
    CHECK(counts[0] == 12345);
    EXPECT(weblm_policy_distribute(pol, 7, 1, NULL, 0, NULL, NULL), WEBLM_OK);

    /* Loading: pins, hooks, arguments. A refused load keeps the running plugin. */
    gen = 99;
    EXPECT_MSG(weblm_policy_load(pol, WEBLM_HOOK_DISTRIBUTE, lrb, lr_len,
                                 "0000000000000000000000000000000000000000000000000000000000000000",
                                 &gen),
               WEBLM_E_PLUGIN, "sha256 mismatch");
    CHECK(gen == 99);
    EXPECT(weblm_policy_load(pol, WEBLM_HOOK_DISTRIBUTE, lrb, lr_len, "abc", NULL),
           WEBLM_E_INVALID_ARGUMENT);
    EXPECT_MSG(weblm_policy_load(pol, WEBLM_HOOK_DISTRIBUTE, sob, so_len, so_pin, NULL),
               WEBLM_E_PLUGIN, "does not implement hook `distribute`");
    EXPECT_MSG(weblm_policy_load(pol, 3, lrb, lr_len, lr_pin, NULL), WEBLM_E_INVALID_ARGUMENT,
               "hook");
    EXPECT(weblm_policy_load(pol, WEBLM_HOOK_DISTRIBUTE, NULL, lr_len, lr_pin, NULL),
           WEBLM_E_NULL_POINTER);
    EXPECT(weblm_policy_load(pol, WEBLM_HOOK_DISTRIBUTE, lrb, lr_len, NULL, NULL),
           WEBLM_E_NULL_POINTER);
    EXPECT(weblm_policy_load(pol, WEBLM_HOOK_DISTRIBUTE, lrb, lr_len, BAD_UTF8, NULL),
           WEBLM_E_INVALID_UTF8);
    EXPECT_MSG(weblm_policy_load(pol, WEBLM_HOOK_DISTRIBUTE, (const uint8_t *)"junk", 4,
                                 "a5e31d3d0ed1bd2d3f6efc9e0f9c8baf1d36e73bd9d6bfc6dd04b9f4e57c7d4c",
                                 NULL),
               WEBLM_E_PLUGIN, "sha256");
    EXPECT(weblm_policy_distribute(pol, 7, 1, b, 4, counts, &info), WEBLM_OK);
    CHECK(info.generation == 1 && counts[3] == 5);
    EXPECT(weblm_policy_unload(pol, WEBLM_HOOK_DISTRIBUTE, &gen), WEBLM_OK);
    CHECK(gen == 2);
    EXPECT(weblm_policy_distribute(pol, 7, 1, b, 4, counts, &info), WEBLM_OK);
    CHECK(counts[3] == 4 && info.generation == 2);
    EXPECT(weblm_policy_unload(pol, 8, NULL), WEBLM_E_INVALID_ARGUMENT);
    EXPECT(weblm_policy_unload(NULL, WEBLM_HOOK_DISTRIBUTE, NULL), WEBLM_E_NULL_POINTER);

    /* resolve_codes: the wasm Sentinel policy decides a server's entitlements. */
    weblm_server *srv = NULL;
    EXPECT(weblm_server_new_in_memory(lic, NULL, &srv), WEBLM_OK);
    if (srv) {
        EXPECT(weblm_server_set_policy(srv, pol), WEBLM_OK);
        EXPECT(weblm_policy_load(pol, WEBLM_HOOK_RESOLVE_CODES, sob, so_len, so_pin, &gen),
               WEBLM_OK);
        CHECK(gen == 1);
        weblm_entitlement *e = NULL;
        uint32_t count = 0;
        EXPECT(weblm_server_entitlement(srv, "ASR", "5.0", &e), WEBLM_OK);
        EXPECT(weblm_entitlement_count(e, &count), WEBLM_OK);
        CHECK(count == 4); /* exclusive 10 then exclusive 4: the last added counts */
        EXPECT(weblm_entitlement_free(e), WEBLM_OK);
        weblm_grant g;
        EXPECT(weblm_server_acquire(srv, "ivr-1", "ASR", "5.0", 9, &g), WEBLM_OK);
        CHECK(g.granted == 4);
        EXPECT(weblm_policy_unload(pol, WEBLM_HOOK_RESOLVE_CODES, NULL), WEBLM_OK);
        EXPECT(weblm_server_set_policy(NULL, pol), WEBLM_E_NULL_POINTER);
        EXPECT(weblm_server_set_policy(srv, NULL), WEBLM_E_NULL_POINTER);
        /* Freeing the policy leaves the server working. */
        EXPECT(weblm_policy_free(pol), WEBLM_OK);
        EXPECT(weblm_server_set_policy(srv, pol), WEBLM_E_INVALID_HANDLE);
        EXPECT(weblm_server_usage(srv, "ASR", "5.0", &(weblm_usage){0}), WEBLM_OK);
        EXPECT(weblm_server_free(srv), WEBLM_OK);
    } else {
        EXPECT(weblm_policy_free(pol), WEBLM_OK);
    }
    EXPECT(weblm_policy_free(pol), WEBLM_E_INVALID_HANDLE);
    EXPECT(weblm_policy_free(NULL), WEBLM_OK);
    free(lr);
    free(so);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s WORKDIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    char *key = read_file(dir, "vendor.pub", NULL);
    char *other_key = read_file(dir, "other.pub", NULL);
    weblm_license *lic = NULL;

    test_versions_and_status();
    test_license_load(dir, key, other_key, &lic);
    if (lic) {
        test_license_queries(lic);
        test_entitlements(lic);
        test_manual_clock();
        test_server(lic, dir, key);
        test_persistent_server(lic, dir);
        test_threads(lic);
        test_policies(lic);
        test_client(lic, dir);
        test_license_free(lic);
    }
    free(key);
    free(other_key);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}
