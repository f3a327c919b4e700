/* lora mixed: the low-rank terms of a batch whose rows use different LoRA adapters over one base
 * (tune4j.h "lora mixed"; ARCHITECTURE.md "Many adapters").
 *   shrink  h[p, 0:r_i] = x[p] A_i^T            (h's columns r_i..ldh-1 zeroed)
 *   expand  y[p]       += s_i h[p, 0:r_i] B_i^T
 * Shapes: x [t, d_in] (row stride ldx), A_i [r_i, d_in], B_i [d_out, r_i], h [t, ldh], y [t, ldy].
 * Both forms become one list of pieces (row0, rows, adapter): a segment, or a run of equal adapters in the
 * per-row form, cut into pieces of at most PIECE_ROWS rows. Each piece is one product on the calling
 * thread (the gemm's skinny path for shrink, a rank-long K for expand, its dot path for a single row),
 * so every SIMD level's GEMM kernels do the work; pieces are split over the threads and never share an
 * output row, so any thread count gives the same bits. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define PIECE_ROWS 96 /* rows per task: a multiple of every level's register tile height */

typedef struct {
    int64_t row0, rows;
    int32_t adapter;
} piece;

typedef struct {
    const piece *pieces;
    int64_t d;                /* d_in (shrink) or d_out (expand) */
    const float *const *w;    /* A_i (shrink) or B_i (expand) */
    const int64_t *ranks;
    const float *scales;      /* expand only */
    const float *src;         /* x (shrink) or h (expand) */
    int64_t lds;
    float *dst;               /* h (shrink) or y (expand) */
    int64_t ldd;
    atomic_int rc;            /* a failure (any), T4J_OK when none */
} mixed_ctx;

/* Cuts rows [row0, row0 + rows) into pieces; returns the new count. */
static int64_t add_pieces(piece *out, int64_t n, int64_t row0, int64_t rows, int32_t adapter) {
    for (int64_t r = 0; r < rows; r += PIECE_ROWS) out[n++] = (piece){row0 + r, T4J_MIN(PIECE_ROWS, rows - r), adapter};
    return n;
}

/* The pieces of the segmented form, or NULL when out of memory (*n = 0 for no rows). */
static piece *segment_pieces(int64_t nseg, const int32_t *start, const int32_t *adapter, int64_t *n) {
    int64_t count = 0;
    for (int64_t s = 0; s < nseg; s++) count += ((int64_t)start[s + 1] - start[s] + PIECE_ROWS - 1) / PIECE_ROWS;
    piece *p = malloc((size_t)T4J_MAX(count, 1) * sizeof(piece));
    *n = 0;
    if (p != NULL)
        for (int64_t s = 0; s < nseg; s++) *n = add_pieces(p, *n, start[s], (int64_t)start[s + 1] - start[s], adapter[s]);
    return p;
}

/* The pieces of the per-row form: runs of rows with the same adapter. */
static piece *row_pieces(int64_t t, const int32_t *row_adapter, int64_t *n) {
    piece *p = malloc((size_t)T4J_MAX(t, 1) * sizeof(piece)); /* at most one piece a row */
    *n = 0;
    if (p == NULL) return NULL;
    for (int64_t r0 = 0, r1; r0 < t; r0 = r1) {
        for (r1 = r0 + 1; r1 < t && row_adapter[r1] == row_adapter[r0]; r1++) {}
        *n = add_pieces(p, *n, r0, r1 - r0, row_adapter[r0]);
    }
    return p;
}

static void shrink_task(void *vctx, int64_t task) {
    mixed_ctx *c = vctx;
    piece pc = c->pieces[task];
    float *h = c->dst + pc.row0 * c->ldd;
    int64_t r = pc.adapter < 0 ? 0 : c->ranks[pc.adapter];
    for (int64_t i = 0; i < pc.rows && r < c->ldd; i++) memset(h + i * c->ldd + r, 0, (size_t)(c->ldd - r) * sizeof(float));
    if (r == 0) return;
    /* h [rows, r] = x [rows, d_in] A_i^T */
    t4j_kseg seg = {.a = c->src + pc.row0 * c->lds, .rsa = c->lds, .csa = 1, .b = c->w[pc.adapter], .rsb = 1, .csb = c->d, .k = c->d, .alpha = 1.0f};
    int32_t rc = t4j_gemm_segments(pc.rows, r, &seg, 1, 0.0f, h, c->ldd, NULL);
    if (rc != T4J_OK) atomic_store(&c->rc, rc);
}

static void expand_task(void *vctx, int64_t task) {
    mixed_ctx *c = vctx;
    piece pc = c->pieces[task];
    if (pc.adapter < 0) return;
    int64_t r = c->ranks[pc.adapter];
    /* y [rows, d_out] += s_i h [rows, r] B_i^T */
    t4j_kseg seg = {.a = c->src + pc.row0 * c->lds, .rsa = c->lds, .csa = 1, .b = c->w[pc.adapter], .rsb = 1, .csb = r, .k = r, .alpha = c->scales[pc.adapter]};
    int32_t rc = t4j_gemm_segments(pc.rows, c->d, &seg, 1, 1.0f, c->dst + pc.row0 * c->ldd, c->ldd, NULL);
    if (rc != T4J_OK) atomic_store(&c->rc, rc);
}

/* Runs fn over the pieces; flops is the region's estimate (rows x d x ldh x 2). */
static int32_t run(piece *pieces, int64_t n, t4j_task_fn fn, mixed_ctx *c, double flops) {
    if (pieces == NULL) return T4J_ERR_NO_MEMORY;
    c->pieces = pieces;
    atomic_init(&c->rc, T4J_OK);
    t4j_parallel_sized(n, fn, c, flops);
    free(pieces);
    return atomic_load(&c->rc);
}

T4J_EXPORT int32_t t4j_lora_shrink_segments(int64_t nseg, const int32_t *seg_start, const int32_t *seg_adapter, int64_t d_in, const float *const *a, const int64_t *ranks, const float *x, int64_t ldx, float *h, int64_t ldh) {
    int64_t n;
    piece *p = segment_pieces(nseg, seg_start, seg_adapter, &n);
    mixed_ctx c = {.d = d_in, .w = a, .ranks = ranks, .src = x, .lds = ldx, .dst = h, .ldd = ldh};
    return run(p, n, shrink_task, &c, 2.0 * (double)seg_start[nseg] * (double)d_in * (double)ldh);
}

T4J_EXPORT int32_t t4j_lora_expand_segments(int64_t nseg, const int32_t *seg_start, const int32_t *seg_adapter, int64_t d_out, const float *const *b, const int64_t *ranks, const float *scales, const float *h, int64_t ldh, float *y, int64_t ldy) {
    int64_t n;
    piece *p = segment_pieces(nseg, seg_start, seg_adapter, &n);
    mixed_ctx c = {.d = d_out, .w = b, .ranks = ranks, .scales = scales, .src = h, .lds = ldh, .dst = y, .ldd = ldy};
    return run(p, n, expand_task, &c, 2.0 * (double)seg_start[nseg] * (double)d_out * (double)ldh);
}

T4J_EXPORT int32_t t4j_lora_shrink_rows(int64_t t, const int32_t *row_adapter, int64_t d_in, const float *const *a, const int64_t *ranks, const float *x, int64_t ldx, float *h, int64_t ldh) {
    int64_t n;
    piece *p = row_pieces(t, row_adapter, &n);
    mixed_ctx c = {.d = d_in, .w = a, .ranks = ranks, .src = x, .lds = ldx, .dst = h, .ldd = ldh};
    return run(p, n, shrink_task, &c, 2.0 * (double)t * (double)d_in * (double)ldh);
}

T4J_EXPORT int32_t t4j_lora_expand_rows(int64_t t, const int32_t *row_adapter, int64_t d_out, const float *const *b, const int64_t *ranks, const float *scales, const float *h, int64_t ldh, float *y, int64_t ldy) {
    int64_t n;
    piece *p = row_pieces(t, row_adapter, &n);
    mixed_ctx c = {.d = d_out, .w = b, .ranks = ranks, .scales = scales, .src = h, .lds = ldh, .dst = y, .ldd = ldy};
    return run(p, n, expand_task, &c, 2.0 * (double)t * (double)d_out * (double)ldh);
}

typedef struct {
    const t4j_gemm_impl *impl;
    int64_t d_out;
    const float *const *b;
    const int64_t *ranks;
    const float *const *bt; /* where each adapter's Bᵀ goes, inside buf */
    float *buf;
} transpose_job;

/* B_i [d_out, r_i] -> bt[i] [r_i, d_out] through the level's transposing pack (squares transposed in registers): one
 * task an adapter. The copy is exact (times 1). */
static void transpose_task(void *ctx, int64_t i) {
    const transpose_job *J = ctx;
    J->impl->pack_transpose(J->b[i], J->ranks[i], J->d_out, J->ranks[i], J->d_out, 1.0f, J->buf + (J->bt[i] - J->buf));
}

/* B_i [d_out, r_i] transposed into one buffer of the calling thread's (bt[i] points into it) for the tile epilogue, the
 * adapters split over the threads (done in the calling thread alone, 32 adapters' factors of MiniLM's FFN were 3% of a
 * mixed batch on two threads); NULL when out of memory. */
static float *transpose_factors(int64_t n, int64_t d_out, const float *const *b, const int64_t *ranks, const float **bt) {
    int64_t total = 0;
    for (int64_t i = 0; i < n; i++) total += ranks[i] * d_out;
    float *buf = t4j_thread_scratch(T4J_SCRATCH_MIXED_BT, (size_t)T4J_MAX(total, 1) * sizeof(float));
    if (buf == NULL) return NULL;
    float *at = buf;
    for (int64_t i = 0; i < n; i++) {
        bt[i] = at;
        at += ranks[i] * d_out;
    }
    transpose_job J = {.impl = t4j_gemm_current(), .d_out = d_out, .b = b, .ranks = ranks, .bt = bt, .buf = buf};
    t4j_parallel_sized(n, transpose_task, &J, 16.0 * (double)total); /* a memory pass: weighed as a few flops an element */
    return buf;
}

/* The mixed layer over W as is (w) or packed ahead (packed, w NULL). */
static int32_t mixed_forward(int64_t t, int64_t d_in, int64_t d_out, const float *x, int64_t ldx, const float *w, const void *packed, const float *bias, int64_t nseg,
                             const int32_t *seg_start, const int32_t *seg_adapter, int64_t nadapters, const float *const *a, const float *const *b,
                             const int64_t *ranks, const float *scales, float *h, int64_t ldh, float *y, int64_t ldy) {
    int32_t rc = t4j_lora_shrink_segments(nseg, seg_start, seg_adapter, d_in, a, ranks, x, ldx, h, ldh);
    if (rc != T4J_OK) return rc;
    int32_t *row_adapter = malloc((size_t)T4J_MAX(t, 1) * sizeof(int32_t));
    float *hs = t4j_thread_scratch(T4J_SCRATCH_MIXED_HS, (size_t)T4J_MAX(t * ldh, 1) * sizeof(float));
    const float **bt = malloc((size_t)T4J_MAX(nadapters, 1) * sizeof(float *));
    float *bt_buf = bt == NULL ? NULL : transpose_factors(nadapters, d_out, b, ranks, bt);
    if (row_adapter == NULL || hs == NULL || bt_buf == NULL) {
        rc = T4J_ERR_NO_MEMORY;
    } else {
        for (int64_t s = 0; s < nseg; s++)
            for (int64_t p = seg_start[s]; p < seg_start[s + 1]; p++) {
                row_adapter[p] = seg_adapter[s];
                /* h's row times its adapter's scale, as t4j_lowrank's hs (the rank's columns; the epilogue reads no more) */
                if (seg_adapter[s] >= 0)
                    for (int64_t q = 0; q < ranks[seg_adapter[s]]; q++) hs[p * ldh + q] = scales[seg_adapter[s]] * h[p * ldh + q];
            }
        t4j_lowrank L = {.hs = hs, .ldhs = ldh, .row_adapter = row_adapter, .bt = bt, .ranks = ranks, .ldbt = d_out};
        /* y = x W^T + bias, each tile then given its rows' low-rank terms */
        t4j_kseg seg = {.a = x, .rsa = ldx, .csa = 1, .b = w, .rsb = 1, .csb = d_in, .k = d_in, .alpha = 1.0f};
        rc = packed != NULL ? t4j_linear_packed_lowrank(t, d_out, d_in, x, ldx, packed, bias, y, ldy, &L)
                            : t4j_gemm_segments_lowrank(t, d_out, &seg, 1, 0.0f, y, ldy, bias, &L);
    }
    free(row_adapter);
    free(bt);
    return rc;
}

T4J_EXPORT int32_t t4j_lora_mixed_forward(int64_t t, int64_t d_in, int64_t d_out, const float *x, int64_t ldx, const float *w, const float *bias, int64_t nseg, const int32_t *seg_start, const int32_t *seg_adapter, int64_t nadapters, const float *const *a, const float *const *b, const int64_t *ranks, const float *scales, float *h, int64_t ldh, float *y, int64_t ldy) {
    return mixed_forward(t, d_in, d_out, x, ldx, w, NULL, bias, nseg, seg_start, seg_adapter, nadapters, a, b, ranks, scales, h, ldh, y, ldy);
}

T4J_EXPORT int32_t t4j_lora_mixed_forward_packed(int64_t t, int64_t d_in, int64_t d_out, const float *x, int64_t ldx, const void *packed_w, const float *bias, int64_t nseg, const int32_t *seg_start, const int32_t *seg_adapter, int64_t nadapters, const float *const *a, const float *const *b, const int64_t *ranks, const float *scales, float *h, int64_t ldh, float *y, int64_t ldy) {
    return mixed_forward(t, d_in, d_out, x, ldx, NULL, packed_w, bias, nseg, seg_start, seg_adapter, nadapters, a, b, ranks, scales, h, ldh, y, ldy);
}
