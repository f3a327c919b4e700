package org.tune4j.backend;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.tune4j.bindings.tune4j_h;

/** The CPU as tune4j sees it, in words for tables and provenance: its caches and the features the kernels use. */
public final class CpuDescription {
    private CpuDescription() {}

    /** The CPU as /proc/cpuinfo names its first core ("?" for what it does not say; the name is the architecture off Linux). */
    public record Identity(String vendor, String family, String model, String name) {
        @Override
        public String toString() {
            return vendor + " family " + family + " model " + model + " (" + name + ")";
        }
    }

    /** This CPU's identity, read once. */
    public static Identity identity() {
        return IdentityOnce.VALUE;
    }

    private static final class IdentityOnce {
        static final Identity VALUE = read();

        private static Identity read() {
            String vendor = "?", family = "?", model = "?", name = System.getProperty("os.arch");
            try {
                for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                    int colon = line.indexOf(':');
                    String k = colon < 0 ? line.strip() : line.substring(0, colon).strip(), v = colon < 0 ? "" : line.substring(colon + 1).strip();
                    if (k.isEmpty()) break; // the first core's block ends
                    switch (k) {
                        case "vendor_id" -> vendor = v;
                        case "cpu family" -> family = v;
                        case "model" -> model = v;
                        case "model name" -> name = v;
                        default -> {}
                    }
                }
            } catch (IOException | SecurityException e) {
                // not Linux, or not readable: what is known so far
            }
            return new Identity(vendor, family, model, name);
        }
    }

    /** "L1d 32 KiB, L2 1 MiB, L3 32 MiB" (a level cpuid does not report is left out). */
    public static String caches() {
        List<String> out = new ArrayList<>();
        String[] names = {"L1d", "L2", "L3"};
        for (int level = 1; level <= 3; level++) {
            long b = CpuBackend.cacheBytes(level);
            if (b > 0) out.add(names[level - 1] + " " + (b % (1 << 20) == 0 ? (b >> 20) + " MiB" : (b >> 10) + " KiB"));
        }
        return out.isEmpty() ? "not reported" : String.join(", ", out);
    }

    /** The CPU's features as names: avx2+fma, avx512, avx512_vnni, avx_vnni, amx_int8 and amx_bf16 (the tile state granted by the OS). */
    public static List<String> cpuFeatures() {
        int f = tune4j_h.t4j_cpu_features();
        List<String> out = new ArrayList<>();
        if ((f & tune4j_h.T4J_FEATURE_AVX2_FMA) != 0) out.add("avx2+fma");
        if ((f & tune4j_h.T4J_FEATURE_AVX512) != 0) out.add("avx512");
        if ((f & tune4j_h.T4J_FEATURE_AVX512_VNNI) != 0) out.add("avx512_vnni");
        if ((f & tune4j_h.T4J_FEATURE_AVX_VNNI) != 0) out.add("avx_vnni");
        if ((f & tune4j_h.T4J_FEATURE_AMX_INT8) != 0) out.add("amx_int8");
        if ((f & tune4j_h.T4J_FEATURE_AMX_BF16) != 0) out.add("amx_bf16");
        return out;
    }
}
