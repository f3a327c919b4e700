/* training-step ops, portable level (see ops_kernels.inc). */
#define SFX portable
#define LANES 4
#include "ops_kernels.inc"
