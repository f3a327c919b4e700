/* The pieces a ViT training step needs beyond the elementwise and row kernels: bias rows, strided row
 * copies (the class tokens), a column gather (images into patches), token assembly, short-sequence attention forward and backward, and the
 * global gradient norm for clipping without a trip to the host. */
#include <math.h>

#include "common.cuh"

/* The attention kernels keep one head of one sequence in shared memory: q, k, v [seq, dh] and the scores
 * [seq, seq], so seq and dh are bounded (checked in Java against T4J_CUDA_ATTN_MAX_*). */

__global__ void add_row_kernel(int64_t m, int64_t n, const float *row, float *y, int64_t ldy) {
    T4J_FOR_EACH_CELL(i, j, m, n) y[i * ldy + j] += row[j];
}

__global__ void copy_2d_kernel(int64_t rows, int64_t cols, const float *src, int64_t lds, float *dst, int64_t ldd) {
    T4J_FOR_EACH_CELL(i, j, rows, cols) dst[i * ldd + j] = src[i * lds + j];
}

__global__ void gather_columns_kernel(int64_t m, int64_t n, const float *src, int64_t lds, const int32_t *index, float *dst, int64_t ldd) {
    T4J_FOR_EACH_CELL(i, j, m, n) {
        int32_t k = index[j]; /* an index in device memory is not checked on the host: one out of range gives NaN, never a stray read */
        dst[i * ldd + j] = k >= 0 && k < n ? src[i * lds + k] : NAN;
    }
}

/* x [batch·(p+1), d]: row 0 of each sequence is cls, rows 1..p its embedded patches, plus pos [p+1, d]. */
__global__ void vit_tokens_kernel(int64_t batch, int64_t p, int64_t d, const float *emb, const float *cls, const float *pos, float *x) {
    int64_t seq = p + 1;
    T4J_FOR_EACH_CELL(row, j, batch * seq, d) {
        int64_t b = row / seq, t = row % seq;
        float v = t == 0 ? cls[j] : emb[(b * p + t - 1) * d + j];
        x[row * d + j] = v + pos[t * d + j];
    }
}

/* One block per (sequence, head). qkv [batch·seq, 3·heads·dh] holds q | k | v; head h is columns
 * [h·dh, (h+1)·dh) of each. probs [batch, heads, seq, seq]; out [batch·seq, heads·dh]. */
__global__ void attention_forward_kernel(int seq, int heads, int dh, const float *qkv, float scale, float *probs, float *out) {
    extern __shared__ float sh[];
    float *q = sh, *k = q + seq * dh, *v = k + seq * dh, *s = v + seq * dh;
    int b = blockIdx.x / heads, h = blockIdx.x % heads;
    int64_t d = (int64_t)heads * dh, ld = 3 * d;
    const float *base = qkv + (int64_t)b * seq * ld + h * dh;
    for (int e = threadIdx.x; e < seq * dh; e += blockDim.x) {
        int t = e / dh, c = e % dh;
        q[e] = base[t * ld + c];
        k[e] = base[t * ld + d + c];
        v[e] = base[t * ld + 2 * d + c];
    }
    __syncthreads();
    for (int e = threadIdx.x; e < seq * seq; e += blockDim.x) {
        int i = e / seq, j = e % seq;
        float dot = 0.0f;
        for (int c = 0; c < dh; c++) dot += q[i * dh + c] * k[j * dh + c];
        s[e] = dot * scale;
    }
    __syncthreads();
    float *pr = probs + (int64_t)blockIdx.x * seq * seq;
    for (int i = threadIdx.x; i < seq; i += blockDim.x) { /* one thread per row: rows are short */
        float mx = -INFINITY, sum = 0.0f;
        for (int j = 0; j < seq; j++) mx = fmaxf(mx, s[i * seq + j]);
        for (int j = 0; j < seq; j++) sum += s[i * seq + j] = expf(s[i * seq + j] - mx);
        for (int j = 0; j < seq; j++) pr[i * seq + j] = s[i * seq + j] /= sum;
    }
    __syncthreads();
    float *o = out + (int64_t)b * seq * d + h * dh;
    for (int e = threadIdx.x; e < seq * dh; e += blockDim.x) {
        int i = e / dh, c = e % dh;
        float acc = 0.0f;
        for (int j = 0; j < seq; j++) acc += s[i * seq + j] * v[j * dh + c];
        o[i * d + c] = acc;
    }
}

/* Backward of the above, overwriting dqkv's q | k | v columns:
 * dP = dO Vᵀ; dV = Pᵀ dO; dS = P ⊙ (dP - rowsum(dP ⊙ P)); dQ = scale dS K; dK = scale dSᵀ Q. */
__global__ void attention_backward_kernel(int seq, int heads, int dh, const float *qkv, const float *probs, const float *dout, float scale,
                                          float *dqkv) {
    extern __shared__ float sh[];
    float *q = sh, *k = q + seq * dh, *v = k + seq * dh, *go = v + seq * dh, *p = go + seq * dh, *ds = p + seq * seq;
    int b = blockIdx.x / heads, h = blockIdx.x % heads;
    int64_t d = (int64_t)heads * dh, ld = 3 * d;
    const float *base = qkv + (int64_t)b * seq * ld + h * dh;
    const float *gbase = dout + (int64_t)b * seq * d + h * dh;
    const float *pr = probs + (int64_t)blockIdx.x * seq * seq;
    for (int e = threadIdx.x; e < seq * dh; e += blockDim.x) {
        int t = e / dh, c = e % dh;
        q[e] = base[t * ld + c];
        k[e] = base[t * ld + d + c];
        v[e] = base[t * ld + 2 * d + c];
        go[e] = gbase[t * d + c];
    }
    for (int e = threadIdx.x; e < seq * seq; e += blockDim.x) p[e] = pr[e];
    __syncthreads();
    for (int e = threadIdx.x; e < seq * seq; e += blockDim.x) { /* dP */
        int i = e / seq, j = e % seq;
        float dot = 0.0f;
        for (int c = 0; c < dh; c++) dot += go[i * dh + c] * v[j * dh + c];
        ds[e] = dot;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < seq; i += blockDim.x) { /* dS, a row per thread */
        float r = 0.0f;
        for (int j = 0; j < seq; j++) r += ds[i * seq + j] * p[i * seq + j];
        for (int j = 0; j < seq; j++) ds[i * seq + j] = p[i * seq + j] * (ds[i * seq + j] - r);
    }
    __syncthreads();
    float *gb = dqkv + (int64_t)b * seq * ld + h * dh;
    for (int e = threadIdx.x; e < seq * dh; e += blockDim.x) {
        int i = e / dh, c = e % dh;
        float dq = 0.0f, dk = 0.0f, dv = 0.0f;
        for (int j = 0; j < seq; j++) {
            dq += ds[i * seq + j] * k[j * dh + c];
            dk += ds[j * seq + i] * q[j * dh + c];
            dv += p[j * seq + i] * go[j * dh + c];
        }
        gb[i * ld + c] = scale * dq;
        gb[i * ld + d + c] = scale * dk;
        gb[i * ld + 2 * d + c] = dv;
    }
}

__global__ void sum_squares_kernel(int64_t n, const float *x, float *out) {
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += x[i] * x[i];
    s = t4j_block_sum(s);
    if (threadIdx.x == 0) out[0] = s;
}

/* out[0] = max_norm / (norm + 1e-6) when norm > max_norm, else 1 (torch.nn.utils.clip_grad_norm_); out[1] = norm. */
__global__ void clip_scale_kernel(int64_t count, const float *sums, float max_norm, float *out) {
    float ss = 0.0f;
    for (int64_t i = 0; i < count; i++) ss += sums[i];
    float norm = sqrtf(ss);
    out[0] = norm > max_norm && norm > 0.0f ? max_norm / (norm + 1e-6f) : 1.0f;
    out[1] = norm;
}

__global__ void scale_by_kernel(int64_t n, const float *factor, float *x) {
    float f = factor[0];
    T4J_FOR_EACH(i, n) x[i] *= f;
}

static size_t attention_shared(int seq, int dh, int backward) {
    return sizeof(float) * ((size_t)(backward ? 4 : 3) * seq * dh + (size_t)(backward ? 2 : 1) * seq * seq);
}

extern "C" {

int32_t t4j_cuda_add_row(int64_t m, int64_t n, const float *row, float *y, int64_t ldy, void *stream) {
    add_row_kernel<<<t4j_grid2d(m, n), T4J_BLOCK, 0, t4j_stream(stream)>>>(m, n, row, y, ldy);
    return t4j_launched();
}

int32_t t4j_cuda_copy_2d(int64_t rows, int64_t cols, const float *src, int64_t lds, float *dst, int64_t ldd, void *stream) {
    copy_2d_kernel<<<t4j_grid2d(rows, cols), T4J_BLOCK, 0, t4j_stream(stream)>>>(rows, cols, src, lds, dst, ldd);
    return t4j_launched();
}

int32_t t4j_cuda_gather_columns(int64_t m, int64_t n, const float *src, int64_t lds, const int32_t *index, float *dst, int64_t ldd, void *stream) {
    gather_columns_kernel<<<t4j_grid2d(m, n), T4J_BLOCK, 0, t4j_stream(stream)>>>(m, n, src, lds, index, dst, ldd);
    return t4j_launched();
}

int32_t t4j_cuda_vit_tokens(int64_t batch, int64_t patches, int64_t d, const float *emb, const float *cls, const float *pos, float *x, void *stream) {
    vit_tokens_kernel<<<t4j_grid2d(batch * (patches + 1), d), T4J_BLOCK, 0, t4j_stream(stream)>>>(batch, patches, d, emb, cls, pos, x);
    return t4j_launched();
}

int32_t t4j_cuda_attention_forward(int64_t batch, int64_t heads, int64_t seq, int64_t dh, const float *qkv, float scale, float *probs, float *out,
                                   void *stream) {
    attention_forward_kernel<<<(unsigned)(batch * heads), 128, attention_shared((int)seq, (int)dh, 0), t4j_stream(stream)>>>(
        (int)seq, (int)heads, (int)dh, qkv, scale, probs, out);
    return t4j_launched();
}

int32_t t4j_cuda_attention_backward(int64_t batch, int64_t heads, int64_t seq, int64_t dh, const float *qkv, const float *probs, const float *dout,
                                    float scale, float *dqkv, void *stream) {
    attention_backward_kernel<<<(unsigned)(batch * heads), 128, attention_shared((int)seq, (int)dh, 1), t4j_stream(stream)>>>(
        (int)seq, (int)heads, (int)dh, qkv, probs, dout, scale, dqkv);
    return t4j_launched();
}

int32_t t4j_cuda_sum_squares(int64_t n, const float *x, float *out, void *stream) {
    sum_squares_kernel<<<1, 1024, 0, t4j_stream(stream)>>>(n, x, out);
    return t4j_launched();
}

int32_t t4j_cuda_clip_scale(int64_t count, const float *sums, float max_norm, float *out, void *stream) {
    clip_scale_kernel<<<1, 1, 0, t4j_stream(stream)>>>(count, sums, max_norm, out);
    return t4j_launched();
}

int32_t t4j_cuda_scale_by(int64_t n, const float *factor, float *x, void *stream) {
    if (n == 0) return 0;
    scale_by_kernel<<<t4j_blocks(n), T4J_BLOCK, 0, t4j_stream(stream)>>>(n, factor, x);
    return t4j_launched();
}

} /* extern "C" */
