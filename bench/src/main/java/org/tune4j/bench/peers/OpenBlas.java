package org.tune4j.bench.peers;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.SimdLevel;
import org.tune4j.bindings.NativeAccess;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.HostMemory;
import org.tune4j.tensor.Tensor;

/**
 * OpenBLAS {@code cblas_sgemm} (Debian's libopenblas0-pthread) through FFM.
 *
 * <p>OpenBLAS picks its kernels once, when the library loads, and {@code OPENBLAS_CORETYPE} overrides
 * the choice (some machines here set it to Haswell, which holds it to AVX2). To report both its
 * restricted and its best kernels in one run, each configuration runs in a child JVM with its own
 * environment: this class is also that child's main. The child times tune4j's GEMM on the same operands too, in
 * alternation with OpenBLAS's, so that each pair of numbers shares the machine's state (bench gemm's row then reports
 * that time of ours beside the peer's).
 */
public final class OpenBlas implements GemmPeer {
    private static final String SONAME = "libopenblas.so.0";
    private static final int ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112;

    /** The environment change for one child: the variable set to a value, or removed (value null). */
    private final String label;
    private final String coretype;
    private final boolean removeCoretype;

    private OpenBlas(String label, String coretype, boolean removeCoretype) {
        this.label = label;
        this.coretype = coretype;
        this.removeCoretype = removeCoretype;
    }

    /**
     * The configurations worth measuring here: the environment as it is, and the other one of
     * "held to AVX2 (OPENBLAS_CORETYPE=Haswell)" and "OpenBLAS's own choice (variable unset)".
     */
    public static List<OpenBlas> configurations() {
        String set = System.getenv("OPENBLAS_CORETYPE");
        List<OpenBlas> out = new ArrayList<>();
        out.add(new OpenBlas(set == null ? "openblas" : "openblas (OPENBLAS_CORETYPE=" + set + ")", null, false));
        if (set != null) out.add(new OpenBlas("openblas (OPENBLAS_CORETYPE unset)", null, true));
        else out.add(new OpenBlas("openblas (OPENBLAS_CORETYPE=Haswell)", "Haswell", false));
        return out;
    }

    @Override
    public String name() {
        return label;
    }

    @Override
    public List<Result> measure(List<Shape> shapes, boolean quick, Ours ours) { // ours: timed in the child instead
        List<Result> out = new ArrayList<>();
        if (NativeAccess.openSystem(SONAME).isEmpty()) {
            for (int i = 0; i < shapes.size(); i++) out.add(new Result(label, null, SONAME + " not found (apt-get install libopenblas0-pthread)"));
            return out;
        }
        List<String> cmd = new ArrayList<>(List.of(javaExecutable(), "--enable-native-access=ALL-UNNAMED"));
        // tune4j's settings as this process has them (a pinned tile or cache block, the native library's path): the
        // child runs our GEMM too
        for (String key : System.getProperties().stringPropertyNames()) if (key.startsWith("tune4j.")) cmd.add("-D" + key + "=" + System.getProperty(key));
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), OpenBlas.class.getName(), quick ? "quick" : "full"));
        for (Shape s : shapes) cmd.add(s.transA() + "," + s.transB() + "," + s.m() + "," + s.n() + "," + s.k() + "," + s.threads() + "," + s.level());
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        Map<String, String> env = pb.environment();
        if (removeCoretype) env.remove("OPENBLAS_CORETYPE");
        if (coretype != null) env.put("OPENBLAS_CORETYPE", coretype);
        String core = "?";
        List<String> log = new ArrayList<>();
        try {
            Process p = pb.start();
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    if (line.startsWith("corename=")) core = line.substring(9);
                    else if (line.startsWith("median_ms=")) { // median_ms=THEIRS,OURS
                        String[] ms = line.substring(10).split(",");
                        out.add(new Result(label + " [" + core + " kernels]", Double.parseDouble(ms[0]), null, Double.parseDouble(ms[1])));
                    }
                    else log.add(line);
                }
            }
            int rc = p.waitFor();
            if (rc != 0 && out.size() < shapes.size()) log.add("exit status " + rc);
        } catch (IOException e) {
            log.add(e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            log.add("interrupted");
        }
        while (out.size() < shapes.size()) out.add(new Result(label, null, "child failed: " + String.join(" | ", log)));
        return out;
    }

    private static String javaExecutable() {
        return ProcessHandle.current().info().command().orElse(System.getProperty("java.home") + "/bin/java");
    }

    /**
     * Child: args = quick|full, then "transA,transB,m,n,k,threads,level" per shape. Prints corename=, then per shape
     * median_ms=THEIRS,OURS: OpenBLAS's cblas_sgemm and tune4j's gemm at that SIMD level on the same operands, timed in
     * alternation (call by call on one thread, in blocks on more), so that a slow spell of the machine falls on both.
     */
    public static void main(String[] args) throws Throwable {
        Optional<SymbolLookup> lib = NativeAccess.openSystem(SONAME);
        if (lib.isEmpty()) {
            System.out.println(SONAME + " not found");
            System.exit(3);
        }
        MethodHandle sgemm = NativeAccess.downcall(lib.get(), "cblas_sgemm", FunctionDescriptor.ofVoid(JAVA_INT, JAVA_INT, JAVA_INT,
                JAVA_INT, JAVA_INT, JAVA_INT, JAVA_FLOAT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_FLOAT, ADDRESS, JAVA_INT), false);
        MethodHandle setThreads = NativeAccess.downcall(lib.get(), "openblas_set_num_threads", FunctionDescriptor.ofVoid(JAVA_INT), false);
        MethodHandle corename = NativeAccess.downcall(lib.get(), "openblas_get_corename", FunctionDescriptor.of(ADDRESS), false);
        MemorySegment name = ((MemorySegment) corename.invokeExact()).reinterpret(64);
        System.out.println("corename=" + name.getString(0));
        boolean quick = args[0].equals("quick");
        for (int i = 1; i < args.length; i++) {
            String[] f = args[i].split(",");
            boolean ta = Boolean.parseBoolean(f[0]), tb = Boolean.parseBoolean(f[1]);
            int m = Integer.parseInt(f[2]), n = Integer.parseInt(f[3]), k = Integer.parseInt(f[4]), threads = Integer.parseInt(f[5]);
            setThreads.invokeExact(threads);
            CpuBackend.setThreads(threads);
            CpuBackend.setSimdLevel(SimdLevel.valueOf(f[6]));
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment a = filled(arena, (long) m * k), b = filled(arena, (long) k * n), c = HostMemory.allocate(arena, (long) m * n * 4);
                int lda = ta ? m : k, ldb = tb ? k : n;
                Tensor ta4j = Tensor.wrap(a, DType.F32, ta ? k : m, ta ? m : k), tb4j = Tensor.wrap(b, DType.F32, tb ? n : k, tb ? k : n);
                Tensor c4j = Tensor.wrap(c, DType.F32, m, n);
                Runnable theirs = () -> {
                    try {
                        sgemm.invokeExact(ROW_MAJOR, ta ? TRANS : NO_TRANS, tb ? TRANS : NO_TRANS, m, n, k, 1f, a, lda, b, ldb, 0f, c, n);
                    } catch (Throwable t) {
                        throw new IllegalStateException(t);
                    }
                };
                Runnable ours = () -> CpuBackend.get().gemm(ta, tb, 1f, ta4j, tb4j, 0f, c4j);
                double[] ms = GemmPeer.alternate(threads, quick, theirs, ours);
                System.out.println("median_ms=" + ms[0] + "," + ms[1]);
            }
        }
    }

    /** count floats in the memory tune4j's own tensors get (huge pages from 2 MiB up), so both sides read alike. */
    static MemorySegment filled(Arena arena, long count) {
        MemorySegment s = HostMemory.allocate(arena, count * 4);
        for (long i = 0; i < count; i++) s.setAtIndex(JAVA_FLOAT, i, (float) ((i * 7919) % 1000) / 1000f - 0.5f);
        return s;
    }
}
