/* bert-gemms-ab THREADS ROUNDS LIB...: MiniLM batch 1's GEMM sequence, x W^T with 128 token rows for each of 6 layers'
 * q, k, v, o (384 x 384), FFN up (1536 x 384) and down (384 x 1536); each layer's weights its own (42 MB in all, so
 * they come from memory as in a forward), libraries alternated in one process; median of the rounds. Build libraries
 * with bench/native/gemm-variants.sh. */
#include <stdint.h>

#include "ab.h"


int main(int argc, char **argv) {
    int threads, rounds, libs;
    ab_args(argc, argv, "bert-gemms-ab", &threads, &rounds, &libs);
    enum { LAYERS = 6, MATS = 6 };
    const int64_t T = 128, D = 384, F = 1536;
    const int64_t out_dim[MATS] = {D, D, D, D, F, D}, in_dim[MATS] = {D, D, D, D, D, F};
    float *w[LAYERS][MATS];
    for (int l = 0; l < LAYERS; l++)
        for (int j = 0; j < MATS; j++) {
            w[l][j] = aligned_alloc(64, (size_t)(out_dim[j] * in_dim[j]) * sizeof(float));
            if (w[l][j] == NULL) return 1;
            for (int64_t i = 0; i < out_dim[j] * in_dim[j]; i++) w[l][j][i] = (float)(i % 13) * 0.01f;
        }
    float *x = aligned_alloc(64, (size_t)(T * F) * sizeof(float)), *y = aligned_alloc(64, (size_t)(T * F) * sizeof(float));
    if (x == NULL || y == NULL) return 1;
    for (int64_t i = 0; i < T * F; i++) x[i] = (float)(i % 7) * 0.1f;
    gemm_fn gemm[16];
    for (int l = 0; l < libs; l++) {
        void *h = open_copy("bert-gemms-ab", argv[3 + l], l);
        gemm[l] = (gemm_fn)dlsym(h, "t4j_gemm");
        ((threads_fn)dlsym(h, "t4j_set_num_threads"))(threads);
    }
    double *times = calloc((size_t)libs * rounds, sizeof(double));
    for (int r = 0; r < rounds; r++)
        for (int l = 0; l < libs; l++) {
            usleep(2000); /* the library before's polling threads go to sleep */
            double t0 = now();
            for (int layer = 0; layer < LAYERS; layer++)
                for (int j = 0; j < MATS; j++) gemm[l](0, 1, T, out_dim[j], in_dim[j], 1.0f, x, in_dim[j], w[layer][j], in_dim[j], 0.0f, y, out_dim[j]);
            times[(size_t)l * rounds + r] = now() - t0;
        }
    ab_print_medians(times, libs, rounds, argv + 3, threads);
    return 0;
}
