/* sparse kernels, portable level: 4 rows of x per vector, whatever the target's vectors are (see
 * sparse_kernels.inc; GCC lowers the vector type to scalars where there are none). */
#define LANES 4
#define SFX portable
#include "sparse_kernels.inc"
