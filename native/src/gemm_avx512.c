/* gemm, AVX-512 level: 12 x 32 register tile (24 zmm accumulators; per k, 2 B loads and 12 broadcasts
 * feed 24 FMAs). With the driver's loop order (ARCHITECTURE.md, "GEMM": each B sliver used by all the A
 * slivers of a row block) a 12 x 32 tile's B sliver (32 x kc: 43 KB for K = 1024) fits a 48 KB L1, where
 * 6 x 64's does not. Measured on Zen 5 against 6 x 64, 8 x 48 and 14 x 32 (BENCHMARKS.md, "CPU GEMM: loop
 * order and tile"): 12 x 32 best or within 4% on every shape (8 x 48 leads at 128 rows by up to 4%). On
 * Zen 4, under the earlier loop order, 6 x 64 was best.
 * Compiled with -mavx512f -mavx512dq -mavx512bw -mavx512vl; only called when the CPU and OS support
 * them. */
#include <immintrin.h>

#include "internal.h"

#ifndef T4J_AVX512_MR
#define T4J_AVX512_MR 12
#define T4J_AVX512_NV 2
#endif
#define MR T4J_AVX512_MR
#define NV T4J_AVX512_NV /* zmm vectors per tile row */
#define NR (16 * NV)

/* One k step: NV loads of B, MR broadcasts of A, MR x NV FMAs. */
#define STEP()                                                                                  \
    do {                                                                                        \
        __m512 b[NV];                                                                           \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) b[v] = _mm512_load_ps(bp + 16 * v); \
        _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++) {                                 \
            __m512 a = _mm512_set1_ps(ap[i]);                                                   \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(a, b[v], acc[i][v]); \
        }                                                                                       \
        ap += MR;                                                                               \
        bp += NR;                                                                               \
    } while (0)

static void kernel_avx512(int64_t kc, const float *ap, const float *bp, const t4j_tile_out *o) {
    if (o->csc == 1) /* the tile of C, read or written at the end: on its way while the sums run */
        for (int i = 0; i < MR && i < o->m_rem; i++)
            for (int v = 0; v < NV; v++) _mm_prefetch((const char *)(o->c + i * o->rsc + 16 * v), _MM_HINT_T0);
    __m512 acc[MR][NV];
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps();
    int64_t p = 0;
    if (o->pf != NULL) {
        const float *pf = o->pf;
        for (; p < T4J_MIN(kc, o->pf_rows); p++, pf += o->pf_ld) {
            for (int v = 0; v < NV; v++) _mm_prefetch((const char *)(pf + 16 * v), _MM_HINT_T1);
            STEP();
        }
    }
    for (; p < kc; p++) STEP();
    if (o->csc == 1 && o->bias_rs == 0) {
        /* row-major C: masked vector stores cover a partial tile */
        __mmask16 mask[NV];
        __m512 bias[NV];
        for (int v = 0; v < NV; v++) {
            int64_t lanes = T4J_MAX(0, T4J_MIN(16, o->n_rem - 16 * v));
            mask[v] = (__mmask16)((1u << lanes) - 1u);
            bias[v] = o->bias ? _mm512_maskz_loadu_ps(mask[v], o->bias + 16 * v) : _mm512_setzero_ps();
        }
        __m512 beta = _mm512_set1_ps(o->beta);
        for (int i = 0; i < MR && i < o->m_rem; i++) {
            float *c = o->c + i * o->rsc;
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) {
                __m512 x = acc[i][v];
                if (o->beta != 0.0f) x = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(mask[v], c + 16 * v), x);
                _mm512_mask_storeu_ps(c + 16 * v, mask[v], _mm512_add_ps(x, bias[v]));
            }
        }
    } else {
        float tile[MR * NR] __attribute__((aligned(64)));
        for (int i = 0; i < MR; i++)
            for (int v = 0; v < NV; v++) _mm512_store_ps(tile + i * NR + 16 * v, acc[i][v]);
        t4j_store_tile_scalar(tile, NR, o);
    }
}

int64_t t4j_peak_fma_avx512(int64_t iterations) {
    /* 12 independent chains: more than FMA latency x FMA ports, so throughput, not latency, bounds it.
     * Written out by hand: an array of accumulators would be kept in memory. */
    __m512 x = _mm512_set1_ps(1.0000001f), y = _mm512_set1_ps(0.9999999f);
    __m512 c0 = _mm512_set1_ps(0), c1 = _mm512_set1_ps(1), c2 = _mm512_set1_ps(2), c3 = _mm512_set1_ps(3), c4 = _mm512_set1_ps(4), c5 = _mm512_set1_ps(5);
    __m512 c6 = _mm512_set1_ps(6), c7 = _mm512_set1_ps(7), c8 = _mm512_set1_ps(8), c9 = _mm512_set1_ps(9), c10 = _mm512_set1_ps(10), c11 = _mm512_set1_ps(11);
    for (int64_t it = 0; it < iterations; it++) {
        c0 = _mm512_fmadd_ps(c0, x, y); c1 = _mm512_fmadd_ps(c1, x, y); c2 = _mm512_fmadd_ps(c2, x, y); c3 = _mm512_fmadd_ps(c3, x, y);
        c4 = _mm512_fmadd_ps(c4, x, y); c5 = _mm512_fmadd_ps(c5, x, y); c6 = _mm512_fmadd_ps(c6, x, y); c7 = _mm512_fmadd_ps(c7, x, y);
        c8 = _mm512_fmadd_ps(c8, x, y); c9 = _mm512_fmadd_ps(c9, x, y); c10 = _mm512_fmadd_ps(c10, x, y); c11 = _mm512_fmadd_ps(c11, x, y);
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)), _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(c8, c9), _mm512_add_ps(c10, c11)));
    float out[16];
    _mm512_storeu_ps(out, s);
    volatile float sink = out[0];
    (void)sink;
    return iterations * 12 * 16 * 2;
}

/* 8 rows x 16 columns: 8 zmm accumulators, per k one load of bn and 8 broadcasts from A in place. */
static void skinny_avx512(int64_t k, const float *a, int64_t rsa, int64_t csa, int64_t rows, const float *bn, float alpha, const t4j_tile_out *o) {
    const float *row[8];
    for (int i = 0; i < 8; i++) row[i] = a + T4J_MIN(i, rows - 1) * rsa; /* missing rows repeat the last: not stored */
    __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
    for (int64_t p = 0; p < k; p++) {
        __m512 b = _mm512_load_ps(bn + p * 16);
        int64_t off = p * csa;
        c0 = _mm512_fmadd_ps(_mm512_set1_ps(row[0][off]), b, c0);
        c1 = _mm512_fmadd_ps(_mm512_set1_ps(row[1][off]), b, c1);
        c2 = _mm512_fmadd_ps(_mm512_set1_ps(row[2][off]), b, c2);
        c3 = _mm512_fmadd_ps(_mm512_set1_ps(row[3][off]), b, c3);
        c4 = _mm512_fmadd_ps(_mm512_set1_ps(row[4][off]), b, c4);
        c5 = _mm512_fmadd_ps(_mm512_set1_ps(row[5][off]), b, c5);
        c6 = _mm512_fmadd_ps(_mm512_set1_ps(row[6][off]), b, c6);
        c7 = _mm512_fmadd_ps(_mm512_set1_ps(row[7][off]), b, c7);
    }
    float tile[8 * 16] __attribute__((aligned(64)));
    __m512 va = _mm512_set1_ps(alpha);
    __m512 acc[8] = {c0, c1, c2, c3, c4, c5, c6, c7};
    for (int i = 0; i < 8; i++) _mm512_store_ps(tile + i * 16, _mm512_mul_ps(va, acc[i]));
    t4j_store_tile_scalar(tile, 16, o);
}

/* 4 rows of a x NB rows of b, 16 values of k at a time; horizontal sums at the end. */
static inline __attribute__((always_inline)) void dot_nb(const int NB, int64_t k, const float *a, int64_t lda, int64_t rows,
                                                          const float *b, int64_t ldb, float alpha, const t4j_tile_out *o) {
    const float *ar[4];
    for (int i = 0; i < 4; i++) ar[i] = a + T4J_MIN(i, rows - 1) * lda;
    __m512 acc[4][T4J_DOT_NB];
    for (int i = 0; i < 4; i++)
        for (int q = 0; q < NB; q++) acc[i][q] = _mm512_setzero_ps();
    for (int64_t p = 0; p < k; p += 16) {
        __mmask16 m = (__mmask16)(k - p >= 16 ? 0xFFFFu : (1u << (k - p)) - 1u);
        __m512 bv[T4J_DOT_NB];
        for (int q = 0; q < NB; q++) bv[q] = _mm512_maskz_loadu_ps(m, b + q * ldb + p);
        for (int i = 0; i < 4; i++) {
            __m512 av = _mm512_maskz_loadu_ps(m, ar[i] + p);
            for (int q = 0; q < NB; q++) acc[i][q] = _mm512_fmadd_ps(av, bv[q], acc[i][q]);
        }
    }
    float tile[4 * T4J_DOT_NB];
    for (int i = 0; i < 4; i++)
        for (int q = 0; q < NB; q++) tile[i * T4J_DOT_NB + q] = alpha * _mm512_reduce_add_ps(acc[i][q]);
    t4j_store_tile_scalar(tile, T4J_DOT_NB, o);
}

static void dot_avx512(int64_t k, const float *a, int64_t lda, int64_t rows, const float *b, int64_t ldb, int64_t nb, float alpha, const t4j_tile_out *o) {
    switch (nb) {
    case 1: dot_nb(1, k, a, lda, rows, b, ldb, alpha, o); break;
    case 2: dot_nb(2, k, a, lda, rows, b, ldb, alpha, o); break;
    case 3: dot_nb(3, k, a, lda, rows, b, ldb, alpha, o); break;
    default: dot_nb(4, k, a, lda, rows, b, ldb, alpha, o); break;
    }
}

#ifndef T4J_AVX512_BLOCKS
#define T4J_AVX512_BLOCKS 144, 384, 1024
#endif
static void lowrank_avx512(const t4j_lowrank *L, int64_t row0, int64_t col0, int64_t m_rem, int64_t n_rem, float *c, int64_t rsc) {
    t4j_lowrank_body(L, row0, col0, m_rem, n_rem, c, rsc);
}

const t4j_gemm_impl t4j_gemm_avx512 = {"avx512", MR, NR, T4J_AVX512_BLOCKS, kernel_avx512, t4j_pack_transpose_avx2, t4j_pack_copy_avx2,
                                        skinny_avx512, 8, dot_avx512, 4, t4j_peak_fma_avx512, lowrank_avx512};
