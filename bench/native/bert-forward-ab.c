/* bert-forward-ab THREADS ROUNDS LIB...: MiniLM batch 1's whole encoder forward as its native calls, 128 tokens: for each of
 * 6 layers q, k, v = x W^T + b (384 x 384), attention (12 heads of 32), the output projection, the residual add and
 * LayerNorm (one op, as BertLayer runs them), FFN up (1536 x 384), erf GELU, FFN down (384 x 1536), add and LayerNorm; each layer's weights its own (42 MB,
 * from memory as in a forward). Unlike bert-gemms-ab it has the ops between the GEMMs, so it shows what one op's split
 * among the threads costs the next. Libraries alternated in one process; median of the rounds. A library named
 * LIB:packed runs the projections on weights packed ahead (t4j_linear_pack, t4j_linear_packed), as an inference
 * model does (LIB:qkv: q, k and v packed as one product); LIB:blocks=MC,KC,NC sets that library's cache blocks
 * (t4j_gemm_set_blocks) before anything is packed; TOKENS=n runs n tokens in place of 128; HUGE=i carves the packed weights of libraries i, i + 1, ... from one region on huge pages; PER_OP=1 also prints each
 * kind of op's mean time a forward; KEEP_PROBS=1 has the attention keep its probabilities (as a training forward does;
 * by default none, as a no-grad forward: libraries from 2026-12-04 on take a NULL probs). */
#include <stdint.h>
#include <string.h>

#include "ab.h"

typedef int32_t (*linear_fn)(int64_t, int64_t, int64_t, const float *, int64_t, const float *, int64_t, const float *, float *, int64_t);
typedef int64_t (*packed_size_fn)(int64_t, int64_t);
typedef int32_t (*pack_fn)(int64_t, int64_t, const float *, int64_t, void *, int64_t);
typedef int32_t (*linear_packed_fn)(int64_t, int64_t, int64_t, const float *, int64_t, const void *, const float *, float *, int64_t);
typedef void (*attn_fn)(int64_t, int64_t, int64_t, int64_t, const float *, const float *, const float *, int64_t, float, const int32_t *, float *, float *,
                        int64_t);
typedef void (*gelu_fn)(int64_t, const float *, float *, int32_t);
typedef void (*add_ln_fn)(int64_t, int64_t, const float *, const float *, const float *, const float *, float, float *, float *, float *);

static float *filled(size_t n, float scale, float shift) { return ab_filled(n, 13, scale, shift); }

int main(int argc, char **argv) {
    int threads, rounds, libs;
    ab_args(argc, argv, "bert-forward-ab", &threads, &rounds, &libs);
    enum { LAYERS = 6 };
    const int64_t T = getenv("TOKENS") != NULL ? atoll(getenv("TOKENS")) : 128, D = 384, F = 1536, H = 12;
    enum { Q, K, V, O, UP, DOWN, MATS };
    const int64_t out_dim[MATS] = {D, D, D, D, F, D}, in_dim[MATS] = {D, D, D, D, D, F};
    float *w[LAYERS][MATS];
    for (int l = 0; l < LAYERS; l++)
        for (int j = 0; j < MATS; j++) w[l][j] = filled((size_t)(out_dim[j] * in_dim[j]), 0.001f, -0.006f);
    float *bias = filled((size_t)F, 0.0f, 0.01f), *gamma = filled((size_t)D, 0.0f, 1.0f), *beta = filled((size_t)D, 0.0f, 0.0f);
    float *x = filled((size_t)(T * D), 0.1f, -0.6f), *h = filled((size_t)(T * D), 0.0f, 0.0f), *h2 = filled((size_t)(T * D), 0.0f, 0.0f), *q = filled((size_t)(T * D), 0.0f, 0.0f);
    float *k = filled((size_t)(T * D), 0.0f, 0.0f), *v = filled((size_t)(T * D), 0.0f, 0.0f), *ctx = filled((size_t)(T * D), 0.0f, 0.0f);
    float *o = filled((size_t)(T * D), 0.0f, 0.0f), *f = filled((size_t)(T * F), 0.0f, 0.0f), *probs = filled((size_t)(H * T * T), 0.0f, 0.0f);
    float *mean = filled((size_t)T, 0.0f, 0.0f), *rstd = filled((size_t)T, 0.0f, 0.0f);
    linear_fn linear[16];
    linear_packed_fn linear_packed[16];
    void *packed[16][LAYERS][MATS];
    int fused[16];
    float *wqkv[LAYERS], *qkv = filled((size_t)(T * 3 * D), 0.0f, 0.0f);
    for (int layer = 0; layer < LAYERS; layer++) {
        wqkv[layer] = filled((size_t)(3 * D * D), 0.0f, 0.0f);
        for (int j = 0; j < 3; j++) memcpy(wqkv[layer] + j * D * D, w[layer][j], (size_t)(D * D) * sizeof(float));
    }
    char names[16][512];
    const char *labels[16];
    attn_fn attn[16];
    gelu_fn gelu[16];
    add_ln_fn add_ln[16];
    for (int l = 0; l < libs; l++) {
        snprintf(names[l], sizeof names[l], "%s", argv[3 + l]);
        labels[l] = argv[3 + l];
        /* LIB[:packed][:qkv][:blocks=MC,KC,NC]: the options after the path, in any order */
        char *opts = strchr(names[l], ':');
        int packed_opt = opts != NULL && strstr(opts, ":packed") != NULL;
        fused[l] = opts != NULL && strstr(opts, ":qkv") != NULL;
        long mc = 0, kc = 0, nc = 0;
        int blocks = opts != NULL && strstr(opts, ":blocks=") != NULL && sscanf(strstr(opts, ":blocks=") + 8, "%ld,%ld,%ld", &mc, &kc, &nc) == 3;
        const int packed_any = packed_opt || fused[l];
        if (opts != NULL) *opts = 0; /* names[l] is the path */
        void *lib = open_copy("bert-forward-ab", names[l], l);
        if (blocks && ((int32_t(*)(int64_t, int64_t, int64_t))dlsym(lib, "t4j_gemm_set_blocks"))(mc, kc, nc) != 0) {
            fprintf(stderr, "%s: blocks %ld,%ld,%ld refused\n", labels[l], mc, kc, nc);
            return 1;
        }
        linear[l] = (linear_fn)dlsym(lib, "t4j_linear");
        attn[l] = (attn_fn)dlsym(lib, "t4j_attention_forward");
        gelu[l] = (gelu_fn)dlsym(lib, "t4j_gelu_forward");
        add_ln[l] = (add_ln_fn)dlsym(lib, "t4j_add_layer_norm_forward");
        ((threads_fn)dlsym(lib, "t4j_set_num_threads"))(threads);
        linear_packed[l] = NULL;
        if (packed_any) {
            packed_size_fn size = (packed_size_fn)dlsym(lib, "t4j_linear_packed_size");
            pack_fn pack = (pack_fn)dlsym(lib, "t4j_linear_pack");
            linear_packed[l] = (linear_packed_fn)dlsym(lib, "t4j_linear_packed");
            if (size == NULL || pack == NULL || linear_packed[l] == NULL) {
                fprintf(stderr, "%s has no packed linear\n", names[l]);
                return 1;
            }
            for (int layer = 0; layer < LAYERS; layer++)
                for (int j = 0; j < MATS; j++) {
                    int64_t bytes = size(out_dim[j], in_dim[j]);
                    packed[l][layer][j] = ab_carve((size_t)bytes, ab_huge(l));
                    if (packed[l][layer][j] == NULL || pack(out_dim[j], in_dim[j], w[layer][j], in_dim[j], packed[l][layer][j], bytes) != 0) return 1;
                }
            if (fused[l])
                for (int layer = 0; layer < LAYERS; layer++) {
                    int64_t bytes = size(3 * D, D);
                    if (!ab_huge(l)) free(packed[l][layer][Q]);
                    packed[l][layer][Q] = ab_carve((size_t)bytes, ab_huge(l));
                    if (packed[l][layer][Q] == NULL || pack(3 * D, D, wqkv[layer], D, packed[l][layer][Q], bytes) != 0) return 1;
                }
        }
    }
#define PROJECT(J, X, Y) \
    (linear_packed[l] ? linear_packed[l](T, out_dim[J], in_dim[J], X, in_dim[J], packed[l][layer][J], bias, Y, out_dim[J]) \
                      : linear[l](T, out_dim[J], in_dim[J], X, in_dim[J], w[layer][J], in_dim[J], bias, Y, out_dim[J]))
    double *times = calloc((size_t)libs * rounds, sizeof(double));
    /* PER_OP=1: also each kind of op's time a forward, summed over the layers, per library (the clock read between ops) */
    enum { OP_QKV, OP_ATTN, OP_O, OP_ADD_LN, OP_UP, OP_GELU, OP_DOWN, KINDS };
    static const char *kinds[KINDS] = {"q, k, v", "attention", "output projection", "add + LayerNorm", "FFN up", "GELU", "FFN down"};
    const int per_op = getenv("PER_OP") != NULL;
    float *kept = getenv("KEEP_PROBS") != NULL && atoi(getenv("KEEP_PROBS")) ? probs : NULL;
    double (*op_time)[KINDS] = calloc((size_t)libs, sizeof *op_time), tick = 0;
#define TICK(KIND) do { if (per_op) { double t_ = now(); op_time[l][KIND] += t_ - tick; tick = t_; } } while (0)
    for (int r = 0; r < rounds; r++)
        for (int l = 0; l < libs; l++) {
            usleep(2000); /* the library before's polling threads go to sleep */
            double t0 = now();
            tick = t0;
            const float *in = x;
            for (int layer = 0; layer < LAYERS; layer++) {
                if (fused[l]) {
                    linear_packed[l](T, 3 * D, D, in, D, packed[l][layer][Q], bias, qkv, 3 * D);
                    attn[l](1, H, T, D / H, qkv, qkv + D, qkv + 2 * D, 3 * D, 0.17677669f, NULL, kept, ctx, D);
                } else {
                    PROJECT(Q, in, q);
                    PROJECT(K, in, k);
                    PROJECT(V, in, v);
                    TICK(OP_QKV);
                    attn[l](1, H, T, D / H, q, k, v, D, 0.17677669f, NULL, kept, ctx, D);
                }
                TICK(OP_ATTN); /* the fused q, k, v product counts with the attention */
                PROJECT(O, ctx, o);
                TICK(OP_O);
                add_ln[l](T, D, o, in, gamma, beta, 1e-12f, h, mean, rstd);
                TICK(OP_ADD_LN);
                PROJECT(UP, h, f);
                TICK(OP_UP);
                gelu[l](T * F, f, f, 1);
                TICK(OP_GELU);
                PROJECT(DOWN, f, o);
                TICK(OP_DOWN);
                add_ln[l](T, D, o, h, gamma, beta, 1e-12f, h2, mean, rstd);
                TICK(OP_ADD_LN);
                in = h2;
            }
            times[(size_t)l * rounds + r] = now() - t0;
        }
    ab_print_medians(times, libs, rounds, (char **)labels, threads);
    for (int l = 0; l < libs && per_op; l++)
        for (int j = 0; j < KINDS; j++) printf("  %-22s %-18s %.3f ms a forward (mean)\n", labels[l], kinds[j], op_time[l][j] * 1e3 / rounds);
    return 0;
}
