/*
 * tune4j.h - the whole C ABI of libtune4j.so (CPU kernels).
 *
 * Conventions (see ARCHITECTURE.md):
 *  - every symbol starts with t4j_; plain C types only; sizes are int64_t;
 *  - matrices are row-major with an explicit leading dimension (elements between rows);
 *  - forward and backward of one operation sit next to each other with the same argument order;
 *    backward accumulates (+=) into gradient buffers;
 *  - the library trusts its arguments: the Java side validates every size, stride and bound;
 *  - determinism: for a given SIMD level, results are bitwise identical from run to run and for
 *    any thread count (work is split over output tiles, a reduction is never split across threads).
 *
 * The bindings generator (bindings/) reads this file: one prototype per line, ending in ");", the
 * comment just above it becomes its Javadoc. T4J_SHORT marks calls that return at once and touch no
 * Java heap: they are bound as critical downcalls (no thread-state transition).
 */
#ifndef TUNE4J_H
#define TUNE4J_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define T4J_SHORT

/* Status codes returned by kernels that allocate scratch memory or check their input. */
#define T4J_OK 0
#define T4J_ERR_NO_MEMORY 1
#define T4J_ERR_NOT_2TO4 2      /* a weight meant to be 2:4 has more than 2 nonzeros in a group of 4 */
#define T4J_ERR_WRONG_PACKING 3 /* packed weights of a form the kernel does not run */
#define T4J_ERR_INVALID 4       /* an argument outside the range the call takes */

/* ---- library, CPU features, SIMD level, threads ------------------------------------------------ */

/* SIMD levels, lowest to highest. */
#define T4J_LEVEL_PORTABLE 0
#define T4J_LEVEL_AVX2 1   /* AVX2 + FMA */
#define T4J_LEVEL_AVX512 2 /* AVX-512 F/BW/DQ/VL */

/* Feature bits returned by t4j_cpu_features(). */
#define T4J_FEATURE_AVX2_FMA 1
#define T4J_FEATURE_AVX512 2
#define T4J_FEATURE_AVX512_VNNI 4
#define T4J_FEATURE_AVX_VNNI 8
#define T4J_FEATURE_AMX_INT8 16 /* AMX tiles with int8 (Sapphire Rapids and later), the tile state granted by the OS */
#define T4J_FEATURE_AMX_BF16 32 /* AMX tiles with bf16 (Sapphire Rapids and later), the tile state granted by the OS */

T4J_SHORT int32_t t4j_abi_version(void);
/* Does nothing: measures the cost of a downcall. */
T4J_SHORT void t4j_noop(void);
/* Bit set of T4J_FEATURE_* that this CPU and OS support. */
T4J_SHORT int32_t t4j_cpu_features(void);
/* Bytes of this CPU's level-1 data, level-2 or level-3 cache (level 1, 2 or 3) as cpuid reports it (leaf 4,
 * or 0x8000001D on AMD); 0 when it is not known (another level, another architecture). */
T4J_SHORT int64_t t4j_cache_bytes(int32_t level);
/* The SIMD level the kernels run at now. Chosen at load time: the highest the CPU supports, lowered by
 * the environment variable T4J_SIMD=portable|avx2|avx512. */
T4J_SHORT int32_t t4j_simd_level(void);
/* Asks for a level; the level in use becomes min(level, highest supported). Returns it. */
T4J_SHORT int32_t t4j_set_simd_level(int32_t level);
/* The threads the calling thread's kernels use: t4j_set_num_threads's (the online CPUs until set), capped by
 * t4j_set_caller_threads. */
T4J_SHORT int32_t t4j_num_threads(void);
/* Sets the number of threads the kernels use (>= 1); 1 runs everything on the calling thread. */
T4J_SHORT void t4j_set_num_threads(int32_t n);
/* Caps the threads of the calls the calling thread makes at n (>= 1), or lifts the cap (0): a caller working beside
 * others (a training step's micro-batches, each on a thread of its own) keeps to its share of the cores. The pool
 * serves one caller's parallel region at a time; a region begun while another runs takes the calling thread alone. */
T4J_SHORT void t4j_set_caller_threads(int32_t n);
/* Microseconds a pool thread polls for the next parallel region before it sleeps, and a region's caller for the
 * workers still in it (default 200; 0 sleeps at once). Polling costs that much CPU after each region; a sleeping
 * thread costs a wake-up of 20-110 us at the next one on a VM. */
T4J_SHORT int32_t t4j_spin_us(void);
/* Sets it, clamped to [0, 100000]. */
T4J_SHORT void t4j_set_spin_us(int32_t us);
/* Whether the kernels flush subnormal floats to zero (x86-64: MXCSR's FTZ and DAZ, set on the pool's threads and, for
 * the length of each parallel region, on its caller, whose own setting is restored before the call returns): 1 by
 * default. A subnormal operand or result costs an Intel core a microcode assist of about a hundred cycles; MiniLM's
 * attention over peaked scores, 0.6% of its probabilities subnormal, ran its backward 6.6x slower. Only values below
 * 1.2e-38 change. 0 keeps IEEE gradual underflow (PyTorch's default); elsewhere than x86-64 the setting is kept but
 * does nothing. The same bits for any thread count either way. */
T4J_SHORT int32_t t4j_flush_denormals(void);
T4J_SHORT void t4j_set_flush_denormals(int32_t on);
/* Runs a chain of independent FMAs at the current SIMD level on the calling thread and returns the
 * number of floating-point operations done; the caller times it to measure the machine's peak. */
int64_t t4j_peak_fma(int64_t iterations);
/* The same for int8 multiply-accumulate (vpdpbusd with AVX-512 VNNI): returns int8 operations (2 per
 * multiply-add) done. */
int64_t t4j_peak_int8(int64_t iterations);
/* The same on AMX tiles (TDPBUSD, iterations / 16 rounds of 4 independent 16 x 16 x 64 tile products); 0 where the
 * CPU or the OS gives no AMX (T4J_FEATURE_AMX_INT8). */
int64_t t4j_peak_int8_amx(int64_t iterations);
/* Reads bytes from buf once on the calling thread with the current SIMD level's widest loads, as `streams`
 * (1-16) equal parts read side by side, and returns a sum of what it read (so that the reads are done); bytes
 * past the last whole 64 * streams are not read. The caller times passes over a buffer larger than the caches
 * to measure the memory read bandwidth one thread gets (the best over a few stream counts: one stream is held
 * back by its prefetcher's depth), the peak of kernels that stream weights (a GEMV at batch 1). */
int64_t t4j_peak_read(const void *buf, int64_t bytes, int32_t streams);

/* Zeroed host memory for a large tensor: bytes (> 0) rounded up to whole pages, 2 MiB aligned, its whole 2 MiB pages
 * advised onto transparent huge pages before first touch where the OS has them (Linux), NULL when there is no memory.
 * Pages are faulted in at first touch. Free it with t4j_host_free and the same byte count. */
void *t4j_host_alloc(int64_t bytes);
void t4j_host_free(void *p, int64_t bytes);

/* ---- gemm: C = alpha * op(A) * op(B) + beta * C, f32 ------------------------------------------- */

/* op(A) is m x k, op(B) is k x n, C is m x n. trans_a != 0 means A is stored k x m (op(A) = A^T),
 * likewise trans_b (B stored n x k). With beta == 0, C is not read (NaN in C does not propagate).
 * Returns T4J_OK, or T4J_ERR_NO_MEMORY when scratch memory could not be had (C is then unspecified). */
int32_t t4j_gemm(int32_t trans_a, int32_t trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
/* A linear layer: y [m, n] = x [m, k] W^T + bias, W [n, k] (row stride ldw), bias [n] or NULL: the GEMM with the bias
 * added in its tiles' epilogue (no second pass over y). The bias joins the sum with the first K block, so for k above
 * one block (t4j_gemm_blocks: kc) the last bits may differ from t4j_gemm then t4j_add_row. Returns as t4j_gemm. */
int32_t t4j_linear(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const float *w, int64_t ldw, const float *bias, float *y, int64_t ldy);
/* Whether t4j_linear_pack lays weights out for AMX-BF16 tiles too from now on (ARCHITECTURE.md, "GEMM": f32 products on
 * AMX tiles): each f32 operand split into three bf16 pieces, six piece products summed in f32, as accurate as the FMA
 * kernels' f32 and 1.2-1.6x faster, in other bits than t4j_linear's. t4j_linear_packed then runs products of more than
 * T4J_LINEAR_AMX_MIN_ROWS rows on the tiles (while it stays on), fewer on the FMA kernels' slivers, which the packing keeps beside them
 * (4 + 6 bytes a weight). Only where the CPU has T4J_FEATURE_AMX_BF16 and the level is AVX-512; on by default there,
 * the environment variable T4J_AMX=0 turns it off at load. t4j_linear_set_amx(0 or 1) asks; both return whether it is
 * in use. t4j_linear_packed_amx says whether weights were packed with the tiles (1) or not (0): W with a NaN or an
 * infinity keeps the slivers alone. */
#define T4J_LINEAR_AMX_MIN_ROWS 32
T4J_SHORT int32_t t4j_linear_set_amx(int32_t on);
T4J_SHORT int32_t t4j_linear_amx(void);
T4J_SHORT int32_t t4j_linear_packed_amx(const void *packed);
/* While AMX is on (t4j_linear_amx), t4j_gemm and t4j_linear run products of more than T4J_LINEAR_AMX_MIN_ROWS rows, 32
 * columns and 32 k or more, 2·m·n·k of 1.5e8 flops or more, and the smaller of op(A) and op(B) within 64 MiB as bf16
 * pieces (BERT-large's weights), and k of 1536 or less where A is stored transposed (a weight gradient's gᵀ x, which
 * gains nothing past that) on the tiles too (ARCHITECTURE.md, "GEMM": f32 products on AMX tiles): the smaller
 * operand packed at each call into scratch the calling thread keeps, the other split as the tiles go. So the products
 * of a training step's weights, which change at every step, and any product that large run in the tiles' bits
 * (t4j_linear on W gives t4j_linear_packed's on W packed with the tiles). NaN and infinity give what f32 gives (an
 * operand with one may run on the FMA kernels), and C is read only where beta is not 0, as there. t4j_gemm_on_amx
 * says whether t4j_gemm runs a product of that shape on the tiles (1) or not (0). */
T4J_SHORT int32_t t4j_gemm_on_amx(int32_t trans_a, int64_t m, int64_t n, int64_t k);
/* A linear layer's weights packed once, for inference on frozen weights: the B slivers t4j_linear packs at every call
 * (from memory, for a model's weights), laid out ahead for the current SIMD level, its tile for n and its K block
 * (t4j_gemm_blocks). t4j_linear_packed_size gives the bytes; t4j_linear_pack packs W [n, k] (row stride ldw) into
 * packed (64-byte aligned, `bytes` long), T4J_ERR_INVALID if it is too short or not aligned. t4j_linear_packed then
 * gives the same bits as t4j_linear on W where that tiles (m and n above 16; with fewer it may take dot products,
 * other last bits), except for products that run on AMX tiles (t4j_linear_amx); it returns T4J_ERR_INVALID for packed weights of another shape, and
 * T4J_ERR_WRONG_PACKING when a product runs on the slivers and the SIMD level or the K block changed since they were
 * packed (pack them again, or call t4j_linear; the AMX tiles depend on neither). */
T4J_SHORT int64_t t4j_linear_packed_size(int64_t n, int64_t k);
int32_t t4j_linear_pack(int64_t n, int64_t k, const float *w, int64_t ldw, void *packed, int64_t bytes);
/* As t4j_linear_packed_size and t4j_linear_pack, for products of more than T4J_LINEAR_AMX_MIN_ROWS rows (a training
 * step's): where AMX is on (t4j_linear_amx), the tiles alone, no slivers beside them (6 bytes a weight, not 10), and
 * t4j_linear_packed answers T4J_ERR_WRONG_PACKING for fewer rows or once AMX is off; elsewhere as t4j_linear_pack. */
T4J_SHORT int64_t t4j_linear_packed_size_many_rows(int64_t n, int64_t k);
int32_t t4j_linear_pack_many_rows(int64_t n, int64_t k, const float *w, int64_t ldw, void *packed, int64_t bytes);
int32_t t4j_linear_packed(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const void *packed, const float *bias, float *y, int64_t ldy);
/* Sets the cache blocks of the tiled GEMM (A block mc x kc, B panel kc x nc) for every level; mc, kc, nc all 0 go
 * back to each level's own. mc in [8, 4096], kc in [16, 8192], nc in [16, 65536] (rounded down to the register tile),
 * else T4J_ERR_INVALID. The K block splits the sum: one setting gives the same bits for any thread count. */
T4J_SHORT int32_t t4j_gemm_set_blocks(int64_t mc, int64_t kc, int64_t nc);
/* The blocks in use at the current level: out[0] = mc, out[1] = kc, out[2] = nc. */
T4J_SHORT void t4j_gemm_blocks(int64_t *out);
/* The register tile the tiled GEMM takes for an m x n C at the current level: out[0] = rows, out[1] = columns. AVX-512
 * has two (12 x 32 and 8 x 48) and takes the one that pads C's edge tiles least; they give the same bits. */
T4J_SHORT void t4j_gemm_tile(int64_t m, int64_t n, int64_t *out);

/* ---- lora: y = x W^T + bias + s * (x~ A^T) B^T, PEFT semantics --------------------------------- */

/* Shapes: x [t, d_in], mask [t, d_in] or NULL (dropout: x~ = x * mask, mask holds 0 or 1/(1-p)),
 * w [d_out, d_in] (frozen), bias [d_out] or NULL, a [r, d_in], b [d_out, r], h [t, r] (written:
 * h = x~ A^T, kept for backward), y [t, d_out] (written). All contiguous.
 * The low-rank term is added inside the base GEMM's output tiles: the K axis is x's d_in columns
 * followed by h's r columns scaled by s, so y is written once. */
int32_t t4j_lora_forward(int64_t t, int64_t d_in, int64_t d_out, int64_t r, const float *x, const float *mask, const float *w, const float *bias, const float *a, const float *b, float scale, float *h, float *y);
/* g [t, d_out] is dL/dy. Accumulates: da [r, d_in] += s (g B)^T x~, db [d_out, r] += s g^T h,
 * dx [t, d_in] += g W + mask * (s (g B) A) (dx may be NULL). W gets no gradient. */
int32_t t4j_lora_backward(int64_t t, int64_t d_in, int64_t d_out, int64_t r, const float *x, const float *mask, const float *w, const float *a, const float *b, float scale, const float *h, const float *g, float *dx, float *da, float *db);
/* As t4j_lora_forward on W packed ahead (packed_w: t4j_linear_pack or t4j_linear_pack_many_rows of W, n = d_out,
 * k = d_in): the base product on the packing (AMX tiles where packed so), the low-rank term added to its output
 * tiles. A packing this call cannot use (t4j_linear_packed's T4J_ERR_WRONG_PACKING) is answered before y is written. */
int32_t t4j_lora_forward_packed(int64_t t, int64_t d_in, int64_t d_out, int64_t r, const float *x, const float *mask, const void *packed_w, const float *bias, const float *a, const float *b, float scale, float *h, float *y);
/* As t4j_lora_backward on W's transpose packed ahead (packed_wt: W^T [d_in, d_out] packed, n = d_in, k = d_out),
 * except that dx is written, dx = g W + mask * (s (g B) A), its old contents never read; da and db accumulate.
 * A packing this call cannot use is answered before anything is written (with dx NULL it is not read). */
int32_t t4j_lora_backward_packed(int64_t t, int64_t d_in, int64_t d_out, int64_t r, const float *x, const float *mask, const void *packed_wt, const float *a, const float *b, float scale, const float *h, const float *g, float *dx, float *da, float *db);
/* W [d_out, d_in] += sign * s * B A, in place (sign = +1 merges, -1 unmerges). */
int32_t t4j_lora_merge(int64_t d_in, int64_t d_out, int64_t r, float *w, const float *a, const float *b, float scale, float sign);

/* ---- lora mixed: the low-rank terms of a batch whose rows use different adapters over one base ----
 * (S-LoRA's SGMV and Punica's BGMV; ARCHITECTURE.md "Many adapters"). The base product x W^T (+ bias) runs
 * once for the whole batch (t4j_gemm, t4j_int8_linear ...); then h = x A_i^T for each row's adapter i
 * (shrink) and y += s_i h B_i^T (expand). Adapter i: a[i] -> A_i [ranks[i], d_in], b[i] -> B_i
 * [d_out, ranks[i]], contiguous; h [t, ldh] with ldh >= the largest rank used, columns past a row's rank
 * set to 0 by shrink. An adapter index of -1 means no adapter: shrink writes zeros, expand leaves y.
 * Segmented form: rows [seg_start[s], seg_start[s+1]) use adapter seg_adapter[s] (nseg segments,
 * seg_start[0] = 0, nondecreasing). Per-row form: row p uses row_adapter[p]. */
int32_t t4j_lora_shrink_segments(int64_t nseg, const int32_t *seg_start, const int32_t *seg_adapter, int64_t d_in, const float *const *a, const int64_t *ranks, const float *x, int64_t ldx, float *h, int64_t ldh);
int32_t t4j_lora_expand_segments(int64_t nseg, const int32_t *seg_start, const int32_t *seg_adapter, int64_t d_out, const float *const *b, const int64_t *ranks, const float *scales, const float *h, int64_t ldh, float *y, int64_t ldy);
int32_t t4j_lora_shrink_rows(int64_t t, const int32_t *row_adapter, int64_t d_in, const float *const *a, const int64_t *ranks, const float *x, int64_t ldx, float *h, int64_t ldh);
int32_t t4j_lora_expand_rows(int64_t t, const int32_t *row_adapter, int64_t d_out, const float *const *b, const int64_t *ranks, const float *scales, const float *h, int64_t ldh, float *y, int64_t ldy);
/* The whole layer for a mixed batch over an f32 base: y = x W^T + bias + s_i (x A_i^T) B_i^T for each row's
 * adapter i (segments as t4j_lora_shrink_segments), h = x A_i^T written as by shrink. The low-rank term is
 * added to each tile of the base GEMM when its sum is done, while the tile is in cache: y is written once.
 * w [d_out, d_in] contiguous, bias [d_out] or NULL, x [t, ldx], y [t, ldy]. */
int32_t t4j_lora_mixed_forward(int64_t t, int64_t d_in, int64_t d_out, const float *x, int64_t ldx, const float *w, const float *bias, int64_t nseg, const int32_t *seg_start, const int32_t *seg_adapter, int64_t nadapters, const float *const *a, const float *const *b, const int64_t *ranks, const float *scales, float *h, int64_t ldh, float *y, int64_t ldy);
/* As t4j_lora_mixed_forward, the base's W packed ahead by t4j_linear_pack (n = d_out, k = d_in): the same bits where
 * t4j_linear_packed gives t4j_linear's; T4J_ERR_WRONG_PACKING as there (h is then written, y unspecified). */
int32_t t4j_lora_mixed_forward_packed(int64_t t, int64_t d_in, int64_t d_out, const float *x, int64_t ldx, const void *packed_w, const float *bias, int64_t nseg, const int32_t *seg_start, const int32_t *seg_adapter, int64_t nadapters, const float *const *a, const float *const *b, const int64_t *ranks, const float *scales, float *h, int64_t ldh, float *y, int64_t ldy);

/* ---- quant: int8, symmetric, no zero point, values in [-127, 127] -------------------------------
 * scale = absmax / 127 per row (a weight's row is its output channel); q = round-half-to-even(x / scale);
 * a row of zeros has scale 0 and q = 0. Products accumulate in int32 (exact for k <= 65536). */

/* q[i*ldq + p] = round(x[i*ldx + p] / scale[i]) for i < m, p < k; scale[i] = absmax of row i / 127. */
void t4j_quantize_rows(int64_t m, int64_t k, const float *x, int64_t ldx, int8_t *q, int64_t ldq, float *scale);
/* x[i*ldx + p] = q[i*ldq + p] * scale[i]. */
void t4j_dequantize_rows(int64_t m, int64_t k, const int8_t *q, int64_t ldq, const float *scale, float *x, int64_t ldx);
/* Bytes of the packed form of an n x k int8 weight matrix (one layout for every SIMD level). */
T4J_SHORT int64_t t4j_int8_packed_size(int64_t n, int64_t k);
/* Packs quantized weights w [n, k] (row j = output channel j) and their scales [n] for the kernels below;
 * packed must hold t4j_int8_packed_size(n, k) bytes, 64-byte aligned. */
void t4j_int8_pack(int64_t n, int64_t k, const int8_t *w, int64_t ldw, const float *scale, void *packed);
/* Bytes of the packed 2:4 form of an n x k int8 weight matrix (k % 4 == 0): of each group of 4 weights
 * along k at most 2 are nonzero, and only the 2 kept ones are multiplied (half the multiply-adds of
 * t4j_int8_pack's form, which the same kernels below run). */
T4J_SHORT int64_t t4j_int8_24_packed_size(int64_t n, int64_t k);
/* Packs 2:4 int8 weights w [n, k] (zeros where pruned, as t4j_mask_2to4 leaves them) and their
 * scales [n]; packed must hold t4j_int8_24_packed_size(n, k) bytes, 64-byte aligned. Returns T4J_OK, or
 * T4J_ERR_NOT_2TO4 (k % 4 != 0, or a group of 4 with 3 or 4 nonzeros; packed is then unspecified). */
int32_t t4j_int8_24_pack(int64_t n, int64_t k, const int8_t *w, int64_t ldw, const float *scale, void *packed);
/* How the dynamic int8 kernel runs a batch of fewer rows than its tile (1 to 5 at AVX-512 VNNI) over weights too
 * large to stay cached (over 4 MiB): T4J_INT8_STREAM_FULL_TILE runs the full tile with the missing rows repeated
 * (faster on AMD Zen 4), T4J_INT8_STREAM_ROW_TILE a kernel of exactly that many rows (faster on Zen 5); cached
 * weights always take the latter. Both give the same bits. Returns T4J_OK, or T4J_ERR_INVALID for another value. */
#define T4J_INT8_STREAM_FULL_TILE 0
#define T4J_INT8_STREAM_ROW_TILE 1
T4J_SHORT int32_t t4j_int8_set_stream_tile(int32_t tile);
/* The choice in use (T4J_INT8_STREAM_FULL_TILE unless set). */
T4J_SHORT int32_t t4j_int8_stream_tile(void);
/* Whether the dense dynamic int8 kernel runs its whole 16-row blocks on AMX tiles (TDPBUSD) where the CPU has
 * T4J_FEATURE_AMX_INT8, the SIMD level is AVX-512 and k is a multiple of 64; the other rows, and other k, stay on
 * VNNI. Both give the same bits (exact int32 sums, one epilogue). On by default where the CPU has it; the environment
 * variable T4J_AMX=0 turns it off at load. t4j_int8_set_amx(0 or 1) asks; both return whether it is in use. */
T4J_SHORT int32_t t4j_int8_set_amx(int32_t on);
T4J_SHORT int32_t t4j_int8_amx(void);
/* Dynamic int8 linear layer, on weights packed by t4j_int8_pack or t4j_int8_24_pack: x [m, k] is quantized per row inside, then
 * y[i*ldy + j] = act(acc(i,j) * sx[i] * sw[j] + bias[j]), acc = sum_p qx[i,p] w[j,p] in int32.
 * bias may be NULL; activation is one of T4J_ACT_*. */
int32_t t4j_int8_linear(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const void *packed, const float *bias, int32_t activation, float *y, int64_t ldy);
/* Several dynamic int8 linear layers on one input (a transformer's query, key and value): x [m, k] quantized once, then
 * for each l < count, y[l][i*ldy[l] + j] = as t4j_int8_linear with packed[l] (its n from the packing), bias[l] (bias
 * NULL, or any bias[l] NULL, for none), one activation; every layer's panels shared out among the threads as one
 * region. The same bits as count calls of t4j_int8_linear. Returns T4J_OK, T4J_ERR_INVALID (count outside 1 ..
 * T4J_INT8_SHARED_MAX, or a packing of another k), T4J_ERR_WRONG_PACKING (dense and 2:4 mixed), T4J_ERR_NO_MEMORY. */
#define T4J_INT8_SHARED_MAX 16
int32_t t4j_int8_linear_shared(int64_t m, int64_t k, const float *x, int64_t ldx, int32_t count, const void *const *packed, const float *const *bias, int32_t activation, float *const *y, const int64_t *ldy);
/* Weight-only int8: x stays f32; y[i*ldy + j] = act(sw[j] * sum_p x[i,p] w[j,p] + bias[j]). For small
 * batches (1 to 8 rows), where reading the weights is the cost. Dense packing only (t4j_int8_pack; else
 * T4J_ERR_WRONG_PACKING). */
int32_t t4j_int8_weight_only_linear(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const void *packed, const float *bias, int32_t activation, float *y, int64_t ldy);
/* The exact integer product, for tests and callers with their own epilogue: c[i*ldc + j] = sum_p a[i,p] w[j,p]
 * (either packing). */
int32_t t4j_int8_gemm(int64_t m, int64_t n, int64_t k, const int8_t *a, int64_t lda, const void *packed, int32_t *c, int64_t ldc);

/* LoRA over a frozen int8 base (LoRA fine-tuning on a quantized model): as t4j_lora_forward, with the
 * base product x W^T by the dynamic int8 kernel on packed weights (t4j_int8_pack); then y += s h B^T. */
int32_t t4j_lora_int8_forward(int64_t t, int64_t d_in, int64_t d_out, int64_t r, const float *x, const float *mask, const void *packed_w, const float *bias, const float *a, const float *b, float scale, float *h, float *y);
/* As t4j_lora_backward, with dx += g deq(W) through the int8 base, deq(W)[j][p] = wq[j*d_in + p] * w_scale[j],
 * dequantized a block of rows at a time (never the whole matrix). */
int32_t t4j_lora_int8_backward(int64_t t, int64_t d_in, int64_t d_out, int64_t r, const float *x, const float *mask, const int8_t *wq, const float *w_scale, const float *a, const float *b, float scale, const float *h, const float *g, float *dx, float *da, float *db);

/* ---- sparse: pruning masks, CSR and 2:4 ----------------------------------------------------------
 * A pruned weight W [n, k] (row j = output channel j) stored as CSR: row_ptr [n + 1] (int64), column
 * indices [nnz] as uint16 (index_bits 16, needs k <= 65536) or int32 (index_bits 32), values [nnz] f32;
 * or as 2:4 along k: of each group of 4 weights two are kept (n * k/2 values) with one meta byte per
 * group, meta = first kept position | second kept position << 2 (positions ascending). The 2:4 arrays are
 * tiled so that the kernel reads them in order: tiles of T4J_24_ROWS rows x T4J_24_GROUPS groups, tiles
 * row-major; inside a tile, row-major. For row j, group g, kept value t (rows_b = rows in j's row tile,
 * groups_b = groups in g's group tile): value at (j/R)*R*(k/2) + rows_b*2*(g/G)*G + (j%R)*2*groups_b +
 * 2*(g%G) + t, meta at (j/R)*R*(k/4) + rows_b*(g/G)*G + (j%R)*groups_b + g%G (R, G the two constants).
 * Masks are uint8 0/1. */
#define T4J_24_ROWS 64
#define T4J_24_GROUPS 32

/* The `count`-th smallest |w| (1-based) of n values, for magnitude pruning; scratch holds n floats. */
float t4j_magnitude_threshold(int64_t n, const float *w, int64_t count, float *scratch);
/* mask[i*k + p] = |w[i*ldw + p]| > threshold. */
void t4j_magnitude_mask(int64_t rows, int64_t k, const float *w, int64_t ldw, float threshold, uint8_t *mask);
/* 2:4 along k (k % 4 == 0): in each group of 4 keep the 2 largest |w| (on a tie, the lower position). */
void t4j_mask_2to4(int64_t rows, int64_t k, const float *w, int64_t ldw, uint8_t *mask);
/* w[i*ldw + p] *= mask[i*k + p]: prunes weights, or keeps a gradient on the mask during fine-tuning. */
void t4j_apply_mask(int64_t rows, int64_t k, float *w, int64_t ldw, const uint8_t *mask);
/* Number of nonzeros of w. */
int64_t t4j_csr_nnz(int64_t rows, int64_t k, const float *w, int64_t ldw);
/* CSR of the nonzeros of w; cols holds nnz indices of index_bits (16 or 32) bits. */
void t4j_csr_from_dense(int64_t rows, int64_t k, const float *w, int64_t ldw, int32_t index_bits, int64_t *row_ptr, void *cols, float *vals);
/* y [m, n] = act(x [m, k] W^T + bias), W in CSR. bias may be NULL. */
int32_t t4j_csr_linear(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const int64_t *row_ptr, const void *cols, int32_t index_bits, const float *vals, const float *bias, int32_t activation, float *y, int64_t ldy);
/* dx [m, k] += g [m, n] W: the input gradient through a sparse weight. */
int32_t t4j_csr_backward_input(int64_t m, int64_t n, int64_t k, const float *g, int64_t ldg, const int64_t *row_ptr, const void *cols, int32_t index_bits, const float *vals, float *dx, int64_t lddx);
/* dvals[e] += sum_i g[i, j] x[i, c] for the nonzero e = (j, c): the weight gradient on the mask only. */
int32_t t4j_csr_grad_values(int64_t m, int64_t n, int64_t k, const float *g, int64_t ldg, const float *x, int64_t ldx, const int64_t *row_ptr, const void *cols, int32_t index_bits, float *dvals);
/* 2:4 compression of w (k % 4 == 0) into the tiled layout above: keeps the 2 largest |w| of each group of 4,
 * as t4j_mask_2to4 does. vals holds n * k/2 floats, meta n * k/4 bytes. */
void t4j_sparse24_compress(int64_t rows, int64_t k, const float *w, int64_t ldw, float *vals, uint8_t *meta);
/* y [m, n] = act(x [m, k] W^T + bias), W in 2:4 form. */
int32_t t4j_sparse24_linear(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const float *vals, const uint8_t *meta, const float *bias, int32_t activation, float *y, int64_t ldy);

/* ---- ops: the rest of a training step --------------------------------------------------------
 * Elementwise ops over n floats, row ops over m rows of n contiguous floats. Backward ops accumulate
 * (+=) into their gradients. Rows (or (batch, head) pairs) are split over threads; a reduction over rows
 * (t4j_sum_rows, t4j_sum_squares, the LayerNorm parameter gradients) runs in a fixed order, so every
 * result is the same for any thread count. */

/* y = a + b. */
void t4j_add(int64_t n, const float *a, const float *b, float *y);
/* y += alpha x. */
void t4j_axpy(int64_t n, float alpha, const float *x, float *y);
/* y *= alpha, in place (gradient clipping). */
void t4j_scale(int64_t n, float alpha, float *y);
/* y[i*n + j] *= row[j]: a per-feature scale (row broadcast). */
void t4j_mul_row(int64_t m, int64_t n, const float *row, float *y);
/* y = max(x, 0); backward dx += (x > 0) dy. */
void t4j_relu_forward(int64_t n, const float *x, float *y);
void t4j_relu_backward(int64_t n, const float *x, const float *dy, float *dx);
/* y[i*n + j] += row[j]: a bias. */
void t4j_add_row(int64_t m, int64_t n, const float *row, float *y);
/* y [m, n] (row stride ldy) += scale * h [m, r] bt [r, n]: a rank-r update, as an unmerged LoRA adapter's
 * up-projection s (x A^T) B^T at inference with bt = B^T kept transposed (r small: each row of y takes r
 * passes, where a GEMM with K = r would pack both operands for a handful of products). */
void t4j_low_rank_add(int64_t m, int64_t n, int64_t r, const float *h, const float *bt, float scale, float *y, int64_t ldy);
/* out[j] += sum over i of x[i*n + j]: a bias gradient. */
void t4j_sum_rows(int64_t m, int64_t n, const float *x, float *out);
/* sum of x[i]^2, accumulated in double in a fixed order (for the global gradient norm). */
double t4j_sum_squares(int64_t n, const float *x);
/* out[j] += sum over i of a[i*n + j] * b[i*n + j]: the column sums of a product (DoRA's magnitude gradient). */
void t4j_sum_rows_product(int64_t m, int64_t n, const float *a, const float *b, float *out);
/* out[i] = sum over j of x[i*n + j]^2: each row's squared norm (DoRA's weight norms). */
void t4j_row_squares(int64_t m, int64_t n, const float *x, float *out);
/* GELU, tanh form (exact = 0) or erf form (exact = 1): y = gelu(x); backward dx += gelu'(x) dy, or with
 * accumulate = 0 dx = gelu'(x) dy, dx's old contents never read (a new gradient needs no zeroing pass). */
void t4j_gelu_forward(int64_t n, const float *x, float *y, int32_t exact);
void t4j_gelu_backward(int64_t n, const float *x, const float *dy, float *dx, int32_t exact, int32_t accumulate);
/* Softmax over each row of x [m, n]: y = softmax(x); backward dx += y * (dy - sum(dy * y)). */
void t4j_softmax_forward(int64_t m, int64_t n, const float *x, float *y);
void t4j_softmax_backward(int64_t m, int64_t n, const float *y, const float *dy, float *dx);
/* Log-softmax over each row: y = x - max - log(sum exp(x - max)); backward dx += dy - exp(y) sum(dy). */
void t4j_log_softmax_forward(int64_t m, int64_t n, const float *x, float *y);
void t4j_log_softmax_backward(int64_t m, int64_t n, const float *y, const float *dy, float *dx);
/* LayerNorm over each row: y = (x - mean) * rstd * gamma + beta, rstd = 1/sqrt(var + eps), saving mean
 * and rstd [m]; backward accumulates dx [m, n] (accumulate = 0: writes it, its old contents never read),
 * dgamma [n] and dbeta [n] (always added into; any of the three may be NULL). */
void t4j_layer_norm_forward(int64_t m, int64_t n, const float *x, const float *gamma, const float *beta, float eps, float *y, float *mean, float *rstd);
void t4j_layer_norm_backward(int64_t m, int64_t n, const float *x, const float *gamma, const float *mean, const float *rstd, const float *dy, float *dx, float *dgamma, float *dbeta, int32_t accumulate);
/* LayerNorm of x + r (a post-LN transformer's residual and sublayer output) in one pass a row: y = t4j_add's sum
 * normalized as t4j_layer_norm_forward does it, the same bits as the two calls; y may be x or r. */
void t4j_add_layer_norm_forward(int64_t m, int64_t n, const float *x, const float *r, const float *gamma, const float *beta, float eps, float *y, float *mean, float *rstd);
/* Softmax cross-entropy over logits [m, n] with integer labels [m], label smoothing eps (target =
 * (1 - eps) one-hot + eps / n): writes probs [m, n] and returns the mean loss. Backward:
 * dlogits += dloss / m * (probs - target). */
float t4j_cross_entropy_forward(int64_t m, int64_t n, const float *logits, const int32_t *labels, float smoothing, float *probs);
void t4j_cross_entropy_backward(int64_t m, int64_t n, const float *probs, const int32_t *labels, float smoothing, float dloss, float *dlogits);
/* Scaled dot-product self-attention for short sequences. q, k, v: rows are tokens (batch*seq of them,
 * row stride ld), head h in columns [h*dh, (h+1)*dh). probs [batch, heads, seq, seq] = softmax(scale q k^T)
 * is saved, or with probs NULL not kept (a no-grad forward: each block of rows is exponentiated in a scratch of the
 * task's own, unnormalized, and its output rows scaled by 1 / sum instead: the last bits differ from the kept form);
 * out [batch*seq, heads*dh] (row stride ldo) = probs v. lengths [batch] (1 <= lengths[b] <= seq),
 * or NULL for none: a padding mask, sequence b's keys j >= lengths[b] get probability exactly 0 (the softmax
 * runs over the first lengths[b] scores, as BERT's additive -inf mask). Backward accumulates dq, dk, dv
 * (same layout as q, k, v, row stride ld) from dout, or with accumulate = 0 writes them (their old contents never
 * read); it reads the mask from probs. */
#define T4J_ATTN_MAX_SEQ 1024
void t4j_attention_forward(int64_t batch, int64_t heads, int64_t seq, int64_t dh, const float *q, const float *k, const float *v, int64_t ld, float scale, const int32_t *lengths, float *probs, float *out, int64_t ldo);
void t4j_attention_backward(int64_t batch, int64_t heads, int64_t seq, int64_t dh, const float *q, const float *k, const float *v, int64_t ld, float scale, const float *probs, const float *dout, int64_t ldo, float *dq, float *dk, float *dv, int32_t accumulate);
/* Embedding rows: gather y [n, d] += table[ids[i]] (0 <= ids[i] < the table's rows, checked by the caller),
 * and its gradient, scatter dtable[ids[i]] += dy [n, d]; rows of one id are added in order of i, so the
 * result is the same for any thread count. Contiguous rows of d floats. */
void t4j_gather_rows_add(int64_t n, int64_t d, const int32_t *ids, const float *table, float *y);
void t4j_scatter_rows_add(int64_t n, int64_t d, const int32_t *ids, const float *dy, float *dtable);
/* AdamW (PyTorch semantics, step counted from 1): p -= lr * wd * p; m = b1 m + (1-b1) g;
 * v = b2 v + (1-b2) g^2; p -= lr * (m / (1-b1^step)) / (sqrt(v / (1-b2^step)) + eps). */
void t4j_adamw_step(int64_t n, float *param, const float *grad, float *m, float *v, float lr, float beta1, float beta2, float eps, float weight_decay, int64_t step);
/* SGD with momentum (PyTorch semantics): g += wd p; buf = momentum buf + (1 - dampening) g (buf = g on
 * the first step); p -= lr * (nesterov ? g + momentum buf : buf). first_step != 0 on the first call. */
void t4j_sgd_step(int64_t n, float *param, const float *grad, float *buf, float lr, float momentum, float dampening, float weight_decay, int32_t nesterov, int32_t first_step);

/* Activations applied in the int8 and sparse epilogues: GELU's tanh form (GPT-2's, "gelu_new") and its erf form
 * (BERT's "gelu"), each the same bits as t4j_gelu_forward with exact 0 or 1 on the linear layer's output. */
#define T4J_ACT_NONE 0
#define T4J_ACT_RELU 1
#define T4J_ACT_GELU 2
#define T4J_ACT_GELU_ERF 3

#ifdef __cplusplus
}
#endif

#endif /* TUNE4J_H */
