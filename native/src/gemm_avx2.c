/* gemm, AVX2 + FMA level: 6 x 16 register tile (12 accumulators, 2 B loads and 6 broadcasts per k;
 * Zen 4 runs two 256-bit FMAs a cycle, so this reaches the same peak as AVX-512 there).
 * Compiled with -mavx2 -mfma; only called when the CPU has both. */
#include <immintrin.h>

#include "internal.h"
#include "lowrank_tile.h"

#define MR 6
#define NR 16

/* The accumulators are named variables, not an array: GCC keeps an array of __m256 in memory here and
 * stores it back on every iteration, which halves the speed. */
#define ROW(i, a)                              \
    c##i##0 = _mm256_fmadd_ps(a, b0, c##i##0); \
    c##i##1 = _mm256_fmadd_ps(a, b1, c##i##1)

/* One k step: 2 loads of B, 6 broadcasts of A, 12 FMAs. Packing as it goes (src != NULL), B's row is read from the
 * source (row p at src + p*ld) and also stored into the sliver being packed (dst), as at AVX-512. */
#define STEP(D)                                                           \
    do {                                                                  \
        __m256 b0, b1;                                                    \
        if (src != NULL) {                                                \
            b0 = _mm256_loadu_ps(src), b1 = _mm256_loadu_ps(src + 8);     \
            _mm256_store_ps(dst, b0), _mm256_store_ps(dst + 8, b1);       \
            src += ld, dst += NR;                                         \
        } else {                                                          \
            b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);         \
            bp += NR;                                                     \
        }                                                                 \
        __m256 a;                                                         \
        a = _mm256_broadcast_ss(AV(D, 0)); ROW(0, a);                     \
        a = _mm256_broadcast_ss(AV(D, 1)); ROW(1, a);                     \
        a = _mm256_broadcast_ss(AV(D, 2)); ROW(2, a);                     \
        a = _mm256_broadcast_ss(AV(D, 3)); ROW(3, a);                     \
        a = _mm256_broadcast_ss(AV(D, 4)); ROW(4, a);                     \
        a = _mm256_broadcast_ss(AV(D, 5)); ROW(5, a);                     \
        if (D) a0++, a4++;                                                \
        else ap += MR;                                                    \
    } while (0)
/* STEP, and every 16 steps with A in place (D) a line of each of the next tile's rows prefetched (as at AVX-512) */
#define STEP_APF(D)                                                                                                  \
    do {                                                                                                             \
        if ((D) && apf != NULL && (p & 15) == 0)                                                                     \
            for (int i = 0; i < MR; i++) _mm_prefetch((const char *)(apf + i * o->apf_ld + p), _MM_HINT_T1);         \
        STEP(D);                                                                                                     \
    } while (0)
/* row i of A: read in place with D, a constant (two bases 4 rows apart, one stride, as at AVX-512), or from the packed sliver */
#define AV(D, i) ((D) ? ((i) < 4 ? a0 + (i) * lda : a4 + ((i) - 4) * lda) : ap + (i))

/* direct (a constant): A's MR rows read in place, row i at a + i*lda (t4j_direct_kernel_fn), instead of ap */
static inline __attribute__((always_inline)) void body_avx2(int64_t kc, const float *ap, const int direct, const float *a, int64_t lda, const float *bp,
                                                             const float *src, int64_t ld, float *dst, const t4j_tile_out *o) {
    const float *a0 = a, *a4 = direct ? a + 4 * lda : NULL;
    if (o->csc == 1) /* the tile of C, read or written at the end: on its way while the sums run */
        for (int i = 0; i < MR && i < o->m_rem; i++) _mm_prefetch((const char *)(o->c + i * o->rsc), _MM_HINT_T0);
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    int64_t p = 0, kin = direct ? kc - o->ktail : kc; /* steps with A in place (direct), then from o->atail */
    const float *apf = direct ? o->apf : NULL;
    if (o->pf != NULL) {
        const float *pf = o->pf; /* NR floats a row: one line; packed weights into L1, a source into L2 (as at AVX-512) */
        const int64_t rows = o->pf_rows, gap = o->pf_gap;
        if (o->pf_l1)
            for (int64_t r = 0; r < rows; r++, pf += o->pf_ld) {
                _mm_prefetch((const char *)pf, _MM_HINT_T0);
                for (int64_t g = 0; g < gap && p < kin; g++, p++) STEP_APF(direct);
            }
        else
            for (int64_t r = 0; r < rows; r++, pf += o->pf_ld) {
                _mm_prefetch((const char *)pf, _MM_HINT_T1);
                for (int64_t g = 0; g < gap && p < kin; g++, p++) STEP_APF(direct);
            }
    }
    if (direct && apf != NULL) /* the same, without a test a step */
        while (p + 16 <= kin) {
            for (int i = 0; i < MR; i++) _mm_prefetch((const char *)(apf + i * o->apf_ld + p), _MM_HINT_T1);
            for (int g = 0; g < 16; g++, p++) STEP(direct);
        }
    for (; p < kin; p++) STEP(direct);
    if (direct)
        for (ap = o->atail; p < kc; p++) STEP(0);
    __m256 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    if (o->csc == 1 && o->m_rem == MR && o->n_rem == NR && o->bias_rs == 0) {
        __m256 beta = _mm256_set1_ps(o->beta);
        __m256 bias0 = o->bias ? _mm256_loadu_ps(o->bias) : _mm256_setzero_ps();
        __m256 bias1 = o->bias ? _mm256_loadu_ps(o->bias + 8) : _mm256_setzero_ps();
        for (int i = 0; i < MR; i++) {
            float *c = o->c + i * o->rsc;
            __m256 v0 = acc[i][0], v1 = acc[i][1];
            if (o->beta != 0.0f) {
                v0 = _mm256_fmadd_ps(beta, _mm256_loadu_ps(c), v0);
                v1 = _mm256_fmadd_ps(beta, _mm256_loadu_ps(c + 8), v1);
            }
            _mm256_storeu_ps(c, _mm256_add_ps(v0, bias0));
            _mm256_storeu_ps(c + 8, _mm256_add_ps(v1, bias1));
        }
    } else {
        float tile[MR * NR] __attribute__((aligned(32)));
        for (int i = 0; i < MR; i++) {
            _mm256_store_ps(tile + i * NR, acc[i][0]);
            _mm256_store_ps(tile + i * NR + 8, acc[i][1]);
        }
        t4j_store_tile_scalar(tile, NR, o);
    }
}

static void kernel_avx2(int64_t kc, const float *ap, const float *bp, const t4j_tile_out *o) { body_avx2(kc, ap, 0, NULL, 0, bp, NULL, 0, NULL, o); }

/* As kernel_avx2, A's MR rows read in place (t4j_direct_kernel_fn: a whole tile's rows, all in A). */
static void kernel_direct_avx2(int64_t kc, const float *a, int64_t lda, const float *bp, const t4j_tile_out *o) {
    body_avx2(kc, NULL, 1, a, lda, bp, NULL, 0, NULL, o);
}

/* As kernel_avx2, B's sliver packed as it is read: row p from src + p*ld into dst + p*NR (a whole sliver). */
static void kernel_pack_avx2(int64_t kc, const float *ap, const float *src, int64_t ld, float *dst, const t4j_tile_out *o) {
    body_avx2(kc, ap, 0, NULL, 0, NULL, src, ld, dst, o);
}

/* In: r[i] = row i, 8 floats. Out: r[q] = column q. */
static inline void transpose8x8(__m256 r[8]) {
    __m256 t[8], s[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        s[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        s[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        s[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        s[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x31);
    }
}

void t4j_pack_transpose_avx2(const float *src, int64_t ld, int64_t rows, int64_t kc, int64_t R, float alpha, float *dst) {
    __m256 va = _mm256_set1_ps(alpha);
    int64_t i0 = 0;
    for (; i0 + 8 <= rows; i0 += 8) {
        int64_t p = 0;
        for (; p + 8 <= kc; p += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) r[i] = _mm256_mul_ps(va, _mm256_loadu_ps(src + (i0 + i) * ld + p));
            transpose8x8(r);
            for (int q = 0; q < 8; q++) _mm256_storeu_ps(dst + (p + q) * R + i0, r[q]);
        }
        for (; p < kc; p++)
            for (int i = 0; i < 8; i++) dst[p * R + i0 + i] = alpha * src[(i0 + i) * ld + p];
    }
    /* 4 rows left (the 12-row A slivers of the AVX-512 kernel): two 4 x 4 transposes per 8 columns instead
     * of one strided scalar load per element */
    __m128 va4 = _mm256_castps256_ps128(va);
    for (; i0 + 4 <= rows; i0 += 4) {
        int64_t p = 0;
        for (; p + 8 <= kc; p += 8) {
            __m256 r0 = _mm256_loadu_ps(src + i0 * ld + p), r1 = _mm256_loadu_ps(src + (i0 + 1) * ld + p);
            __m256 r2 = _mm256_loadu_ps(src + (i0 + 2) * ld + p), r3 = _mm256_loadu_ps(src + (i0 + 3) * ld + p);
            for (int h = 0; h < 2; h++) {
                __m128 x0 = _mm_mul_ps(va4, h ? _mm256_extractf128_ps(r0, 1) : _mm256_castps256_ps128(r0));
                __m128 x1 = _mm_mul_ps(va4, h ? _mm256_extractf128_ps(r1, 1) : _mm256_castps256_ps128(r1));
                __m128 x2 = _mm_mul_ps(va4, h ? _mm256_extractf128_ps(r2, 1) : _mm256_castps256_ps128(r2));
                __m128 x3 = _mm_mul_ps(va4, h ? _mm256_extractf128_ps(r3, 1) : _mm256_castps256_ps128(r3));
                _MM_TRANSPOSE4_PS(x0, x1, x2, x3);
                float *d = dst + (p + 4 * h) * R + i0;
                _mm_storeu_ps(d, x0);
                _mm_storeu_ps(d + R, x1);
                _mm_storeu_ps(d + 2 * R, x2);
                _mm_storeu_ps(d + 3 * R, x3);
            }
        }
        for (; p < kc; p++)
            for (int i = 0; i < 4; i++) dst[p * R + i0 + i] = alpha * src[(i0 + i) * ld + p];
    }
    for (int64_t p = 0; p < kc; p++) {
        for (int64_t i = i0; i < rows; i++) dst[p * R + i] = alpha * src[i * ld + p];
        for (int64_t i = rows; i < R; i++) dst[p * R + i] = 0.0f;
    }
}

/* alpha * s[0..R) into d[0..R): 8 floats at a time, then 4 and 2 where R is not a multiple of 8 (the 6-row A slivers
 * of this level's kernel, the 12-row ones of AVX-512's; a transposed A, a weight gradient's gᵀ), so that no load or
 * store passes the R floats */
static inline void copy_scaled(const float *s, float *d, int64_t R, __m256 va) {
    int64_t j = 0;
    for (; j + 8 <= R; j += 8) _mm256_storeu_ps(d + j, _mm256_mul_ps(va, _mm256_loadu_ps(s + j)));
    __m128 va4 = _mm256_castps256_ps128(va);
    if (j + 4 <= R) {
        _mm_storeu_ps(d + j, _mm_mul_ps(va4, _mm_loadu_ps(s + j)));
        j += 4;
    }
    if (j + 2 <= R) {
        _mm_storel_pi((__m64 *)(d + j), _mm_mul_ps(va4, _mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)(s + j))));
        j += 2;
    }
    if (j < R) d[j] = _mm_cvtss_f32(va4) * s[j];
}

/* Copies rows p0..p0+np-1 of the panel (np <= 8) into the whole slivers; the inner loop walks 8 rows
 * together so that 8 memory streams are in flight: reading one 4 KB row after another reached half the
 * DRAM bandwidth on a 128 x 4096 x 4096 GEMM, where packing B is a fifth of the time. */
static void pack_copy_rows(const float *src, int64_t ld, int64_t full, int64_t p0, int64_t np, int64_t kc, int64_t R, __m256 va, float *dst) {
    for (int64_t r0 = 0; r0 < full; r0 += R)
        for (int64_t q = p0; q < p0 + np; q++) copy_scaled(src + q * ld + r0, dst + r0 * kc + q * R, R, va);
}

void t4j_pack_copy_avx2(const float *src, int64_t ld, int64_t rows, int64_t len, int64_t kc, int64_t R, float alpha, float *dst) {
    __m256 va = _mm256_set1_ps(alpha);
    int64_t full = (rows / R) * R; /* rows covered by whole slivers */
    for (int64_t p = 0; p < len; p += 8) pack_copy_rows(src, ld, full, p, T4J_MIN(8, len - p), kc, R, va, dst);
    if (full < rows) {
        /* the last, partial sliver, padded with zeros */
        for (int64_t p = 0; p < len; p++) {
            const float *s = src + p * ld;
            float *d = dst + full * kc + p * R;
            int64_t n = rows - full;
            for (int64_t j = 0; j < n; j++) d[j] = alpha * s[full + j];
            for (int64_t j = n; j < R; j++) d[j] = 0.0f;
        }
    }
}

/* 6 rows x 16 columns: 12 ymm accumulators, per k two loads of bn and 6 broadcasts from A in place. */
static void skinny_avx2(int64_t k, const float *a, int64_t rsa, int64_t csa, int64_t rows, const float *bn, float alpha, const t4j_tile_out *o) {
    const float *row[6];
    for (int i = 0; i < 6; i++) row[i] = a + T4J_MIN(i, rows - 1) * rsa; /* missing rows repeat the last: not stored */
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int64_t p = 0; p < k; p++) {
        __m256 b0 = _mm256_load_ps(bn + p * 16), b1 = _mm256_load_ps(bn + p * 16 + 8);
        int64_t off = p * csa;
        __m256 a;
        a = _mm256_set1_ps(row[0][off]); ROW(0, a);
        a = _mm256_set1_ps(row[1][off]); ROW(1, a);
        a = _mm256_set1_ps(row[2][off]); ROW(2, a);
        a = _mm256_set1_ps(row[3][off]); ROW(3, a);
        a = _mm256_set1_ps(row[4][off]); ROW(4, a);
        a = _mm256_set1_ps(row[5][off]); ROW(5, a);
    }
    float tile[6 * 16] __attribute__((aligned(32)));
    __m256 va = _mm256_set1_ps(alpha);
    __m256 acc[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    for (int i = 0; i < 6; i++) {
        _mm256_store_ps(tile + i * 16, _mm256_mul_ps(va, acc[i][0]));
        _mm256_store_ps(tile + i * 16 + 8, _mm256_mul_ps(va, acc[i][1]));
    }
    t4j_store_tile_scalar(tile, 16, o);
}

/* 2 rows of a x up to 4 rows of b, 8 values of k at a time; the tail of k one value at a time. */
static void dot_avx2(int64_t k, const float *a, int64_t lda, int64_t rows, const float *b, int64_t ldb, int64_t nb, float alpha, const t4j_tile_out *o) {
    const float *ar[2] = {a, a + T4J_MIN(1, rows - 1) * lda};
    const float *br[T4J_DOT_NB];
    for (int q = 0; q < T4J_DOT_NB; q++) br[q] = b + T4J_MIN(q, nb - 1) * ldb;
    __m256 acc[2][T4J_DOT_NB];
    for (int i = 0; i < 2; i++)
        for (int q = 0; q < T4J_DOT_NB; q++) acc[i][q] = _mm256_setzero_ps();
    int64_t p = 0;
    for (; p + 8 <= k; p += 8) {
        __m256 b0 = _mm256_loadu_ps(br[0] + p), b1 = _mm256_loadu_ps(br[1] + p);
        __m256 b2 = _mm256_loadu_ps(br[2] + p), b3 = _mm256_loadu_ps(br[3] + p);
        if (o->pf != NULL) {
            _mm_prefetch((const char *)(ar[0] + p) + T4J_DOT_PREFETCH, T4J_DOT_PF_HINT);
            _mm_prefetch((const char *)(ar[1] + p) + T4J_DOT_PREFETCH, T4J_DOT_PF_HINT);
#if T4J_DOT_PREFETCH_NEXT
            /* over the rows' last T4J_DOT_PREFETCH bytes, the same span at the start of the next 2 rows (the next
             * call's, a + 2 lda): otherwise a call's first T4J_DOT_PREFETCH bytes of each row are demand misses */
            if ((p + 8) * (int64_t)sizeof(float) + T4J_DOT_PREFETCH > k * (int64_t)sizeof(float))
                for (int i = 0; i < 2; i++)
                    _mm_prefetch((const char *)(ar[i] + 2 * lda + p) + T4J_DOT_PREFETCH - k * (int64_t)sizeof(float), T4J_DOT_PF_HINT);
#endif
        }
        for (int i = 0; i < 2; i++) {
            __m256 av = _mm256_loadu_ps(ar[i] + p);
            acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
            acc[i][2] = _mm256_fmadd_ps(av, b2, acc[i][2]);
            acc[i][3] = _mm256_fmadd_ps(av, b3, acc[i][3]);
        }
    }
    float tile[2 * T4J_DOT_NB];
    for (int i = 0; i < 2; i++)
        for (int q = 0; q < T4J_DOT_NB; q++) {
            float part[8], sum = 0.0f;
            _mm256_storeu_ps(part, acc[i][q]);
            for (int l = 0; l < 8; l++) sum += part[l];
            for (int64_t t = p; t < k; t++) sum += ar[i][t] * br[q][t];
            tile[i * T4J_DOT_NB + q] = alpha * sum;
        }
    t4j_store_tile_scalar(tile, T4J_DOT_NB, o);
}

/* skinny_cols (t4j_skinny_cols_fn) at AVX2: C's rows 8 at a time along a vector of A's rows (masked past rows) x NQ <= 8
 * columns, NQ accumulators; per k step one load of A, NQ broadcasts of B and NQ multiply-adds (LoRA's rank-8 gᵀ h and
 * (x̃ᵀ gb)ᵀ, which the 16-column skinny kernel ran half empty). k runs in blocks of SKINNY_COLS_PB, each group of 8 rows
 * over the block in turn, so the block's A (32 rows x 64 steps, 8 KB, a row of A a step apart in memory) is read from
 * memory once and from L1 by the other groups; the accumulators wait in the tile between blocks. Each sum one chain
 * over p in order: the skinny kernel's bits. */
#ifndef SKINNY_COLS_PB
#define SKINNY_COLS_PB 64
#endif
static inline __attribute__((always_inline)) void skinny_cols_nq_avx2(const int NQ, int64_t k, const float *a, int64_t csa, int64_t rows, const float *bs,
                                                                      int64_t rsb, int64_t csb, float alpha, const t4j_tile_out *o) {
    float tile[8 * 32] __attribute__((aligned(32))); /* column q of C's rows at q * 32 */
    for (int i = 0; i < 8 * 32; i++) tile[i] = 0.0f;
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int64_t p0 = 0; p0 < k; p0 += SKINNY_COLS_PB) {
        const int64_t pe = T4J_MIN(k, p0 + SKINNY_COLS_PB);
        for (int64_t g = 0; g < rows; g += 8) {
            const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)T4J_MIN(8, rows - g)), lanes);
            __m256 acc[8];
#pragma GCC unroll 8
            for (int q = 0; q < NQ; q++) acc[q] = _mm256_load_ps(tile + q * 32 + g);
            for (int64_t p = p0; p < pe; p++) {
                if (g == 0 && p + T4J_SKINNY_COLS_PF < k) t4j_prefetch_cols_strip(a + (p + T4J_SKINNY_COLS_PF) * csa); /* the first group brings the block's rows in */
                __m256 av = _mm256_maskload_ps(a + g + p * csa, m);
                const float *bp = bs + p * rsb;
#pragma GCC unroll 8
                for (int q = 0; q < NQ; q++) acc[q] = _mm256_fmadd_ps(av, _mm256_broadcast_ss(bp + q * csb), acc[q]);
            }
#pragma GCC unroll 8
            for (int q = 0; q < NQ; q++) _mm256_store_ps(tile + q * 32 + g, acc[q]);
        }
    }
    const __m256 va = _mm256_set1_ps(alpha);
    for (int i = 0; i < NQ * 32; i += 8) _mm256_store_ps(tile + i, _mm256_mul_ps(va, _mm256_load_ps(tile + i)));
    t4j_store_tile_transposed(tile, 32, o); /* a row of the tile per column of C */
}

static void skinny_cols_avx2(int64_t k, const float *a, int64_t csa, int64_t rows, const float *bs, int64_t rsb, int64_t csb, int64_t n, float alpha,
                             const t4j_tile_out *o) {
#define CALL_SKINNY_COLS_NQ_AVX2(N) skinny_cols_nq_avx2(N, k, a, csa, rows, bs, rsb, csb, alpha, o)
    T4J_WITH_CONST_1_TO_8(n, CALL_SKINNY_COLS_NQ_AVX2)
#undef CALL_SKINNY_COLS_NQ_AVX2
}

/* The 8 sums of acc[0..7]'s lanes, sum q in lane q. */
static inline __m256 sum8_avx2(const __m256 *acc) {
    __m256 s01 = _mm256_hadd_ps(acc[0], acc[1]), s23 = _mm256_hadd_ps(acc[2], acc[3]);
    __m256 s45 = _mm256_hadd_ps(acc[4], acc[5]), s67 = _mm256_hadd_ps(acc[6], acc[7]);
    __m256 s0123 = _mm256_hadd_ps(s01, s23), s4567 = _mm256_hadd_ps(s45, s67); /* per 128-bit half: sums 0..3, 4..7 */
    return _mm256_add_ps(_mm256_permute2f128_ps(s0123, s4567, 0x20), _mm256_permute2f128_ps(s0123, s4567, 0x31));
}

/* dot8 (t4j_dot_fn, nb <= 8) at AVX2: one row of a at a time x NB rows of b, 8 values of k a step (the tail under a
 * mask), NB accumulators: 1 + NB loads for NB multiply-adds; the row's 8 sums reduced together. */
static inline __attribute__((always_inline)) void dot8_nb_avx2(const int NB, int64_t k, const float *a, int64_t lda, int64_t rows, const float *b,
                                                               int64_t ldb, float alpha, const t4j_tile_out *o) {
    float tile[T4J_DOT8_ROWS * T4J_DOT8_NB] __attribute__((aligned(32)));
    const __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(k % 8)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for (int64_t i = 0; i < rows; i++) {
        const float *ai = a + i * lda;
        __m256 acc[8];
        for (int q = 0; q < 8; q++) acc[q] = _mm256_setzero_ps(); /* past NB: zero sums, not stored */
        int64_t p = 0;
        for (; p + 8 <= k; p += 8) {
            __m256 x = _mm256_loadu_ps(ai + p);
#pragma GCC unroll 8
            for (int q = 0; q < NB; q++) acc[q] = _mm256_fmadd_ps(x, _mm256_loadu_ps(b + q * ldb + p), acc[q]);
        }
        if (p < k) {
            __m256 x = _mm256_maskload_ps(ai + p, tail);
#pragma GCC unroll 8
            for (int q = 0; q < NB; q++) acc[q] = _mm256_fmadd_ps(x, _mm256_maskload_ps(b + q * ldb + p, tail), acc[q]);
        }
        _mm256_store_ps(tile + i * T4J_DOT8_NB, _mm256_mul_ps(_mm256_set1_ps(alpha), sum8_avx2(acc)));
    }
    t4j_store_tile_scalar(tile, T4J_DOT8_NB, o);
}

static void dot8_avx2(int64_t k, const float *a, int64_t lda, int64_t rows, const float *b, int64_t ldb, int64_t nb, float alpha, const t4j_tile_out *o) {
#define CALL_DOT8_NB_AVX2(N) dot8_nb_avx2(N, k, a, lda, rows, b, ldb, alpha, o)
    T4J_WITH_CONST_1_TO_8(nb, CALL_DOT8_NB_AVX2)
#undef CALL_DOT8_NB_AVX2
}

int64_t t4j_peak_fma_avx2(int64_t iterations) {
    /* 12 independent chains: more than FMA latency x FMA ports, so throughput, not latency, bounds it.
     * Written out by hand: an array of accumulators would be kept in memory. */
    __m256 x = _mm256_set1_ps(1.0000001f), y = _mm256_set1_ps(0.9999999f);
    __m256 c0 = _mm256_set1_ps(0), c1 = _mm256_set1_ps(1), c2 = _mm256_set1_ps(2), c3 = _mm256_set1_ps(3), c4 = _mm256_set1_ps(4), c5 = _mm256_set1_ps(5);
    __m256 c6 = _mm256_set1_ps(6), c7 = _mm256_set1_ps(7), c8 = _mm256_set1_ps(8), c9 = _mm256_set1_ps(9), c10 = _mm256_set1_ps(10), c11 = _mm256_set1_ps(11);
    for (int64_t it = 0; it < iterations; it++) {
        c0 = _mm256_fmadd_ps(c0, x, y); c1 = _mm256_fmadd_ps(c1, x, y); c2 = _mm256_fmadd_ps(c2, x, y); c3 = _mm256_fmadd_ps(c3, x, y);
        c4 = _mm256_fmadd_ps(c4, x, y); c5 = _mm256_fmadd_ps(c5, x, y); c6 = _mm256_fmadd_ps(c6, x, y); c7 = _mm256_fmadd_ps(c7, x, y);
        c8 = _mm256_fmadd_ps(c8, x, y); c9 = _mm256_fmadd_ps(c9, x, y); c10 = _mm256_fmadd_ps(c10, x, y); c11 = _mm256_fmadd_ps(c11, x, y);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)), _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
    float out[8];
    _mm256_storeu_ps(out, s);
    volatile float sink = out[0];
    (void)sink;
    return iterations * 12 * 8 * 2;
}

static void lowrank_avx2(const t4j_lowrank *L, int64_t row0, int64_t col0, int64_t m_rem, int64_t n_rem, float *c, int64_t rsc) {
    t4j_lowrank_body(L, row0, col0, m_rem, n_rem, c, rsc);
}

const t4j_gemm_impl t4j_gemm_avx2 = {"avx2", MR, NR, 144, 384, 1024, kernel_avx2, t4j_pack_transpose_avx2, t4j_pack_copy_avx2,
                                      skinny_avx2, 6, dot_avx2, 2, t4j_peak_fma_avx2, lowrank_avx2, kernel_pack_avx2, kernel_direct_avx2, skinny_cols_avx2,
                                      dot8_avx2, 0}; /* copy_ahead not measured at AVX2 (no Intel Xeon without AVX-512 reached) */
