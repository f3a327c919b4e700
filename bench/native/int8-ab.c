/* int8-ab THREADS ROUNDS LIB...: the dynamic int8 linear layer of `bench int8` (t4j_int8_linear), libraries
 * alternated in one process: 1 x 4096 x 4096 over four weight sets rotated (64 MB, so the weights come from memory
 * as in a batch-1 forward), the same at 2, 4 and 8 rows, 128 x 4096 x 4096 on one set, and MiniLM batch 1's int8 projections (128 token rows,
 * 6 layers of q, k, v, o 384 x 384, FFN up 1536 x 384 and down 384 x 1536, each layer's weights its own); median
 * of the rounds (HUGE=i: weights on huge pages for libraries i, i + 1, ...). Build libraries with
 * bench/native/gemm-variants.sh. */
#include <stdint.h>

#include "ab.h"

typedef int64_t (*size_fn)(int64_t, int64_t);
typedef void (*pack_fn)(int64_t, int64_t, const int8_t *, int64_t, const float *, void *);
typedef int32_t (*linear_fn)(int64_t, int64_t, int64_t, const float *, int64_t, const void *, const float *, int32_t, float *, int64_t);

enum { SETS = 4, N = 4096, K = 4096, BIG_M = 128 };


int main(int argc, char **argv) {
    int threads, rounds, libs;
    ab_args(argc, argv, "int8-ab", &threads, &rounds, &libs);
    int8_t *w = malloc((size_t)N * K);
    float *scale = malloc(N * sizeof(float)), *x = malloc((size_t)BIG_M * K * sizeof(float));
    float *y = malloc((size_t)BIG_M * N * sizeof(float));
    if (w == NULL || scale == NULL || x == NULL || y == NULL) return 1;
    for (int64_t i = 0; i < (int64_t)N * K; i++) w[i] = (int8_t)((i * 37) % 255 - 127);
    for (int j = 0; j < N; j++) scale[j] = 0.01f;
    for (int64_t i = 0; i < (int64_t)BIG_M * K; i++) x[i] = (float)(i % 11) * 0.1f - 0.5f;
    linear_fn linear[16];
    void *packed[16][SETS];
    enum { LAYERS = 6, MATS = 6 };
    const int64_t out_dim[MATS] = {384, 384, 384, 384, 1536, 384}, in_dim[MATS] = {384, 384, 384, 384, 384, 1536};
    void *mini[16][LAYERS][MATS];
    for (int l = 0; l < libs; l++) {
        void *h = open_copy("int8-ab", argv[3 + l], l);
        linear[l] = (linear_fn)dlsym(h, "t4j_int8_linear");
        ((threads_fn)dlsym(h, "t4j_set_num_threads"))(threads);
        int64_t bytes = ((size_fn)dlsym(h, "t4j_int8_packed_size"))(N, K);
        for (int s = 0; s < SETS; s++) {
            packed[l][s] = ab_alloc((size_t)bytes, ab_huge(l));
            if (packed[l][s] == NULL) return 1;
            ((pack_fn)dlsym(h, "t4j_int8_pack"))(N, K, w, K, scale, packed[l][s]);
        }
        for (int layer = 0; layer < LAYERS; layer++)
            for (int j = 0; j < MATS; j++) {
                int64_t b = ((size_fn)dlsym(h, "t4j_int8_packed_size"))(out_dim[j], in_dim[j]);
                mini[l][layer][j] = ab_carve((size_t)b, ab_huge(l)); /* one pool, as a model loaded into one would be */
                if (mini[l][layer][j] == NULL) return 1;
                ((pack_fn)dlsym(h, "t4j_int8_pack"))(out_dim[j], in_dim[j], w + layer * 4096 + j, in_dim[j], scale, mini[l][layer][j]);
            }
    }
    double *gemv = calloc((size_t)libs * rounds, sizeof(double)), *gemm = calloc((size_t)libs * rounds, sizeof(double));
    double *minilm = calloc((size_t)libs * rounds, sizeof(double));
    enum { FEW = 3 };
    const int few_rows[FEW] = {2, 4, 8};
    double *few = calloc((size_t)libs * FEW * rounds, sizeof(double));
    for (int r = 0; r < rounds; r++)
        for (int l = 0; l < libs; l++) {
            usleep(2000); /* the library before's polling threads go to sleep */
            enum { CALLS = 16 };
            double t0 = now();
            for (int c = 0; c < CALLS; c++) linear[l](1, N, K, x, K, packed[l][c % SETS], NULL, 0, y, N);
            gemv[(size_t)l * rounds + r] = (now() - t0) / CALLS;
            for (int f = 0; f < FEW; f++) {
                t0 = now();
                for (int c = 0; c < CALLS / 2; c++) linear[l](few_rows[f], N, K, x, K, packed[l][c % SETS], NULL, 0, y, N);
                few[((size_t)l * FEW + f) * rounds + r] = (now() - t0) / (CALLS / 2);
            }
            t0 = now();
            linear[l](BIG_M, N, K, x, K, packed[l][0], NULL, 0, y, N);
            gemm[(size_t)l * rounds + r] = now() - t0;
            t0 = now();
            for (int layer = 0; layer < LAYERS; layer++)
                for (int j = 0; j < MATS; j++) linear[l](128, out_dim[j], in_dim[j], x, in_dim[j], mini[l][layer][j], NULL, 0, y, out_dim[j]);
            minilm[(size_t)l * rounds + r] = now() - t0;
        }
    for (int l = 0; l < libs; l++) {
        double *a = gemv + (size_t)l * rounds, *b = gemm + (size_t)l * rounds, *c = minilm + (size_t)l * rounds;
        qsort(a, (size_t)rounds, sizeof(double), by_value);
        qsort(b, (size_t)rounds, sizeof(double), by_value);
        qsort(c, (size_t)rounds, sizeof(double), by_value);
        printf("%-22s threads %d: 1x4096x4096 rotated median %.3f ms (min %.3f); 128x4096x4096 median %.3f ms (min %.3f); MiniLM's 36 median %.3f ms\n",
               argv[3 + l], threads, a[rounds / 2] * 1e3, a[0] * 1e3, b[rounds / 2] * 1e3, b[0] * 1e3, c[rounds / 2] * 1e3);
        printf("%-22s threads %d:", argv[3 + l], threads);
        for (int f = 0; f < FEW; f++) {
            double *d = few + ((size_t)l * FEW + f) * rounds;
            qsort(d, (size_t)rounds, sizeof(double), by_value);
            printf(" %dx4096x4096 rotated median %.3f ms (min %.3f)%s", few_rows[f], d[rounds / 2] * 1e3, d[0] * 1e3, f + 1 < FEW ? ";" : "\n");
        }
    }
    return 0;
}
