/* quant, AVX2 level. No VNNI here: vpmaddubsw multiplies unsigned by signed bytes and adds pairs into int16, which
 * would saturate for two activations of 255; so activations stay signed (offset 0), and the unsigned operand is |a|
 * with a's sign moved onto the weight (vpsignb): |a| * sign(w, a) = a * w, and a pair sums to at most 2 * 128 * 127
 * (an activation of -128 from t4j_int8_gemm included), within int16; vpmaddwd by ones then adds the pairs into int32.
 * Weights must be in [-127, 127] (t4j_int8_pack reads -128 as -127 on every level). Tile: 4 rows x 16 columns per
 * pass, four passes over a 64-column panel; the 2:4 kernel the same after a byte shuffle of the activations. */
#include <float.h>
#include <immintrin.h>
#include <math.h>

#include "internal.h"

#define QMR 4
#define WMR 2 /* weight-only rows a call */
#ifndef AVX2_V2
#define AVX2_V2 4
#endif

/* As the AVX-512 version, 8 values at a time; the tail is done one value at a time. */
static float quantize_row_avx2(int64_t k, const float *x, int8_t *q, int32_t offset) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 mx = _mm256_setzero_ps(), big = _mm256_set1_ps(FLT_MAX), nonfinite = _mm256_setzero_ps();
    int64_t p = 0;
    for (; p + 8 <= k; p += 8) {
        __m256 a = _mm256_and_ps(absmask, _mm256_loadu_ps(x + p));
        nonfinite = _mm256_or_ps(nonfinite, _mm256_cmp_ps(a, big, _CMP_NLE_UQ)); /* NaN or infinite lanes */
        mx = _mm256_max_ps(mx, a);
    }
    float m8[8], absmax = 0.0f;
    _mm256_storeu_ps(m8, mx);
    for (int l = 0; l < 8; l++) absmax = absmax > m8[l] ? absmax : m8[l];
    int bad = _mm256_movemask_ps(nonfinite) != 0;
    for (; p < k; p++) {
        float a = x[p] < 0 ? -x[p] : x[p];
        bad |= !(a <= FLT_MAX);
        absmax = absmax > a ? absmax : a;
    }
    float scale = bad ? NAN : absmax / 127.0f; /* a row with a NaN or an infinity: scale NaN on every level */
    __m256 vs = _mm256_set1_ps(scale);
    __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127), off = _mm256_set1_epi32(offset);
    p = 0;
    if (scale > 0.0f) {
        /* 32 values a step narrowed in registers (as the AVX-512 level does): saturating packs
         * interleave the four vectors by 128-bit lane, one dword permute restores the order; values are in [-127, 127]
         * already (|x| <= absmax), the max only keeps -128 out */
        const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        const __m256i lo8 = _mm256_set1_epi8(-127), off8 = _mm256_set1_epi8((char)(uint8_t)offset);
        for (; p + 32 <= k; p += 32) {
            __m256i v0 = _mm256_cvtps_epi32(_mm256_div_ps(_mm256_loadu_ps(x + p), vs));
            __m256i v1 = _mm256_cvtps_epi32(_mm256_div_ps(_mm256_loadu_ps(x + p + 8), vs));
            __m256i v2 = _mm256_cvtps_epi32(_mm256_div_ps(_mm256_loadu_ps(x + p + 16), vs));
            __m256i v3 = _mm256_cvtps_epi32(_mm256_div_ps(_mm256_loadu_ps(x + p + 24), vs));
            __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(v0, v1), _mm256_packs_epi32(v2, v3));
            b = _mm256_add_epi8(_mm256_max_epi8(_mm256_permutevar8x32_epi32(b, order), lo8), off8);
            _mm256_storeu_si256((__m256i *)(q + p), b);
        }
    }
    for (; p + 8 <= k; p += 8) {
        __m256i v = scale > 0.0f ? _mm256_cvtps_epi32(_mm256_div_ps(_mm256_loadu_ps(x + p), vs)) : _mm256_setzero_si256();
        v = _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(v, lo), hi), off);
        int32_t out[8];
        _mm256_storeu_si256((__m256i *)out, v);
        for (int l = 0; l < 8; l++) q[p + l] = (int8_t)(uint8_t)out[l];
    }
    for (; p < k; p++) {
        int32_t v = _mm_cvtsi128_si32(_mm_cvtps_epi32(_mm_set_ss(scale > 0.0f ? x[p] / scale : 0.0f)));
        v = v < -127 ? -127 : v > 127 ? 127 : v;
        q[p] = (int8_t)(uint8_t)(v + offset);
    }
    return scale;
}

/* Row i's sums for the 8 columns j .. j + 7 of the tile out: int32 as they are, or f32 exactly as t4j_int8_store_tile
 * computes them (v * (sx * sw), then + bias, then the activation: a multiply and an add, not fused), in vectors. */
static inline __attribute__((always_inline)) void store8(__m256i acc, const t4j_int8_out *o, int64_t i, int64_t j) {
    int64_t lanes = o->n_rem - j;
    if (lanes <= 0) return;
    __m256i mask = lanes >= 8 ? _mm256_set1_epi32(-1) : _mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    if (o->c32 != NULL) {
        int32_t *c = o->c32 + i * o->ldc + j;
        if (lanes >= 8) _mm256_storeu_si256((__m256i *)c, acc);
        else _mm256_maskstore_epi32(c, mask, acc);
        return;
    }
    __m256 scale = _mm256_mul_ps(_mm256_set1_ps(o->sx[i]), _mm256_maskload_ps(o->sw + j, mask));
    __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), scale);
    __asm__("" : "+x"(f)); /* keeps the compiler from fusing the multiply and the add below into an FMA */
    if (o->bias != NULL) f = _mm256_add_ps(f, _mm256_maskload_ps(o->bias + j, mask));
    float *y = o->y + i * o->ldy + j;
    if (o->act == T4J_ACT_RELU) { /* (v > 0 || v != v) ? v : 0, as t4j_activate: a NaN stays, -0 becomes +0 */
        __m256 keep = _mm256_or_ps(_mm256_cmp_ps(f, _mm256_setzero_ps(), _CMP_GT_OQ), _mm256_cmp_ps(f, f, _CMP_UNORD_Q));
        f = _mm256_and_ps(f, keep);
    } else if (o->act != T4J_ACT_NONE) {
        float v[8];
        _mm256_storeu_ps(v, f);
        for (int64_t l = 0; l < lanes && l < 8; l++) y[l] = t4j_activate(v[l], o->act);
        return;
    }
    if (lanes >= 8) _mm256_storeu_ps(y, f);
    else _mm256_maskstore_ps(y, mask, f);
}

/* Quads of k a block when a panel takes several passes: the passes run block by block, each block's 16 KiB of panel in L1
 * for all of them (prefetched during the block before), their sums kept between blocks; one pass after another over the
 * whole panel read weights streamed from memory once a pass (2-8 rows over 4096², BENCHMARKS.md). */
#ifndef AVX2_KB
#define AVX2_KB 64
#endif

/* R rows (1 to 3; the full tile of 4 is avx2_full's) x 8V columns a pass (R, V and TWOFOUR constants in each
 * instance), 8 / V passes over the 64-column panel, in steps of k: quads (dense), or octets (2:4, TWOFOUR). Per step
 * and row, one broadcast of the row's 4 (8) activations; for each weight vector (8 columns x 4 k, or x their 4 kept
 * weights) vpsignb, vpmaddubsw on |a|, vpmaddwd by ones and vpaddd. 2:4 first gathers each column's 4 activations
 * with one vpshufb by its kept positions (0-7: the 8 activations sit in bytes 0-7 and 8-15 of both 128-bit lanes):
 * half the multiply-adds for two more operations (the shuffle, the |a|), 0.68-0.87x the dense kernel's time on the
 * same weights, where widening both to int16 for vpmaddwd (2 rows, the sums through the stack) took 0.92-2.3x
 * (bench/native/int8-24-ab, BENCHMARKS.md). The accumulators stay in registers through a block of k (16 KiB of
 * panel) and go out through the vector epilogue after the last. One row takes the whole panel in one pass (V = 8). */
static inline __attribute__((always_inline)) void avx2_tile(const int TWOFOUR, const int R, const int V, int64_t steps, const uint8_t *x, int64_t ldx,
                                                            const int8_t *panel, const t4j_int8_out *o) {
    const __m256i ones = _mm256_set1_epi16(1);
    const int64_t step_bytes = TWOFOUR ? 512 : 256;       /* a step's panel: weights, then (2:4) their positions */
    const int64_t block = V == 8 ? steps : AVX2_KB * 256 / step_bytes; /* one pass: no blocks */
    __m256i kept[QMR][8];                                 /* every pass's sums between blocks */
    for (int64_t q0 = 0; q0 < steps; q0 += block) {
        int64_t q1 = T4J_MIN(steps, q0 + block);
        for (int v = 0; v < 8 / V && 8 * V * v < o->n_rem; v++) {
            __m256i c[QMR][8];
            for (int i = 0; i < R; i++)
                for (int n = 0; n < V; n++) c[i][n] = q0 == 0 ? _mm256_setzero_si256() : kept[i][V * v + n];
            for (int64_t q = q0; q < q1; q++) {
                const int8_t *b = panel + q * step_bytes + 32 * V * v;
                if (V == 2) { /* this pass's lines of the next block, in the block before: a pass alone reads too few in a row for the hardware's prefetch */
                    _mm_prefetch((const char *)(b + block * step_bytes), _MM_HINT_T0);
                    if (TWOFOUR) _mm_prefetch((const char *)(b + block * step_bytes + 256), _MM_HINT_T0);
                }
                __m256i a[QMR], ua[QMR];
#pragma GCC unroll 4
                for (int i = 0; i < R; i++) {
                    if (TWOFOUR) {
                        a[i] = _mm256_set1_epi64x(*(const int64_t *)(x + i * ldx + 8 * q));
                    } else {
                        a[i] = _mm256_set1_epi32(*(const int32_t *)(x + i * ldx + 4 * q));
                        ua[i] = _mm256_abs_epi8(a[i]);
                    }
                }
#pragma GCC unroll 8
                for (int n = 0; n < V; n++) {
                    __m256i w = _mm256_loadu_si256((const __m256i *)(b + 32 * n)), pos = _mm256_setzero_si256();
                    if (TWOFOUR) pos = _mm256_loadu_si256((const __m256i *)(b + 256 + 32 * n));
#pragma GCC unroll 4
                    for (int i = 0; i < R; i++) {
                        __m256i ai = TWOFOUR ? _mm256_shuffle_epi8(a[i], pos) : a[i], ui = TWOFOUR ? _mm256_abs_epi8(ai) : ua[i];
                        c[i][n] = _mm256_add_epi32(c[i][n], _mm256_madd_epi16(_mm256_maddubs_epi16(ui, _mm256_sign_epi8(w, ai)), ones));
                    }
                }
            }
            if (q1 < steps) {
                for (int i = 0; i < R; i++)
                    for (int n = 0; n < V; n++) kept[i][V * v + n] = c[i][n];
                continue;
            }
#pragma GCC unroll 4
            for (int i = 0; i < R; i++)
#pragma GCC unroll 8
                for (int n = 0; n < V; n++) store8(c[i][n], o, i, 8 * V * v + 8 * n);
        }
    }
}

/* The full tile, 4 rows x 16 columns (pass v of the panel), over steps q0 .. q1 - 1, its sums in and out through c[8]
 * (row-major: row i's two vectors at 2i, 2i + 1). avx2_tile's arrays of sums (kept, c) left GCC five of the eight in
 * memory, each a store and a load a step on the sum's chain: 41% of the int8 loop on MiniLM's projections (Zen 3). Here
 * the sums are named variables and a row's activations are used as soon as they are broadcast, so nothing leaves the
 * registers inside the loop (dense: a, |a| and the two weight vectors beside the sums; 2:4: the two vectors' kept
 * positions too, each activation gathered as it is used). The same operations in the same order per sum as avx2_tile:
 * the same bits. */
#define Q8_ROW(i)                                                                                                            \
    do {                                                                                                                     \
        if (TWOFOUR) {                                                                                                       \
            __m256i a = _mm256_set1_epi64x(*(const int64_t *)(x + (i) * ldx + 8 * q));                                       \
            __m256i a0 = _mm256_shuffle_epi8(a, p0), a1 = _mm256_shuffle_epi8(a, p1);                                        \
            c##i##0 = _mm256_add_epi32(c##i##0, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(a0), _mm256_sign_epi8(w0, a0)), ones)); \
            c##i##1 = _mm256_add_epi32(c##i##1, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(a1), _mm256_sign_epi8(w1, a1)), ones)); \
        } else {                                                                                                             \
            __m256i a = _mm256_set1_epi32(*(const int32_t *)(x + (i) * ldx + 4 * q)), u = _mm256_abs_epi8(a);                \
            c##i##0 = _mm256_add_epi32(c##i##0, _mm256_madd_epi16(_mm256_maddubs_epi16(u, _mm256_sign_epi8(w0, a)), ones)); \
            c##i##1 = _mm256_add_epi32(c##i##1, _mm256_madd_epi16(_mm256_maddubs_epi16(u, _mm256_sign_epi8(w1, a)), ones)); \
        }                                                                                                                    \
    } while (0)
static inline __attribute__((always_inline)) void avx2_full_tile(const int TWOFOUR, int64_t q0, int64_t q1, int64_t block, const uint8_t *x,
                                                                  int64_t ldx, const int8_t *pass, __m256i *c) {
    const __m256i ones = _mm256_set1_epi16(1);
    const int64_t step_bytes = TWOFOUR ? 512 : 256; /* a step's panel: weights, then (2:4) their positions */
    __m256i c00 = c[0], c01 = c[1], c10 = c[2], c11 = c[3], c20 = c[4], c21 = c[5], c30 = c[6], c31 = c[7];
    for (int64_t q = q0; q < q1; q++) {
        const int8_t *b = pass + q * step_bytes;
        _mm_prefetch((const char *)(b + block * step_bytes), _MM_HINT_T0); /* as avx2_tile: this pass's lines of the next block */
        if (TWOFOUR) _mm_prefetch((const char *)(b + block * step_bytes + 256), _MM_HINT_T0);
        __m256i w0 = _mm256_loadu_si256((const __m256i *)b), w1 = _mm256_loadu_si256((const __m256i *)(b + 32));
        /* 2:4: the two vectors' kept positions (dense: not read) */
        __m256i p0 = TWOFOUR ? _mm256_loadu_si256((const __m256i *)(b + 256)) : w0, p1 = TWOFOUR ? _mm256_loadu_si256((const __m256i *)(b + 288)) : w1;
        Q8_ROW(0);
        Q8_ROW(1);
        Q8_ROW(2);
        Q8_ROW(3);
    }
    c[0] = c00, c[1] = c01, c[2] = c10, c[3] = c11, c[4] = c20, c[5] = c21, c[6] = c30, c[7] = c31;
}
#undef Q8_ROW

/* The full tile of the dense (or 2:4) kernel: avx2_tile's blocks and passes, each pass's sums through avx2_full_tile. */
static inline __attribute__((always_inline)) void avx2_full(const int TWOFOUR, int64_t steps, const uint8_t *x, int64_t ldx, const int8_t *panel,
                                                             const t4j_int8_out *o) {
    const int64_t block = AVX2_KB * 256 / (TWOFOUR ? 512 : 256);
    __m256i kept[4][8]; /* each pass's sums, between blocks */
    t4j_int8_prefetch_y(o, QMR);
    for (int64_t q0 = 0; q0 < steps; q0 += block) {
        int64_t q1 = T4J_MIN(steps, q0 + block);
        for (int v = 0; v < 4 && 16 * v < o->n_rem; v++) {
            if (q0 == 0)
                for (int s = 0; s < 8; s++) kept[v][s] = _mm256_setzero_si256();
            avx2_full_tile(TWOFOUR, q0, q1, block, x, ldx, panel + 64 * v, kept[v]);
            if (q1 < steps) continue;
            for (int i = 0; i < QMR; i++)
                for (int n = 0; n < 2; n++) store8(kept[v][2 * i + n], o, i, 16 * v + 8 * n);
        }
    }
}

/* The tile for rows (1 to QMR) rows: one row over the whole panel in one pass, two in two, three in four; four (the full
 * tile) in four through avx2_full. */
static inline __attribute__((always_inline)) void avx2_rows(const int TWOFOUR, int64_t steps, const uint8_t *x, int64_t ldx, int64_t rows,
                                                            const int8_t *panel, const t4j_int8_out *o) {
    if (rows >= QMR) {
        avx2_full(TWOFOUR, steps, x, ldx, panel, o);
        return;
    }
    t4j_int8_prefetch_y(o, rows);
    switch (rows) {
    case 1: avx2_tile(TWOFOUR, 1, 8, steps, x, ldx, panel, o); break;
    case 2: avx2_tile(TWOFOUR, 2, AVX2_V2, steps, x, ldx, panel, o); break;
    default: avx2_tile(TWOFOUR, 3, 2, steps, x, ldx, panel, o); break;
    }
}

static void kernel_avx2(int64_t quads, const uint8_t *x, int64_t ldx, int64_t rows, const int8_t *panel, const t4j_int8_out *o) {
    avx2_rows(0, quads, x, ldx, rows, panel, o);
}

static void kernel24_avx2(int64_t octets, const uint8_t *x, int64_t ldx, int64_t rows, const int8_t *panel, const t4j_int8_out *o) {
    avx2_rows(1, octets, x, ldx, rows, panel, o);
}

/* Weight-only, R rows (1 or 2, a constant in each instance), the panel in two passes of 32 columns: byte t of each 32-bit
 * lane is w[j][4q + t], sign-extended by a shift to the top and an arithmetic shift back, converted to f32 and
 * multiplied by x[4q + t] into one chain per column over k in order (the AVX-512 level's order: the same bits). */
static inline __attribute__((always_inline)) void weight_only_rows(const int R, int64_t k, const float *x, int64_t ldx, const int8_t *panel,
                                                                    const t4j_int8_out *o) {
    float tile[WMR * T4J_Q8_PANEL] __attribute__((aligned(32)));
    int64_t full = k / 4;
    for (int half = 0; half < 2; half++) {
        __m256 acc[WMR][4];
        for (int i = 0; i < R; i++)
            for (int v = 0; v < 4; v++) acc[i][v] = _mm256_setzero_ps();
        for (int64_t q = 0; q <= full; q++) {
            int64_t n = q < full ? 4 : k - 4 * full; /* the last quad may be partial: its missing x are 0 */
            if (n == 0) break;
            const int8_t *b = panel + q * 256 + 128 * half;
            __m256i w[4];
#pragma GCC unroll 4
            for (int v = 0; v < 4; v++) w[v] = _mm256_loadu_si256((const __m256i *)(b + 32 * v));
#pragma GCC unroll 4
            for (int t = 0; t < 4; t++) {
                __m256 xs[WMR];
                for (int i = 0; i < R; i++) xs[i] = _mm256_set1_ps(t < n ? x[i * ldx + 4 * q + t] : 0.0f);
#pragma GCC unroll 4
                for (int v = 0; v < 4; v++) {
                    __m256 wf = _mm256_cvtepi32_ps(_mm256_srai_epi32(_mm256_slli_epi32(w[v], 24 - 8 * t), 24));
                    for (int i = 0; i < R; i++) acc[i][v] = _mm256_fmadd_ps(xs[i], wf, acc[i][v]);
                }
            }
        }
        for (int i = 0; i < R; i++)
            for (int v = 0; v < 4; v++) _mm256_store_ps(tile + i * T4J_Q8_PANEL + 32 * half + 8 * v, acc[i][v]);
    }
    t4j_int8w_store_tile(tile, o);
}

static void weight_only_avx2(int64_t k, const float *x, int64_t ldx, int64_t rows, const int8_t *panel, const t4j_int8_out *o) {
    if (rows == 1) weight_only_rows(1, k, x, ldx, panel, o);
    else weight_only_rows(WMR, k, x, ldx, panel, o);
}

const t4j_int8_impl t4j_int8_avx2 = {"avx2", quantize_row_avx2, QMR, 0, kernel_avx2, WMR, weight_only_avx2, QMR, kernel24_avx2, t4j_peak_int8_avx2};

int64_t t4j_peak_int8_avx2(int64_t iterations) {
    /* vpmaddwd + vpaddd chains: 16 int16 multiply-adds per instruction pair */
    __m256i a = _mm256_set1_epi16(3), b = _mm256_set1_epi16(-2);
    __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
    for (int64_t it = 0; it < iterations; it++) {
        c0 = _mm256_add_epi32(c0, _mm256_madd_epi16(a, b)); c1 = _mm256_add_epi32(c1, _mm256_madd_epi16(a, c1));
        c2 = _mm256_add_epi32(c2, _mm256_madd_epi16(a, c2)); c3 = _mm256_add_epi32(c3, _mm256_madd_epi16(a, c3));
        c4 = _mm256_add_epi32(c4, _mm256_madd_epi16(a, c4)); c5 = _mm256_add_epi32(c5, _mm256_madd_epi16(a, c5));
        c6 = _mm256_add_epi32(c6, _mm256_madd_epi16(a, c6)); c7 = _mm256_add_epi32(c7, _mm256_madd_epi16(a, c7));
    }
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3)),
                                 _mm256_add_epi32(_mm256_add_epi32(c4, c5), _mm256_add_epi32(c6, c7)));
    int32_t out[8];
    _mm256_storeu_si256((__m256i *)out, s);
    volatile int32_t sink = out[0];
    (void)sink;
    return iterations * 8 * 16 * 2;
}
