/* quant_portable: the int8 kernels' portable level in plain C (quant.c has the driver, the packing and the
 * epilogues these store through; ARCHITECTURE.md, "Numerics"). */
#include <float.h>
#include <math.h>

#include "internal.h"

/* One row: absmax, scale, then q = rint(x / scale) (the default rounding mode is half to even). A row
 * holding a NaN or an infinity gets scale NaN on every level (its q are 0 and its outputs NaN): fmaxf
 * would drop a NaN here while max_ps keeps or drops it by operand order. */
static float quantize_row_portable(int64_t k, const float *x, int8_t *q, int32_t offset) {
    float absmax = 0.0f;
    int nonfinite = 0;
    for (int64_t p = 0; p < k; p++) {
        float a = fabsf(x[p]);
        nonfinite |= !(a <= FLT_MAX);
        absmax = fmaxf(absmax, a);
    }
    float scale = nonfinite ? NAN : absmax / 127.0f;
    for (int64_t p = 0; p < k; p++) {
        float v = scale > 0.0f ? nearbyintf(x[p] / scale) : 0.0f;
        v = fminf(fmaxf(v, -127.0f), 127.0f);
        q[p] = (int8_t)(uint8_t)((int32_t)v + offset);
    }
    return scale;
}

static void kernel_portable(int64_t quads, const uint8_t *x, int64_t ldx, int64_t rows, const int8_t *panel, const t4j_int8_out *o) {
    int32_t acc[2 * T4J_Q8_PANEL] = {0};
    for (int64_t i = 0; i < rows; i++) {
        const int8_t *xi = (const int8_t *)(x + i * ldx);
        for (int64_t q = 0; q < quads; q++) {
            const int8_t *b = panel + q * 4 * T4J_Q8_PANEL;
            for (int j = 0; j < T4J_Q8_PANEL; j++)
                for (int t = 0; t < 4; t++) acc[i * T4J_Q8_PANEL + j] += (int32_t)xi[4 * q + t] * b[j * 4 + t];
        }
    }
    t4j_int8_store_tile(acc, 0, o);
}

static void kernel24_portable(int64_t octets, const uint8_t *x, int64_t ldx, int64_t rows, const int8_t *panel, const t4j_int8_out *o) {
    int32_t acc[2 * T4J_Q8_PANEL] = {0};
    for (int64_t i = 0; i < rows; i++) {
        const int8_t *xi = (const int8_t *)(x + i * ldx);
        for (int64_t q = 0; q < octets; q++) {
            const int8_t *b = panel + q * 8 * T4J_Q8_PANEL, *pos = b + 4 * T4J_Q8_PANEL;
            for (int j = 0; j < T4J_Q8_PANEL; j++)
                for (int t = 0; t < 4; t++) acc[i * T4J_Q8_PANEL + j] += (int32_t)xi[8 * q + pos[j * 4 + t]] * b[j * 4 + t];
        }
    }
    t4j_int8_store_tile(acc, 0, o);
}

static void weight_only_portable(int64_t k, const float *x, int64_t ldx, int64_t rows, const int8_t *panel, const t4j_int8_out *o) {
    float acc[2 * T4J_Q8_PANEL] = {0};
    for (int64_t i = 0; i < rows; i++)
        for (int64_t p = 0; p < k; p++) {
            const int8_t *b = panel + (p / 4) * 4 * T4J_Q8_PANEL + p % 4;
            float xv = x[i * ldx + p];
            for (int j = 0; j < T4J_Q8_PANEL; j++) acc[i * T4J_Q8_PANEL + j] += xv * (float)b[j * 4];
        }
    t4j_int8w_store_tile(acc, o);
}

int64_t t4j_peak_int8_portable(int64_t iterations) {
    int32_t acc[16] = {0};
    for (int64_t it = 0; it < iterations; it++)
        for (int l = 0; l < 16; l++) acc[l] += (int32_t)(int8_t)(l + it) * (int32_t)(int8_t)(3 - l);
    volatile int32_t sink = acc[0] + acc[15];
    (void)sink;
    return iterations * 16 * 2;
}

const t4j_int8_impl t4j_int8_portable = {"portable", quantize_row_portable, 2, 0, kernel_portable, 2, weight_only_portable, 2, kernel24_portable,
                                           t4j_peak_int8_portable};
