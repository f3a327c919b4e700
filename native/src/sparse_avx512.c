/* sparse kernels, AVX-512 level: 16 rows of x per vector (see sparse_kernels.inc). */
#define LANES 16
#define SFX avx512
#include "sparse_kernels.inc"
