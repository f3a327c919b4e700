/* int8-24-ab THREADS ROUNDS LIB...: the 2:4 int8 linear layer (t4j_int8_linear on t4j_int8_24_pack's weights) beside
 * the dense one on the same weights (t4j_int8_pack), libraries alternated in one process, at `bench int8`'s 2:4 shapes
 * (the ViT's 17 tokens), batch 1 and 4 of 1024², 64 x 1024², MiniLM's FFN at 128 tokens and 128 x 4096², then 1, 2, 4
 * and 8 rows over 4096² weights in four sets taken in turn (from memory); median of the rounds, each round a fixed
 * number of calls per shape. Build libraries with bench/native/gemm-variants.sh; run with
 * T4J_SIMD=avx2 for the AVX2 level. */
#include <stdint.h>

#include "ab.h"

typedef int64_t (*size_fn)(int64_t, int64_t);
typedef void (*pack_fn)(int64_t, int64_t, const int8_t *, int64_t, const float *, void *);
typedef int32_t (*pack24_fn)(int64_t, int64_t, const int8_t *, int64_t, const float *, void *);
typedef int32_t (*linear_fn)(int64_t, int64_t, int64_t, const float *, int64_t, const void *, const float *, int32_t, float *, int64_t);

enum { SHAPES = 9, SETS = 4, ROTATED = 4 };
static const int64_t rotated_rows[ROTATED] = {1, 2, 4, 8};
static const int64_t shape[SHAPES][3] = {{17, 384, 128}, {17, 512, 128}, {17, 128, 512}, {1, 1024, 1024}, {4, 1024, 1024},
                                         {64, 1024, 1024}, {128, 1536, 384}, {128, 384, 1536}, {128, 4096, 4096}}; /* m, n, k */

/* w [n, k] (2:4) packed by library h both ways: out[0] the 2:4 form, out[1] the dense one; exits when it is not 2:4. */
static void pack_both(void *h, int64_t n, int64_t k, const int8_t *w, const float *scale, void *out[2]) {
    out[0] = ab_alloc((size_t)((size_fn)dlsym(h, "t4j_int8_24_packed_size"))(n, k), 0);
    out[1] = ab_alloc((size_t)((size_fn)dlsym(h, "t4j_int8_packed_size"))(n, k), 0);
    if (((pack24_fn)dlsym(h, "t4j_int8_24_pack"))(n, k, w, k, scale, out[0]) != 0) exit(1);
    ((pack_fn)dlsym(h, "t4j_int8_pack"))(n, k, w, k, scale, out[1]);
}

int main(int argc, char **argv) {
    int threads, rounds, libs;
    ab_args(argc, argv, "int8-24-ab", &threads, &rounds, &libs);
    srand(1);
    double *t = calloc((size_t)libs * SHAPES * 2 * rounds, sizeof(double)); /* [lib][shape][2:4, dense][round] */
    linear_fn linear[16];
    void *h[16];
    void *packed[16][SHAPES][2];
    float *x[SHAPES];
    for (int s = 0; s < SHAPES; s++) {
        int64_t m = shape[s][0], n = shape[s][1], k = shape[s][2];
        int8_t *w = malloc((size_t)(n * k));
        float *scale = malloc((size_t)n * sizeof(float));
        x[s] = malloc((size_t)(m * k) * sizeof(float));
        if (w == NULL || scale == NULL || x[s] == NULL || t == NULL) return 1;
        for (int64_t i = 0; i < m * k; i++) x[s][i] = (float)(rand() % 2001 - 1000) * 1e-3f;
        for (int64_t j = 0; j < n; j++) { /* two zeros in every group of 4, at random places */
            scale[j] = 0.01f;
            for (int64_t g = 0; g < k / 4; g++) {
                int z0 = rand() % 4, z1 = (z0 + 1 + rand() % 3) % 4;
                for (int q = 0; q < 4; q++) w[j * k + 4 * g + q] = (q == z0 || q == z1) ? 0 : (int8_t)(rand() % 255 - 127);
            }
        }
        for (int l = 0; l < libs; l++) {
            if (s == 0) {
                h[l] = open_copy("int8-24-ab", argv[3 + l], l);
                linear[l] = (linear_fn)dlsym(h[l], "t4j_int8_linear");
                ((threads_fn)dlsym(h[l], "t4j_set_num_threads"))(threads);
            }
            pack_both(h[l], n, k, w, scale, packed[l][s]);
        }
        free(w);
        free(scale);
    }
    /* 4096² in SETS sets, 2:4 and dense, for the rows over weights streamed from memory */
    void *big[16][SETS][2];
    {
        const int64_t n = 4096, k = 4096;
        int8_t *w = malloc((size_t)(n * k));
        float *scale = malloc((size_t)n * sizeof(float));
        if (w == NULL || scale == NULL) return 1;
        for (int64_t j = 0; j < n; j++) {
            scale[j] = 0.01f;
            for (int64_t g = 0; g < k / 4; g++)
                for (int q = 0; q < 4; q++) w[j * k + 4 * g + q] = (q == (j + g) % 4 || q == (j + g + 1) % 4) ? 0 : (int8_t)((j * 7 + g * 3 + q) % 255 - 127);
        }
        for (int l = 0; l < libs; l++) {
            for (int set = 0; set < SETS; set++) pack_both(h[l], n, k, w, scale, big[l][set]);
        }
        free(w);
        free(scale);
    }
    double *tr = calloc((size_t)libs * ROTATED * 2 * rounds, sizeof(double)); /* [lib][rows][2:4, dense][round] */
    float *xr = malloc((size_t)8 * 4096 * sizeof(float));
    if (tr == NULL || xr == NULL) return 1;
    for (int64_t i = 0; i < 8 * 4096; i++) xr[i] = (float)(i % 11) * 0.1f - 0.5f;
    float *y = malloc((size_t)128 * 4096 * sizeof(float));
    for (int r = 0; r < rounds; r++)
        for (int l = 0; l < libs; l++) {
            usleep(2000); /* the library before's polling threads go to sleep */
            for (int s = 0; s < SHAPES; s++) {
                int64_t m = shape[s][0], n = shape[s][1], k = shape[s][2];
                int calls = (int)(4e7 / (2.0 * m * n * k)) + 1;
                for (int f = 0; f < 2; f++) {
                    double t0 = now();
                    for (int c = 0; c < calls; c++) linear[l](m, n, k, x[s], k, packed[l][s][f], NULL, 0, y, n);
                    t[(((size_t)l * SHAPES + s) * 2 + f) * rounds + r] = (now() - t0) / calls;
                }
            }
            for (int s = 0; s < ROTATED; s++)
                for (int f = 0; f < 2; f++) {
                    enum { CALLS = 8 };
                    double t0 = now();
                    for (int c = 0; c < CALLS; c++) linear[l](rotated_rows[s], 4096, 4096, xr, 4096, big[l][c % SETS][f], NULL, 0, y, 4096);
                    tr[(((size_t)l * ROTATED + s) * 2 + f) * rounds + r] = (now() - t0) / CALLS;
                }
        }
    for (int s = 0; s < SHAPES; s++)
        for (int l = 0; l < libs; l++) {
            double *a = t + ((size_t)l * SHAPES + s) * 2 * rounds, m24 = ab_median(a, rounds), dense = ab_median(a + rounds, rounds);
            printf("%3lld x %4lld x %4lld  %-22s threads %d: 2:4 median %9.1f us, dense %9.1f us: 2:4 at %.2fx the dense time\n", (long long)shape[s][0],
                   (long long)shape[s][1], (long long)shape[s][2], argv[3 + l], threads, m24 * 1e6, dense * 1e6, m24 / dense);
        }
    for (int s = 0; s < ROTATED; s++)
        for (int l = 0; l < libs; l++) {
            double *a = tr + ((size_t)l * ROTATED + s) * 2 * rounds, m24 = ab_median(a, rounds), dense = ab_median(a + rounds, rounds);
            printf("%lld x 4096 x 4096 rotated  %-22s threads %d: 2:4 median %9.1f us, dense %9.1f us: 2:4 at %.2fx the dense time\n", (long long)rotated_rows[s],
                   argv[3 + l], threads, m24 * 1e6, dense * 1e6, m24 / dense);
        }
    return 0;
}
