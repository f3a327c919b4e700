/* Two libtune4j.so builds on the GEMM, bit for bit: t4j_gemm NN, NT, TN and TT over shapes with a single row block and with
 * several, n a power of two and not, on 1 and 2 threads. Prints each product that differs; exits 1 if any does.
 *
 *   gemm-bits-ab LIB_A LIB_B (gemm-variants.sh builds them) */
#include <stdint.h>
#include <string.h>
#include "ab.h"
typedef int32_t (*gemm_fn)(int32_t, int32_t, int64_t, int64_t, int64_t, float, const float *, int64_t, const float *, int64_t, float, float *, int64_t);
typedef void (*threads_fn)(int32_t);

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: gemm-bits-ab LIB_A LIB_B\n");
        return 2;
    }
    static const int shapes[][3] = {{128, 4096, 4096}, {1024, 1024, 1024}, {100, 4096, 512}, {37, 1000, 300},
                                    {128, 1536, 384},  {512, 1024, 1024},  {200, 96, 2048},  {13, 4096, 1024},
                                    {1536, 384, 1536}, {600, 130, 1024}}; /* the last two taller than wide: rows split */
    gemm_fn gemm[2];
    threads_fn threads[2];
    for (int l = 0; l < 2; l++) {
        void *h = open_copy("gemm-bits-ab", argv[1 + l], l); /* a copy: the same build twice still loads twice */
        gemm[l] = (gemm_fn)dlsym(h, "t4j_gemm");
        threads[l] = (threads_fn)dlsym(h, "t4j_set_num_threads");
    }
    int bad = 0, total = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *a = malloc((size_t)(m * k) * 4), *b = malloc((size_t)(k * n) * 4), *c[2] = {malloc((size_t)(m * n) * 4), malloc((size_t)(m * n) * 4)};
        if (a == NULL || b == NULL || c[0] == NULL || c[1] == NULL) return 2;
        for (int64_t i = 0; i < m * k; i++) a[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
        for (int64_t i = 0; i < k * n; i++) b[i] = (float)((i * 104729) % 997) / 997.0f - 0.5f;
        for (int t = 1; t <= 2; t++)
            for (int ta = 0; ta < 2; ta++)
                for (int tb = 0; tb < 2; tb++) {
                    for (int l = 0; l < 2; l++) {
                        threads[l](t);
                        gemm[l](ta, tb, m, n, k, 1.0f, a, ta ? m : k, b, tb ? k : n, 0.0f, c[l], n);
                    }
                    total++;
                    if (memcmp(c[0], c[1], (size_t)(m * n) * 4) != 0) {
                        bad++;
                        printf("differ: %ldx%ldx%ld, %d threads, %c%c\n", (long)m, (long)n, (long)k, t, ta ? 'T' : 'N', tb ? 'T' : 'N');
                    }
                }
        free(a), free(b), free(c[0]), free(c[1]);
    }
    printf("%d products compared, %d differ\n", total, bad);
    return bad != 0;
}
