/* LoRA's low-rank projection, fused with the copy that puts its input into the base GEMM's operand.
 *
 * The LoRA term rides inside the base GEMM's K (DESIGN.md "Numerics", as on the CPU): with
 * cat = [x | s h], h = x Aᵀ, one GEMM cat [W | B]ᵀ gives x Wᵀ + s (x Aᵀ) Bᵀ, and in backward
 * [g | s gB] [W ; A] gives dx. This kernel makes cat (bf16) and h (f32) in one pass over x.
 *
 * A (r x d, rounded to bf16, as the bf16 GEMM it replaces would read it) is staged once per block in
 * shared memory, whole; the blocks, one per SM, then walk the rows. A warp takes one row at a time,
 * 8 columns per lane per step (16-byte loads and stores where the layout allows), writes them into cat
 * and accumulates the r dot products against A; a butterfly of shuffles sums each over the lanes in a
 * fixed order (the same bits every run). The same kernel serves backward's gB = g B: A's element
 * (q, p) is read at a[q * rank_stride + p * col_stride], so B [d_out, r] is Bᵀ with strides (1, r).
 * (A first version staged 256 columns of A per 16 rows and took 0.15 ms on 4096 x 4096, r = 16, on an
 * H200: restaging A cost as much traffic as x itself.) */
#include <cuda_bf16.h>

#include "common.cuh"

#define LORA_WARPS 16

/* 8 consecutive values of a row into v: 16-byte loads when vec, else one by one, zero past n */
__device__ inline void lora_load8(const float *__restrict__ p, float *v, int n, bool vec) {
    if (vec) {
        float4 a = __ldg(reinterpret_cast<const float4 *>(p)), b = __ldg(reinterpret_cast<const float4 *>(p) + 1);
        v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
    } else {
        for (int e = 0; e < 8; e++) v[e] = e < n ? p[e] : 0.0f;
    }
}
__device__ inline void lora_load8(const __nv_bfloat16 *__restrict__ p, float *v, int n, bool vec) {
    if (vec) {
        uint4 raw = __ldg(reinterpret_cast<const uint4 *>(p));
        const __nv_bfloat162 *h = reinterpret_cast<const __nv_bfloat162 *>(&raw);
#pragma unroll
        for (int e = 0; e < 4; e++) {
            float2 f = __bfloat1622float2(h[e]);
            v[2 * e] = f.x, v[2 * e + 1] = f.y;
        }
    } else {
        for (int e = 0; e < 8; e++) v[e] = e < n ? __bfloat162float(p[e]) : 0.0f;
    }
}

/* the 8 values into cat as bf16 (round to nearest even) */
__device__ inline void lora_store8(__nv_bfloat16 *__restrict__ p, const float *v, int n, bool vec) {
    if (vec) {
        uint4 raw;
        __nv_bfloat162 *h = reinterpret_cast<__nv_bfloat162 *>(&raw);
#pragma unroll
        for (int e = 0; e < 4; e++) h[e] = __floats2bfloat162_rn(v[2 * e], v[2 * e + 1]);
        *reinterpret_cast<uint4 *>(p) = raw;
    } else {
        for (int e = 0; e < n && e < 8; e++) p[e] = __float2bfloat16_rn(v[e]);
    }
}

/* acc[q] += v . A[q][c .. c + 8), A's row q in shared memory at a + q * pitch */
template <int RMAX>
__device__ inline void lora_dot8(const __nv_bfloat16 *a, int64_t pitch, int r, int64_t c, const float *v, float *acc) {
#pragma unroll
    for (int q = 0; q < RMAX; q++) {
        if (q >= r) break;
        uint4 raw = *reinterpret_cast<const uint4 *>(a + q * pitch + c);
        const __nv_bfloat162 *w = reinterpret_cast<const __nv_bfloat162 *>(&raw);
        float s = 0.0f;
#pragma unroll
        for (int e = 0; e < 4; e++) {
            float2 f = __bfloat1622float2(w[e]);
            s += v[2 * e] * f.x + v[2 * e + 1] * f.y;
        }
        acc[q] += s;
    }
}

template <typename TIn, int RMAX>
__global__ void __launch_bounds__(LORA_WARPS * 32) lora_down_kernel(int64_t t, int64_t d, int r, const TIn *__restrict__ x, int64_t ldx,
                                                                    const float *__restrict__ a, int64_t rank_stride, int64_t col_stride, float scale,
                                                                    float *__restrict__ h, __nv_bfloat16 *__restrict__ cat, int64_t ldcat, bool vec) {
    extern __shared__ __align__(16) __nv_bfloat16 as[]; /* [r][pitch], zero past d */
    const int64_t pitch = (d + 7) / 8 * 8;
    for (int q = 0; q < r; q++) /* (no division per element: 64-bit division is slow on a GPU) */
        for (int64_t p = threadIdx.x; p < pitch; p += blockDim.x) as[q * pitch + p] = __float2bfloat16_rn(p < d ? a[q * rank_stride + p * col_stride] : 0.0f);
    __syncthreads();
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int64_t row = (int64_t)blockIdx.x * LORA_WARPS + warp; row < t; row += (int64_t)gridDim.x * LORA_WARPS) {
        const TIn *xr = x + row * ldx;
        __nv_bfloat16 *cr = cat + row * ldcat;
        float acc[RMAX];
#pragma unroll
        for (int q = 0; q < RMAX; q++) acc[q] = 0.0f;
        int64_t c = 8 * lane;
        for (; c + 3 * 256 < pitch; c += 4 * 256) { /* four steps with their loads in flight together */
            float v[4][8];
#pragma unroll
            for (int u = 0; u < 4; u++) lora_load8(xr + c + u * 256, v[u], (int)min((int64_t)8, d - (c + u * 256)), vec);
#pragma unroll
            for (int u = 0; u < 4; u++) {
                lora_store8(cr + c + u * 256, v[u], (int)min((int64_t)8, d - (c + u * 256)), vec);
                lora_dot8<RMAX>(as, pitch, r, c + u * 256, v[u], acc);
            }
        }
        for (; c < pitch; c += 256) {
            float v[8];
            int n = (int)min((int64_t)8, d - c);
            lora_load8(xr + c, v, n, vec);
            lora_store8(cr + c, v, n, vec);
            lora_dot8<RMAX>(as, pitch, r, c, v, acc);
        }
#pragma unroll
        for (int q = 0; q < RMAX; q++) {
            if (q >= r) break;
            float s = acc[q];
            for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
            if (lane == q) {
                h[row * r + q] = s;
                cr[d + q] = __float2bfloat16_rn(scale * s);
            }
        }
    }
}

static int lora_sm_count(void) {
    static int count = 0;
    if (count == 0) {
        int dev = 0, n = 0;
        if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) n = 0;
        (void)cudaGetLastError();
        count = n > 0 ? n : 1;
    }
    return count;
}

template <typename TIn, int RMAX>
static int32_t lora_down_launch(int64_t t, int64_t d, int64_t r, const void *x, int64_t ldx, const float *a, int64_t rank_stride, int64_t col_stride,
                                float scale, float *h, void *cat, int64_t ldcat, cudaStream_t stream) {
    static bool opted_in = false; /* shared memory beyond 48 KiB must be asked for, once per kernel */
    if (!opted_in) {
        cudaError_t e = cudaFuncSetAttribute(lora_down_kernel<TIn, RMAX>, cudaFuncAttributeMaxDynamicSharedMemorySize, T4J_CUDA_LORA_MAX_RANK_X_DIM * 2);
        if (e != cudaSuccess) return t4j_status(e);
        opted_in = true;
    }
    const int in_vec = 16 / (int)sizeof(TIn);
    bool vec = d % 8 == 0 && ldx % in_vec == 0 && ldcat % 8 == 0 && (((uintptr_t)x | (uintptr_t)cat) & 15) == 0;
    size_t smem = (size_t)r * (size_t)((d + 7) / 8 * 8) * 2;
    int64_t blocks = min((t + LORA_WARPS - 1) / LORA_WARPS, (int64_t)lora_sm_count());
    lora_down_kernel<TIn, RMAX><<<(unsigned)blocks, LORA_WARPS * 32, smem, stream>>>(t, d, (int)r, (const TIn *)x, ldx, a, rank_stride, col_stride, scale, h,
                                                                                  (__nv_bfloat16 *)cat, ldcat, vec);
    return t4j_launched();
}

extern "C" int32_t t4j_cuda_lora_down(int64_t t, int64_t d, int64_t r, const void *x, int32_t x_bf16, int64_t ldx, const float *a, int64_t rank_stride,
                                      int64_t col_stride, float scale, float *h, void *cat, int64_t ldcat, void *stream) {
    if (t == 0) return 0;
    if (r < 1 || r > T4J_CUDA_LORA_MAX_RANK || r * ((d + 7) / 8 * 8) > T4J_CUDA_LORA_MAX_RANK_X_DIM) return (int32_t)cudaErrorInvalidValue;
    cudaStream_t s = t4j_stream(stream);
    if (r <= 16) {
        return x_bf16 ? lora_down_launch<__nv_bfloat16, 16>(t, d, r, x, ldx, a, rank_stride, col_stride, scale, h, cat, ldcat, s)
                      : lora_down_launch<float, 16>(t, d, r, x, ldx, a, rank_stride, col_stride, scale, h, cat, ldcat, s);
    }
    return x_bf16 ? lora_down_launch<__nv_bfloat16, 32>(t, d, r, x, ldx, a, rank_stride, col_stride, scale, h, cat, ldcat, s)
                  : lora_down_launch<float, 32>(t, d, r, x, ldx, a, rank_stride, col_stride, scale, h, cat, ldcat, s);
}
