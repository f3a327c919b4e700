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
#include "lowrank_tile.h"

/* Two tiles: 12 x 32 (the level's own) and 8 x 48, both 24 accumulators. gemm.c takes, for each product, the one
 * that pads C's edge tiles less (t4j_gemm_tile_for): 8 x 48 for MiniLM's 128-row products into 384 and 1536
 * columns (12 rows leave 4 of the last tile's 12 empty), 12 x 32 elsewhere. T4J_AVX512_MR / _NV change the first
 * (gemm-variants.sh). */
/* Rows of the next sliver's source a copy-ahead prefetches before it copies them (gemm_avx512_kernel.inc). */
#ifndef T4J_COPY_LAG
#define T4J_COPY_LAG 4
#endif
#ifndef T4J_COPY_AHEAD
#define T4J_COPY_AHEAD 1
#endif
#ifndef T4J_AVX512_MR
#define T4J_AVX512_MR 12
#define T4J_AVX512_NV 2
#endif
#define KMR T4J_AVX512_MR
#define KNV T4J_AVX512_NV
#define KNAME kernel_avx512
#define KPACKNAME kernel_pack_avx512
#define KDIRECTNAME kernel_direct_avx512
#define KBODY body_avx512
#include "gemm_avx512_kernel.inc"
#define KMR 8
#define KNV 3
#define KNAME kernel_avx512_8x48
#define KPACKNAME kernel_pack_avx512_8x48
#define KDIRECTNAME kernel_direct_avx512_8x48
#define KBODY body_avx512_8x48
#include "gemm_avx512_kernel.inc"

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

/* skinny_cols (t4j_skinny_cols_fn): 32 rows of C as two vectors of A's rows (masked past rows) x NQ <= 8 columns, 2 NQ
 * accumulators; per k step 2 loads of A, NQ broadcasts of B and 2 NQ multiply-adds, and A's row T4J_SKINNY_COLS_PF
 * ahead prefetched. For LoRA's rank-8 gᵀ h and (x̃ᵀ gb)ᵀ the skinny kernel's 16 lanes were half empty (66 GFLOP/s). */
static inline __attribute__((always_inline)) void skinny_cols_nq(const int NQ, int64_t k, const float *a, int64_t csa, int64_t rows, const float *bs,
                                                                 int64_t rsb, int64_t csb, float alpha, const t4j_tile_out *o) {
    const __mmask16 m0 = rows >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << rows) - 1u);
    const __mmask16 m1 = rows >= 32 ? (__mmask16)0xFFFF : rows > 16 ? (__mmask16)((1u << (rows - 16)) - 1u) : (__mmask16)0;
    __m512 acc[8][2];
#pragma GCC unroll 8
    for (int q = 0; q < NQ; q++) acc[q][0] = acc[q][1] = _mm512_setzero_ps();
    for (int64_t p = 0; p < k; p++) {
        if (p + T4J_SKINNY_COLS_PF < k) t4j_prefetch_cols_strip(a + (p + T4J_SKINNY_COLS_PF) * csa);
        __m512 a0 = _mm512_maskz_loadu_ps(m0, a + p * csa), a1 = _mm512_maskz_loadu_ps(m1, a + p * csa + 16);
        const float *bp = bs + p * rsb;
#pragma GCC unroll 8
        for (int q = 0; q < NQ; q++) {
            __m512 b = _mm512_set1_ps(bp[q * csb]);
            acc[q][0] = _mm512_fmadd_ps(a0, b, acc[q][0]);
            acc[q][1] = _mm512_fmadd_ps(a1, b, acc[q][1]);
        }
    }
    float tile[8 * 32] __attribute__((aligned(64))); /* a row per column of C */
    __m512 va = _mm512_set1_ps(alpha);
#pragma GCC unroll 8
    for (int q = 0; q < NQ; q++) {
        _mm512_store_ps(tile + q * 32, _mm512_mul_ps(va, acc[q][0]));
        _mm512_store_ps(tile + q * 32 + 16, _mm512_mul_ps(va, acc[q][1]));
    }
    t4j_store_tile_transposed(tile, 32, o);
}

static void skinny_cols_avx512(int64_t k, const float *a, int64_t csa, int64_t rows, const float *bs, int64_t rsb, int64_t csb, int64_t n, float alpha,
                               const t4j_tile_out *o) {
#define CALL_SKINNY_COLS_NQ(N) skinny_cols_nq(N, k, a, csa, rows, bs, rsb, csb, alpha, o)
    T4J_WITH_CONST_1_TO_8(n, CALL_SKINNY_COLS_NQ)
#undef CALL_SKINNY_COLS_NQ
}

/* 4 rows of a x NB rows of b, 16 values of k at a time; horizontal sums at the end. */
/* Rows of a a call (the driver's dot_rows). 2 measured slower than 4 on Zen 4 (1 x 4096 x 4096 over 8 weight sets in
 * turn: 3.6 against 2.9 ms; 4 x 4096 x 4096 4.8 against 4.0; cached 4 x 768 x 768 0.084 against 0.058). */
#ifndef T4J_AVX512_DOT_ROWS
#define T4J_AVX512_DOT_ROWS 4
#endif
#define DR T4J_AVX512_DOT_ROWS

/* One step of 16 values of k at p for dot_nb: full = 1 loads whole vectors (every step but a tail), else under m. */
static inline __attribute__((always_inline)) void dot_step(const int NB, const int full, int64_t p, __mmask16 m, int64_t k, const float *const *ar,
                                                            int64_t lda, const float *b, int64_t ldb, const t4j_tile_out *o, __m512 acc[][T4J_DOT_NB]) {
    __m512 bv[T4J_DOT_NB];
    for (int q = 0; q < NB; q++) bv[q] = full ? _mm512_loadu_ps(b + q * ldb + p) : _mm512_maskz_loadu_ps(m, b + q * ldb + p);
    if (o->pf != NULL) {
        for (int i = 0; i < DR; i++) _mm_prefetch((const char *)(ar[i] + p) + T4J_DOT_PREFETCH, T4J_DOT_PF_HINT);
#if T4J_DOT_PREFETCH_NEXT
        /* over the rows' last T4J_DOT_PREFETCH bytes, the same span at the start of the next call's rows
         * (a + DR lda): otherwise a call's first T4J_DOT_PREFETCH bytes of each row are demand misses */
        if ((p + 16) * (int64_t)sizeof(float) + T4J_DOT_PREFETCH > k * (int64_t)sizeof(float))
            for (int i = 0; i < DR; i++)
                _mm_prefetch((const char *)(ar[i] + DR * lda + p) + T4J_DOT_PREFETCH - k * (int64_t)sizeof(float), T4J_DOT_PF_HINT);
#endif
    }
    for (int i = 0; i < DR; i++) {
        __m512 av = full ? _mm512_loadu_ps(ar[i] + p) : _mm512_maskz_loadu_ps(m, ar[i] + p);
        for (int q = 0; q < NB; q++) acc[i][q] = _mm512_fmadd_ps(av, bv[q], acc[i][q]);
    }
}

/* DR rows of a x NB rows of b, 16 values of k at a time (whole vectors, then the tail under a mask); horizontal sums
 * at the end. */
static inline __attribute__((always_inline)) void dot_nb(const int NB, int64_t k, const float *a, int64_t lda, int64_t rows,
                                                          const float *b, int64_t ldb, float alpha, const t4j_tile_out *o) {
    const float *ar[DR];
    for (int i = 0; i < DR; i++) ar[i] = a + T4J_MIN(i, rows - 1) * lda;
    __m512 acc[DR][T4J_DOT_NB];
    for (int i = 0; i < DR; i++)
        for (int q = 0; q < NB; q++) acc[i][q] = _mm512_setzero_ps();
    int64_t p = 0;
    for (; p + 16 <= k; p += 16) dot_step(NB, 1, p, 0xFFFF, k, ar, lda, b, ldb, o, acc);
    if (p < k) dot_step(NB, 0, p, (__mmask16)((1u << (k - p)) - 1u), k, ar, lda, b, ldb, o, acc);
    float tile[DR * T4J_DOT_NB];
    for (int i = 0; i < DR; i++)
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

/* The 16 sums of v[0..15] as one vector, lane L = the sum of v[L]'s lanes: a transpose-add tree (halves, then quarters,
 * then pairs, then single lanes of pairs of vectors), 30 shuffles and 15 adds where 16 reductions take about 64 of each. */
static inline __attribute__((always_inline)) __m512 sum16_avx512(const __m512 v[16]) {
    __m512 w[8], y[4], z[2];
    for (int j = 0; j < 8; j++) /* 256-bit halves: v[2j]'s 8 partial sums in the low half, v[2j+1]'s in the high */
        w[j] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * j], v[2 * j + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_f32x4(v[2 * j], v[2 * j + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    for (int j = 0; j < 4; j++) /* 128-bit lanes: lane k holds 4 partial sums of v[4j+k] */
        y[j] = _mm512_add_ps(_mm512_shuffle_f32x4(w[2 * j], w[2 * j + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(w[2 * j], w[2 * j + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    for (int j = 0; j < 2; j++) /* in each 128-bit lane k: 2 partial sums of v[8j+k], then 2 of v[8j+4+k] */
        z[j] = _mm512_add_ps(_mm512_shuffle_ps(y[2 * j], y[2 * j + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(y[2 * j], y[2 * j + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    /* element 4k + m: the sum of v[4m + k]; put it at 4m + k */
    __m512 f = _mm512_add_ps(_mm512_shuffle_ps(z[0], z[1], _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_ps(z[0], z[1], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_permutexvar_ps(_mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0), f);
}

/* C's rows i and i + 1 (i + 1 < rows) from the 16 sums s (row i's n in lanes 0..7, row i + 1's in 8..15): alpha s + beta C,
 * masked vector stores where C's columns are adjacent, else through t4j_store_tile_scalar. */
static inline __attribute__((always_inline)) void dot8_store(__m512 s, int64_t i, int64_t rows, float alpha, const t4j_tile_out *o) {
    s = _mm512_mul_ps(_mm512_set1_ps(alpha), s);
    if (o->csc != 1) {
        float tile[2 * T4J_DOT8_NB] __attribute__((aligned(64))); /* row r, column q at r * 8 + q */
        _mm512_store_ps(tile, s);
        t4j_tile_out t = *o;
        t.c = o->c + i * o->rsc;
        t.m_rem = T4J_MIN(2, rows - i);
        t4j_store_tile_scalar(tile, T4J_DOT8_NB, &t);
        return;
    }
    const __mmask8 cols = (__mmask8)((1u << o->n_rem) - 1u);
    for (int64_t r = 0; r < T4J_MIN(2, rows - i); r++) {
        float *c = o->c + (i + r) * o->rsc;
        __m256 v = r == 0 ? _mm512_castps512_ps256(s) : _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1));
        if (o->beta != 0.0f) v = _mm256_fmadd_ps(_mm256_set1_ps(o->beta), _mm256_maskz_loadu_ps(cols, c), v);
        _mm256_mask_storeu_ps(c, cols, v);
    }
}

/* dot8 (t4j_dot_fn, nb <= 8): rows of a two at a time x NB rows of b, 16 values of k a step (the tail under a mask),
 * 2 NB accumulators: NB + 2 loads for 2 NB multiply-adds (each of b's vectors loaded once into a register, not read
 * again by each multiply-add); the 16 sums of two rows reduced together. */
static inline __attribute__((always_inline)) void dot8_nb(const int NB, int64_t k, const float *a, int64_t lda, int64_t rows, const float *b,
                                                           int64_t ldb, float alpha, const t4j_tile_out *o) {
    for (int64_t i = 0; i < rows; i += 2) {
        const float *a0 = a + i * lda, *a1 = a + T4J_MIN(i + 1, rows - 1) * lda; /* a missing second row repeats the first: not stored */
        __m512 acc[16];
        for (int j = 0; j < 16; j++) acc[j] = _mm512_setzero_ps();
        int64_t p = 0;
        for (; p + 16 <= k; p += 16) {
            _mm_prefetch((const char *)(a0 + T4J_DOT8_PF * lda + p), _MM_HINT_T0); /* past a's end: a prefetch never faults */
            _mm_prefetch((const char *)(a0 + (T4J_DOT8_PF + 1) * lda + p), _MM_HINT_T0);
            __m512 x0 = _mm512_loadu_ps(a0 + p), x1 = _mm512_loadu_ps(a1 + p);
#pragma GCC unroll 8
            for (int q = 0; q < NB; q++) {
                __m512 bq = _mm512_loadu_ps(b + q * ldb + p);
                __asm__("" : "+v"(bq)); /* in a register: else each of the two multiply-adds loads it again */
                acc[q] = _mm512_fmadd_ps(x0, bq, acc[q]);
                acc[8 + q] = _mm512_fmadd_ps(x1, bq, acc[8 + q]);
            }
        }
        if (p < k) {
            __mmask16 m = (__mmask16)((1u << (k - p)) - 1u);
            __m512 x0 = _mm512_maskz_loadu_ps(m, a0 + p), x1 = _mm512_maskz_loadu_ps(m, a1 + p);
#pragma GCC unroll 8
            for (int q = 0; q < NB; q++) {
                __m512 bq = _mm512_maskz_loadu_ps(m, b + q * ldb + p);
                acc[q] = _mm512_fmadd_ps(x0, bq, acc[q]);
                acc[8 + q] = _mm512_fmadd_ps(x1, bq, acc[8 + q]);
            }
        }
        dot8_store(sum16_avx512(acc), i, rows, alpha, o);
    }
}

static void dot8_avx512(int64_t k, const float *a, int64_t lda, int64_t rows, const float *b, int64_t ldb, int64_t nb, float alpha, const t4j_tile_out *o) {
#define CALL_DOT8_NB(N) dot8_nb(N, k, a, lda, rows, b, ldb, alpha, o)
    T4J_WITH_CONST_1_TO_8(nb, CALL_DOT8_NB)
#undef CALL_DOT8_NB
}

#ifndef T4J_AVX512_BLOCKS
#define T4J_AVX512_BLOCKS 144, 384, 1024
#endif
static void lowrank_avx512(const t4j_lowrank *L, int64_t row0, int64_t col0, int64_t m_rem, int64_t n_rem, float *c, int64_t rsc) {
    t4j_lowrank_body(L, row0, col0, m_rem, n_rem, c, rsc);
}

const t4j_gemm_impl t4j_gemm_avx512 = {"avx512", T4J_AVX512_MR, 16 * T4J_AVX512_NV, T4J_AVX512_BLOCKS, kernel_avx512, t4j_pack_transpose_avx2,
                                        t4j_pack_copy_avx2, skinny_avx512, 8, dot_avx512, DR, t4j_peak_fma_avx512, lowrank_avx512, kernel_pack_avx512, kernel_direct_avx512,
                                        skinny_cols_avx512, dot8_avx512, T4J_COPY_AHEAD};
const t4j_gemm_impl t4j_gemm_avx512_8x48 = {"avx512 8x48", 8, 48, T4J_AVX512_BLOCKS, kernel_avx512_8x48, t4j_pack_transpose_avx2,
                                            t4j_pack_copy_avx2, skinny_avx512, 8, dot_avx512, DR, t4j_peak_fma_avx512, lowrank_avx512, kernel_pack_avx512_8x48, kernel_direct_avx512_8x48,
                                            skinny_cols_avx512, dot8_avx512, T4J_COPY_AHEAD};
