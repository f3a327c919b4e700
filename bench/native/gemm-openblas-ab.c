/* gemm-openblas-ab ROUNDS LIBTUNE4J: 1024^3 f32 GEMM on one thread, tune4j's (t4j_gemm) and OpenBLAS's (cblas_sgemm)
 * alternated in one process, medians of the rounds: the comparison `bench gemm` makes minutes apart, with both under
 * the same moment of a noisy machine. OPENBLAS_CORETYPE picks OpenBLAS's kernels as it loads (Haswell: held to AVX2);
 * OPENBLAS_LIB names the library (Debian's libopenblas0-pthread by default). */
#include <stdint.h>
#include "ab.h"
typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
typedef void (*oth_fn)(int);
int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: [OPENBLAS_CORETYPE=Haswell] gemm-openblas-ab ROUNDS LIBTUNE4J\n");
        return 2;
    }
    int rounds = atoi(argv[1]);
    int64_t n = 1024;
    if (rounds < 1 || rounds > 256) return 2;
    void *t = open_copy("oab", argv[2], 0);
    gemm_fn g = dlsym(t, "t4j_gemm"); ((threads_fn)dlsym(t, "t4j_set_num_threads"))(1);
    const char *lib = getenv("OPENBLAS_LIB") ? getenv("OPENBLAS_LIB") : "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0";
    void *o = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (o == NULL) {
        fprintf(stderr, "%s\n", dlerror());
        return 1;
    }
    sgemm_fn s = dlsym(o, "cblas_sgemm"); ((oth_fn)dlsym(o, "openblas_set_num_threads"))(1);
    const char *(*corename)(void) = dlsym(o, "openblas_get_corename");
    float *a = ab_alloc(n * n * 4, 1), *b = ab_alloc(n * n * 4, 1), *c = ab_alloc(n * n * 4, 1);
    for (int64_t i = 0; i < n * n; i++) a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.1f;
    double tt[256], to[256];
    for (int r = -2; r < rounds; r++) { /* two rounds of warm-up */
        double t0 = now();
        g(0, 0, n, n, n, 1, a, n, b, n, 0, c, n);
        double t1 = now();
        s(101, 111, 111, n, n, n, 1, a, n, b, n, 0, c, n); /* row-major, no transposes */
        double t2 = now();
        if (r >= 0) tt[r] = t1 - t0, to[r] = t2 - t1;
    }
    double ours = ab_median(tt, rounds), theirs = ab_median(to, rounds);
    printf("1024^3 one thread, alternated %d rounds: tune4j %.3f ms, openblas [%s] %.3f ms: %.3fx\n", rounds, ours * 1e3, corename ? corename() : "?",
           theirs * 1e3, theirs / ours);
    return 0;
}
