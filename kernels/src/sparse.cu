/* CSR sparse x dense for high sparsity: C [n, m] = W B, W [n, k] in CSR (column indices ascending within
 * each row), B [k, m] dense row-major. Two kernels, chosen by density (kernels/dev/csr_spmm_dev.cu
 * measures both, and the variants before them, on an H200: at 10% density the tiled kernel takes
 * 2.09 ms and the row kernel 2.58 ms, dense cuBLAS f32 2.68 ms; at 1% the row kernel 0.28 ms, the
 * tiled one 0.92 ms, bound by staging B).
 *
 * Tiled (density >= 1/16): a block owns WARPS * RPT rows of W and 128 columns of C and walks K in chunks of 64 rows of B. Each
 * chunk of B (64 x 128) is staged once in shared memory, where it serves every nonzero of the block's
 * rows that falls in the chunk, so B is read from L2 once per row tile rather than once per nonzero;
 * the next chunk is fetched into registers while the current one is used. A warp owns RPT rows and
 * each lane 4 adjacent columns. For each row and chunk the warp reads 32 of the row's entries at once
 * (one coalesced load), keeps those inside the chunk (a prefix, since columns ascend: a ballot counts
 * them) and hands them round by shuffles, so the inner loop touches memory only for its 16-byte
 * shared-memory read of B. Blocks are ordered row tiles first: the blocks running together share the
 * same strips of B. Each C element is summed in column order, the same bits every run.
 * kernels/dev/csr_spmm_dev.cu keeps the earlier variants and times the tile shapes against them. */
#include <limits.h>

#include "common.cuh"

#define SPMM_TILE_COLS 128
#define SPMM_CHUNK 64
#define SPMM_WARPS 16
#define SPMM_ROWS_PER_WARP 8
#define SPMM_ROW_COLS 256 /* row kernel: columns of C per block, 4 per lane of its 64 threads */

/* Row gk of B, columns col .. col + 3, zero outside B. */
__device__ inline float4 spmm_fetch(const float *b, int64_t ldb, int64_t k, int64_t m, int64_t gk, int64_t col, bool vec) {
    float4 r = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (gk >= k) return r;
    const float *p = b + gk * ldb + col;
    if (vec) return *reinterpret_cast<const float4 *>(p);
    if (col < m) r.x = p[0];
    if (col + 1 < m) r.y = p[1];
    if (col + 2 < m) r.z = p[2];
    if (col + 3 < m) r.w = p[3];
    return r;
}

template <int WARPS, int RPT>
__global__ void __launch_bounds__(WARPS * 32) csr_spmm_kernel(int64_t n, int64_t k, int64_t m, const int64_t *row_ptr, const int32_t *cols,
                                                              const float *vals, const float *b, int64_t ldb, float *c, int64_t ldc) {
    constexpr int PER = SPMM_CHUNK / WARPS; /* rows of each chunk this thread stages */
    __shared__ __align__(16) float sb[SPMM_CHUNK][SPMM_TILE_COLS];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t row0 = (int64_t)blockIdx.x * (WARPS * RPT) + (int64_t)warp * RPT;
    const int64_t strip = (int64_t)blockIdx.y * SPMM_TILE_COLS, col = strip + 4 * lane;
    const bool vec = strip + SPMM_TILE_COLS <= m && ldb % 4 == 0 && ((uintptr_t)b & 15) == 0;
    int64_t next[RPT], stop[RPT];
    float4 acc[RPT];
#pragma unroll
    for (int r = 0; r < RPT; r++) {
        int64_t row = row0 + r;
        next[r] = row < n ? row_ptr[row] : 0;
        stop[r] = row < n ? row_ptr[row + 1] : 0;
        acc[r] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
    float4 stage[PER];
#pragma unroll
    for (int i = 0; i < PER; i++) stage[i] = spmm_fetch(b, ldb, k, m, warp + i * WARPS, col, vec);
    for (int64_t k0 = 0; k0 < k; k0 += SPMM_CHUNK) {
        __syncthreads(); /* the previous chunk is no longer read */
#pragma unroll
        for (int i = 0; i < PER; i++) *reinterpret_cast<float4 *>(&sb[warp + i * WARPS][4 * lane]) = stage[i];
        __syncthreads();
        if (k0 + SPMM_CHUNK < k) {
#pragma unroll
            for (int i = 0; i < PER; i++) stage[i] = spmm_fetch(b, ldb, k, m, k0 + SPMM_CHUNK + warp + i * WARPS, col, vec);
        }
        const int64_t kend = k0 + SPMM_CHUNK;
        int window_col[RPT];
        float window_val[RPT];
#pragma unroll
        for (int r = 0; r < RPT; r++) { /* all rows' loads in flight at once */
            int64_t e = next[r] + lane;
            window_col[r] = e < stop[r] ? cols[e] : INT_MAX;
            window_val[r] = e < stop[r] ? vals[e] : 0.0f;
        }
#pragma unroll
        for (int r = 0; r < RPT; r++) {
            int64_t e = next[r];
            int cc = window_col[r];
            float v = window_val[r];
            for (;;) {
                int count = __popc(__ballot_sync(0xffffffffu, (int64_t)cc < kend));
                for (int i = 0; i < count; i++) {
                    int kk = __shfl_sync(0xffffffffu, cc, i) - (int)k0;
                    float vv = __shfl_sync(0xffffffffu, v, i);
                    float4 bv = *reinterpret_cast<const float4 *>(&sb[kk][4 * lane]);
                    acc[r].x += vv * bv.x;
                    acc[r].y += vv * bv.y;
                    acc[r].z += vv * bv.z;
                    acc[r].w += vv * bv.w;
                }
                e += count;
                if (count < 32) break;
                int64_t idx = e + lane; /* a dense stretch: 32 more entries may fall in this chunk */
                cc = idx < stop[r] ? cols[idx] : INT_MAX;
                v = idx < stop[r] ? vals[idx] : 0.0f;
            }
            next[r] = e;
        }
    }
#pragma unroll
    for (int r = 0; r < RPT; r++) {
        int64_t row = row0 + r;
        if (row >= n) continue;
        float *out = c + row * ldc + col;
        if (col < m) out[0] = acc[r].x;
        if (col + 1 < m) out[1] = acc[r].y;
        if (col + 2 < m) out[2] = acc[r].z;
        if (col + 3 < m) out[3] = acc[r].w;
    }
}

/* The grid of csr_spmm_kernel<WARPS, RPT> for an n x m output. */
static inline dim3 spmm_grid(int64_t n, int64_t m, int warps, int rpt) {
    int64_t rows = (int64_t)warps * rpt;
    return dim3((unsigned)((n + rows - 1) / rows), (unsigned)((m + SPMM_TILE_COLS - 1) / SPMM_TILE_COLS));
}

/* Row kernel (density < 1/16): a block of 64 threads owns one row of W and 256 columns of C, 4 per lane
 * (16-byte loads of B). The row's entries are staged in shared memory 64 at a time and each one reads
 * its row of B straight from L2; blocks are ordered rows first, so the blocks running together read
 * the same strip of B. At low density there is too little reuse of B to pay for staging it. */
__global__ void __launch_bounds__(64) csr_spmm_row_kernel(int64_t m, const int64_t *row_ptr, const int32_t *cols, const float *vals, const float *b,
                                                          int64_t ldb, float *c, int64_t ldc) {
    __shared__ int32_t s_cols[64];
    __shared__ float s_vals[64];
    const int64_t j = blockIdx.x, col = (int64_t)blockIdx.y * SPMM_ROW_COLS + 4 * threadIdx.x;
    const bool vec = col + 3 < m && ldb % 4 == 0 && ((uintptr_t)b & 15) == 0;
    const int64_t begin = row_ptr[j], end = row_ptr[j + 1];
    float4 acc = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    for (int64_t e0 = begin; e0 < end; e0 += 64) {
        int64_t count = min((int64_t)64, end - e0);
        __syncthreads();
        if (threadIdx.x < count) {
            s_cols[threadIdx.x] = cols[e0 + threadIdx.x];
            s_vals[threadIdx.x] = vals[e0 + threadIdx.x];
        }
        __syncthreads();
        if (vec) {
            for (int64_t e = 0; e < count; e++) {
                float v = s_vals[e];
                float4 bv = __ldg(reinterpret_cast<const float4 *>(b + (int64_t)s_cols[e] * ldb + col));
                acc.x += v * bv.x;
                acc.y += v * bv.y;
                acc.z += v * bv.z;
                acc.w += v * bv.w;
            }
        } else if (col < m) {
            for (int64_t e = 0; e < count; e++) {
                float v = s_vals[e];
                const float *p = b + (int64_t)s_cols[e] * ldb + col;
                acc.x += v * p[0];
                if (col + 1 < m) acc.y += v * p[1];
                if (col + 2 < m) acc.z += v * p[2];
                if (col + 3 < m) acc.w += v * p[3];
            }
        }
    }
    float *out = c + j * ldc + col;
    if (col < m) out[0] = acc.x;
    if (col + 1 < m) out[1] = acc.y;
    if (col + 2 < m) out[2] = acc.z;
    if (col + 3 < m) out[3] = acc.w;
}

extern "C" int32_t t4j_cuda_csr_spmm(int64_t n, int64_t k, int64_t m, int64_t nnz, const int64_t *row_ptr, const int32_t *cols, const float *vals,
                                     const float *b, int64_t ldb, float *c, int64_t ldc, void *stream) {
    if (n == 0 || m == 0) return 0;
    cudaStream_t s = t4j_stream(stream);
    if (nnz * 16 >= n * k) {
        csr_spmm_kernel<SPMM_WARPS, SPMM_ROWS_PER_WARP><<<spmm_grid(n, m, SPMM_WARPS, SPMM_ROWS_PER_WARP), SPMM_WARPS * 32, 0, s>>>(n, k, m, row_ptr, cols,
                                                                                                                                 vals, b, ldb, c, ldc);
    } else {
        dim3 grid((unsigned)n, (unsigned)((m + SPMM_ROW_COLS - 1) / SPMM_ROW_COLS));
        csr_spmm_row_kernel<<<grid, 64, 0, s>>>(m, row_ptr, cols, vals, b, ldb, c, ldc);
    }
    return t4j_launched();
}
