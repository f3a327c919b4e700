/* gemm-amx-ab THREADS ROUNDS LIB: t4j_gemm on AMX-BF16 tiles, its operands packed at the call (t4j_gemm_on_amx), against
 * the same on the FMA kernels (t4j_linear_set_amx 1 and 0), one library, alternated in one process, for the products of
 * MiniLM's full fine-tuning step at 16 x 96 tokens (1536 rows; the finetune job's): the forward x Wᵀ, the input gradient
 * g W and the weight gradient gᵀ x of the 384 x 384 projections and of the FFN's two, and the worst error of each
 * against double over a few rows, in units of 2^-24 (|alpha| Σ|a b| + |beta c|). ROTATE=R: R operand sets taken in turn
 * (a step's operands come from memory; default 4), ROTATE=1 the same every call (in cache). Prints each product's
 * medians, GFLOP/s and the tiles' speedup. Exits 3 where the library or the CPU gives no AMX tiles. */
#include "ab.h"

#define CHECK_ROWS 16 /* rows of C checked against double */

typedef int32_t (*amx_fn)(int32_t);
typedef int32_t (*on_amx_fn)(int32_t, int64_t, int64_t, int64_t);

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: gemm-amx-ab THREADS ROUNDS LIB\n");
        return 2;
    }
    int threads = atoi(argv[1]), rounds = atoi(argv[2]), sets = getenv("ROTATE") ? atoi(getenv("ROTATE")) : 4;
    if (rounds < 1 || sets < 1 || sets > 16) return 2;
    void *h = open_copy("gemm-amx-ab", argv[3], 0);
    gemm_fn gemm = (gemm_fn)dlsym(h, "t4j_gemm");
    amx_fn set_amx = (amx_fn)dlsym(h, "t4j_linear_set_amx");
    on_amx_fn on_amx = (on_amx_fn)dlsym(h, "t4j_gemm_on_amx");
    if (!gemm || !set_amx || !on_amx) return 3;
    ((threads_fn)dlsym(h, "t4j_set_num_threads"))(threads);
    if (!set_amx(1)) {
        fprintf(stderr, "no AMX-BF16 tiles here\n");
        return 3;
    }
    /* {m, n, k, trans_a, trans_b, beta}: the forward x Wᵀ (trans_b), g W, gᵀ x (trans_a), for W 384 x 384, 1536 x 384
     * (FFN up) and 384 x 1536 (FFN down), over T = 1536 tokens; a weight gradient added into one (beta 1, micro-batches) */
    const int64_t T = 1536, shapes[][6] = {{T, 384, 384, 0, 1, 0},   {T, 384, 384, 0, 0, 0},   {384, 384, T, 1, 0, 0},  {T, 1536, 384, 0, 1, 0},
                                           {T, 384, 1536, 0, 0, 0},  {1536, 384, T, 1, 0, 0}, {T, 384, 1536, 0, 1, 0}, {T, 1536, 384, 0, 0, 0},
                                           {384, 1536, T, 1, 0, 0},  {384, 384, T, 1, 0, 1}};
    const char *what[] = {"q/k/v/o forward", "q/k/v/o dx", "q/k/v/o dW", "FFN up forward", "FFN up dx", "FFN up dW", "FFN down forward", "FFN down dx",
                          "FFN down dW", "q/k/v/o dW += (beta 1)"};
    for (int s = 0; s < 10; s++) {
        int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        int ta = (int)shapes[s][3], tb = (int)shapes[s][4];
        float alpha = 1.0f, beta = (float)shapes[s][5];
        int64_t lda = ta ? m : k, ldb = tb ? k : n;
        float *a[16], *b[16], *c0 = ab_filled((size_t)(m * n), 7, 0.013f, -0.5f), *c = ab_filled((size_t)(m * n), 7, 0.013f, -0.5f);
        for (int r = 0; r < sets; r++) {
            a[r] = ab_filled((size_t)(m * k), 97 + 2 * r, 0.021f, -1.0f);
            b[r] = ab_filled((size_t)(n * k), 89 + 2 * r, 0.0013f, -0.057f);
        }
        double err[2];
        for (int amx = 0; amx < 2; amx++) {
            set_amx(amx);
            for (int64_t e = 0; e < m * n; e++) c[e] = c0[e];
            if (gemm(ta, tb, m, n, k, alpha, a[0], lda, b[0], ldb, beta, c, n) != 0) return 1;
            err[amx] = ab_worst_units(CHECK_ROWS, ta, tb, n, k, alpha, a[0], lda, b[0], ldb, beta, c0, c);
        }
        set_amx(1);
        int tiles = on_amx(ta, m, n, k);
        double *t = malloc(sizeof(double) * 2 * (size_t)rounds);
        for (int i = 0; i < rounds; i++)
            for (int amx = 0; amx < 2; amx++) {
                set_amx(amx);
                double t0 = now();
                gemm(ta, tb, m, n, k, alpha, a[i % sets], lda, b[i % sets], ldb, beta, c, n);
                t[amx * rounds + i] = now() - t0;
            }
        set_amx(1);
        double fma = ab_median(t, rounds), amx = ab_median(t + rounds, rounds), flops = 2.0 * m * n * k;
        printf("%-24s %4ld x %4ld x %4ld%s%s, %d operand set%s, threads %d: FMA %.3f ms (%.0f GFLOP/s), AMX %s %.3f ms (%.0f GFLOP/s): %.2fx; "
               "worst error %.2f and %.2f units\n",
               what[s], (long)m, (long)n, (long)k, ta ? " Aᵀ" : "", tb ? " Bᵀ" : "", sets, sets > 1 ? "s" : "", threads, fma * 1e3, flops / fma * 1e-9,
               tiles ? "tiles" : "(not taken)", amx * 1e3, flops / amx * 1e-9, fma / amx, err[0], err[1]);
        free(t);
    }
    return 0;
}
