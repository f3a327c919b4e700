/* The f32 linear layer on packed weights, on AMX-BF16 tiles (Sapphire Rapids and later; ARCHITECTURE.md, "GEMM":
 * f32 products on AMX tiles).
 *
 * Each f32 operand is split into three bf16 pieces by truncation, a = a1 + a2 + a3 exactly: a1 keeps a's top 16 bits
 * (sign, exponent, 7 mantissa bits), a2 the top 16 bits of a - a1, a3 those of what is left (8 significant bits each,
 * 24 in all: a float's). Then a·b is the sum of six of the nine piece products: a1b1, a1b2, a2b1, a1b3, a2b2, a3b1.
 * The three left out (a2b3, a3b2, a3b3) are 2^-24 of a·b and less, the size of a float's rounding; TDPBF16PS
 * multiplies bf16 pairs exactly and adds them into f32 sums. So y = x Wᵀ comes out as accurate as an f32 FMA loop's
 * (measured against double in LinearAmxTest and BENCHMARKS.md, thirty-seventh session), in other bits: cuBLAS's
 * "BF16x9" f32 emulation on Blackwell keeps all nine; six are what f32 needs.
 *
 * Six TDPBF16PS of 16 x 16 x 32 a 16 x 16 output block and 32 k: at 16 cycles each, 170 f32 flops a cycle against the
 * 64 of two AVX-512 FMA ports; these tiles, fed from L2, reach 40-50% of it (260-290 GFLOP/s on the Xeon against its
 * FMA loop's 238: BENCHMARKS.md, thirty-seventh session).
 *
 * Layout of the packed weights (t4j_amx_f32_pack): W [n, k] padded with zeros to npad = 32·⌈n/32⌉ outputs and
 * kpad = 32·⌈k/32⌉ inputs; for each 16 outputs j, each 32 inputs c, each piece s, one B tile of 1 KiB,
 * ((j·kc + c)·3 + s)·512 bf16 from the start, whose element (k pair q, output o, t) at q·32 + o·2 + t is piece s of
 * W[16j + o][32c + 2q + t] (TDPBF16PS's B: 16 rows of k pairs by 16 outputs). x is split at each call into three
 * row-major bf16 planes of a block of rows (rows padded to 32 with zeros, k to kpad): A tiles read where they lie. */
#include <immintrin.h>
#include <stdatomic.h>
#include <string.h>

#include "gemm_driver.h"
#include "transpose16.h"

#define NON_FINITE (0x01 | 0x80 | 0x08 | 0x10) /* vfpclassps: QNaN, SNaN, +inf, -inf */
#define TILE_BF16 512 /* bf16 in a tile: 16 rows x 32 */
#define ROWS 32       /* the output rows a call's tiles cover: C 2 x 2 tiles of 16 x 16 */
#ifndef T4J_AMX_F32_A_BYTES
#define T4J_AMX_F32_A_BYTES (1280 * 1024) /* a row block's split x kept in L2 beside the B tiles of a column pair (MiniLM's 128 x 1536 at batch 1) */
#endif

int64_t t4j_amx_f32_packed_bytes(int64_t n, int64_t k) { return t4j_ceil_div(n, 32) * 32 * t4j_ceil_div(k, 32) * 32 * 3 * 2; }

/* The bf16 pieces of 16 floats (x's 16 lanes), by truncation, each in the top 16 bits of its lane (the rest not
 * cleared: piece 3's). A NaN or an infinity is its own first piece (a NaN made quiet: truncation could leave a
 * signalling NaN's payload empty, an infinity), and has no others. */
static inline __attribute__((always_inline)) void split16_lanes(__m512 a, __m512i p[3]) {
    const __m512i top = _mm512_set1_epi32((int)0xFFFF0000u);
    __mmask16 special = _mm512_fpclass_ps_mask(a, NON_FINITE);
    __mmask16 nan = _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q);
    __m512i bits = _mm512_castps_si512(a);
    bits = _mm512_mask_or_epi32(bits, nan, bits, _mm512_set1_epi32(0x00400000));
    __m512 f1 = _mm512_castsi512_ps(_mm512_and_si512(bits, top));
    __m512 r = _mm512_maskz_sub_ps(~special, a, f1);
    __m512 f2 = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(r), top));
    p[0] = _mm512_castps_si512(f1);
    p[1] = _mm512_castps_si512(f2);
    p[2] = _mm512_castps_si512(_mm512_sub_ps(r, f2));
}

/* The pieces of 16 floats stored as 16 bf16 each, at d, d + plane and d + 2·plane (a row's place in x's three
 * planes); returns the lanes that hold a NaN or an infinity */
static inline __attribute__((always_inline)) __mmask16 split_store16(__m512 a, uint16_t *d, int64_t plane) {
    __m512i p[3];
    split16_lanes(a, p);
    for (int s = 0; s < 3; s++) _mm256_storeu_si256((__m256i *)(d + s * plane), _mm512_cvtepi32_epi16(_mm512_srli_epi32(p[s], 16)));
    return _mm512_fpclass_ps_mask(a, NON_FINITE);
}

/* dst's three planes [rows_pad, kpad] (plane s at dst + s·rows_pad·kpad) = the pieces of x's rows [0, rows), zeros
 * past them and past k. Returns whether a row holds a NaN or an infinity. */
static int split_rows(const float *x, int64_t ldx, int64_t rows, int64_t rows_pad, int64_t k, int64_t kpad, uint16_t *dst) {
    int64_t plane = rows_pad * kpad;
    __mmask16 special = 0;
    for (int64_t i = 0; i < rows_pad; i++)
        for (int64_t p = 0; p < kpad; p += 16) {
            int64_t left = i < rows ? T4J_MAX(0, T4J_MIN(16, k - p)) : 0;
            special |= split_store16(_mm512_maskz_loadu_ps((__mmask16)((1u << left) - 1u), x + i * ldx + p), dst + i * kpad + p, plane);
        }
    return special != 0;
}

/* As split_rows, x stored transposed: row i's element p at x[p·ldx + i] (A of C = Aᵀ B, stored [k, m]), 16 rows by
 * 16 k at a time transposed in registers on their way to the planes (rows_pad a multiple of 16) */
static int split_rows_t(const float *x, int64_t ldx, int64_t rows, int64_t rows_pad, int64_t k, int64_t kpad, uint16_t *dst) {
    int64_t plane = rows_pad * kpad;
    __mmask16 special = 0;
    for (int64_t i0 = 0; i0 < rows_pad; i0 += 16) {
        __mmask16 lanes = (__mmask16)((1u << T4J_MAX(0, T4J_MIN(16, rows - i0))) - 1u); /* the rows of x, zeros past them */
        for (int64_t p = 0; p < kpad; p += 16) {
            __m512 r[16];
            for (int q = 0; q < 16; q++) r[q] = p + q < k && lanes != 0 ? _mm512_maskz_loadu_ps(lanes, x + (p + q) * ldx + i0) : _mm512_setzero_ps();
            t4j_transpose16(r);
            for (int i = 0; i < 16; i++) special |= split_store16(r[i], dst + (i0 + i) * kpad + p, plane);
        }
    }
    return special != 0;
}

/* The 32 x 32 floats of a row-major tile transposed in place, as four 16 x 16 quadrants */
static void transpose32(float *tile) {
    __m512 r[16], q[16];
    for (int h = 0; h < 2; h++) { /* the diagonal quadrants */
        float *d = tile + h * (16 * 32 + 16);
        for (int i = 0; i < 16; i++) r[i] = _mm512_load_ps(d + i * 32);
        t4j_transpose16(r);
        for (int i = 0; i < 16; i++) _mm512_store_ps(d + i * 32, r[i]);
    }
    for (int i = 0; i < 16; i++) {
        r[i] = _mm512_load_ps(tile + i * 32 + 16);
        q[i] = _mm512_load_ps(tile + (16 + i) * 32);
    }
    t4j_transpose16(r);
    t4j_transpose16(q);
    for (int i = 0; i < 16; i++) {
        _mm512_store_ps(tile + (16 + i) * 32, r[i]);
        _mm512_store_ps(tile + i * 32 + 16, q[i]);
    }
}

/* Whether W [n, k] holds a NaN or an infinity: t4j_linear_pack then keeps the FMA kernels' slivers. An infinity's
 * other pieces are zeros, and the piece products inf x 0 would make NaNs where f32 gives the infinity. */
int t4j_amx_f32_special(int64_t n, int64_t k, const float *w, int64_t ldw) {
    for (int64_t j = 0; j < n; j++)
        for (int64_t p = 0; p < k; p += 16) {
            __m512 a = _mm512_maskz_loadu_ps((__mmask16)((1u << T4J_MIN(16, k - p)) - 1u), w + j * ldw + p);
            if (_mm512_fpclass_ps_mask(a, NON_FINITE)) return 1;
        }
    return 0;
}

/* Whether k elements x[p·csx] hold a NaN or an infinity */
static int row_special(int64_t k, const float *x, int64_t csx) {
    for (int64_t p = 0; p < k; p++)
        if (!__builtin_isfinite(x[p * csx])) return 1;
    return 0;
}

/* Row i of y (element j at y[j·csy]) = alpha·(x Wᵀ) + bias from x's row (element p at x[p·csx]) and W's pieces
 * added back (exactly: they came from truncation), one f32 multiply-add at a time, for a row of x that holds a NaN or
 * an infinity (the same reason as above) */
static void special_row(int64_t n, int64_t k, const float *x, int64_t csx, const uint16_t *w, const float *bias, float alpha, float *y, int64_t csy) {
    int64_t kc = t4j_ceil_div(k, 32);
    for (int64_t j = 0; j < n; j++) {
        float acc = bias && alpha == 1.0f ? bias[j] : 0.0f;
        for (int64_t p = 0; p < k; p++) {
            const uint16_t *t = w + ((j / 16 * kc + p / 32) * 3) * TILE_BF16 + ((p % 32) / 2) * 32 + (j % 16) * 2 + (p & 1);
            float v = 0.0f;
            for (int s = 2; s >= 0; s--) {
                uint32_t bits = (uint32_t)t[s * TILE_BF16] << 16;
                float piece;
                memcpy(&piece, &bits, sizeof piece);
                v += piece;
            }
            acc = __builtin_fmaf(x[p * csx], v, acc);
        }
        y[j * csy] = alpha == 1.0f ? acc : alpha * acc + (bias ? bias[j] : 0.0f);
    }
}

/* One column of B tiles (16 outputs, all k) from Wᵀ: src + p·ld holds the 16 outputs' input p, of which cols (0-16)
 * are W's rows, the rest zeros. Each tile row q is inputs 2q and 2q + 1 of the 16 outputs, interleaved (element
 * o·2 + t: input 2q + t of output o), so a pair of rows of Wᵀ split gives a tile row of each piece. Returns whether
 * it read a NaN or an infinity. */
static int pack_column(int64_t k, int64_t cols, const float *src, int64_t ld, uint16_t *dst) {
    const __mmask16 mask = (__mmask16)((1u << cols) - 1u);
    __mmask16 special = 0;
    for (int64_t c = 0; c < t4j_ceil_div(k, 32); c++)
        for (int64_t q = 0; q < 16; q++) {
            int64_t p = c * 32 + 2 * q;
            __m512 a0 = p < k ? _mm512_maskz_loadu_ps(mask, src + p * ld) : _mm512_setzero_ps();
            __m512 a1 = p + 1 < k ? _mm512_maskz_loadu_ps(mask, src + (p + 1) * ld) : _mm512_setzero_ps();
            special |= _mm512_fpclass_ps_mask(a0, NON_FINITE) | _mm512_fpclass_ps_mask(a1, NON_FINITE);
            __m512i e[3], o[3];
            split16_lanes(a0, e);
            split16_lanes(a1, o);
            /* each lane a pair: input 2q's piece in the low 16 bits, 2q + 1's in the high (no shuffles) */
            for (int s = 0; s < 3; s++)
                _mm512_storeu_si512(dst + (c * 3 + s) * TILE_BF16 + q * 32,
                                    _mm512_ternarylogic_epi32(_mm512_srli_epi32(e[s], 16), o[s], _mm512_set1_epi32((int)0xFFFF0000u), 0xF8)); /* a | (b & c) */
        }
    return special != 0;
}

/* Tile column j (outputs 16j to 16j + 15) of the packing of W [n, k] (row-major, ldw; transposed = 0) or of W
 * given as Wᵀ [k, n] (ldw its row stride; transposed = 1, as B of a product C = A·B is). W's 16 rows are first
 * transposed into tmp [k, 16]. Returns whether they hold a NaN or an infinity. */
static int pack_tile_column(int64_t n, int64_t k, const float *w, int64_t ldw, int transposed, int64_t j, float *tmp, uint16_t *dst) {
    int64_t cols = T4J_MAX(0, T4J_MIN(16, n - 16 * j));
    uint16_t *column = dst + j * t4j_ceil_div(k, 32) * 3 * TILE_BF16;
    if (transposed || cols == 0) return pack_column(k, cols, cols > 0 ? w + 16 * j : w, ldw, column);
    t4j_pack_transpose_avx2(w + 16 * j * ldw, ldw, cols, k, 16, 1.0f, tmp);
    return pack_column(k, cols, tmp, 16, column);
}

/* The packing's tile columns, a task each */
typedef struct {
    int64_t n, k, ldw;
    const float *w;
    int transposed;
    uint16_t *dst;
    atomic_int special, failed;
} pack_call;

static void pack_task(void *ctx, int64_t j) {
    pack_call *P = ctx;
    float *tmp = P->transposed ? NULL : t4j_thread_scratch(T4J_SCRATCH_AMX_F32_W, (size_t)P->k * 16 * sizeof(float));
    if (!P->transposed && tmp == NULL) atomic_store(&P->failed, 1);
    else if (pack_tile_column(P->n, P->k, P->w, P->ldw, P->transposed, j, tmp, P->dst)) atomic_store(&P->special, 1);
}

/* W [n, k] (or given as Wᵀ [k, n]: transposed) packed into dst (t4j_amx_f32_packed_bytes), its tile columns on the
 * threads where the work they are for (flops) is worth waking them. T4J_OK; T4J_AMX_DECLINED when W holds a NaN or an
 * infinity (dst then is not to be used); T4J_ERR_NO_MEMORY. */
static int32_t pack_weights(int64_t n, int64_t k, const float *w, int64_t ldw, int transposed, uint16_t *dst, double flops) {
    pack_call P = {.n = n, .k = k, .ldw = ldw, .w = w, .transposed = transposed, .dst = dst};
    atomic_init(&P.special, 0);
    atomic_init(&P.failed, 0);
    t4j_parallel_sized(t4j_ceil_div(n, 32) * 2, pack_task, &P, flops);
    return atomic_load(&P.failed) ? T4J_ERR_NO_MEMORY : atomic_load(&P.special) ? T4J_AMX_DECLINED : T4J_OK;
}

int32_t t4j_amx_f32_pack(int64_t n, int64_t k, const float *w, int64_t ldw, uint16_t *dst) {
    return pack_weights(n, k, w, ldw, 0, dst, 8.0 * (double)n * (double)k);
}

/* rows in whole tiles: 32s, and 16 for a last 16 or fewer */
static int64_t padded_rows(int64_t rows) { return rows % ROWS != 0 && rows % ROWS <= 16 ? rows / ROWS * ROWS + 16 : t4j_ceil_div(rows, ROWS) * ROWS; }

/* One row block's view for column_pair */
typedef struct {
    int64_t rows, n, kc, kpad;
    const uint16_t *a, *w; /* the row block's split x; the packed weights */
    const float *bias;
    const t4j_lowrank *L; /* or NULL */
    int64_t row0;         /* the block's first row in the call (L's rows) */
    float alpha, beta;    /* y = alpha·(x Wᵀ) + beta·y + bias (beta 0: y not read) */
    float *y;
    int64_t ldy;
    int trans_y; /* y stored transposed: element (i, j) at y[j·ldy + i]; no bias */
} amx_job;

/* A call: its row blocks, each cut into `ranges` ranges of column pairs, a task each */
typedef struct {
    const float *x;
    int64_t ldx, m, n, k, kpad, block, ranges, pairs_per_range, id;
    int trans; /* x stored transposed: row i's element p at x[p·ldx + i] */
    const uint16_t *w;
    const float *bias;
    const t4j_lowrank *L;
    float alpha, beta;
    float *y;
    int64_t ldy;
    int trans_y;
    atomic_int special, failed;
} amx_call;

/* The piece pairs (of x, of W) in an order that changes one operand a step, so that each step loads two tiles (a
 * tile's load waits on the products that read the tile before it: tile registers are not renamed). */
static const int PIECE_A[6] = {0, 0, 1, 1, 0, 2}, PIECE_B[6] = {2, 1, 1, 0, 0, 0};

/* Output columns [32·pair, 32·pair + 32) of the row block: C in tiles 0-3 (rows 0-15 and 16-31 by columns 0-15 and
 * 16-31), x's piece in tiles 4 and 5 (its rows 0-15, 16-31), W's in 6 and 7 (columns 0-15, 16-31). */
static void column_pair(const amx_job *J, int64_t pair, float *tile) {
    const int64_t plane = padded_rows(J->rows) * J->kpad, lda = J->kpad * 2;
    const uint16_t *b0 = J->w + 2 * pair * J->kc * 3 * TILE_BF16, *b1 = b0 + J->kc * 3 * TILE_BF16;
    int64_t j0 = 32 * pair, cols = T4J_MIN(32, J->n - j0);
    /* the next pair's B tiles (6 KiB a k chunk, adjacent) into L2 while this pair runs, a share each row pass and an
     * equal part each k chunk: weights from memory, which the first pass over a pair would otherwise wait on */
    const int64_t passes = t4j_ceil_div(J->rows, ROWS), next_bytes = 2 * pair + 2 < 2 * t4j_ceil_div(J->n, 32) ? J->kc * 6 * 1024 : 0;
    const int64_t pf_chunk = next_bytes / (passes * J->kc);
    const char *pf = (const char *)(b1 + J->kc * 3 * TILE_BF16);
    for (int64_t i0 = 0; i0 < J->rows; i0 += ROWS, pf += pf_chunk * J->kc) {
        const uint16_t *a = J->a + i0 * J->kpad;
        /* 16 rows or fewer left: their tiles alone (C 0 and 1), at half the rate (two sums in flight, where a product's
         * latency wants four) but not twice the work */
        const int half = J->rows - i0 <= 16;
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        for (int64_t c = 0; c < J->kc; c++) {
            for (int64_t b = 0; b < pf_chunk; b += 64) _mm_prefetch(pf + c * pf_chunk + b, _MM_HINT_T1);
            if (half) {
                for (int q = 0; q < 6; q++) {
                    _tile_loadd(4, a + PIECE_A[q] * plane + c * 32, lda);
                    _tile_loadd(6, b0 + (c * 3 + PIECE_B[q]) * TILE_BF16, 64);
                    _tile_loadd(7, b1 + (c * 3 + PIECE_B[q]) * TILE_BF16, 64);
                    _tile_dpbf16ps(0, 4, 6);
                    _tile_dpbf16ps(1, 4, 7);
                }
                continue;
            }
#pragma GCC unroll 6
            for (int q = 0; q < 6; q++) {
                if (q == 0 || PIECE_A[q] != PIECE_A[q - 1]) {
                    const uint16_t *ap = a + PIECE_A[q] * plane + c * 32;
                    _tile_loadd(4, ap, lda);
                    _tile_loadd(5, ap + 16 * J->kpad, lda);
                }
                if (q == 0 || PIECE_B[q] != PIECE_B[q - 1]) {
                    _tile_loadd(6, b0 + (c * 3 + PIECE_B[q]) * TILE_BF16, 64);
                    _tile_loadd(7, b1 + (c * 3 + PIECE_B[q]) * TILE_BF16, 64);
                }
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 4, 7);
                _tile_dpbf16ps(2, 5, 6);
                _tile_dpbf16ps(3, 5, 7);
            }
        }
        _tile_stored(0, tile, 128);
        _tile_stored(1, tile + 16, 128);
        _tile_stored(2, tile + 16 * 32, 128);
        _tile_stored(3, tile + 16 * 32 + 16, 128);
        __asm__ volatile("" ::: "memory"); /* the tile stores are asm the compiler does not see write tile */
        /* LoRA's low-rank terms into the sums while they are in L1 (the FMA kernels add them in their tiles too) */
        if (J->L != NULL) t4j_gemm_avx512.lowrank(J->L, J->row0 + i0, j0, T4J_MIN(ROWS, J->rows - i0), cols, tile, 32);
        /* y's rows: the block's, or (trans_y) its columns, the tile transposed to them */
        const int64_t rows_here = T4J_MIN(ROWS, J->rows - i0), out_rows = J->trans_y ? cols : rows_here, out_cols = J->trans_y ? rows_here : cols;
        if (J->trans_y) transpose32(tile);
        float *y0 = J->trans_y ? J->y + j0 * J->ldy + i0 : J->y + i0 * J->ldy + j0;
        __mmask16 m0 = (__mmask16)((1u << T4J_MIN(16, out_cols)) - 1u), m1 = (__mmask16)((1u << T4J_MAX(0, out_cols - 16)) - 1u);
        __m512 bias0 = J->bias ? _mm512_maskz_loadu_ps(m0, J->bias + j0) : _mm512_setzero_ps();
        __m512 bias1 = J->bias ? _mm512_maskz_loadu_ps(m1, J->bias + j0 + 16) : _mm512_setzero_ps();
        const __m512 alpha = _mm512_set1_ps(J->alpha), beta = _mm512_set1_ps(J->beta);
        for (int64_t r = 0; r < out_rows; r++) {
            float *y = y0 + r * J->ldy;
            __m512 v0 = _mm512_load_ps(tile + r * 32), v1 = _mm512_load_ps(tile + r * 32 + 16);
            if (J->alpha != 1.0f) {
                v0 = _mm512_mul_ps(alpha, v0);
                v1 = _mm512_mul_ps(alpha, v1);
            }
            if (J->beta != 0.0f) {
                v0 = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(m0, y), v0);
                v1 = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(m1, y + 16), v1);
            }
            _mm512_mask_storeu_ps(y, m0, _mm512_add_ps(v0, bias0));
            _mm512_mask_storeu_ps(y + 16, m1, _mm512_add_ps(v1, bias1));
        }
    }
}

/* The call and row block whose split this thread's scratch holds: a thread splits a block once however many of its
 * column ranges it runs, into its own L2 (the block split by the calling thread alone left the other core idle, then
 * reading it from the caller's cache: MiniLM's batch 1 on two threads no faster than on the FMA kernels) */
static _Thread_local int64_t held_call = -1, held_block = -1;
static atomic_llong next_call;

static void amx_task(void *ctx, int64_t task) {
    amx_call *C = ctx;
    int64_t b = task / C->ranges, r = task % C->ranges, i0 = b * C->block, rows = T4J_MIN(C->block, C->m - i0);
    uint16_t *a = t4j_thread_scratch(T4J_SCRATCH_AMX_F32_A, (size_t)(padded_rows(C->block) * C->kpad * 3) * sizeof(uint16_t));
    if (a == NULL) {
        atomic_store(&C->failed, 1);
        return;
    }
    if (held_call != C->id || held_block != b) {
        int special = C->trans ? split_rows_t(C->x + i0, C->ldx, rows, padded_rows(rows), C->k, C->kpad, a)
                               : split_rows(C->x + i0 * C->ldx, C->ldx, rows, padded_rows(rows), C->k, C->kpad, a);
        if (special) atomic_store(&C->special, 1);
        held_call = C->id;
        held_block = b;
    }
    amx_job J = {.rows = rows, .n = C->n, .kc = C->kpad / 32, .kpad = C->kpad, .a = a, .w = C->w, .bias = C->bias, .L = C->L, .row0 = i0,
                 .alpha = C->alpha, .beta = C->beta, .y = C->trans_y ? C->y + i0 : C->y + i0 * C->ldy, .ldy = C->ldy, .trans_y = C->trans_y};
    float tile[ROWS * 32] __attribute__((aligned(64)));
    int64_t pairs = t4j_ceil_div(C->n, 32);
    t4j_amx_begin();
    for (int64_t p = r * C->pairs_per_range; p < T4J_MIN(pairs, (r + 1) * C->pairs_per_range); p++) column_pair(&J, p, tile);
    t4j_amx_end();
}

/* y [m, n] = alpha·(x Wᵀ) + beta·y + bias (+ L's terms) on W packed, x [m, k] (trans: stored [k, m]), y (trans_y:
 * stored [n, m], no bias); rows of x with a NaN or an infinity recomputed apart, which beta 0 allows
 * (t4j_amx_f32_gemm declines such x before where beta is not) */
static int32_t amx_run(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, int trans, const uint16_t *w, const float *bias, float alpha, float beta,
                       float *y, int64_t ldy, int trans_y, const t4j_lowrank *L) {
    int64_t kpad = t4j_ceil_div(k, 32) * 32, pairs = t4j_ceil_div(n, 32);
    /* rows a block: its three planes within T4J_AMX_F32_A_BYTES, a multiple of 32, at least 32 */
    int64_t block = T4J_MAX(ROWS, T4J_AMX_F32_A_BYTES / (kpad * 6) / ROWS * ROWS);
    block = T4J_MIN(block, t4j_ceil_div(m, ROWS) * ROWS);
    int64_t blocks = t4j_ceil_div(m, block), threads = t4j_num_threads();
    if (blocks > threads && blocks % threads != 0) { /* smaller blocks, a whole number a thread (3 of 544 rows, 1536, on 2 threads: 4 of 384) */
        block = t4j_ceil_div(t4j_ceil_div(m, t4j_ceil_div(blocks, threads) * threads), ROWS) * ROWS;
        blocks = t4j_ceil_div(m, block);
    }
    /* as many row blocks as threads: a block a task; fewer (a batch-1 forward): each block's column pairs in a range a
     * thread, each thread splitting the block itself */
    int64_t ranges = blocks >= threads ? 1 : T4J_MIN(threads, pairs);
    amx_call C = {.x = x, .ldx = ldx, .trans = trans, .m = m, .n = n, .k = k, .kpad = kpad, .block = block, .ranges = ranges,
                  .pairs_per_range = t4j_ceil_div(pairs, ranges), .id = atomic_fetch_add(&next_call, 1), .w = w, .bias = bias, .L = L,
                  .alpha = alpha, .beta = beta, .y = y, .ldy = ldy, .trans_y = trans_y};
    atomic_init(&C.special, 0);
    atomic_init(&C.failed, 0);
    t4j_parallel_sized(blocks * ranges, amx_task, &C, 2.0 * (double)m * (double)n * (double)k);
    if (atomic_load(&C.failed)) return T4J_ERR_NO_MEMORY;
    const int64_t rsx = trans ? 1 : ldx, csx = trans ? ldx : 1;
    for (int64_t i = 0; atomic_load(&C.special) && i < m; i++)
        if (row_special(k, x + i * rsx, csx)) {
            special_row(n, k, x + i * rsx, csx, w, bias, alpha, trans_y ? y + i : y + i * ldy, trans_y ? ldy : 1);
            if (L != NULL) t4j_gemm_avx512.lowrank(L, i, 0, 1, n, y + i * ldy, ldy);
        }
    return T4J_OK;
}

int32_t t4j_amx_f32_linear(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const uint16_t *w, const float *bias, float *y, int64_t ldy,
                           const t4j_lowrank *L) {
    return amx_run(m, n, k, x, ldx, 0, w, bias, 1.0f, 0.0f, y, ldy, 0, L);
}

/* A [rows, cols] (row stride lda) scanned for a NaN or an infinity, 64 rows a task */
typedef struct {
    int64_t rows, cols, lda;
    const float *a;
    atomic_int special;
} scan_call;

static void scan_task(void *ctx, int64_t t) {
    scan_call *S = ctx;
    if (t4j_amx_f32_special(T4J_MIN(64, S->rows - 64 * t), S->cols, S->a + 64 * t * S->lda, S->lda)) atomic_store(&S->special, 1);
}

int32_t t4j_amx_f32_gemm(int32_t trans_a, int32_t trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda, const float *b,
                         int64_t ldb, float beta, float *c, int64_t ldc, const float *bias) {
    /* The smaller operand packed (its bytes written and read again from memory), the other split a row block at a time
     * in L2: op(B)ᵀ [n, k] packed as W, op(A) split; or, more columns than rows and no bias, Cᵀ = op(B)ᵀ op(A)ᵀ
     * stored transposed, op(A) packed (MiniLM's FFN weight gradient, 384 x 1536 over 1536 tokens: 0.6 M weights
     * packed, not 2.4 M) */
    const int swap = n > m && bias == NULL;
    const float *x = swap ? b : a, *pw = swap ? a : b;
    const int64_t rows = swap ? n : m, cols = swap ? m : n, ldx = swap ? ldb : lda, ldpw = swap ? lda : ldb;
    /* x's rows: op(A)'s (A stored transposed: trans_a), or op(B)ᵀ's (B's rows when trans_b, else its columns);
     * W: op(B)ᵀ (B itself when trans_b, else B is Wᵀ) or op(A) (A itself, or A is Wᵀ when trans_a) */
    const int x_trans = swap ? !trans_b : trans_a, w_given_transposed = swap ? trans_a : !trans_b;
    if (beta != 0.0f) { /* rows with a NaN or an infinity are recomputed after the tiles, which have then overwritten C */
        scan_call S = {.rows = x_trans ? k : rows, .cols = x_trans ? rows : k, .lda = ldx, .a = x};
        atomic_init(&S.special, 0);
        t4j_parallel_sized(t4j_ceil_div(S.rows, 64), scan_task, &S, 2.0 * (double)m * (double)n * (double)k);
        if (atomic_load(&S.special)) return T4J_AMX_DECLINED;
    }
    if (t4j_amx_f32_packed_bytes(cols, k) > T4J_AMX_F32_MAX_PACKED) return T4J_AMX_DECLINED; /* a linear's many outputs, with its bias */
    uint16_t *w = t4j_thread_scratch(T4J_SCRATCH_AMX_F32_PACKED, (size_t)t4j_amx_f32_packed_bytes(cols, k));
    if (w == NULL) return T4J_ERR_NO_MEMORY;
    int32_t rc = pack_weights(cols, k, pw, ldpw, w_given_transposed, w, 2.0 * (double)m * (double)n * (double)k);
    if (rc != T4J_OK) return rc;
    return amx_run(rows, cols, k, x, ldx, x_trans, w, bias, alpha, beta, c, ldc, swap, NULL);
}
