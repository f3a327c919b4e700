/* gemm: C = alpha op(A) op(B) + beta C, f32, row-major.
 *
 * The classic blocked scheme (Goto; BLIS): for each column panel of C (nc wide) and each K block (kc),
 * for each row block (mc) A is packed into MR-tall slivers (L2) and each NR-wide B sliver (L1) is
 * multiplied by every A sliver by a register-tiled micro-kernel (ARCHITECTURE.md, "GEMM").
 * The SIMD levels differ only in their micro-kernel, tile sizes and pack routine (gemm_avx2.c,
 * gemm_avx512.c, gemm_portable.c); this file holds the driver, gemm_skinny.c the products with a side of C at most 16.
 *
 * The driver works over "K segments" (internal.h): several (A, B) pairs whose K axes are concatenated,
 * so a LoRA layer's low-rank term rides in the same output tiles as the base product. Its job and pieces are
 * declared in gemm_driver.h, which gemm_packed.c (weights packed ahead) shares.
 *
 * Threads split C into column (or row) ranges aligned to the tile; each thread runs the whole K
 * reduction for its range in the same order, so results do not depend on the thread count. */
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>

#include "gemm_driver.h"

/* ---- the driver ---- */

/* gemm_driver.h */
void t4j_gemm_pack_view(const t4j_gemm_impl *impl, const kview *v, int64_t r0, int64_t rows, int64_t pc, int64_t kc, int64_t R, float *dst) {
    int64_t seg_start = 0;
    for (int s = 0; s < v->nseg; s++) {
        const t4j_kseg *g = &v->segs[s];
        int64_t lo = T4J_MAX(pc, seg_start), hi = T4J_MIN(pc + kc, seg_start + g->k);
        if (lo < hi) {
            /* element (row r, k index p) of this operand is base[r*rs + p*ks], times alpha */
            const float *base;
            int64_t rs, ks;
            float alpha;
            if (v->use_b) { base = g->b; rs = g->csb; ks = g->rsb; alpha = 1.0f; }
            else { base = g->a; rs = g->rsa; ks = g->csa; alpha = g->alpha; }
            const float *src = base + r0 * rs + (lo - seg_start) * ks;
            float *d = dst + (lo - pc) * R;
            int64_t len = hi - lo;
            if (rs == 1) {
                impl->pack_copy(src, ks, rows, len, kc, R, alpha, d);
            } else {
                for (int64_t r = 0; r < rows; r += R) {
                    int64_t n = T4J_MIN(R, rows - r);
                    if (ks == 1) impl->pack_transpose(src + r * rs, rs, n, len, R, alpha, d + r * kc);
                    else {
                        float *o = d + r * kc;
                        for (int64_t p = 0; p < len; p++) {
                            for (int64_t i = 0; i < n; i++) o[p * R + i] = alpha * src[(r + i) * rs + p * ks];
                            for (int64_t i = n; i < R; i++) o[p * R + i] = 0.0f;
                        }
                    }
                }
            }
        }
        seg_start += g->k;
    }
}

/* Where rows [r0, r0 + R) of the view over K range [pc, pc + kc) are read from, when the segment holding pc has
 * its rows adjacent (element (r, p) at src[r + p*ld]: a B sliver read row by row, R floats ld apart); NULL
 * otherwise. *len: how many of the range's kc rows lie in that segment (all of them, or the head of a block that
 * runs into the next segment, as a LoRA layer's last K block runs from W into its A). The kernels prefetch that
 * much of the next sliver while the sliver before is in use, and pack a whole one as they read it. */
static const float *sliver_source(const kview *v, int64_t r0, int64_t pc, int64_t kc, int64_t *ld, int64_t *len) {
    int64_t seg_start = 0;
    for (int s = 0; s < v->nseg; s++) {
        const t4j_kseg *g = &v->segs[s];
        if (pc >= seg_start && pc < seg_start + g->k) {
            const float *base = v->use_b ? g->b : g->a;
            int64_t rs = v->use_b ? g->csb : g->rsa, ks = v->use_b ? g->rsb : g->csa;
            if (rs != 1) return NULL;
            *ld = ks;
            *len = T4J_MIN(kc, seg_start + g->k - pc);
            return base + r0 + (pc - seg_start) * ks;
        }
        seg_start += g->k;
    }
    return NULL;
}

/* A's first segment where the kernel reads it in place (t4j_direct_kernel_fn), or NULL: a plain row-major one (the
 * activations x, a gradient g), at a level with a direct kernel. The segments after it (a LoRA layer's s·h or s·gB, a
 * few columns) are packed into each sliver's tail (t4j_tile_out.atail). Not with rows a multiple of 4 KiB apart (1024,
 * 2048, 4096 wide): a tile's rows read in step would then share one L1 set, and in spells of slow processes (5 of 12
 * in one) such a product ran 25% slower than with A packed (BENCHMARKS.md, twenty-sixth session). */
static const float *direct_a(const gemm_job *J) {
    const t4j_kseg *as = &J->av.segs[0];
#ifdef T4J_DIRECT_A_PACKED_B_ONLY /* as before the seventeenth session: an A/B build */
    if (J->bpacked == NULL) return NULL;
#endif
#ifdef T4J_DIRECT_A_ONE_SEGMENT /* as before the twenty-sixth session: an A/B build */
    if (J->av.nseg != 1) return NULL;
#endif
#ifndef T4J_DIRECT_A_ANY_STRIDE /* as before the twenty-sixth session: an A/B build */
    if (as->rsa % 1024 == 0) return NULL;
#endif
    return J->impl->kernel_direct != NULL && as->csa == 1 && as->alpha == 1.0f ? as->a : NULL;
}

#ifndef T4J_A_PREFETCH
#define T4J_A_PREFETCH 1 /* 0 builds without the prefetch of the next tile's A rows (t4j_tile_out.apf): an A/B build */
#endif

/* Where the B sliver at column jr of the panel is packed: its place in the panel, or with a single row block the
 * first or second of two slivers' buffers in turn (one in use while the next is copied ahead into the other). */
static inline float *sliver_buffer(float *bp, int single, int64_t jr, int64_t nr, int64_t kc) {
    return single ? bp + ((jr / nr) & 1) * nr * kc : bp + jr * kc;
}

/* C rows [m0, m1) x columns [n0, n1), the whole K reduction.
 * Loop order (ARCHITECTURE.md, "GEMM"): for each row block, each B sliver (kc x NR, packed into L1) is
 * used by every A sliver of the block (the block packed into L2). B slivers are packed when the first row
 * block first needs them, into the panel (later row blocks reuse them) or, with a single row block, into
 * two slivers' buffers in turn; while one sliver is in use the kernels prefetch the source of the next, or
 * (copy_ahead) copy it into its buffer, so the pass over B (from memory, for a 4096 x 4096 weight) overlaps the
 * arithmetic. */
static void gemm_block(const gemm_job *J, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
    const t4j_gemm_impl *I = J->impl;
    const int64_t MR = I->mr, NR = I->nr;
    const int64_t mc_max = T4J_MAX(MR, (J->mc / MR) * MR);
    const int single = m1 - m0 <= mc_max;
    /* With a single row block each B sliver is used once, so the panel spans all columns: A is packed
     * once (a 128 x 4096 x 4096 GEMM packs A once instead of 4 times) and B needs one sliver's buffer. */
    const int64_t nc_max = single ? ((n1 - n0 + NR - 1) / NR) * NR : T4J_MAX(NR, (J->nc / NR) * NR);
    /* A plain row-major A: the kernel reads whole slivers of A where they lie (t4j_direct_kernel_fn); a last sliver
     * of fewer than MR rows is still packed, and so is the first where B is packed here: its tile's kernel packs the
     * B sliver as it reads it (kernel_pack), which takes A packed */
    const t4j_kseg *as = &J->av.segs[0];
    const float *adirect = direct_a(J);
    const int64_t head = adirect != NULL && J->bpacked == NULL && I->kernel_pack != NULL ? MR : 0; /* rows packed ahead of those in place, in the first row block */
    /* per thread, kept; none where A was packed once for every task */
    float *apack = J->apacked ? NULL : t4j_thread_scratch(T4J_SCRATCH_GEMM_A, (size_t)(mc_max * J->kb) * sizeof(float));
    const float *ap = apack; /* the A block the tiles read: apack, or its place in the shared A */
    /* with a single row block, two slivers' buffers: one in use while the next is copied ahead into the other */
    float *bp = J->bpacked ? NULL : t4j_thread_scratch(T4J_SCRATCH_GEMM_B, (size_t)((single ? 2 * NR : nc_max) * J->kb) * sizeof(float));
    if ((apack == NULL && J->apacked == NULL) || (bp == NULL && J->bpacked == NULL)) {
        atomic_store((atomic_int *)&J->failed, 1);
        return;
    }
    for (int64_t jc = n0; jc < n1; jc += nc_max) {
        int64_t nc = T4J_MIN(nc_max, n1 - jc);
        for (int64_t pc = 0; pc < J->k; pc += J->kb) {
            int64_t kc = T4J_MIN(J->kb, J->k - pc);
            int first = pc == 0;
            for (int64_t ic = m0; ic < m1; ic += mc_max) {
                int64_t mc = T4J_MIN(mc_max, m1 - ic);
                int64_t slivers = (mc + MR - 1) / MR, share = (kc + slivers - 1) / slivers;
                int64_t whole = adirect != NULL ? (mc / MR) * MR : 0, lead = ic == m0 ? T4J_MIN(head, whole) : 0; /* rows [lead, whole) read in place */
                /* of this K block, kin steps lie in A's first segment (read in place), the ktail after them in the
                 * others: packed for rows [lead, whole) as slivers of MR x ktail, after the lead rows' slivers */
                int64_t kin = T4J_MAX(0, T4J_MIN(kc, as->k - pc)), ktail = kc - kin;
                if (J->apacked != NULL) {
                    ap = J->apacked + pc * J->ampad + ic * kc; /* packed before the tasks (A is never read in place then) */
                } else {
                    if (lead > 0) t4j_gemm_pack_view(I, &J->av, ic, lead, pc, kc, MR, apack);
                    if (ktail > 0 && lead < whole) t4j_gemm_pack_view(I, &J->av, ic + lead, whole - lead, pc + kin, ktail, MR, apack + lead * kc);
                    if (whole < mc) t4j_gemm_pack_view(I, &J->av, ic + whole, mc - whole, pc, kc, MR, apack + whole * kc);
                }
                const float *atail = ap + lead * kc;
                int64_t copied = -1; /* the sliver (its jr) the calls of the sliver before it packed (copy-ahead) */
                for (int64_t jr = 0; jr < nc; jr += NR) {
                    const float *bs, *next = NULL, *fuse_src = NULL;
                    float *ahead = NULL; /* where the next sliver is copied to, during this one's calls */
                    int64_t pf_ld = 0, fuse_ld = 0, pf_len = kc; /* pf_len: rows of the next sliver in its first segment */
                    if (J->bpacked != NULL) {
                        /* packed ahead: the sliver is read where it lies, and the next one (adjacent) prefetched */
                        bs = J->bpacked + pc * J->bnpad + (jc + jr) * kc;
                        if (jr + NR < nc) next = bs + NR * kc, pf_ld = NR;
                    } else {
                        float *dst = sliver_buffer(bp, single, jr, NR, kc);
                        if (ic == m0 && copied != jr) {
                            /* a whole sliver whose rows lie adjacent in one source: the first tile's kernel packs it */
                            int64_t len = 0;
                            if (I->kernel_pack != NULL && nc - jr >= NR) fuse_src = sliver_source(&J->bv, jc + jr, pc, kc, &fuse_ld, &len);
                            if (len < kc) fuse_src = NULL;
                            if (fuse_src == NULL) t4j_gemm_pack_view(I, &J->bv, jc + jr, T4J_MIN(NR, nc - jr), pc, kc, NR, dst);
                        }
                        bs = dst;
                        if (ic == m0 && jr + NR < nc) next = sliver_source(&J->bv, jc + jr + NR, pc, kc, &pf_ld, &pf_len);
                        /* a whole next sliver in one source: packed by this one's calls as they prefetch it */
                        if (next != NULL && I->copy_ahead && pf_len == kc && nc - jr - NR >= NR) {
                            ahead = sliver_buffer(bp, single, jr + NR, NR, kc);
                            copied = jr + NR;
                        }
                    }
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        int64_t i = ic + ir, j = jc + jr;
                        int64_t p0 = T4J_MIN(kc, (ir / MR) * share); /* this call's share of the next sliver's rows */
                        int64_t pf_rows = T4J_MIN(pf_len, p0 + share) - p0;
#ifdef T4J_PF_BURST /* one row a k step from the first, as before the eighteenth session: an A/B build */
                        int64_t pf_gap = 1;
#else
                        /* spread over the call: issued one a step from the first, the misses of weights streamed from
                         * memory queued behind each other (MiniLM's packed batch-1 forward 9% slower) */
                        int64_t pf_gap = T4J_MAX(1, kc / T4J_MAX(1, pf_rows));
#endif
                        t4j_tile_out o = {
                            .c = J->c + i * J->rsc + j * J->csc, .rsc = J->rsc, .csc = J->csc,
                            .m_rem = T4J_MIN(MR, m1 - i), .n_rem = T4J_MIN(NR, n1 - j),
                            .beta = first ? J->beta : 1.0f,
                            .bias = (first && J->bias) ? J->bias + i * J->bias_rs + j * J->bias_cs : NULL,
                            .bias_rs = J->bias_rs, .bias_cs = J->bias_cs,
                            .pf = next && p0 < pf_len ? next + p0 * pf_ld : NULL, .pf_ld = pf_ld, .pf_rows = pf_rows,
                            .pf_gap = pf_gap, .pf_l1 = J->bpacked != NULL,
                            .pf_dst = ahead && p0 < pf_len ? ahead + p0 * NR : NULL, .pf_ahead = pf_len - p0,
                            .atail = atail + (ir - lead) * ktail, .ktail = ktail,
                            /* the first sliver's pass reads the block's A from memory: the next tile's rows ahead (a
                             * prefetch for the block's first tile, from its last, gained nothing more). Not with a
                             * single row block: an A that short (a batch-1 forward's x) was just written, in L2, and
                             * the prefetches only cost (MiniLM's batch-1 forward 1% slower) */
                            .apf = T4J_A_PREFETCH && !single && jr == 0 && ir + MR >= lead && ir + 2 * MR <= whole && pc < as->k ? adirect + (i + MR) * as->rsa + pc : NULL,
                            .apf_ld = as->rsa};
                        if (ir >= lead && ir < whole) I->kernel_direct(kc, adirect + i * as->rsa + T4J_MIN(pc, as->k), as->rsa, bs, &o);
                        else if (fuse_src != NULL && ir == 0) I->kernel_pack(kc, ap, fuse_src, fuse_ld, (float *)bs, &o);
                        else I->kernel(kc, ap + ir * kc, bs, &o);
                        if (J->lowrank != NULL && pc + kc == J->k) I->lowrank(J->lowrank, i, j, o.m_rem, o.n_rem, o.c, J->rsc);
                    }
                }
            }
        }
    }
}

static void gemm_task(void *ctx, int64_t task) {
    const gemm_job *J = ctx;
    int64_t big = T4J_MIN(task, J->big_tasks), lo = big * J->chunk + (task - big) * J->small_chunk;
    int64_t hi = lo + (task < J->big_tasks ? J->chunk : J->small_chunk);
    if (J->split_n) gemm_block(J, 0, J->m, lo, T4J_MIN(J->n, hi));
    else gemm_block(J, lo, T4J_MIN(J->m, hi), 0, J->n);
}

/* C = beta*C + bias + sum of the segments' products. The C ABI calls and lora.c come here. */
int32_t t4j_gemm_segments(int64_t m, int64_t n, const t4j_kseg *segs, int nseg, float beta, float *c, int64_t ldc, const float *bias) {
    return t4j_gemm_segments_lowrank(m, n, segs, nseg, beta, c, ldc, bias, NULL);
}

typedef struct {
    const t4j_lowrank *L;
    const t4j_gemm_impl *impl;
    float *c;
    int64_t ldc, n, m;
} lowrank_job;

#define LOWRANK_ROWS 64 /* rows per task of a separate low-rank pass */

static void lowrank_task(void *ctx, int64_t task) {
    const lowrank_job *R = ctx;
    int64_t r0 = task * LOWRANK_ROWS;
    R->impl->lowrank(R->L, r0, 0, T4J_MIN(LOWRANK_ROWS, R->m - r0), R->n, R->c + r0 * R->ldc, R->ldc);
}

/* The low-rank terms in a pass of their own over C (after the paths that do not tile C row-major). */
int32_t t4j_gemm_lowrank_pass(const t4j_gemm_impl *I, const t4j_lowrank *L, int64_t m, int64_t n, float *c, int64_t ldc, int32_t rc) {
    if (rc != T4J_OK || L == NULL) return rc;
    lowrank_job R = {L, I, c, ldc, n, m};
    t4j_parallel_sized(t4j_ceil_div(m, LOWRANK_ROWS), lowrank_task, &R, 2.0 * (double)m * (double)n * 16.0);
    return rc;
}

/* K blocks of nearly equal length: a short tail block would cost a pass over C for little work. The blocks may run
 * T4J_K_BLOCK_SLACK past kc between them: a LoRA layer's K of d_in + r (384 + 8 at kc 384, BERT-base's 768 + 8 at
 * Zen 4's 768, an FFN's 1536 + 8 at 512) was one block more than d_in's, a pass over C for 1% more work. */
#ifndef T4J_K_BLOCK_SLACK
#define T4J_K_BLOCK_SLACK 16
#endif
int64_t t4j_gemm_k_block(int64_t k, int64_t kc) {
    int64_t blocks = T4J_MAX(1, t4j_ceil_div(k - T4J_K_BLOCK_SLACK, kc));
    return t4j_ceil_div(k, blocks);
}

/* Where a finer split packs nothing twice (A read in place and the columns split: each task packs its own columns of
 * B; weights packed ahead and the rows split: each packs its own rows of A), a thread's share is one big task and its
 * part of a tail of small ones, which the pool hands to whichever thread comes first. On a VM one vCPU can run its
 * memory-bound work half as fast as the other for seconds while the FMA loop stays steady on both (a neighbour's
 * phase; BENCHMARKS.md, forty-fourth session); with one equal part each, a product waited for the slow one. About
 * 1/T4J_GUIDED_TAIL of the tiles go to the tail, in tasks of at least min_tiles (each task reads all of the other
 * operand once more); 0: equal parts. Sets J's split into units of `tile` (columns or rows); returns the tasks. */
#ifndef T4J_GUIDED_TAIL
#define T4J_GUIDED_TAIL 4
#endif
#ifndef T4J_MIN_TASK_TILES_N
#define T4J_MIN_TASK_TILES_N 4 /* 64 columns at AVX2's 16 */
#endif
#ifndef T4J_MIN_TASK_TILES_M
#define T4J_MIN_TASK_TILES_M 2 /* 12 rows at AVX2's 6 */
#endif
static int64_t split_tiles(gemm_job *J, int64_t tiles, int64_t tile, int64_t threads, int guided, int64_t min_tiles) {
    int64_t parts = T4J_MIN(threads, tiles), big = t4j_ceil_div(tiles, parts), small = 0, pieces = 0;
#if T4J_GUIDED_TAIL > 0
    if (guided && parts > 1) {
        int64_t tail = tiles / T4J_GUIDED_TAIL, per_thread = tail / (parts * min_tiles);
        if (per_thread >= 1) {
            small = tail / (parts * per_thread);
            big = t4j_ceil_div(tiles - parts * per_thread * small, parts);
            pieces = t4j_ceil_div(T4J_MAX(0, tiles - parts * big), small); /* what the big tasks leave */
        }
    }
#else
    (void)guided, (void)min_tiles;
#endif
    J->chunk = big * tile;
    J->big_tasks = pieces > 0 ? parts : t4j_ceil_div(tiles, big);
    J->small_chunk = pieces > 0 ? small * tile : 0;
    return J->big_tasks + pieces;
}

/* All of A packed once, by every thread, for the tasks of a product whose columns are split and whose A is not read in
 * place (a transposed A, rows 4 KiB apart): each task would otherwise pack all of it again, so the split kept one task a
 * thread, and a product waited for the vCPU that ran slower (BENCHMARKS.md, forty-fifth session). Up to
 * T4J_SHARED_A_BYTES; 0 turns it off (an A/B build). */
#ifndef T4J_SHARED_A_BYTES
#define T4J_SHARED_A_BYTES (8 << 20)
#endif
#define SHARED_A_ROWS 48 /* rows a pre-packing task packs: a multiple of every level's tile */

typedef struct {
    const gemm_job *job;
    float *dst; /* the shared A being packed: job->apacked, writable here */
} shared_a_job;

static void pack_a_task(void *ctx, int64_t task) {
    const shared_a_job *S = ctx;
    const gemm_job *J = S->job;
    int64_t chunks = t4j_ceil_div(J->m, SHARED_A_ROWS), pc = (task / chunks) * J->kb, r0 = (task % chunks) * SHARED_A_ROWS;
    int64_t kc = T4J_MIN(J->kb, J->k - pc);
    t4j_gemm_pack_view(J->impl, &J->av, r0, T4J_MIN(SHARED_A_ROWS, J->m - r0), pc, kc, J->impl->mr, S->dst + pc * J->ampad + r0 * kc);
}

/* Packs A for every task into the calling thread's scratch where that pays (see above); 1 if it did. */
static int share_packed_a(gemm_job *J, int64_t threads, int in_place) {
    int64_t ampad = t4j_ceil_div(J->m, J->impl->mr) * J->impl->mr;
    size_t bytes = (size_t)(ampad * J->k) * sizeof(float);
    if (threads < 2 || in_place || bytes > (size_t)T4J_SHARED_A_BYTES || SHARED_A_ROWS % J->impl->mr != 0) return 0;
    float *a = t4j_thread_scratch(T4J_SCRATCH_GEMM_SHARED_A, bytes);
    if (a == NULL) return 0; /* each task packs its own, as without */
    J->apacked = a, J->ampad = ampad;
    shared_a_job S = {J, a};
    t4j_parallel(t4j_ceil_div(J->k, J->kb) * t4j_ceil_div(J->m, SHARED_A_ROWS), pack_a_task, &S);
    return 1;
}

/* Runs a tiled job whose operands, blocks and C are set, on the pool. */
int32_t t4j_gemm_run_tiled(gemm_job *J) {
    const t4j_gemm_impl *I = J->impl;
    /* Every thread packs all of the operand along the side it does not split: split the columns (each
     * thread packs its part of B, all of A) unless C is taller than wide and has the row tiles for it
     * (then each packs its part of A, all of B: the ViT's 2176 x 128 x 128 GEMMs gained nothing from a
     * second thread split by columns, packing A twice), and unless A is read in place on a B packed here
     * (then no thread packs A, and splitting the columns packs B once: MiniLM's training GEMMs 1-2% faster
     * on two threads; on weights packed ahead neither side is packed, and the rows stay split). An A that is
     * not read in place, with the columns split, is packed once for all the tasks (share_packed_a).
     * Tiny problems stay on one thread. */
    int64_t threads = t4j_num_threads();
    double flops = 2.0 * (double)J->m * (double)J->n * (double)J->k;
    if (flops < 2.0e6) threads = 1;
    int64_t tiles_n = t4j_ceil_div(J->n, I->nr), tiles_m = t4j_ceil_div(J->m, I->mr);
    int64_t tasks;
    int in_place = direct_a(J) != NULL;
    int rows_first = J->m > J->n && tiles_m >= threads && (J->bpacked != NULL || !in_place);
    if (!rows_first && (tiles_n >= threads || tiles_n >= tiles_m)) {
        J->split_n = 1;
        int shared = share_packed_a(J, threads, in_place);
        tasks = split_tiles(J, tiles_n, I->nr, threads, in_place || shared, T4J_MIN_TASK_TILES_N);
    } else {
        J->split_n = 0;
        tasks = split_tiles(J, tiles_m, I->mr, threads, J->bpacked != NULL, T4J_MIN_TASK_TILES_M);
    }
    atomic_init(&J->failed, 0);
    t4j_parallel(tasks, gemm_task, J);
    return atomic_load(&J->failed) ? T4J_ERR_NO_MEMORY : T4J_OK;
}

int32_t t4j_gemm_segments_lowrank(int64_t m, int64_t n, const t4j_kseg *segs, int nseg, float beta, float *c, int64_t ldc, const float *bias, const t4j_lowrank *L) {
    if (m <= 0 || n <= 0) return T4J_OK;
    const t4j_gemm_impl *I = t4j_gemm_tile_for(t4j_gemm_current(), m, n);
    int64_t k = 0;
    for (int s = 0; s < nseg; s++) k += segs[s].k;

    int64_t blocks[3];
    t4j_gemm_blocks(blocks);
    gemm_job J = {.impl = I, .m = m, .n = n, .k = k, .mc = blocks[0], .nc = blocks[2], .beta = beta, .c = c, .rsc = ldc, .csc = 1,
                  .bias = bias, .bias_rs = 0, .bias_cs = 1};
    J.av = (kview){segs, nseg, 0};
    J.bv = (kview){segs, nseg, 1};

    /* A narrow C (n below one tile, as in x A^T with A [r, d]) is computed as C^T = op(B)^T op(A)^T, so
     * the short side lands on the kernel's rows. Same products in the same K order: same bits. */
    if (nseg == 1 && k >= 8) {
        const t4j_kseg *g = &segs[0];
        int32_t rc = -1;
        if (n <= T4J_SKINNY_N && m >= n) /* m >= 4n before: LoRA's x A^T at 17 tokens and rank 8 took the tiled path, 3.7 against 1.4 us */
            rc = t4j_gemm_skinny(I, m, n, k, g->alpha, g->a, g->rsa, g->csa, g->b, g->rsb, g->csb, beta, c, ldc, 1);
        else if (m <= T4J_SKINNY_N && n >= 4 * m) /* C^T = op(B)^T op(A)^T, stored transposed */
            rc = t4j_gemm_skinny(I, n, m, k, g->alpha, g->b, g->csb, g->rsb, g->a, g->csa, g->rsa, beta, c, 1, ldc);
        if (rc >= 0) { /* the bias after the whole sum (a few rows or columns: one pass is cheap) */
            if (rc == T4J_OK && bias != NULL)
                for (int64_t i = 0; i < m; i++)
                    for (int64_t j = 0; j < n; j++) c[i * ldc + j] += bias[j];
            return t4j_gemm_lowrank_pass(I, L, m, n, c, ldc, rc);
        }
    }

    t4j_kseg swapped[4];
    int swapped_c = 0; /* C computed transposed: its tiles are not row-major, the low-rank terms come after */
    if (n < I->nr && m > n && nseg <= 4) {
        swapped_c = 1;
        for (int s = 0; s < nseg; s++) {
            swapped[s] = (t4j_kseg){.a = segs[s].b, .rsa = segs[s].csb, .csa = segs[s].rsb,
                                    .b = segs[s].a, .rsb = segs[s].csa, .csb = segs[s].rsa,
                                    .k = segs[s].k, .alpha = segs[s].alpha};
        }
        J.av = (kview){swapped, nseg, 0};
        J.bv = (kview){swapped, nseg, 1};
        J.m = n; J.n = m; J.rsc = 1; J.csc = ldc; J.bias_rs = 1; J.bias_cs = 0;
    }

    if (k == 0) {
        /* no products: C = beta*C + bias */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                float v = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
                c[i * ldc + j] = v + (bias ? bias[j] : 0.0f);
            }
        return t4j_gemm_lowrank_pass(I, L, m, n, c, ldc, T4J_OK);
    }
    J.kb = t4j_gemm_k_block(k, blocks[1]);
    J.lowrank = swapped_c ? NULL : L;
    int32_t rc = t4j_gemm_run_tiled(&J);
    return swapped_c ? t4j_gemm_lowrank_pass(I, L, m, n, c, ldc, rc) : rc;
}

T4J_EXPORT int32_t t4j_gemm(int32_t trans_a, int32_t trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
#if defined(__x86_64__)
    /* on AMX tiles where they are on (ARCHITECTURE.md, "GEMM": f32 products on AMX tiles); declined (an operand with a
     * NaN or an infinity, a packing too large), on the FMA kernels; T4J_ERR_NO_MEMORY as theirs */
    if (alpha != 0.0f && t4j_amx_f32_wanted(trans_a, m, n, k)) {
        int32_t rc = t4j_amx_f32_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL);
        if (rc != T4J_AMX_DECLINED) return rc;
    }
#endif
    t4j_kseg seg = {.a = a, .rsa = trans_a ? 1 : lda, .csa = trans_a ? lda : 1,
                    .b = b, .rsb = trans_b ? 1 : ldb, .csb = trans_b ? ldb : 1,
                    .k = k, .alpha = alpha};
    return t4j_gemm_segments(m, n, &seg, alpha == 0.0f ? 0 : 1, beta, c, ldc, NULL);
}

T4J_EXPORT int32_t t4j_linear(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const float *w, int64_t ldw, const float *bias, float *y, int64_t ldy) {
#if defined(__x86_64__)
    if (t4j_amx_f32_wanted(0, m, n, k)) {
        int32_t rc = t4j_amx_f32_gemm(0, 1, m, n, k, 1.0f, x, ldx, w, ldw, 0.0f, y, ldy, bias);
        if (rc != T4J_AMX_DECLINED) return rc;
    }
#endif
    t4j_kseg seg = {.a = x, .rsa = ldx, .csa = 1, .b = w, .rsb = 1, .csb = ldw, .k = k, .alpha = 1.0f};
    return t4j_gemm_segments(m, n, &seg, 1, 0.0f, y, ldy, bias);
}
