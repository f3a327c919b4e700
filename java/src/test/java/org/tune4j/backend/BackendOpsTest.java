package org.tune4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.tune4j.backend.Op.GradientCheck;
import org.tune4j.backend.cuda.CudaBackend;
import org.tune4j.backend.cuda.CudaStatus;
import org.tune4j.tensor.Memory;
import org.tune4j.testing.FiniteDifferences;

/**
 * The op table ({@link OpTable}) on every backend present, in the manner of ggml's test-backend-ops: each op at each
 * of its shapes on the CPU at every SIMD level (a level this CPU lacks is reported as not run) and on CUDA (a GPU,
 * or the CUDA emulator that kernels/emulator/run.sh puts in its place; without either each case is reported as
 * skipped with CUDA's reason, and TUNE4J_REQUIRE_GPU makes that a failure), its outputs against the reference's on
 * the same inputs. On the CPU the op must also give the same bits on 1 and 3 threads; on CUDA it must not fall back
 * to the host, unless the table says it has no kernel there (and then it must). Every backend, the reference
 * included, refuses each op's malformed call with an IllegalArgumentException; the reference's backward ops match
 * finite differences of its forward ops.
 */
class BackendOpsTest {
    private static final ReferenceBackend REF = new ReferenceBackend();
    private static final String REFERENCE = "reference", CUDA = "cuda";
    private static CudaBackend gpu;
    private static String noGpu;

    /**
     * The backends under test by name: "cpu portable", "cpu avx2", "cpu avx512", "cuda"; -Dtune4j.ops.targets=cuda (a
     * comma-separated list) keeps those named (the GPU check and the emulator run CUDA's alone).
     */
    static List<String> targets() {
        List<String> out = new ArrayList<>();
        for (SimdLevel level : SimdLevel.values()) out.add("cpu " + level.label());
        out.add(CUDA);
        String only = System.getProperty("tune4j.ops.targets");
        if (only != null) out.retainAll(List.of(only.split(",")));
        return out;
    }

    static Stream<Arguments> parityCases() {
        List<Arguments> out = new ArrayList<>();
        for (String target : targets())
            for (Op op : OpTable.all())
                for (long[] s : op.shapes()) out.add(Arguments.of(target, op, Op.shape(s), s));
        return out.stream();
    }

    static Stream<Arguments> badCalls() {
        List<Arguments> out = new ArrayList<>();
        List<String> targets = new ArrayList<>(targets());
        if (System.getProperty("tune4j.ops.targets") == null) targets.addFirst(REFERENCE);
        for (String target : targets)
            for (Op op : OpTable.all()) out.add(Arguments.of(target, op));
        return out.stream();
    }

    static Stream<Op> gradients() {
        return OpTable.all().stream().filter(op -> op.gradient() != null);
    }

    @AfterEach
    void restore() {
        CpuBackend.setSimdLevel(SimdLevel.supported().getLast());
        CpuBackend.setThreads(Runtime.getRuntime().availableProcessors());
    }

    @AfterAll
    static void closeGpu() {
        if (gpu != null) gpu.close();
        gpu = null;
    }

    /** The backend named target, ready to run; an absent one makes the test report itself skipped, saying why. */
    private static Backend open(String target) {
        if (target.equals(REFERENCE)) return REF;
        if (!target.equals(CUDA)) {
            TestTensors.useLevel(SimdLevel.parse(target.substring("cpu ".length())));
            return CpuBackend.get();
        }
        if (gpu == null && noGpu == null) {
            CudaStatus status = CudaStatus.probe();
            if (status.available()) gpu = CudaBackend.open();
            else noGpu = status.message();
        }
        if (gpu == null && System.getenv("TUNE4J_REQUIRE_GPU") != null) throw new AssertionError("TUNE4J_REQUIRE_GPU is set: " + noGpu);
        Assumptions.assumeTrue(gpu != null, () -> "SKIPPED, no GPU here: " + noGpu);
        gpu.resetFallbacks();
        return gpu;
    }

    /** The op's outputs on be, its inputs drawn from a seed of the op and shape (the same on every backend). */
    private static OpOutputs run(Backend be, Op op, long[] s) {
        try (Arena arena = Arena.ofShared()) {
            OpInputs in = new OpInputs(arena, be.memory(), java.util.Arrays.hashCode(s) * 31L + op.name().hashCode());
            OpOutputs out = new OpOutputs();
            op.body().run(be, in, out, s);
            return out;
        }
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("parityCases")
    void matchesTheReference(String target, Op op, String shape, long[] s) {
        Backend be = open(target);
        OpOutputs expected = run(REF, op, s);
        assertTrue(expected.size() > 0, op + " compares nothing");
        if (be instanceof CpuBackend) {
            CpuBackend.setThreads(1);
            OpOutputs one = run(be, op, s);
            CpuBackend.setThreads(3);
            OpOutputs three = run(be, op, s);
            expected.assertMatchedBy(one, target + " " + op + " " + shape);
            one.assertSameBits(three, target + " " + op + " " + shape + ", 1 and 3 threads");
        } else {
            expected.assertMatchedBy(run(be, op, s), target + " " + op + " " + shape);
            Map<String, Long> fallbacks = gpu.fallbacks();
            if (op.hostOnDevices()) assertFalse(fallbacks.isEmpty(), op + " ran on the device: the table says it falls back to the host there; drop that");
            else assertEquals(Map.of(), fallbacks, "ops the CUDA backend ran on the host");
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("badCalls")
    void refusesAMalformedCallByName(String target, Op op) {
        Assumptions.assumeTrue(op.bad() != null, op + " has no malformed call in the table");
        Backend be = open(target);
        try (Arena arena = Arena.ofShared()) {
            OpInputs in = new OpInputs(arena, be.memory(), 1);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> op.bad().run(be, in), target + " " + op);
            assertNotNull(e.getMessage(), target + " " + op + ": a message naming what is wrong");
            if (target.startsWith("cpu ")) { // both host backends run each op's one check: one message
                IllegalArgumentException ref = assertThrows(IllegalArgumentException.class, () -> op.bad().run(REF, new OpInputs(arena, REF.memory(), 1)));
                assertEquals(ref.getMessage(), e.getMessage(), target + " " + op + ": the reference's message");
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("gradients")
    void backwardMatchesFiniteDifferencesOfForward(Op op) {
        try (Arena arena = Arena.ofConfined()) {
            for (GradientCheck check : op.gradient().build(REF, new OpInputs(arena, Memory.HOST, 3))) {
                double[] numeric = FiniteDifferences.gradient(check.theta(), check.loss(), 1e-3);
                for (int i = 0; i < numeric.length; i++)
                    assertEquals(numeric[i], check.analytic().getFloat(i), 2e-3 * (1 + Math.abs(numeric[i])), op + " " + check.what() + "[" + i + "]");
            }
        }
    }
}
