/* The GEMM's level: its table (t4j_gemm_current), the register tile a shape takes (t4j_gemm_tile_for), the cache blocks
 * in use (the level's, or those the autotuner set) and the level's FMA peak loop (ARCHITECTURE.md, "GEMM"). */
#include <stdatomic.h>

#include "gemm_driver.h"

/* ---- cache blocks: the level's, unless set (the autotuner's choice; ARCHITECTURE.md, "Numerics": a K block
 * splits the sum, so results are bitwise identical for any thread count at one setting, not across settings) ---- */

static _Atomic int64_t set_mc, set_kc, set_nc; /* 0: the level's own */

T4J_EXPORT int32_t t4j_gemm_set_blocks(int64_t mc, int64_t kc, int64_t nc) {
    if (mc == 0 && kc == 0 && nc == 0) {
        atomic_store(&set_mc, 0);
        atomic_store(&set_kc, 0);
        atomic_store(&set_nc, 0);
        return T4J_OK;
    }
    if (mc < 8 || mc > 4096 || kc < 16 || kc > 8192 || nc < 16 || nc > 65536) return T4J_ERR_INVALID;
    atomic_store(&set_mc, mc);
    atomic_store(&set_kc, kc);
    atomic_store(&set_nc, nc);
    return T4J_OK;
}

T4J_EXPORT void t4j_gemm_blocks(int64_t *out) {
    const t4j_gemm_impl *I = t4j_gemm_current();
    int64_t mc = atomic_load(&set_mc), kc = atomic_load(&set_kc), nc = atomic_load(&set_nc);
    out[0] = mc ? mc : I->mc;
    out[1] = kc ? kc : I->kc;
    out[2] = nc ? nc : I->nc;
}

/* ---- the level's table, and the peak loop of the level ---- */

const t4j_gemm_impl *t4j_gemm_current(void) {
    int32_t level = t4j_simd_level();
    return T4J_LEVEL_TABLE(t4j_gemm_, level);
}

#if defined(__x86_64__)
/* C's area computed (edge tiles padded to whole tiles) over its real area. */
static double padded(int64_t m, int64_t n, int64_t mr, int64_t nr) {
    return (double)(t4j_ceil_div(m, mr) * mr) * (double)(t4j_ceil_div(n, nr) * nr) / ((double)m * (double)n);
}
#endif

/* Measured on Zen 5 (BENCHMARKS.md, "A second AVX-512 tile"): 8 x 48 is 4-5% faster on 128 x 384 and 128 x 1536 (no
 * padding against 3% for 12 x 32), and 11% slower on 2176 x 128 (its third column sliver two thirds empty). On
 * C without padding either way, 12 x 32 is a little faster (1024³: 5%), hence the 2% margin. */
const t4j_gemm_impl *t4j_gemm_tile_for(const t4j_gemm_impl *level, int64_t m, int64_t n) {
#if defined(__x86_64__)
    if (level == &t4j_gemm_avx512 && m > 0 && n > 0) {
        const t4j_gemm_impl *alt = &t4j_gemm_avx512_8x48;
        if (padded(m, n, alt->mr, alt->nr) * 1.02 < padded(m, n, level->mr, level->nr)) return alt;
    }
#else
    (void)m;
    (void)n;
#endif
    return level;
}

T4J_EXPORT void t4j_gemm_tile(int64_t m, int64_t n, int64_t *out) {
    const t4j_gemm_impl *I = t4j_gemm_tile_for(t4j_gemm_current(), m, n);
    out[0] = I->mr;
    out[1] = I->nr;
}

T4J_EXPORT int64_t t4j_peak_fma(int64_t iterations) { return t4j_gemm_current()->peak_fma(iterations); }
