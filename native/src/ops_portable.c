/* training-step ops, portable level (see ops_kernels.inc). */
#define SFX portable
#include "ops_kernels.inc"
