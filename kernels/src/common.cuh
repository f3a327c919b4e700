/* Shared by the kernel families: launch helpers and the fixed-order block reduction. */
#pragma once
#include <cuda_runtime.h>
#include <stdint.h>

#include "tune4j_cuda.h"

#define T4J_BLOCK 256

static inline cudaStream_t t4j_stream(void *s) { return (cudaStream_t)s; }

/* The status of the launch just made (0, or the CUDA error code). */
static inline int32_t t4j_launched(void) { return (int32_t)cudaGetLastError(); }

/* e as a status. A failed runtime call (an allocation too large, say) also leaves its error as the
 * thread's "last error", where the next t4j_launched would report it against an innocent kernel: read
 * it off here. (Sticky errors, a kernel's illegal address, stay: the context is lost.) */
static inline int32_t t4j_status(cudaError_t e) {
    if (e != cudaSuccess) (void)cudaGetLastError();
    return (int32_t)e;
}

static inline unsigned t4j_blocks(int64_t n) {
    int64_t b = (n + T4J_BLOCK - 1) / T4J_BLOCK;
    return (unsigned)(b < 65535 * 32 ? (b < 1 ? 1 : b) : 65535 * 32);
}

#ifdef T4J_HOST_EMULATION
/* kernels/emulator runs each block as one thread on the CPU: a block's sum or max is that thread's value */
__device__ inline float t4j_block_sum(float v) { return v; }
__device__ inline float t4j_block_max(float v) { return v; }
#else
/* Sum of v over the block, the same tree every time (warp shuffles, then one warp over the warps'
 * sums); every thread gets the result. blockDim.x must be a multiple of 32, at most 1024. */
__device__ inline float t4j_block_sum(float v) {
    __shared__ float warp_sums[32];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    __syncthreads(); /* warp_sums may still be read by a previous call */
    if (lane == 0) warp_sums[warp] = v;
    __syncthreads();
    v = lane < warps ? warp_sums[lane] : 0.0f;
    if (warp == 0)
        for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    if (threadIdx.x == 0) warp_sums[0] = v;
    __syncthreads();
    return warp_sums[0];
}

__device__ inline float t4j_block_max(float v) {
    __shared__ float warp_max[32];
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    __syncthreads();
    if (lane == 0) warp_max[warp] = v;
    __syncthreads();
    v = lane < warps ? warp_max[lane] : -INFINITY;
    if (warp == 0)
        for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
    if (threadIdx.x == 0) warp_max[0] = v;
    __syncthreads();
    return warp_max[0];
}
#endif

/* The grid of a row-and-column kernel over a rows x cols block (T4J_FOR_EACH_CELL): rows on y, columns on x. */
static inline dim3 t4j_grid2d(int64_t rows, int64_t cols) {
    int64_t x = (cols + T4J_BLOCK - 1) / T4J_BLOCK, y = rows;
    return dim3((unsigned)(x < 1 ? 1 : x > 1024 ? 1024 : x), (unsigned)(y < 1 ? 1 : y > 65535 ? 65535 : y));
}

/* Grid-stride loops over the cells (i, j) of a rows x cols block, without a division per element. */
#define T4J_FOR_EACH_CELL(i, j, rows, cols)                                                     \
    for (int64_t i = blockIdx.y; i < (rows); i += gridDim.y)                                    \
        for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < (cols); j += (int64_t)gridDim.x * blockDim.x)

/* A grid-stride loop over n elements. */
#define T4J_FOR_EACH(i, n) for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)
