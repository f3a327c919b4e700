/* The mixed-adapter epilogue (t4j_lowrank in internal.h), written once and compiled by each GEMM level
 * (gemm_portable.c, gemm_avx2.c, gemm_avx512.c) with its own vector instructions. */
#ifndef TUNE4J_LOWRANK_TILE_H
#define TUNE4J_LOWRANK_TILE_H

#include "internal.h"

/* A vector of this level's width (GCC's vector extension), loaded and stored at any float's address. Rows of one
 * adapter share each row of B^T: up to LR_ROWS rows x 3 vectors of sums, plus 3 of B^T and a broadcast, fit the
 * level's registers (32 at AVX-512, 16 below). */
#if defined(__AVX512F__)
#define T4J_LR_LANES 16
#define T4J_LR_ROWS 8
#elif defined(__AVX__)
#define T4J_LR_LANES 8
#define T4J_LR_ROWS 4
#else
#define T4J_LR_LANES 4
#define T4J_LR_ROWS 4
#endif
typedef float t4j_lr_vec __attribute__((vector_size(4 * T4J_LR_LANES), aligned(4), may_alias));

/* nr rows of one adapter x nv vectors of columns (constants once inlined), C += hs B^T over the rank. The sums are
 * locals over fully unrolled loops, so they live in registers: arrays indexed in loops that GCC kept rolled stayed on the
 * stack, a load and a store per term (12% of a mixed layer's time). Each element of C takes its terms in rank order,
 * acc + hs[q] * b[q] (one fused multiply-add where the level has them), the same as the scalar columns below. */
static inline __attribute__((always_inline)) void t4j_lowrank_block(const int nr, const int nv, const float *const *hs, int64_t r, const float *bt,
                                                                    int64_t ldbt, float *c, int64_t rsc) {
    t4j_lr_vec acc[T4J_LR_ROWS][3];
#pragma GCC unroll 8
    for (int i = 0; i < nr; i++)
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++) acc[i][v] = *(const t4j_lr_vec *)(c + i * rsc + v * T4J_LR_LANES);
    for (int64_t q = 0; q < r; q++) {
        t4j_lr_vec b[3];
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++) b[v] = *(const t4j_lr_vec *)(bt + q * ldbt + v * T4J_LR_LANES);
#pragma GCC unroll 8
        for (int i = 0; i < nr; i++) {
            const float hq = hs[i][q];
#pragma GCC unroll 3
            for (int v = 0; v < nv; v++) acc[i][v] += hq * b[v];
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < nr; i++)
#pragma GCC unroll 3
        for (int v = 0; v < nv; v++) *(t4j_lr_vec *)(c + i * rsc + v * T4J_LR_LANES) = acc[i][v];
}

static inline __attribute__((always_inline)) void t4j_lowrank_rows(const int nr, const float *const *hs, int64_t r, const float *bt, int64_t ldbt, int64_t n,
                                                                   float *c, int64_t rsc) {
    const int64_t V = T4J_LR_LANES;
    int64_t j0 = 0;
    for (; j0 + 3 * V <= n; j0 += 3 * V) t4j_lowrank_block(nr, 3, hs, r, bt + j0, ldbt, c + j0, rsc);
    if (j0 + 2 * V <= n) t4j_lowrank_block(nr, 2, hs, r, bt + j0, ldbt, c + j0, rsc), j0 += 2 * V;
    if (j0 + V <= n) t4j_lowrank_block(nr, 1, hs, r, bt + j0, ldbt, c + j0, rsc), j0 += V;
    for (; j0 < n; j0++)
        for (int i = 0; i < nr; i++) {
            float acc = c[i * rsc + j0];
            for (int64_t q = 0; q < r; q++) acc += hs[i][q] * bt[q * ldbt + j0];
            c[i * rsc + j0] = acc;
        }
}

/* Rows [row0, row0 + m_rem) x columns [col0, col0 + n_rem) of C (t4j_lowrank_fn): each run of rows with one adapter in
 * pieces of LR_ROWS, 4, 2 and 1 rows. */
static inline __attribute__((always_inline)) void t4j_lowrank_body(const t4j_lowrank *L, int64_t row0, int64_t col0, int64_t m_rem, int64_t n_rem, float *c, int64_t rsc) {
    for (int64_t i0 = 0; i0 < m_rem;) {
        int32_t a = L->row_adapter[row0 + i0];
        int nr = 1;
        while (nr < T4J_LR_ROWS && i0 + nr < m_rem && L->row_adapter[row0 + i0 + nr] == a) nr++;
        nr = nr == T4J_LR_ROWS ? nr : nr >= 4 ? 4 : nr >= 2 ? 2 : 1;
        if (a >= 0) {
            const float *hs[T4J_LR_ROWS];
            for (int i = 0; i < nr; i++) hs[i] = L->hs + (row0 + i0 + i) * L->ldhs;
            const float *bt = L->bt[a] + col0;
            float *ci = c + i0 * rsc;
            const int64_t r = L->ranks[a];
            switch (nr) {
            case T4J_LR_ROWS: t4j_lowrank_rows(T4J_LR_ROWS, hs, r, bt, L->ldbt, n_rem, ci, rsc); break;
#if T4J_LR_ROWS > 4
            case 4: t4j_lowrank_rows(4, hs, r, bt, L->ldbt, n_rem, ci, rsc); break;
#endif
            case 2: t4j_lowrank_rows(2, hs, r, bt, L->ldbt, n_rem, ci, rsc); break;
            default: t4j_lowrank_rows(1, hs, r, bt, L->ldbt, n_rem, ci, rsc); break;
            }
        }
        i0 += nr;
    }
}

#endif
