/* LoRA's low-rank products, fused: one block per token row reads x once and forms all r dot products
 * with A's rows (h = x A^T), writing h (kept for backward) and s h into the last r columns of xcat, so
 * that the base GEMM over K = d_in + r, xcat [W | B]^T, adds the LoRA term inside its own K loop
 * instead of in a second pass over the output (the CPU library's design, DESIGN.md "Numerics"). */
#include "common.cuh"

#define LORA_MAX_R 64

__global__ void lora_down_kernel(int64_t d_in, int64_t r, const float *x, int64_t ldx, const float *a, float scale, float *h, float *xcat,
                                 int64_t ldxcat) {
    int64_t row = blockIdx.x;
    const float *xr = x + row * ldx;
    for (int64_t q = 0; q < r; q++) { /* r is small: one fixed-order block sum per rank */
        float s = 0.0f;
        for (int64_t p = threadIdx.x; p < d_in; p += blockDim.x) s += xr[p] * a[q * d_in + p];
        s = t4j_block_sum(s);
        if (threadIdx.x == 0) {
            h[row * r + q] = s;
            xcat[row * ldxcat + d_in + q] = scale * s;
        }
    }
}

extern "C" int32_t t4j_cuda_lora_down(int64_t t, int64_t d_in, int64_t r, const float *x, int64_t ldx, const float *a, float scale, float *h,
                                      float *xcat, int64_t ldxcat, void *stream) {
    if (t == 0) return 0;
    if (r > LORA_MAX_R) return (int32_t)cudaErrorInvalidValue;
    lora_down_kernel<<<(unsigned)t, 256, 0, t4j_stream(stream)>>>(d_in, r, x, ldx, a, scale, h, xcat, ldxcat);
    return t4j_launched();
}
