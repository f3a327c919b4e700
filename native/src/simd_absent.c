/* Non-x86 builds: the SIMD levels fall back to the portable one (dispatch.c never selects them, since
 * t4j_cpu_features() reports nothing there, but the symbols must exist). */
#include "internal.h"

const t4j_gemm_impl t4j_gemm_avx2 = {"portable", 4, 16, 64, 256, 512, NULL, NULL, NULL};
const t4j_gemm_impl t4j_gemm_avx512 = {"portable", 4, 16, 64, 256, 512, NULL, NULL, NULL};
int64_t t4j_peak_fma_avx2(int64_t iterations) { return t4j_peak_fma_portable(iterations); }
int64_t t4j_peak_fma_avx512(int64_t iterations) { return t4j_peak_fma_portable(iterations); }
