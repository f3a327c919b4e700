package org.tune4j.backend;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.tune4j.bindings.tune4j_h;

/** The native kernels' instruction-set levels, lowest first (tune4j.h T4J_LEVEL_*). */
public enum SimdLevel {
    PORTABLE(tune4j_h.T4J_LEVEL_PORTABLE),
    AVX2(tune4j_h.T4J_LEVEL_AVX2),
    AVX512(tune4j_h.T4J_LEVEL_AVX512);

    private final int code;

    SimdLevel(int code) {
        this.code = code;
    }

    int code() {
        return code;
    }

    static SimdLevel of(int code) {
        for (SimdLevel l : values()) if (l.code == code) return l;
        throw new IllegalStateException("libtune4j reports an unknown SIMD level " + code);
    }

    /** The levels this CPU can run, lowest first. */
    public static List<SimdLevel> supported() {
        int f = tune4j_h.t4j_cpu_features();
        List<SimdLevel> out = new ArrayList<>(List.of(PORTABLE));
        if ((f & tune4j_h.T4J_FEATURE_AVX2_FMA) != 0) out.add(AVX2);
        if ((f & tune4j_h.T4J_FEATURE_AVX512) != 0) out.add(AVX512);
        return out;
    }

    /** "portable", "avx2", "avx512". */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Parses a label as printed by {@link #label()}. */
    public static SimdLevel parse(String label) {
        for (SimdLevel l : values()) if (l.label().equals(label.toLowerCase(Locale.ROOT))) return l;
        throw new IllegalArgumentException("unknown SIMD level '" + label + "' (portable, avx2, avx512)");
    }
}
