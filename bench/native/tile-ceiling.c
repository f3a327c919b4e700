/* tile-ceiling ROUNDS LIB: how fast an AVX-512 register tile can run on this core at all, its operands in L1.
 *
 * A GEMM's share of the FMA loop (t4j_peak_fma: FMAs alone, no loads) is read against 100%, but a register tile also
 * loads: per k step NV vectors of B's sliver and MR broadcasts of A, MR x NV multiply-adds into MR x NV zmm sums (the
 * kernel's STEP, gemm_avx512_kernel.inc). This times that loop alone, packed A and B small enough to stay in L1
 * (K = 128 and 256), for the tiles gemm_avx512.c has (12 x 32, 8 x 48) and three others (14 x 32, 10 x 32, 6 x 64),
 * alternated in rounds with the library's FMA loop; it prints each tile's median GFLOP/s and the median and quartiles of
 * its share of its round's FMA loop. What lies between that share and a GEMM's is what memory costs; what lies above it, no tile of this
 * kind reaches on this core. */
#include <immintrin.h>
#include <string.h>

#include "ab.h"

typedef int64_t (*peak_fn)(int64_t);

/* sums[MR][NV] over k of a[k][i] b[k][v]: a packed MR a step, b NV vectors a step, both read in order */
#define TILE(MR, NV)                                                                                        \
    __attribute__((noinline, target("avx512f,fma"))) static void tile_##MR##x##NV(int64_t k, const float *a, \
                                                                                   const float *b, float *c) { \
        __m512 acc[MR][NV];                                                                                  \
        _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++)                                                \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps();            \
        for (int64_t p = 0; p < k; p++, a += MR, b += 16 * NV) {                                             \
            __m512 bv[NV];                                                                                   \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) bv[v] = _mm512_load_ps(b + 16 * v);         \
            _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++) {                                          \
                __m512 x = _mm512_set1_ps(a[i]);                                                             \
                _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(x, bv[v], acc[i][v]); \
            }                                                                                                \
        }                                                                                                    \
        _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++)                                                \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) _mm512_store_ps(c + (i * NV + v) * 16, acc[i][v]); \
    }

TILE(12, 2)
TILE(8, 3)
TILE(14, 2)
TILE(10, 2)
TILE(6, 4)

typedef void (*tile_fn)(int64_t, const float *, const float *, float *);
static const struct {
    const char *name;
    int mr, nv;
    tile_fn fn;
} tiles[] = {{"12 x 32", 12, 2, tile_12x2}, {"8 x 48", 8, 3, tile_8x3}, {"14 x 32", 14, 2, tile_14x2},
             {"10 x 32", 10, 2, tile_10x2}, {"6 x 64", 6, 4, tile_6x4}};
enum { TILES = sizeof tiles / sizeof tiles[0], DEPTHS = 2, CALL_FLOP = 1 << 30 };
static const int64_t depths[DEPTHS] = {128, 256};

/* The FMA loop's rate, FLOP/s: CALL_FLOP of it (12 zmm FMAs, 384 FLOP, an iteration), the clock read after the loop
 * returns (the order an expression's operands are evaluated in is unspecified) */
static double fma_rate(peak_fn peak) {
    double t0 = now();
    double flop = (double)peak(CALL_FLOP / 384);
    return flop / (now() - t0);
}

int main(int argc, char **argv) {
    if (argc != 3 || atoi(argv[1]) < 1) {
        fprintf(stderr, "usage: tile-ceiling ROUNDS LIB\n");
        return 2;
    }
    if (!__builtin_cpu_supports("avx512f")) {
        fprintf(stderr, "tile-ceiling: this CPU has no AVX-512 (the tiles it times are AVX-512's)\n");
        return 2;
    }
    int rounds = atoi(argv[1]);
    peak_fn peak = (peak_fn)dlsym(open_copy("tile-ceiling", argv[2], 0), "t4j_peak_fma");
    if (peak == NULL) {
        fprintf(stderr, "tile-ceiling: %s has no t4j_peak_fma\n", argv[2]);
        return 1;
    }
    float *a = ab_alloc(256 * 16 * sizeof(float), 0), *b = ab_alloc(256 * 64 * sizeof(float), 0), *c = ab_alloc(16 * 64 * sizeof(float), 0);
    for (int i = 0; i < 256 * 16; i++) a[i] = 1e-3f * (float)(i % 7);
    for (int i = 0; i < 256 * 64; i++) b[i] = 1e-3f * (float)(i % 5);
    /* each round: the FMA loop, every tile at every depth, the FMA loop again; a tile's share is of the mean of its
     * round's two FMA loops (this VM's phases move the clock by 10-30% between processes, and by some within one) */
    enum { ROWS = TILES * DEPTHS };
    double *share = calloc((size_t)ROWS * rounds, sizeof(double)), *gflops = calloc((size_t)(ROWS + 1) * rounds, sizeof(double));
    if (share == NULL || gflops == NULL) return 1;
    for (int r = 0; r < rounds; r++) {
        double rate[ROWS], fma = fma_rate(peak);
        for (int t = 0; t < TILES; t++)
            for (int d = 0; d < DEPTHS; d++) {
                int64_t k = depths[d], per_call = 2 * tiles[t].mr * 16 * tiles[t].nv * k, calls = CALL_FLOP / per_call;
                double t0 = now();
                for (int64_t i = 0; i < calls; i++) tiles[t].fn(k, a, b, c);
                rate[t * DEPTHS + d] = (double)(per_call * calls) / (now() - t0);
            }
        fma = (fma + fma_rate(peak)) / 2;
        gflops[r] = fma * 1e-9;
        for (int row = 0; row < ROWS; row++) {
            gflops[(size_t)(row + 1) * rounds + r] = rate[row] * 1e-9;
            share[(size_t)row * rounds + r] = rate[row] / fma;
        }
    }
    volatile float sink = c[0];
    (void)sink;
    printf("FMA loop (t4j_peak_fma)       median %6.1f GFLOP/s\n", ab_median(gflops, rounds));
    for (int t = 0; t < TILES; t++)
        for (int d = 0; d < DEPTHS; d++) {
            int row = t * DEPTHS + d;
            double *sh = share + (size_t)row * rounds, rate = ab_median(gflops + (size_t)(row + 1) * rounds, rounds), median = ab_median(sh, rounds);
            printf("tile %-8s K = %-3ld in L1   median %6.1f GFLOP/s; of its round's FMA loop: median %5.1f%%, quartiles %5.1f%% %5.1f%%\n", tiles[t].name,
                   (long)depths[d], rate, 100 * median, 100 * sh[rounds / 4], 100 * sh[3 * rounds / 4]);
        }
    return 0;
}
