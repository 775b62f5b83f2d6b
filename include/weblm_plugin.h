/*
 * weblm_plugin.h - writing weblm policy plugins in C (ABI 1.0, see plugins/ABI.md).
 *
 * A plugin is a WebAssembly core module with no imports (no libc, no WASI). Build with:
 *   clang-16 --target=wasm32 -O2 -nostdlib -Wl,--no-entry -Wl,--export-dynamic \
 *            -I include -o plugin.wasm plugin.c
 *
 * This header gives a plugin what it needs without a libc: little-endian readers/writers,
 * a bump allocator (weblm_alloc), the result packing, SplitMix64, and WEBLM_PLUGIN(hooks),
 * which defines weblm_abi_version, weblm_hooks and weblm_alloc. The plugin then defines the
 * hook functions it declares, e.g.
 *
 *   #include "weblm_plugin.h"
 *   WEBLM_PLUGIN(WEBLM_HOOK_DISTRIBUTE)
 *   WEBLM_EXPORT int64_t weblm_distribute(int32_t ptr, int32_t len) { ... }
 *
 * Every call runs in a fresh instance, so allocated memory is never freed.
 */
#ifndef WEBLM_PLUGIN_H
#define WEBLM_PLUGIN_H

#include <stdint.h>
#include <stddef.h>

#define WEBLM_ABI_MAJOR 1
#define WEBLM_ABI_MINOR 0
#define WEBLM_ABI_VERSION ((WEBLM_ABI_MAJOR << 16) | WEBLM_ABI_MINOR)

#define WEBLM_HOOK_RESOLVE_CODES 1
#define WEBLM_HOOK_DISTRIBUTE 2
#define WEBLM_HOOK_COMPLIANCE 4

/* Negative return values are the plugin's own errors. */
#define WEBLM_ERR_BAD_INPUT (-1)
#define WEBLM_ERR_NO_MEMORY (-2)

/* Byte sizes of the ABI records. */
#define WEBLM_DIST_IN_HEADER 16
#define WEBLM_DIST_IN_BUCKET 16
#define WEBLM_DIST_OUT_HEADER 8
#define WEBLM_DIST_OUT_ENTRY 16
#define WEBLM_RESOLVE_IN_HEADER 16
#define WEBLM_RESOLVE_IN_CODE 48
#define WEBLM_RESOLVE_OUT_HEADER 32
#define WEBLM_RESOLVE_OUT_DECISION 24
#define WEBLM_COMPLIANCE_IN 80
#define WEBLM_COMPLIANCE_OUT 16

/* Compliance modes. */
#define WEBLM_MODE_NORMAL 0
#define WEBLM_MODE_GRACE 1
#define WEBLM_MODE_RESTRICTED 2
#define WEBLM_MODE_TRIAL 3
#define WEBLM_MODE_OVER_USE_ALERT 4
#define WEBLM_MODE_DEACTIVATED 5

#define WEBLM_EXPORT __attribute__((visibility("default")))

static inline uint32_t weblm_rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t weblm_rd_u64(const uint8_t *p) {
    return (uint64_t)weblm_rd_u32(p) | (uint64_t)weblm_rd_u32(p + 4) << 32;
}
static inline void weblm_wr_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void weblm_wr_u64(uint8_t *p, uint64_t v) {
    weblm_wr_u32(p, (uint32_t)v);
    weblm_wr_u32(p + 4, (uint32_t)(v >> 32));
}

/* SplitMix64, exactly as the host's (plugins/ABI.md, "Randomness"). */
typedef struct { uint64_t state; } weblm_splitmix64;
static inline uint64_t weblm_splitmix64_next(weblm_splitmix64 *g) {
    uint64_t z;
    g->state += 0x9E3779B97F4A7C15ull;
    z = g->state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Bump allocator over linear memory, growing it as needed; returns 0 when memory is denied. */
extern unsigned char __heap_base;
static uintptr_t weblm__top;
static inline void *weblm_malloc(size_t n) {
    uintptr_t p, end, have;
    if (weblm__top == 0) weblm__top = (uintptr_t)&__heap_base;
    p = (weblm__top + 7u) & ~(uintptr_t)7u;
    end = p + n;
    if (end < p) return 0;
    have = __builtin_wasm_memory_size(0) * 65536u;
    if (end > have) {
        size_t pages = (end - have + 65535u) / 65536u;
        if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) return 0;
    }
    weblm__top = end;
    return (void *)p;
}

/* Packs an output region into a hook's return value. */
static inline int64_t weblm_pack(const void *ptr, uint32_t len) {
    return (int64_t)(((uint64_t)len << 32) | (uint32_t)(uintptr_t)ptr);
}

/* Defines weblm_abi_version, weblm_hooks (HOOKS = OR of WEBLM_HOOK_*) and weblm_alloc. */
#define WEBLM_PLUGIN(HOOKS)                                                                  \
    WEBLM_EXPORT int32_t weblm_abi_version(void) { return WEBLM_ABI_VERSION; }              \
    WEBLM_EXPORT int32_t weblm_hooks(void) { return (HOOKS); }                               \
    WEBLM_EXPORT int32_t weblm_alloc(int32_t len) {                                          \
        return (int32_t)(uintptr_t)weblm_malloc(len < 0 ? 0 : (size_t)len);                  \
    }

#endif /* WEBLM_PLUGIN_H */
