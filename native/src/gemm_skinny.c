/* gemm_skinny: products with one side of C at most 16 (LoRA's x A^T, g B, g^T h, gb^T x at its rank, a GEMV and
 * batches of a few rows), which the tiled driver (gemm.c) sends here: the long operand read in place, nothing or only
 * the short operand packed (ARCHITECTURE.md, "GEMM"). */
#include <stdlib.h>

#include "gemm_driver.h"

/* The general path would pack the long operand (x or g, T x d) to use it for 16 columns only; here it is
 * read in place, and only the short operand is packed (k x 16). Each row of C is one task's, summed over
 * all of k in order: the same bits for any thread count. */
typedef struct {
    const t4j_gemm_impl *impl;
    const float *a;          /* the long operand, A(i,p) = a[i*rsa + p*csa] */
    int64_t rsa, csa;
    const float *bn;         /* k x 16, packed; for dot products and skinny_cols the short operand in place ... */
    int64_t rsb, ldbn;       /* ... with its rows ldbn apart (skinny_cols: B(p, q) at bn[p*rsb + q*ldbn]) */
    int64_t m, n, k;
    float alpha, beta;
    float *c;
    int64_t rsc, csc;
    int64_t chunk;           /* rows per task, a multiple of skinny_rows */
    int stream;              /* dot products: a is over T4J_CACHED_WEIGHT_BYTES, its rows are prefetched */
} skinny_job;

static void skinny_task(void *ctx, int64_t task) {
    const skinny_job *S = ctx;
    const int64_t R = S->impl->skinny_rows;
    for (int64_t i = task * S->chunk; i < T4J_MIN(S->m, (task + 1) * S->chunk); i += R) {
        t4j_tile_out o = {.c = S->c + i * S->rsc, .rsc = S->rsc, .csc = S->csc, .m_rem = T4J_MIN(R, S->m - i),
                          .n_rem = S->n, .beta = S->beta};
        S->impl->skinny(S->k, S->a + i * S->rsa, S->rsa, S->csa, o.m_rem, S->bn, S->alpha, &o);
    }
}

/* C (m x n, n <= 16; element (i,q) at c[i*rsc + q*csc]) = beta C + alpha A(m x k) Bs(k x n), where
 * Bs(p,q) = bs[p*rsb + q*csb]. */
static void dot_task(void *ctx, int64_t task) {
    const skinny_job *S = ctx;
    const int64_t R = S->impl->dot_rows;
    for (int64_t i = task * S->chunk; i < T4J_MIN(S->m, (task + 1) * S->chunk); i += R) {
        t4j_tile_out o = {.c = S->c + i * S->rsc, .rsc = S->rsc, .csc = S->csc, .m_rem = T4J_MIN(R, S->m - i),
                          .n_rem = S->n, .beta = S->beta, .pf = S->stream ? S->a : NULL};
        S->impl->dot(S->k, S->a + i * S->rsa, S->rsa, o.m_rem, S->bn, S->ldbn, S->n, S->alpha, &o);
    }
}

/* dot8 (a short side of at most 8, A's rows along k): T4J_DOT8_ROWS rows of C a call. */
static void dot8_task(void *ctx, int64_t task) {
    const skinny_job *S = ctx;
    for (int64_t i = task * S->chunk; i < T4J_MIN(S->m, (task + 1) * S->chunk); i += T4J_DOT8_ROWS) {
        t4j_tile_out o = {.c = S->c + i * S->rsc, .rsc = S->rsc, .csc = S->csc, .m_rem = T4J_MIN(T4J_DOT8_ROWS, S->m - i), .n_rem = S->n, .beta = S->beta};
        S->impl->dot8(S->k, S->a + i * S->rsa, S->rsa, o.m_rem, S->bn, S->ldbn, S->n, S->alpha, &o);
    }
}

/* skinny_cols (consecutive rows of A adjacent, rsa = 1; a short side of at most 16): chunk rows per task, a multiple of
 * its 32; a short side over 8 (rank 16) as two calls of at most 8 columns, the second reading the strip of A the first
 * brought into L2. */
static void skinny_cols_task(void *ctx, int64_t task) {
    const skinny_job *S = ctx;
    for (int64_t i = task * S->chunk; i < T4J_MIN(S->m, (task + 1) * S->chunk); i += T4J_SKINNY_COLS_ROWS)
        for (int64_t q = 0; q < S->n; q += T4J_SKINNY_COLS_N) {
            t4j_tile_out o = {.c = S->c + i * S->rsc + q * S->csc, .rsc = S->rsc, .csc = S->csc, .m_rem = T4J_MIN(T4J_SKINNY_COLS_ROWS, S->m - i),
                              .n_rem = T4J_MIN(T4J_SKINNY_COLS_N, S->n - q), .beta = S->beta};
            S->impl->skinny_cols(S->k, S->a + i, S->csa, o.m_rem, S->bn + q * S->ldbn, S->rsb, S->ldbn, o.n_rem, S->alpha, &o);
        }
}

/* Rows of C per task for a skinny or dot-product job whose kernel takes `rows` rows a call: the calls split evenly
 * among the threads, and one thread for a product under 2 MFLOP. */
static int64_t skinny_chunk(int64_t m, int64_t n, int64_t k, int64_t rows) {
    int64_t blocks = t4j_ceil_div(m, rows);
    int64_t threads = 2.0 * m * n * k < 2.0e6 ? 1 : T4J_MIN((int64_t)t4j_num_threads(), blocks);
    return t4j_ceil_div(blocks, threads) * rows;
}

int32_t t4j_gemm_skinny(const t4j_gemm_impl *I, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t rsa,
                           int64_t csa, const float *bs, int64_t rsb, int64_t csb, float beta, float *c, int64_t rsc, int64_t csc) {
    if (I->skinny_cols != NULL && rsa == 1 && n <= T4J_SKINNY_N) {
        /* A stored transposed (LoRA's gᵀ h, and gbᵀ x̃ computed as its transpose): its rows along the lanes, B in place */
        skinny_job S = {.impl = I, .a = a, .rsa = 1, .csa = csa, .bn = bs, .rsb = rsb, .ldbn = csb, .m = m, .n = n, .k = k, .alpha = alpha,
                        .beta = beta, .c = c, .rsc = rsc, .csc = csc, .chunk = skinny_chunk(m, n, k, T4J_SKINNY_COLS_ROWS)};
        t4j_parallel(t4j_ceil_div(m, S.chunk), skinny_cols_task, &S);
        return T4J_OK;
    }
    if (n <= T4J_DOT_NB && csa == 1 && rsb == 1) {
        /* both operands contiguous along k: dot products, nothing packed (a GEMV reads W once, in order) */
        skinny_job S = {.impl = I, .a = a, .rsa = rsa, .csa = 1, .bn = bs, .ldbn = csb, .m = m, .n = n, .k = k,
                        .alpha = alpha, .beta = beta, .c = c, .rsc = rsc, .csc = csc,
                        .chunk = skinny_chunk(m, n, k, I->dot_rows), .stream = m * k * (int64_t)sizeof(float) > T4J_CACHED_WEIGHT_BYTES};
        t4j_parallel(t4j_ceil_div(m, S.chunk), dot_task, &S);
        return T4J_OK;
    }
    if (I->dot8 != NULL && n <= T4J_DOT8_NB && csa == 1) {
        /* A's rows along k (LoRA's x Aᵀ and g B at rank 8): dot products with B's columns as rows along k, in place
         * (x Aᵀ) or copied so (g B: B [d_out, r], a few KB) */
        float *bt = NULL;
        if (rsb != 1) {
            /* 64-byte aligned: from malloc's 16 every other vector load of a row split a cache line (gb 77 µs against x Aᵀ's 59) */
            if ((bt = aligned_alloc(64, (size_t)((n * k + 15) / 16 * 16) * sizeof(float))) == NULL) return T4J_ERR_NO_MEMORY;
            for (int64_t q = 0; q < n; q++)
                for (int64_t p = 0; p < k; p++) bt[q * k + p] = bs[p * rsb + q * csb];
        }
        skinny_job S = {.impl = I, .a = a, .rsa = rsa, .csa = 1, .bn = bt != NULL ? bt : bs, .ldbn = bt != NULL ? k : csb, .m = m, .n = n, .k = k,
                        .alpha = alpha, .beta = beta, .c = c, .rsc = rsc, .csc = csc, .chunk = skinny_chunk(m, n, k, T4J_DOT8_ROWS)};
        t4j_parallel(t4j_ceil_div(m, S.chunk), dot8_task, &S);
        free(bt);
        return T4J_OK;
    }
    float *bn = aligned_alloc(64, (size_t)(k * T4J_SKINNY_N) * sizeof(float));
    if (bn == NULL) return T4J_ERR_NO_MEMORY;
    if (rsb == 1) /* B's columns along k (LoRA's x Aᵀ at rank 9-16: A's rows): the level's transposing pack, not one strided load an element */
        I->pack_transpose(bs, csb, n, k, T4J_SKINNY_N, 1.0f, bn);
    else
        for (int64_t p = 0; p < k; p++)
            for (int64_t q = 0; q < T4J_SKINNY_N; q++) bn[p * T4J_SKINNY_N + q] = q < n ? bs[p * rsb + q * csb] : 0.0f;
    skinny_job S = {.impl = I, .a = a, .rsa = rsa, .csa = csa, .bn = bn, .m = m, .n = n, .k = k, .alpha = alpha,
                    .beta = beta, .c = c, .rsc = rsc, .csc = csc, .chunk = skinny_chunk(m, n, k, I->skinny_rows)};
    t4j_parallel(t4j_ceil_div(m, S.chunk), skinny_task, &S);
    free(bn);
    return T4J_OK;
}
