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

enum { SHAPES = 4 };

int main(int argc, char **argv) {
    int threads, rounds, libs;
    ab_args(argc, argv, "int8-batch-ab", &threads, &rounds, &libs);
    const int64_t shapes[SHAPES][3] = {{128, 1536, 384}, {128, 384, 1536}, {4096, 1536, 384}, {4096, 384, 1536}}; /* m, n, k */
    const int only = getenv("SHAPE") != NULL ? atoi(getenv("SHAPE")) : -1;
    int8_t *w = malloc(1536 * 1536);
    float *scale = ab_filled(1536, 1, 0.0f, 0.001f), *x = ab_alloc(4096 * 1536 * 4, 1), *y = ab_alloc(4096 * 1536 * 4, 1);
    double *times = calloc((size_t)libs * SHAPES * rounds, sizeof(double));
    if (w == NULL || times == NULL) return 1;
    for (int64_t i = 0; i < 1536 * 1536; i++) w[i] = (int8_t)((i * 37) % 255 - 127);
    for (int64_t i = 0; i < 4096 * 1536; i++) x[i] = (float)(i % 11) * 0.1f - 0.5f;
    linear_fn linear[16];
    void *packed[16][SHAPES];
    for (int l = 0; l < libs; l++) {
        void *h = open_copy("int8-batch-ab", argv[3 + l], l);
        linear[l] = (linear_fn)dlsym(h, "t4j_int8_linear");
        ((threads_fn)dlsym(h, "t4j_set_num_threads"))(threads);
        if (getenv("LEVEL") != NULL) ((level_fn)dlsym(h, "t4j_set_simd_level"))(atoi(getenv("LEVEL")));
        for (int s = 0; s < SHAPES; s++) {
            packed[l][s] = ab_alloc((size_t)((size_fn)dlsym(h, "t4j_int8_packed_size"))(shapes[s][1], shapes[s][2]), 0);
            ((pack_fn)dlsym(h, "t4j_int8_pack"))(shapes[s][1], shapes[s][2], w, shapes[s][2], scale, packed[l][s]);
        }
    }
    for (int r = 0; r < rounds; r++)
        for (int l = 0; l < libs; l++)
            for (int s = 0; s < SHAPES; s++) {
                if (only >= 0 && only != s) continue;
                const int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
                int reps = m == 128 ? 32 : 1;
                double t0 = now();
                for (int i = 0; i < reps; i++) linear[l](m, n, k, x, k, packed[l][s], NULL, 0, y, n);
                times[((size_t)l * SHAPES + s) * rounds + r] = (now() - t0) / reps;
            }
    for (int l = 0; l < libs; l++)
        for (int s = 0; s < SHAPES; s++) {
            if (only >= 0 && only != s) continue;
            double ms = ab_median(times + ((size_t)l * SHAPES + s) * rounds, rounds) * 1e3;
            printf("%-12s %2d thr %4ldx%4ldx%4ld: %.3f ms, %.1f GOP/s\n", argv[3 + l], threads, (long)shapes[s][0], (long)shapes[s][1],
                   (long)shapes[s][2], ms, 2.0 * shapes[s][0] * shapes[s][1] * shapes[s][2] / ms / 1e6);
        }
    return 0;
}
