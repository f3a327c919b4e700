/* ops: the exported training-step ops, each calling its SIMD level's table (ops_kernels.inc, internal.h). */
#include "internal.h"

/* The table of the current SIMD level. */
static inline const t4j_ops_impl *ops(void) {
    int32_t level = t4j_simd_level();
    return T4J_LEVEL_TABLE(t4j_ops_, level);
}

T4J_EXPORT void t4j_add(int64_t n, const float *a, const float *b, float *y) { ops()->add(n, a, b, y); }
T4J_EXPORT void t4j_axpy(int64_t n, float alpha, const float *x, float *y) { ops()->axpy(n, alpha, x, y); }
T4J_EXPORT void t4j_scale(int64_t n, float alpha, float *y) { ops()->scale(n, alpha, y); }
T4J_EXPORT void t4j_mul_row(int64_t m, int64_t n, const float *row, float *y) { ops()->mul_row(m, n, row, y); }
T4J_EXPORT void t4j_relu_forward(int64_t n, const float *x, float *y) { ops()->relu_forward(n, x, y); }
T4J_EXPORT void t4j_relu_backward(int64_t n, const float *x, const float *dy, float *dx) { ops()->relu_backward(n, x, dy, dx); }
T4J_EXPORT void t4j_log_softmax_forward(int64_t m, int64_t n, const float *x, float *y) { ops()->log_softmax_forward(m, n, x, y); }
T4J_EXPORT void t4j_log_softmax_backward(int64_t m, int64_t n, const float *y, const float *dy, float *dx) {
    ops()->log_softmax_backward(m, n, y, dy, dx);
}
T4J_EXPORT void t4j_add_row(int64_t m, int64_t n, const float *row, float *y) { ops()->add_row(m, n, row, y); }
T4J_EXPORT void t4j_low_rank_add(int64_t m, int64_t n, int64_t r, const float *h, const float *bt, float scale, float *y, int64_t ldy) {
    ops()->low_rank_add(m, n, r, h, bt, scale, y, ldy);
}
T4J_EXPORT void t4j_sum_rows(int64_t m, int64_t n, const float *x, float *out) { ops()->sum_rows(m, n, x, out); }
T4J_EXPORT double t4j_sum_squares(int64_t n, const float *x) { return ops()->sum_squares(n, x); }
T4J_EXPORT void t4j_sum_rows_product(int64_t m, int64_t n, const float *a, const float *b, float *out) {
    ops()->sum_rows_product(m, n, a, b, out);
}
T4J_EXPORT void t4j_row_squares(int64_t m, int64_t n, const float *x, float *out) { ops()->row_squares(m, n, x, out); }
T4J_EXPORT void t4j_gelu_forward(int64_t n, const float *x, float *y, int32_t exact) { ops()->gelu_forward(n, x, y, exact); }
void t4j_gelu_rows(int64_t m, int64_t n, float *y, int64_t ldy, int32_t exact) { ops()->gelu_rows(m, n, y, ldy, exact); }
T4J_EXPORT void t4j_gelu_backward(int64_t n, const float *x, const float *dy, float *dx, int32_t exact, int32_t accumulate) {
    ops()->gelu_backward(n, x, dy, dx, exact, accumulate);
}
T4J_EXPORT void t4j_softmax_forward(int64_t m, int64_t n, const float *x, float *y) { ops()->softmax_forward(m, n, x, y); }
T4J_EXPORT void t4j_softmax_backward(int64_t m, int64_t n, const float *y, const float *dy, float *dx) {
    ops()->softmax_backward(m, n, y, dy, dx);
}
T4J_EXPORT void t4j_layer_norm_forward(int64_t m, int64_t n, const float *x, const float *gamma, const float *beta, float eps, float *y, float *mean, float *rstd) {
    ops()->layer_norm_forward(m, n, x, gamma, beta, eps, y, mean, rstd);
}
T4J_EXPORT void t4j_add_layer_norm_forward(int64_t m, int64_t n, const float *x, const float *r, const float *gamma, const float *beta, float eps, float *y, float *mean, float *rstd) {
    ops()->add_layer_norm_forward(m, n, x, r, gamma, beta, eps, y, mean, rstd);
}
T4J_EXPORT void t4j_layer_norm_backward(int64_t m, int64_t n, const float *x, const float *gamma, const float *mean, const float *rstd, const float *dy, float *dx, float *dgamma, float *dbeta, int32_t accumulate) {
    ops()->layer_norm_backward(m, n, x, gamma, mean, rstd, dy, dx, dgamma, dbeta, accumulate);
}
T4J_EXPORT float t4j_cross_entropy_forward(int64_t m, int64_t n, const float *logits, const int32_t *labels, float smoothing, float *probs) {
    return ops()->cross_entropy_forward(m, n, logits, labels, smoothing, probs);
}
T4J_EXPORT void t4j_cross_entropy_backward(int64_t m, int64_t n, const float *probs, const int32_t *labels, float smoothing, float dloss, float *dlogits) {
    ops()->cross_entropy_backward(m, n, probs, labels, smoothing, dloss, dlogits);
}
T4J_EXPORT void t4j_attention_forward(int64_t batch, int64_t heads, int64_t seq, int64_t dh, const float *q, const float *k, const float *v, int64_t ld, float scale, const int32_t *lengths, float *probs, float *out, int64_t ldo) {
    ops()->attention_forward(batch, heads, seq, dh, q, k, v, ld, scale, lengths, probs, out, ldo);
}
T4J_EXPORT void t4j_attention_backward(int64_t batch, int64_t heads, int64_t seq, int64_t dh, const float *q, const float *k, const float *v, int64_t ld, float scale, const float *probs, const float *dout, int64_t ldo, float *dq, float *dk, float *dv, int32_t accumulate) {
    ops()->attention_backward(batch, heads, seq, dh, q, k, v, ld, scale, probs, dout, ldo, dq, dk, dv, accumulate);
}
T4J_EXPORT void t4j_gather_rows_add(int64_t n, int64_t d, const int32_t *ids, const float *table, float *y) { ops()->gather_rows_add(n, d, ids, table, y); }
T4J_EXPORT void t4j_scatter_rows_add(int64_t n, int64_t d, const int32_t *ids, const float *dy, float *dtable) { ops()->scatter_rows_add(n, d, ids, dy, dtable); }
T4J_EXPORT void t4j_adamw_step(int64_t n, float *param, const float *grad, float *m, float *v, float lr, float beta1, float beta2, float eps, float weight_decay, int64_t step) {
    ops()->adamw_step(n, param, grad, m, v, lr, beta1, beta2, eps, weight_decay, step);
}
T4J_EXPORT void t4j_sgd_step(int64_t n, float *param, const float *grad, float *buf, float lr, float momentum, float dampening, float weight_decay, int32_t nesterov, int32_t first_step) {
    ops()->sgd_step(n, param, grad, buf, lr, momentum, dampening, weight_decay, nesterov, first_step);
}
