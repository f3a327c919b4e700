/* Mixed-adapter LoRA, one adapter a row (Punica's BGMV): the low-rank terms of rows that use different adapters
 * in one shrink kernel (x Aᵢᵀ) and one expand kernel (h Bᵢᵀ added into y); Backend.loraShrinkRows/loraExpandRows. */
#include <math.h>

#include "common.cuh"

/* Mixed-adapter LoRA, shrink: h[p, q] = x[p] . A_i[q] for q < r_i (i = row_adapter[p]), else 0 */
__global__ void lora_shrink_rows_kernel(int64_t t, const int32_t *row_adapter, int64_t d_in, const float *const *a, const int64_t *ranks, const float *x, int64_t ldx,
                                        float *h, int64_t ldh) {
    T4J_FOR_EACH_CELL(p, q, t, ldh) {
        int32_t i = row_adapter[p];
        float s = 0.0f;
        if (i >= 0 && q < ranks[i]) {
            const float *ar = a[i] + q * d_in, *xr = x + p * ldx;
            for (int64_t k = 0; k < d_in; k++) s += xr[k] * ar[k];
        }
        h[p * ldh + q] = s;
    }
}

/* Mixed-adapter LoRA, expand: y[p, o] += s_i (h[p, :r_i] . B_i[o]) */
__global__ void lora_expand_rows_kernel(int64_t t, const int32_t *row_adapter, int64_t d_out, const float *const *b, const int64_t *ranks, const float *scales,
                                        const float *h, int64_t ldh, float *y, int64_t ldy) {
    T4J_FOR_EACH_CELL(p, o, t, d_out) {
        int32_t i = row_adapter[p];
        if (i < 0) continue;
        const int64_t r = ranks[i];
        const float *br = b[i] + o * r, *hr = h + p * ldh;
        float s = 0.0f;
        for (int64_t q = 0; q < r; q++) s += hr[q] * br[q];
        y[p * ldy + o] += scales[i] * s;
    }
}

extern "C" {

int32_t t4j_cuda_lora_shrink_rows(int64_t t, const int32_t *row_adapter, int64_t d_in, const float *const *a, const int64_t *ranks, const float *x, int64_t ldx, float *h, int64_t ldh, void *stream) {
    if (t == 0 || ldh == 0) return 0;
    lora_shrink_rows_kernel<<<t4j_grid2d(t, ldh), T4J_BLOCK, 0, t4j_stream(stream)>>>(t, row_adapter, d_in, a, ranks, x, ldx, h, ldh);
    return t4j_launched();
}

int32_t t4j_cuda_lora_expand_rows(int64_t t, const int32_t *row_adapter, int64_t d_out, const float *const *b, const int64_t *ranks, const float *scales, const float *h, int64_t ldh, float *y, int64_t ldy, void *stream) {
    if (t == 0 || d_out == 0) return 0;
    lora_expand_rows_kernel<<<t4j_grid2d(t, d_out), T4J_BLOCK, 0, t4j_stream(stream)>>>(t, row_adapter, d_out, b, ranks, scales, h, ldh, y, ldy);
    return t4j_launched();
}

} /* extern "C" */
