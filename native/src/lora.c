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

/* The adapter's gradients and its share of dx. With an f32 base and no dropout, dx is one GEMM over the
 * K segments [g | s gb] [W ; A]; otherwise base_dx adds g W (base_dx NULL: dx holds it already) and the low-rank
 * term follows. */
static int32_t lora_backward(int64_t t, int64_t d_in, int64_t d_out, int64_t r, const float *x, const float *mask, const float *w,
                             base_dx_fn base_dx, const void *base, const float *a, const float *b, float scale, const float *h,
                             const float *g, float *dx, float *da, float *db) {
    float *gb = t4j_thread_scratch(T4J_SCRATCH_LORA_GB, (size_t)(t * r) * sizeof(float));
    float *xd = NULL, *tmp = NULL;
    int32_t rc = T4J_ERR_NO_MEMORY;
    if (gb == NULL) goto done;
    if (mask != NULL && (xd = masked_copy(x, mask, t * d_in)) == NULL) goto done;
    const float *xt = mask != NULL ? xd : x;

    /* gb [t, r] = g B */
    t4j_kseg gbseg = {.a = g, .rsa = d_out, .csa = 1, .b = b, .rsb = r, .csb = 1, .k = d_out, .alpha = 1.0f};
    if ((rc = t4j_gemm_segments(t, r, &gbseg, 1, 0.0f, gb, r, NULL)) != T4J_OK) goto done;
    /* db [d_out, r] += s g^T h */
    t4j_kseg dbseg = {.a = g, .rsa = 1, .csa = d_out, .b = h, .rsb = r, .csb = 1, .k = t, .alpha = scale};
    if ((rc = t4j_gemm_segments(d_out, r, &dbseg, 1, 1.0f, db, r, NULL)) != T4J_OK) goto done;
    /* da [r, d_in] += s gb^T x~ */
    t4j_kseg daseg = {.a = gb, .rsa = 1, .csa = r, .b = xt, .rsb = d_in, .csb = 1, .k = t, .alpha = scale};
    if ((rc = t4j_gemm_segments(r, d_in, &daseg, 1, 1.0f, da, d_in, NULL)) != T4J_OK) goto done;
    if (dx == NULL) goto done;

    /* dx [t, d_in] += [g | s gb] [W ; A], or g W then mask * (s gb A) */
    t4j_kseg lowseg = {.a = gb, .rsa = r, .csa = 1, .b = a, .rsb = d_in, .csb = 1, .k = r, .alpha = scale};
    if (mask == NULL && w != NULL) {
        t4j_kseg dxseg[2] = {{.a = g, .rsa = d_out, .csa = 1, .b = w, .rsb = d_in, .csb = 1, .k = d_out, .alpha = 1.0f}, lowseg};
        rc = t4j_gemm_segments(t, d_in, dxseg, 2, 1.0f, dx, d_in, NULL);
        goto done;
    }
    if (base_dx != NULL && (rc = base_dx(base, t, d_in, d_out, g, dx)) != T4J_OK) goto done; /* NULL: dx holds g W */
    if (mask == NULL) {
        rc = t4j_gemm_segments(t, d_in, &lowseg, 1, 1.0f, dx, d_in, NULL);
        goto done;
    }
    rc = T4J_ERR_NO_MEMORY;
    if ((tmp = t4j_thread_scratch(T4J_SCRATCH_LORA_TMP, (size_t)(t * d_in) * sizeof(float))) == NULL) goto done;
    if ((rc = t4j_gemm_segments(t, d_in, &lowseg, 1, 0.0f, tmp, d_in, NULL)) != T4J_OK) goto done;
    for (int64_t i = 0; i < t * d_in; i++) dx[i] += mask[i] * tmp[i];
done:
    return rc;
}

T4J_EXPORT int32_t t4j_lora_backward(int64_t t, int64_t d_in, int64_t d_out, int64_t r, const float *x, const float *mask, const float *w, const float *a, const float *b, float scale, const float *h, const float *g, float *dx, float *da, float *db) {
    return lora_backward(t, d_in, d_out, r, x, mask, w, f32_base_dx, w, a, b, scale, h, g, dx, da, db);
}

/* ---- LoRA over an f32 base packed ahead (a training step's frozen bases: t4j_linear_pack_many_rows) ----
 * The base products run on the packing (AMX tiles where packed so: gemm_amx.c), the low-rank terms after them, a
 * K = r GEMM over y and dx each; the fused form above adds those in the base GEMM's tiles, which the tiles' path
 * has no place for. */

T4J_EXPORT int32_t t4j_lora_forward_packed(int64_t t, int64_t d_in, int64_t d_out, int64_t r, const float *x, const float *mask, const void *packed_w, const float *bias, const float *a, const float *b, float scale, float *h, float *y) {
    /* y [t, d_out] = x W^T + bias first: a packing this call cannot use (T4J_ERR_WRONG_PACKING) returns before h is written */
    int32_t rc = t4j_linear_packed(t, d_out, d_in, x, d_in, packed_w, bias, y, d_out);
    if (rc != T4J_OK) return rc;
    float *xd = NULL;
    if (mask != NULL && (xd = masked_copy(x, mask, t * d_in)) == NULL) return T4J_ERR_NO_MEMORY;
    /* h [t, r] = x~ A^T; y += s h B^T */
    t4j_kseg hseg = {.a = mask != NULL ? xd : x, .rsa = d_in, .csa = 1, .b = a, .rsb = 1, .csb = d_in, .k = d_in, .alpha = 1.0f};
    t4j_kseg yseg = {.a = h, .rsa = r, .csa = 1, .b = b, .rsb = 1, .csb = r, .k = r, .alpha = scale};
    if ((rc = t4j_gemm_segments(t, r, &hseg, 1, 0.0f, h, r, NULL)) != T4J_OK) return rc;
    return t4j_gemm_segments(t, d_out, &yseg, 1, 1.0f, y, d_out, NULL);
}

T4J_EXPORT int32_t t4j_lora_backward_packed(int64_t t, int64_t d_in, int64_t d_out, int64_t r, const float *x, const float *mask, const void *packed_wt, const float *a, const float *b, float scale, const float *h, const float *g, float *dx, float *da, float *db) {
    /* dx [t, d_in] = g W on W^T packed first, written: a packing this call cannot use returns before da and db are added to */
    if (dx != NULL) {
        int32_t rc = t4j_linear_packed(t, d_in, d_out, g, d_out, packed_wt, NULL, dx, d_in);
        if (rc != T4J_OK) return rc;
    }
    return lora_backward(t, d_in, d_out, r, x, mask, NULL, NULL, NULL, a, b, scale, h, g, dx, da, db);
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
