/* Whether this machine's FMA throughput holds over time: times chunks of the FMA loop (12 independent ymm chains, the
 * shape of t4j_peak_fma, no memory touched) again and again and prints each twentieth's median and the spread. On a VM
 * whose GEMMs move 1.5-2x between spells (gemm-ab TRACE=1), a steady loop here says the spells are in the memory side
 * (most likely caches or memory a neighbour shares), not in the cores' clocks (BENCHMARKS.md, forty-fourth session). Needs only AVX2+FMA.
 *
 *   gcc -O2 -mavx2 -mfma -o fma-steady bench/native/fma-steady.c
 *   fma-steady [CHUNKS (1000)] [ITERATIONS A CHUNK (5000000: about 10 ms)]; taskset -c N to pin it to one vCPU */
#include <immintrin.h>
#include "ab.h"

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    long iters = argc > 2 ? atol(argv[2]) : 5000000;
    if (n < 20 || iters < 1) return 2;
    /* twelve chains named one by one: in an array GCC keeps them in memory, and the loop times the store forwarding */
    __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    __m256 a0 = _mm256_set1_ps(0), a1 = _mm256_set1_ps(1), a2 = _mm256_set1_ps(2), a3 = _mm256_set1_ps(3), a4 = _mm256_set1_ps(4),
           a5 = _mm256_set1_ps(5), a6 = _mm256_set1_ps(6), a7 = _mm256_set1_ps(7), a8 = _mm256_set1_ps(8), a9 = _mm256_set1_ps(9),
           a10 = _mm256_set1_ps(10), a11 = _mm256_set1_ps(11);
    double *gflops = malloc(n * sizeof(double)), start = now();
    for (int r = 0; r < n; r++) {
        double t0 = now();
        for (long k = 0; k < iters; k++) {
            a0 = _mm256_fmadd_ps(a0, m, c), a1 = _mm256_fmadd_ps(a1, m, c), a2 = _mm256_fmadd_ps(a2, m, c), a3 = _mm256_fmadd_ps(a3, m, c);
            a4 = _mm256_fmadd_ps(a4, m, c), a5 = _mm256_fmadd_ps(a5, m, c), a6 = _mm256_fmadd_ps(a6, m, c), a7 = _mm256_fmadd_ps(a7, m, c);
            a8 = _mm256_fmadd_ps(a8, m, c), a9 = _mm256_fmadd_ps(a9, m, c), a10 = _mm256_fmadd_ps(a10, m, c), a11 = _mm256_fmadd_ps(a11, m, c);
        }
        gflops[r] = 12.0 * 8 * 2 * iters / (now() - t0) / 1e9;
    }
    __m256 sum = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)), _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    float sink = _mm256_cvtss_f32(_mm256_add_ps(sum, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11))));
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
