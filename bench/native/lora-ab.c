/* A/B timing of libtune4j.so builds on a LoRA layer step: each round runs, with every library in turn, the frozen
 * base step (y = x Wᵀ, dx = g W: two GEMMs) and the LoRA step (t4j_lora_forward, t4j_lora_backward, rank 16 or RANK), so a
 * noisy machine slows all alike; prints each library's medians and the step / base ratio (issue 21: <= 1.10x).
 * COLD=1: 64 MiB written before each timed call, so its operands come from memory, as in a model's backward pass.
 *
 *   lora-ab THREADS ROUNDS T D_IN D_OUT LIB... (up to 8 libraries; gemm-variants.sh builds them) */
#include <stdint.h>
#include <string.h>
#include "ab.h"
typedef int32_t (*lf_fn)(int64_t, int64_t, int64_t, int64_t, const float *, const float *, const float *, const float *, const float *, const float *, float, float *, float *);
typedef int32_t (*lb_fn)(int64_t, int64_t, int64_t, int64_t, const float *, const float *, const float *, const float *, const float *, float, const float *, const float *, float *, float *, float *);
/* n floats in [-0.06, 0.06], on huge pages from 2 MiB as tune4j's host tensors */
static float *mat(int64_t n) {
    float *p = ab_alloc((size_t)n * 4, n * 4 >= (2 << 20));
    for (int64_t i = 0; i < n; i++) p[i] = (float)((i * 7) % 13) * 0.01f - 0.06f;
    return p;
}
int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: [RANK=r] [LEVEL=0|1|2] [COLD=1] lora-ab THREADS ROUNDS T D_IN D_OUT LIB...\n");
        return 2;
    }
    int threads = atoi(argv[1]), rounds = atoi(argv[2]), libs = argc - 6;
    if (libs > 8 || rounds < 1 || rounds > 256) return 2;
    int64_t t = atol(argv[3]), di = atol(argv[4]), dout = atol(argv[5]), r = getenv("RANK") != NULL ? atol(getenv("RANK")) : 16;
    gemm_fn gemm[8];
    lf_fn lf[8];
    lb_fn lb[8];
    for (int l = 0; l < libs; l++) {
        void *h = open_copy("lora-ab", argv[6 + l], l);
        gemm[l] = (gemm_fn)dlsym(h, "t4j_gemm");
        lf[l] = (lf_fn)dlsym(h, "t4j_lora_forward");
        lb[l] = (lb_fn)dlsym(h, "t4j_lora_backward");
        ((threads_fn)dlsym(h, "t4j_set_num_threads"))(threads);
        if (getenv("LEVEL") != NULL) ((int32_t(*)(int32_t))dlsym(h, "t4j_set_simd_level"))(atoi(getenv("LEVEL"))); /* 1: AVX2, 0: portable */
    }
    float *x = mat(t * di), *w = mat(dout * di), *a = mat(r * di), *b = mat(dout * r), *hh = mat(t * r), *y = mat(t * dout), *g = mat(t * dout), *dx = mat(t * di), *da = mat(r * di), *db = mat(dout * r);
    static double tb[8][256], tf[8][256], tk[8][256];
    const size_t flush_bytes = (size_t)64 << 20;
    char *flush = getenv("COLD") != NULL && atoi(getenv("COLD")) != 0 ? malloc(flush_bytes) : NULL;
#define FLUSH() (flush != NULL ? (void)memset(flush, it & 0x7f, flush_bytes) : (void)0)
    for (int it = -2; it < rounds; it++)
        for (int l = 0; l < libs; l++) {
            FLUSH();
            double t0 = now();
            gemm[l](0, 1, t, dout, di, 1, x, di, w, di, 0, y, dout); /* y = x W^T */
            double t1 = now();
            FLUSH();
            double t2 = now();
            gemm[l](0, 0, t, di, dout, 1, g, dout, w, di, 0, dx, di); /* dx = g W */
            double t3 = now();
            FLUSH();
            double t4 = now();
            lf[l](t, di, dout, r, x, NULL, w, NULL, a, b, 2, hh, y);
            double t5 = now();
            FLUSH();
            double t6 = now();
            lb[l](t, di, dout, r, x, NULL, w, a, b, 2, hh, g, dx, da, db);
            double t7 = now();
            if (it >= 0) {
                tb[l][it] = (t1 - t0) + (t3 - t2);
                tf[l][it] = t5 - t4;
                tk[l][it] = t7 - t6;
            }
        }
#undef FLUSH
    for (int l = 0; l < libs; l++) {
        double step[256];
        for (int i = 0; i < rounds; i++) step[i] = tf[l][i] + tk[l][i];
        double base = ab_median(tb[l], rounds), both = ab_median(step, rounds), fwd = ab_median(tf[l], rounds), bwd = ab_median(tk[l], rounds);
        printf("%-20s T=%ld %ldx%ld threads %d: base %.3f ms, lora step %.3f ms (fwd %.3f, bwd %.3f): %.3fx\n", argv[6 + l], (long)t, (long)di,
               (long)dout, threads, base * 1e3, both * 1e3, fwd * 1e3, bwd * 1e3, both / base);
    }
    return 0;
}
