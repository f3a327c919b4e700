package org.tune4j.fuzz;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;
import org.tune4j.backend.Activation;
import org.tune4j.backend.Backend;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.CsrWeights;
import org.tune4j.backend.Int8Weights;
import org.tune4j.backend.LoraAdapters;
import org.tune4j.backend.PackedLinearWeights;
import org.tune4j.backend.ReferenceBackend;
import org.tune4j.backend.cuda.CudaBackend;
import org.tune4j.backend.SimdLevel;
import org.tune4j.backend.Sparse24Weights;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * Random calls of every {@link Backend} op, run in a JVM of its own by {@code BoundaryFuzzTest} so that a
 * native crash fails that test instead of the build. Arguments are drawn per parameter type: tensors of
 * random shapes from a small pool (so that shapes often agree and calls pass the checks), dtypes, strided
 * views, closed arenas, read-only and heap memory, NaN and infinite values and scalars, nulls. Every case
 * runs on the reference and on the native backend at each SIMD level this CPU has, from the same inputs, and with
 * -Dtune4j.fuzz.cuda=true on the CUDA backend too (a GPU, or the emulator), its tensors in device memory.
 *
 * <p>A case passes when every backend returns or throws IllegalArgumentException / IllegalStateException
 * (the API's two refusals), all backends agree on which, and, where they all return, every output
 * element is NaN on all of them or on none (a NaN the reference keeps must not become a finite number on
 * a SIMD level); a call that passed is run again with each tensor argument null in turn (refused by name,
 * or returned where the argument is optional, alike on both backends). Prints each case before running
 * it, so a crash names its case; prints "defect: ..." for
 * each broken property and "done CALLS PASSED" at the end. Arguments: seed, number of calls.
 */
public final class BoundaryFuzz {
    private static final long[] DIMS = {0, 1, 2, 3, 4, 5, 7, 8, 16, 17};
    private static final float[] SCALARS = {0f, 1f, -1f, 0.5f, 2f, 1e-5f, 1e30f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY};

    /** With -Dtune4j.fuzz.cuda=true, the CUDA backend as one more backend of every case. */
    private static CudaBackend gpu;

    private BoundaryFuzz() {}

    public static void main(String[] args) throws Exception {
        long seed = Long.parseLong(args[0]);
        int calls = Integer.parseInt(args[1]);
        List<Method> ops = new ArrayList<>(Arrays.asList(Backend.class.getMethods()));
        ops.removeIf(m -> m.getParameterCount() == 0);
        ops.sort(Comparator.comparing(Method::getName).thenComparing(m -> m.getParameterCount()));
        List<SimdLevel> levels = SimdLevel.supported();
        if (Boolean.getBoolean("tune4j.fuzz.cuda")) gpu = CudaBackend.open(); // a GPU, or the emulator (kernels/emulator/run.sh)
        System.out.println("levels " + levels + (gpu == null ? "" : " and cuda") + ", ops " + ops.size());
        SplittableRandom rng = new SplittableRandom(seed);
        int passedChecks = 0, defects = 0;
        for (int i = 0; i < calls; i++) {
            Method op = ops.get(rng.nextInt(ops.size()));
            long caseSeed = rng.nextLong();
            System.out.println("case " + i + " " + op.getName() + " seed " + caseSeed);
            System.out.flush();
            List<String> outcomes = new ArrayList<>();
            List<List<float[]>> outputs = new ArrayList<>();
            List<String> names = new ArrayList<>();
            names.add("reference");
            for (SimdLevel l : levels) names.add("cpu-" + l.label());
            if (gpu != null) names.add("cuda");
            for (int b = 0; b < names.size(); b++) {
                boolean onGpu = gpu != null && b == names.size() - 1;
                Backend backend = b == 0 ? new ReferenceBackend() : onGpu ? gpu : CpuBackend.get();
                if (b > 0 && !onGpu) CpuBackend.setSimdLevel(levels.get(b - 1));
                try (Arena arena = Arena.ofConfined()) {
                    Object[] a = arguments(op, new SplittableRandom(caseSeed), arena);
                    boolean comparable = !onGpu || onDevice(a, arena);
                    String outcome;
                    try {
                        op.invoke(backend, a);
                        outcome = "returned";
                    } catch (InvocationTargetException e) {
                        Throwable t = e.getCause();
                        outcome = t instanceof IllegalArgumentException || t instanceof IllegalStateException ? "refused: " + t.getMessage()
                                : "DEFECT " + t + " at " + java.util.Arrays.stream(t.getStackTrace()).limit(3).map(Object::toString).toList();
                    }
                    if (comparable || outcome.startsWith("DEFECT")) {
                        outcomes.add(outcome);
                        outputs.add(floats(a));
                    } else {
                        names.removeLast(); // run for its crashes only: see onDevice
                    }
                }
            }
            CpuBackend.setSimdLevel(levels.get(levels.size() - 1));
            String problem = check(names, outcomes, outputs);
            if (problem != null) {
                defects++;
                System.out.println("defect: case " + i + " " + op.getName() + " seed " + caseSeed + ": " + problem);
            } else if (outcomes.get(0).equals("returned")) {
                passedChecks++;
                String nulls = nullEachTensor(op, caseSeed);
                if (nulls != null) {
                    defects++;
                    System.out.println("defect: case " + i + " " + op.getName() + " seed " + caseSeed + ": " + nulls);
                }
            }
        }
        System.out.println("done " + calls + " " + passedChecks + " defects " + defects);
    }

    /**
     * A call that passed, again with each tensor argument in turn set to null (the arguments an op may take
     * as null are optional, the others must be refused by name): the reference and the native backend must
     * both return or both refuse, never fail with anything else. Null when they do, else what happened.
     */
    private static String nullEachTensor(Method op, long caseSeed) throws IllegalAccessException {
        Class<?>[] types = op.getParameterTypes();
        for (int k = 0; k < types.length; k++) {
            if (types[k] != Tensor.class) continue;
            String[] outcome = new String[2];
            for (int b = 0; b < 2; b++) {
                try (Arena arena = Arena.ofConfined()) {
                    Object[] a = arguments(op, new SplittableRandom(caseSeed), arena);
                    a[k] = null;
                    op.invoke(b == 0 ? new ReferenceBackend() : CpuBackend.get(), a);
                    outcome[b] = "returned";
                } catch (InvocationTargetException e) {
                    Throwable t = e.getCause();
                    if (!(t instanceof IllegalArgumentException)) return "argument " + k + " null: " + (b == 0 ? "reference " : "cpu ") + t;
                    outcome[b] = "refused";
                }
            }
            if (!outcome[0].equals(outcome[1])) return "argument " + k + " null: reference " + outcome[0] + ", cpu " + outcome[1];
        }
        return null;
    }

    /** Null when the backends agree, else what differs. */
    private static String check(List<String> names, List<String> outcomes, List<List<float[]>> outputs) {
        for (int b = 0; b < outcomes.size(); b++) if (outcomes.get(b).startsWith("DEFECT")) return names.get(b) + ": " + outcomes.get(b);
        for (int b = 1; b < outcomes.size(); b++) {
            if (outcomes.get(b).startsWith("refused") != outcomes.get(0).startsWith("refused")) {
                return names.get(b) + " " + outcomes.get(b) + ", reference " + outcomes.get(0);
            }
        }
        if (!outcomes.get(0).equals("returned")) return null;
        for (int b = 1; b < outputs.size(); b++) {
            for (int t = 0; t < outputs.get(0).size(); t++) {
                float[] ref = outputs.get(0).get(t), got = outputs.get(b).get(t);
                if (ref == null || got == null) continue;
                for (int j = 0; j < ref.length; j++) {
                    if (Float.isNaN(ref[j]) != Float.isNaN(got[j])) {
                        return "tensor argument " + t + " element " + j + ": reference " + ref[j] + ", " + names.get(b) + " " + got[j];
                    }
                }
            }
        }
        return null;
    }

    /**
     * The CUDA backend's arguments: each F32 and I8 tensor in live, writable native memory copied into device memory
     * (a strided view as a view with the same row stride), in arrays too; I32 tensors (labels, ids, lengths) stay on the host, where the
     * backend checks their values before staging them (values in device memory the host cannot check); freed,
     * read-only and heap memory stay as they are (the backend refuses them or runs the op on the host, counted).
     * Returns whether the case compares with the host's (see {@link #hasDeviceCounterpart}).
     */
    private static boolean onDevice(Object[] a, Arena arena) {
        boolean comparable = true;
        for (int i = 0; i < a.length; i++) {
            if (a[i] instanceof Tensor t) {
                comparable &= hasDeviceCounterpart(t);
                a[i] = toDevice(t, arena);
            } else if (a[i] instanceof Tensor[] ts) {
                for (int j = 0; j < ts.length; j++) {
                    comparable &= hasDeviceCounterpart(ts[j]);
                    ts[j] = toDevice(ts[j], arena);
                }
            }
        }
        return comparable;
    }

    /**
     * False for read-only or heap memory of a kind the device computes on (F32, I8): device memory has neither, so such
     * a case (a read-only input the host reads in place, say) is no test of agreement; it still runs, for crashes.
     */
    private static boolean hasDeviceCounterpart(Tensor t) {
        return t == null || t.dtype() == DType.I32 || !t.isAlive() || (t.segment().isNative() && !t.isReadOnly());
    }

    private static Tensor toDevice(Tensor t, Arena arena) {
        if (t == null || t.dtype() == DType.I32 || !t.isAlive() || !t.segment().isNative() || t.isReadOnly()) return t;
        return t.copyKeepingStride(arena, gpu.memory()); // a view there too
    }

    /** The F32 tensors among the arguments, after the call (readable ones only; a device's read back). */
    private static List<float[]> floats(Object[] args) {
        List<float[]> out = new ArrayList<>();
        for (Object o : args) {
            if (o instanceof Tensor t && t.dtype() == DType.F32 && t.isAlive() && (!t.isHost() || t.segment().isNative())) out.add(t.toFloatArray());
            else out.add(null);
        }
        return out;
    }

    private static Object[] arguments(Method op, SplittableRandom rng, Arena arena) {
        long m = DIMS[rng.nextInt(DIMS.length)], n = DIMS[rng.nextInt(DIMS.length)];
        Class<?>[] types = op.getParameterTypes();
        Object[] a = new Object[types.length];
        for (int i = 0; i < types.length; i++) a[i] = argument(types[i], rng, arena, m, n);
        return a;
    }

    private static Object argument(Class<?> type, SplittableRandom rng, Arena arena, long m, long n) {
        if (type == Tensor.class) return tensor(rng, arena, m, n);
        if (type == float.class) return rng.nextInt(3) == 0 ? SCALARS[rng.nextInt(SCALARS.length)] : (float) (rng.nextDouble() * 2);
        if (type == int.class) return (int) (rng.nextInt(8) == 0 ? -1 : DIMS[rng.nextInt(6)]);
        if (type == long.class) return rng.nextInt(8) == 0 ? -1L : rng.nextInt(8) == 0 ? Long.MAX_VALUE : DIMS[rng.nextInt(DIMS.length)];
        if (type == boolean.class) return rng.nextBoolean();
        if (type == Activation.class) return rng.nextInt(10) == 0 ? null : Activation.values()[rng.nextInt(Activation.values().length)];
        if (rng.nextInt(10) == 0) return null;
        if (type == LoraAdapters.class) return adapters(rng, arena, m, n);
        if (type == Runnable.class) return (Runnable) () -> {}; // work to record: a host backend runs it
        if (type.isArray()) { // layers sharing an input: 0 to 3 of them, an element null now and then
            Object[] array = (Object[]) java.lang.reflect.Array.newInstance(type.getComponentType(), rng.nextInt(4));
            for (int i = 0; i < array.length; i++) array[i] = argument(type.getComponentType(), rng, arena, m, n);
            return array;
        }
        Tensor w = values(Tensor.zeros(arena, DType.F32, Math.max(1, pick(rng, m, n)), Math.max(4, pick(rng, m, n) / 4 * 4)), rng, false);
        if (type == Int8Weights.class) return Int8Weights.quantize(arena, new ReferenceBackend(), w);
        if (type == CsrWeights.class) return CsrWeights.fromDense(arena, w);
        if (type == Sparse24Weights.class) return Sparse24Weights.fromDense(arena, w);
        if (type == PackedLinearWeights.class) return PackedLinearWeights.pack(arena, w);
        throw new IllegalStateException("no generator for " + type);
    }

    /** One to three adapters of ranks 1-17 over [pick, pick]; now and then every factor's memory freed (an adapter unloaded under a batch). */
    private static LoraAdapters adapters(SplittableRandom rng, Arena arena, long m, long n) {
        long dIn = Math.max(1, pick(rng, m, n)), dOut = Math.max(1, pick(rng, m, n));
        boolean freed = rng.nextInt(12) == 0;
        Arena where = freed ? Arena.ofConfined() : arena;
        List<Tensor> a = new ArrayList<>(), b = new ArrayList<>();
        float[] scales = new float[1 + rng.nextInt(3)];
        for (int i = 0; i < scales.length; i++) {
            long r = 1 + rng.nextInt(17);
            a.add(values(Tensor.zeros(where, DType.F32, r, dIn), rng, true));
            b.add(values(Tensor.zeros(where, DType.F32, dOut, r), rng, true));
            scales[i] = (float) (rng.nextDouble() * 4 - 2);
        }
        LoraAdapters out = new LoraAdapters(a, b, scales);
        if (freed) where.close();
        return out;
    }

    private static long pick(SplittableRandom rng, long m, long n) {
        return switch (rng.nextInt(3)) {
            case 0 -> m;
            case 1 -> n;
            default -> DIMS[rng.nextInt(DIMS.length)];
        };
    }

    private static Tensor tensor(SplittableRandom rng, Arena arena, long m, long n) {
        int kind = rng.nextInt(100);
        if (kind < 3) return null;
        DType dtype = kind < 8 ? DType.I32 : kind < 12 ? DType.I8 : DType.F32;
        long rows = pick(rng, m, n), cols = pick(rng, m, n);
        boolean vector = rng.nextInt(4) == 0;
        if (kind == 12) { // memory that was freed
            Arena closed = Arena.ofConfined();
            Tensor t = vector ? Tensor.zeros(closed, dtype, rows) : Tensor.zeros(closed, dtype, rows, cols);
            closed.close();
            return t;
        }
        if (kind == 13 || kind == 14) { // read-only memory, or memory on the Java heap
            long count = Math.max(1, rows * cols);
            MemorySegment seg = kind == 13 ? arena.allocate(dtype.bytes(count), 64).asReadOnly() : MemorySegment.ofArray(new float[(int) count]);
            return vector ? Tensor.wrap(seg, dtype, rows * cols) : Tensor.wrap(seg, dtype, rows, cols, Math.max(1, cols));
        }
        if (kind < 20 && !vector) { // a strided view
            Tensor big = Tensor.zeros(arena, dtype, rows + 1, cols + 3);
            return values(big, rng, true).view(1, 1, rows, cols);
        }
        Tensor t = vector ? Tensor.zeros(arena, dtype, rows * (rng.nextBoolean() ? 1 : cols)) : Tensor.zeros(arena, dtype, rows, cols);
        return values(t, rng, true);
    }

    /** Uniform values in [-2, 2) (F32), small integers (I32: labels and indices), or bytes; now and then a NaN or an infinity. */
    private static Tensor values(Tensor t, SplittableRandom rng, boolean nonFinite) {
        long count = t.numel();
        for (long i = 0; i < count; i++) {
            switch (t.dtype()) {
                case F32 -> t.setFloat(i, (float) (rng.nextDouble() * 4 - 2));
                case I32 -> t.setInt(i, rng.nextInt(12) - 1);
                case I8 -> t.setByte(i, (byte) rng.nextInt(256));
            }
        }
        if (nonFinite && t.dtype() == DType.F32 && count > 0 && rng.nextInt(8) == 0) {
            t.setFloat(rng.nextLong(count), rng.nextBoolean() ? Float.NaN : Float.POSITIVE_INFINITY);
        }
        return t;
    }
}
