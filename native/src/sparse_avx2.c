/* sparse kernels, AVX2 + FMA level: 8 rows of x per vector (see sparse_kernels.inc). */
#define LANES 8
#define SFX avx2
#include "sparse_kernels.inc"
