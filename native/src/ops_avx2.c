/* training-step ops, avx2 level (see ops_kernels.inc). */
#define SFX avx2
#define LANES 8
#include "ops_kernels.inc"
