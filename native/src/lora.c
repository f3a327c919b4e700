/* lora: a LoRA adapter over a frozen linear layer (f32, or int8: t4j_lora_q8_*), PEFT semantics
 * (ARCHITECTURE.md, "Numerics").
 *   forward   y  = x W^T + bias + s (x~ A^T) B^T,  h = x~ A^T,  x~ = x * mask
 *   backward  dB += s g^T h,  dA += s (g B)^T x~,  dx += g W + mask * (s (g B) A)
 * Shapes: x [t, d_in], W [d_out, d_in], A [r, d_in], B [d_out, r], h [t, r], y and g [t, d_out].
 * The s (.) B^T and s (.) A terms are extra K segments of the base GEMM (gemm.c), so they are added to
 * the output tiles while those are in registers: y and dx are each written once. */
#include <stdlib.h>

#include "internal.h"

/* x * mask into the calling thread's scratch, or NULL when out of memory. */
static float *masked_copy(const float *x, const float *mask, int64_t n) {
    float *out = t4j_thread_scratch(T4J_SCRATCH_LORA_X, (size_t)n * sizeof(float));
    if (out != NULL)
        for (int64_t i = 0; i < n; i++) out[i] = x[i] * mask[i];
    return out;
}

T4J_EXPORT int32_t t4j_lora_forward(int64_t t, int64_t d_in, int64_t d_out, int64_t r, const float *x, const float *mask, const float *w, const float *bias, const float *a, const float *b, float scale, float *h, float *y) {
    float *xd = NULL;
    if (mask != NULL && (xd = masked_copy(x, mask, t * d_in)) == NULL) return T4J_ERR_NO_MEMORY;
    const float *xt = mask != NULL ? xd : x;
    /* h [t, r] = x~ A^T */
    t4j_kseg hseg = {.a = xt, .rsa = d_in, .csa = 1, .b = a, .rsb = 1, .csb = d_in, .k = d_in, .alpha = 1.0f};
    int32_t rc = t4j_gemm_segments(t, r, &hseg, 1, 0.0f, h, r, NULL);
    if (rc == T4J_OK) {
        /* y [t, d_out] = [x | s h] [W | B]^T + bias */
        t4j_kseg yseg[2] = {
            {.a = x, .rsa = d_in, .csa = 1, .b = w, .rsb = 1, .csb = d_in, .k = d_in, .alpha = 1.0f},
            {.a = h, .rsa = r, .csa = 1, .b = b, .rsb = 1, .csb = r, .k = r, .alpha = scale},
        };
        rc = t4j_gemm_segments(t, d_out, yseg, 2, 0.0f, y, d_out, bias);
    }
    return rc;
}

/* The base's input gradient, dx += g W, for a base stored one way or another. */
typedef int32_t (*base_dx_fn)(const void *base, int64_t t, int64_t d_in, int64_t d_out, const float *g, float *dx);

static int32_t f32_base_dx(const void *w, int64_t t, int64_t d_in, int64_t d_out, const float *g, float *dx) {
    t4j_kseg seg = {.a = g, .rsa = d_out, .csa = 1, .b = w, .rsb = d_in, .csb = 1, .k = d_out, .alpha = 1.0f};
    return t4j_gemm_segments(t, d_in, &seg, 1, 1.0f, dx, d_in, NULL);
}

/* The factors' gradients: db [d_out, r] += s g^T h, da [r, d_in] += da_alpha gb^T x~ (gb = g B with da_alpha s, or
 * s g B with da_alpha 1). */
static int32_t factor_grads(int64_t t, int64_t d_in, int64_t d_out, int64_t r, const float *xt, const float *h, const float *g, const float *gb, float scale,
                            float da_alpha, float *da, float *db) {
    t4j_kseg dbseg = {.a = g, .rsa = 1, .csa = d_out, .b = h, .rsb = r, .csb = 1, .k = t, .alpha = scale};
    t4j_kseg daseg = {.a = gb, .rsa = 1, .csa = r, .b = xt, .rsb = d_in, .csb = 1, .k = t, .alpha = da_alpha};
    int32_t rc = t4j_gemm_segments(d_out, r, &dbseg, 1, 1.0f, db, r, NULL);
    return rc != T4J_OK ? rc : t4j_gemm_segments(r, d_in, &daseg, 1, 1.0f, da, d_in, NULL);
}

/* dx [t, d_in] += mask * (alpha gb A): with dropout the low-rank term of dx in a pass of its own, through scratch. */
static int32_t add_masked_lowrank(int64_t t, int64_t d_in, int64_t r, const float *gb, float alpha, const float *a, const float *mask, float *dx) {
    float *tmp = t4j_thread_scratch(T4J_SCRATCH_LORA_TMP, (size_t)(t * d_in) * sizeof(float));
    if (tmp == NULL) return T4J_ERR_NO_MEMORY;
    t4j_kseg lowseg = {.a = gb, .rsa = r, .csa = 1, .b = a, .rsb = d_in, .csb = 1, .k = r, .alpha = alpha};
    int32_t rc = t4j_gemm_segments(t, d_in, &lowseg, 1, 0.0f, tmp, d_in, NULL);
    if (rc == T4J_OK)
        for (int64_t i = 0; i < t * d_in; i++) dx[i] += mask[i] * tmp[i];
    return rc;
}

/* The adapter's gradients and its share of dx. With an f32 base and no dropout, dx is one GEMM over the
 * K segments [g | s gb] [W ; A]; otherwise base_dx adds g W and the low-rank term follows. */
static int32_t lora_backward(int64_t t, int64_t d_in, int64_t d_out, int64_t r, const float *x, const float *mask, const float *w,
                             base_dx_fn base_dx, const void *base, const float *a, const float *b, float scale, const float *h,
                             const float *g, float *dx, float *da, float *db) {
    float *gb = t4j_thread_scratch(T4J_SCRATCH_LORA_GB, (size_t)(t * r) * sizeof(float));
    float *xd = NULL;
    int32_t rc = T4J_ERR_NO_MEMORY;
    if (gb == NULL) goto done;
    if (mask != NULL && (xd = masked_copy(x, mask, t * d_in)) == NULL) goto done;

    /* gb [t, r] = g B */
    t4j_kseg gbseg = {.a = g, .rsa = d_out, .csa = 1, .b = b, .rsb = r, .csb = 1, .k = d_out, .alpha = 1.0f};
    if ((rc = t4j_gemm_segments(t, r, &gbseg, 1, 0.0f, gb, r, NULL)) != T4J_OK) goto done;
    if ((rc = factor_grads(t, d_in, d_out, r, mask != NULL ? xd : x, h, g, gb, scale, scale, da, db)) != T4J_OK) goto done;
    if (dx == NULL) goto done;

    /* dx [t, d_in] += [g | s gb] [W ; A], or g W then mask * (s gb A) */
    t4j_kseg lowseg = {.a = gb, .rsa = r, .csa = 1, .b = a, .rsb = d_in, .csb = 1, .k = r, .alpha = scale};
    if (mask == NULL && w != NULL) {
        t4j_kseg dxseg[2] = {{.a = g, .rsa = d_out, .csa = 1, .b = w, .rsb = d_in, .csb = 1, .k = d_out, .alpha = 1.0f}, lowseg};
        rc = t4j_gemm_segments(t, d_in, dxseg, 2, 1.0f, dx, d_in, NULL);
        goto done;
    }
    if ((rc = base_dx(base, t, d_in, d_out, g, dx)) != T4J_OK) goto done;
    if (mask == NULL) {
        rc = t4j_gemm_segments(t, d_in, &lowseg, 1, 1.0f, dx, d_in, NULL);
        goto done;
    }
    rc = add_masked_lowrank(t, d_in, r, gb, scale, a, mask, dx);
done:
    return rc;
}

T4J_EXPORT int32_t t4j_lora_backward(int64_t t, int64_t d_in, int64_t d_out, int64_t r, const float *x, const float *mask, const float *w, const float *a, const float *b, float scale, const float *h, const float *g, float *dx, float *da, float *db) {
    return lora_backward(t, d_in, d_out, r, x, mask, w, f32_base_dx, w, a, b, scale, h, g, dx, da, db);
}

/* ---- LoRA over an f32 base packed ahead (a training step's frozen bases: t4j_linear_pack_many_rows) ----
 * The base product runs on the packing (AMX tiles where packed so: gemm_amx.c) with the low-rank term added to its
 * output tiles (t4j_lowrank, one adapter for every row), as the fused form above adds it to the GEMM's. */

/* L for one adapter over t rows: hs [t, r] (ld r) and bt [r, ldbt], every row's adapter 0; its row map allocated here
 * (NULL when out of memory: free it after the call). */
static int32_t *one_adapter(int64_t t, const float *hs, int64_t r, const float *const *bt, const int64_t *rank, int64_t ldbt, t4j_lowrank *L) {
    int32_t *rows = calloc((size_t)T4J_MAX(t, 1), sizeof(int32_t));
    *L = (t4j_lowrank){.hs = hs, .ldhs = r, .row_adapter = rows, .bt = bt, .ranks = rank, .ldbt = ldbt};
    return rows;
}

T4J_EXPORT int32_t t4j_lora_forward_packed(int64_t t, int64_t d_in, int64_t d_out, int64_t r, const float *x, const float *mask, const void *packed_w, const float *bias, const float *a, const float *b, float scale, float *h, float *y) {
    float *xd = NULL;
    if (mask != NULL && (xd = masked_copy(x, mask, t * d_in)) == NULL) return T4J_ERR_NO_MEMORY;
    /* h [t, r] = x~ A^T */
    t4j_kseg hseg = {.a = mask != NULL ? xd : x, .rsa = d_in, .csa = 1, .b = a, .rsb = 1, .csb = d_in, .k = d_in, .alpha = 1.0f};
    int32_t rc = t4j_gemm_segments(t, r, &hseg, 1, 0.0f, h, r, NULL);
    if (rc != T4J_OK) return rc;
    /* the epilogue's operands: hs = s h [t, r], B^T [r, d_out] */
    float *hs = t4j_thread_scratch(T4J_SCRATCH_MIXED_HS, (size_t)T4J_MAX(t * r, 1) * sizeof(float));
    float *bt = t4j_thread_scratch(T4J_SCRATCH_MIXED_BT, (size_t)T4J_MAX(r * d_out, 1) * sizeof(float));
    t4j_lowrank L;
    const float *bts[1] = {bt};
    int32_t *rows = one_adapter(t, hs, r, bts, &r, d_out, &L);
    if (hs == NULL || bt == NULL || rows == NULL) {
        free(rows);
        return T4J_ERR_NO_MEMORY;
    }
    for (int64_t i = 0; i < t * r; i++) hs[i] = scale * h[i];
    t4j_gemm_current()->pack_transpose(b, r, d_out, r, d_out, 1.0f, bt); /* B [d_out, r] -> B^T, as lora_mixed.c's factors */
    /* y [t, d_out] = x W^T + bias + s h B^T */
    rc = t4j_linear_packed_lowrank(t, d_out, d_in, x, d_in, packed_w, bias, y, d_out, &L);
    free(rows);
    return rc;
}

T4J_EXPORT int32_t t4j_lora_backward_packed(int64_t t, int64_t d_in, int64_t d_out, int64_t r, const float *x, const float *mask, const void *packed_wt, const float *a, const float *b, float scale, const float *h, const float *g, float *dx, float *da, float *db) {
    if (dx == NULL) return lora_backward(t, d_in, d_out, r, x, mask, NULL, NULL, NULL, a, b, scale, h, g, NULL, da, db);
    float *sgb = t4j_thread_scratch(T4J_SCRATCH_LORA_GB, (size_t)T4J_MAX(t * r, 1) * sizeof(float)), *xd = NULL;
    t4j_lowrank L;
    int32_t *rows = one_adapter(t, sgb, r, &a, &r, d_in, &L);
    int32_t rc = T4J_ERR_NO_MEMORY;
    if (sgb == NULL || rows == NULL) goto done;
    if (mask != NULL && (xd = masked_copy(x, mask, t * d_in)) == NULL) goto done;
    /* sgb [t, r] = s g B */
    t4j_kseg gbseg = {.a = g, .rsa = d_out, .csa = 1, .b = b, .rsb = r, .csb = 1, .k = d_out, .alpha = scale};
    if ((rc = t4j_gemm_segments(t, r, &gbseg, 1, 0.0f, sgb, r, NULL)) != T4J_OK) goto done;
    /* dx [t, d_in] = g W + s gb A on W^T packed, the low-rank term in its tiles, or masked after it; written first: a
     * packing this call cannot use returns before da and db are added to */
    if ((rc = t4j_linear_packed_lowrank(t, d_in, d_out, g, d_out, packed_wt, NULL, dx, d_in, mask == NULL ? &L : NULL)) != T4J_OK) goto done;
    if (mask != NULL && (rc = add_masked_lowrank(t, d_in, r, sgb, 1.0f, a, mask, dx)) != T4J_OK) goto done;
    rc = factor_grads(t, d_in, d_out, r, mask != NULL ? xd : x, h, g, sgb, scale, 1.0f, da, db);
done:
    free(rows);
    return rc;
}

/* ---- LoRA over an int8 base ---- */

T4J_EXPORT int32_t t4j_lora_int8_forward(int64_t t, int64_t d_in, int64_t d_out, int64_t r, const float *x, const float *mask, const void *packed_w, const float *bias, const float *a, const float *b, float scale, float *h, float *y) {
    float *xd = NULL;
    if (mask != NULL && (xd = masked_copy(x, mask, t * d_in)) == NULL) return T4J_ERR_NO_MEMORY;
    const float *xt = mask != NULL ? xd : x;
    t4j_kseg hseg = {.a = xt, .rsa = d_in, .csa = 1, .b = a, .rsb = 1, .csb = d_in, .k = d_in, .alpha = 1.0f};
    int32_t rc = t4j_gemm_segments(t, r, &hseg, 1, 0.0f, h, r, NULL);
    if (rc == T4J_OK) rc = t4j_int8_linear(t, d_out, d_in, x, d_in, packed_w, bias, T4J_ACT_NONE, y, d_out);
    if (rc == T4J_OK) {
        /* y += s h B^T */
        t4j_kseg yseg = {.a = h, .rsa = r, .csa = 1, .b = b, .rsb = 1, .csb = r, .k = r, .alpha = scale};
        rc = t4j_gemm_segments(t, d_out, &yseg, 1, 1.0f, y, d_out, NULL);
    }
    return rc;
}

typedef struct {
    const int8_t *wq;
    const float *scale;
} q8_base;

#define Q8_DX_ROWS 256 /* output channels dequantized at a time: 256 x d_in floats */

/* dx += g deq(W), a block of W's rows (the K axis of this product) at a time, in order. */
static int32_t q8_base_dx(const void *base, int64_t t, int64_t d_in, int64_t d_out, const float *g, float *dx) {
    const q8_base *q = base;
    float *wblk = t4j_thread_scratch(T4J_SCRATCH_LORA_TMP, (size_t)(Q8_DX_ROWS * d_in) * sizeof(float)); /* free again before dx's masked term takes it */
    if (wblk == NULL) return T4J_ERR_NO_MEMORY;
    int32_t rc = T4J_OK;
    for (int64_t j0 = 0; j0 < d_out && rc == T4J_OK; j0 += Q8_DX_ROWS) {
        int64_t rows = T4J_MIN(Q8_DX_ROWS, d_out - j0);
        t4j_dequantize_rows(rows, d_in, q->wq + j0 * d_in, d_in, q->scale + j0, wblk, d_in);
        t4j_kseg seg = {.a = g + j0, .rsa = d_out, .csa = 1, .b = wblk, .rsb = d_in, .csb = 1, .k = rows, .alpha = 1.0f};
        rc = t4j_gemm_segments(t, d_in, &seg, 1, 1.0f, dx, d_in, NULL);
    }
    return rc;
}

T4J_EXPORT int32_t t4j_lora_int8_backward(int64_t t, int64_t d_in, int64_t d_out, int64_t r, const float *x, const float *mask, const int8_t *wq, const float *w_scale, const float *a, const float *b, float scale, const float *h, const float *g, float *dx, float *da, float *db) {
    q8_base base = {wq, w_scale};
    return lora_backward(t, d_in, d_out, r, x, mask, NULL, q8_base_dx, &base, a, b, scale, h, g, dx, da, db);
}

T4J_EXPORT int32_t t4j_lora_merge(int64_t d_in, int64_t d_out, int64_t r, float *w, const float *a, const float *b, float scale, float sign) {
    /* W [d_out, d_in] += (sign s) B A */
    t4j_kseg seg = {.a = b, .rsa = r, .csa = 1, .b = a, .rsb = d_in, .csb = 1, .k = r, .alpha = sign * scale};
    return t4j_gemm_segments(d_out, d_in, &seg, 1, 1.0f, w, d_in, NULL);
}
