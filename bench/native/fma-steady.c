/* Whether this machine's FMA throughput holds over time: times chunks of the FMA loop (12 independent ymm chains, the
 * shape of t4j_peak_fma, no memory touched) again and again and prints each twentieth's median and the spread. On a VM
 * whose GEMMs move 1.5-2x between spells (gemm-ab TRACE=1), a steady loop here says the spells are in the memory side
 * (caches shared with a neighbour), not in the cores' clocks (BENCHMARKS.md, forty-fourth session). Needs only AVX2+FMA.
 *
 *   gcc -O2 -mavx2 -mfma -o fma-steady fma-steady.c
 *   fma-steady [CHUNKS (1000)] [ITERATIONS A CHUNK (5000000: about 10 ms)]; taskset -c N to pin it to one vCPU */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    long iters = argc > 2 ? atol(argv[2]) : 5000000;
    if (n < 20 || iters < 1) return 2;
    __m256 acc[12], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps((float)i);
    double *gflops = malloc(n * sizeof(double)), start = now();
    for (int r = 0; r < n; r++) {
        double t0 = now();
        for (long k = 0; k < iters; k++)
            for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(acc[i], m, c);
        gflops[r] = 12.0 * 8 * 2 * iters / (now() - t0) / 1e9;
    }
    float sink = 0;
    for (int i = 0; i < 12; i++) sink += _mm256_cvtss_f32(acc[i]);
    int seg = n / 20;
    printf("chunk %.2f ms; the median GFLOP/s of each twentieth in order:", (now() - start) / n * 1e3);
    double *part = malloc(seg * sizeof(double));
    for (int q = 0; q < 20; q++) {
        for (int i = 0; i < seg; i++) part[i] = gflops[q * seg + i];
        qsort(part, seg, sizeof(double), by_value);
        printf(" %.0f", part[seg / 2]);
    }
    qsort(gflops, n, sizeof(double), by_value);
    printf("\nGFLOP/s: min %.1f, p10 %.1f, median %.1f, p90 %.1f, max %.1f (%g)\n", gflops[0], gflops[n / 10], gflops[n / 2], gflops[9 * n / 10],
           gflops[n - 1], sink);
    return 0;
}
