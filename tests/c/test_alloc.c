/*
 * C tests of libweblm's allocation and license-inventory functions (docs/allocation.md,
 * docs/compliance.md): the what-if planner JSON and its buffer rules, the tenant split, PAK
 * fulfilment (partial, the exact empty-PAK message, upgrade bounds), rehost, alerts JSON, and
 * the error paths (NULL, bad UTF-8, double free, refused configurations).
 *
 * Usage: test_alloc WORKDIR   (WORKDIR: a writable directory for the database file)
 * Prints one line per failure and a closing "N passed, N failed" line; exits 1 on any failure.
 */
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
    EXPECT(weblm_alloc_plan_json(PLAN, 33, NULL, 0, &len), WEBLM_OK);
    CHECK(len > 0);
    char *buf = malloc(len + 1);
    /* One byte short: refused, nothing written. */
    size_t len2 = 12345;
    memset(buf, 'x', len + 1);
    EXPECT_MSG(weblm_alloc_plan_json(PLAN, 33, buf, len, &len2), WEBLM_E_OUT_OF_RANGE,
               "are needed");
    CHECK(len2 == 12345);
    CHECK(buf[0] == 'x');
    EXPECT(weblm_alloc_plan_json(PLAN, 33, buf, len + 1, &len2), WEBLM_OK);
    CHECK(len2 == len);
    CHECK(buf[len] == '\0');
    CHECK(strlen(buf) == len);
    /* Zones 50/30/20 cut to 33: 16, 10, 7; SIP 13, H.323 20. */
    CHECK(strstr(buf, "\"name\":\"east\",\"assigned\":50,\"cap\":50,\"granted\":16") != NULL);
    CHECK(strstr(buf, "\"name\":\"west\",\"assigned\":30,\"cap\":30,\"granted\":10") != NULL);
    CHECK(strstr(buf, "\"name\":\"north\",\"assigned\":20,\"cap\":20,\"granted\":7") != NULL);
    CHECK(strstr(buf, "\"tenant\":{\"sip\":13,\"h323\":20,\"unused\":0}") != NULL);
    free(buf);

    EXPECT_MSG(weblm_alloc_plan_json("system_licenses = 10\n[[zone]]\nname = \"a\"\n"
                                     "assigned = 11\n",
                                     5, NULL, 0, &len),
               WEBLM_E_INVALID_ARGUMENT, "zones would be assigned 11 licenses");
    EXPECT_MSG(weblm_alloc_plan_json("nonsense = [", 5, NULL, 0, &len),
               WEBLM_E_INVALID_ARGUMENT, "TOML");
    EXPECT(weblm_alloc_plan_json(NULL, 5, NULL, 0, &len), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_alloc_plan_json(PLAN, 5, NULL, 0, NULL), WEBLM_E_NULL_POINTER);
    EXPECT(weblm_alloc_plan_json(BAD_UTF8, 5, NULL, 0, &len), WEBLM_E_INVALID_UTF8);
    char small[4];
    EXPECT(weblm_alloc_plan_json(PLAN, 5, NULL, sizeof small, &len), WEBLM_E_NULL_POINTER);
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

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s WORKDIR\n", argv[0]);
        return 2;
    }
    test_plan();
    test_tenant_split();
    test_paks(argv[1]);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}
