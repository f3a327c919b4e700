/* quant: int8 quantization and the int8 linear layers (ARCHITECTURE.md, "Numerics": symmetric, no zero point,
 * [-127, 127], scale = absmax / 127, round half to even, int32 accumulation,
 * y = acc * s_x[row] * s_w[col] + bias).
 *
 * This file holds the driver, the packing of weights and the shared epilogues; the portable, AVX2 and AVX-512 VNNI
 * kernels are in quant_portable.c, quant_avx2.c and quant_avx512.c (AMX tiles: quant_amx.c). All levels read one packed
 * layout (internal.h), so weights are packed once whatever the level. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define Q8_MAGIC 0x74346a7138L     /* "t4jq8" */
#define Q8_24_MAGIC 0x74346a713234L /* "t4jq24" */

static int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

/* ---- quantize / dequantize ---- */

T4J_EXPORT void t4j_quantize_rows(int64_t m, int64_t k, const float *x, int64_t ldx, int8_t *q, int64_t ldq, float *scale) {
    const t4j_int8_impl *I = t4j_int8_current();
    for (int64_t i = 0; i < m; i++) scale[i] = I->quantize_row(k, x + i * ldx, q + i * ldq, 0);
}

T4J_EXPORT void t4j_dequantize_rows(int64_t m, int64_t k, const int8_t *q, int64_t ldq, const float *scale, float *x, int64_t ldx) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t p = 0; p < k; p++) x[i * ldx + p] = (float)q[i * ldq + p] * scale[i];
}

/* ---- packed weights ---- */

typedef struct {
    const t4j_int8_header *h;
    const float *scale;
    const int32_t *colsum;
    const int8_t *data;
} q8_packed;

static size_t header_bytes(void) { return 64; }

static int64_t panel_bytes(int64_t quads) { return quads * 4 * T4J_Q8_PANEL; }

static int is_24(const t4j_int8_header *h) { return h->magic == Q8_24_MAGIC; }

/* Bytes from one panel to the next: a 2:4 octet holds its weights and their positions. */
static int64_t panel_stride(const t4j_int8_header *h) { return panel_bytes(h->quads) * (is_24(h) ? 2 : 1); }

/* Bytes of a quantized x row the kernels read: k padded to whole quads, or octets (2:4). */
static int64_t x_row_bytes(const t4j_int8_header *h) { return h->quads * (is_24(h) ? 8 : 4); }

static int64_t packed_size(int64_t n, int64_t quads, int64_t bytes_per_quad) {
    int64_t np = round_up(n, T4J_Q8_PANEL);
    return (int64_t)header_bytes() + np * 4 /* scales */ + np * 4 /* column sums */ + (np / T4J_Q8_PANEL) * quads * bytes_per_quad;
}

T4J_EXPORT int64_t t4j_int8_packed_size(int64_t n, int64_t k) { return packed_size(n, (k + 3) / 4, 4 * T4J_Q8_PANEL); }

T4J_EXPORT int64_t t4j_int8_24_packed_size(int64_t n, int64_t k) { return packed_size(n, (k + 7) / 8, 8 * T4J_Q8_PANEL); }

static q8_packed view(const void *packed) {
    const t4j_int8_header *h = packed;
    int64_t np = h->panels * T4J_Q8_PANEL;
    const char *base = (const char *)packed + header_bytes();
    return (q8_packed){h, (const float *)base, (const int32_t *)(base + np * 4), (const int8_t *)(base + np * 8)};
}

/* Weights are symmetric, in [-127, 127]: a -128 is read as -127 on every level (the AVX2 kernel's sign trick needs it). */
static int8_t symmetric(int8_t w) { return w == INT8_MIN ? -127 : w; }

/* Column j's weights (row j of w, k values) into its panel at column jj, dense: byte (quad, jj, t). Returns their sum.
 * Without a -128 among them (the rule), the sum in one pass the compiler vectorizes and each quad's 4 bytes stored at
 * once (byte by byte, 4-5x the time). */
static int32_t pack_column_dense(int64_t k, const int8_t *wj, int8_t *panel, int64_t jj) {
    int32_t sum = 0, minus128 = 0;
    for (int64_t p = 0; p < k; p++) {
        sum += wj[p];
        minus128 += wj[p] == INT8_MIN;
    }
    int8_t *column = panel + jj * 4;
    int64_t p = 0;
    if (minus128 == 0)
        for (; p + 4 <= k; p += 4) memcpy(column + p * T4J_Q8_PANEL, wj + p, 4); /* quad p/4 starts at (p/4)·4·PANEL */
    for (; p < k; p++) column[(p / 4) * 4 * T4J_Q8_PANEL + p % 4] = symmetric(wj[p]);
    return sum + minus128; /* each -128 packed as -127 */
}

/* The positions (ascending) of the nonzeros of a group of 4 weights, padded with zero positions to 2;
 * returns 0 when more than 2 are nonzero. */
static int kept_of_group(const int8_t w[4], int kept[2]) {
    int count = 0;
    for (int t = 0; t < 4; t++)
        if (w[t] != 0) {
            if (count == 2) return 0;
            kept[count++] = t;
        }
    for (int t = 0; count < 2; t++)
        if (w[t] == 0 && (count == 0 || kept[0] != t)) kept[count++] = t;
    if (kept[0] > kept[1]) {
        int first = kept[1];
        kept[1] = kept[0];
        kept[0] = first;
    }
    return 1;
}

/* The same for 2:4 (internal.h): each octet's 4 kept weights and their positions. An odd number of groups
 * leaves the last octet half empty: zero weights at position 0 (the panel was zeroed). Returns 0 when a
 * group keeps more than 2, else 1 with *sum set. */
static int pack_column_24(int64_t k, const int8_t *wj, int8_t *panel, int64_t jj, int32_t *sum) {
    *sum = 0;
    for (int64_t g = 0; g < k / 4; g++) {
        int kept[2];
        if (!kept_of_group(wj + 4 * g, kept)) return 0;
        int8_t *octet = panel + (g / 2) * 8 * T4J_Q8_PANEL;
        for (int t = 0; t < 2; t++) {
            int slot = 2 * (int)(g % 2) + t;
            int8_t w = symmetric(wj[4 * g + kept[t]]);
            octet[jj * 4 + slot] = w;
            octet[4 * T4J_Q8_PANEL + jj * 4 + slot] = (int8_t)(4 * (g % 2) + kept[t]);
            *sum += w;
        }
    }
    return 1;
}

/* Zeroes the packed form, writes its header, then each column's scale, weights and sum (the form the
 * magic names). Returns T4J_OK, or T4J_ERR_NOT_2TO4. */
static int32_t pack(int64_t magic, int64_t bytes, int64_t quads, int64_t n, int64_t k, const int8_t *w, int64_t ldw, const float *scale,
                    void *packed) {
    memset(packed, 0, (size_t)bytes);
    *(t4j_int8_header *)packed = (t4j_int8_header){magic, n, k, quads, round_up(n, T4J_Q8_PANEL) / T4J_Q8_PANEL};
    q8_packed v = view(packed);
    for (int64_t j = 0; j < n; j++) {
        int8_t *panel = (int8_t *)v.data + (j / T4J_Q8_PANEL) * panel_stride(v.h);
        int32_t sum;
        if (!is_24(v.h)) sum = pack_column_dense(k, w + j * ldw, panel, j % T4J_Q8_PANEL);
        else if (!pack_column_24(k, w + j * ldw, panel, j % T4J_Q8_PANEL, &sum)) return T4J_ERR_NOT_2TO4;
        ((float *)v.scale)[j] = scale[j];
        ((int32_t *)v.colsum)[j] = sum;
    }
    return T4J_OK;
}

T4J_EXPORT void t4j_int8_pack(int64_t n, int64_t k, const int8_t *w, int64_t ldw, const float *scale, void *packed) {
    pack(Q8_MAGIC, t4j_int8_packed_size(n, k), (k + 3) / 4, n, k, w, ldw, scale, packed);
}

T4J_EXPORT int32_t t4j_int8_24_pack(int64_t n, int64_t k, const int8_t *w, int64_t ldw, const float *scale, void *packed) {
    if (k % 4 != 0) return T4J_ERR_NOT_2TO4;
    return pack(Q8_24_MAGIC, t4j_int8_24_packed_size(n, k), (k + 7) / 8, n, k, w, ldw, scale, packed);
}

/* ---- epilogues ---- */

float t4j_activate_gelu(float v, int32_t act) {
    if (act != T4J_ACT_GELU && act != T4J_ACT_GELU_ERF) return v;
    t4j_gelu_rows(1, 1, &v, 1, act == T4J_ACT_GELU_ERF); /* the op's bits */
    return v;
}

void t4j_int8_store_tile(const int32_t *acc, int32_t x_offset, const t4j_int8_out *o) {
    for (int64_t i = 0; i < o->m_rem; i++) {
        for (int64_t j = 0; j < o->n_rem; j++) {
            int32_t v = acc[i * T4J_Q8_PANEL + j] - x_offset * o->colsum[j];
            if (o->c32 != NULL) {
                o->c32[i * o->ldc + j] = v;
            } else {
                float f = (float)v * (o->sx[i] * o->sw[j]);
                if (o->bias != NULL) f += o->bias[j];
                o->y[i * o->ldy + j] = t4j_activate(f, o->act);
            }
        }
    }
}

void t4j_int8w_store_tile(const float *acc, const t4j_int8_out *o) {
    for (int64_t i = 0; i < o->m_rem; i++) {
        for (int64_t j = 0; j < o->n_rem; j++) {
            float f = acc[i * T4J_Q8_PANEL + j] * o->sw[j];
            if (o->bias != NULL) f += o->bias[j];
            o->y[i * o->ldy + j] = t4j_activate(f, o->act);
        }
    }
}

/* ---- the driver ---- */

typedef struct {
    const t4j_int8_impl *impl;
    q8_packed w;
    int64_t m, n;
    const uint8_t *xq;       /* dynamic: quantized rows (+offset), stride xld */
    int64_t xld;
    const float *sx;
    const float *xf;         /* weight-only: f32 rows, stride xld */
    const float *bias;
    int32_t act;
    float *y;
    int64_t ldy;
    int32_t *c32;
    int64_t ldc;
    int64_t panels_per_task;
    int32_t row_tile;
    int32_t gelu;            /* 0, or 1 + exact: GELU over each panel's output once its tiles are written (prepare) */
} q8_job;

/* Rows of x a task takes through all its panels before the next rows: a batch of many sequences (MiniLM at batch 32,
 * 4096 rows) took each panel down every row, writing y a 256-byte strip of a row at a time over 25 MB, and ran at
 * 0.78-0.94x the kernel's speed at 128 rows. A whole tile count, so that the tiles, and the bits, are those of one block. */
#ifndef T4J_Q8_ROW_BLOCK
#define T4J_Q8_ROW_BLOCK 192
#endif

/* AMX for the dense kernel (tune4j.h, t4j_int8_set_amx): -1 until first asked, then 0 or 1. */
static atomic_int amx_state = -1;

static int amx_available(void) {
#if defined(__x86_64__)
    return (t4j_cpu_features() & T4J_FEATURE_AMX_INT8) != 0;
#else
    return 0;
#endif
}

T4J_EXPORT int32_t t4j_int8_amx(void) {
    int s = atomic_load(&amx_state);
    if (s < 0) {
        s = amx_available() && !t4j_amx_env_off();
        atomic_store(&amx_state, s);
    }
    return s;
}

T4J_EXPORT int32_t t4j_int8_set_amx(int32_t on) {
    atomic_store(&amx_state, on != 0 && amx_available());
    return t4j_int8_amx();
}

/* Whether J's whole 16-row groups run on AMX tiles: the dense kernel at the VNNI level, k in whole 64-byte tiles, at
 * least one group. */
static int amx_for(const q8_job *J) {
#if defined(__x86_64__)
    return J->xq != NULL && !is_24(J->w.h) && J->impl == &t4j_int8_avx512_vnni && J->w.h->quads % 16 == 0 && J->m >= 16 && t4j_int8_amx();
#else
    (void)J;
    return 0;
#endif
}

/* Where the tile of `rows` rows from row i at column j of J's result goes. */
static t4j_int8_out tile_out(const q8_job *J, int64_t i, int64_t j, int64_t rows) {
    return (t4j_int8_out){.m_rem = rows, .n_rem = T4J_MIN(T4J_Q8_PANEL, J->n - j), .sx = J->sx ? J->sx + i : NULL, .sw = J->w.scale + j,
                          .colsum = J->w.colsum + j, .bias = J->bias ? J->bias + j : NULL, .act = J->act,
                          .y = J->y ? J->y + i * J->ldy + j : NULL, .ldy = J->ldy, .c32 = J->c32 ? J->c32 + i * J->ldc + j : NULL,
                          .ldc = J->ldc, .row_tile = J->row_tile};
}

/* Panels p0 .. p1 - 1 of J's weights, every row of x: T4J_Q8_ROW_BLOCK rows at a time through all the panels; on AMX
 * (amx_for) 32 rows a call, the rows past the last whole 16 on the level's kernel. */
static void q8_panels(const q8_job *J, int64_t p0, int64_t p1) {
    const t4j_int8_impl *I = J->impl;
    int twofour = is_24(J->w.h);
    int64_t mr = J->xf != NULL ? I->wo_mr : twofour ? I->mr24 : I->mr;
    int64_t rows = T4J_MAX(mr, T4J_Q8_ROW_BLOCK / mr * mr);
    int amx = amx_for(J);
#if defined(__x86_64__)
    if (amx) t4j_amx_begin();
#endif
    for (int64_t i0 = 0; i0 < J->m; i0 += rows) {
        int64_t i1 = T4J_MIN(J->m, i0 + rows), tiled = amx ? (i1 - i0) / 16 * 16 : 0; /* rows on the tiles */
        for (int64_t p = p0; p < p1; p++) {
            const int8_t *panel = J->w.data + p * panel_stride(J->w.h);
            int64_t j = p * T4J_Q8_PANEL;
#if defined(__x86_64__)
            for (int64_t i = i0; i < i0 + tiled; i += 32) {
                int64_t r = T4J_MIN(32, i0 + tiled - i);
                t4j_int8_out o = tile_out(J, i, j, r);
                t4j_int8_amx_rows(J->w.h->quads, J->xq + i * J->xld, J->xld, r, panel, &o);
            }
#endif
            for (int64_t i = i0 + tiled; i < i1; i += mr) {
                t4j_int8_out o = tile_out(J, i, j, T4J_MIN(mr, J->m - i));
                if (J->xf != NULL) I->weight_only(J->w.h->k, J->xf + i * J->xld, J->xld, o.m_rem, panel, &o);
                else if (twofour) I->kernel24(J->w.h->quads, J->xq + i * J->xld, J->xld, o.m_rem, panel, &o);
                else I->kernel(J->w.h->quads, J->xq + i * J->xld, J->xld, o.m_rem, panel, &o);
            }
            if (J->gelu) t4j_gelu_rows(i1 - i0, T4J_MIN(T4J_Q8_PANEL, J->n - j), J->y + i0 * J->ldy + j, J->ldy, J->gelu - 1);
        }
    }
#if defined(__x86_64__)
    if (amx) t4j_amx_end();
#endif
}

static void q8_task(void *ctx, int64_t task) {
    const q8_job *J = ctx;
    int64_t p0 = task * J->panels_per_task;
    q8_panels(J, p0, T4J_MIN(J->w.h->panels, p0 + J->panels_per_task));
}

/* T4J_INT8_STREAM_FULL_TILE or _ROW_TILE: how a batch smaller than the tile runs over streamed weights. */
static atomic_int stream_tile = T4J_INT8_STREAM_FULL_TILE;

T4J_EXPORT int32_t t4j_int8_set_stream_tile(int32_t tile) {
    if (tile != T4J_INT8_STREAM_FULL_TILE && tile != T4J_INT8_STREAM_ROW_TILE) return T4J_ERR_INVALID;
    atomic_store(&stream_tile, tile);
    return T4J_OK;
}

T4J_EXPORT int32_t t4j_int8_stream_tile(void) { return atomic_load(&stream_tile); }

/* The tile choice for J's weights, and GELU (either form) taken out of the tile epilogue: each task applies it to a
 * row block of a panel (up to T4J_Q8_ROW_BLOCK x 64) as soon as its tiles are written (still in cache), with the
 * level's vector GELU (the op's bits). A scalar erf or tanh per element in the epilogue would cost several times that;
 * a pass over the whole output read it back (BERT's GELU op, 5% of MiniLM's int8 forward; the tanh form's pass after
 * the parallel region, which this file ran on one thread). */
static void prepare(q8_job *J) {
    J->row_tile = J->w.h->n * J->w.h->k <= T4J_CACHED_WEIGHT_BYTES || atomic_load(&stream_tile) == T4J_INT8_STREAM_ROW_TILE;
    J->gelu = J->y != NULL && (J->act == T4J_ACT_GELU || J->act == T4J_ACT_GELU_ERF) ? 1 + (J->act == T4J_ACT_GELU_ERF) : 0;
    if (J->gelu) J->act = T4J_ACT_NONE;
}

static int64_t threads_for(double ops, int64_t panels) {
    return ops < 4.0e6 ? 1 : T4J_MIN((int64_t)t4j_num_threads(), panels);
}

static int32_t run(q8_job *J, double ops) {
    int64_t panels = J->w.h->panels, threads = threads_for(ops, panels);
    J->panels_per_task = (panels + threads - 1) / threads;
    prepare(J);
    t4j_parallel((panels + J->panels_per_task - 1) / J->panels_per_task, q8_task, J);
    return T4J_OK;
}

/* Several layers' jobs as one parallel region: their panels numbered one after another, a task a run of them. */
typedef struct {
    q8_job *jobs;
    int32_t count;
    int64_t panels_per_task;
} q8_jobs;

static void q8_jobs_task(void *ctx, int64_t task) {
    const q8_jobs *S = ctx;
    int64_t g0 = task * S->panels_per_task, g1 = g0 + S->panels_per_task, first = 0;
    for (int32_t l = 0; l < S->count && first < g1; l++) {
        int64_t panels = S->jobs[l].w.h->panels;
        if (g0 < first + panels) q8_panels(&S->jobs[l], T4J_MAX(g0, first) - first, T4J_MIN(g1, first + panels) - first);
        first += panels;
    }
}

/* A float quantized (its share of the row's max, the scaling, the rounding and the packing) counted as this many
 * flops against the pool's threshold (T4J_PARALLEL_MIN_FLOPS), so that MiniLM's 128 rows of 384 and of 1536 are
 * split too: its 36 int8 projections at batch 1 took 3-5% less on two threads than with the rows on the calling
 * thread, 2-3% less than with only the rows of 1536 split (bench/native/int8-ab, 61 rounds). */
#ifndef T4J_QUANTIZE_FLOPS
#define T4J_QUANTIZE_FLOPS 64.0
#endif

typedef struct {
    const t4j_int8_impl *impl;
    int64_t m, k, xld, rows_per_task;
    const float *x;
    int64_t ldx;
    uint8_t *xq;
    float *sx;
} quantize_job;

static void quantize_task(void *ctx, int64_t task) {
    const quantize_job *Q = ctx;
    const t4j_int8_impl *I = Q->impl;
    int64_t i0 = task * Q->rows_per_task, i1 = T4J_MIN(Q->m, i0 + Q->rows_per_task);
    for (int64_t i = i0; i < i1; i++) {
        Q->sx[i] = I->quantize_row(Q->k, Q->x + i * Q->ldx, (int8_t *)Q->xq + i * Q->xld, I->x_offset);
        for (int64_t p = Q->k; p < Q->xld; p++) Q->xq[i * Q->xld + p] = (uint8_t)I->x_offset; /* the value 0 */
    }
}

/* Quantized rows of x with the level's offset, k padded with zeros to whole quads (octets for 2:4), in the calling
 * thread's scratch; rows shared out among the threads, each row's scale its own: the same bits for any thread count. */
static uint8_t *quantize_input(const t4j_int8_impl *I, int64_t m, int64_t k, const float *x, int64_t ldx, int64_t xld, float *sx) {
    uint8_t *xq = t4j_thread_scratch(T4J_SCRATCH_INT8_X, (size_t)(m * xld)); /* 64-byte aligned and rounded */
    if (xq == NULL) return NULL;
    quantize_job Q = {.impl = I, .m = m, .k = k, .xld = xld, .rows_per_task = t4j_even_task(m, 8, 1), .x = x, .ldx = ldx, .xq = xq, .sx = sx};
    t4j_parallel_sized((m + Q.rows_per_task - 1) / Q.rows_per_task, quantize_task, &Q, T4J_QUANTIZE_FLOPS * (double)m * (double)k);
    return xq;
}

T4J_EXPORT int32_t t4j_int8_linear(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const void *packed, const float *bias, int32_t activation, float *y, int64_t ldy) {
    const t4j_int8_impl *I = t4j_int8_current();
    q8_packed w = view(packed);
    int64_t xld = x_row_bytes(w.h);
    float *sx = t4j_thread_scratch(T4J_SCRATCH_INT8_SCALES, (size_t)T4J_MAX(m, 1) * sizeof(float));
    uint8_t *xq = sx ? quantize_input(I, m, k, x, ldx, xld, sx) : NULL;
    if (xq == NULL) return T4J_ERR_NO_MEMORY;
    q8_job J = {.impl = I, .w = w, .m = m, .n = n, .xq = xq, .xld = xld, .sx = sx, .bias = bias, .act = activation, .y = y, .ldy = ldy};
    return run(&J, 2.0 * m * n * k);
}

T4J_EXPORT int32_t t4j_int8_linear_shared(int64_t m, int64_t k, const float *x, int64_t ldx, int32_t count, const void *const *packed, const float *const *bias,
                                          int32_t activation, float *const *y, const int64_t *ldy) {
    if (count < 1 || count > T4J_INT8_SHARED_MAX) return T4J_ERR_INVALID;
    for (int32_t l = 0; l < count; l++) {
        const t4j_int8_header *h = packed[l];
        if (h->k != k) return T4J_ERR_INVALID;
        if (is_24(h) != is_24(packed[0])) return T4J_ERR_WRONG_PACKING; /* their quantized rows would differ in length */
    }
    const t4j_int8_impl *I = t4j_int8_current();
    int64_t xld = x_row_bytes(view(packed[0]).h);
    float *sx = t4j_thread_scratch(T4J_SCRATCH_INT8_SCALES, (size_t)T4J_MAX(m, 1) * sizeof(float));
    uint8_t *xq = sx ? quantize_input(I, m, k, x, ldx, xld, sx) : NULL;
    if (xq == NULL) return T4J_ERR_NO_MEMORY;
    q8_job jobs[T4J_INT8_SHARED_MAX];
    int64_t panels = 0;
    double ops = 0.0;
    for (int32_t l = 0; l < count; l++) {
        q8_packed w = view(packed[l]);
        jobs[l] = (q8_job){.impl = I, .w = w, .m = m, .n = w.h->n, .xq = xq, .xld = xld, .sx = sx, .bias = bias ? bias[l] : NULL, .act = activation,
                           .y = y[l], .ldy = ldy[l]};
        prepare(&jobs[l]);
        panels += w.h->panels;
        ops += 2.0 * m * w.h->n * k;
    }
    int64_t threads = threads_for(ops, panels);
    q8_jobs S = {jobs, count, (panels + threads - 1) / threads};
    t4j_parallel((panels + S.panels_per_task - 1) / S.panels_per_task, q8_jobs_task, &S);
    return T4J_OK;
}

T4J_EXPORT int32_t t4j_int8_gemm(int64_t m, int64_t n, int64_t k, const int8_t *a, int64_t lda, const void *packed, int32_t *c, int64_t ldc) {
    const t4j_int8_impl *I = t4j_int8_current();
    q8_packed w = view(packed);
    int64_t xld = x_row_bytes(w.h);
    uint8_t *xq = aligned_alloc(64, (size_t)round_up(T4J_MAX(m, 1) * xld, 64));
    if (xq == NULL) return T4J_ERR_NO_MEMORY;
    for (int64_t i = 0; i < m; i++)
        for (int64_t p = 0; p < xld; p++) xq[i * xld + p] = (uint8_t)((p < k ? a[i * lda + p] : 0) + I->x_offset);
    q8_job J = {.impl = I, .w = w, .m = m, .n = n, .xq = xq, .xld = xld, .c32 = c, .ldc = ldc};
    int32_t rc = run(&J, 2.0 * m * n * k);
    free(xq);
    return rc;
}

T4J_EXPORT int32_t t4j_int8_weight_only_linear(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const void *packed, const float *bias, int32_t activation, float *y, int64_t ldy) {
    if (is_24(packed)) return T4J_ERR_WRONG_PACKING;
    q8_job J = {.impl = t4j_int8_current(), .w = view(packed), .m = m, .n = n, .xf = x, .xld = ldx, .bias = bias, .act = activation, .y = y, .ldy = ldy};
    return run(&J, 2.0 * m * n * k);
}

/* ---- the level's table ---- */

/* int8 kernels: VNNI needs the AVX-512 level and the feature; AVX2 widens to int16 instead. */
const t4j_int8_impl *t4j_int8_current(void) {
    int32_t level = t4j_simd_level();
#if defined(__x86_64__)
    if (level == T4J_LEVEL_AVX512 && (t4j_cpu_features() & T4J_FEATURE_AVX512_VNNI)) return &t4j_int8_avx512_vnni;
    if (level >= T4J_LEVEL_AVX2) return &t4j_int8_avx2;
#endif
    (void)level;
    return &t4j_int8_portable;
}

T4J_EXPORT int64_t t4j_peak_int8(int64_t iterations) { return t4j_int8_current()->peak(iterations); }

T4J_EXPORT int64_t t4j_peak_int8_amx(int64_t iterations) {
#if defined(__x86_64__)
    if (amx_available()) return t4j_peak_amx(iterations);
#endif
    return 0;
}
