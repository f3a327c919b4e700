/* What the A/B timing tools (gemm-ab, ops-ab, bert-gemms-ab, bert-forward-ab, int8-ab, int8-24-ab, int8-batch-ab, lora-ab,
 * gemm-openblas-ab) share: a clock, a comparison for qsort, loading one libtune4j.so build as a private copy (so that a
 * build named twice still gets a pool and settings of its own), the C ABI's signatures they all call, the THREADS
 * ROUNDS LIB... arguments, filled buffers, the medians' report, and a product's worst error against double
 * (linear-amx-ab, gemm-amx-ab). */
#ifndef TUNE4J_AB_H
#define TUNE4J_AB_H

#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* t4j_gemm, t4j_set_num_threads and t4j_set_simd_level, looked up with dlsym in each build */
typedef int32_t (*gemm_fn)(int32_t, int32_t, int64_t, int64_t, int64_t, float, const float *, int64_t, const float *, int64_t, float, float *, int64_t);
typedef void (*threads_fn)(int32_t);
typedef int32_t (*level_fn)(int32_t); /* t4j_set_simd_level: 0 portable, 1 AVX2, 2 AVX-512 */

static inline double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int by_value(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* dlopen()s a copy of the library at path (copy number index of this process); exits on failure. */
static void *open_copy(const char *tool, const char *path, int index) {
    char copy[128], cmd[1400];
    snprintf(copy, sizeof copy, "/tmp/%s-%d-%d.so", tool, (int)getpid(), index);
    snprintf(cmd, sizeof cmd, "cp '%s' %s", path, copy);
    if (system(cmd) != 0) exit(1);
    void *h = dlopen(copy, RTLD_NOW | RTLD_LOCAL);
    if (getenv("AB_KEEP") == NULL) remove(copy); /* AB_KEEP=1: left in /tmp, so that perf can name its symbols */
    if (h == NULL) {
        fprintf(stderr, "%s\n", dlerror());
        exit(1);
    }
    return h;
}

/* The arguments of the tools that take THREADS ROUNDS LIB... (1 to 16 libraries, rounds >= 1): exits with status 2,
 * and the usage line when arguments are missing, unless they are there. */
static inline void ab_args(int argc, char **argv, const char *tool, int *threads, int *rounds, int *libs) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s THREADS ROUNDS LIB...\n", tool);
        exit(2);
    }
    *threads = atoi(argv[1]);
    *rounds = atoi(argv[2]);
    *libs = argc - 3;
    if (*libs > 16 || *rounds < 1) exit(2);
}

/* bytes of memory, 64-byte aligned; with huge != 0, 2 MiB aligned and madvise'd to transparent huge pages before it
 * is first touched (what host tensors of 2 MiB or more get in tune4j); exits when there is no memory. */
static inline void *ab_alloc(size_t bytes, int huge) {
    size_t page = (size_t)2 << 20, size = huge ? (bytes + page - 1) / page * page : (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(huge ? page : 64, size);
    if (p == NULL) exit(1);
    if (huge) madvise(p, size, MADV_HUGEPAGE);
    return p;
}

/* bytes carved in order from one 256 MiB region on huge pages when huge (as a model's many small matrices would sit in
 * one pool), else ab_alloc's own; never freed. */
static inline void *ab_carve(size_t bytes, int huge) {
    static char *region;
    static size_t used;
    const size_t cap = (size_t)256 << 20, size = (bytes + 63) / 64 * 64;
    if (!huge) return ab_alloc(bytes, 0);
    if (region == NULL) region = ab_alloc(cap, 1);
    if (used + size > cap) exit(1);
    used += size;
    return region + used - size;
}

/* Whether the environment asks for huge pages (HUGE set) for library l: HUGE=i gives them to libraries i, i + 1, ... */
static inline int ab_huge(int l) {
    const char *huge = getenv("HUGE");
    return huge != NULL && l >= atoi(huge);
}

/* n floats, 64-byte aligned (n rounded up to whole lines): (i % period) * scale + shift; exits when there is no memory. */
static inline float *ab_filled(size_t n, size_t period, float scale, float shift) {
    float *p = aligned_alloc(64, ((n * sizeof(float) + 63) / 64) * 64);
    if (p == NULL) exit(1);
    for (size_t i = 0; i < n; i++) p[i] = (float)(i % period) * scale + shift;
    return p;
}

/* The worst |c - alpha Σ op(A) op(B) - beta c0| over C's first rows, in units of 2^-24 (|alpha| Σ|op(A) op(B)| +
 * |beta c0|: a float's rounding of the sum's magnitudes), in double. op(A)(i, p) = a[i·lda + p] (a[p·lda + i] with ta),
 * op(B)(p, j) = b[p·ldb + j] (b[j·ldb + p] with tb); c and c0 have n columns, c0 is read only where beta is not 0. */
static inline double ab_worst_units(int64_t rows, int ta, int tb, int64_t n, int64_t k, float alpha, const float *a, int64_t lda, const float *b,
                                    int64_t ldb, float beta, const float *c0, const float *c) {
    double worst = 0;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0, mag = 0;
            for (int64_t p = 0; p < k; p++) {
                double t = (double)(ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
                s += t;
                mag += fabs(t);
            }
            double before = beta != 0.0f ? (double)beta * c0[i * n + j] : 0.0, scale = fabs(alpha) * mag + fabs(before);
            double e = fabs(c[i * n + j] - (alpha * s + before)) / (ldexp(1.0, -24) * (scale > 0 ? scale : 1e-30));
            if (e > worst) worst = e;
        }
    return worst;
}

/* The median of rounds times at t (sorted in place: t[0] is then their minimum). */
static inline double ab_median(double *t, int rounds) {
    qsort(t, (size_t)rounds, sizeof(double), by_value);
    return t[rounds / 2];
}

/* Each library's median and minimum of its rounds' times (seconds, library l's at times[l * rounds ...]; sorted in place). */
static inline void ab_print_medians(double *times, int libs, int rounds, char **names, int threads) {
    for (int l = 0; l < libs; l++) {
        double *t = times + (size_t)l * rounds;
        double median = ab_median(t, rounds); /* sorts: only then is t[0] the minimum (the order a call's arguments are
                                                 evaluated in is unspecified, and GCC had read t[0] first) */
        printf("%-22s threads %d: median %.3f ms (min %.3f)\n", names[l], threads, median * 1e3, t[0] * 1e3);
    }
}

#endif
