/* quant, AVX-512 VNNI level. Dynamic int8: vpdpbusd multiplies unsigned activation bytes by signed
 * weight bytes and adds groups of 4 into int32 lanes without saturation (vpdpbusds would saturate; the
 * AVX2 vpmaddubsw saturates at int16). Activations carry +128 to be unsigned; the driver's column sums
 * take 128 * sum(w) back out, so the result is exact. Tile: 6 rows x 64 columns (24 zmm accumulators;
 * per quad of k, 4 weight loads and 6 broadcasts feed 24 vpdpbusd). */
#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "internal.h"

#define QMR 6

/* absmax, then q = cvtps_epi32(x / scale) (rounds half to even, as nearbyint does), clamped, + offset. */
static float quantize_row_avx512(int64_t k, const float *x, int8_t *q, int32_t offset) {
    __m512 mx = _mm512_setzero_ps(), big = _mm512_set1_ps(FLT_MAX);
    __mmask16 nonfinite = 0; /* NaN or infinite lanes: the row's scale is NaN, as on every level */
    int64_t p = 0;
    /* four chains of max (one was a chain of k/16 dependent steps, half of a 384-wide row's quantization); a max is
     * exact, so any grouping gives the same absmax */
    __m512 m1 = mx, m2 = mx, m3 = mx;
    for (; p + 64 <= k; p += 64) {
        __m512 a0 = _mm512_abs_ps(_mm512_loadu_ps(x + p)), a1 = _mm512_abs_ps(_mm512_loadu_ps(x + p + 16));
        __m512 a2 = _mm512_abs_ps(_mm512_loadu_ps(x + p + 32)), a3 = _mm512_abs_ps(_mm512_loadu_ps(x + p + 48));
        nonfinite |= _mm512_cmp_ps_mask(a0, big, _CMP_NLE_UQ) | _mm512_cmp_ps_mask(a1, big, _CMP_NLE_UQ) |
                     _mm512_cmp_ps_mask(a2, big, _CMP_NLE_UQ) | _mm512_cmp_ps_mask(a3, big, _CMP_NLE_UQ);
        mx = _mm512_max_ps(mx, a0);
        m1 = _mm512_max_ps(m1, a1);
        m2 = _mm512_max_ps(m2, a2);
        m3 = _mm512_max_ps(m3, a3);
    }
    mx = _mm512_max_ps(_mm512_max_ps(mx, m1), _mm512_max_ps(m2, m3));
    for (; p + 16 <= k; p += 16) {
        __m512 a = _mm512_abs_ps(_mm512_loadu_ps(x + p));
        nonfinite |= _mm512_cmp_ps_mask(a, big, _CMP_NLE_UQ);
        mx = _mm512_max_ps(mx, a);
    }
    __mmask16 tail = (__mmask16)((1u << (k - p)) - 1u);
    __m512 a = _mm512_abs_ps(_mm512_maskz_loadu_ps(tail, x + p));
    nonfinite |= _mm512_cmp_ps_mask(a, big, _CMP_NLE_UQ);
    mx = _mm512_max_ps(mx, a);
    float scale = nonfinite ? NAN : _mm512_reduce_max_ps(mx) / 127.0f;
    if (!(scale > 0.0f)) { /* all zeros, or a NaN scale: every q is the value 0 */
        memset(q, (int8_t)(uint8_t)offset, (size_t)k);
        return scale;
    }
    __m512 vs = _mm512_set1_ps(scale);
    /* 64 values a step, narrowed in registers: int32 -> int16 -> int8 by saturating packs (the values are within
     * [-127, 127] already: |x| <= absmax), which interleave the four vectors by 128-bit lane; one dword permute puts
     * them back in order, one 64-byte store. (vpmovdb to memory, 16 values a store, was a third of the row's time.) */
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __m512i lo8 = _mm512_set1_epi8(-127), off8 = _mm512_set1_epi8((char)(uint8_t)offset);
    for (p = 0; p + 64 <= k; p += 64) {
        __m512i v0 = _mm512_cvtps_epi32(_mm512_div_ps(_mm512_loadu_ps(x + p), vs));
        __m512i v1 = _mm512_cvtps_epi32(_mm512_div_ps(_mm512_loadu_ps(x + p + 16), vs));
        __m512i v2 = _mm512_cvtps_epi32(_mm512_div_ps(_mm512_loadu_ps(x + p + 32), vs));
        __m512i v3 = _mm512_cvtps_epi32(_mm512_div_ps(_mm512_loadu_ps(x + p + 48), vs));
        __m512i b = _mm512_packs_epi16(_mm512_packs_epi32(v0, v1), _mm512_packs_epi32(v2, v3));
        b = _mm512_add_epi8(_mm512_max_epi8(_mm512_permutexvar_epi32(order, b), lo8), off8);
        _mm512_storeu_si512(q + p, b);
    }
    __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127), off = _mm512_set1_epi32(offset);
    for (; p < k; p += 16) {
        __mmask16 m = (__mmask16)(k - p >= 16 ? 0xFFFFu : (1u << (k - p)) - 1u);
        __m512i v = _mm512_cvtps_epi32(_mm512_div_ps(_mm512_maskz_loadu_ps(m, x + p), vs));
        v = _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(v, lo), hi), off);
        _mm_mask_storeu_epi8(q + p, m, _mm512_cvtepi32_epi8(v));
    }
    return scale;
}

/* Vector epilogue for f32 output (GELU is applied afterwards, to the panel: quant.c, prepare), inlined into each kernel with R (the
 * rows computed) a constant and its loops unrolled, so that the accumulators go from registers straight to y (through
 * memory and a call per tile it took 4% of MiniLM's int8 forward in perf); a whole panel of 64 columns stores without
 * masks. */
static inline __attribute__((always_inline)) void store_f32(const int R, __m512i (*acc)[4], const t4j_int8_out *o) {
    __m512 bias[4], sw[4];
    __m512i corr[4];
    __mmask16 mask[4];
    const int full = o->n_rem >= 64, relu = o->act == T4J_ACT_RELU;
#pragma GCC unroll 4
    for (int v = 0; v < 4; v++) {
        int64_t lanes = full ? 16 : T4J_MAX(0, T4J_MIN(16, o->n_rem - 16 * v));
        mask[v] = (__mmask16)((1u << lanes) - 1u);
        sw[v] = _mm512_maskz_loadu_ps(mask[v], o->sw + 16 * v);
        bias[v] = o->bias ? _mm512_maskz_loadu_ps(mask[v], o->bias + 16 * v) : _mm512_setzero_ps();
        corr[v] = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(mask[v], o->colsum + 16 * v), 7); /* 128 * colsum */
    }
    const int64_t m = o->m_rem, ldy = o->ldy;
    const float *sxs = o->sx;
    float *y0 = o->y;
#pragma GCC unroll 6
    for (int i = 0; i < R; i++) {
        if (i >= m) break;
        __m512 sx = _mm512_set1_ps(sxs[i]);
        float *y = y0 + i * ldy;
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) {
            __m512 f = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[i][v], corr[v]));
            f = _mm512_fmadd_ps(f, _mm512_mul_ps(sx, sw[v]), bias[v]);
            /* max_ps returns its second operand when either is NaN: f second keeps a NaN, as t4j_activate does */
            if (relu) f = _mm512_max_ps(_mm512_setzero_ps(), f);
            if (full) _mm512_storeu_ps(y + 16 * v, f);
            else _mm512_mask_storeu_ps(y + 16 * v, mask[v], f);
        }
    }
}

/* int32 output (t4j_int8_gemm) or GELU: through an int32 tile and the scalar epilogue. */
static __attribute__((noinline)) void finish_tile_scalar(__m512i acc[QMR][4], const t4j_int8_out *o) {
    int32_t tile[QMR * T4J_Q8_PANEL] __attribute__((aligned(64)));
    for (int i = 0; i < QMR; i++)
        for (int v = 0; v < 4; v++) _mm512_store_si512(tile + i * T4J_Q8_PANEL + 16 * v, acc[i][v]);
    t4j_int8_store_tile(tile, 128, o);
}

/* Named accumulators: an array would be stored to the stack on every iteration, since the epilogue
 * takes its address (the same trap as the f32 AVX2 kernel). */
#define QROW(i)                                                      \
    a = _mm512_set1_epi32(*(const int32_t *)(row[i] + 4 * q));       \
    c##i##0 = _mm512_dpbusd_epi32(c##i##0, a, b0);                   \
    c##i##1 = _mm512_dpbusd_epi32(c##i##1, a, b1);                   \
    c##i##2 = _mm512_dpbusd_epi32(c##i##2, a, b2);                   \
    c##i##3 = _mm512_dpbusd_epi32(c##i##3, a, b3)

/* The first R rows of accumulators c (held in registers until here) out: the vector epilogue for f32 output, else the
 * scalar one. */
static inline __attribute__((always_inline)) void finish_rows(const int R, __m512i (*c)[4], const t4j_int8_out *o) {
    if (o->y != NULL && (o->act == T4J_ACT_NONE || o->act == T4J_ACT_RELU)) { /* GELU: after the panel (quant.c, prepare) */
        store_f32(R, c, o);
        return;
    }
    __m512i acc[QMR][4]; /* a copy on this path only, so that c's address does not escape and c stays in registers */
    for (int i = 0; i < QMR; i++)
        for (int v = 0; v < 4; v++) acc[i][v] = i < R ? c[i][v] : _mm512_setzero_si512();
    finish_tile_scalar(acc, o);
}

/* An int32 tile held in memory (rows x 64, the AMX kernel's sums: quant_amx.c) through the same epilogue as the
 * VNNI kernel's registers, QMR rows at a time: the same bits. */
void t4j_int8_store_rows_avx512(const int32_t *acc, int64_t rows, const t4j_int8_out *o) {
    for (int64_t i0 = 0; i0 < rows && i0 < o->m_rem; i0 += QMR) {
        t4j_int8_out part = *o;
        part.m_rem = T4J_MIN(QMR, o->m_rem - i0);
        if (part.sx != NULL) part.sx += i0;
        if (part.y != NULL) part.y += i0 * o->ldy;
        if (part.c32 != NULL) part.c32 += i0 * o->ldc;
        __m512i c[QMR][4];
        for (int i = 0; i < QMR; i++)
            for (int v = 0; v < 4; v++)
                c[i][v] = i0 + i < rows ? _mm512_load_si512(acc + (i0 + i) * T4J_Q8_PANEL + 16 * v) : _mm512_setzero_si512();
        finish_rows(QMR, c, &part);
    }
}

/* Fewer rows than the tile (a batch of 1 to QMR-1) over cached weights: R rows, a compile-time
 * constant in each instance, so that a GEMV issues 4 vpdpbusd per quad instead of the full tile's 24.
 * The accumulators are copied to the array the epilogue takes only after the loop, so that inside it
 * they stay in registers. */
static inline __attribute__((always_inline)) void vnni_rows(const int R, int64_t quads, const uint8_t *x, int64_t ldx,
                                                            const int8_t *panel, const t4j_int8_out *o) {
    __m512i c[QMR - 1][4];
    for (int i = 0; i < R; i++)
        for (int v = 0; v < 4; v++) c[i][v] = _mm512_setzero_si512();
    for (int64_t q = 0; q < quads; q++) {
        const int8_t *b = panel + q * 256;
        __m512i b0 = _mm512_load_si512(b), b1 = _mm512_load_si512(b + 64);
        __m512i b2 = _mm512_load_si512(b + 128), b3 = _mm512_load_si512(b + 192);
#pragma GCC unroll 5
        for (int i = 0; i < R; i++) {
            __m512i a = _mm512_set1_epi32(*(const int32_t *)(x + i * ldx + 4 * q));
            c[i][0] = _mm512_dpbusd_epi32(c[i][0], a, b0);
            c[i][1] = _mm512_dpbusd_epi32(c[i][1], a, b1);
            c[i][2] = _mm512_dpbusd_epi32(c[i][2], a, b2);
            c[i][3] = _mm512_dpbusd_epi32(c[i][3], a, b3);
        }
    }
    finish_rows(R, c, o);
}

static void kernel_vnni(int64_t quads, const uint8_t *x, int64_t ldx, int64_t rows, const int8_t *panel, const t4j_int8_out *o) {
    /* Cached weights run faster through the small tiles (1x1024x1024 hot: 12 us against 28 for the full
     * tile); weights streamed from memory through the full tile on Zen 4 (1x4096x4096, 4 weight sets
     * rotated: 0.58-0.61 ms against 0.69-0.79) but through the small tiles on Zen 5 (0.45-0.48 against
     * 0.50-0.55): the driver decides (row_tile, t4j_int8_set_stream_tile). */
    switch (o->row_tile ? rows : QMR) {
    case 1: vnni_rows(1, quads, x, ldx, panel, o); return;
    case 2: vnni_rows(2, quads, x, ldx, panel, o); return;
    case 3: vnni_rows(3, quads, x, ldx, panel, o); return;
    case 4: vnni_rows(4, quads, x, ldx, panel, o); return;
    case 5: vnni_rows(5, quads, x, ldx, panel, o); return;
    default: break;
    }
    t4j_int8_prefetch_y(o, T4J_MIN(rows, QMR));
    const uint8_t *row[QMR];
    for (int i = 0; i < QMR; i++) row[i] = x + T4J_MIN(i, rows - 1) * ldx; /* missing rows repeat the last: not stored */
    __m512i c00 = _mm512_setzero_si512(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    __m512i c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00, c32 = c00, c33 = c00;
    __m512i c40 = c00, c41 = c00, c42 = c00, c43 = c00, c50 = c00, c51 = c00, c52 = c00, c53 = c00;
    for (int64_t q = 0; q < quads; q++) {
        const int8_t *b = panel + q * 256;
        __m512i b0 = _mm512_load_si512(b), b1 = _mm512_load_si512(b + 64);
        __m512i b2 = _mm512_load_si512(b + 128), b3 = _mm512_load_si512(b + 192);
        __m512i a;
        QROW(0); QROW(1); QROW(2); QROW(3); QROW(4); QROW(5);
    }
    __m512i acc[QMR][4] = {{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23},
                           {c30, c31, c32, c33}, {c40, c41, c42, c43}, {c50, c51, c52, c53}};
    finish_rows(QMR, acc, o);
}

/* 2:4, R rows (1 to QMR24, a compile-time constant in each instance). Per octet of k: the 8 activations
 * of a row repeated across the vector, one vpshufb per 16 columns picks each column's 4 kept ones (the
 * positions are the second half of the octet's panel bytes), and vpdpbusd multiplies them by the 4 kept
 * weights. Half the multiply-adds of the dense kernel, but a shuffle for each: on Zen 4 the two compete
 * for the same pipes, and at the ViT's shapes (17 rows, k 128-512) this runs at 0.95-1.15x the dense
 * kernel's speed (BENCHMARKS.md). 6 rows with the positions and weights as memory operands ran slower. */
#define QMR24 4
static inline __attribute__((always_inline)) void vnni24_rows(const int R, int64_t octets, const uint8_t *x, int64_t ldx,
                                                              const int8_t *panel, const t4j_int8_out *o) {
    __m512i c[QMR24][4];
    for (int i = 0; i < R; i++)
        for (int v = 0; v < 4; v++) c[i][v] = _mm512_setzero_si512();
    for (int64_t q = 0; q < octets; q++) {
        const int8_t *b = panel + q * 512;
        __m512i w0 = _mm512_load_si512(b), w1 = _mm512_load_si512(b + 64);
        __m512i w2 = _mm512_load_si512(b + 128), w3 = _mm512_load_si512(b + 192);
        __m512i p0 = _mm512_load_si512(b + 256), p1 = _mm512_load_si512(b + 320);
        __m512i p2 = _mm512_load_si512(b + 384), p3 = _mm512_load_si512(b + 448);
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            __m512i a = _mm512_set1_epi64(*(const int64_t *)(x + i * ldx + 8 * q));
            c[i][0] = _mm512_dpbusd_epi32(c[i][0], _mm512_shuffle_epi8(a, p0), w0);
            c[i][1] = _mm512_dpbusd_epi32(c[i][1], _mm512_shuffle_epi8(a, p1), w1);
            c[i][2] = _mm512_dpbusd_epi32(c[i][2], _mm512_shuffle_epi8(a, p2), w2);
            c[i][3] = _mm512_dpbusd_epi32(c[i][3], _mm512_shuffle_epi8(a, p3), w3);
        }
    }
    finish_rows(R, c, o);
}

static void kernel24_vnni(int64_t octets, const uint8_t *x, int64_t ldx, int64_t rows, const int8_t *panel, const t4j_int8_out *o) {
    t4j_int8_prefetch_y(o, T4J_MIN(rows, QMR24));
    switch (rows) {
    case 1: vnni24_rows(1, octets, x, ldx, panel, o); return;
    case 2: vnni24_rows(2, octets, x, ldx, panel, o); return;
    case 3: vnni24_rows(3, octets, x, ldx, panel, o); return;
    default: vnni24_rows(4, octets, x, ldx, panel, o); return;
    }
}

/* Weight-only: byte t of each 32-bit lane is w[j][4q + t]; shifting it to the top and back (arithmetic)
 * sign-extends it, then it is converted to f32 and multiplied by x[4q + t]. R rows (1 to 4), a compile-
 * time constant in each instance so that a batch of 1 does a quarter of the work of a batch of 4. */
#define WMR 4
static inline __attribute__((always_inline)) void weight_only_rows(const int R, int64_t k, const float *x, int64_t ldx,
                                                                    const int8_t *panel, const t4j_int8_out *o) {
    __m512 acc[WMR][4];
    for (int i = 0; i < R; i++)
        for (int v = 0; v < 4; v++) acc[i][v] = _mm512_setzero_ps();
    int64_t full = k / 4;
    for (int64_t q = 0; q <= full; q++) {
        int64_t n = q < full ? 4 : k - 4 * full; /* the last quad may be partial: its missing x are 0 */
        if (n == 0) break;
        __m512 xs[WMR][4];
        for (int i = 0; i < R; i++)
            for (int t = 0; t < 4; t++) xs[i][t] = _mm512_set1_ps(t < n ? x[i * ldx + 4 * q + t] : 0.0f);
        const int8_t *b = panel + q * 256;
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) {
            __m512i w = _mm512_load_si512(b + 64 * v);
#pragma GCC unroll 4
            for (int t = 0; t < 4; t++) {
                __m512 wf = _mm512_cvtepi32_ps(_mm512_srai_epi32(_mm512_slli_epi32(w, 24 - 8 * t), 24));
                for (int i = 0; i < R; i++) acc[i][v] = _mm512_fmadd_ps(xs[i][t], wf, acc[i][v]);
            }
        }
    }
    float tile[WMR * T4J_Q8_PANEL] __attribute__((aligned(64)));
    for (int i = 0; i < R; i++)
        for (int v = 0; v < 4; v++) _mm512_store_ps(tile + i * T4J_Q8_PANEL + 16 * v, acc[i][v]);
    t4j_int8w_store_tile(tile, o);
}

static void weight_only_avx512(int64_t k, const float *x, int64_t ldx, int64_t rows, const int8_t *panel, const t4j_int8_out *o) {
    switch (rows) {
    case 1: weight_only_rows(1, k, x, ldx, panel, o); break;
    case 2: weight_only_rows(2, k, x, ldx, panel, o); break;
    case 3: weight_only_rows(3, k, x, ldx, panel, o); break;
    default: weight_only_rows(4, k, x, ldx, panel, o); break;
    }
}

int64_t t4j_peak_vnni_avx512(int64_t iterations) {
    /* 12 independent chains with different operands (identical ones would be merged by the compiler) */
    __m512i b = _mm512_set1_epi8(-2);
    __m512i a0 = _mm512_set1_epi8(1), a1 = _mm512_set1_epi8(2), a2 = _mm512_set1_epi8(3), a3 = _mm512_set1_epi8(4);
    __m512i a4 = _mm512_set1_epi8(5), a5 = _mm512_set1_epi8(6), a6 = _mm512_set1_epi8(7), a7 = _mm512_set1_epi8(8);
    __m512i a8 = _mm512_set1_epi8(9), a9 = _mm512_set1_epi8(10), a10 = _mm512_set1_epi8(11), a11 = _mm512_set1_epi8(12);
    __m512i c0 = _mm512_setzero_si512(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
    __m512i c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
    for (int64_t it = 0; it < iterations; it++) {
        c0 = _mm512_dpbusd_epi32(c0, a0, b); c1 = _mm512_dpbusd_epi32(c1, a1, b); c2 = _mm512_dpbusd_epi32(c2, a2, b);
        c3 = _mm512_dpbusd_epi32(c3, a3, b); c4 = _mm512_dpbusd_epi32(c4, a4, b); c5 = _mm512_dpbusd_epi32(c5, a5, b);
        c6 = _mm512_dpbusd_epi32(c6, a6, b); c7 = _mm512_dpbusd_epi32(c7, a7, b); c8 = _mm512_dpbusd_epi32(c8, a8, b);
        c9 = _mm512_dpbusd_epi32(c9, a9, b); c10 = _mm512_dpbusd_epi32(c10, a10, b); c11 = _mm512_dpbusd_epi32(c11, a11, b);
    }
    __m512i s = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(c0, c1), _mm512_add_epi32(c2, c3)),
                                 _mm512_add_epi32(_mm512_add_epi32(c4, c5), _mm512_add_epi32(c6, c7)));
    s = _mm512_add_epi32(s, _mm512_add_epi32(_mm512_add_epi32(c8, c9), _mm512_add_epi32(c10, c11)));
    volatile int32_t sink = _mm512_reduce_add_epi32(s);
    (void)sink;
    return iterations * 12 * 64 * 2;
}

const t4j_int8_impl t4j_int8_avx512_vnni = {"avx512-vnni", quantize_row_avx512, QMR, 128, kernel_vnni, WMR, weight_only_avx512, QMR24, kernel24_vnni,
                                                  t4j_peak_vnni_avx512};
