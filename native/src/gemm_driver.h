/* The tiled GEMM's driver as gemm.c runs it, shared with gemm_packed.c (a linear layer's weights packed ahead):
 * the job a parallel region runs, the packing of a view's slivers and the run itself (ARCHITECTURE.md, "GEMM"). */
#ifndef T4J_GEMM_DRIVER_H
#define T4J_GEMM_DRIVER_H

#include <stdatomic.h>

#include "internal.h"

/* A (or B) viewed as one matrix whose K axis is the concatenation of the segments'. */
typedef struct {
    const t4j_kseg *segs;
    int nseg;
    int use_b; /* 0: the A operands (rows = M), 1: the B operands (rows = N) */
} kview;

typedef struct {
    const t4j_gemm_impl *impl;
    kview av, bv;
    int64_t m, n, k;
    int64_t mc, nc;      /* the cache blocks in use: the level's, or those set by t4j_gemm_set_blocks */
    int64_t kb;          /* K block length (the last may be shorter) */
    float beta;
    float *c;
    int64_t rsc, csc;
    const float *bias;
    int64_t bias_rs, bias_cs;
    const t4j_lowrank *lowrank; /* or NULL: added to each tile after its last K block */
    const float *bpacked; /* B packed ahead (t4j_linear_pack: K block pc at bpacked + pc*bnpad, its slivers in
                           * order), or NULL: B is packed here */
    int64_t bnpad;       /* columns of the packed B, a multiple of the tile's */
    const float *apacked; /* A packed once for every task (t4j_gemm_run_tiled: K block pc at apacked + pc*ampad, its
                           * slivers in order), or NULL: each task packs the A block it uses */
    int64_t ampad;       /* rows of the packed A, a multiple of the tile's */
    int split_n;         /* tasks split columns (1) or rows (0) */
    int64_t chunk;       /* columns or rows per task, a multiple of the tile: the first big_tasks tasks */
    int64_t big_tasks;   /* tasks of chunk; the tasks after them take small_chunk each (t4j_gemm_run_tiled) */
    int64_t small_chunk;
    atomic_int failed;   /* a thread could not get its packing buffers */
} gemm_job;

static inline int64_t t4j_ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Packs rows [r0, r0+rows) of the view over K range [pc, pc+kc) into ceil(rows/R) slivers, sliver s at
 * dst + s*R*kc laid out as [p*R + i]. */
void t4j_gemm_pack_view(const t4j_gemm_impl *impl, const kview *v, int64_t r0, int64_t rows, int64_t pc, int64_t kc, int64_t R, float *dst);
/* The K block for k at cache block kc: blocks of nearly equal length (a short tail block would cost a pass over C). */
int64_t t4j_gemm_k_block(int64_t k, int64_t kc);
/* Runs a tiled job whose operands, blocks and C are set, on the pool. */
int32_t t4j_gemm_run_tiled(gemm_job *J);
/* The low-rank terms in a pass of their own over C (after the paths that do not tile C row-major); returns rc. */
int32_t t4j_gemm_lowrank_pass(const t4j_gemm_impl *I, const t4j_lowrank *L, int64_t m, int64_t n, float *c, int64_t ldc, int32_t rc);
/* C (m x n, n <= T4J_SKINNY_N; element (i,q) at c[i*rsc + q*csc]) = beta C + alpha A(m x k) Bs(k x n), with
 * A(i,p) = a[i*rsa + p*csa] and Bs(p,q) = bs[p*rsb + q*csb], by the level's skinny, dot, dot8 or skinny_cols kernel
 * (gemm_skinny.c). Returns T4J_OK or T4J_ERR_NO_MEMORY. */
int32_t t4j_gemm_skinny(const t4j_gemm_impl *I, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t rsa, int64_t csa, const float *bs,
                        int64_t rsb, int64_t csb, float beta, float *c, int64_t rsc, int64_t csc);

#endif
