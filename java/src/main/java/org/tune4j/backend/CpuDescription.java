package org.tune4j.backend;

import java.util.ArrayList;
import java.util.List;
import org.tune4j.bindings.tune4j_h;

/** The CPU as tune4j sees it, in words for tables and provenance: its caches and the features the kernels use. */
public final class CpuDescription {
    private CpuDescription() {}

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

    /** The CPU's features as names: avx2+fma, avx512, avx512_vnni, avx_vnni. */
    public static List<String> cpuFeatures() {
        int f = tune4j_h.t4j_cpu_features();
        List<String> out = new ArrayList<>();
        if ((f & tune4j_h.T4J_FEATURE_AVX2_FMA) != 0) out.add("avx2+fma");
        if ((f & tune4j_h.T4J_FEATURE_AVX512) != 0) out.add("avx512");
        if ((f & tune4j_h.T4J_FEATURE_AVX512_VNNI) != 0) out.add("avx512_vnni");
        if ((f & tune4j_h.T4J_FEATURE_AVX_VNNI) != 0) out.add("avx_vnni");
        return out;
    }
}
