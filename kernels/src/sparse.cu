/* CSR sparse x dense for high sparsity: C [n, m] = W B, W [n, k] in CSR, B [k, m] dense.
 * Block (row j of W, a strip of 256 columns of B): the row's nonzeros are staged in shared memory in
 * chunks, each thread owns one column of the strip and walks them in order (so each C element is the
 * same sum every run), reading B row col(e) coalesced across the threads. */
#include "common.cuh"

#define SPMM_COLS 256
#define SPMM_STAGE 256

__global__ void csr_spmm_kernel(int64_t m, const int64_t *row_ptr, const int32_t *cols, const float *vals, const float *b, int64_t ldb, float *c,
                                int64_t ldc) {
    __shared__ int32_t s_cols[SPMM_STAGE];
    __shared__ float s_vals[SPMM_STAGE];
    int64_t j = blockIdx.y, col = (int64_t)blockIdx.x * SPMM_COLS + threadIdx.x;
    int64_t begin = row_ptr[j], end = row_ptr[j + 1];
    float acc = 0.0f;
    for (int64_t e0 = begin; e0 < end; e0 += SPMM_STAGE) {
        int64_t count = min((int64_t)SPMM_STAGE, end - e0);
        __syncthreads();
        if (threadIdx.x < count) {
            s_cols[threadIdx.x] = cols[e0 + threadIdx.x];
            s_vals[threadIdx.x] = vals[e0 + threadIdx.x];
        }
        __syncthreads();
        if (col < m)
            for (int64_t e = 0; e < count; e++) acc += s_vals[e] * b[(int64_t)s_cols[e] * ldb + col];
    }
    if (col < m) c[j * ldc + col] = acc;
}

extern "C" int32_t t4j_cuda_csr_spmm(int64_t n, int64_t k, int64_t m, const int64_t *row_ptr, const int32_t *cols, const float *vals,
                                     const float *b, int64_t ldb, float *c, int64_t ldc, void *stream) {
    (void)k;
    if (n == 0 || m == 0) return 0;
    dim3 grid((unsigned)((m + SPMM_COLS - 1) / SPMM_COLS), (unsigned)n);
    csr_spmm_kernel<<<grid, SPMM_COLS, 0, t4j_stream(stream)>>>(m, row_ptr, cols, vals, b, ldb, c, ldc);
    return t4j_launched();
}
