package org.tune4j.cli;

import java.util.concurrent.Callable;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.CpuDescription;
import org.tune4j.backend.SimdLevel;
import picocli.CommandLine.Command;

/** {@code tune4j info}: what the native library found on this machine. */
@Command(name = "info", mixinStandardHelpOptions = true, description = "Show the native library, CPU features, SIMD levels and threads.")
final class InfoCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        CpuBackend.get(); // a T4J_SIMD or tune4j.simd that names no level is said here, in one line
        System.out.println("cpu features : " + String.join(" ", CpuDescription.cpuFeatures()));
        System.out.println("caches       : " + CpuDescription.caches() + " (cpuid, per core or shared as the CPU builds them)");
        System.out.println("simd levels  : " + SimdLevel.supported().stream().map(SimdLevel::label).toList());
        System.out.println("simd in use  : " + CpuBackend.simdLevel().label() + " (T4J_SIMD=portable|avx2|avx512 lowers it)");
        System.out.println("int8 kernel  : " + CpuBackend.int8KernelLabel() + (CpuBackend.int8Amx() ? " (whole 16-row blocks on AMX tiles, the rest on VNNI; T4J_AMX=0 turns it off)" : ""));
        System.out.println("packed f32   : " + CpuBackend.packedLinearLabel() + (CpuBackend.linearAmx()
                ? " (products of more than 32 rows on AMX-BF16 tiles, each float as three bf16 pieces, f32-grade sums in other bits; T4J_AMX=0 turns it off)" : ""));
        System.out.println("threads      : " + CpuBackend.threads() + " (they poll " + CpuBackend.spinMicros() + " us for work before they sleep; -D" + CpuBackend.SPIN_PROPERTY + ")");
        System.out.println("subnormals   : " + (CpuBackend.flushDenormals() ? "flushed to zero in the kernels (-D" + CpuBackend.FLUSH_PROPERTY + "=false keeps them)"
                : "kept (IEEE gradual underflow; -D" + CpuBackend.FLUSH_PROPERTY + "=true flushes them)"));
        System.out.println("kernel tuning: " + org.tune4j.backend.GemmTuning.current() + " (tune4j tune measures them here)");
        System.out.println("host memory  : " + org.tune4j.tensor.HostMemory.describe() + " for tensors and packed weights");
        System.out.println("gemm tile    : " + org.tune4j.backend.GemmTuning.tile(1024, 1024) + " for 1024 x 1024, " + org.tune4j.backend.GemmTuning.tile(128, 384)
                + " for 128 x 384 (each product takes the tile that pads its edges least)");
        org.tune4j.backend.cuda.CudaStatus cuda = org.tune4j.backend.cuda.CudaStatus.probe();
        System.out.println("cuda         : " + (cuda.available() ? "" : "not available: ") + cuda.message());
        return 0;
    }
}
