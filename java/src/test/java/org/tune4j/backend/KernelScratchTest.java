package org.tune4j.backend;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.tune4j.backend.TestTensors.random;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The kernels' scratch is kept from call to call (ARCHITECTURE.md, "Host memory"): scratch malloc'd and freed at each
 * call was handed back to the OS and faulted in again whenever glibc trimmed the heap or mapped the block afresh (MiniLM's
 * int8 forward at batch 32 then took 7,000-16,000 page faults and twice its time). Here glibc is told to map every block
 * of 64 KiB or more afresh, which made that happen at every call: 20 int8 layers at batch 32 must now fault in next to
 * nothing after the first.
 */
class KernelScratchTest {
    private static final int M_MMAP_THRESHOLD = -3; // glibc's mallopt parameter

    private static long minorFaults() throws IOException {
        String stat = Files.readString(Path.of("/proc/self/stat"));
        return Long.parseLong(stat.substring(stat.lastIndexOf(')') + 2).split(" ")[7]); // field 10, minflt
    }

    private static long residentBytes() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status")))
            if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        throw new IllegalStateException("no VmRSS in /proc/self/status");
    }

    /** A thread's scratch goes with it: 40 threads that each ran an int8 layer at batch 32 and ended leave no 6 MiB each behind. */
    @Test
    void aThreadsScratchGoesWithIt() throws Exception {
        assumeTrue(Files.isReadable(Path.of("/proc/self/status")), "needs /proc (Linux)");
        CpuBackend cpu = CpuBackend.get();
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rng = new SplittableRandom(5);
            Tensor x = random(arena, rng, 4096, 1536);
            Int8Weights w = Int8Weights.quantize(arena, cpu, random(arena, rng, 384, 1536));
            Tensor y = Tensor.zeros(arena, DType.F32, 4096, 384);
            Runnable layer = () -> cpu.int8Linear(x, w, null, Activation.NONE, y);
            // glibc gives threads up to 8 arenas a core, each keeping what its threads freed: first let every one of them hold a layer's worth
            for (int i = 0; i < 8 * Runtime.getRuntime().availableProcessors() + 4; i++) runOnANewThread(layer);
            long before = residentBytes();
            for (int i = 0; i < 40; i++) runOnANewThread(layer);
            long grown = residentBytes() - before;
            // kept past their threads' end, 40 threads' quantized rows alone would be 240 MiB
            assertTrue(grown < 60L << 20, (grown >> 20) + " MiB more resident after 40 threads");
        }
    }

    private static void runOnANewThread(Runnable work) throws InterruptedException {
        Thread t = new Thread(work);
        t.start();
        t.join();
    }

    @Test
    void int8LayersFaultInTheirScratchOnce() throws Throwable {
        Linker linker = Linker.nativeLinker();
        var mallopt = linker.defaultLookup().find("mallopt");
        assumeTrue(mallopt.isPresent() && Files.isReadable(Path.of("/proc/self/stat")), "needs glibc's mallopt and /proc (Linux)");
        MethodHandle set = linker.downcallHandle(mallopt.get(), FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
        CpuBackend cpu = CpuBackend.get();
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rng = new SplittableRandom(3);
            Tensor x = random(arena, rng, 4096, 1536); // MiniLM's FFN down at batch 32: 6 MiB of quantized rows a call
            Int8Weights w = Int8Weights.quantize(arena, cpu, random(arena, rng, 384, 1536));
            Tensor y = Tensor.zeros(arena, DType.F32, 4096, 384);
            assertTrue((int) set.invokeExact(M_MMAP_THRESHOLD, 64 << 10) == 1, "mallopt refused");
            try {
                cpu.int8Linear(x, w, null, Activation.NONE, y); // the first call grows the scratch
                long before = minorFaults();
                for (int i = 0; i < 20; i++) cpu.int8Linear(x, w, null, Activation.NONE, y);
                long faults = minorFaults() - before;
                // per-call scratch: 1,536 faults a call (6 MiB of 4 KiB pages), 30,720 in all
                assertTrue(faults < 1_000, faults + " minor page faults in 20 calls");
            } finally {
                int unused = (int) set.invokeExact(M_MMAP_THRESHOLD, 128 << 10); // glibc's initial threshold (fixed from now on)
            }
        }
    }
}
