/* CSR sparse x dense for high sparsity: C [n, m] = W B, W [n, k] in CSR (column indices ascending within
 * each row), B [k, m] dense row-major.
 *
 * Tiled (kernels/dev/csr_spmm_dev.cu keeps the first, one-row-per-block version and measures both):
 * a block owns 8 * RPT rows of W and 128 columns of C, and walks K in chunks of 64. Each chunk of B
 * (64 x 128) is staged once in shared memory and then serves every nonzero of the block's rows that
 * falls in the chunk, so B is read from L2 once per row tile instead of once per nonzero. A warp owns
 * RPT rows (the same rows in every lane, so the nonzero loops never diverge) and each lane 4 adjacent
 * columns (one 16-byte shared load per nonzero). Blocks are ordered row tiles first, so the blocks
 * running together share the same strips of B. Each C element is summed in column order: the same
 * bits every run. */
#include "common.cuh"

#define SPMM_TILE_COLS 128
#define SPMM_CHUNK 64
#define SPMM_WARPS 8
#define SPMM_ROWS_PER_WARP 8

template <int RPT>
__global__ void __launch_bounds__(SPMM_WARPS * 32) csr_spmm_tiled_kernel(int64_t n, int64_t k, int64_t m, const int64_t *row_ptr,
                                                                          const int32_t *cols, const float *vals, const float *b, int64_t ldb,
                                                                          float *c, int64_t ldc) {
    __shared__ __align__(16) float sb[SPMM_CHUNK][SPMM_TILE_COLS];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t row0 = (int64_t)blockIdx.x * (SPMM_WARPS * RPT) + (int64_t)warp * RPT;
    const int64_t col0 = (int64_t)blockIdx.y * SPMM_TILE_COLS;
    int64_t next[RPT], stop[RPT];
    float acc[RPT][4];
#pragma unroll
    for (int r = 0; r < RPT; r++) {
        int64_t row = row0 + r;
        next[r] = row < n ? row_ptr[row] : 0;
        stop[r] = row < n ? row_ptr[row + 1] : 0;
        acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = 0.0f;
    }
    for (int64_t k0 = 0; k0 < k; k0 += SPMM_CHUNK) {
        __syncthreads(); /* the previous chunk is no longer read */
        for (int i = threadIdx.x; i < SPMM_CHUNK * SPMM_TILE_COLS; i += blockDim.x) {
            int kk = i / SPMM_TILE_COLS, cc = i % SPMM_TILE_COLS;
            int64_t gk = k0 + kk, gc = col0 + cc;
            sb[kk][cc] = gk < k && gc < m ? b[gk * ldb + gc] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int r = 0; r < RPT; r++) {
            int64_t e = next[r];
            for (; e < stop[r]; e++) {
                int64_t kk = (int64_t)cols[e] - k0;
                if (kk >= SPMM_CHUNK) break;
                float v = vals[e];
                float4 bv = *reinterpret_cast<const float4 *>(&sb[kk][4 * lane]);
                acc[r][0] += v * bv.x;
                acc[r][1] += v * bv.y;
                acc[r][2] += v * bv.z;
                acc[r][3] += v * bv.w;
            }
            next[r] = e;
        }
    }
#pragma unroll
    for (int r = 0; r < RPT; r++) {
        int64_t row = row0 + r;
        if (row >= n) continue;
        for (int q = 0; q < 4; q++) {
            int64_t col = col0 + 4 * lane + q;
            if (col < m) c[row * ldc + col] = acc[r][q];
        }
    }
}

extern "C" int32_t t4j_cuda_csr_spmm(int64_t n, int64_t k, int64_t m, const int64_t *row_ptr, const int32_t *cols, const float *vals,
                                     const float *b, int64_t ldb, float *c, int64_t ldc, void *stream) {
    if (n == 0 || m == 0) return 0;
    const int64_t rows_per_block = SPMM_WARPS * SPMM_ROWS_PER_WARP;
    dim3 grid((unsigned)((n + rows_per_block - 1) / rows_per_block), (unsigned)((m + SPMM_TILE_COLS - 1) / SPMM_TILE_COLS));
    csr_spmm_tiled_kernel<SPMM_ROWS_PER_WARP><<<grid, SPMM_WARPS * 32, 0, t4j_stream(stream)>>>(n, k, m, row_ptr, cols, vals, b, ldb, c, ldc);
    return t4j_launched();
}
