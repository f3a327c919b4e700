/* int8-avx2-ceiling ROUNDS LIB: how fast an AVX2 int8 register tile can run on this core at all, its operands in L1,
 * against the library's int8 loop (t4j_peak_int8: vpmaddwd and vpaddd alone) in the same rounds.
 *
 * Without VNNI, a u8 x s8 product goes through vpmaddubsw (pairs of products summed into int16, saturating) and
 * vpmaddwd by ones (into int32). With activations offset to unsigned bytes, two products of 255 x 127 overflow int16,
 * so the exact kernel (quant_avx2.c) keeps activations signed and multiplies |a| by the weight given a's sign: vpsignb,
 * vpmaddubsw, vpmaddwd, vpaddd a vector. This times that 4 x 16 tile (avx2_full_tile's loop) beside the form without
 * the sign step (vpmaddubsw, vpmaddwd, vpaddd: faster, and wrong where a pair saturates), on the same bytes, K = 384
 * (a 24 KiB panel). What lies between the exact tile and the loop, no exact kernel of this kind reaches on this core.
 *
 * Beside them, the exact form through int16: 16 bytes of the panel (4 columns x 4 k) sign-extended (vpmovsxbw), each
 * row's 4 activations stored as int16 and broadcast as 64 bits, vpmaddwd and vpaddd; no sign step, and the same sums.
 * A 6 x 8 tile of it needs all 16 registers, and GCC kept half its sums in memory (47% of the loop on Zen 3), so it is
 * written in asm here (BENCHMARKS.md, "Tried, not kept: int8 through int16 on AVX2"). */
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

/* 6 rows x 8 columns through int16, QUADS quads: ymm0-11 the sums, 12-13 the widened weights, 14 the broadcast, 15 a
 * product; x16's rows 4 QUADS int16 (768 bytes) apart */
#define I16_ROW(off, s0, s1)                                                                                           \
    "vpbroadcastq " #off "(%[x]), %%ymm14\n\t"                                                                        \
    "vpmaddwd %%ymm14, %%ymm12, %%ymm15\n\t vpaddd %%ymm15, %%ymm" #s0 ", %%ymm" #s0 "\n\t"                          \
    "vpmaddwd %%ymm14, %%ymm13, %%ymm15\n\t vpaddd %%ymm15, %%ymm" #s1 ", %%ymm" #s1 "\n\t"
__attribute__((noinline, target("avx2"))) static void int16_tile(int64_t quads, const int16_t *x16, const int8_t *pass, __m256i *c) {
    _Static_assert(QUADS * 4 * 2 == 768, "the rows' displacements below");
    __asm__ volatile("vmovdqu 0(%[c]), %%ymm0\n\t vmovdqu 32(%[c]), %%ymm1\n\t vmovdqu 64(%[c]), %%ymm2\n\t vmovdqu 96(%[c]), %%ymm3\n\t"
                     "vmovdqu 128(%[c]), %%ymm4\n\t vmovdqu 160(%[c]), %%ymm5\n\t vmovdqu 192(%[c]), %%ymm6\n\t vmovdqu 224(%[c]), %%ymm7\n\t"
                     "vmovdqu 256(%[c]), %%ymm8\n\t vmovdqu 288(%[c]), %%ymm9\n\t vmovdqu 320(%[c]), %%ymm10\n\t vmovdqu 352(%[c]), %%ymm11\n\t"
                     "1:\n\t"
                     "vpmovsxbw (%[b]), %%ymm12\n\t vpmovsxbw 16(%[b]), %%ymm13\n\t"
                     I16_ROW(0, 0, 1) I16_ROW(768, 2, 3) I16_ROW(1536, 4, 5) I16_ROW(2304, 6, 7) I16_ROW(3072, 8, 9) I16_ROW(3840, 10, 11)
                     "add $256, %[b]\n\t add $8, %[x]\n\t dec %[n]\n\t jnz 1b\n\t"
                     "vmovdqu %%ymm0, 0(%[c])\n\t vmovdqu %%ymm1, 32(%[c])\n\t vmovdqu %%ymm2, 64(%[c])\n\t vmovdqu %%ymm3, 96(%[c])\n\t"
                     "vmovdqu %%ymm4, 128(%[c])\n\t vmovdqu %%ymm5, 160(%[c])\n\t vmovdqu %%ymm6, 192(%[c])\n\t vmovdqu %%ymm7, 224(%[c])\n\t"
                     "vmovdqu %%ymm8, 256(%[c])\n\t vmovdqu %%ymm9, 288(%[c])\n\t vmovdqu %%ymm10, 320(%[c])\n\t vmovdqu %%ymm11, 352(%[c])\n\t"
                     : [b] "+r"(pass), [x] "+r"(x16), [n] "+r"(quads)
                     : [c] "r"(c)
                     : "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
                       "xmm13", "xmm14", "xmm15");
}
#undef I16_ROW

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
    int16_t *x16 = ab_alloc(6 * 4 * QUADS * sizeof(int16_t), 0);
    for (int i = 0; i < QUADS * 256; i++) panel[i] = (int8_t)(i * 7 % 255 - 127);
    for (int i = 0; i < ROWS * 4 * QUADS; i++) x[i] = (uint8_t)(i * 5 % 255 - 127);
    for (int i = 0; i < 6 * 4 * QUADS; i++) x16[i] = (int8_t)(uint8_t)(i * 5 % 255 - 127);
    __m256i c[12];
    memset(c, 0, sizeof c);
    const int64_t calls = 40000, ops = calls * QUADS * 4 * 16 * ROWS * 2; /* 2 ops a multiply-add */
    double *loop = ab_alloc(rounds * sizeof(double), 0), *exact = ab_alloc(rounds * sizeof(double), 0), *sat = ab_alloc(rounds * sizeof(double), 0);
    double *exact_share = ab_alloc(rounds * sizeof(double), 0), *sat_share = ab_alloc(rounds * sizeof(double), 0);
    double *wide = ab_alloc(rounds * sizeof(double), 0), *wide_share = ab_alloc(rounds * sizeof(double), 0);
    const int64_t wide_ops = calls * QUADS * 4 * 8 * 6 * 2;
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
        t = now();
        for (int64_t i = 0; i < calls; i++) int16_tile(QUADS, x16, panel + 64 * (i & 3), c);
        wide[r] = wide_ops / (now() - t) * 1e-9;
        exact_share[r] = exact[r] / loop[r], sat_share[r] = sat[r] / loop[r], wide_share[r] = wide[r] / loop[r];
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
    double wide_rate = ab_median(wide, rounds), wide_median = ab_median(wide_share, rounds);
    printf("exact through int16, 6 x 8 (asm)      %7.1f GOP/s, %.1f%% of its round's loop (quartiles %.1f-%.1f%%)\n", wide_rate,
           100 * wide_median, 100 * wide_share[lo], 100 * wide_share[hi]);
    int32_t sums[96], s = 0;
    memcpy(sums, c, sizeof sums);
    for (int i = 0; i < 96; i++) s += sums[i];
    return s == 123456789; /* keeps the sums alive */
}
