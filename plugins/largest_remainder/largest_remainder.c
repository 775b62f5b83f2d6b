/*
 * Largest-remainder rounding: a vendor variant of the weblm `distribute` hook, in C.
 *
 * Mirrors weblm_core::distribute::LargestRemainderPolicy exactly. Each bucket first gets
 * min(floor(L*w/W), cap). The rounding remainder L - sum(floor) goes one license per bucket,
 * in a single pass, to the buckets with the largest fractional part (L*w mod W) first; ties by
 * priority (1 first), then the SplitMix64 key, then input order. Zero-weight and capped
 * buckets are skipped; what is left stays unused. Only the receivers matter (each gets one),
 * so a heap yields the first `remainder` eligible buckets without a full sort.
 */
#include "weblm_plugin.h"

WEBLM_PLUGIN(WEBLM_HOOK_DISTRIBUTE)

typedef struct {
    uint32_t id, weight, priority, cap;
    uint64_t key, frac, count;
} bucket;

/* Remainder order: 1 when a comes before b. */
static int before(const bucket *bs, uint32_t a, uint32_t b) {
    const bucket *x = &bs[a], *y = &bs[b];
    if (x->frac != y->frac) return x->frac > y->frac;
    if (x->priority != y->priority) return x->priority < y->priority;
    if (x->key != y->key) return x->key < y->key;
    return a < b;
}

/* A heap over idx[0..n) whose root comes first in the remainder order. */
static void sift(const bucket *bs, uint32_t *idx, uint32_t root, uint32_t n) {
    for (;;) {
        uint32_t child = 2 * root + 1, t;
        if (child >= n) return;
        if (child + 1 < n && before(bs, idx[child + 1], idx[child])) child++;
        if (!before(bs, idx[child], idx[root])) return;
        t = idx[root]; idx[root] = idx[child]; idx[child] = t;
        root = child;
    }
}

WEBLM_EXPORT int64_t weblm_distribute(int32_t ptr, int32_t len) {
    const uint8_t *in = (const uint8_t *)(uintptr_t)ptr;
    uint32_t total, n, i, m = 0;
    uint64_t seed, sum_w = 0, floors = 0, remainder;
    weblm_splitmix64 g;
    bucket *bs;
    uint32_t *idx;
    uint8_t *out;

    if (len < WEBLM_DIST_IN_HEADER) return WEBLM_ERR_BAD_INPUT;
    total = weblm_rd_u32(in);
    n = weblm_rd_u32(in + 4);
    seed = weblm_rd_u64(in + 8);
    if ((uint64_t)len != WEBLM_DIST_IN_HEADER + (uint64_t)WEBLM_DIST_IN_BUCKET * n)
        return WEBLM_ERR_BAD_INPUT;
    bs = weblm_malloc(sizeof(bucket) * (size_t)n);
    idx = weblm_malloc(sizeof(uint32_t) * (size_t)n);
    out = weblm_malloc(WEBLM_DIST_OUT_HEADER + (size_t)WEBLM_DIST_OUT_ENTRY * n);
    if ((n && (!bs || !idx)) || !out) return WEBLM_ERR_NO_MEMORY;

    g.state = seed;
    for (i = 0; i < n; i++) {
        const uint8_t *r = in + WEBLM_DIST_IN_HEADER + WEBLM_DIST_IN_BUCKET * i;
        bs[i].id = weblm_rd_u32(r);
        bs[i].weight = weblm_rd_u32(r + 4);
        bs[i].priority = weblm_rd_u32(r + 8);
        bs[i].cap = weblm_rd_u32(r + 12);
        bs[i].key = weblm_splitmix64_next(&g);
        bs[i].count = 0;
        bs[i].frac = 0;
        sum_w += bs[i].weight;
    }
    if (sum_w > 0 && total > 0) {
        for (i = 0; i < n; i++) {
            uint64_t prod = (uint64_t)total * bs[i].weight;
            uint64_t fl = prod / sum_w;
            bs[i].frac = prod % sum_w;
            floors += fl;
            bs[i].count = fl < bs[i].cap ? fl : bs[i].cap;
            /* Eligible for one more license: weight > 0 and below the cap. */
            if (bs[i].weight > 0 && bs[i].count < bs[i].cap) idx[m++] = i;
        }
        remainder = (uint64_t)total - floors;
        /* Each eligible bucket gets at most one: pop the first `remainder` of the order from a
         * heap (O(n + r log n)) instead of sorting everything. */
        if (remainder > 0 && m > 0) {
            for (i = m / 2; i > 0; i--) sift(bs, idx, i - 1, m);
            while (remainder > 0 && m > 0) {
                bs[idx[0]].count++;
                remainder--;
                idx[0] = idx[--m];
                sift(bs, idx, 0, m);
            }
        }
    }
    weblm_wr_u32(out, n);
    weblm_wr_u32(out + 4, 0);
    for (i = 0; i < n; i++) {
        uint8_t *e = out + WEBLM_DIST_OUT_HEADER + WEBLM_DIST_OUT_ENTRY * i;
        weblm_wr_u32(e, bs[i].id);
        weblm_wr_u32(e + 4, 0);
        weblm_wr_u64(e + 8, bs[i].count);
    }
    return weblm_pack(out, WEBLM_DIST_OUT_HEADER + WEBLM_DIST_OUT_ENTRY * n);
}
