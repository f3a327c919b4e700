/* bert-forward-ab THREADS ROUNDS LIB...: MiniLM batch 1's whole encoder forward as its native calls, 128 tokens: for each of
 * 6 layers q, k, v = x W^T + b (384 x 384), attention (12 heads of 32), the output projection, the residual add and
 * LayerNorm, FFN up (1536 x 384), erf GELU, FFN down (384 x 1536), add and LayerNorm; each layer's weights its own (42 MB,
 * from memory as in a forward). Unlike bert-gemms-ab it has the ops between the GEMMs, so it shows what one op's split
 * among the threads costs the next. Libraries alternated in one process; median of the rounds. */
#include <stdint.h>

#include "ab.h"

typedef int32_t (*linear_fn)(int64_t, int64_t, int64_t, const float *, int64_t, const float *, int64_t, const float *, float *, int64_t);
typedef void (*attn_fn)(int64_t, int64_t, int64_t, int64_t, const float *, const float *, const float *, int64_t, float, const int32_t *, float *, float *,
                        int64_t);
typedef void (*add_fn)(int64_t, const float *, const float *, float *);
typedef void (*gelu_fn)(int64_t, const float *, float *, int32_t);
typedef void (*ln_fn)(int64_t, int64_t, const float *, const float *, const float *, float, float *, float *, float *);
typedef void (*threads_fn)(int32_t);

static float *filled(size_t n, float scale, float shift) { return ab_filled(n, 13, scale, shift); }

int main(int argc, char **argv) {
    int threads, rounds, libs;
    ab_args(argc, argv, "bert-forward-ab", &threads, &rounds, &libs);
    enum { LAYERS = 6 };
    const int64_t T = 128, D = 384, F = 1536, H = 12;
    float *wq[LAYERS], *wk[LAYERS], *wv[LAYERS], *wo[LAYERS], *w1[LAYERS], *w2[LAYERS];
    for (int l = 0; l < LAYERS; l++) {
        wq[l] = filled((size_t)(D * D), 0.001f, -0.006f);
        wk[l] = filled((size_t)(D * D), 0.001f, -0.006f);
        wv[l] = filled((size_t)(D * D), 0.001f, -0.006f);
        wo[l] = filled((size_t)(D * D), 0.001f, -0.006f);
        w1[l] = filled((size_t)(F * D), 0.001f, -0.006f);
        w2[l] = filled((size_t)(D * F), 0.001f, -0.006f);
    }
    float *bias = filled((size_t)F, 0.0f, 0.01f), *gamma = filled((size_t)D, 0.0f, 1.0f), *beta = filled((size_t)D, 0.0f, 0.0f);
    float *x = filled((size_t)(T * D), 0.1f, -0.6f), *h = filled((size_t)(T * D), 0.0f, 0.0f), *q = filled((size_t)(T * D), 0.0f, 0.0f);
    float *k = filled((size_t)(T * D), 0.0f, 0.0f), *v = filled((size_t)(T * D), 0.0f, 0.0f), *ctx = filled((size_t)(T * D), 0.0f, 0.0f);
    float *o = filled((size_t)(T * D), 0.0f, 0.0f), *f = filled((size_t)(T * F), 0.0f, 0.0f), *probs = filled((size_t)(H * T * T), 0.0f, 0.0f);
    float *mean = filled((size_t)T, 0.0f, 0.0f), *rstd = filled((size_t)T, 0.0f, 0.0f);
    linear_fn linear[16];
    attn_fn attn[16];
    add_fn add[16];
    gelu_fn gelu[16];
    ln_fn ln[16];
    for (int l = 0; l < libs; l++) {
        void *lib = open_copy("bert-forward-ab", argv[3 + l], l);
        linear[l] = (linear_fn)dlsym(lib, "t4j_linear");
        attn[l] = (attn_fn)dlsym(lib, "t4j_attention_forward");
        add[l] = (add_fn)dlsym(lib, "t4j_add");
        gelu[l] = (gelu_fn)dlsym(lib, "t4j_gelu_forward");
        ln[l] = (ln_fn)dlsym(lib, "t4j_layer_norm_forward");
        ((threads_fn)dlsym(lib, "t4j_set_num_threads"))(threads);
    }
    double *times = calloc((size_t)libs * rounds, sizeof(double));
    for (int r = 0; r < rounds; r++)
        for (int l = 0; l < libs; l++) {
            usleep(2000); /* the library before's polling threads go to sleep */
            double t0 = now();
            const float *in = x;
            for (int layer = 0; layer < LAYERS; layer++) {
                linear[l](T, D, D, in, D, wq[layer], D, bias, q, D);
                linear[l](T, D, D, in, D, wk[layer], D, bias, k, D);
                linear[l](T, D, D, in, D, wv[layer], D, bias, v, D);
                attn[l](1, H, T, D / H, q, k, v, D, 0.17677669f, NULL, probs, ctx, D);
                linear[l](T, D, D, ctx, D, wo[layer], D, bias, o, D);
                add[l](T * D, o, in, o);
                ln[l](T, D, o, gamma, beta, 1e-12f, h, mean, rstd);
                linear[l](T, F, D, h, D, w1[layer], D, bias, f, F);
                gelu[l](T * F, f, f, 1);
                linear[l](T, D, F, f, F, w2[layer], F, bias, o, D);
                add[l](T * D, o, h, o);
                ln[l](T, D, o, gamma, beta, 1e-12f, h, mean, rstd);
                in = h;
            }
            times[(size_t)l * rounds + r] = now() - t0;
        }
    ab_print_medians(times, libs, rounds, argv + 3, threads);
    return 0;
}
