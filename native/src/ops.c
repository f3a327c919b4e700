/* ops: the exported training-step ops, each dispatched to its SIMD level (ops_kernels.inc). */
#include "internal.h"

#if defined(__x86_64__)
#define LEVEL_CALL(name, ...)                                               \
    switch (t4j_simd_level()) {                                             \
    case T4J_LEVEL_AVX512: return name##avx512(__VA_ARGS__);                \
    case T4J_LEVEL_AVX2: return name##avx2(__VA_ARGS__);                    \
    default: return name##portable(__VA_ARGS__);                            \
    }
#else
#define LEVEL_CALL(name, ...) return name##portable(__VA_ARGS__);
#endif

T4J_EXPORT void t4j_add(int64_t n, const float *a, const float *b, float *y) { LEVEL_CALL(t4j_add_, n, a, b, y) }
T4J_EXPORT void t4j_axpy(int64_t n, float alpha, const float *x, float *y) { LEVEL_CALL(t4j_axpy_, n, alpha, x, y) }
T4J_EXPORT void t4j_scale(int64_t n, float alpha, float *y) { LEVEL_CALL(t4j_scale_, n, alpha, y) }
T4J_EXPORT void t4j_mul_row(int64_t m, int64_t n, const float *row, float *y) { LEVEL_CALL(t4j_mul_row_, m, n, row, y) }
T4J_EXPORT void t4j_relu_forward(int64_t n, const float *x, float *y) { LEVEL_CALL(t4j_relu_forward_, n, x, y) }
T4J_EXPORT void t4j_relu_backward(int64_t n, const float *x, const float *dy, float *dx) { LEVEL_CALL(t4j_relu_backward_, n, x, dy, dx) }
T4J_EXPORT void t4j_log_softmax_forward(int64_t m, int64_t n, const float *x, float *y) { LEVEL_CALL(t4j_log_softmax_forward_, m, n, x, y) }
T4J_EXPORT void t4j_log_softmax_backward(int64_t m, int64_t n, const float *y, const float *dy, float *dx) {
    LEVEL_CALL(t4j_log_softmax_backward_, m, n, y, dy, dx)
}
T4J_EXPORT void t4j_add_row(int64_t m, int64_t n, const float *row, float *y) { LEVEL_CALL(t4j_add_row_, m, n, row, y) }
T4J_EXPORT void t4j_low_rank_add(int64_t m, int64_t n, int64_t r, const float *h, const float *bt, float scale, float *y, int64_t ldy) {
    LEVEL_CALL(t4j_low_rank_add_, m, n, r, h, bt, scale, y, ldy)
}
T4J_EXPORT void t4j_sum_rows(int64_t m, int64_t n, const float *x, float *out) { LEVEL_CALL(t4j_sum_rows_, m, n, x, out) }
T4J_EXPORT double t4j_sum_squares(int64_t n, const float *x) { LEVEL_CALL(t4j_sum_squares_, n, x) }
T4J_EXPORT void t4j_sum_rows_product(int64_t m, int64_t n, const float *a, const float *b, float *out) {
    LEVEL_CALL(t4j_sum_rows_product_, m, n, a, b, out)
}
T4J_EXPORT void t4j_row_squares(int64_t m, int64_t n, const float *x, float *out) { LEVEL_CALL(t4j_row_squares_, m, n, x, out) }
T4J_EXPORT void t4j_gelu_forward(int64_t n, const float *x, float *y, int32_t exact) { LEVEL_CALL(t4j_gelu_forward_, n, x, y, exact) }
T4J_EXPORT void t4j_gelu_backward(int64_t n, const float *x, const float *dy, float *dx, int32_t exact) {
    LEVEL_CALL(t4j_gelu_backward_, n, x, dy, dx, exact)
}
T4J_EXPORT void t4j_softmax_forward(int64_t m, int64_t n, const float *x, float *y) { LEVEL_CALL(t4j_softmax_forward_, m, n, x, y) }
T4J_EXPORT void t4j_softmax_backward(int64_t m, int64_t n, const float *y, const float *dy, float *dx) {
    LEVEL_CALL(t4j_softmax_backward_, m, n, y, dy, dx)
}
T4J_EXPORT void t4j_layernorm_forward(int64_t m, int64_t n, const float *x, const float *gamma, const float *beta, float eps, float *y, float *mean, float *rstd) {
    LEVEL_CALL(t4j_layernorm_forward_, m, n, x, gamma, beta, eps, y, mean, rstd)
}
T4J_EXPORT void t4j_layernorm_backward(int64_t m, int64_t n, const float *x, const float *gamma, const float *mean, const float *rstd, const float *dy, float *dx, float *dgamma, float *dbeta) {
    LEVEL_CALL(t4j_layernorm_backward_, m, n, x, gamma, mean, rstd, dy, dx, dgamma, dbeta)
}
T4J_EXPORT float t4j_cross_entropy_forward(int64_t m, int64_t n, const float *logits, const int32_t *labels, float smoothing, float *probs) {
    LEVEL_CALL(t4j_cross_entropy_forward_, m, n, logits, labels, smoothing, probs)
}
T4J_EXPORT void t4j_cross_entropy_backward(int64_t m, int64_t n, const float *probs, const int32_t *labels, float smoothing, float dloss, float *dlogits) {
    LEVEL_CALL(t4j_cross_entropy_backward_, m, n, probs, labels, smoothing, dloss, dlogits)
}
T4J_EXPORT void t4j_attention_forward(int64_t batch, int64_t heads, int64_t seq, int64_t dh, const float *q, const float *k, const float *v, int64_t ld, float scale, float *probs, float *out, int64_t ldo) {
    LEVEL_CALL(t4j_attention_forward_, batch, heads, seq, dh, q, k, v, ld, scale, probs, out, ldo)
}
T4J_EXPORT void t4j_attention_backward(int64_t batch, int64_t heads, int64_t seq, int64_t dh, const float *q, const float *k, const float *v, int64_t ld, float scale, const float *probs, const float *dout, int64_t ldo, float *dq, float *dk, float *dv) {
    LEVEL_CALL(t4j_attention_backward_, batch, heads, seq, dh, q, k, v, ld, scale, probs, dout, ldo, dq, dk, dv)
}
T4J_EXPORT void t4j_adamw_step(int64_t n, float *param, const float *grad, float *m, float *v, float lr, float beta1, float beta2, float eps, float weight_decay, int64_t step) {
    LEVEL_CALL(t4j_adamw_step_, n, param, grad, m, v, lr, beta1, beta2, eps, weight_decay, step)
}
T4J_EXPORT void t4j_sgd_step(int64_t n, float *param, const float *grad, float *buf, float lr, float momentum, float dampening, float weight_decay, int32_t nesterov, int32_t first_step) {
    LEVEL_CALL(t4j_sgd_step_, n, param, grad, buf, lr, momentum, dampening, weight_decay, nesterov, first_step)
}
