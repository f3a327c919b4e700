/* ops-ab THREADS ROUNDS LIB...: the ViT step's attention (batch 128, 4 heads, 17 tokens, heads of 32), LayerNorm
 * backward, bias broadcast and bias gradient (2176 x 128), MiniLM's attention at batch 1 (12 heads, 128 tokens,
 * heads of 32), and the forward attention of BERT-base at 256 tokens (12 heads of 64) and of MiniLM at 512, the erf GELU's
 * backward over MiniLM's training step's FFN (16 x 128 tokens x 1536), MiniLM's training step's attention forward and
 * backward (batch 16: its kept probabilities, 12.6 MB, from and to memory: 64 MB are written over before each of those
 * calls, as the step's other ops do), libraries alternated in one process; best of 5 calls a round, median of the rounds. A millisecond's pause before each op lets the pool's polling threads (200 us) of the
 * library before go to sleep. LEVEL=0/1/2 holds the libraries to the portable, AVX2 or AVX-512 level. ACCUMULATE=0 runs the backward ops in their writing form (accumulate 0: libraries from
 * 2026-12-04 on; an older one ignores the argument and adds). SEPARATE=1 gives the step's attention q, k, v (and their
 * gradients) in buffers of their own, rows of 384 floats apart, as the tape's step passes them, in place of side by
 * side in rows of 3 x 384. PEAKED=1 fills the step's q and k with values spread over [-8, 8] (a fixed pseudo-random
 * sequence), so that some scores lie 87 and more below their row's maximum: 0.6% of the probabilities are then
 * subnormal where the kernels keep subnormals (t4j_set_flush_denormals). Build libraries with bench/native/gemm-variants.sh. */
#include <stdint.h>
#include <string.h>

#include "ab.h"

typedef void (*attn_fwd_fn)(int64_t, int64_t, int64_t, int64_t, const float *, const float *, const float *, int64_t, float, const int32_t *, float *,
                            float *, int64_t);
typedef void (*attn_bwd_fn)(int64_t, int64_t, int64_t, int64_t, const float *, const float *, const float *, int64_t, float, const float *,
                            const float *, int64_t, float *, float *, float *, int32_t);
typedef void (*ln_bwd_fn)(int64_t, int64_t, const float *, const float *, const float *, const float *, const float *, float *, float *, float *, int32_t);
typedef void (*rows_fn)(int64_t, int64_t, const float *, float *);
typedef void (*gelu_bwd_fn)(int64_t, const float *, const float *, float *, int32_t, int32_t);

enum { ATTN_FWD, ATTN_BWD, LN_BWD, ADD_ROW, SUM_ROWS, BERT_ATTN_FWD, BERT_ATTN_BWD, LONG_ATTN_FWD, MINI512_ATTN_FWD, GELU_BWD, STEP_ATTN_FWD, STEP_ATTN_BWD, OPS };
static const char *names[OPS] = {"attn_fwd", "attn_bwd", "ln_bwd", "add_row", "sum_rows", "bert_attn_fwd", "bert_attn_bwd", "base256_attn_fwd", "minilm512_attn_fwd", "gelu_bwd", "step_attn_fwd", "step_attn_bwd"};

static float *filled(size_t n, float scale, float shift) { return ab_filled(n, 97, scale, shift); }

int main(int argc, char **argv) {
    int threads, rounds, libs;
    ab_args(argc, argv, "ops-ab", &threads, &rounds, &libs);
    const int32_t acc = getenv("ACCUMULATE") != NULL ? atoi(getenv("ACCUMULATE")) : 1;
    const int64_t M = 2176, D = 128; /* 128 images x 17 tokens, width 128; q, k, v side by side in rows of 3D */
    float *qkv = filled((size_t)(M * 3 * D), 0.01f, -0.4f), *dqkv = filled((size_t)(M * 3 * D), 0.0f, 0.0f);
    const int64_t BT = 128, BD = 384; /* MiniLM: 128 tokens, width 384 (12 heads of 32), q, k, v in rows of 3BD */
    float *bqkv = filled((size_t)(BT * 3 * BD), 0.01f, -0.4f), *bdqkv = filled((size_t)(BT * 3 * BD), 0.0f, 0.0f);
    float *bprobs = filled((size_t)(12 * BT * BT), 0.0f, 0.0f), *bout = filled((size_t)(BT * BD), 0.0f, 0.01f);
    const int64_t LT = 256, LD = 768; /* BERT-base: 256 tokens, width 768 (12 heads of 64) */
    float *lqkv = filled((size_t)(LT * 3 * LD), 0.01f, -0.4f), *lprobs = filled((size_t)(12 * LT * LT), 0.0f, 0.0f), *lout = filled((size_t)(LT * LD), 0.0f, 0.0f);
    const int64_t MT = 512; /* MiniLM at its longest, 512 tokens (12 heads of 32, width 384) */
    float *mqkv = filled((size_t)(MT * 3 * BD), 0.01f, -0.4f), *mprobs = filled((size_t)(12 * MT * MT), 0.0f, 0.0f), *mout = filled((size_t)(MT * BD), 0.0f, 0.0f);
    const int64_t SB = 16; /* MiniLM's training step: 16 sequences of 128 tokens */
    float *sqkv = filled((size_t)(SB * BT * 3 * BD), 0.01f, -0.4f), *sdqkv = filled((size_t)(SB * BT * 3 * BD), 0.0f, 0.0f);
    /* the step's q, k, v and gradients: side by side (rows of 3BD), or SEPARATE=1 three buffers of rows of BD */
    const int separate = getenv("SEPARATE") != NULL && atoi(getenv("SEPARATE")) != 0;
    const int64_t sld = separate ? BD : 3 * BD, sstep = separate ? SB * BT * BD : BD;
    if (getenv("PEAKED") != NULL && atoi(getenv("PEAKED")) != 0) {
        unsigned seed = 1;
        for (int64_t i = 0; i < SB * BT * 3 * BD; i++) {
            int64_t col = separate ? i : i % (3 * BD), which = separate ? i / (SB * BT * BD) : col / BD; /* 0 q, 1 k, 2 v */
            seed = seed * 1103515245u + 12345u;
            if (which < 2) sqkv[i] = (((seed >> 8) & 0xffff) / 65536.0f - 0.5f) * 16.0f;
        }
    }
    float *sprobs = filled((size_t)(SB * 12 * BT * BT), 0.0f, 0.0f), *sout = filled((size_t)(SB * BT * BD), 0.0f, 0.01f);
    const size_t flush_bytes = (size_t)64 << 20;
    char *flush = ab_alloc(flush_bytes, 0);
    float *probs = filled(512 * 17 * 17, 0.0f, 0.0f), *out = filled((size_t)(M * D), 0.0f, 0.1f), *dx = filled((size_t)(M * D), 0.0f, 0.0f);
    float *gamma = filled(1024, 0.0f, 1.0f), *sums = filled(1024, 0.0f, 0.0f), *mean = filled((size_t)M, 0.0f, 0.1f), *rstd = filled((size_t)M, 0.0f, 1.1f);
    const int64_t GN = 2048 * 1536; /* the FFN's pre-activations of a batch of 16 x 128 tokens, in [-4.5, 4.5] */
    float *gx = filled((size_t)GN, 9.0f / 97, -4.5f), *gdy = filled((size_t)GN, 0.02f / 97, -0.01f), *gdx = filled((size_t)GN, 0.0f, 0.0f);
    attn_fwd_fn attn_fwd[16];
    gelu_bwd_fn gelu_bwd[16];
    attn_bwd_fn attn_bwd[16];
    ln_bwd_fn ln_bwd[16];
    rows_fn add_row[16], sum_rows[16];
    for (int l = 0; l < libs; l++) {
        void *h = open_copy("ops-ab", argv[3 + l], l);
        attn_fwd[l] = (attn_fwd_fn)dlsym(h, "t4j_attention_forward");
        attn_bwd[l] = (attn_bwd_fn)dlsym(h, "t4j_attention_backward");
        ln_bwd[l] = (ln_bwd_fn)dlsym(h, "t4j_layer_norm_backward");
        add_row[l] = (rows_fn)dlsym(h, "t4j_add_row");
        sum_rows[l] = (rows_fn)dlsym(h, "t4j_sum_rows");
        gelu_bwd[l] = (gelu_bwd_fn)dlsym(h, "t4j_gelu_backward");
        ((threads_fn)dlsym(h, "t4j_set_num_threads"))(threads);
        if (getenv("LEVEL") != NULL) ((level_fn)dlsym(h, "t4j_set_simd_level"))(atoi(getenv("LEVEL")));
    }
    double *times = calloc((size_t)libs * OPS * rounds, sizeof(double));
    for (int r = 0; r < rounds; r++)
        for (int l = 0; l < libs; l++)
            for (int op = 0; op < OPS; op++) {
                usleep(1000);
                double best = 1e9;
                for (int call = 0; call < 5; call++) {
                    if (op == STEP_ATTN_FWD || op == STEP_ATTN_BWD) memset(flush, call + r, flush_bytes);
                    double t0 = now();
                    switch (op) {
                    case ATTN_FWD: attn_fwd[l](128, 4, 17, 32, qkv, qkv + D, qkv + 2 * D, 3 * D, 0.17f, NULL, probs, out, D); break;
                    case ATTN_BWD: attn_bwd[l](128, 4, 17, 32, qkv, qkv + D, qkv + 2 * D, 3 * D, 0.17f, probs, out, D, dqkv, dqkv + D, dqkv + 2 * D, acc); break;
                    case LN_BWD: ln_bwd[l](M, D, qkv, gamma, mean, rstd, out, dx, sums, sums + 256, acc); break;
                    case ADD_ROW: add_row[l](M, D, gamma, dx); break;
                    case SUM_ROWS: sum_rows[l](M, D, out, sums + 512); break;
                    case BERT_ATTN_FWD: attn_fwd[l](1, 12, BT, 32, bqkv, bqkv + BD, bqkv + 2 * BD, 3 * BD, 0.17f, NULL, bprobs, bout, BD); break;
                    case LONG_ATTN_FWD: attn_fwd[l](1, 12, LT, 64, lqkv, lqkv + LD, lqkv + 2 * LD, 3 * LD, 0.125f, NULL, lprobs, lout, LD); break;
                    case GELU_BWD: gelu_bwd[l](GN, gx, gdy, gdx, 1, acc); break;
                    case MINI512_ATTN_FWD: attn_fwd[l](1, 12, MT, 32, mqkv, mqkv + BD, mqkv + 2 * BD, 3 * BD, 0.17f, NULL, mprobs, mout, BD); break;
                    case STEP_ATTN_FWD: attn_fwd[l](SB, 12, BT, 32, sqkv, sqkv + sstep, sqkv + 2 * sstep, sld, 0.17f, NULL, sprobs, sout, BD); break;
                    case STEP_ATTN_BWD: attn_bwd[l](SB, 12, BT, 32, sqkv, sqkv + sstep, sqkv + 2 * sstep, sld, 0.17f, sprobs, sout, BD, sdqkv, sdqkv + sstep, sdqkv + 2 * sstep, acc); break;
                    default: attn_bwd[l](1, 12, BT, 32, bqkv, bqkv + BD, bqkv + 2 * BD, 3 * BD, 0.17f, bprobs, bout, BD, bdqkv, bdqkv + BD, bdqkv + 2 * BD, acc); break;
                    }
                    double dt = now() - t0;
                    if (dt < best) best = dt;
                }
                times[((size_t)l * OPS + op) * rounds + r] = best;
            }
    for (int op = 0; op < OPS; op++)
        for (int l = 0; l < libs; l++) {
            double *t = times + ((size_t)l * OPS + op) * rounds;
            qsort(t, (size_t)rounds, sizeof(double), by_value);
            printf("%-9s threads %d %-28s median %8.1f us\n", names[op], threads, argv[3 + l], t[rounds / 2] * 1e6);
        }
    return 0;
}
