/*
 * Preloaded (LD_PRELOAD) into the child JVM that times PyTorch's GEMM in `bench gemm` with oneMKL "told the CPU is
 * Intel's". oneMKL, linked into libtorch_cpu.so, asks these two functions whether the CPU is Intel's before it picks its
 * AVX2 or AVX-512 code branch, and on any other vendor's CPU takes its generic branch whatever the CPU can do (on Zen 4
 * that ran 1024^3 at 2/3 of the AVX-512 branch's speed). A peer is measured at its best: answering yes lets MKL pick by
 * the CPU's features. The row names the branch MKL reports (mkl_serv_get_version's processor string).
 */
int mkl_serv_intel_cpu_true(void) { return 1; }
int mkl_serv_intel_cpu(void) { return 1; }
