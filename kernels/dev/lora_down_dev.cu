/* A variant kept for its measurement: LoRA's low-rank projection fused with the copy that puts its input
 * into the base GEMM's operand, for the K-concatenated layout of the CPU library. Not in the library:
 * the layer (java CudaLoraLayer) runs the rank-r GEMMs on a second stream beside the base GEMM instead,
 * which hides them, where this pass sits on the critical path and is slower than the copy plus a
 * cuBLAS GEMM it replaces. Built by kernels/dev/build.sh; the program at the end checks it against a
 * host reference and times it on T = d = 4096, r = 16.
 *
 * The LoRA term rides inside the base GEMM's K (ARCHITECTURE.md, "Numerics", as on the CPU): with
 * cat = [x | s h], h = x Aᵀ, one GEMM cat [W | B]ᵀ gives x Wᵀ + s (x Aᵀ) Bᵀ, and in backward
 * [g | s gB] [W ; A] gives dx. This kernel makes cat (bf16) and h (f32) in one pass over x.
 *
 * A (r x d, rounded to bf16, as the bf16 GEMM it replaces would read it) is staged once per block in
 * shared memory, whole; the blocks, one per SM, then walk the rows. A warp takes four rows at a time (two above rank 16),
 * 8 columns per lane per step (16-byte loads and stores where the layout allows), writes them into cat
 * and accumulates the r dot products against A, each read of A serving the four rows; a butterfly of
 * shuffles sums each product over the lanes in a fixed order (the same bits every run). The same kernel serves backward's gB = g B: A's element
 * (q, p) is read at a[q * rank_stride + p * col_stride], so B [d_out, r] is Bᵀ with strides (1, r).
 * Measured on an H200 (4096 x 4096, r = 16, bf16 x): a first version staged 256 columns of A per 16
 * rows, 0.15 ms (restaging A cost as much traffic as x itself); A whole, one row per warp, 0.11 ms,
 * bound by the reads and conversions of A, one per product; four rows per warp, 0.155 ms (126
 * registers: fewer warps in flight). Copying x (64 MB of traffic) alone would take about 16 us. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cuda_bf16.h>

#include "../src/common.cuh"

#define T4J_CUDA_LORA_MAX_RANK 32
#define T4J_CUDA_LORA_MAX_RANK_X_DIM 81920

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

/* acc[i][q] += v[i] . A[q][c .. c + 8) for the warp's rows i, A's row q in shared memory at a + q * pitch:
 * each 16-byte read of A (and its conversion to f32) serves all the rows */
template <int RMAX, int ROWS>
__device__ inline void lora_dot8(const __nv_bfloat16 *a, int64_t pitch, int r, int64_t c, const float (*v)[8], float (*acc)[RMAX]) {
#pragma unroll
    for (int q = 0; q < RMAX; q++) {
        if (q < r) {
            uint4 raw = *reinterpret_cast<const uint4 *>(a + q * pitch + c);
            const __nv_bfloat162 *w = reinterpret_cast<const __nv_bfloat162 *>(&raw);
            float f[8];
#pragma unroll
            for (int e = 0; e < 4; e++) {
                float2 p = __bfloat1622float2(w[e]);
                f[2 * e] = p.x, f[2 * e + 1] = p.y;
            }
#pragma unroll
            for (int i = 0; i < ROWS; i++) {
                float s0 = v[i][0] * f[0] + v[i][1] * f[1], s1 = v[i][2] * f[2] + v[i][3] * f[3];
                float s2 = v[i][4] * f[4] + v[i][5] * f[5], s3 = v[i][6] * f[6] + v[i][7] * f[7];
                acc[i][q] += (s0 + s1) + (s2 + s3);
            }
        }
    }
}

/* Rows a warp takes at a time: their loads are in flight together, and each read of A serves them all
 * (four up to rank 16, two up to 32, within the registers of 512 threads per SM). */
template <int RMAX>
struct LoraRows {
    static constexpr int value = RMAX <= 16 ? 4 : 2;
};

template <typename TIn, int RMAX>
__global__ void __launch_bounds__(LORA_WARPS * 32) lora_down_kernel(int64_t t, int64_t d, int r, const TIn *__restrict__ x, int64_t ldx,
                                                                    const float *__restrict__ a, int64_t rank_stride, int64_t col_stride, float scale,
                                                                    float *__restrict__ h, __nv_bfloat16 *__restrict__ cat, int64_t ldcat, bool vec) {
    extern __shared__ __align__(16) __nv_bfloat16 as[]; /* [r][pitch], zero past d */
    const int64_t pitch = (d + 7) / 8 * 8;
    for (int q = 0; q < r; q++) /* (no division per element: 64-bit division is slow on a GPU) */
        for (int64_t p = threadIdx.x; p < pitch; p += blockDim.x) as[q * pitch + p] = __float2bfloat16_rn(p < d ? a[q * rank_stride + p * col_stride] : 0.0f);
    __syncthreads();
    constexpr int LORA_ROWS = LoraRows<RMAX>::value;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int64_t row0 = ((int64_t)blockIdx.x * LORA_WARPS + warp) * LORA_ROWS; row0 < t; row0 += (int64_t)gridDim.x * LORA_WARPS * LORA_ROWS) {
        float acc[LORA_ROWS][RMAX];
#pragma unroll
        for (int i = 0; i < LORA_ROWS; i++)
#pragma unroll
            for (int q = 0; q < RMAX; q++) acc[i][q] = 0.0f;
        for (int64_t c = 8 * lane; c < pitch; c += 256) {
            const int n = (int)min((int64_t)8, d - c);
            float v[LORA_ROWS][8];
#pragma unroll
            for (int i = 0; i < LORA_ROWS; i++) {
                if (row0 + i < t) {
                    lora_load8(x + (row0 + i) * ldx + c, v[i], n, vec);
                } else {
#pragma unroll
                    for (int e = 0; e < 8; e++) v[i][e] = 0.0f;
                }
            }
#pragma unroll
            for (int i = 0; i < LORA_ROWS; i++)
                if (row0 + i < t) lora_store8(cat + (row0 + i) * ldcat + c, v[i], n, vec);
            lora_dot8<RMAX, LORA_ROWS>(as, pitch, r, c, v, acc);
        }
#pragma unroll
        for (int i = 0; i < LORA_ROWS; i++) {
            const int64_t row = row0 + i;
#pragma unroll
            for (int q = 0; q < RMAX; q++) {
                if (q >= r) break;
                float s = acc[i][q];
                for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
                if (lane == q && row < t) {
                    h[row * r + q] = s;
                    cat[row * ldcat + d + q] = __float2bfloat16_rn(scale * s);
                }
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
    const int64_t rows = LORA_WARPS * LoraRows<RMAX>::value;
    int64_t blocks = min((t + rows - 1) / rows, (int64_t)lora_sm_count());
    lora_down_kernel<TIn, RMAX><<<(unsigned)blocks, LORA_WARPS * 32, smem, stream>>>(t, d, (int)r, (const TIn *)x, ldx, a, rank_stride, col_stride, scale, h,
                                                                                  (__nv_bfloat16 *)cat, ldcat, vec);
    return t4j_launched();
}

static int32_t lora_down(int64_t t, int64_t d, int64_t r, const void *x, int32_t x_bf16, int64_t ldx, const float *a, int64_t rank_stride,
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

/* ---- check and timing ---- */

static float host_bf16(float f) {
    unsigned bits;
    memcpy(&bits, &f, 4);
    bits += 0x7FFF + ((bits >> 16) & 1);
    bits &= 0xFFFF0000u;
    memcpy(&f, &bits, 4);
    return f;
}

static int run(int64_t t, int64_t d, int64_t r, int reps) {
    size_t nx = (size_t)(t * d);
    float *hx = (float *)malloc(nx * 4), *ha = (float *)malloc((size_t)(r * d) * 4), *hh = (float *)malloc((size_t)(t * r) * 4);
    unsigned long long s = 1;
    for (size_t i = 0; i < nx; i++) hx[i] = (float)((s = s * 6364136223846793005ULL + 1442695040888963407ULL) >> 40) / (1 << 24) - 0.5f;
    for (int64_t i = 0; i < r * d; i++) ha[i] = (float)((s = s * 6364136223846793005ULL + 1442695040888963407ULL) >> 40) / (1 << 24) - 0.5f;
    float *x, *a, *h;
    __nv_bfloat16 *cat;
    cudaMalloc(&x, nx * 4), cudaMalloc(&a, (size_t)(r * d) * 4), cudaMalloc(&h, (size_t)(t * r) * 4), cudaMalloc(&cat, (size_t)(t * (d + r)) * 2);
    cudaMemcpy(x, hx, nx * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(a, ha, (size_t)(r * d) * 4, cudaMemcpyHostToDevice);
    int32_t rc = lora_down(t, d, r, x, 0, d, a, d, 1, 2.0f, h, cat, d + r, NULL);
    cudaError_t e = cudaDeviceSynchronize();
    if (rc != 0 || e != cudaSuccess) {
        printf("launch failed: %d %s\n", rc, cudaGetErrorString(e));
        return 1;
    }
    cudaMemcpy(hh, h, (size_t)(t * r) * 4, cudaMemcpyDeviceToHost);
    double worst = 0;
    for (int64_t i = 0; i < t; i += (t > 64 ? t / 64 : 1))
        for (int64_t q = 0; q < r; q++) {
            double want = 0;
            for (int64_t p = 0; p < d; p++) want += (double)hx[i * d + p] * host_bf16(ha[q * d + p]);
            double err = fabs(hh[i * r + q] - want) / (1 + fabs(want));
            if (!(err <= worst)) worst = err;
        }
    int ok = worst <= 1e-4;
    printf("check  %lldx%lld r%lld  max rel err of h %.2e  %s\n", (long long)t, (long long)d, (long long)r, worst, ok ? "ok" : "FAILED");
    if (reps > 0) {
        cudaEvent_t t0, t1;
        cudaEventCreate(&t0), cudaEventCreate(&t1);
        cudaEventRecord(t0);
        for (int i = 0; i < reps; i++) lora_down(t, d, r, x, 0, d, a, d, 1, 2.0f, h, cat, d + r, NULL);
        cudaEventRecord(t1);
        cudaEventSynchronize(t1);
        float ms = 0;
        cudaEventElapsedTime(&ms, t0, t1);
        printf("time   %lldx%lld r%lld  f32 x: %.4f ms\n", (long long)t, (long long)d, (long long)r, ms / reps);
    }
    cudaFree(x), cudaFree(a), cudaFree(h), cudaFree(cat);
    free(hx), free(ha), free(hh);
    return ok ? 0 : 1;
}

int main(void) {
    int failures = run(37, 300, 5, 0) + run(64, 512, 20, 0) + run(4096, 4096, 16, 20);
    printf("%s\n", failures == 0 ? "all checks passed" : "SOME CHECKS FAILED");
    return failures == 0 ? 0 : 1;
}
