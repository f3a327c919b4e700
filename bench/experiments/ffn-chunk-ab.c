/* ffn-chunk-ab THREADS ROUNDS LIB MODE...: MiniLM's training-step FFN (2048 rows, 384 -> 1536 -> 384, erf GELU, frozen
 * weights, no LoRA on it: y = GELU(x W1ᵀ + b1) W2ᵀ + b2, then dg = dy W2, dh = GELU'(h) dg, dx = dh W1), forward and
 * backward timed apart, 64 MB written over before each. MODE is the rows a chunk (2048: the whole batch), then
 * optionally p (the frozen weights packed once: t4j_linear_packed on W1, W2 forward and on W2ᵀ, W1ᵀ backward) and i
 * (GELU's backward writes dh over dg). In chunks, g, dg and dh live in scratch reused chunk to chunk (h is kept whole,
 * as the backward needs it). A throwaway harness of BENCHMARKS.md's thirty-sixth session; build with
 * gcc -O2 -o ffn-chunk-ab bench/experiments/ffn-chunk-ab.c -ldl. */
#include <stdint.h>
#include <string.h>

#include "../native/ab.h"

typedef int32_t (*linear_fn)(int64_t, int64_t, int64_t, const float *, int64_t, const float *, int64_t, const float *, float *, int64_t);
typedef int64_t (*psize_fn)(int64_t, int64_t);
typedef int32_t (*pack_fn)(int64_t, int64_t, const float *, int64_t, void *, int64_t);
typedef int32_t (*lpacked_fn)(int64_t, int64_t, int64_t, const float *, int64_t, const void *, const float *, float *, int64_t);
typedef void (*gelu_fn)(int64_t, const float *, float *, int32_t);
typedef void (*gelu_bwd_fn)(int64_t, const float *, const float *, float *, int32_t, int32_t);

static gemm_fn gemm;
static linear_fn linear;
static lpacked_fn lpacked;
static gelu_fn gelu;
static gelu_bwd_fn gelu_bwd;

enum { T = 2048, D = 384, F = 1536 };
static float *x, *w1, *b1, *w2, *b2, *h, *g, *y, *dy, *dg, *dh, *dx, *w1t, *w2t;
static void *p1, *p2, *p1t, *p2t;
static double op[6], tk;
#define TK(i) do { double t_ = now(); op[i] += t_ - tk; tk = t_; } while (0)

static void fwd(int64_t R, int packed) {
    for (int64_t r0 = 0; r0 < T; r0 += R) {
        float *gs = g; /* g's first R rows: the chunk's scratch (the whole of g when R = T) */
        tk = now();
        if (packed) lpacked(R, F, D, x + r0 * D, D, p1, b1, h + r0 * F, F);
        else linear(R, F, D, x + r0 * D, D, w1, D, b1, h + r0 * F, F);
        TK(0);
        gelu(R * F, h + r0 * F, gs, 1);
        TK(1);
        if (packed) lpacked(R, D, F, gs, F, p2, b2, y + r0 * D, D);
        else linear(R, D, F, gs, F, w2, F, b2, y + r0 * D, D);
        TK(2);
    }
}

static int inplace;
static void bwd(int64_t R, int packed) {
    float *dhs = inplace ? dg : dh; /* where GELU's backward writes dh */
    for (int64_t r0 = T - R; r0 >= 0; r0 -= R) {
        /* dg = dy W2 [R, F]; dh = gelu'(h) dg; dx = dh W1 [R, D] */
        tk = now();
        if (packed) lpacked(R, F, D, dy + r0 * D, D, p2t, NULL, dg, F);
        else gemm(0, 0, R, F, D, 1.0f, dy + r0 * D, D, w2, F, 0.0f, dg, F);
        TK(3);
        gelu_bwd(R * F, h + r0 * F, dg, dhs, 1, 0);
        TK(4);
        if (packed) lpacked(R, D, F, dhs, F, p1t, NULL, dx + r0 * D, D);
        else gemm(0, 0, R, D, F, 1.0f, dhs, F, w1, D, 0.0f, dx + r0 * D, D);
        TK(5);
    }
}

int main(int argc, char **argv) {
    if (argc < 5 || atoi(argv[2]) < 2) {
        fprintf(stderr, "usage: ffn-chunk-ab THREADS ROUNDS(>=2) LIB MODE... (MODE: rows a chunk, then p and/or i)\n");
        return 2;
    }
    int threads = atoi(argv[1]), rounds = atoi(argv[2]), modes = argc - 4;
    void *lib = open_copy("ffn-chunk-ab", argv[3], 0);
    gemm = (gemm_fn)dlsym(lib, "t4j_gemm");
    linear = (linear_fn)dlsym(lib, "t4j_linear");
    lpacked = (lpacked_fn)dlsym(lib, "t4j_linear_packed");
    gelu = (gelu_fn)dlsym(lib, "t4j_gelu_forward");
    gelu_bwd = (gelu_bwd_fn)dlsym(lib, "t4j_gelu_backward");
    ((threads_fn)dlsym(lib, "t4j_set_num_threads"))(threads);
    psize_fn psize = (psize_fn)dlsym(lib, "t4j_linear_packed_size");
    pack_fn pack = (pack_fn)dlsym(lib, "t4j_linear_pack");
    x = ab_filled(T * D, 13, 0.1f, 0);
    w1 = ab_filled(F * D, 7, 0.01f, 0);
    b1 = ab_filled(F, 5, 0.01f, 0);
    w2 = ab_filled(D * F, 11, 0.01f, 0);
    b2 = ab_filled(D, 3, 0.01f, 0);
    dy = ab_filled(T * D, 17, 0.01f, 0);
    h = ab_alloc((size_t)T * F * 4, 1);
    g = ab_alloc((size_t)T * F * 4, 1);
    y = ab_alloc((size_t)T * D * 4, 1);
    dg = ab_alloc((size_t)T * F * 4, 1);
    dh = ab_alloc((size_t)T * F * 4, 1);
    dx = ab_alloc((size_t)T * D * 4, 1);
    w1t = ab_alloc((size_t)F * D * 4, 0);
    w2t = ab_alloc((size_t)F * D * 4, 0);
    for (int i = 0; i < F; i++)
        for (int j = 0; j < D; j++) {
            w1t[j * F + i] = w1[i * D + j]; /* W1ᵀ [D, F] */
            w2t[i * D + j] = w2[j * F + i]; /* W2ᵀ [F, D] */
        }
    int64_t s1 = psize(F, D), s2 = psize(D, F), s1t = psize(D, F), s2t = psize(F, D);
    p1 = ab_alloc(s1, 1);
    p2 = ab_alloc(s2, 1);
    p1t = ab_alloc(s1t, 1);
    p2t = ab_alloc(s2t, 1);
    if (pack(F, D, w1, D, p1, s1) || pack(D, F, w2, F, p2, s2) || pack(D, F, w1t, F, p1t, s1t) || pack(F, D, w2t, D, p2t, s2t)) return 3;
    size_t cold = (size_t)64 << 20;
    char *flush = ab_alloc(cold, 1);
    double (*ops)[6] = calloc((size_t)modes, sizeof *ops);
    double *tf = calloc((size_t)modes * rounds, sizeof(double)), *tb = calloc((size_t)modes * rounds, sizeof(double));
    for (int r = 0; r < rounds; r++)
        for (int m = 0; m < modes; m++) {
            const char *spec = argv[4 + m];
            int64_t R = atol(spec);
            int packed = strchr(spec, 'p') != NULL;
            inplace = strchr(spec, 'i') != NULL;
            memset(op, 0, sizeof op);
            memset(flush, r + m, cold);
            double t0 = now();
            fwd(R, packed);
            tf[m * rounds + r] = now() - t0;
            memset(flush, r + m + 1, cold);
            t0 = now();
            bwd(R, packed);
            tb[m * rounds + r] = now() - t0;
            if (r > 0) /* round 0 warms up */
                for (int i = 0; i < 6; i++) ops[m][i] += op[i] / (rounds - 1);
        }
    for (int m = 0; m < modes; m++) {
        qsort(tf + m * rounds, rounds, sizeof(double), by_value);
        qsort(tb + m * rounds, rounds, sizeof(double), by_value);
        printf("chunk %-6s threads %d: forward %.3f ms, backward %.3f ms, both %.3f ms\n", argv[4 + m], threads, tf[m * rounds + rounds / 2] * 1e3,
               tb[m * rounds + rounds / 2] * 1e3, (tf[m * rounds + rounds / 2] + tb[m * rounds + rounds / 2]) * 1e3);
        printf("   up %.2f  gelu %.2f  down %.2f | dg %.2f  gelu' %.2f  dx %.2f (means of rounds 1 on, ms)\n", ops[m][0] * 1e3, ops[m][1] * 1e3, ops[m][2] * 1e3, ops[m][3] * 1e3, ops[m][4] * 1e3, ops[m][5] * 1e3);
    }
    return 0;
}
