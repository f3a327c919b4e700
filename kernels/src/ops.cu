/* Training-step ops: elementwise (grid-stride loops), rows (one block per row, fixed reduction trees),
 * AdamW. Forward and backward of each op side by side. */
#include <cuda_bf16.h>
#include <math.h>

#include "common.cuh"

__device__ inline float gelu_tanh(float x) {
    const float c = 0.7978845608028654f; /* sqrt(2/pi) */
    return 0.5f * x * (1.0f + tanhf(c * (x + 0.044715f * x * x * x)));
}

__device__ inline float gelu_tanh_grad(float x) {
    const float c = 0.7978845608028654f;
    float t = tanhf(c * (x + 0.044715f * x * x * x));
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * c * (1.0f + 3.0f * 0.044715f * x * x);
}

/* Elementwise kernels run over groups of 4 floats (one 16-byte load or store per operand) when every
 * pointer is 16-byte aligned and n a multiple of 4, else over single floats: vec4 says which. */
static inline int vec4(int64_t n, const void *p, const void *q, const void *r) {
    return n % 4 == 0 && (((uintptr_t)p | (uintptr_t)q | (uintptr_t)r) & 15) == 0;
}

__global__ void add_kernel(int64_t n, const float *a, const float *b, float *y, int vec) {
    if (vec) {
        T4J_FOR_EACH(i, n / 4) {
            float4 p = reinterpret_cast<const float4 *>(a)[i], q = reinterpret_cast<const float4 *>(b)[i];
            reinterpret_cast<float4 *>(y)[i] = make_float4(p.x + q.x, p.y + q.y, p.z + q.z, p.w + q.w);
        }
    } else {
        T4J_FOR_EACH(i, n) y[i] = a[i] + b[i];
    }
}

__global__ void mul_kernel(int64_t n, const float *a, const float *b, float *y) {
    T4J_FOR_EACH(i, n) y[i] = a[i] * b[i];
}

__global__ void axpy_kernel(int64_t n, float alpha, const float *x, float *y, int vec) {
    if (vec) {
        T4J_FOR_EACH(i, n / 4) {
            float4 p = reinterpret_cast<const float4 *>(x)[i], q = reinterpret_cast<float4 *>(y)[i];
            reinterpret_cast<float4 *>(y)[i] = make_float4(q.x + alpha * p.x, q.y + alpha * p.y, q.z + alpha * p.z, q.w + alpha * p.w);
        }
    } else {
        T4J_FOR_EACH(i, n) y[i] += alpha * x[i];
    }
}

__global__ void gelu_forward_kernel(int64_t n, const float *x, float *y, int vec) {
    if (vec) {
        T4J_FOR_EACH(i, n / 4) {
            float4 p = reinterpret_cast<const float4 *>(x)[i];
            reinterpret_cast<float4 *>(y)[i] = make_float4(gelu_tanh(p.x), gelu_tanh(p.y), gelu_tanh(p.z), gelu_tanh(p.w));
        }
    } else {
        T4J_FOR_EACH(i, n) y[i] = gelu_tanh(x[i]);
    }
}

__global__ void gelu_backward_kernel(int64_t n, const float *x, const float *dy, float *dx, int vec) {
    if (vec) {
        T4J_FOR_EACH(i, n / 4) {
            float4 p = reinterpret_cast<const float4 *>(x)[i], g = reinterpret_cast<const float4 *>(dy)[i], d = reinterpret_cast<float4 *>(dx)[i];
            reinterpret_cast<float4 *>(dx)[i] = make_float4(d.x + gelu_tanh_grad(p.x) * g.x, d.y + gelu_tanh_grad(p.y) * g.y, d.z + gelu_tanh_grad(p.z) * g.z,
                                                            d.w + gelu_tanh_grad(p.w) * g.w);
        }
    } else {
        T4J_FOR_EACH(i, n) dx[i] += gelu_tanh_grad(x[i]) * dy[i];
    }
}
__global__ void to_bf16_kernel(int64_t n, const float *x, uint16_t *y) {
    T4J_FOR_EACH(i, n) {
        __nv_bfloat16 b = __float2bfloat16_rn(x[i]);
        y[i] = *reinterpret_cast<uint16_t *>(&b);
    }
}
__global__ void from_bf16_kernel(int64_t n, const uint16_t *x, float *y) {
    T4J_FOR_EACH(i, n) y[i] = __uint_as_float((uint32_t)x[i] << 16);
}

__global__ void scale_into_kernel(int64_t rows, int64_t cols, const float *x, int64_t ldx, float scale, void *y, int64_t ldy, int32_t bf16) {
    T4J_FOR_EACH_CELL(i, j, rows, cols) {
        float v = scale * x[i * ldx + j];
        if (bf16) {
            __nv_bfloat16 b = __float2bfloat16_rn(v);
            ((uint16_t *)y)[i * ldy + j] = *reinterpret_cast<uint16_t *>(&b);
        } else {
            ((float *)y)[i * ldy + j] = v;
        }
    }
}

/* one block: thread t sums elements t, t + blockDim, ... in order, then the fixed tree */
__global__ void sum_kernel(int64_t n, const float *x, float *out) {
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += x[i];
    s = t4j_block_sum(s);
    if (threadIdx.x == 0) out[0] = s;
}

/* ---- rows: softmax, LayerNorm, cross-entropy; block i handles row i ---- */

/* Rows of up to SOFTMAX_CACHED * blockDim values are read once and kept in registers (one exp each);
 * longer rows are read three times. */
#define SOFTMAX_CACHED 8

__global__ void softmax_kernel(int64_t n, const float *x, float *y) {
    const float *xr = x + blockIdx.x * n;
    float *yr = y + blockIdx.x * n;
    if (n <= SOFTMAX_CACHED * (int64_t)blockDim.x) {
        float v[SOFTMAX_CACHED];
        float mx = -INFINITY;
#pragma unroll
        for (int e = 0; e < SOFTMAX_CACHED; e++) {
            int64_t j = threadIdx.x + (int64_t)e * blockDim.x;
            v[e] = j < n ? xr[j] : -INFINITY;
            mx = fmaxf(mx, v[e]);
        }
        mx = t4j_block_max(mx);
        float s = 0.0f;
#pragma unroll
        for (int e = 0; e < SOFTMAX_CACHED; e++) {
            v[e] = threadIdx.x + (int64_t)e * blockDim.x < n ? expf(v[e] - mx) : 0.0f;
            s += v[e];
        }
        float inv = 1.0f / t4j_block_sum(s);
#pragma unroll
        for (int e = 0; e < SOFTMAX_CACHED; e++) {
            int64_t j = threadIdx.x + (int64_t)e * blockDim.x;
            if (j < n) yr[j] = v[e] * inv;
        }
        return;
    }
    float mx = -INFINITY;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) mx = fmaxf(mx, xr[j]);
    mx = t4j_block_max(mx);
    float s = 0.0f;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) s += expf(xr[j] - mx);
    float inv = 1.0f / t4j_block_sum(s);
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) yr[j] = expf(xr[j] - mx) * inv;
}

__global__ void layer_norm_forward_kernel(int64_t n, const float *x, const float *gamma, const float *beta, float eps, float *y, float *mean,
                                         float *rstd) {
    const float *xr = x + blockIdx.x * n;
    float *yr = y + blockIdx.x * n;
    float s = 0.0f;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) s += xr[j];
    float mu = t4j_block_sum(s) / (float)n;
    float v = 0.0f;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) v += (xr[j] - mu) * (xr[j] - mu);
    float rs = rsqrtf(t4j_block_sum(v) / (float)n + eps);
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) yr[j] = (xr[j] - mu) * rs * gamma[j] + beta[j];
    if (threadIdx.x == 0) {
        mean[blockIdx.x] = mu;
        rstd[blockIdx.x] = rs;
    }
}

/* dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy gamma; per-row partials of dgamma, dbeta */
__global__ void layer_norm_backward_kernel(int64_t n, const float *x, const float *gamma, const float *mean, const float *rstd, const float *dy,
                                          float *dx, float *pgamma, float *pbeta) {
    int64_t row = blockIdx.x;
    const float *xr = x + row * n, *dyr = dy + row * n;
    float mu = mean[row], rs = rstd[row], s1 = 0.0f, s2 = 0.0f;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
        float g = dyr[j] * gamma[j], xhat = (xr[j] - mu) * rs;
        s1 += g;
        s2 += g * xhat;
        if (pgamma != NULL) pgamma[row * n + j] = dyr[j] * xhat;
        if (pbeta != NULL) pbeta[row * n + j] = dyr[j];
    }
    s1 = t4j_block_sum(s1) / (float)n;
    s2 = t4j_block_sum(s2) / (float)n;
    if (dx == NULL) return;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
        float g = dyr[j] * gamma[j], xhat = (xr[j] - mu) * rs;
        dx[row * n + j] += rs * (g - s1 - xhat * s2);
    }
}

/* out[j] += sum over rows i of p[i, j], rows in order: the same bits every run */
__global__ void column_sum_kernel(int64_t m, int64_t n, const float *p, float *out) {
    T4J_FOR_EACH(j, n) {
        float s = 0.0f;
        for (int64_t i = 0; i < m; i++) s += p[i * n + j];
        out[j] += s;
    }
}

__global__ void cross_entropy_forward_kernel(int64_t n, const float *logits, const int32_t *labels, float smoothing, float *probs, float *losses) {
    int64_t row = blockIdx.x;
    const float *lr = logits + row * n;
    float *pr = probs + row * n;
    float mx = -INFINITY;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) mx = fmaxf(mx, lr[j]);
    mx = t4j_block_max(mx);
    float s = 0.0f, all = 0.0f;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
        s += expf(lr[j] - mx);
        all += lr[j];
    }
    s = t4j_block_sum(s);
    all = t4j_block_sum(all);
    float lse = mx + logf(s);
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) pr[j] = expf(lr[j] - lse);
    if (threadIdx.x == 0) {
        /* loss = -sum target log p, target = (1 - eps) onehot + eps / n; sum_j log p_j = sum_j l_j - n lse */
        /* labels kept in device memory are not checked on the host (a captured step's): one out of range gives a NaN loss, never a stray read */
        int32_t y = labels[row];
        float logp = y >= 0 && y < n ? lr[y] - lse : NAN;
        losses[row] = -(1.0f - smoothing) * logp - smoothing / (float)n * (all - (float)n * lse);
    }
}

__global__ void cross_entropy_backward_kernel(int64_t m, int64_t n, const float *probs, const int32_t *labels, float smoothing, float scale,
                                              float *dlogits) {
    T4J_FOR_EACH(e, m * n) {
        int64_t i = e / n, j = e % n;
        float target = smoothing / (float)n + (j == labels[i] ? 1.0f - smoothing : 0.0f);
        dlogits[e] += scale * (probs[e] - target);
    }
}

/* Java's Math.min and Math.max: NaN when either is (fminf and fmaxf would drop it) */
__device__ static inline float java_min(float a, float b) { return isnan(a) || isnan(b) ? NAN : fminf(a, b); }
__device__ static inline float java_max(float a, float b) { return isnan(a) || isnan(b) ? NAN : fmaxf(a, b); }

/* adv += step·sign(grad), then onto [orig − eps, orig + eps] and [0, 1] (Backend.pgdStep: the host's arithmetic, a NaN kept) */
__global__ void pgd_step_kernel(int64_t n, float *adv, const float *grad, const float *orig, float step, float eps) {
    T4J_FOR_EACH(i, n) {
        float g = grad[i], o = orig[i];
        float v = adv[i] + (g > 0.0f ? step : g < 0.0f ? -step : 0.0f);
        adv[i] = java_min(1.0f, java_max(0.0f, java_min(o + eps, java_max(o - eps, v))));
    }
}

/* sched (device memory, NULL: none): lr = sched[0] * lr (lr then the per-parameter factor), step t = sched[1], so
 * bc1 = 1 - b1^t and bc2 = 1 - b2^t here, as t4j_cuda_adamw_step_scaled computes them on the host */
__global__ void adamw_kernel(int64_t n, float *p, const float *g, const float *gscale, float *m, float *v, float lr, float b1, float b2, float eps,
                             float wd, float bc1, float bc2, const float *sched) {
    float gs = gscale != NULL ? gscale[0] : 1.0f;
    if (sched != NULL) {
        lr = sched[0] * lr;
        bc1 = 1.0f - powf(b1, sched[1]);
        bc2 = 1.0f - powf(b2, sched[1]);
    }
    T4J_FOR_EACH(i, n) {
        float w = p[i] - lr * wd * p[i], gi = g[i] * gs;
        float mi = b1 * m[i] + (1.0f - b1) * gi, vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = w - lr * (mi / bc1) / (sqrtf(vi / bc2) + eps);
    }
}

/* ---- the rest of the Backend's row ops (DoRA's norms and scales, ReLU, softmax's backward) ---- */

/* y [m, n] *= row [n] on every row */
__global__ void mul_row_kernel(int64_t m, int64_t n, const float *row, float *y) {
    T4J_FOR_EACH_CELL(i, j, m, n) y[i * n + j] *= row[j];
}

/* out[i] = sum over j of x[i, j]^2, one block per row (a fixed tree) */
__global__ void row_squares_kernel(int64_t n, const float *x, float *out) {
    const float *xr = x + blockIdx.x * n;
    float s = 0.0f;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) s += xr[j] * xr[j];
    s = t4j_block_sum(s);
    if (threadIdx.x == 0) out[blockIdx.x] = s;
}

/* out[j] += sum over rows i of a[i, j] b[i, j], rows in order */
__global__ void sum_rows_product_kernel(int64_t m, int64_t n, const float *a, const float *b, float *out) {
    T4J_FOR_EACH(j, n) {
        float s = 0.0f;
        for (int64_t i = 0; i < m; i++) s += a[i * n + j] * b[i * n + j];
        out[j] += s;
    }
}

/* y = max(x, 0), a NaN kept (as PyTorch's ReLU and the CPU's) */
__global__ void relu_forward_kernel(int64_t n, const float *x, float *y) {
    T4J_FOR_EACH(i, n) y[i] = x[i] > 0.0f || x[i] != x[i] ? x[i] : 0.0f;
}

/* dx += (x > 0) dy */
__global__ void relu_backward_kernel(int64_t n, const float *x, const float *dy, float *dx) {
    T4J_FOR_EACH(i, n) if (x[i] > 0.0f) dx[i] += dy[i];
}

/* dx += y (dy - sum over j of dy y), one block per row */
__global__ void softmax_backward_kernel(int64_t n, const float *y, const float *dy, float *dx) {
    const float *yr = y + blockIdx.x * n, *gr = dy + blockIdx.x * n;
    float *dr = dx + blockIdx.x * n;
    float s = 0.0f;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) s += gr[j] * yr[j];
    s = t4j_block_sum(s);
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) dr[j] += yr[j] * (gr[j] - s);
}

/* Threads per row block: up to 256 (4 or more elements each for wide rows keeps the reductions short). */
static unsigned row_threads(int64_t n) { return n >= 256 ? 256 : n > 32 ? 128 : 32; }

extern "C" {

int32_t t4j_cuda_add(int64_t n, const float *a, const float *b, float *y, void *stream) {
    int v = vec4(n, a, b, y);
    add_kernel<<<t4j_blocks(v ? n / 4 : n), T4J_BLOCK, 0, t4j_stream(stream)>>>(n, a, b, y, v);
    return t4j_launched();
}

int32_t t4j_cuda_mul(int64_t n, const float *a, const float *b, float *y, void *stream) {
    mul_kernel<<<t4j_blocks(n), T4J_BLOCK, 0, t4j_stream(stream)>>>(n, a, b, y);
    return t4j_launched();
}

int32_t t4j_cuda_axpy(int64_t n, float alpha, const float *x, float *y, void *stream) {
    int v = vec4(n, x, y, y);
    axpy_kernel<<<t4j_blocks(v ? n / 4 : n), T4J_BLOCK, 0, t4j_stream(stream)>>>(n, alpha, x, y, v);
    return t4j_launched();
}

int32_t t4j_cuda_gelu_forward(int64_t n, const float *x, float *y, void *stream) {
    int v = vec4(n, x, y, y);
    gelu_forward_kernel<<<t4j_blocks(v ? n / 4 : n), T4J_BLOCK, 0, t4j_stream(stream)>>>(n, x, y, v);
    return t4j_launched();
}

int32_t t4j_cuda_gelu_backward(int64_t n, const float *x, const float *dy, float *dx, void *stream) {
    int v = vec4(n, x, dy, dx);
    gelu_backward_kernel<<<t4j_blocks(v ? n / 4 : n), T4J_BLOCK, 0, t4j_stream(stream)>>>(n, x, dy, dx, v);
    return t4j_launched();
}

int32_t t4j_cuda_f32_to_bf16(int64_t n, const float *x, uint16_t *y, void *stream) {
    to_bf16_kernel<<<t4j_blocks(n), T4J_BLOCK, 0, t4j_stream(stream)>>>(n, x, y);
    return t4j_launched();
}

int32_t t4j_cuda_bf16_to_f32(int64_t n, const uint16_t *x, float *y, void *stream) {
    from_bf16_kernel<<<t4j_blocks(n), T4J_BLOCK, 0, t4j_stream(stream)>>>(n, x, y);
    return t4j_launched();
}

int32_t t4j_cuda_scale_into(int64_t rows, int64_t cols, const float *x, int64_t ldx, float scale, void *y, int64_t ldy, int32_t bf16, void *stream) {
    scale_into_kernel<<<t4j_grid2d(rows, cols), T4J_BLOCK, 0, t4j_stream(stream)>>>(rows, cols, x, ldx, scale, y, ldy, bf16);
    return t4j_launched();
}

int32_t t4j_cuda_sum(int64_t n, const float *x, float *out, void *stream) {
    sum_kernel<<<1, 1024, 0, t4j_stream(stream)>>>(n, x, out);
    return t4j_launched();
}

int32_t t4j_cuda_sum_rows(int64_t m, int64_t n, const float *x, float *out, void *stream) {
    if (n == 0) return 0;
    column_sum_kernel<<<t4j_blocks(n), T4J_BLOCK, 0, t4j_stream(stream)>>>(m, n, x, out);
    return t4j_launched();
}

int32_t t4j_cuda_mul_row(int64_t m, int64_t n, const float *row, float *y, void *stream) {
    if (m == 0 || n == 0) return 0;
    mul_row_kernel<<<t4j_grid2d(m, n), T4J_BLOCK, 0, t4j_stream(stream)>>>(m, n, row, y);
    return t4j_launched();
}

int32_t t4j_cuda_row_squares(int64_t m, int64_t n, const float *x, float *out, void *stream) {
    if (m == 0) return 0;
    row_squares_kernel<<<(unsigned)m, row_threads(n), 0, t4j_stream(stream)>>>(n, x, out);
    return t4j_launched();
}

int32_t t4j_cuda_sum_rows_product(int64_t m, int64_t n, const float *a, const float *b, float *out, void *stream) {
    if (n == 0) return 0;
    sum_rows_product_kernel<<<t4j_blocks(n), T4J_BLOCK, 0, t4j_stream(stream)>>>(m, n, a, b, out);
    return t4j_launched();
}

int32_t t4j_cuda_relu_forward(int64_t n, const float *x, float *y, void *stream) {
    relu_forward_kernel<<<t4j_blocks(n), T4J_BLOCK, 0, t4j_stream(stream)>>>(n, x, y);
    return t4j_launched();
}

int32_t t4j_cuda_relu_backward(int64_t n, const float *x, const float *dy, float *dx, void *stream) {
    relu_backward_kernel<<<t4j_blocks(n), T4J_BLOCK, 0, t4j_stream(stream)>>>(n, x, dy, dx);
    return t4j_launched();
}

int32_t t4j_cuda_softmax_backward(int64_t m, int64_t n, const float *y, const float *dy, float *dx, void *stream) {
    if (m == 0) return 0;
    softmax_backward_kernel<<<(unsigned)m, row_threads(n), 0, t4j_stream(stream)>>>(n, y, dy, dx);
    return t4j_launched();
}

int32_t t4j_cuda_softmax_forward(int64_t m, int64_t n, const float *x, float *y, void *stream) {
    if (m == 0) return 0;
    softmax_kernel<<<(unsigned)m, row_threads(n), 0, t4j_stream(stream)>>>(n, x, y);
    return t4j_launched();
}

int32_t t4j_cuda_layer_norm_forward(int64_t m, int64_t n, const float *x, const float *gamma, const float *beta, float eps, float *y, float *mean,
                                   float *rstd, void *stream) {
    if (m == 0) return 0;
    layer_norm_forward_kernel<<<(unsigned)m, row_threads(n), 0, t4j_stream(stream)>>>(n, x, gamma, beta, eps, y, mean, rstd);
    return t4j_launched();
}

int32_t t4j_cuda_layer_norm_backward(int64_t m, int64_t n, const float *x, const float *gamma, const float *mean, const float *rstd, const float *dy,
                                    float *dx, float *dgamma, float *dbeta, void *stream) {
    if (m == 0) return 0;
    float *partials = NULL;
    int need = dgamma != NULL || dbeta != NULL;
    /* stream-ordered scratch: freed in stream order, no host synchronisation */
    if (need) {
        cudaError_t e = cudaMallocAsync((void **)&partials, (size_t)(2 * m * n) * sizeof(float), t4j_stream(stream));
        if (e != cudaSuccess) return t4j_status(e);
    }
    float *pg = dgamma != NULL ? partials : NULL, *pb = dbeta != NULL ? partials + m * n : NULL;
    layer_norm_backward_kernel<<<(unsigned)m, row_threads(n), 0, t4j_stream(stream)>>>(n, x, gamma, mean, rstd, dy, dx, pg, pb);
    if (dgamma != NULL) column_sum_kernel<<<t4j_blocks(n), T4J_BLOCK, 0, t4j_stream(stream)>>>(m, n, pg, dgamma);
    if (dbeta != NULL) column_sum_kernel<<<t4j_blocks(n), T4J_BLOCK, 0, t4j_stream(stream)>>>(m, n, pb, dbeta);
    int32_t rc = t4j_launched();
    if (need) cudaFreeAsync(partials, t4j_stream(stream));
    return rc;
}

int32_t t4j_cuda_cross_entropy_forward(int64_t m, int64_t n, const float *logits, const int32_t *labels, float smoothing, float *probs,
                                       float *losses, void *stream) {
    if (m == 0) return 0;
    cross_entropy_forward_kernel<<<(unsigned)m, row_threads(n), 0, t4j_stream(stream)>>>(n, logits, labels, smoothing, probs, losses);
    return t4j_launched();
}

int32_t t4j_cuda_cross_entropy_backward(int64_t m, int64_t n, const float *probs, const int32_t *labels, float smoothing, float scale,
                                        float *dlogits, void *stream) {
    cross_entropy_backward_kernel<<<t4j_blocks(m * n), T4J_BLOCK, 0, t4j_stream(stream)>>>(m, n, probs, labels, smoothing, scale, dlogits);
    return t4j_launched();
}

int32_t t4j_cuda_pgd_step(int64_t n, float *adv, const float *grad, const float *orig, float step_size, float epsilon, void *stream) {
    if (n == 0) return 0;
    pgd_step_kernel<<<t4j_blocks(n), T4J_BLOCK, 0, t4j_stream(stream)>>>(n, adv, grad, orig, step_size, epsilon);
    return t4j_launched();
}

int32_t t4j_cuda_adamw_step(int64_t n, float *param, const float *grad, float *m, float *v, float lr, float beta1, float beta2, float eps,
                            float weight_decay, int64_t step, void *stream) {
    return t4j_cuda_adamw_step_scaled(n, param, grad, NULL, m, v, lr, beta1, beta2, eps, weight_decay, step, stream);
}

int32_t t4j_cuda_adamw_step_scaled(int64_t n, float *param, const float *grad, const float *grad_scale, float *m, float *v, float lr, float beta1,
                                   float beta2, float eps, float weight_decay, int64_t step, void *stream) {
    float bc1 = 1.0f - powf(beta1, (float)step), bc2 = 1.0f - powf(beta2, (float)step);
    adamw_kernel<<<t4j_blocks(n), T4J_BLOCK, 0, t4j_stream(stream)>>>(n, param, grad, grad_scale, m, v, lr, beta1, beta2, eps, weight_decay, bc1, bc2, NULL);
    return t4j_launched();
}

int32_t t4j_cuda_adamw_step_scheduled(int64_t n, float *param, const float *grad, float *m, float *v, const float *schedule, float lr_scale, float beta1,
                                      float beta2, float eps, float weight_decay, void *stream) {
    if (n == 0) return 0;
    adamw_kernel<<<t4j_blocks(n), T4J_BLOCK, 0, t4j_stream(stream)>>>(n, param, grad, NULL, m, v, lr_scale, beta1, beta2, eps, weight_decay, 1.0f, 1.0f,
                                                                       schedule);
    return t4j_launched();
}

} /* extern "C" */
