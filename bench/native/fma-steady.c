/* Whether this machine's FMA throughput holds over time: times chunks of the library's FMA loop (t4j_peak_fma, the
 * loop `tune4j bench` measures the peak with, at the library's SIMD level; no memory touched) again and again and
 * prints each twentieth's median and the spread. On a VM whose GEMMs move 1.5-2x between spells (gemm-ab TRACE=1), a
 * steady loop here says the spells are in the memory side (most likely caches or memory a neighbour shares), not in
 * the cores' clocks (BENCHMARKS.md, forty-fourth session).
 *
 *   fma-steady LIB [CHUNKS (1000)] [ITERATIONS A CHUNK (5000000: about 10 ms at AVX2)]; taskset -c N to pin it to one
 *   vCPU (gemm-variants.sh builds it and the library) */
#include "ab.h"

typedef int64_t (*peak_fn)(int64_t);

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: fma-steady LIB [CHUNKS] [ITERATIONS]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 1000;
    long iters = argc > 3 ? atol(argv[3]) : 5000000;
    if (n < 20 || iters < 1) return 2;
    peak_fn peak = (peak_fn)dlsym(open_copy("fma-steady", argv[1], 0), "t4j_peak_fma");
    double *gflops = malloc(n * sizeof(double)), start = now();
    for (int r = 0; r < n; r++) {
        double t0 = now();
        int64_t flops = peak(iters);
        gflops[r] = (double)flops / (now() - t0) / 1e9;
    }
    int seg = n / 20;
    printf("chunk %.2f ms; the median GFLOP/s of each twentieth in order:", (now() - start) / n * 1e3);
    double *part = malloc(seg * sizeof(double));
    for (int q = 0; q < 20; q++) {
        for (int i = 0; i < seg; i++) part[i] = gflops[q * seg + i];
        qsort(part, seg, sizeof(double), by_value);
        printf(" %.0f", part[seg / 2]);
    }
    qsort(gflops, n, sizeof(double), by_value);
    printf("\nGFLOP/s: min %.1f, p10 %.1f, median %.1f, p90 %.1f, max %.1f\n", gflops[0], gflops[n / 10], gflops[n / 2], gflops[9 * n / 10], gflops[n - 1]);
    return 0;
}
