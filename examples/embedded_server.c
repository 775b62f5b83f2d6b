/*
 * Embedding the weblm license server in an IR process: load and verify the license file,
 * show what it is worth, then take and give back VoIP port licenses.
 *
 * Build: cc embedded_server.c $(pkg-config --cflags --libs weblm) -o embedded_server
 * Run:   ./embedded_server license.toml vendor.pub HOST_ID state.db
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <weblm.h>

/* Print the failed call's status name and message, then stop. */
static void check(weblm_status st, const char *what) {
    if (st != WEBLM_OK) {
        fprintf(stderr, "%s failed: %s: %s\n", what, weblm_status_str(st), weblm_last_error());
        exit(1);
    }
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(1); }
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s LICENSE PUBLIC_KEY HOST_ID STATE_DB\n", argv[0]);
        return 2;
    }
    if (weblm_abi_version() != WEBLM_ABI_VERSION) {
        fprintf(stderr, "libweblm ABI %u, this program was built for %u\n",
                weblm_abi_version(), WEBLM_ABI_VERSION);
        return 1;
    }
    printf("libweblm %s\n", weblm_version());

    /* 1. Load and verify: signature, host id, product version. */
    weblm_license *license = NULL;
    check(weblm_license_load_file(argv[1], read_text(argv[2]), argv[3], "5.0", &license),
          "loading the license file");

    /* 2. What each feature is worth, and why. */
    size_t features = 0;
    check(weblm_license_feature_count(license, &features), "counting features");
    for (size_t i = 0; i < features; i++) {
        const char *feature, *version;
        weblm_entitlement *ent = NULL;
        uint32_t count = 0;
        size_t codes = 0;
        check(weblm_license_feature_at(license, i, &feature, &version), "listing features");
        check(weblm_license_entitlement(license, feature, version, (int64_t)time(NULL), &ent),
              "resolving an entitlement");
        check(weblm_entitlement_count(ent, &count), "reading the count");
        check(weblm_entitlement_code_count(ent, &codes), "reading the codes");
        printf("%s %s: %u licenses\n", feature, version, count);
        for (size_t c = 0; c < codes; c++) {
            weblm_code_decision d;
            check(weblm_entitlement_code_at(ent, c, &d), "reading a code");
            printf("    #%u count %u: %s\n", d.position, d.count, d.text);
        }
        weblm_entitlement_free(ent);
    }

    /* 3. The embedded server, with its state in a SQLite file. */
    weblm_server *server = NULL;
    check(weblm_server_new(license, argv[4], NULL, &server), "starting the server");
    weblm_license_free(license); /* the server keeps its own copy */

    weblm_grant grant;
    check(weblm_server_acquire(server, "ir-process", "VALUE_IR_VOIP_PORTS", "5.0", 35, &grant),
          "acquiring ports");
    printf("VALUE_IR_VOIP_PORTS: granted %u of %u (lease %llu)\n", grant.granted, grant.wanted,
           (unsigned long long)grant.lease);

    weblm_usage usage;
    check(weblm_server_usage(server, "VALUE_IR_VOIP_PORTS", "5.0", &usage), "reading usage");
    printf("in use %llu, available %llu of %u\n", (unsigned long long)usage.in_use,
           (unsigned long long)usage.available, usage.entitled);

    if (grant.lease != WEBLM_NO_LEASE) {
        int64_t expires = 0;
        /* Renew before the lease lifetime (600 s by default) runs out, e.g. at 80 %. */
        check(weblm_server_renew(server, grant.lease, &expires), "renewing");
        check(weblm_server_release(server, grant.lease, NULL), "releasing");
    }
    weblm_server_free(server);
    return 0;
}
