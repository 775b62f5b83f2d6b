/*
 * Benchmark: acquire+release pairs through the C ABI against an in-memory embedded server
 * (system clock, default config). The same loop in Rust is ffi/benches/acquire_release.rs;
 * ffi/bench/run.sh runs both and prints the ratio.
 *
 * Usage: acquire_release LICENSE PUBLIC_KEY HOST_ID   (the license grants >= 1 VALUE_IR_VOIP_PORTS 5.0)
 * Prints: "C ABI from C: <ns> ns/pair" (median of rounds).
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "weblm.h"

#define PAIRS 200000
#define ROUNDS 7

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void check(weblm_status st, const char *what) {
    if (st != WEBLM_OK) {
        fprintf(stderr, "%s: %s: %s\n", what, weblm_status_str(st), weblm_last_error());
        exit(1);
    }
}

static double round_ns(weblm_server *srv) {
    weblm_grant g;
    double t = now_ns();
    for (int i = 0; i < PAIRS; i++) {
        check(weblm_server_acquire(srv, "bench-client", "VALUE_IR_VOIP_PORTS", "5.0", 1, &g),
              "acquire");
        check(weblm_server_release(srv, g.lease, NULL), "release");
    }
    return (now_ns() - t) / PAIRS;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s LICENSE PUBLIC_KEY HOST_ID\n", argv[0]);
        return 2;
    }
    static char key[4096];
    FILE *f = fopen(argv[2], "rb");
    if (!f) { perror(argv[2]); return 1; }
    key[fread(key, 1, sizeof key - 1, f)] = 0;
    fclose(f);

    weblm_license *lic = NULL;
    weblm_server *srv = NULL;
    check(weblm_license_load_file(argv[1], key, argv[3], NULL, &lic), "load");
    check(weblm_server_new_in_memory(lic, NULL, &srv), "server");
    round_ns(srv); /* warm-up */
    double r[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) r[i] = round_ns(srv);
    qsort(r, ROUNDS, sizeof r[0], cmp);
    printf("C ABI from C: %.1f ns/pair (%d pairs x %d rounds, median)\n", r[ROUNDS / 2], PAIRS,
           ROUNDS);
    weblm_server_free(srv);
    weblm_license_free(lic);
    return 0;
}
