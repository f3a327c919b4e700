/* tune4j CUDA kernels: libtune4j_cuda.so, one flat C ABI, every symbol prefixed t4j_cuda_.
 *
 * Conventions (ARCHITECTURE.md, "The C ABI"): plain C types, row-major matrices with explicit leading
 * dimensions, sizes as int64_t. Device memory is passed as plain pointers; a stream as void* (NULL is the
 * default stream). Every kernel is launched asynchronously on its stream and returns a status: 0 when
 * the launch succeeded, else the CUDA error code (t4j_cuda_error_string names it). Nothing here
 * synchronizes with the host except t4j_cuda_stream_synchronize and the memory copies to the host.
 * Java validates every size before a call; the kernels trust their arguments.
 *
 * Results: elementwise kernels and row kernels (one block per row, a fixed reduction tree) give the
 * same bits from run to run. The CUDA runtime is linked statically: only the driver (libcuda.so.1)
 * must be present at run time. */
#ifndef TUNE4J_CUDA_H
#define TUNE4J_CUDA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define T4J_CUDA_OK 0
#define T4J_CUDA_H2D 1
#define T4J_CUDA_D2H 2
#define T4J_CUDA_D2D 3

/* ---- devices, memory, streams ---- */

/* The number of CUDA devices, or minus the CUDA error code (no driver, no device ...). */
int32_t t4j_cuda_device_count(void);
/* The driver's CUDA version (e.g. 13000), or minus the CUDA error code. */
int32_t t4j_cuda_driver_version(void);
/* The CUDA error code's name and description, into out (len bytes, NUL-terminated). */
void t4j_cuda_error_string(int32_t code, char *out, int64_t len);
/* The device's name into out (len bytes), and its compute capability as major*10+minor, or minus the error code. */
int32_t t4j_cuda_device_info(int32_t device, char *out, int64_t len);
int32_t t4j_cuda_set_device(int32_t device);
/* Free and total device memory in bytes. */
int32_t t4j_cuda_mem_info(int64_t *free_bytes, int64_t *total_bytes);
/* Allocates bytes of device memory; its address goes to address[0]. */
int32_t t4j_cuda_malloc(int64_t bytes, int64_t *address);
int32_t t4j_cuda_free(void *ptr);
/* Copies bytes; kind is T4J_CUDA_H2D, _D2H or _D2D. A copy to the host waits for the stream. */
int32_t t4j_cuda_memcpy(void *dst, const void *src, int64_t bytes, int32_t kind, void *stream);
int32_t t4j_cuda_memset_zero(void *ptr, int64_t bytes, void *stream);
/* A new non-blocking stream; its handle goes to handle[0]. */
int32_t t4j_cuda_stream_create(int64_t *handle);
int32_t t4j_cuda_stream_destroy(void *stream);
int32_t t4j_cuda_stream_synchronize(void *stream);

/* Events order work across streams without the host: a stream that waits for an event runs nothing
 * queued after the wait until the work queued before the event's record has finished. */
int32_t t4j_cuda_event_create(int64_t *handle);
int32_t t4j_cuda_event_destroy(void *event);
int32_t t4j_cuda_event_record(void *event, void *stream);
int32_t t4j_cuda_stream_wait_event(void *stream, void *event);

/* ---- CUDA graphs: a sequence of launches on a stream recorded once and replayed with one call ---- */

/* Starts recording the stream's launches instead of running them (nothing that waits for the host may follow). */
int32_t t4j_cuda_graph_begin(void *stream);
/* Stops recording and makes the executable graph; its handle goes to exec[0] (0 when recording failed). */
int32_t t4j_cuda_graph_end(void *stream, int64_t *exec);
int32_t t4j_cuda_graph_launch(void *exec, void *stream);
int32_t t4j_cuda_graph_destroy(void *exec);

/* ---- elementwise (ops.cu) ---- */

/* y = a + b */
int32_t t4j_cuda_add(int64_t n, const float *a, const float *b, float *y, void *stream);
/* y = a ⊙ b (a dropout mask applied) */
int32_t t4j_cuda_mul(int64_t n, const float *a, const float *b, float *y, void *stream);
/* y += alpha x */
int32_t t4j_cuda_axpy(int64_t n, float alpha, const float *x, float *y, void *stream);
/* y = GELU(x), tanh form */
int32_t t4j_cuda_gelu_forward(int64_t n, const float *x, float *y, void *stream);
/* dx += GELU'(x) dy */
int32_t t4j_cuda_gelu_backward(int64_t n, const float *x, const float *dy, float *dx, void *stream);
/* bf16 (as uint16_t, round to nearest even) from f32, and back */
int32_t t4j_cuda_f32_to_bf16(int64_t n, const float *x, uint16_t *y, void *stream);
int32_t t4j_cuda_bf16_to_f32(int64_t n, const uint16_t *x, float *y, void *stream);
/* y[i, j] = scale x[i, j] for a rows x cols block, strided (ldx, ldy in elements); y is f32, or bf16 when bf16 != 0 (round to nearest even) */
int32_t t4j_cuda_scale_into(int64_t rows, int64_t cols, const float *x, int64_t ldx, float scale, void *y, int64_t ldy, int32_t bf16, void *stream);
/* out[0] = sum of x (one block, a fixed tree: the same bits every run) */
int32_t t4j_cuda_sum(int64_t n, const float *x, float *out, void *stream);
/* out[j] += sum over the rows i of x [m, n] of x[i, j], rows in order (a bias gradient; the same bits every run) */
int32_t t4j_cuda_sum_rows(int64_t m, int64_t n, const float *x, float *out, void *stream);

/* ---- rows (ops.cu): one block per row ---- */

/* y [m, n] = softmax of each row of x */
int32_t t4j_cuda_softmax_forward(int64_t m, int64_t n, const float *x, float *y, void *stream);
/* LayerNorm over each row: y = (x - mean) rstd gamma + beta; mean, rstd [m] saved for backward */
int32_t t4j_cuda_layer_norm_forward(int64_t m, int64_t n, const float *x, const float *gamma, const float *beta, float eps, float *y, float *mean, float *rstd, void *stream);
/* dx += ..., dgamma += ..., dbeta += ... (dgamma/dbeta through per-row partials [m, n] in scratch, then summed over rows in order) */
int32_t t4j_cuda_layer_norm_backward(int64_t m, int64_t n, const float *x, const float *gamma, const float *mean, const float *rstd, const float *dy, float *dx, float *dgamma, float *dbeta, void *stream);
/* probs = softmax(logits); losses[i] = cross-entropy of row i against labels[i], label smoothing eps */
int32_t t4j_cuda_cross_entropy_forward(int64_t m, int64_t n, const float *logits, const int32_t *labels, float smoothing, float *probs, float *losses, void *stream);
/* dlogits += scale (probs - target) */
int32_t t4j_cuda_cross_entropy_backward(int64_t m, int64_t n, const float *probs, const int32_t *labels, float smoothing, float scale, float *dlogits, void *stream);

/* Mixed-adapter LoRA per row (Punica's BGMV; tune4j.h "lora mixed"): row p uses adapter row_adapter[p] (-1: none);
 * a, b, ranks and scales are device arrays (a[i] -> A_i [r_i, d_in], b[i] -> B_i [d_out, r_i]).
 * shrink: h [t, ldh] = x A_i^T, 0 past r_i and for rows without an adapter; one thread per (row, q), the dot in order. */
int32_t t4j_cuda_lora_shrink_rows(int64_t t, const int32_t *row_adapter, int64_t d_in, const float *const *a, const int64_t *ranks, const float *x, int64_t ldx, float *h, int64_t ldh, void *stream);
/* expand: y [t, ldy] += s_i h B_i^T; one thread per (row, column), the rank in order. */
int32_t t4j_cuda_lora_expand_rows(int64_t t, const int32_t *row_adapter, int64_t d_out, const float *const *b, const int64_t *ranks, const float *scales, const float *h, int64_t ldh, float *y, int64_t ldy, void *stream);
/* y [m, n] *= row [n] on every row */
int32_t t4j_cuda_mul_row(int64_t m, int64_t n, const float *row, float *y, void *stream);
/* out [m] = each row's sum of squares of x [m, n] (one block per row, a fixed tree) */
int32_t t4j_cuda_row_squares(int64_t m, int64_t n, const float *x, float *out, void *stream);
/* out [n] += sum over the rows of a ⊙ b [m, n], rows in order */
int32_t t4j_cuda_sum_rows_product(int64_t m, int64_t n, const float *a, const float *b, float *out, void *stream);
/* y = max(x, 0), a NaN kept */
int32_t t4j_cuda_relu_forward(int64_t n, const float *x, float *y, void *stream);
/* dx += (x > 0) dy */
int32_t t4j_cuda_relu_backward(int64_t n, const float *x, const float *dy, float *dx, void *stream);
/* dx [m, n] += y ⊙ (dy − rowsum(dy ⊙ y)), y the softmax (one block per row) */
int32_t t4j_cuda_softmax_backward(int64_t m, int64_t n, const float *y, const float *dy, float *dx, void *stream);

/* ---- optimizer (ops.cu) ---- */

/* One PGD step in place: adv = clamp(clamp(adv + step_size * sign(grad), orig - epsilon, orig + epsilon), 0, 1) */
int32_t t4j_cuda_pgd_step(int64_t n, float *adv, const float *grad, const float *orig, float step_size, float epsilon, void *stream);
/* AdamW (PyTorch's semantics), step counted from 1 */
int32_t t4j_cuda_adamw_step(int64_t n, float *param, const float *grad, float *m, float *v, float lr, float beta1, float beta2, float eps, float weight_decay, int64_t step, void *stream);
/* AdamW with its rate and step read from device memory when the kernel runs (a step recorded as a CUDA graph: they change every
 * step): lr = schedule[0] * lr_scale, step = schedule[1] (a whole number, exact below 2^24) */
int32_t t4j_cuda_adamw_step_scheduled(int64_t n, float *param, const float *grad, float *m, float *v, const float *schedule, float lr_scale, float beta1, float beta2, float eps, float weight_decay, void *stream);
/* The same with the gradient multiplied by grad_scale[0], a device scalar (gradient clipping's factor, from t4j_cuda_clip_scale; NULL: 1) */
int32_t t4j_cuda_adamw_step_scaled(int64_t n, float *param, const float *grad, const float *grad_scale, float *m, float *v, float lr, float beta1, float beta2, float eps, float weight_decay, int64_t step, void *stream);

/* ---- ViT pieces (vit.cu) ---- */

/* The attention kernels keep one head of one sequence in shared memory (within the 48 KiB a block gets by default) */
#define T4J_CUDA_ATTN_MAX_SEQ 32
#define T4J_CUDA_ATTN_MAX_HEAD_DIM 64

/* out[0] = sum of x[i]^2 (one block, a fixed tree) */
int32_t t4j_cuda_sum_squares(int64_t n, const float *x, float *out, void *stream);
/* out[0] = max_norm / (norm + 1e-6) when norm = sqrt(sums[0] + ... + sums[count-1]) exceeds max_norm, else 1 (torch's clip_grad_norm_);
 * out[1] = norm */
int32_t t4j_cuda_clip_scale(int64_t count, const float *sums, float max_norm, float *out, void *stream);
/* x [n] *= factor[0], a device scalar (gradient clipping's factor) */
int32_t t4j_cuda_scale_by(int64_t n, const float *factor, float *x, void *stream);

/* y [m, n] (row stride ldy) += row [n] on every row (a bias) */
int32_t t4j_cuda_add_row(int64_t m, int64_t n, const float *row, float *y, int64_t ldy, void *stream);
/* dst[i * ldd + j] = src[i * lds + j] for a rows x cols block (strides in elements) */
int32_t t4j_cuda_copy_2d(int64_t rows, int64_t cols, const float *src, int64_t lds, float *dst, int64_t ldd, void *stream);
/* dst [m, n]: dst[i, j] = src[i, index[j]] (row strides lds, ldd; the same permutation of every row: images into rows of patches); NaN where index[j] is outside [0, n) */
int32_t t4j_cuda_gather_columns(int64_t m, int64_t n, const float *src, int64_t lds, const int32_t *index, float *dst, int64_t ldd, void *stream);
/* ViT tokens x [batch * (patches + 1), d]: each sequence is cls [d] then its embedded patches emb [batch * patches, d], plus pos [patches + 1, d] */
int32_t t4j_cuda_vit_tokens(int64_t batch, int64_t patches, int64_t d, const float *emb, const float *cls, const float *pos, float *x, void *stream);
/* Self-attention of batch sequences of seq tokens: qkv [batch * seq, 3 * heads * dh] (q | k | v, head h in columns h*dh of each),
 * probs [batch, heads, seq, seq] = softmax(scale q k^T) saved for backward, out [batch * seq, heads * dh] = probs v */
int32_t t4j_cuda_attention_forward(int64_t batch, int64_t heads, int64_t seq, int64_t dh, const float *qkv, float scale, float *probs, float *out, void *stream);
/* dqkv [batch * seq, 3 * heads * dh] = the gradient of q | k | v from dout [batch * seq, heads * dh] (overwritten, not accumulated) */
int32_t t4j_cuda_attention_backward(int64_t batch, int64_t heads, int64_t seq, int64_t dh, const float *qkv, const float *probs, const float *dout, float scale, float *dqkv, void *stream);

/* ---- sequences (seq.cu): text models' ops, every sum in a fixed order ---- */
/* Most tokens an attention row of t4j_cuda_attention_rows_* takes (its scores live in shared memory). */
#define T4J_CUDA_ATTN_ROWS_MAX_SEQ 8192
/* y = GELU(x), the erf form (BERT's "gelu") */
int32_t t4j_cuda_gelu_erf_forward(int64_t n, const float *x, float *y, void *stream);
/* dx += GELU'(x) dy, the erf form */
int32_t t4j_cuda_gelu_erf_backward(int64_t n, const float *x, const float *dy, float *dx, void *stream);
/* y [n, d] += table[ids[i]] for each row i of table [rows, d]; ids on the host are checked by the caller, on the device a row
 * whose id is outside [0, rows) gets NaN */
int32_t t4j_cuda_gather_rows_add(int64_t n, int64_t d, const int32_t *ids, int64_t rows, const float *table, float *y, void *stream);
/* dtable[ids[i]] += dy [n, d]; the rows of one id added in order; an id outside [0, rows) adds nowhere */
int32_t t4j_cuda_scatter_rows_add(int64_t n, int64_t d, const int32_t *ids, int64_t rows, const float *dy, float *dtable, void *stream);
/* Attention of batch sequences of seq tokens, heads heads of dh columns: q, k, v, out [batch·seq, heads·dh] at row strides ldq ...;
 * lengths [batch] (each in [1, seq]) or NULL: keys past lengths[b] get probability exactly 0. probs [batch, heads, seq, seq] written. */
int32_t t4j_cuda_attention_rows_forward(int32_t batch, int32_t heads, int64_t seq, int64_t dh, const float *q, int64_t ldq, const float *k, int64_t ldk, const float *v, int64_t ldv, float scale, const int32_t *lengths, float *probs, float *out, int64_t ldo, void *stream);
/* Its backward: dq, dk, dv (each at its own row stride) += the gradients from dout; masked keys have probs 0, so no mask is needed */
int32_t t4j_cuda_attention_rows_backward(int32_t batch, int32_t heads, int64_t seq, int64_t dh, const float *q, int64_t ldq, const float *k, int64_t ldk, const float *v, int64_t ldv, float scale, const float *probs, const float *dout, int64_t lddo, float *dq, int64_t lddq, float *dk, int64_t lddk, float *dv, int64_t lddv, void *stream);

/* ---- int8 (quant.cu) ---- */

/* q [m, k] int8 and scales [m]: per row, scale = absmax / 127, round half to even, values in [-127, 127]; a zero row has scale 0 */
int32_t t4j_cuda_quantize_rows(int64_t m, int64_t k, const float *x, int8_t *q, float *scales, void *stream);
/* x [m, k] = q * scales[row] */
int32_t t4j_cuda_dequantize_rows(int64_t m, int64_t k, const int8_t *q, const float *scales, float *x, void *stream);
/* y [m, n] = acc [m, n] (int32) * sx[row] * sw[col] + bias[col] (bias may be NULL): the epilogue of an int8 GEMM */
int32_t t4j_cuda_dequantize_gemm(int64_t m, int64_t n, const int32_t *acc, const float *sx, const float *sw, const float *bias, float *y, void *stream);

/* ---- sparse (sparse.cu) ---- */

/* C [n, m] = W B: W [n, k] in CSR with nnz entries (row_ptr [n+1] int64, cols int32 ascending within each row, vals f32), B [k, m] dense
 * row-major (ldb), C row-major (ldc). n below 2^31 (rows are a grid dimension). */
int32_t t4j_cuda_csr_spmm(int64_t n, int64_t k, int64_t m, int64_t nnz, const int64_t *row_ptr, const int32_t *cols, const float *vals, const float *b, int64_t ldb, float *c, int64_t ldc, void *stream);

#ifdef __cplusplus
}
#endif

#endif
