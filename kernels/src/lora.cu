/* LoRA's low-rank projection, fused with the copy that puts its input into the base GEMM's operand.
 *
 * The LoRA term rides inside the base GEMM's K (DESIGN.md "Numerics", as on the CPU): with
 * cat = [x | s h], h = x Aᵀ, one GEMM cat [W | B]ᵀ gives x Wᵀ + s (x Aᵀ) Bᵀ, and in backward
 * [g | s gB] [W ; A] gives dx. This kernel makes cat and h in one pass over x: each warp reads two rows
 * of x, 8 columns per lane (16-byte loads where the layout allows), writes them into cat (rounded to
 * bf16 when cat is bf16) and accumulates the r dot products against A, whose current 256 columns the
 * block stages in shared memory; a butterfly of shuffles sums each product over the lanes, in a fixed
 * order (the same bits every run). The same kernel serves backward's gB = g B: A's element (q, p) is
 * read at a[q * rank_stride + p * col_stride], so B [d_out, r] is Bᵀ with strides (1, r). */
#include <cuda_bf16.h>

#include "common.cuh"

#define LORA_CHUNK 256 /* columns of x per step: 32 lanes x 8 */
#define LORA_WARPS 8
#define LORA_ROWS_PER_WARP 2

__device__ inline float lora_load(const float *p) { return *p; }
__device__ inline float lora_load(const __nv_bfloat16 *p) { return __bfloat162float(*p); }
__device__ inline void lora_store(float *p, float v) { *p = v; }
__device__ inline void lora_store(__nv_bfloat16 *p, float v) { *p = __float2bfloat16_rn(v); }

/* 8 consecutive values from p into v: one or two 16-byte loads when vec, else one by one, zero past n */
__device__ inline void lora_load8(const float *p, float *v, int n, bool vec) {
    if (vec) {
        float4 a = reinterpret_cast<const float4 *>(p)[0], b = reinterpret_cast<const float4 *>(p)[1];
        v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
    } else {
        for (int e = 0; e < 8; e++) v[e] = e < n ? p[e] : 0.0f;
    }
}
__device__ inline void lora_load8(const __nv_bfloat16 *p, float *v, int n, bool vec) {
    if (vec) {
        uint4 raw = *reinterpret_cast<const uint4 *>(p);
        const __nv_bfloat162 *h = reinterpret_cast<const __nv_bfloat162 *>(&raw);
        for (int e = 0; e < 4; e++) {
            float2 f = __bfloat1622float2(h[e]);
            v[2 * e] = f.x, v[2 * e + 1] = f.y;
        }
    } else {
        for (int e = 0; e < 8; e++) v[e] = e < n ? __bfloat162float(p[e]) : 0.0f;
    }
}
__device__ inline void lora_store8(float *p, const float *v, int n, bool vec) {
    if (vec) {
        reinterpret_cast<float4 *>(p)[0] = make_float4(v[0], v[1], v[2], v[3]);
        reinterpret_cast<float4 *>(p)[1] = make_float4(v[4], v[5], v[6], v[7]);
    } else {
        for (int e = 0; e < n && e < 8; e++) p[e] = v[e];
    }
}
__device__ inline void lora_store8(__nv_bfloat16 *p, const float *v, int n, bool vec) {
    if (vec) {
        uint4 raw;
        __nv_bfloat162 *h = reinterpret_cast<__nv_bfloat162 *>(&raw);
        for (int e = 0; e < 4; e++) h[e] = __floats2bfloat162_rn(v[2 * e], v[2 * e + 1]);
        *reinterpret_cast<uint4 *>(p) = raw;
    } else {
        for (int e = 0; e < n && e < 8; e++) p[e] = __float2bfloat16_rn(v[e]);
    }
}

template <typename TIn, typename TCat, int RMAX>
__global__ void __launch_bounds__(LORA_WARPS * 32) lora_down_kernel(int64_t t, int64_t d, int r, const TIn *x, int64_t ldx, const float *a,
                                                                    int64_t rank_stride, int64_t col_stride, float scale, float *h, TCat *cat,
                                                                    int64_t ldcat, bool vec) {
    __shared__ __align__(16) float as[RMAX][LORA_CHUNK];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t row0 = ((int64_t)blockIdx.x * LORA_WARPS + warp) * LORA_ROWS_PER_WARP;
    float acc[LORA_ROWS_PER_WARP][RMAX];
#pragma unroll
    for (int i = 0; i < LORA_ROWS_PER_WARP; i++)
#pragma unroll
        for (int q = 0; q < RMAX; q++) acc[i][q] = 0.0f;
    for (int64_t c0 = 0; c0 < d; c0 += LORA_CHUNK) {
        __syncthreads(); /* the previous chunk of A is no longer read */
        for (int idx = threadIdx.x; idx < RMAX * LORA_CHUNK; idx += blockDim.x) {
            int q = idx / LORA_CHUNK, c = idx % LORA_CHUNK;
            as[q][c] = q < r && c0 + c < d ? a[q * rank_stride + (c0 + c) * col_stride] : 0.0f;
        }
        __syncthreads();
        const int64_t col = c0 + 8 * lane;
        if (col >= d) continue;
        const int n = (int)min((int64_t)8, d - col);
        float v[LORA_ROWS_PER_WARP][8];
#pragma unroll
        for (int i = 0; i < LORA_ROWS_PER_WARP; i++) {
            int64_t row = row0 + i;
            if (row < t) {
                lora_load8(x + row * ldx + col, v[i], n, vec);
                lora_store8(cat + row * ldcat + col, v[i], n, vec);
            } else {
                for (int e = 0; e < 8; e++) v[i][e] = 0.0f;
            }
        }
#pragma unroll
        for (int q = 0; q < RMAX; q++) { /* each chunk of A read once for both rows */
            float4 p = *reinterpret_cast<const float4 *>(&as[q][8 * lane]), s = *reinterpret_cast<const float4 *>(&as[q][8 * lane + 4]);
#pragma unroll
            for (int i = 0; i < LORA_ROWS_PER_WARP; i++)
                acc[i][q] += v[i][0] * p.x + v[i][1] * p.y + v[i][2] * p.z + v[i][3] * p.w + v[i][4] * s.x + v[i][5] * s.y + v[i][6] * s.z + v[i][7] * s.w;
        }
    }
#pragma unroll
    for (int i = 0; i < LORA_ROWS_PER_WARP; i++) {
        int64_t row = row0 + i;
#pragma unroll
        for (int q = 0; q < RMAX; q++) {
            float s = acc[i][q];
            for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
            if (row < t && q < r && lane == (q & 31)) {
                h[row * r + q] = s;
                lora_store(cat + row * ldcat + d + q, scale * s);
            }
        }
    }
}

template <typename TIn, typename TCat>
static int32_t lora_down_launch(int64_t t, int64_t d, int64_t r, const void *x, int64_t ldx, const float *a, int64_t rank_stride, int64_t col_stride,
                                float scale, float *h, void *cat, int64_t ldcat, cudaStream_t stream) {
    const int in_vec = 16 / (int)sizeof(TIn), cat_vec = 16 / (int)sizeof(TCat);
    bool vec = d % 8 == 0 && ldx % in_vec == 0 && ldcat % cat_vec == 0 && (((uintptr_t)x | (uintptr_t)cat) & 15) == 0;
    unsigned blocks = (unsigned)((t + LORA_WARPS * LORA_ROWS_PER_WARP - 1) / (LORA_WARPS * LORA_ROWS_PER_WARP));
    if (r <= 16)
        lora_down_kernel<TIn, TCat, 16><<<blocks, LORA_WARPS * 32, 0, stream>>>(t, d, (int)r, (const TIn *)x, ldx, a, rank_stride, col_stride, scale, h,
                                                                                (TCat *)cat, ldcat, vec);
    else
        lora_down_kernel<TIn, TCat, 32><<<blocks, LORA_WARPS * 32, 0, stream>>>(t, d, (int)r, (const TIn *)x, ldx, a, rank_stride, col_stride, scale, h,
                                                                                (TCat *)cat, ldcat, vec);
    return t4j_launched();
}

extern "C" int32_t t4j_cuda_lora_down(int64_t t, int64_t d, int64_t r, const void *x, int32_t x_bf16, int64_t ldx, const float *a, int64_t rank_stride,
                                      int64_t col_stride, float scale, float *h, void *cat, int32_t cat_bf16, int64_t ldcat, void *stream) {
    if (t == 0) return 0;
    if (r < 1 || r > T4J_CUDA_LORA_MAX_RANK) return (int32_t)cudaErrorInvalidValue;
    cudaStream_t s = t4j_stream(stream);
    if (x_bf16) {
        return cat_bf16 ? lora_down_launch<__nv_bfloat16, __nv_bfloat16>(t, d, r, x, ldx, a, rank_stride, col_stride, scale, h, cat, ldcat, s)
                        : lora_down_launch<__nv_bfloat16, float>(t, d, r, x, ldx, a, rank_stride, col_stride, scale, h, cat, ldcat, s);
    }
    return cat_bf16 ? lora_down_launch<float, __nv_bfloat16>(t, d, r, x, ldx, a, rank_stride, col_stride, scale, h, cat, ldcat, s)
                    : lora_down_launch<float, float>(t, d, r, x, ldx, a, rank_stride, col_stride, scale, h, cat, ldcat, s);
}
