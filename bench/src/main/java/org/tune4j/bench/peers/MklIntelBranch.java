package org.tune4j.bench.peers;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import org.tune4j.backend.CpuDescription;
import org.tune4j.bindings.NativeLoader;

/**
 * PyTorch measured at its best on any vendor's CPU. PyTorch's CPU build links oneMKL, which asks whether the CPU is
 * Intel's before it picks its AVX2 or AVX-512 branch and otherwise runs its generic one: on Zen 4 PyTorch's 1024³ matmul
 * took 29.8 ms there against 19.6 ms on the AVX-512 branch, and its LoRA step 1.2-1.5x as long. A bench run with
 * PyTorch peers therefore runs again in a child JVM with a two-function shim preloaded ({@code src/peers/c/
 * mkl_intel_branch.c}, built into the jar by the {@code peers} profile) that answers MKL's question yes, so that it
 * picks its branch by the CPU's features as it does on Intel's. Every PyTorch row names the branch it ran
 * ({@link DjlPytorch}); {@code -Dtune4j.bench.mklAsIs=true} measures MKL's own choice instead.
 */
public final class MklIntelBranch {
    static final String SHIM = "libt4j_mkl_intel_branch.so";
    private static final String AS_IS = "tune4j.bench.mklAsIs";
    private static final String MARK = "TUNE4J_BENCH_MKL_SHIM"; // set in the child, so that it does not relaunch

    private MklIntelBranch() {}

    /** The shim written out of the jar, or empty in a build without it (no -Ppeers). */
    static Optional<Path> shim() {
        if (!NativeLoader.inJar(SHIM)) return Optional.empty();
        return Optional.of(NativeLoader.extracted(SHIM));
    }

    /**
     * Runs this JVM's command again with the shim preloaded, its output this one's, and returns the child's exit status;
     * empty (carry on here) where that is not wanted: already in the child, a CPU of Intel's (MKL picks by features
     * there), {@code -Dtune4j.bench.mklAsIs=true}, no shim in this build, or a command line this JVM cannot tell or that
     * does not hold the bench command.
     */
    public static OptionalInt relaunchPreloaded() throws IOException, InterruptedException {
        if (System.getenv(MARK) != null || Boolean.getBoolean(AS_IS) || CpuDescription.identity().vendor().equals("GenuineIntel")) {
            return OptionalInt.empty();
        }
        Optional<Path> shim = shim();
        Optional<String> java = ProcessHandle.current().info().command();
        Optional<String[]> args = ProcessHandle.current().info().arguments();
        // only a JVM started for this command (not a test runner that calls it) is started again
        if (shim.isEmpty() || java.isEmpty() || args.isEmpty() || !List.of(args.get()).contains("bench")) return OptionalInt.empty();
        List<String> cmd = new ArrayList<>();
        cmd.add(java.get());
        cmd.addAll(List.of(args.get()));
        ProcessBuilder pb = new ProcessBuilder(cmd).inheritIO();
        pb.environment().put("LD_PRELOAD", preloadList(System.getenv("LD_PRELOAD"), shim.get().toString()));
        pb.environment().put(MARK, "1");
        return OptionalInt.of(pb.start().waitFor());
    }

    /**
     * The environment change for a child JVM that times PyTorch with the shim preloaded ({@code preload}) or without it
     * (MKL's own choice): LD_PRELOAD with the shim added to or taken from this process's. Throws where the shim is
     * wanted and this build has none.
     */
    static Map<String, String> childEnvironment(boolean preload) {
        String shim = preload ? shim().orElseThrow(() -> new IllegalStateException(SHIM + " is not in this jar (build with -Ppeers)")).toString() : null;
        Map<String, String> env = new HashMap<>();
        env.put("LD_PRELOAD", preloadList(System.getenv("LD_PRELOAD"), shim));
        return env;
    }

    /** {@code current} (an LD_PRELOAD value, or null) without any copy of the shim, with {@code shim} first where given; null if empty. */
    static String preloadList(String current, String shim) {
        List<String> entries = new ArrayList<>();
        if (shim != null) entries.add(shim);
        if (current != null) for (String e : current.split("[: ]")) if (!e.isBlank() && !e.equals(SHIM) && !e.endsWith("/" + SHIM)) entries.add(e);
        return entries.isEmpty() ? null : String.join(":", entries);
    }

    /** What the run's header says about it. */
    public static String describe() {
        if (System.getenv(MARK) != null) return "PyTorch's oneMKL told the CPU is Intel's (" + SHIM + " preloaded), so it picks its branch by the CPU's features";
        return "PyTorch's oneMKL as it picks its branch itself";
    }
}
