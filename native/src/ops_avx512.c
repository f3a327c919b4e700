/* training-step ops, avx512 level (see ops_kernels.inc). */
#define SFX avx512
#define LANES 16
#include "ops_kernels.inc"
