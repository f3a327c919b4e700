/* Sequence ops for text models (BERT's): attention of any length with a padding mask over q, k, v of their own
 * row strides, embedding rows gathered by id and their gradient scattered back, and GELU's erf form. Every sum
 * runs in a fixed order (block trees, or one thread's loop), so a run gives the same bits every time. */
#include "common.cuh"

#define INV_SQRT2 0.70710678118654752f
#define INV_SQRT_2PI 0.39894228040143268f

__global__ void gelu_erf_forward_kernel(int64_t n, const float *x, float *y) {
    T4J_FOR_EACH(i, n) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * INV_SQRT2));
}

__global__ void gelu_erf_backward_kernel(int64_t n, const float *x, const float *dy, float *dx) {
    T4J_FOR_EACH(i, n) {
        float v = x[i];
        /* Φ(v) = erfc(-v/√2)/2: 1 + erf(v/√2) cancels left of -4, where 1 + erff left the slope a relative error of
         * 1.6e-3 at -5 and 2.8e-2 at -6 (ARCHITECTURE.md "Numerics") */
        dx[i] += dy[i] * (0.5f * erfcf(-v * INV_SQRT2) + v * INV_SQRT_2PI * expf(-0.5f * v * v));
    }
}

/* y [n, d] += table[ids[i]] for each row i */
/* ids in device memory are not checked on the host: a row whose id is outside [0, rows) gets NaN, never a stray read */
__global__ void gather_rows_add_kernel(int64_t n, int64_t d, const int32_t *ids, int64_t rows, const float *table, float *y) {
    T4J_FOR_EACH_CELL(i, j, n, d) {
        int64_t id = ids[i];
        y[i * d + j] += id >= 0 && id < rows ? table[id * d + j] : NAN;
    }
}

/* dtable[ids[i]] += dy [n, d]: a thread per column adds the rows in order (no atomics: the same sums every run) */
__global__ void scatter_rows_add_kernel(int64_t n, int64_t d, const int32_t *ids, int64_t rows, const float *dy, float *dtable) {
    T4J_FOR_EACH(j, d) for (int64_t i = 0; i < n; i++) {
        int64_t id = ids[i];
        if (id >= 0 && id < rows) dtable[id * d + j] += dy[i * d + j]; /* an id out of range adds nowhere */
    }
}

/* One block per query row r = (b·heads + h)·seq + i: scores of its keys (those past lengths[b] masked to exactly 0),
 * the softmax, probs [batch, heads, seq, seq] saved, and the row of out = P V. Head h is columns [h·dh, (h+1)·dh). */
__global__ void attention_rows_forward_kernel(int64_t seq, int heads, int64_t dh, const float *q, int64_t ldq, const float *k, int64_t ldk,
                                              const float *v, int64_t ldv, float scale, const int32_t *lengths, float *probs, float *out,
                                              int64_t ldo) {
    extern __shared__ float s[];
    int64_t r = blockIdx.x, i = r % seq, bh = r / seq, h = bh % heads, b = bh / heads;
    int64_t len = lengths != NULL && lengths[b] < seq ? lengths[b] : seq; /* lengths on the device are not checked on the host: none reads past seq */
    const float *qi = q + (b * seq + i) * ldq + h * dh;
    float mx = -INFINITY;
    for (int64_t j = threadIdx.x; j < seq; j += blockDim.x) {
        float score = -INFINITY;
        if (j < len) {
            const float *kj = k + (b * seq + j) * ldk + h * dh;
            float dot = 0.0f;
            for (int64_t c = 0; c < dh; c++) dot += qi[c] * kj[c];
            score = dot * scale;
        }
        s[j] = score;
        mx = fmaxf(mx, score);
    }
    mx = t4j_block_max(mx);
    float sum = 0.0f;
    for (int64_t j = threadIdx.x; j < seq; j += blockDim.x) {
        float e = j < len ? expf(s[j] - mx) : 0.0f;
        s[j] = e;
        sum += e;
    }
    sum = t4j_block_sum(sum);
    float *pr = probs + r * seq;
    for (int64_t j = threadIdx.x; j < seq; j += blockDim.x) pr[j] = s[j] = s[j] / sum;
    __syncthreads();
    float *oi = out + (b * seq + i) * ldo + h * dh;
    for (int64_t c = threadIdx.x; c < dh; c += blockDim.x) {
        float acc = 0.0f;
        for (int64_t j = 0; j < len; j++) acc += s[j] * v[(b * seq + j) * ldv + h * dh + c];
        oi[c] = acc;
    }
}

/* Backward, part 1, one block per query row: dP = dO Vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)) kept in ds, dq += scale·dS K. */
__global__ void attention_rows_dq_kernel(int64_t seq, int heads, int64_t dh, const float *k, int64_t ldk, const float *v, int64_t ldv, float scale,
                                         const float *probs, const float *dout, int64_t lddo, float *ds, float *dq, int64_t lddq) {
    extern __shared__ float s[];
    int64_t r = blockIdx.x, i = r % seq, bh = r / seq, h = bh % heads, b = bh / heads;
    const float *go = dout + (b * seq + i) * lddo + h * dh, *pr = probs + r * seq;
    float dot_sum = 0.0f;
    for (int64_t j = threadIdx.x; j < seq; j += blockDim.x) {
        const float *vj = v + (b * seq + j) * ldv + h * dh;
        float dp = 0.0f;
        for (int64_t c = 0; c < dh; c++) dp += go[c] * vj[c];
        s[j] = dp;
        dot_sum += dp * pr[j];
    }
    dot_sum = t4j_block_sum(dot_sum);
    float *dsr = ds + r * seq;
    for (int64_t j = threadIdx.x; j < seq; j += blockDim.x) dsr[j] = s[j] = pr[j] * (s[j] - dot_sum);
    __syncthreads();
    float *gq = dq + (b * seq + i) * lddq + h * dh;
    for (int64_t c = threadIdx.x; c < dh; c += blockDim.x) {
        float acc = 0.0f;
        for (int64_t j = 0; j < seq; j++) acc += s[j] * k[(b * seq + j) * ldk + h * dh + c];
        gq[c] += scale * acc;
    }
}

/* Backward, part 2, one block per key row j: dk += scale·dSᵀ Q, dv += Pᵀ dO (the query rows summed in order). */
__global__ void attention_rows_dkv_kernel(int64_t seq, int heads, int64_t dh, const float *q, int64_t ldq, float scale, const float *probs,
                                          const float *ds, const float *dout, int64_t lddo, float *dk, int64_t lddk, float *dv, int64_t lddv) {
    int64_t r = blockIdx.x, j = r % seq, bh = r / seq, h = bh % heads, b = bh / heads;
    const float *pb = probs + bh * seq * seq, *db = ds + bh * seq * seq;
    for (int64_t c = threadIdx.x; c < dh; c += blockDim.x) {
        float gk = 0.0f, gv = 0.0f;
        for (int64_t i = 0; i < seq; i++) {
            gk += db[i * seq + j] * q[(b * seq + i) * ldq + h * dh + c];
            gv += pb[i * seq + j] * dout[(b * seq + i) * lddo + h * dh + c];
        }
        dk[(b * seq + j) * lddk + h * dh + c] += scale * gk;
        dv[(b * seq + j) * lddv + h * dh + c] += gv;
    }
}

static unsigned seq_threads(int64_t n) { return n >= 128 ? 128 : 32; }

extern "C" {

int32_t t4j_cuda_gelu_erf_forward(int64_t n, const float *x, float *y, void *stream) {
    gelu_erf_forward_kernel<<<t4j_blocks(n), T4J_BLOCK, 0, t4j_stream(stream)>>>(n, x, y);
    return t4j_launched();
}

int32_t t4j_cuda_gelu_erf_backward(int64_t n, const float *x, const float *dy, float *dx, void *stream) {
    gelu_erf_backward_kernel<<<t4j_blocks(n), T4J_BLOCK, 0, t4j_stream(stream)>>>(n, x, dy, dx);
    return t4j_launched();
}

int32_t t4j_cuda_gather_rows_add(int64_t n, int64_t d, const int32_t *ids, int64_t rows, const float *table, float *y, void *stream) {
    if (n == 0 || d == 0) return 0;
    gather_rows_add_kernel<<<t4j_grid2d(n, d), T4J_BLOCK, 0, t4j_stream(stream)>>>(n, d, ids, rows, table, y);
    return t4j_launched();
}

int32_t t4j_cuda_scatter_rows_add(int64_t n, int64_t d, const int32_t *ids, int64_t rows, const float *dy, float *dtable, void *stream) {
    if (n == 0 || d == 0) return 0;
    scatter_rows_add_kernel<<<t4j_blocks(d), T4J_BLOCK, 0, t4j_stream(stream)>>>(n, d, ids, rows, dy, dtable);
    return t4j_launched();
}

int32_t t4j_cuda_attention_rows_forward(int32_t batch, int32_t heads, int64_t seq, int64_t dh, const float *q, int64_t ldq, const float *k,
                                        int64_t ldk, const float *v, int64_t ldv, float scale, const int32_t *lengths, float *probs, float *out,
                                        int64_t ldo, void *stream) {
    int64_t rows = (int64_t)batch * heads * seq;
    if (rows == 0) return 0;
    attention_rows_forward_kernel<<<(unsigned)rows, seq_threads(seq), seq * sizeof(float), t4j_stream(stream)>>>(seq, heads, dh, q, ldq, k, ldk, v, ldv,
                                                                                                           scale, lengths, probs, out, ldo);
    return t4j_launched();
}

int32_t t4j_cuda_attention_rows_backward(int32_t batch, int32_t heads, int64_t seq, int64_t dh, const float *q, int64_t ldq, const float *k,
                                         int64_t ldk, const float *v, int64_t ldv, float scale, const float *probs, const float *dout, int64_t lddo,
                                         float *dq, int64_t lddq, float *dk, int64_t lddk, float *dv, int64_t lddv, void *stream) {
    int64_t rows = (int64_t)batch * heads * seq;
    if (rows == 0) return 0;
    float *ds = NULL; /* dS [batch, heads, seq, seq]: stream-ordered scratch, freed in stream order */
    cudaError_t e = cudaMallocAsync((void **)&ds, (size_t)(rows * seq) * sizeof(float), t4j_stream(stream));
    if (e != cudaSuccess) return t4j_status(e);
    attention_rows_dq_kernel<<<(unsigned)rows, seq_threads(seq), seq * sizeof(float), t4j_stream(stream)>>>(seq, heads, dh, k, ldk, v, ldv, scale,
                                                                                                      probs, dout, lddo, ds, dq, lddq);
    attention_rows_dkv_kernel<<<(unsigned)rows, seq_threads(dh), 0, t4j_stream(stream)>>>(seq, heads, dh, q, ldq, scale, probs, ds, dout, lddo, dk, lddk,
                                                                                        dv, lddv);
    int32_t rc = t4j_launched();
    cudaFreeAsync(ds, t4j_stream(stream));
    return rc;
}

} /* extern "C" */
