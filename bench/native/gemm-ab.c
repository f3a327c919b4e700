/* A/B timing of libtune4j.so builds: each round runs the same f32 GEMM once with every library in turn,
 * so that a noisy shared machine slows all of them alike; prints the median per library.
 *
 *   gemm-ab THREADS M N K ROUNDS LIB[%LEVEL][@MC,KC,NC] ... (TA=1 / TB=1 in the environment: transposed A / B;
 *                                                        ROTATE=R: R copies of B taken in turn, from memory as a
 *                                                        batch-1 GEMV's weights are; HUGE=0: every matrix on
 *                                                        transparent huge pages; COLD=MB: MB megabytes written
 *                                                        over before each timed call, so that A, B and C come
 *                                                        from memory, as a training step's activations do)
 *
 * LIB%LEVEL runs that library at a SIMD level (t4j_set_simd_level: 0 portable, 1 AVX2, 2 AVX-512);
 * LIB@MC,KC,NC pins that library's cache blocks (t4j_gemm_set_blocks); a library named twice is copied,
 * so that each copy keeps its own blocks. Build libraries with bench/native/gemm-variants.sh. */
#include <stdint.h>
#include <string.h>

#include "ab.h"

typedef int32_t (*blocks_fn)(int64_t, int64_t, int64_t);

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: gemm-ab THREADS M N K ROUNDS LIB[@MC,KC,NC] ...\n");
        return 2;
    }
    int threads = atoi(argv[1]), rounds = atoi(argv[5]), libs = argc - 6;
    int64_t m = atol(argv[2]), n = atol(argv[3]), k = atol(argv[4]);
    int ta = getenv("TA") != NULL, tb = getenv("TB") != NULL;
    int rotate = getenv("ROTATE") != NULL ? atoi(getenv("ROTATE")) : 1;
    if (rotate < 1 || rotate > 16) return 2;
    size_t cold = getenv("COLD") != NULL ? (size_t)atol(getenv("COLD")) << 20 : 0;
    char *flush = cold ? malloc(cold) : NULL;
    if (libs > 16 || rounds < 1 || rounds > 256) return 2;
    gemm_fn gemm[16];
    double *times = calloc((size_t)libs * rounds, sizeof(double));
    for (int l = 0; l < libs; l++) {
        char path[1024];
        snprintf(path, sizeof path, "%s", argv[6 + l]);
        long mc = 0, kc = 0, nc = 0;
        int level = -1;
        char *at = strchr(path, '@');
        if (at != NULL) {
            *at = 0;
            sscanf(at + 1, "%ld,%ld,%ld", &mc, &kc, &nc);
        }
        char *pct = strchr(path, '%');
        if (pct != NULL) {
            *pct = 0;
            level = atoi(pct + 1);
        }
        void *h = open_copy("gemm-ab", path, l);
        gemm[l] = (gemm_fn)dlsym(h, "t4j_gemm");
        ((threads_fn)dlsym(h, "t4j_set_num_threads"))(threads);
        if (level >= 0) ((level_fn)dlsym(h, "t4j_set_simd_level"))(level);
        if (mc) ((blocks_fn)dlsym(h, "t4j_gemm_set_blocks"))(mc, kc, nc);
    }
    int huge = ab_huge(0);
    float *a = ab_alloc((size_t)(m * k) * 4, huge), *c = ab_alloc((size_t)(m * n) * 4, huge), *b[16];
    for (int64_t i = 0; i < m * k; i++) a[i] = (float)(i % 7) * 0.1f;
    for (int s = 0; s < rotate; s++) {
        b[s] = ab_alloc((size_t)(k * n) * 4, huge);
        for (int64_t i = 0; i < k * n; i++) b[s][i] = (float)((i + s) % 5) * 0.1f;
    }
    int64_t lda = ta ? m : k, ldb = tb ? k : n;
    for (int l = 0; l < libs; l++) gemm[l](ta, tb, m, n, k, 1.f, a, lda, b[0], ldb, 0.f, c, n); /* warm-up */
    for (int r = 0; r < rounds; r++)
        for (int l = 0; l < libs; l++) {
            if (flush != NULL) memset(flush, r + l, cold);
            double t0 = now();
            gemm[l](ta, tb, m, n, k, 1.f, a, lda, b[(r * libs + l) % rotate], ldb, 0.f, c, n);
            times[l * rounds + r] = now() - t0;
        }
    if (getenv("TRACE") != NULL) /* each round's times in order, to see a VM's phases come and go */
        for (int r = 0; r < rounds; r++) {
            printf("round %3d:", r);
            for (int l = 0; l < libs; l++) printf(" %.3f", times[l * rounds + r] * 1e3);
            printf(" ms\n");
        }
    for (int l = 0; l < libs; l++) {
        double *t = times + l * rounds;
        qsort(t, rounds, sizeof(double), by_value);
        double median = t[rounds / 2];
        printf("%-40s %c%c %ldx%ldx%ld threads %d: median %.3f ms, %.1f GFLOP/s (min %.3f ms)\n", argv[6 + l], ta ? 'T' : 'N',
               tb ? 'T' : 'N', (long)m, (long)n, (long)k, threads, median * 1e3, 2.0 * m * n * k / median / 1e9, t[0] * 1e3);
    }
    return 0;
}
