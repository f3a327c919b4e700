/* sparse: magnitude and 2:4 pruning masks, CSR and 2:4 storage, and the dispatch of the sparse
 * products to their SIMD level (the kernels are in sparse_kernels.inc). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- masks ---- */

static void swapf(float *a, float *b) {
    float t = *a;
    *a = *b;
    *b = t;
}

/* Hoare's selection: the r-th smallest (0-based) of v[0..n), v reordered. */
static float select_rth(float *v, int64_t n, int64_t r) {
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = v[lo + (hi - lo) / 2];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot) i++;
            while (v[j] > pivot) j--;
            if (i <= j) swapf(&v[i++], &v[j--]);
        }
        if (r <= j) hi = j;
        else if (r >= i) lo = i;
        else return v[r];
    }
    return v[r];
}

/* The table of the current SIMD level. */
static inline const t4j_sparse_impl *sparse(void) {
    int32_t level = t4j_simd_level();
    return T4J_LEVEL_TABLE(t4j_sparse_, level);
}

T4J_EXPORT float t4j_magnitude_threshold(int64_t n, const float *w, int64_t count, float *scratch) {
    if (count <= 0 || n <= 0) return -1.0f; /* nothing pruned: every |w| > -1 */
    for (int64_t i = 0; i < n; i++) scratch[i] = fabsf(w[i]);
    return select_rth(scratch, n, T4J_MIN(count, n) - 1);
}

T4J_EXPORT void t4j_magnitude_mask(int64_t rows, int64_t k, const float *w, int64_t ldw, float threshold, uint8_t *mask) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t p = 0; p < k; p++) mask[i * k + p] = fabsf(w[i * ldw + p]) > threshold;
}

/* The two kept positions of a group of 4: the largest |w|, ties to the lower position; ascending. */
static void keep_two(const float *g, int *first, int *second) {
    int best = 0, next = -1;
    for (int t = 1; t < 4; t++)
        if (fabsf(g[t]) > fabsf(g[best])) best = t;
    for (int t = 0; t < 4; t++)
        if (t != best && (next < 0 || fabsf(g[t]) > fabsf(g[next]))) next = t;
    *first = T4J_MIN(best, next);
    *second = T4J_MAX(best, next);
}

T4J_EXPORT void t4j_mask_2to4(int64_t rows, int64_t k, const float *w, int64_t ldw, uint8_t *mask) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t p = 0; p < k; p += 4) {
            int a, b;
            keep_two(w + i * ldw + p, &a, &b);
            for (int t = 0; t < 4; t++) mask[i * k + p + t] = t == a || t == b;
        }
}

T4J_EXPORT void t4j_apply_mask(int64_t rows, int64_t k, float *w, int64_t ldw, const uint8_t *mask) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t p = 0; p < k; p++)
            if (!mask[i * k + p]) w[i * ldw + p] = 0.0f;
}

/* ---- storage ---- */

T4J_EXPORT int64_t t4j_csr_nnz(int64_t rows, int64_t k, const float *w, int64_t ldw) {
    int64_t nnz = 0;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t p = 0; p < k; p++) nnz += w[i * ldw + p] != 0.0f;
    return nnz;
}

T4J_EXPORT void t4j_csr_from_dense(int64_t rows, int64_t k, const float *w, int64_t ldw, int32_t index_bits, int64_t *row_ptr, void *cols, float *vals) {
    int64_t e = 0;
    row_ptr[0] = 0;
    for (int64_t i = 0; i < rows; i++) {
        for (int64_t p = 0; p < k; p++) {
            float v = w[i * ldw + p];
            if (v == 0.0f) continue;
            if (index_bits == 16) ((uint16_t *)cols)[e] = (uint16_t)p;
            else ((int32_t *)cols)[e] = (int32_t)p;
            vals[e++] = v;
        }
        row_ptr[i + 1] = e;
    }
}

/* Offsets of row j, group g in the tiled 2:4 layout (tune4j.h): of its first value, and of its meta byte. */
void t4j_sparse24_offsets(int64_t n, int64_t k, int64_t j, int64_t g, int64_t *value, int64_t *meta) {
    const int64_t R = T4J_24_ROWS, G = T4J_24_GROUPS, groups = k / 4;
    int64_t rows_b = T4J_MIN(R, n - j / R * R), groups_b = T4J_MIN(G, groups - g / G * G);
    *meta = (j / R) * R * groups + rows_b * (g / G) * G + (j % R) * groups_b + g % G;
    *value = 2 * *meta;
}

T4J_EXPORT void t4j_sparse24_compress(int64_t rows, int64_t k, const float *w, int64_t ldw, float *vals, uint8_t *meta) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t g = 0; g < k / 4; g++) {
            const float *grp = w + i * ldw + 4 * g;
            int a, b;
            keep_two(grp, &a, &b);
            int64_t vo, mo;
            t4j_sparse24_offsets(rows, k, i, g, &vo, &mo);
            vals[vo] = grp[a];
            vals[vo + 1] = grp[b];
            meta[mo] = (uint8_t)(a | (b << 2));
        }
}

/* ---- products, through the level's table (sparse_kernels.inc) ---- */


T4J_EXPORT int32_t t4j_csr_linear(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const int64_t *row_ptr, const void *cols, int32_t index_bits, const float *vals, const float *bias, int32_t activation, float *y, int64_t ldy) {
    return sparse()->sparse_linear(m, n, k, x, ldx, row_ptr, cols, index_bits, vals, NULL, bias, activation, y, ldy);
}

T4J_EXPORT int32_t t4j_sparse24_linear(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const float *vals, const uint8_t *meta, const float *bias, int32_t activation, float *y, int64_t ldy) {
    return sparse()->sparse_linear(m, n, k, x, ldx, NULL, NULL, 32, vals, meta, bias, activation, y, ldy);
}

T4J_EXPORT int32_t t4j_csr_backward_input(int64_t m, int64_t n, int64_t k, const float *g, int64_t ldg, const int64_t *row_ptr, const void *cols, int32_t index_bits, const float *vals, float *dx, int64_t lddx) {
    return sparse()->csr_backward_input(m, n, k, g, ldg, row_ptr, cols, index_bits, vals, dx, lddx);
}

T4J_EXPORT int32_t t4j_csr_grad_values(int64_t m, int64_t n, int64_t k, const float *g, int64_t ldg, const float *x, int64_t ldx, const int64_t *row_ptr, const void *cols, int32_t index_bits, float *dvals) {
    return sparse()->csr_grad_values(m, n, k, g, ldg, x, ldx, row_ptr, cols, index_bits, dvals);
}
