/* Internal declarations shared by the kernel files of libtune4j.so; not part of the ABI. */
#ifndef TUNE4J_INTERNAL_H
#define TUNE4J_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "tune4j.h"

#define T4J_EXPORT __attribute__((visibility("default")))
#define T4J_MIN(a, b) ((a) < (b) ? (a) : (b))
#define T4J_MAX(a, b) ((a) > (b) ? (a) : (b))
/* CALL(N) with N the constant 1..8 that n is (8 for anything above): a kernel written for a constant short side, picked at run time. */
#define T4J_WITH_CONST_1_TO_8(n, CALL) \
    switch (n) {                       \
    case 1: CALL(1); break;            \
    case 2: CALL(2); break;            \
    case 3: CALL(3); break;            \
    case 4: CALL(4); break;            \
    case 5: CALL(5); break;            \
    case 6: CALL(6); break;            \
    case 7: CALL(7); break;            \
    default: CALL(8); break;           \
    }

/* ---- memory.c: scratch a thread keeps ---- */

/* At least `bytes` of scratch, 64-byte aligned, that the calling thread keeps from call to call: one buffer a slot (a use
 * site; a call that calls another takes a slot of its own), grown on demand, given back when the thread ends. Scratch
 * malloc'd and freed at each call is handed back to the OS and faulted in again whenever glibc trims the heap's top or
 * maps the block afresh, which depends on what else the process allocated: MiniLM's int8 forward at batch 32 then took
 * 7,000-16,000 page faults and twice its time, as long as the heap stayed so (ARCHITECTURE.md, "Host memory"). NULL
 * when there is no memory (the slot keeps what it had). */
enum {
    T4J_SCRATCH_GEMM_A,      /* gemm.c: the packed A block */
    T4J_SCRATCH_GEMM_B,      /* gemm.c: the packed B panel */
    T4J_SCRATCH_GEMM_SHARED_A, /* gemm.c: all of A packed once for the tasks of one product (the calling thread's) */
    T4J_SCRATCH_INT8_X,      /* quant.c: the quantized rows of x */
    T4J_SCRATCH_INT8_SCALES, /* quant.c: their scales */
    T4J_SCRATCH_LORA_X,      /* lora.c: x with its dropout mask applied */
    T4J_SCRATCH_LORA_GB,     /* lora.c: g B (s g B over a packed base) */
    T4J_SCRATCH_LORA_TMP,    /* lora.c: the masked low-rank term of dx, a block of dequantized weights */
    T4J_SCRATCH_ATTN,        /* ops_attention.inc: a task's Kᵀ, or its dp and Vᵀ, beyond what its stack holds */
    T4J_SCRATCH_SPARSE_X,    /* sparse_kernels.inc: x's transposed chunks */
    T4J_SCRATCH_SPARSE_G,    /* sparse_kernels.inc: g's transposed chunks */
    T4J_SCRATCH_MIXED_HS,    /* lora_mixed.c: h times each row's adapter scale (lora.c: its one adapter's) */
    T4J_SCRATCH_MIXED_BT,    /* lora_mixed.c: the adapters' B transposed (lora.c: its one adapter's) */
    T4J_SCRATCH_AMX_F32_A,   /* gemm_amx.c: a row block of x split into bf16 pieces */
    T4J_SCRATCH_AMX_F32_W,   /* gemm_amx.c: 16 rows of W transposed, for packing */
    T4J_SCRATCH_AMX_F32_PACKED, /* gemm_amx.c: a product's B packed at the call (t4j_amx_f32_gemm) */
    T4J_SCRATCH_SLOTS
};
void *t4j_thread_scratch(int slot, size_t bytes);

/* ---- threads.c ---- */

/* Runs fn(ctx, task) for every task in [0, ntasks) on up to t4j_num_threads() threads (the caller is
 * one of them) and returns when all are done. A task's work must not depend on which thread runs it.
 * When another caller holds the pool, the tasks run on the calling thread. */
typedef void (*t4j_task_fn)(void *ctx, int64_t task);
void t4j_parallel(int64_t ntasks, t4j_task_fn fn, void *ctx);
/* As t4j_parallel, but on the calling thread when the whole region does less than T4J_PARALLEL_MIN_FLOPS
 * of work (flops, an estimate): waking a pool thread costs tens of microseconds on a VM, more than a
 * small op takes (the ViT's attention at batch 1 was twice as slow on two threads as on one). */
#define T4J_PARALLEL_MIN_FLOPS 2.0e6
void t4j_parallel_sized(int64_t ntasks, t4j_task_fn fn, void *ctx, double flops);
/* The task size for n units of work split into tasks of about `grain` units (a multiple of `align`), rounded so that
 * the number of tasks is a multiple of the pool's threads: equal shares (3 tasks on 2 threads left one idle a third of
 * the time). Only for work whose result does not depend on how it is cut (elementwise, row by row). */
int64_t t4j_even_task(int64_t n, int64_t grain, int64_t align);

/* ---- gemm: the per-SIMD-level parts ---- */

/* Stores a computed MR x NR tile: C[i*rsc + j*csc] = acc + beta*C + bias[i*bias_rs + j*bias_cs] for
 * i < m_rem, j < n_rem. beta == 0 does not read C; bias may be NULL. */
typedef struct {
    float *c;
    int64_t rsc, csc;
    int64_t m_rem, n_rem;
    float beta;
    const float *bias;
    int64_t bias_rs, bias_cs;
    /* While it computes, the kernel prefetches (into L2, or L1 with pf_l1) pf_rows (<= kc) rows of NR floats, pf_ld
     * apart, from pf (NULL: none), one every pf_gap k steps: a share of the source of the next B sliver, so that packing
     * it does not wait on memory, or of the next packed sliver itself (pf_l1). The dot kernels take pf != NULL as "a
     * streams from memory": they prefetch ahead along a's rows. */
    const float *pf;
    int64_t pf_ld, pf_rows, pf_gap;
    int pf_l1;
    /* Copy-ahead (kernels whose level sets copy_ahead): the kernel stores those rows, NR floats each, at pf_dst + r*NR
     * instead of prefetching them, each row prefetched a few rows before (pf_ahead: rows of the source left from pf,
     * this call's and the later calls'): the next B sliver packed over the calls of the sliver before it. */
    float *pf_dst;
    int64_t pf_ahead;
    /* The direct kernel only: the last ktail of its kc steps read A from atail, a packed sliver (ktail x MR, as the
     * packed kernel reads), instead of in place: the K segments after A's first (a LoRA layer's s·h), whose rows are
     * not adjacent to x's. 0: all kc in place. */
    const float *atail;
    int64_t ktail;
    /* The direct kernel only: the next tile's MR rows of A (apf, rows apf_ld apart), a line of each prefetched into L2
     * every 16 of the in-place steps, so that a row block's first pass over A from memory does not wait on it. NULL:
     * none. */
    const float *apf;
    int64_t apf_ld;
} t4j_tile_out;

/* acc (MR x NR) = sum over p < kc of ap[p*MR + i] * bp[p*NR + j], then stored through out. */
typedef void (*t4j_microkernel_fn)(int64_t kc, const float *ap, const float *bp, const t4j_tile_out *out);
/* The micro-kernel packing B's sliver as it goes: row p of it read from src + p*ld and stored at dst + p*NR. */
typedef void (*t4j_packing_kernel_fn)(int64_t kc, const float *ap, const float *src, int64_t ld, float *dst, const t4j_tile_out *out);
/* The micro-kernel with A read in place: MR whole rows a, a + lda, ... (k along each row, contiguous) instead of a
 * packed sliver; the same products in the same order, so the same bits. For packed weights, where A (the
 * activations, a few hundred KB) would otherwise be packed at every call (ARCHITECTURE.md, "GEMM"). */
typedef void (*t4j_direct_kernel_fn)(int64_t kc, const float *a, int64_t lda, const float *bp, const t4j_tile_out *o);
/* Transposing pack: dst[p*R + i] = alpha * src[i*ld + p] for i < rows, p < kc; rows..R-1 are zero. */
typedef void (*t4j_pack_transpose_fn)(const float *src, int64_t ld, int64_t rows, int64_t kc, int64_t R, float alpha, float *dst);
/* Copying pack of a whole panel, read in memory order: for p < len and r < rows,
 * dst[(r/R)*R*kc + p*R + r%R] = alpha * src[p*ld + r]; the last sliver is padded with zeros. kc is the
 * sliver stride (the panel's K length), len <= kc the part packed now. */
typedef void (*t4j_pack_copy_fn)(const float *src, int64_t ld, int64_t rows, int64_t len, int64_t kc, int64_t R, float alpha, float *dst);

/* Skinny product, for a short side of at most 16 (LoRA's rank): rows [0, rows) of
 * acc(i, q) = sum over p < k of A(i,p) * bn[p*16 + q], with A(i,p) = a[i*rsa + p*csa] read in place (the
 * long operand is never packed) and bn the short operand packed k x 16, zero padded; then alpha * acc is
 * stored through out. rows <= the level's skinny_rows. */
typedef void (*t4j_skinny_fn)(int64_t k, const float *a, int64_t rsa, int64_t csa, int64_t rows, const float *bn, float alpha, const t4j_tile_out *out);
#define T4J_SKINNY_N 16
/* Skinny product with consecutive rows of A adjacent (rsa = 1: A stored transposed, as gᵀ in LoRA's gᵀ h) and a short side of at
 * most T4J_SKINNY_COLS_N (rank 8; gemm_skinny.c runs a side of up to 16 as two calls): rows [0, rows) of acc(i, q) = sum over p < k of a[i + p*csa] * bs[p*rsb + q*csb],
 * q < n, A's rows along the vector lanes and B broadcast in place (nothing packed); each sum one chain over p in
 * order, as the skinny kernel's (the same bits); alpha * acc stored through out. rows <= T4J_SKINNY_COLS_ROWS. */
typedef void (*t4j_skinny_cols_fn)(int64_t k, const float *a, int64_t csa, int64_t rows, const float *bs, int64_t rsb, int64_t csb, int64_t n, float alpha,
                                   const t4j_tile_out *out);
#define T4J_SKINNY_COLS_N 8
#define T4J_SKINNY_COLS_ROWS 32
/* skinny_cols prefetches A's row p + T4J_SKINNY_COLS_PF while at row p: a call reads 128 bytes of each row of x or g
 * ([t, d_in]: one row of it 4 d_in bytes after the last; in memory by the time LoRA's backward runs), a stride the
 * hardware prefetchers left to demand misses (LoRA's gᵀ h and gbᵀ x̃ at t 2048, d 384: 0.28 and 0.51 ms from memory,
 * 0.07-0.10 with it). */
#define T4J_SKINNY_COLS_PF 64
/* Prefetches, into L1, the 128 bytes skinny_cols reads of one row of A (32 floats from row; 3 lines where unaligned: the first and last). */
static inline void t4j_prefetch_cols_strip(const float *row) {
    __builtin_prefetch(row, 0, 3);
    __builtin_prefetch(row + 31, 0, 3);
}

/* Dot products, for a short side of at most 4 (a GEMV and batches up to 4): rows [0, rows) of
 * acc(i, q) = sum over p < k of a[i*lda + p] * b[q*ldb + p], q < nb <= 4, both read in place along k;
 * alpha * acc is stored through out (as a tile with row stride T4J_DOT_NB). rows <= the level's dot_rows. */
typedef void (*t4j_dot_fn)(int64_t k, const float *a, int64_t lda, int64_t rows, const float *b, int64_t ldb, int64_t nb, float alpha, const t4j_tile_out *out);
#define T4J_DOT_NB 4
/* Dot products for a short side of at most T4J_DOT8_NB (LoRA's rank 8: x Aᵀ and g B) with A's rows along k: as t4j_dot_fn
 * for nb <= 8 and rows <= T4J_DOT8_ROWS, the tile's row stride T4J_DOT8_NB. The packed skinny kernel computes 16 columns
 * whatever n is, so at rank 8 half its work was padding. */
#define T4J_DOT8_NB 8
#define T4J_DOT8_ROWS 8
/* dot8 at AVX-512 prefetches, along the rows it reads, the rows T4J_DOT8_PF rows ahead (the same offset): they stream
 * in while these are summed (x Aᵀ at t 2048, d 384 from memory 0.16-0.19 -> 0.08-0.10 ms; at AVX2, one row at a time,
 * it gained nothing). */
#define T4J_DOT8_PF 4
/* How far ahead along each of a's rows the dot kernels prefetch, in bytes, when a is over T4J_CACHED_WEIGHT_BYTES
 * (the driver sets out->pf; cached rows ran 3% slower with it), and into which cache. A GEMV's weight rows come from
 * memory as several short streams side by side (one per row of the call, 16 KB each at k = 4096), which the hardware
 * prefetchers ramp up on too late: 1x4096x4096 with 4 weight sets in turn ran 26% faster with 1 KB into L1 on Zen 5
 * (4x4096x4096: 37%). Into L2 (T1) and 4 KB ahead, on Zen 4 over 8 weight sets: 16% faster again at the AVX-512 level
 * and 34% at AVX2 (3.58 -> 3.01 ms, 3.92 -> 2.59 ms); 4 KB into L1 was 8% slower than 1 KB, 8 KB into L2 the same as 4
 * (BENCHMARKS.md; not measured on Zen 5 or Intel). */
#ifndef T4J_DOT_PREFETCH
#define T4J_DOT_PREFETCH 4096
#endif
#ifndef T4J_DOT_PF_HINT
#define T4J_DOT_PF_HINT _MM_HINT_T1
#endif
#ifndef T4J_DOT_PREFETCH_NEXT
#define T4J_DOT_PREFETCH_NEXT 1
#endif

/* The low-rank terms of a mixed-adapter batch, added to C's tiles as they are finished (lora_mixed.c):
 * C[row][col] += sum over q < ranks[i] of hs[row*ldhs + q] * bt[i][q*ldbt + col] in q's order, i = row_adapter[row]
 * (-1: none). hs = scales[i] * h, the shrink's output times the row's adapter scale, rounded once, so that each term
 * is one multiply-add from memory. bt[i] is B_i transposed, [r_i, ldbt] with ldbt = C's columns: a tile's columns are
 * contiguous. */
typedef struct {
    const float *hs;
    int64_t ldhs;
    const int32_t *row_adapter;
    const float *const *bt;
    const int64_t *ranks;
    int64_t ldbt;
} t4j_lowrank;
/* Adds the low-rank terms to rows [row0, row0 + m_rem) x columns [col0, col0 + n_rem) of C, stored at c with
 * row stride rsc (columns adjacent). */
typedef void (*t4j_lowrank_fn)(const t4j_lowrank *L, int64_t row0, int64_t col0, int64_t m_rem, int64_t n_rem, float *c, int64_t rsc);
typedef struct {
    const char *name;
    int64_t mr, nr;         /* register tile */
    int64_t mc, kc, nc;     /* cache blocks: A block mc x kc (L2), B panel kc x nc (L2), A sliver in L1 */
    t4j_microkernel_fn kernel;
    t4j_pack_transpose_fn pack_transpose;
    t4j_pack_copy_fn pack_copy;
    t4j_skinny_fn skinny;
    int64_t skinny_rows;    /* rows of A per skinny call */
    t4j_dot_fn dot;
    int64_t dot_rows;
    int64_t (*peak_fma)(int64_t iterations); /* this level's FMA loop: the machine's peak (t4j_peak_fma) */
    t4j_lowrank_fn lowrank; /* the mixed-adapter epilogue (lowrank_tile.h's t4j_lowrank_body at this level) */
    t4j_packing_kernel_fn kernel_pack; /* or NULL: B slivers packed in a pass of their own */
    t4j_direct_kernel_fn kernel_direct; /* or NULL: A always packed (see t4j_direct_kernel_fn) */
    t4j_skinny_cols_fn skinny_cols; /* or NULL: the skinny kernel takes A stored transposed too */
    t4j_dot_fn dot8;        /* or NULL: a short side of 5 to 8 takes the skinny kernel (T4J_DOT8_NB) */
    int copy_ahead;         /* the kernels take t4j_tile_out.pf_dst (else 0: the first tile packs each sliver) */
} t4j_gemm_impl;

extern const t4j_gemm_impl t4j_gemm_portable;
extern const t4j_gemm_impl t4j_gemm_avx2;
extern const t4j_gemm_impl t4j_gemm_avx512;
extern const t4j_gemm_impl t4j_gemm_avx512_8x48; /* the level's second tile (gemm_avx512.c) */
const t4j_gemm_impl *t4j_gemm_current(void);
/* The level's table whose tile pads an m x n C least (the level's own unless another pads it 2% less). Every tile
 * sums each element of C over K in the same order, so the choice never changes a bit. */
const t4j_gemm_impl *t4j_gemm_tile_for(const t4j_gemm_impl *level, int64_t m, int64_t n);

/* Shared scalar pieces of the gemm (gemm.c), used by the SIMD files for their edges. */
void t4j_store_tile_scalar(const float *acc, int64_t nr, const t4j_tile_out *out);
/* As t4j_store_tile_scalar for a tile computed transposed (a row of acc per column of C: skinny_cols), row stride nr. */
void t4j_store_tile_transposed(const float *acc, int64_t nr, const t4j_tile_out *out);
void t4j_pack_transpose_scalar(const float *src, int64_t ld, int64_t rows, int64_t kc, int64_t R, float alpha, float *dst);
void t4j_pack_copy_scalar(const float *src, int64_t ld, int64_t rows, int64_t len, int64_t kc, int64_t R, float alpha, float *dst);
void t4j_pack_copy_avx2(const float *src, int64_t ld, int64_t rows, int64_t len, int64_t kc, int64_t R, float alpha, float *dst);
/* The same with 8 x 8 AVX transposes (gemm_avx2.c); the AVX-512 level uses it too. */
void t4j_pack_transpose_avx2(const float *src, int64_t ld, int64_t rows, int64_t kc, int64_t R, float alpha, float *dst);

/* One segment of the K axis: op(A)(i,p) = a[i*rsa + p*csa], op(B)(p,j) = b[p*rsb + j*csb], scaled by
 * alpha. A GEMM over several segments computes C = beta*C + bias + sum_s alpha_s op(A_s) op(B_s) as if
 * their K axes were concatenated, in one pass over C (the LoRA fusion). */
typedef struct {
    const float *a;
    int64_t rsa, csa;
    const float *b;
    int64_t rsb, csb;
    int64_t k;
    float alpha;
} t4j_kseg;

/* C[i*ldc + j] for i < m, j < n. bias (length n) or NULL. Returns T4J_OK or T4J_ERR_NO_MEMORY. */
int32_t t4j_gemm_segments(int64_t m, int64_t n, const t4j_kseg *segs, int nseg, float beta, float *c, int64_t ldc, const float *bias);
/* As t4j_gemm_segments, then the low-rank terms of L (or NULL) added to each tile of C when its K sum is done,
 * while the tile is still in cache (in a pass of its own on the paths that do not tile C that way). */
int32_t t4j_gemm_segments_lowrank(int64_t m, int64_t n, const t4j_kseg *segs, int nseg, float beta, float *c, int64_t ldc, const float *bias, const t4j_lowrank *L);
/* t4j_linear_packed with L's low-rank terms added to each tile after its last K block (L may be NULL). */
int32_t t4j_linear_packed_lowrank(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const void *packed, const float *bias, float *y, int64_t ldy,
                                  const t4j_lowrank *L);

/* ---- quant: the int8 kernels ----
 * Packed weights: a 64-byte header, the scales and column sums (n rounded up to 64), then panels of 64
 * output columns; panel P holds, for each quad of k (4 values), 64 columns x 4 bytes:
 * byte (quad q, column jj, t) at q*256 + jj*4 + t, for w[64P + jj][4q + t]. 16 columns of one quad are
 * one 64-byte vector, the operand of vpdpbusd. Padding columns and k are zero.
 * The 2:4 packing (t4j_int8_24_pack) has the same header, scales and column sums, with `quads` counting
 * octets of k (two groups of 4, of which 4 weights are kept); panel P holds, for each octet o, 512 bytes:
 * the kept weights, byte (column jj, t) at o*512 + jj*4 + t (t = 0, 1 from group 2o, t = 2, 3 from group
 * 2o+1), then their positions inside the octet (0-7), byte (jj, t) at o*512 + 256 + jj*4 + t: the
 * operand of one byte shuffle (vpshufb) of the octet's 8 activations repeated across the vector. A group
 * with fewer than 2 nonzeros keeps zeros. */
#define T4J_Q8_PANEL 64

typedef struct {
    int64_t magic, n, k, quads, panels; /* quads: of k (dense), octets of k (2:4) */
} t4j_int8_header;

/* Where one tile (rows x 64 columns) of a result goes. */
typedef struct {
    int64_t m_rem, n_rem;
    const float *sx;        /* row scales (dynamic int8), or NULL (weight-only, int32 out) */
    const float *sw;        /* column scales */
    const int32_t *colsum;  /* column sums of w: removes the +128 of unsigned activations */
    const float *bias;      /* or NULL */
    int32_t act;
    float *y;               /* f32 out, or NULL ... */
    int64_t ldy;
    int32_t *c32;           /* ... int32 out (exact product) */
    int64_t ldc;
    int32_t row_tile;       /* fewer rows than the tile run a kernel of that many rows (t4j_int8_set_stream_tile) */
} t4j_int8_out;

/* The output tile's lines (rows x the panel's 64 floats of y), prefetched for writing as a kernel starts: over a large
 * batch y is not in cache, and the epilogue's stores waited on memory (MiniLM's FFN at 4096 rows ran at 0.8-0.95x the
 * speed it reaches with this; quant.c, T4J_Q8_ROW_BLOCK). */
static inline void t4j_int8_prefetch_y(const t4j_int8_out *o, int64_t rows) {
    if (!o->y) return;
    for (int64_t i = 0; i < rows; i++)
        for (int v = 0; v < 4; v++) __builtin_prefetch(o->y + i * o->ldy + 16 * v, 1, 3);
}

/* Weights up to this size are taken to stay in the caches from call to call (int8 tiles, the dot kernels' prefetch). */
#ifndef T4J_CACHED_WEIGHT_BYTES
#define T4J_CACHED_WEIGHT_BYTES (4LL << 20)
#endif

/* Dynamic int8: rows (<= mr) rows of quantized x (+x_offset, as bytes), row stride ldx, times one
 * panel, over `quads` quads of k; the result goes through out. */
typedef void (*t4j_int8_kernel_fn)(int64_t quads, const uint8_t *x, int64_t ldx, int64_t rows, const int8_t *panel, const t4j_int8_out *out);
/* 2:4: rows (<= mr24) rows of quantized x (+x_offset), padded to whole octets, times one 2:4 panel. */
typedef void (*t4j_int8_24_kernel_fn)(int64_t octets, const uint8_t *x, int64_t ldx, int64_t rows, const int8_t *panel, const t4j_int8_out *out);
/* Weight-only: rows (<= wo_mr) f32 rows of x (k values, row stride ldx), times one panel. */
typedef void (*t4j_int8w_kernel_fn)(int64_t k, const float *x, int64_t ldx, int64_t rows, const int8_t *panel, const t4j_int8_out *out);

/* Quantizes one row of k values: q[p] = round-half-even(x[p] / scale) + offset, returns scale. */
typedef float (*t4j_int8_quantize_fn)(int64_t k, const float *x, int8_t *q, int32_t offset);

typedef struct {
    const char *name;
    t4j_int8_quantize_fn quantize_row;
    int64_t mr;             /* rows per dynamic-int8 kernel call */
    int32_t x_offset;       /* added to quantized x: 128 where the kernel multiplies unsigned bytes */
    t4j_int8_kernel_fn kernel;
    int64_t wo_mr;          /* rows per weight-only call */
    t4j_int8w_kernel_fn weight_only;
    int64_t mr24;           /* rows per 2:4 call */
    t4j_int8_24_kernel_fn kernel24;
    int64_t (*peak)(int64_t iterations); /* this level's int8 multiply-add loop: the peak (t4j_peak_int8) */
} t4j_int8_impl;

/* The AMX tiles of the dense dynamic int8 kernel (quant_amx.c): t4j_int8_amx_rows computes rows (16 or 32) rows of
 * quantized x (+128; quads a multiple of 16) times one panel and stores them through t4j_int8_store_rows_avx512, the
 * VNNI kernel's epilogue; between t4j_amx_begin (the tile configuration) and t4j_amx_end on the same thread. */
void t4j_amx_begin(void);
/* The f32 linear layer on AMX-BF16 tiles (gemm_amx.c): bytes of W [n, k] packed for it, the packing, and y = x Wᵀ + bias
 * (+ L's low-rank terms, L NULL: none) on them (T4J_OK, or T4J_ERR_NO_MEMORY); only where the CPU has
 * T4J_FEATURE_AMX_BF16 and the level is AVX-512. */
int64_t t4j_amx_f32_packed_bytes(int64_t n, int64_t k);
/* T4J_OK, T4J_AMX_DECLINED (W holds a NaN or an infinity: dst not to be used) or T4J_ERR_NO_MEMORY */
int32_t t4j_amx_f32_pack(int64_t n, int64_t k, const float *w, int64_t ldw, uint16_t *dst);
#define T4J_AMX_DECLINED 100 /* not a status callers see: the FMA kernels run instead */
/* C = alpha·op(A)·op(B) + beta·C (+ bias [n], or NULL), t4j_gemm's arguments, on AMX tiles: the smaller operand packed
 * at the call into the calling thread's scratch, kept for its next call (at most T4J_AMX_F32_MAX_PACKED bytes), the
 * other split a row block at a time (ARCHITECTURE.md, "GEMM": f32 products on AMX tiles). T4J_OK; T4J_AMX_DECLINED,
 * C untouched, where the packed operand holds a NaN or an infinity, or the split one does and beta is not 0, or the
 * packing would take more; T4J_ERR_NO_MEMORY (C then unspecified). Where t4j_amx_f32_wanted(trans_a, m, n, k). */
#define T4J_AMX_F32_MAX_PACKED (64LL << 20) /* 11 M values as bf16 pieces: BERT-large's 1024 x 4096 weights are 4 M */
int32_t t4j_amx_f32_gemm(int32_t trans_a, int32_t trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda, const float *b,
                         int64_t ldb, float beta, float *c, int64_t ldc, const float *bias);
int t4j_amx_f32_wanted(int32_t trans_a, int64_t m, int64_t n, int64_t k);
int t4j_amx_f32_special(int64_t n, int64_t k, const float *w, int64_t ldw);
int32_t t4j_amx_f32_linear(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const uint16_t *w, const float *bias, float *y, int64_t ldy,
                           const t4j_lowrank *L);
void t4j_amx_end(void);
void t4j_int8_amx_rows(int64_t quads, const uint8_t *x, int64_t ldx, int64_t rows, const int8_t *panel, const t4j_int8_out *o);
void t4j_int8_store_rows_avx512(const int32_t *acc, int64_t rows, const t4j_int8_out *o);
int64_t t4j_peak_amx(int64_t iterations);

extern const t4j_int8_impl t4j_int8_portable;
extern const t4j_int8_impl t4j_int8_avx2;
extern const t4j_int8_impl t4j_int8_avx512_vnni;
const t4j_int8_impl *t4j_int8_current(void);

/* Scalar epilogue over an int32 tile acc[rows][64] (raw sums, offset already in them). */
void t4j_int8_store_tile(const int32_t *acc, int32_t x_offset, const t4j_int8_out *out);
/* Scalar epilogue over an f32 tile (weight-only sums, not yet scaled). */
void t4j_int8w_store_tile(const float *acc, const t4j_int8_out *out);
/* act (T4J_ACT_*) on one value, with the ops' bits: inline for none and ReLU, so that the scalar epilogues that call it per
 * element (sparse layers, int8 edge tiles) pay no call for them; GELU out of line (t4j_activate_gelu). */
float t4j_activate_gelu(float v, int32_t act);
static inline float t4j_activate(float v, int32_t act) {
    if (act == T4J_ACT_NONE) return v;
    if (act == T4J_ACT_RELU) return (v > 0.0f || v != v) ? v : 0.0f; /* a NaN stays NaN, as in ops' ReLU */
    return t4j_activate_gelu(v, act);
}
/* GELU (exact: the erf form) in place over m rows of n, ldy apart, on the calling thread, with the current level's
 * ops (ops.c): what the int8 and sparse layers apply to their output, a panel or a row at a time. */
void t4j_gelu_rows(int64_t m, int64_t n, float *y, int64_t ldy, int32_t exact);

/* ---- sparse: the level table (sparse_kernels.inc compiled once per level fills one) ---- */
typedef struct {
    int32_t (*sparse_linear)(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const int64_t *row_ptr, const void *cols, int32_t bits, const float *vals, const uint8_t *meta, const float *bias, int32_t act, float *y, int64_t ldy);
    int32_t (*csr_backward_input)(int64_t m, int64_t n, int64_t k, const float *g, int64_t ldg, const int64_t *row_ptr, const void *cols, int32_t bits, const float *vals, float *dx, int64_t lddx);
    int32_t (*csr_grad_values)(int64_t m, int64_t n, int64_t k, const float *g, int64_t ldg, const float *x, int64_t ldx, const int64_t *row_ptr, const void *cols, int32_t bits, float *dvals);
} t4j_sparse_impl;

extern const t4j_sparse_impl t4j_sparse_portable;
extern const t4j_sparse_impl t4j_sparse_avx2;
extern const t4j_sparse_impl t4j_sparse_avx512;
/* Offsets of row j, group g in the tiled 2:4 layout: its first value and its meta byte. */
void t4j_sparse24_offsets(int64_t n, int64_t k, int64_t j, int64_t g, int64_t *value, int64_t *meta);

/* ---- ops: the level table (ops_kernels.inc compiled once per level fills one) ---- */
typedef struct {
    void (*add)(int64_t n, const float *a, const float *b, float *y);
    void (*axpy)(int64_t n, float alpha, const float *x, float *y);
    void (*scale)(int64_t n, float alpha, float *y);
    void (*add_row)(int64_t m, int64_t n, const float *row, float *y);
    void (*low_rank_add)(int64_t m, int64_t n, int64_t r, const float *h, const float *bt, float scale, float *y, int64_t ldy);
    void (*mul_row)(int64_t m, int64_t n, const float *row, float *y);
    void (*relu_forward)(int64_t n, const float *x, float *y);
    void (*relu_backward)(int64_t n, const float *x, const float *dy, float *dx);
    void (*log_softmax_forward)(int64_t m, int64_t n, const float *x, float *y);
    void (*log_softmax_backward)(int64_t m, int64_t n, const float *y, const float *dy, float *dx);
    void (*sum_rows)(int64_t m, int64_t n, const float *x, float *out);
    double (*sum_squares)(int64_t n, const float *x);
    void (*sum_rows_product)(int64_t m, int64_t n, const float *a, const float *b, float *out);
    void (*row_squares)(int64_t m, int64_t n, const float *x, float *out);
    void (*gelu_forward)(int64_t n, const float *x, float *y, int32_t exact);
    void (*gelu_rows)(int64_t m, int64_t n, float *y, int64_t ldy, int32_t exact); /* in place, on the calling thread */
    void (*gelu_backward)(int64_t n, const float *x, const float *dy, float *dx, int32_t exact, int32_t accumulate);
    void (*softmax_forward)(int64_t m, int64_t n, const float *x, float *y);
    void (*softmax_backward)(int64_t m, int64_t n, const float *y, const float *dy, float *dx);
    void (*layer_norm_forward)(int64_t m, int64_t n, const float *x, const float *gamma, const float *beta, float eps, float *y, float *mean, float *rstd);
    void (*add_layer_norm_forward)(int64_t m, int64_t n, const float *x, const float *r, const float *gamma, const float *beta, float eps, float *y, float *mean, float *rstd);
    void (*layer_norm_backward)(int64_t m, int64_t n, const float *x, const float *gamma, const float *mean, const float *rstd, const float *dy, float *dx, float *dgamma, float *dbeta, int32_t accumulate);
    float (*cross_entropy_forward)(int64_t m, int64_t n, const float *logits, const int32_t *labels, float smoothing, float *probs);
    void (*cross_entropy_backward)(int64_t m, int64_t n, const float *probs, const int32_t *labels, float smoothing, float dloss, float *dlogits);
    void (*attention_forward)(int64_t batch, int64_t heads, int64_t seq, int64_t dh, const float *q, const float *k, const float *v, int64_t ld, float scale, const int32_t *lengths, float *probs, float *out, int64_t ldo);
    void (*attention_backward)(int64_t batch, int64_t heads, int64_t seq, int64_t dh, const float *q, const float *k, const float *v, int64_t ld, float scale, const float *probs, const float *dout, int64_t ldo, float *dq, float *dk, float *dv, int32_t accumulate);
    void (*gather_rows_add)(int64_t n, int64_t d, const int32_t *ids, const float *table, float *y);
    void (*scatter_rows_add)(int64_t n, int64_t d, const int32_t *ids, const float *dy, float *dtable);
    void (*adamw_step)(int64_t n, float *param, const float *grad, float *m, float *v, float lr, float beta1, float beta2, float eps, float weight_decay, int64_t step);
    void (*sgd_step)(int64_t n, float *param, const float *grad, float *buf, float lr, float momentum, float dampening, float weight_decay, int32_t nesterov, int32_t first_step);
} t4j_ops_impl;

extern const t4j_ops_impl t4j_ops_portable;
extern const t4j_ops_impl t4j_ops_avx2;
extern const t4j_ops_impl t4j_ops_avx512;

/* ---- choosing a level's table ---- */

/* An area's table for a SIMD level (t4j_simd_level()): &PREFIX##avx512, &PREFIX##avx2 or &PREFIX##portable. Each
 * area's driver (gemm.c, ops.c, sparse.c; quant.c adds its VNNI condition) calls its table through this;
 * dispatch.c only detects the CPU and keeps the level. Off x86 only the portable table exists. */
#if defined(__x86_64__)
#define T4J_LEVEL_TABLE(PREFIX, level) \
    ((level) == T4J_LEVEL_AVX512 ? &PREFIX##avx512 : (level) == T4J_LEVEL_AVX2 ? &PREFIX##avx2 : &PREFIX##portable)
#else
#define T4J_LEVEL_TABLE(PREFIX, level) ((void)(level), &PREFIX##portable)
#endif

/* Whether the environment turns AMX off (T4J_AMX=0): read by both AMX users, quant.c's int8 tiles and gemm_packed.c's
 * f32 tiles, when first asked. */
int t4j_amx_env_off(void);

/* ---- peak loops, one per level ---- */
int64_t t4j_peak_fma_portable(int64_t iterations);
int64_t t4j_peak_fma_avx2(int64_t iterations);
int64_t t4j_peak_fma_avx512(int64_t iterations);
int64_t t4j_peak_vnni_avx512(int64_t iterations);
int64_t t4j_peak_int8_avx2(int64_t iterations);
int64_t t4j_peak_int8_portable(int64_t iterations);

#endif
