/* CSR x dense variants, each checked against a host reference and timed on the issue's shape
 * (W 4096 x 4096 at 90% sparsity, B 4096 x 4096):
 *   1  one block per (row of W, 256 columns of C); the row's nonzeros staged in shared memory, B read
 *      from L2 once per nonzero (the first library kernel);
 *   2  the library's tiled kernel (src/sparse.cu): a chunk of B staged once per row tile, at 4, 8 and
 *      16 rows per warp (the library uses SPMM_ROWS_PER_WARP).
 * Built by kernels/dev/build.sh; run by bench/gpu/check.sh on the GPU machine. Exits non-zero when a
 * check fails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../src/sparse.cu"

#define V1_COLS 256

__global__ void csr_spmm_v1_kernel(int64_t m, const int64_t *row_ptr, const int32_t *cols, const float *vals, const float *b, int64_t ldb, float *c,
                                   int64_t ldc) {
    __shared__ int32_t s_cols[V1_COLS];
    __shared__ float s_vals[V1_COLS];
    int64_t j = blockIdx.y, col = (int64_t)blockIdx.x * V1_COLS + threadIdx.x;
    int64_t begin = row_ptr[j], end = row_ptr[j + 1];
    float acc = 0.0f;
    for (int64_t e0 = begin; e0 < end; e0 += V1_COLS) {
        int64_t count = min((int64_t)V1_COLS, end - e0);
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

struct Csr {
    int64_t n, k, nnz;
    int64_t *row_ptr;
    int32_t *cols;
    float *vals;
};

static void check(cudaError_t e, const char *what) {
    if (e != cudaSuccess) {
        fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
        exit(2);
    }
}

static float uniform(unsigned long long *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((*s >> 40) * (1.0 / (1ULL << 24))) * 2.0f - 1.0f;
}

/* host CSR with each entry kept with probability density */
static Csr make_csr(int64_t n, int64_t k, double density, unsigned long long seed) {
    Csr w = {n, k, 0, (int64_t *)malloc((size_t)(n + 1) * sizeof(int64_t)), NULL, NULL};
    size_t cap = (size_t)(n * k * density * 1.2 + 16);
    w.cols = (int32_t *)malloc(cap * sizeof(int32_t));
    w.vals = (float *)malloc(cap * sizeof(float));
    w.row_ptr[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t p = 0; p < k; p++) {
            if ((uniform(&seed) + 1.0f) * 0.5f < density && (size_t)w.nnz < cap) {
                w.cols[w.nnz] = (int32_t)p;
                w.vals[w.nnz++] = uniform(&seed);
            }
        }
        w.row_ptr[i + 1] = w.nnz;
    }
    return w;
}

typedef void (*Variant)(const Csr &w, const int64_t *rp, const int32_t *ci, const float *v, const float *b, int64_t m, float *c);

static void run_v1(const Csr &w, const int64_t *rp, const int32_t *ci, const float *v, const float *b, int64_t m, float *c) {
    dim3 grid((unsigned)((m + V1_COLS - 1) / V1_COLS), (unsigned)w.n);
    csr_spmm_v1_kernel<<<grid, V1_COLS>>>(m, rp, ci, v, b, m, c, m);
}

template <int RPT>
static void run_tiled(const Csr &w, const int64_t *rp, const int32_t *ci, const float *v, const float *b, int64_t m, float *c) {
    const int64_t rows = SPMM_WARPS * RPT;
    dim3 grid((unsigned)((w.n + rows - 1) / rows), (unsigned)((m + SPMM_TILE_COLS - 1) / SPMM_TILE_COLS));
    csr_spmm_tiled_kernel<RPT><<<grid, SPMM_WARPS * 32>>>(w.n, w.k, m, rp, ci, v, b, m, c, m);
}

struct Named {
    const char *name;
    Variant run;
};

static const Named VARIANTS[] = {{"1 row-per-block", run_v1}, {"2 tiled rpt=4", run_tiled<4>}, {"2 tiled rpt=8 (library)", run_tiled<8>},
                                 {"2 tiled rpt=16", run_tiled<16>}};

/* one shape: upload, run every variant, compare with the host product; time when reps > 0 */
static int measure(int64_t n, int64_t k, int64_t m, double density, int reps) {
    Csr w = make_csr(n, k, density, 42 + n + k + m);
    float *hb = (float *)malloc((size_t)(k * m) * sizeof(float)), *hc = (float *)malloc((size_t)(n * m) * sizeof(float));
    unsigned long long s = 7;
    for (int64_t i = 0; i < k * m; i++) hb[i] = uniform(&s);
    double *want = (double *)calloc((size_t)(n * m), sizeof(double));
    if (reps == 0)
        for (int64_t i = 0; i < n; i++)
            for (int64_t e = w.row_ptr[i]; e < w.row_ptr[i + 1]; e++)
                for (int64_t j = 0; j < m; j++) want[i * m + j] += (double)w.vals[e] * hb[(int64_t)w.cols[e] * m + j];
    int64_t *rp;
    int32_t *ci;
    float *v, *b, *c;
    check(cudaMalloc(&rp, (size_t)(n + 1) * sizeof(int64_t)), "malloc");
    check(cudaMalloc(&ci, (size_t)(w.nnz + 1) * sizeof(int32_t)), "malloc");
    check(cudaMalloc(&v, (size_t)(w.nnz + 1) * sizeof(float)), "malloc");
    check(cudaMalloc(&b, (size_t)(k * m) * sizeof(float)), "malloc");
    check(cudaMalloc(&c, (size_t)(n * m) * sizeof(float)), "malloc");
    check(cudaMemcpy(rp, w.row_ptr, (size_t)(n + 1) * sizeof(int64_t), cudaMemcpyHostToDevice), "copy");
    check(cudaMemcpy(ci, w.cols, (size_t)w.nnz * sizeof(int32_t), cudaMemcpyHostToDevice), "copy");
    check(cudaMemcpy(v, w.vals, (size_t)w.nnz * sizeof(float), cudaMemcpyHostToDevice), "copy");
    check(cudaMemcpy(b, hb, (size_t)(k * m) * sizeof(float), cudaMemcpyHostToDevice), "copy");
    int failures = 0;
    for (const Named &var : VARIANTS) {
        check(cudaMemset(c, 0xff, (size_t)(n * m) * sizeof(float)), "memset");
        var.run(w, rp, ci, v, b, m, c);
        check(cudaGetLastError(), var.name);
        check(cudaDeviceSynchronize(), var.name);
        if (reps == 0) {
            check(cudaMemcpy(hc, c, (size_t)(n * m) * sizeof(float), cudaMemcpyDeviceToHost), "copy back");
            double worst = 0;
            for (int64_t i = 0; i < n * m; i++) {
                double err = fabs(hc[i] - want[i]) / (1.0 + fabs(want[i]));
                if (!(err <= worst)) worst = err; /* NaN propagates */
            }
            int ok = worst <= 1e-4;
            failures += !ok;
            printf("check  %-24s %5lldx%-5lld x %-5lld density %.2f  max rel err %.2e  %s\n", var.name, (long long)n, (long long)k, (long long)m,
                   density, worst, ok ? "ok" : "FAILED");
        } else {
            cudaEvent_t t0, t1;
            cudaEventCreate(&t0);
            cudaEventCreate(&t1);
            cudaEventRecord(t0);
            for (int r = 0; r < reps; r++) var.run(w, rp, ci, v, b, m, c);
            cudaEventRecord(t1);
            check(cudaEventSynchronize(t1), var.name);
            float ms = 0;
            cudaEventElapsedTime(&ms, t0, t1);
            ms /= reps;
            printf("time   %-24s %5lldx%-5lld x %-5lld density %.2f  %8.4f ms  %8.1f GFLOP/s useful\n", var.name, (long long)n, (long long)k, (long long)m,
                   density, ms, 2.0 * w.nnz * m / (ms * 1e6));
        }
    }
    cudaFree(rp), cudaFree(ci), cudaFree(v), cudaFree(b), cudaFree(c);
    free(w.row_ptr), free(w.cols), free(w.vals), free(hb), free(hc), free(want);
    return failures;
}

int main(void) {
    cudaDeviceProp p;
    check(cudaGetDeviceProperties(&p, 0), "device");
    printf("device %s, %d SMs\n", p.name, p.multiProcessorCount);
    int failures = 0;
    const int64_t shapes[][3] = {{1, 1, 1}, {37, 130, 77}, {150, 300, 260}, {65, 1000, 129}, {513, 257, 3}};
    for (const auto &s : shapes) {
        failures += measure(s[0], s[1], s[2], 0.1, 0);
        failures += measure(s[0], s[1], s[2], 0.6, 0);
    }
    failures += measure(4096, 4096, 4096, 0.1, 20);
    failures += measure(4096, 4096, 4096, 0.01, 20);
    printf("%s\n", failures == 0 ? "all checks passed" : "SOME CHECKS FAILED");
    return failures == 0 ? 0 : 1;
}
