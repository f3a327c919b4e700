/* training-step ops, avx2 level (see ops_kernels.inc). */
#define SFX avx2
#include "ops_kernels.inc"
