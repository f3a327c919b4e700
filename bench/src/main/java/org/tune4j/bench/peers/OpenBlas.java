package org.tune4j.bench.peers;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.tune4j.backend.CpuDescription;
import org.tune4j.bench.BenchData;
import org.tune4j.bindings.NativeAccess;

/**
 * OpenBLAS {@code cblas_sgemm} (Debian's libopenblas0-pthread) through FFM.
 *
 * <p>OpenBLAS picks its kernels once, when the library loads, and {@code OPENBLAS_CORETYPE} overrides
 * the choice (some machines here set it to Haswell, which holds it to AVX2). To report both its
 * restricted and its best kernels in one run, each configuration runs in a child JVM with its own
 * environment ({@link GemmChild}): this class is also that child's main. The child times tune4j's GEMM too, in
 * alternation with OpenBLAS's, so that each pair of numbers shares the machine's state (bench gemm's row then reports
 * that time of ours beside the peer's).
 */
public final class OpenBlas implements GemmPeer {
    private static final String SONAME = "libopenblas.so.0";
    private static final int ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112;
    private static final String CORETYPE = "OPENBLAS_CORETYPE";
    /** OpenBLAS's core types whose sgemm kernels are at least those of the key's (Cooperlake's sgemm is SkylakeX's). */
    private static final Map<String, Set<String>> AT_LEAST = Map.of(
            "SkylakeX", Set.of("SkylakeX", "Cooperlake", "SapphireRapids"),
            "Haswell", Set.of("Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"));

    private final String label;
    /** The child's environment change: OPENBLAS_CORETYPE set to a value, or removed (null). */
    private final Map<String, String> env;

    private OpenBlas(String label, Map<String, String> env) {
        this.label = label;
        this.env = env;
    }

    /**
     * The configurations worth measuring here: OpenBLAS's own choice (the environment as it is; and with
     * OPENBLAS_CORETYPE unset where it is set); the best core type this CPU's features allow for sgemm (SkylakeX with
     * AVX-512, Haswell with AVX2) where OpenBLAS's own choice is a lesser one (0.3.21 does not know Emerald Rapids and
     * takes its Prescott kernels, SSE3); and Haswell, held to AVX2, beside our AVX2 level.
     */
    public static List<OpenBlas> configurations() {
        String set = System.getenv(CORETYPE);
        List<OpenBlas> out = new ArrayList<>();
        out.add(new OpenBlas(set == null ? "openblas" : "openblas (" + CORETYPE + "=" + set + ")", Map.of()));
        Map<String, String> unset = new HashMap<>();
        unset.put(CORETYPE, null);
        if (set != null) out.add(new OpenBlas("openblas (" + CORETYPE + " unset)", unset));
        Optional<String> own = GemmChild.label(OpenBlas.class, unset); // "Cooperlake kernels"; empty: no OpenBLAS here
        if (own.isEmpty()) return out;
        List<String> features = CpuDescription.cpuFeatures();
        String best = features.contains("avx512") ? "SkylakeX" : features.contains("avx2+fma") ? "Haswell" : null;
        if (best != null && !AT_LEAST.get(best).contains(own.get().split(" ")[0]) && !best.equals(set)) {
            out.add(new OpenBlas("openblas (" + CORETYPE + "=" + best + ", the best this CPU allows)", Map.of(CORETYPE, best)));
        }
        if (!"Haswell".equals(best) && features.contains("avx2+fma") && !"Haswell".equals(set)) {
            out.add(new OpenBlas("openblas (" + CORETYPE + "=Haswell)", Map.of(CORETYPE, "Haswell")));
        }
        return out;
    }

    @Override
    public String name() {
        return label;
    }

    @Override
    public List<PeerResult> measure(List<Shape> shapes, boolean quick, Ours ours) { // ours: timed in the child instead (not
        // this process: OpenBLAS loaded here would start its threads beside ours)
        return GemmChild.measure(label, OpenBlas.class, env, shapes, quick);
    }

    /** Child ({@link GemmChild}): OpenBLAS's cblas_sgemm, labelled with the kernels it picked, as "Haswell kernels". */
    public static void main(String[] args) throws Throwable {
        Optional<SymbolLookup> lib = NativeAccess.openSystem(SONAME);
        if (lib.isEmpty()) {
            System.out.println(SONAME + " not found (apt-get install libopenblas0-pthread)");
            System.exit(3);
        }
        MethodHandle sgemm = NativeAccess.downcall(lib.get(), "cblas_sgemm", FunctionDescriptor.ofVoid(JAVA_INT, JAVA_INT, JAVA_INT,
                JAVA_INT, JAVA_INT, JAVA_INT, JAVA_FLOAT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_FLOAT, ADDRESS, JAVA_INT), false);
        MethodHandle setThreads = NativeAccess.downcall(lib.get(), "openblas_set_num_threads", FunctionDescriptor.ofVoid(JAVA_INT), false);
        MethodHandle corename = NativeAccess.downcall(lib.get(), "openblas_get_corename", FunctionDescriptor.of(ADDRESS), false);
        MemorySegment name = ((MemorySegment) corename.invokeExact()).reinterpret(64);
        System.out.println("label=" + name.getString(0) + " kernels");
        GemmChild.run(args, s -> {
            try {
                setThreads.invokeExact(s.threads());
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
            Arena arena = Arena.ofConfined();
            boolean ta = s.transA(), tb = s.transB();
            int m = s.m(), n = s.n(), k = s.k(), lda = ta ? m : k, ldb = tb ? k : n;
            MemorySegment a = BenchData.matrix(arena, m, k).segment(), b = BenchData.matrix(arena, k, n).segment();
            MemorySegment c = BenchData.matrix(arena, m, n).segment();
            return new GemmPeer.Call() {
                @Override
                public void run() {
                    try {
                        sgemm.invokeExact(ROW_MAJOR, ta ? TRANS : NO_TRANS, tb ? TRANS : NO_TRANS, m, n, k, 1f, a, lda, b, ldb, 0f, c, n);
                    } catch (Throwable t) {
                        throw new IllegalStateException(t);
                    }
                }

                @Override
                public void close() {
                    arena.close();
                }
            };
        });
    }
}
