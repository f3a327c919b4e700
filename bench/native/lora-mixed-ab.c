/* lora-mixed-ab THREADS ROUNDS D_IN D_OUT LIB...: where a mixed-adapter batch's time goes (issue 20). A batch of 32
 * sequences of 128 tokens (4096 rows), rank 16, each sequence its own adapter, over one layer d_in -> d_out. Per library,
 * medians of the rounds (libraries alternated in one process):
 *   packed:   the base alone on W packed ahead (t4j_linear_packed), what the mixed path's GEMM does without its epilogue;
 *   mixed32:  t4j_lora_mixed_forward_packed, 32 adapters (shrink, then the base GEMM with each tile's low-rank terms);
 *   mixed1:   the same with one adapter for every row;
 *   shrink32: its shrink alone (t4j_lora_shrink_segments, 32 adapters);
 *   fused:    one adapter through the fused LoRA layer (t4j_lora_forward: W as is, the low-rank term a K segment).
 * ONLY=k runs kind k alone (0 packed .. 4 fused; the other columns then read 0), for a profile of one.
 * Then the mixed outputs of each library against the first's, bit for bit (exits 1 if any differ). Build libraries with
 * bench/native/gemm-variants.sh. */
#include <stdint.h>
#include <string.h>

#include "ab.h"

typedef int32_t (*lf_fn)(int64_t, int64_t, int64_t, int64_t, const float *, const float *, const float *, const float *, const float *, const float *, float, float *, float *);
typedef int64_t (*psize_fn)(int64_t, int64_t);
typedef int32_t (*pack_fn)(int64_t, int64_t, const float *, int64_t, void *, int64_t);
typedef int32_t (*packed_fn)(int64_t, int64_t, int64_t, const float *, int64_t, const void *, const float *, float *, int64_t);
typedef int32_t (*mixed_fn)(int64_t, int64_t, int64_t, const float *, int64_t, const void *, const float *, int64_t, const int32_t *, const int32_t *, int64_t,
                            const float *const *, const float *const *, const int64_t *, const float *, float *, int64_t, float *, int64_t);
typedef int32_t (*shrink_fn)(int64_t, const int32_t *, const int32_t *, int64_t, const float *const *, const int64_t *, const float *, int64_t, float *, int64_t);

enum { SEQS = 32, SEQ = 128, T = SEQS * SEQ, R = 16, KINDS = 5 };
static const char *kinds[KINDS] = {"packed", "mixed32", "mixed1", "shrink32", "fused"};

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: lora-mixed-ab THREADS ROUNDS D_IN D_OUT LIB...\n");
        return 2;
    }
    int threads = atoi(argv[1]), rounds = atoi(argv[2]), libs = argc - 5;
    int64_t di = atol(argv[3]), dout = atol(argv[4]);
    if (libs > 8 || rounds < 1 || rounds > 256 || di < 1 || dout < 1) return 2;
    float *x = ab_filled((size_t)(T * di), 97, 0.02f, -1.0f), *w = ab_filled((size_t)(dout * di), 89, 0.01f, -0.4f);
    float *y = ab_filled((size_t)(T * dout), 7, 0, 0), *h = ab_filled((size_t)(T * R), 7, 0, 0);
    const float *a[SEQS], *b[SEQS];
    int64_t ranks[SEQS];
    float scales[SEQS];
    int32_t start[SEQS + 1], each[SEQS], one[SEQS];
    for (int i = 0; i < SEQS; i++) {
        a[i] = ab_filled((size_t)(R * di), 31 + i, 0.01f, -0.15f);
        b[i] = ab_filled((size_t)(dout * R), 37 + i, 0.01f, -0.18f);
        ranks[i] = R, scales[i] = 2.0f, start[i] = i * SEQ, each[i] = i, one[i] = 0;
    }
    start[SEQS] = T;
    packed_fn packed[8];
    mixed_fn mixed[8];
    shrink_fn shrink[8];
    lf_fn fused[8];
    void *wp[8];
    for (int l = 0; l < libs; l++) {
        void *lib = open_copy("lora-mixed-ab", argv[5 + l], l);
        packed[l] = (packed_fn)dlsym(lib, "t4j_linear_packed");
        mixed[l] = (mixed_fn)dlsym(lib, "t4j_lora_mixed_forward_packed");
        shrink[l] = (shrink_fn)dlsym(lib, "t4j_lora_shrink_segments");
        fused[l] = (lf_fn)dlsym(lib, "t4j_lora_forward");
        ((threads_fn)dlsym(lib, "t4j_set_num_threads"))(threads);
        int64_t bytes = ((psize_fn)dlsym(lib, "t4j_linear_packed_size"))(dout, di);
        wp[l] = ab_alloc((size_t)bytes, 1);
        if (wp[l] == NULL || ((pack_fn)dlsym(lib, "t4j_linear_pack"))(dout, di, w, di, wp[l], bytes) != 0) return 1;
    }
    static double ts[8][KINDS][256];
    const int only = getenv("ONLY") != NULL ? atoi(getenv("ONLY")) : -1; /* ONLY=k times that kind alone (for perf) */
    for (int it = -2; it < rounds; it++)
        for (int l = 0; l < libs; l++)
            for (int k = 0; k < KINDS; k++) {
                if (only >= 0 && k != only) continue;
                double t0 = now();
                int32_t rc = 0;
                switch (k) {
                case 0: rc = packed[l](T, dout, di, x, di, wp[l], NULL, y, dout); break;
                case 1: rc = mixed[l](T, di, dout, x, di, wp[l], NULL, SEQS, start, each, SEQS, a, b, ranks, scales, h, R, y, dout); break;
                case 2: rc = mixed[l](T, di, dout, x, di, wp[l], NULL, SEQS, start, one, 1, a, b, ranks, scales, h, R, y, dout); break;
                case 3: rc = shrink[l](SEQS, start, each, di, a, ranks, x, di, h, R); break;
                default: rc = fused[l](T, di, dout, R, x, NULL, w, NULL, a[0], b[0], 2.0f, h, y); break;
                }
                if (rc != 0) return 1;
                if (it >= 0) ts[l][k][it] = now() - t0;
            }
    /* the mixed outputs of every library against the first's, bit for bit (y and h, 32 adapters and one) */
    float *y0 = ab_filled((size_t)(T * dout), 7, 0, 0), *h0 = ab_filled((size_t)(T * R), 7, 0, 0);
    int differ = 0;
    for (int form = 0; form < 2; form++)
        for (int l = 0; l < libs; l++) {
            float *yo = l == 0 ? y0 : y, *ho = l == 0 ? h0 : h;
            if (mixed[l](T, di, dout, x, di, wp[l], NULL, SEQS, start, form ? one : each, form ? 1 : SEQS, a, b, ranks, scales, ho, R, yo, dout) != 0) return 1;
            if (l > 0 && (memcmp(y0, y, (size_t)(T * dout) * sizeof(float)) != 0 || memcmp(h0, h, (size_t)(T * R) * sizeof(float)) != 0)) {
                printf("%s: the mixed outputs (%s) differ from %s's\n", argv[5 + l], form ? "one adapter" : "32 adapters", argv[5]);
                differ = 1;
            }
        }
    for (int l = 0; l < libs; l++) {
        double med[KINDS];
        for (int k = 0; k < KINDS; k++) med[k] = ab_median(ts[l][k], rounds);
        printf("%-20s %ldx%ld threads %d:", argv[5 + l], (long)di, (long)dout, threads);
        for (int k = 0; k < KINDS; k++) printf(" %s %.3f ms", kinds[k], med[k] * 1e3);
        printf(" | mixed32 / fused %.3f, mixed32 / packed %.3f\n", med[1] / med[4], med[1] / med[0]);
    }
    return differ;
}
