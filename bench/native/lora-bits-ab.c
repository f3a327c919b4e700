/* Two libtune4j.so builds on the LoRA layer, bit for bit: t4j_lora_forward and t4j_lora_backward (h, y, dx, dA, dB) over
 * a table of shapes (MiniLM's, odd sizes, ranks up to 900 so that whole K blocks lie in the low-rank segment), at every
 * SIMD level, on 1 and 2 threads, with and without a dropout mask. Prints each output that differs; exits 1 if any does.
 *
 *   lora-bits-ab LIB_A LIB_B (gemm-variants.sh builds them) */
#include <stdint.h>
#include <string.h>
#include "ab.h"
typedef int32_t (*lf_fn)(int64_t, int64_t, int64_t, int64_t, const float *, const float *, const float *, const float *, const float *, const float *, float, float *, float *);
typedef int32_t (*lb_fn)(int64_t, int64_t, int64_t, int64_t, const float *, const float *, const float *, const float *, const float *, float, const float *, const float *, float *,
                         float *, float *);
/* n values in [-0.1, 0.1) from a seeded LCG */
static float *mat(int64_t n, uint32_t seed) {
    float *p = malloc((size_t)n * 4);
    if (p == NULL) exit(1);
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 0.2f;
    }
    return p;
}
int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: lora-bits-ab LIB_A LIB_B\n");
        return 2;
    }
    lf_fn lf[2];
    lb_fn lb[2];
    threads_fn th[2];
    level_fn lv[2];
    for (int l = 0; l < 2; l++) {
        void *h = open_copy("lora-bits-ab", argv[1 + l], l);
        lf[l] = (lf_fn)dlsym(h, "t4j_lora_forward");
        lb[l] = (lb_fn)dlsym(h, "t4j_lora_backward");
        th[l] = (threads_fn)dlsym(h, "t4j_set_num_threads");
        lv[l] = (level_fn)dlsym(h, "t4j_set_simd_level");
    }
    /* t, d_in, d_out, r */
    static const int64_t shapes[][4] = {{2048, 384, 384, 8}, {128, 384, 384, 16}, {1024, 384, 1536, 8}, {300, 1536, 384, 8}, {197, 768, 768, 16},
                                        {129, 1040, 520, 16}, {17, 64, 48, 4}, {25, 100, 70, 3}, {513, 385, 129, 1}, {64, 2000, 96, 16},
                                        {31, 7, 9, 2}, {300, 64, 96, 200}, {257, 520, 300, 900}, {130, 1000, 200, 700}};
    const int nshapes = (int)(sizeof shapes / sizeof shapes[0]);
    int compared = 0, differ = 0, top = 2; /* the highest level both libraries run here (no AVX-512 on an AVX2-only CPU) */
    while (top > 0 && (lv[0](top) != top || lv[1](top) != top)) top--;
    for (int s = 0; s < nshapes; s++)
        for (int level = 0; level <= top; level++)
            for (int threads = 1; threads <= 2; threads++)
                for (int masked = 0; masked <= 1; masked++) {
                    int64_t t = shapes[s][0], di = shapes[s][1], dout = shapes[s][2], r = shapes[s][3];
                    float *x = mat(t * di, 1), *w = mat(dout * di, 2), *a = mat(r * di, 3), *b = mat(dout * r, 4), *g = mat(t * dout, 5);
                    float *bias = mat(dout, 6), *mask = mat(t * di, 7);
                    for (int64_t i = 0; i < t * di; i++) mask[i] = mask[i] > 0 ? 2.0f : 0.0f;
                    const int64_t n[5] = {t * r, t * dout, t * di, r * di, dout * r};
                    static const char *name[5] = {"h", "y", "dx", "dA", "dB"};
                    float *out[2][5];
                    for (int l = 0; l < 2; l++) {
                        th[l](threads);
                        if (lv[l](level) != level) {
                            printf("level %d not available\n", level);
                            return 2;
                        }
                        for (int q = 0; q < 5; q++) out[l][q] = mat(n[q], 8 + q);
                        if (lf[l](t, di, dout, r, x, masked ? mask : NULL, w, bias, a, b, 0.75f, out[l][0], out[l][1]) != 0 ||
                            lb[l](t, di, dout, r, x, masked ? mask : NULL, w, a, b, 0.75f, out[l][0], g, out[l][2], out[l][3], out[l][4]) != 0) {
                            printf("%s failed at %ld x %ld x %ld rank %ld\n", argv[1 + l], (long)t, (long)di, (long)dout, (long)r);
                            return 2;
                        }
                    }
                    for (int q = 0; q < 5; q++) {
                        compared++;
                        if (memcmp(out[0][q], out[1][q], (size_t)n[q] * 4) != 0) {
                            differ++;
                            printf("%s differs: t %ld d_in %ld d_out %ld rank %ld, level %d, %d threads%s\n", name[q], (long)t, (long)di, (long)dout, (long)r,
                                   level, threads, masked ? ", masked" : "");
                        }
                        free(out[0][q]);
                        free(out[1][q]);
                    }
                    free(x), free(w), free(a), free(b), free(g), free(bias), free(mask);
                }
    printf("%d outputs compared, %d differ\n", compared, differ);
    return differ != 0;
}
