/* int8: per-row quantization (ARCHITECTURE.md, "Numerics": symmetric, scale = absmax / 127, round half to even,
 * [-127, 127]), dequantization, and the epilogue of an int8 GEMM (int32 accumulators from cuBLASLt). */
#include <float.h>
#include <math.h>

#include "common.cuh"

__global__ void quantize_rows_kernel(int64_t k, const float *x, int8_t *q, float *scales) {
    int64_t row = blockIdx.x;
    const float *xr = x + row * k;
    float mx = 0.0f;
    /* a NaN or an infinity counts as +inf (fmaxf would drop a NaN), and such a row gets scale NaN, as on the CPU */
    for (int64_t j = threadIdx.x; j < k; j += blockDim.x) {
        float a = fabsf(xr[j]);
        mx = fmaxf(mx, a <= FLT_MAX ? a : INFINITY);
    }
    mx = t4j_block_max(mx);
    float scale = mx <= FLT_MAX ? mx / 127.0f : NAN;
    for (int64_t j = threadIdx.x; j < k; j += blockDim.x) {
        int v = scale > 0.0f ? __float2int_rn(xr[j] / scale) : 0; /* rn: round half to even */
        q[row * k + j] = (int8_t)max(-127, min(127, v));
    }
    if (threadIdx.x == 0) scales[row] = scale;
}

__global__ void dequantize_rows_kernel(int64_t m, int64_t k, const int8_t *q, const float *scales, float *x) {
    T4J_FOR_EACH_CELL(i, j, m, k) x[i * k + j] = (float)q[i * k + j] * scales[i];
}

__global__ void dequantize_gemm_kernel(int64_t m, int64_t n, const int32_t *acc, const float *sx, const float *sw, const float *bias, float *y) {
    T4J_FOR_EACH_CELL(i, j, m, n) {
        float v = (float)acc[i * n + j] * (sx[i] * sw[j]);
        y[i * n + j] = bias != NULL ? v + bias[j] : v;
    }
}

extern "C" {

int32_t t4j_cuda_quantize_rows(int64_t m, int64_t k, const float *x, int8_t *q, float *scales, void *stream) {
    if (m == 0) return 0;
    quantize_rows_kernel<<<(unsigned)m, k >= 1024 ? 1024 : 128, 0, t4j_stream(stream)>>>(k, x, q, scales);
    return t4j_launched();
}

int32_t t4j_cuda_dequantize_rows(int64_t m, int64_t k, const int8_t *q, const float *scales, float *x, void *stream) {
    dequantize_rows_kernel<<<t4j_grid2d(m, k), T4J_BLOCK, 0, t4j_stream(stream)>>>(m, k, q, scales, x);
    return t4j_launched();
}

int32_t t4j_cuda_dequantize_gemm(int64_t m, int64_t n, const int32_t *acc, const float *sx, const float *sw, const float *bias, float *y,
                                 void *stream) {
    dequantize_gemm_kernel<<<t4j_grid2d(m, n), T4J_BLOCK, 0, t4j_stream(stream)>>>(m, n, acc, sx, sw, bias, y);
    return t4j_launched();
}

} /* extern "C" */
