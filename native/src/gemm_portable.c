/* gemm, portable level: a 4 x 8 tile in plain C that the compiler vectorises for the baseline ISA, and the scalar
 * pieces (tile store, packing) that the SIMD levels use for edges. The driver is gemm.c. */
#include <stddef.h>

#include "internal.h"
#include "lowrank_tile.h"

/* ---- scalar pieces shared with the SIMD levels ---- */

static inline void store_one(const float *acc, int64_t nr, const t4j_tile_out *o, int64_t i, int64_t j) {
    float v = acc[i * nr + j];
    float *dst = o->c + i * o->rsc + j * o->csc;
    if (o->beta != 0.0f) v += o->beta * *dst;
    if (o->bias != NULL) v += o->bias[i * o->bias_rs + j * o->bias_cs];
    *dst = v;
}

void t4j_store_tile_scalar(const float *acc, int64_t nr, const t4j_tile_out *o) {
    if (o->rsc == 1) {
        /* C stored transposed: walk each column of the tile, which is contiguous in memory */
        for (int64_t j = 0; j < o->n_rem; j++)
            for (int64_t i = 0; i < o->m_rem; i++) store_one(acc, nr, o, i, j);
    } else {
        for (int64_t i = 0; i < o->m_rem; i++)
            for (int64_t j = 0; j < o->n_rem; j++) store_one(acc, nr, o, i, j);
    }
}

void t4j_store_tile_transposed(const float *acc, int64_t nr, const t4j_tile_out *o) {
    t4j_tile_out t = *o; /* C's strides, extents and bias strides swapped */
    t.rsc = o->csc;
    t.csc = o->rsc;
    t.m_rem = o->n_rem;
    t.n_rem = o->m_rem;
    t.bias_rs = o->bias_cs;
    t.bias_cs = o->bias_rs;
    t4j_store_tile_scalar(acc, nr, &t);
}

void t4j_pack_transpose_scalar(const float *src, int64_t ld, int64_t rows, int64_t kc, int64_t R, float alpha, float *dst) {
    for (int64_t p = 0; p < kc; p++) {
        float *d = dst + p * R;
        for (int64_t i = 0; i < rows; i++) d[i] = alpha * src[i * ld + p];
        for (int64_t i = rows; i < R; i++) d[i] = 0.0f;
    }
}

void t4j_pack_copy_scalar(const float *src, int64_t ld, int64_t rows, int64_t len, int64_t kc, int64_t R, float alpha, float *dst) {
    for (int64_t p = 0; p < len; p++) {
        const float *s = src + p * ld;
        for (int64_t r0 = 0; r0 < rows; r0 += R) {
            float *d = dst + r0 * kc + p * R;
            int64_t n = T4J_MIN(R, rows - r0);
            for (int64_t j = 0; j < n; j++) d[j] = alpha * s[r0 + j];
            for (int64_t j = n; j < R; j++) d[j] = 0.0f;
        }
    }
}

/* ---- portable level: 4 x 8 tile, plain C the compiler vectorises for the baseline ISA (8 SSE
 * accumulators; 4 x 16 spilled and ran 4.5x slower) ---- */

#define P_MR 4
#define P_NR 8

static void kernel_portable(int64_t kc, const float *ap, const float *bp, const t4j_tile_out *out) {
    float acc[P_MR * P_NR] = {0};
    for (int64_t p = 0; p < kc; p++) {
        for (int i = 0; i < P_MR; i++) {
            float a = ap[i];
            for (int j = 0; j < P_NR; j++) acc[i * P_NR + j] += a * bp[j];
        }
        ap += P_MR;
        bp += P_NR;
    }
    t4j_store_tile_scalar(acc, P_NR, out);
}

/* 2 rows x 16 columns: 8 SSE-sized accumulators, as the 4 x 8 tile. */
static void skinny_portable(int64_t k, const float *a, int64_t rsa, int64_t csa, int64_t rows, const float *bn, float alpha, const t4j_tile_out *out) {
    float acc[2 * T4J_SKINNY_N] = {0};
    const float *row1 = a + T4J_MIN(1, rows - 1) * rsa;
    for (int64_t p = 0; p < k; p++) {
        float a0 = a[p * csa], a1 = row1[p * csa];
        for (int q = 0; q < T4J_SKINNY_N; q++) {
            acc[q] += a0 * bn[p * T4J_SKINNY_N + q];
            acc[T4J_SKINNY_N + q] += a1 * bn[p * T4J_SKINNY_N + q];
        }
    }
    for (int q = 0; q < 2 * T4J_SKINNY_N; q++) acc[q] *= alpha;
    t4j_store_tile_scalar(acc, T4J_SKINNY_N, out);
}

/* 2 rows of a x up to 4 rows of b, plain loops. */
static void dot_portable(int64_t k, const float *a, int64_t lda, int64_t rows, const float *b, int64_t ldb, int64_t nb, float alpha, const t4j_tile_out *out) {
    float tile[2 * T4J_DOT_NB] = {0};
    for (int64_t i = 0; i < rows; i++)
        for (int64_t q = 0; q < nb; q++) {
            float sum = 0.0f;
            for (int64_t p = 0; p < k; p++) sum += a[i * lda + p] * b[q * ldb + p];
            tile[i * T4J_DOT_NB + q] = alpha * sum;
        }
    t4j_store_tile_scalar(tile, T4J_DOT_NB, out);
}

int64_t t4j_peak_fma_portable(int64_t iterations) {
    float acc[8][4] = {{0}};
    const float x = 1.0000001f, y = 0.9999999f;
    for (int64_t it = 0; it < iterations; it++)
        for (int r = 0; r < 8; r++)
            for (int l = 0; l < 4; l++) acc[r][l] = acc[r][l] * x + y;
    volatile float sink = acc[0][0] + acc[7][3];
    (void)sink;
    return iterations * 8 * 4 * 2;
}

static void lowrank_portable(const t4j_lowrank *L, int64_t row0, int64_t col0, int64_t m_rem, int64_t n_rem, float *c, int64_t rsc) {
    t4j_lowrank_body(L, row0, col0, m_rem, n_rem, c, rsc);
}

const t4j_gemm_impl t4j_gemm_portable = {"portable", P_MR, P_NR, 64, 256, 512, kernel_portable, t4j_pack_transpose_scalar, t4j_pack_copy_scalar,
                                          skinny_portable, 2, dot_portable, 2, t4j_peak_fma_portable, lowrank_portable, NULL, NULL, NULL, NULL, 0};
