/* int8-batch-ab THREADS ROUNDS LIB...: MiniLM's FFN projections as dynamic int8 layers (t4j_int8_linear) at 128 rows
 * (batch 1 at sequence 128) and at 4096 (batch 32), libraries alternated in one process, medians of the rounds; a large
 * batch shows what the kernel loses to memory (y of 4096 x 1536 floats is 25 MB). SHAPE=0..3 runs one shape only (for
 * perf), LEVEL=0/1/2 holds the libraries to the portable, AVX2 or AVX-512 level. Build libraries with
 * bench/native/gemm-variants.sh. */
#include <stdint.h>
#include "ab.h"
typedef int64_t (*size_fn)(int64_t, int64_t);
typedef void (*pack_fn)(int64_t, int64_t, const int8_t *, int64_t, const float *, void *);
typedef int32_t (*linear_fn)(int64_t, int64_t, int64_t, const float *, int64_t, const void *, const float *, int32_t, float *, int64_t);
typedef void (*threads_fn)(int32_t);
int main(int argc, char **argv) {
    int threads, rounds, libs;
    ab_args(argc, argv, "int8-batch-ab", &threads, &rounds, &libs);
    const int64_t shapes[4][3] = {{128, 1536, 384}, {128, 384, 1536}, {4096, 1536, 384}, {4096, 384, 1536}};
    int8_t *w = malloc(1536 * 1536); float *scale = malloc(1536 * 4), *x = ab_alloc(4096 * 1536 * 4, 1), *y = ab_alloc(4096 * 1536 * 4, 1);
    for (int64_t i = 0; i < 1536 * 1536; i++) w[i] = (int8_t)((i * 37) % 255 - 127);
    for (int j = 0; j < 1536; j++) scale[j] = 0.001f;
    for (int64_t i = 0; i < 4096 * 1536; i++) x[i] = (float)(i % 11) * 0.1f - 0.5f;
    linear_fn lin[16]; void *pk[16][4];
    for (int l = 0; l < libs; l++) {
        void *h = open_copy("int8-batch-ab", argv[3 + l], l);
        lin[l] = dlsym(h, "t4j_int8_linear");
        ((threads_fn)dlsym(h, "t4j_set_num_threads"))(threads);
        if (getenv("LEVEL")) ((int32_t (*)(int32_t))dlsym(h, "t4j_set_simd_level"))(atoi(getenv("LEVEL")));
        for (int s = 0; s < 4; s++) { pk[l][s] = ab_alloc(((size_fn)dlsym(h, "t4j_int8_packed_size"))(shapes[s][1], shapes[s][2]), 0); ((pack_fn)dlsym(h, "t4j_int8_pack"))(shapes[s][1], shapes[s][2], w, shapes[s][2], scale, pk[l][s]); }
    }
    static double t[16][4][64];
    for (int r = 0; r < rounds; r++)
        for (int l = 0; l < libs; l++)
            for (int s = 0; s < 4; s++) {
                if (getenv("SHAPE") && atoi(getenv("SHAPE")) != s) continue;
                int reps = shapes[s][0] == 128 ? 32 : 1;
                double t0 = now();
                for (int i = 0; i < reps; i++) lin[l](shapes[s][0], shapes[s][1], shapes[s][2], x, shapes[s][2], pk[l][s], NULL, 0, y, shapes[s][1]);
                t[l][s][r] = (now() - t0) / reps;
            }
    for (int l = 0; l < libs; l++)
        for (int s = 0; s < 4; s++) {
            qsort(t[l][s], rounds, 8, by_value);
            double ms = t[l][s][rounds / 2] * 1e3;
            printf("%-12s %2d thr %4ldx%4ldx%4ld: %.3f ms, %.1f GOP/s\n", argv[3 + l], threads, shapes[s][0], shapes[s][1], shapes[s][2], ms, 2.0 * shapes[s][0] * shapes[s][1] * shapes[s][2] / ms / 1e6);
        }
}
