/* linear-amx-ab THREADS ROUNDS LIB: the packed f32 linear y = x Wᵀ on AMX-BF16 tiles against the same on the FMA kernels'
 * slivers (t4j_linear_set_amx 1 and 0 at packing), one library, alternated in one process, for MiniLM's shapes (128 rows,
 * a batch-1 sequence, and 2048, a training step's batch of 16) and the worst error of each against double, in units
 * of 2^-24 Σ|x w| (a float's rounding of the sum's magnitudes). ROTATE=R: R weight sets taken in turn (from memory, as a
 * forward's 36 weights are; default 8), ROTATE=1 the same weights every call (in cache). Prints each shape's medians, GFLOP/s
 * and AMX's speedup. Exits 3 where the library or the CPU gives no AMX tiles. */
#include "ab.h"

#include <string.h>

#define T4J_AB_CHECK_ROWS 64 /* rows of y checked against double */

typedef int64_t (*size_fn)(int64_t, int64_t);
typedef int32_t (*pack_fn)(int64_t, int64_t, const float *, int64_t, void *, int64_t);
typedef int32_t (*packed_fn)(int64_t, int64_t, int64_t, const float *, int64_t, const void *, const float *, float *, int64_t);
typedef int32_t (*amx_fn)(int32_t);

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: linear-amx-ab THREADS ROUNDS LIB\n");
        return 2;
    }
    int threads = atoi(argv[1]), rounds = atoi(argv[2]), sets = getenv("ROTATE") ? atoi(getenv("ROTATE")) : 8;
    if (rounds < 1 || sets < 1 || sets > 16) return 2;
    void *h = open_copy("linear-amx-ab", argv[3], 0);
    size_fn size = (size_fn)dlsym(h, "t4j_linear_packed_size");
    pack_fn pack = (pack_fn)dlsym(h, "t4j_linear_pack");
    packed_fn linear = (packed_fn)dlsym(h, "t4j_linear_packed");
    amx_fn set_amx = (amx_fn)dlsym(h, "t4j_linear_set_amx");
    if (!size || !pack || !linear || !set_amx) return 3;
    ((threads_fn)dlsym(h, "t4j_set_num_threads"))(threads);
    if (!set_amx(1)) {
        fprintf(stderr, "no AMX-BF16 tiles here\n");
        return 3;
    }
    const int64_t shapes[][3] = {{128, 384, 384}, {128, 1536, 384}, {128, 384, 1536}, {2048, 384, 384}, {2048, 1536, 384}, {2048, 384, 1536}};
    for (int s = 0; s < 6; s++) {
        int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *x = ab_filled((size_t)(m * k), 97, 0.021f, -1.0f), *y = ab_filled((size_t)(m * n), 1, 0, 0);
        float *w[16];
        void *packed[2][16];
        for (int r = 0; r < sets; r++) {
            w[r] = ab_filled((size_t)(n * k), 89 + 2 * r, 0.0013f, -0.057f);
            for (int amx = 1; amx >= 0; amx--) { /* [1]: AMX tiles, [0]: the slivers alone */
                set_amx(amx);
                int64_t bytes = size(n, k);
                packed[amx][r] = ab_alloc((size_t)bytes, 1);
                if (pack(n, k, w[r], k, packed[amx][r], bytes) != 0) return 1;
            }
        }
        set_amx(1); /* the slivers' packing runs on the FMA kernels whatever the setting */
        double err[2];
        for (int amx = 0; amx < 2; amx++) {
            if (linear(m, n, k, x, k, packed[amx][0], NULL, y, n) != 0) return 1;
            err[amx] = ab_worst_units(T4J_AB_CHECK_ROWS, 0, 1, n, k, 1.0f, x, k, w[0], k, 0.0f, NULL, y);
        }
        double *t = malloc(sizeof(double) * 2 * (size_t)rounds);
        for (int i = 0; i < rounds; i++)
            for (int amx = 0; amx < 2; amx++) {
                double t0 = now();
                linear(m, n, k, x, k, packed[amx][i % sets], NULL, y, n);
                t[amx * rounds + i] = now() - t0;
            }
        double fma = ab_median(t, rounds), amx = ab_median(t + rounds, rounds), flops = 2.0 * m * n * k;
        printf("%4ld x %4ld x %4ld, %d weight set%s, threads %d: FMA slivers %.3f ms (%.0f GFLOP/s), AMX tiles %.3f ms (%.0f GFLOP/s): %.2fx; "
               "worst error %.2f and %.2f units of 2^-24 sum|x w|\n",
               (long)m, (long)n, (long)k, sets, sets > 1 ? "s" : "", threads, fma * 1e3, flops / fma * 1e-9, amx * 1e3, flops / amx * 1e-9, fma / amx, err[0], err[1]);
        free(t);
    }
    return 0;
}
