/* int8-avx2-ceiling ROUNDS LIB: how fast an AVX2 int8 register tile can run on this core at all, its operands in L1,
 * against the library's int8 loop (t4j_peak_int8: vpmaddwd and vpaddd alone) in the same rounds.
 *
 * Without VNNI, a u8 x s8 product goes through vpmaddubsw (pairs of products summed into int16, saturating) and
 * vpmaddwd by ones (into int32). With activations offset to unsigned bytes, two products of 255 x 127 overflow int16,
 * so the exact kernel (quant_avx2.c) keeps activations signed and multiplies |a| by the weight given a's sign: vpsignb,
 * vpmaddubsw, vpmaddwd, vpaddd a vector. This times that 4 x 16 tile (avx2_full_tile's loop) beside the form without
 * the sign step (vpmaddubsw, vpmaddwd, vpaddd: faster, and wrong where a pair saturates), on the same bytes, K = 384
 * (a 24 KiB panel). What lies between the exact tile and the loop, no exact kernel of this kind reaches on this core. */
#include <immintrin.h>
#include <string.h>

#include "ab.h"

typedef int64_t (*peak_fn)(int64_t);
enum { QUADS = 96, ROWS = 4 };

/* one 4 x 16 pass over QUADS quads; SIGNED: the exact kernel's sign step (x signed), else x taken as unsigned */
#define TILE(NAME, SIGNED)                                                                                             \
    __attribute__((noinline, target("avx2"))) static void NAME(int64_t quads, const uint8_t *x, const int8_t *pass, __m256i *c) { \
        const __m256i ones = _mm256_set1_epi16(1);                                                                     \
        __m256i c00 = c[0], c01 = c[1], c10 = c[2], c11 = c[3], c20 = c[4], c21 = c[5], c30 = c[6], c31 = c[7];         \
        for (int64_t q = 0; q < quads; q++) {                                                                          \
            const int8_t *b = pass + q * 256;                                                                          \
            __m256i w0 = _mm256_loadu_si256((const __m256i *)b), w1 = _mm256_loadu_si256((const __m256i *)(b + 32));   \
            ROW(SIGNED, 0);                                                                                            \
            ROW(SIGNED, 1);                                                                                            \
            ROW(SIGNED, 2);                                                                                            \
            ROW(SIGNED, 3);                                                                                            \
        }                                                                                                              \
        c[0] = c00, c[1] = c01, c[2] = c10, c[3] = c11, c[4] = c20, c[5] = c21, c[6] = c30, c[7] = c31;                \
    }
#define ROW(SIGNED, i)                                                                                                           \
    do {                                                                                                                         \
        __m256i a = _mm256_set1_epi32(*(const int32_t *)(x + (i) * 4 * QUADS + 4 * q)), u = SIGNED ? _mm256_abs_epi8(a) : a;     \
        c##i##0 = _mm256_add_epi32(c##i##0, _mm256_madd_epi16(_mm256_maddubs_epi16(u, SIGNED ? _mm256_sign_epi8(w0, a) : w0), ones)); \
        c##i##1 = _mm256_add_epi32(c##i##1, _mm256_madd_epi16(_mm256_maddubs_epi16(u, SIGNED ? _mm256_sign_epi8(w1, a) : w1), ones)); \
    } while (0)
TILE(exact_tile, 1)
TILE(saturating_tile, 0)

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: int8-avx2-ceiling ROUNDS LIB\n");
        return 2;
    }
    if (!__builtin_cpu_supports("avx2")) {
        fprintf(stderr, "int8-avx2-ceiling: this CPU has no AVX2\n");
        return 1;
    }
    int rounds = atoi(argv[1]);
    void *h = open_copy("int8-avx2-ceiling", argv[2], 0);
    peak_fn peak = (peak_fn)dlsym(h, "t4j_peak_int8");
    if (peak == NULL || rounds < 1) return 2;
    int8_t *panel = ab_alloc(QUADS * 256, 0);
    uint8_t *x = ab_alloc(ROWS * 4 * QUADS, 0);
    for (int i = 0; i < QUADS * 256; i++) panel[i] = (int8_t)(i * 7 % 255 - 127);
    for (int i = 0; i < ROWS * 4 * QUADS; i++) x[i] = (uint8_t)(i * 5 % 255 - 127);
    __m256i c[8];
    memset(c, 0, sizeof c);
    const int64_t calls = 40000, ops = calls * QUADS * 4 * 16 * ROWS * 2; /* 2 ops a multiply-add */
    double *loop = ab_alloc(rounds * sizeof(double), 0), *exact = ab_alloc(rounds * sizeof(double), 0), *sat = ab_alloc(rounds * sizeof(double), 0);
    double *exact_share = ab_alloc(rounds * sizeof(double), 0), *sat_share = ab_alloc(rounds * sizeof(double), 0);
    for (int r = 0; r < rounds; r++) {
        double t = now();
        int64_t n = peak(20000000);
        loop[r] = n / (now() - t) * 1e-9;
        t = now();
        for (int64_t i = 0; i < calls; i++) exact_tile(QUADS, x, panel + 64 * (i & 3), c);
        exact[r] = ops / (now() - t) * 1e-9;
        t = now();
        for (int64_t i = 0; i < calls; i++) saturating_tile(QUADS, x, panel + 64 * (i & 3), c);
        sat[r] = ops / (now() - t) * 1e-9;
        exact_share[r] = exact[r] / loop[r], sat_share[r] = sat[r] / loop[r];
    }
    /* ab_median sorts in place, so the quartiles are read after it (as tile-ceiling does) */
    int lo = rounds / 4, hi = rounds - 1 - rounds / 4;
    printf("int8 loop (vpmaddwd + vpaddd)         %7.1f GOP/s\n", ab_median(loop, rounds));
    double exact_rate = ab_median(exact, rounds), exact_median = ab_median(exact_share, rounds);
    printf("exact 4 x 16 tile (sign, maddubs, ...) %7.1f GOP/s, %.1f%% of its round's loop (quartiles %.1f-%.1f%%)\n", exact_rate,
           100 * exact_median, 100 * exact_share[lo], 100 * exact_share[hi]);
    double sat_rate = ab_median(sat, rounds), sat_median = ab_median(sat_share, rounds);
    printf("saturating form (no sign step)         %7.1f GOP/s, %.1f%% of its round's loop (quartiles %.1f-%.1f%%)\n", sat_rate,
           100 * sat_median, 100 * sat_share[lo], 100 * sat_share[hi]);
    int32_t sums[64], s = 0;
    memcpy(sums, c, sizeof sums);
    for (int i = 0; i < 64; i++) s += sums[i];
    return s == 123456789; /* keeps the sums alive */
}
