/* kernels/emulator: libcublas.so.13's calls that org.tune4j.backend.cuda.Cublas makes, on the CPU.
 * cublasGemmEx in column-major, as cuBLAS defines it: C = alpha op(A) op(B) + beta C, op(X) = X or Xᵀ,
 * for f32 (any compute type: f32 here), bf16 inputs with f32 or bf16 C, and int8 with int32 C. */
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <vector>

#include "cuda_bf16.h"
#include "cuda_runtime.h" /* t4j_emu_enqueue: GEMMs go on the handle's stream, so that a graph records them */

extern "C" {

enum { OP_N = 0, OP_T = 1, R_32F = 0, R_8I = 3, R_32I = 10, R_16BF = 14 };

struct emu_handle {
    void *stream;
};

int cublasCreate_v2(void **handle) {
    *handle = new emu_handle{nullptr};
    return 0;
}

int cublasDestroy_v2(void *handle) {
    delete (emu_handle *)handle;
    return 0;
}

int cublasSetStream_v2(void *handle, void *stream) {
    ((emu_handle *)handle)->stream = stream;
    return 0;
}

int cublasSetWorkspace_v2(void *, void *, size_t) { return 0; }

const char *cublasGetStatusString(int status) { return status == 0 ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_NOT_SUPPORTED (host emulator)"; }

static double load(const void *p, int type, int64_t i) {
    switch (type) {
        case R_32F: return ((const float *)p)[i];
        case R_16BF: {
            __nv_bfloat16 b;
            b.bits = ((const uint16_t *)p)[i];
            return __bfloat162float(b);
        }
        case R_8I: return ((const int8_t *)p)[i];
        case R_32I: return ((const int32_t *)p)[i];
        default: return 0;
    }
}

static void store(void *p, int type, int64_t i, double v) {
    switch (type) {
        case R_32F: ((float *)p)[i] = (float)v; break;
        case R_16BF: ((uint16_t *)p)[i] = __float2bfloat16_rn((float)v).bits; break;
        case R_32I: ((int32_t *)p)[i] = (int32_t)v; break;
        default: break;
    }
}

/* The f32 case, in loops the compiler vectorizes: C's column j as a sum of A's columns (op(A) = A), or as dot
 * products of A's rows with B's column j, copied to be contiguous (op(A) = Aᵀ); f32 sums, as on the GPU. */
static void gemm_f32(int transa, int transb, int m, int n, int k, float alpha, const float *A, int lda, const float *B, int ldb, float beta,
                     float *C, int ldc) {
    std::vector<float> bcol(k), acc(m);
    for (int j = 0; j < n; j++) {
        for (int p = 0; p < k; p++) bcol[p] = transb == OP_N ? B[(int64_t)j * ldb + p] : B[(int64_t)p * ldb + j];
        if (transa == OP_N) {
            std::fill(acc.begin(), acc.end(), 0.0f);
            for (int p = 0; p < k; p++) {
                const float *a = A + (int64_t)p * lda, bv = bcol[p];
                for (int i = 0; i < m; i++) acc[i] += a[i] * bv;
            }
        } else {
            for (int i = 0; i < m; i++) {
                const float *a = A + (int64_t)i * lda;
                float s = 0.0f;
                for (int p = 0; p < k; p++) s += a[p] * bcol[p];
                acc[i] = s;
            }
        }
        float *c = C + (int64_t)j * ldc;
        for (int i = 0; i < m; i++) c[i] = alpha * acc[i] + (beta == 0.0f ? 0.0f : beta * c[i]);
    }
}

static void gemm_any(int transa, int transb, int m, int n, int k, double a, const void *A, int Atype, int lda, const void *B, int Btype, int ldb,
                     double b, void *C, int Ctype, int ldc);

/* alpha and beta point to floats, or to int32 for an int32 C */
int cublasGemmEx(void *handle, int transa, int transb, int m, int n, int k, const void *alpha, const void *A, int Atype, int lda, const void *B,
                 int Btype, int ldb, const void *beta, void *C, int Ctype, int ldc, int, int) {
    bool ints = Ctype == R_32I;
    /* alpha and beta are host scalars, read now (as cuBLAS does in its host pointer mode) */
    double a = ints ? *(const int32_t *)alpha : *(const float *)alpha, b = ints ? *(const int32_t *)beta : *(const float *)beta;
    t4j_emu_enqueue((cudaStream_t)((emu_handle *)handle)->stream, [=] {
        if (Atype == R_32F && Btype == R_32F && Ctype == R_32F) {
            gemm_f32(transa, transb, m, n, k, (float)a, (const float *)A, lda, (const float *)B, ldb, (float)b, (float *)C, ldc);
        } else {
            gemm_any(transa, transb, m, n, k, a, A, Atype, lda, B, Btype, ldb, b, C, Ctype, ldc);
        }
    });
    return 0;
}

/* The other types, one product at a time in double. */
static void gemm_any(int transa, int transb, int m, int n, int k, double a, const void *A, int Atype, int lda, const void *B, int Btype, int ldb,
                     double b, void *C, int Ctype, int ldc) {
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            double s = 0;
            for (int p = 0; p < k; p++) {
                double x = load(A, Atype, transa == OP_N ? (int64_t)p * lda + i : (int64_t)i * lda + p);
                double y = load(B, Btype, transb == OP_N ? (int64_t)j * ldb + p : (int64_t)p * ldb + j);
                s += x * y;
            }
            int64_t c = (int64_t)j * ldc + i;
            store(C, Ctype, c, a * s + (b == 0 ? 0 : b * load(C, Ctype, c)));
        }
}

} /* extern "C" */
