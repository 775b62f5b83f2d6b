/*
 * C tests of libweblm's allocation and license-inventory functions (docs/allocation.md,
 * docs/compliance.md): the what-if planner JSON and its buffer rules, the tenant split, PAK
 * fulfilment (partial, the exact empty-PAK message, upgrade bounds), rehost, alerts JSON, the
 * compliance engine on a manual clock (trial, deactivation, restore, over-use, lost contact,
 * fail-over, webhook settings), and the error paths (NULL, bad UTF-8, double free, refused
 * configurations).
 *
 * Usage: test_alloc WORKDIR   (WORKDIR: a writable directory for the database file)
 * Prints one line per failure and a closing "N passed, N failed" line; exits 1 on any failure.
 */
#include <stdbool.h>
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

#define EXPECT_MSG(call, want, needle)                                                    \
    do {                                                                                  \
        EXPECT(call, want);                                                               \
        CHECK(strstr(weblm_last_error(), (needle)) != NULL);                              \
    } while (0)

#define T0 1795514400LL /* 2026-11-24T10:00:00Z */

static const char BAD_UTF8[] = {'a', (char)0xff, 'b', 0};

static const char *PLAN =
    "system_licenses = 100\n"
    "seed = 7\n"
    "[tenant]\n"
    "sip = 60\n"
    "h323 = 90\n"
    "[[zone]]\nname = \"east\"\nassigned = 50\npriority = 3\n"
    "[[zone]]\nname = \"west\"\nassigned = 30\n"
    "[[zone]]\nname = \"north\"\nassigned = 20\npriority = 2\n";

static void test_plan(void) {
    size_t len = 0;
    EXPECT(weblm_alloc_plan_json(NULL, PLAN, 33, NULL, 0, &len), WEBLM_OK);
    CHECK(len > 0);
    char *buf = malloc(len + 1);
    /* One byte short: refused, nothing written. */
    size_t len2 = 12345;
    memset(buf, 'x', len + 1);
    EXPECT_MSG(weblm_alloc_plan_json(NULL, PLAN, 33, buf, len, &len2), WEBLM_E_OUT_OF_RANGE,
               "are needed");
    CHECK(len2 == 12345);
    CHECK(buf[0] == 'x');
    EXPECT(weblm_alloc_plan_json(NULL, PLAN, 33, buf, len + 1, &len2), WEBLM_OK);
    CHECK(len2 == len);
    CHECK(buf[len] == '\0');
    CHECK(strlen(buf) == len);
    /* Zones 50/30/20 cut to 33: 16, 10, 7; SIP 13, H.323 20. */
    CHECK(strstr(buf, "\"name\":\"east\",\"assigned\":50,\"cap\":50,\"granted\":16") != NULL);
    CHECK(strstr(buf, "\"name\":\"west\",\"assigned\":30,\"cap\":30,\"granted\":10") != NULL);
    CHECK(strstr(buf, "\"name\":\"north\",\"assigned\":20,\"cap\":20,\"granted\":7") != NULL);
    CHECK(strstr(buf, "\"tenant\":{\"sip\":13,\"h323\":20,\"unused\":0}") != NULL);
    free(buf);

    EXPECT_MSG(weblm_alloc_plan_json(NULL, "system_licenses = 10\n[[zone]]\nname = \"a\"\n"
                                     "assigned = 11\n",
                                     5, NULL, 0, &len),
               WEBLM_E_INVALID_ARGUMENT, "zones would be assigned 11 licenses");
    EXPECT_MSG(weblm_alloc_plan_json(NULL, "nonsense = [", 5, NULL, 0, &len),
               WEBLM_E_INVALID_ARGUMENT, "TOML");
    EXPECT(weblm_alloc_plan_json(NULL, NULL, 5, NULL, 0, &len), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_alloc_plan_json(NULL, PLAN, 5, NULL, 0, NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_alloc_plan_json(NULL, BAD_UTF8, 5, NULL, 0, &len), WEBLM_E_INVALID_UTF8);
    char small[4];
    EXPECT(weblm_alloc_plan_json(NULL, PLAN, 5, NULL, sizeof small, &len), WEBLM_E_NULL_POINTER);
}

static void test_plan_with_policy(void) {
    /* A policy handle without a plugin answers with the native EP rounding. */
    weblm_policy *policy = NULL;
    EXPECT(weblm_policy_new(&policy), WEBLM_OK);
    char buf[8192];
    size_t len = 0;
    EXPECT(weblm_alloc_plan_json(policy, PLAN, 33, buf, sizeof buf, &len), WEBLM_OK);
    CHECK(strstr(buf, "\"name\":\"east\",\"assigned\":50,\"cap\":50,\"granted\":16") != NULL);
    EXPECT(weblm_policy_free(policy), WEBLM_OK);
    EXPECT(weblm_alloc_plan_json(policy, PLAN, 33, buf, sizeof buf, &len),
           WEBLM_E_INVALID_HANDLE);
}

static void test_tenant_split(void) {
    uint32_t sip = 99, h323 = 99;
    EXPECT(weblm_alloc_tenant_split(100, 60, 90, &sip, &h323), WEBLM_OK);
    CHECK(sip == 40 && h323 == 60);
    EXPECT(weblm_alloc_tenant_split(10, 10, 20, &sip, &h323), WEBLM_OK);
    CHECK(sip == 3 && h323 == 7);
    EXPECT(weblm_alloc_tenant_split(50, 0, 0, &sip, &h323), WEBLM_OK);
    CHECK(sip == 0 && h323 == 0);
    EXPECT(weblm_alloc_tenant_split(50, 20, 10, &sip, &h323), WEBLM_OK);
    CHECK(sip == 20 && h323 == 10);
    EXPECT(weblm_alloc_tenant_split(1, 1, 1, NULL, &h323), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_alloc_tenant_split(1, 1, 1, &sip, NULL), WEBLM_E_NULL_POINTER);
}

static void test_paks(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/alloc-test-plm.db", dir);
    remove(path);
    weblm_plm_db *db = NULL;
    EXPECT(weblm_plm_db_open(path, &db), WEBLM_OK);
    CHECK(db != NULL);
    uint32_t got = 0, left = 0;
    uint64_t n = 0;

    EXPECT(weblm_pak_register(db, "PAK123", "USER", "2.0", 10, NULL), WEBLM_OK);
    EXPECT(weblm_pak_register(db, "PAK123", "USER", "2.0", 10, NULL), WEBLM_E_INVALID_ARGUMENT);
    EXPECT(weblm_pak_fulfil(db, "PAK123", "sys-a", 4, T0, &got, &left), WEBLM_OK);
    CHECK(got == 4 && left == 6);
    EXPECT_MSG(weblm_pak_fulfil(db, "PAK123", "sys-a", 7, T0, &got, &left),
               WEBLM_E_OUT_OF_RANGE, "has 6 licenses remaining; 7 were requested");
    CHECK(got == 4 && left == 6); /* untouched on failure */
    EXPECT(weblm_pak_fulfil(db, "PAK123", "sys-a", 6, T0, &got, &left), WEBLM_OK);
    CHECK(got == 6 && left == 0);
    EXPECT(weblm_pak_fulfil(db, "PAK123", "sys-a", 1, T0, &got, &left), WEBLM_E_OUT_OF_RANGE);
    CHECK(strcmp(weblm_last_error(),
                 "The PAK you have entered, PAK123, cannot be fulfilled because there are no "
                 "licenses remaining in the PAK") == 0);
    EXPECT(weblm_pak_installed(db, "sys-a", "USER", "2.0", &n), WEBLM_OK);
    CHECK(n == 10);

    /* Upgrade PAK: 100 asked, 30 old licenses installed -> 30 upgraded, 70 left. */
    EXPECT(weblm_pak_register(db, "OLD", "USER", "1.0", 30, NULL), WEBLM_OK);
    EXPECT(weblm_pak_fulfil(db, "OLD", "sys-a", 30, T0, &got, &left), WEBLM_OK);
    EXPECT(weblm_pak_register(db, "UP", "USER", "3.0", 100, "1.0"), WEBLM_OK);
    EXPECT(weblm_pak_fulfil(db, "UP", "sys-a", 100, T0, &got, &left), WEBLM_OK);
    CHECK(got == 30 && left == 70);
    EXPECT_MSG(weblm_pak_fulfil(db, "UP", "sys-a", 1, T0, &got, &left), WEBLM_E_OUT_OF_RANGE,
               "The upgrade PAK you have entered, UP, cannot be fulfilled");
    EXPECT(weblm_pak_installed(db, "sys-a", "USER", "1.0", &n), WEBLM_OK);
    CHECK(n == 0);
    EXPECT(weblm_pak_installed(db, "sys-a", "USER", "3.0", &n), WEBLM_OK);
    CHECK(n == 30);

    /* Rehost: everything valid moves; nothing left to move afterwards. */
    EXPECT(weblm_pak_rehost(db, "sys-a", "sys-b", T0, &n), WEBLM_OK);
    CHECK(n == 40);
    EXPECT(weblm_pak_installed(db, "sys-a", "USER", "2.0", &n), WEBLM_OK);
    CHECK(n == 0);
    EXPECT(weblm_pak_installed(db, "sys-b", "USER", "2.0", &n), WEBLM_OK);
    CHECK(n == 10);
    EXPECT(weblm_pak_rehost(db, "sys-a", "sys-b", T0, &n), WEBLM_E_OUT_OF_RANGE);
    EXPECT(weblm_pak_rehost(db, "sys-b", "sys-b", T0, &n), WEBLM_E_INVALID_ARGUMENT);

    /* Argument errors. */
    EXPECT(weblm_pak_fulfil(db, "NOPE", "sys-a", 1, T0, &got, &left), WEBLM_E_INVALID_ARGUMENT);
    EXPECT(weblm_pak_fulfil(db, NULL, "sys-a", 1, T0, &got, &left), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_pak_fulfil(db, "PAK123", BAD_UTF8, 1, T0, &got, &left), WEBLM_E_INVALID_UTF8);
    EXPECT(weblm_pak_fulfil(db, "PAK123", "sys-a", 1, T0, NULL, &left), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_pak_register(db, "", "USER", "2.0", 1, NULL), WEBLM_E_INVALID_ARGUMENT);
    EXPECT(weblm_pak_installed(NULL, "a", "b", "c", &n), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_pak_installed(db, "a", "b", "c", NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_pak_rehost(db, "a", "b", T0, NULL), WEBLM_E_NULL_POINTER);

    /* Alerts: none raised in this database. */
    size_t len = 0;
    char buf[16];
    EXPECT(weblm_plm_alerts_json(db, false, NULL, 0, &len), WEBLM_OK);
    CHECK(len == 2);
    EXPECT(weblm_plm_alerts_json(db, true, buf, sizeof buf, &len), WEBLM_OK);
    CHECK(strcmp(buf, "[]") == 0);
    EXPECT(weblm_plm_alerts_json(db, true, buf, sizeof buf, NULL), WEBLM_E_NULL_POINTER);

    EXPECT(weblm_plm_db_free(db), WEBLM_OK);
    EXPECT(weblm_plm_db_free(db), WEBLM_E_INVALID_HANDLE);
    EXPECT(weblm_pak_installed(db, "sys-b", "USER", "2.0", &n), WEBLM_E_INVALID_HANDLE);
    EXPECT(weblm_plm_db_free(NULL), WEBLM_OK);

    /* Persistence: reopen the file. */
    EXPECT(weblm_plm_db_open(path, &db), WEBLM_OK);
    EXPECT(weblm_pak_installed(db, "sys-b", "USER", "2.0", &n), WEBLM_OK);
    CHECK(n == 10);
    EXPECT(weblm_plm_db_free(db), WEBLM_OK);
    remove(path);

    weblm_plm_db *mem = NULL;
    EXPECT(weblm_plm_db_open_in_memory(&mem), WEBLM_OK);
    EXPECT(weblm_pak_installed(mem, "x", "USER", "2.0", &n), WEBLM_OK);
    CHECK(n == 0);
    EXPECT(weblm_plm_db_free(mem), WEBLM_OK);
    EXPECT(weblm_plm_db_open_in_memory(NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_plm_db_open(NULL, &mem), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_plm_db_open("/nonexistent-dir/x/plm.db", &mem), WEBLM_E_STATE_DB);
}

static char *status_json(weblm_plm *plm) {
    size_t len = 0;
    EXPECT(weblm_plm_status_json(plm, NULL, 0, &len), WEBLM_OK);
    char *buf = malloc(len + 1);
    EXPECT(weblm_plm_status_json(plm, buf, len + 1, &len), WEBLM_OK);
    return buf;
}

static int status_has(weblm_plm *plm, const char *needle) {
    char *s = status_json(plm);
    int found = strstr(s, needle) != NULL;
    if (!found) fprintf(stderr, "status lacks %s: %s\n", needle, s);
    free(s);
    return found;
}

static void days(weblm_manual_clock *clock, weblm_plm *plm, int n) {
    for (int i = 0; i < 2 * n; i++) {
        weblm_manual_clock_advance(clock, 12 * 3600);
        if (weblm_plm_tick(plm) != WEBLM_OK) {
            failed++;
            fprintf(stderr, "tick failed: %s\n", weblm_last_error());
            return;
        }
    }
}

static void test_plm(void) {
    weblm_manual_clock *clock = NULL;
    weblm_plm_db *db = NULL;
    weblm_plm *plm = NULL;
    bool up = false;
    uint32_t got, left;
    EXPECT(weblm_manual_clock_new(T0, &clock), WEBLM_OK);
    EXPECT(weblm_plm_db_open_in_memory(&db), WEBLM_OK);

    EXPECT_MSG(weblm_plm_new(db, clock, "{\"analysis_hour\": 25}", &plm),
               WEBLM_E_INVALID_ARGUMENT, "25:00");
    EXPECT_MSG(weblm_plm_new(db, clock, "{\"nope\": 1}", &plm), WEBLM_E_INVALID_ARGUMENT,
               "unknown field");
    EXPECT(weblm_plm_new(db, clock, NULL, NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_plm_new(NULL, clock, NULL, &plm), WEBLM_E_NULL_POINTER);

    /* A fresh deployment without licenses: free trial for 180 days, end date visible. */
    EXPECT(weblm_plm_new(db, clock, "{\"system_id\": \"cwms-01\"}", &plm), WEBLM_OK);
    CHECK(status_has(plm, "\"mode\":\"trial\""));
    CHECK(status_has(plm, "\"trial_end\":\"2027-05-23T10:00:00Z\""));
    EXPECT(weblm_plm_service_available(plm, &up), WEBLM_OK);
    CHECK(up);
    days(clock, plm, 180);
    CHECK(status_has(plm, "\"mode\":\"deactivated\""));
    EXPECT(weblm_plm_service_available(plm, &up), WEBLM_OK);
    CHECK(!up);

    /* Administration still works: install licenses, analyse, service back at once. */
    EXPECT(weblm_pak_register(db, "P1", "USER", "2.0", 10, NULL), WEBLM_OK);
    EXPECT(weblm_pak_fulfil(db, "P1", "cwms-01", 10, T0, &got, &left), WEBLM_OK);
    EXPECT(weblm_plm_analyze_now(plm), WEBLM_OK);
    CHECK(status_has(plm, "\"mode\":\"normal\""));
    CHECK(status_has(plm, "\"installed\":10"));
    EXPECT(weblm_plm_service_available(plm, &up), WEBLM_OK);
    CHECK(up);

    /* Over-use: licenses exceeded, disable date six months on. */
    EXPECT(weblm_plm_record_usage(plm, 12), WEBLM_OK);
    CHECK(status_has(plm, "\"mode\":\"over_use_alert\""));
    CHECK(status_has(plm, "\"kinds\":[\"over_use\"]"));
    char alerts[8192];
    size_t len = 0;
    EXPECT(weblm_plm_alerts_json(db, false, alerts, sizeof alerts, &len), WEBLM_OK);
    CHECK(strstr(alerts, "\"kind\":\"licenses_exceeded\"") != NULL);
    EXPECT(weblm_plm_record_usage(plm, 10), WEBLM_OK);
    CHECK(status_has(plm, "\"mode\":\"normal\""));

    /* No contact for two days: invalid licenses. */
    EXPECT(weblm_plm_set_license_manager_reachable(plm, false), WEBLM_OK);
    days(clock, plm, 3);
    CHECK(status_has(plm, "\"kinds\":[\"invalid\"]"));
    EXPECT(weblm_plm_set_license_manager_reachable(plm, true), WEBLM_OK);
    days(clock, plm, 1);
    CHECK(status_has(plm, "\"mode\":\"normal\""));

    /* Fail-over to a node without the license manager: trial. */
    EXPECT(weblm_plm_failover(plm, false), WEBLM_OK);
    CHECK(status_has(plm, "\"reason\":\"failover\""));

    /* Webhook configuration. */
    EXPECT_MSG(weblm_plm_set_webhook(plm, "https://x", 1000), WEBLM_E_INVALID_ARGUMENT,
               "only http://");
    EXPECT(weblm_plm_set_webhook(plm, "http://127.0.0.1:9/", 0), WEBLM_E_INVALID_ARGUMENT);
    EXPECT(weblm_plm_set_webhook(plm, "http://127.0.0.1:9/", 500), WEBLM_OK);
    EXPECT(weblm_plm_set_webhook(plm, NULL, 0), WEBLM_OK);

    EXPECT(weblm_plm_service_available(plm, NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_plm_status_json(plm, NULL, 0, NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_plm_free(plm), WEBLM_OK);
    EXPECT(weblm_plm_free(plm), WEBLM_E_INVALID_HANDLE);
    EXPECT(weblm_plm_tick(plm), WEBLM_E_INVALID_HANDLE);
    EXPECT(weblm_plm_free(NULL), WEBLM_OK);

    /* Reopened over the same database: the state is kept (not a new deployment). */
    EXPECT(weblm_plm_new(db, clock, NULL, &plm), WEBLM_OK);
    CHECK(status_has(plm, "\"reason\":\"failover\""));
    EXPECT(weblm_plm_free(plm), WEBLM_OK);
    EXPECT(weblm_plm_db_free(db), WEBLM_OK);
    EXPECT(weblm_manual_clock_free(clock), WEBLM_OK);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s WORKDIR\n", argv[0]);
        return 2;
    }
    test_plan();
    test_plan_with_policy();
    test_tenant_split();
    test_paks(argv[1]);
    test_plm();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}
