package org.tune4j.backend.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

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
import org.tune4j.bindings.NativeAccess;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * int8 GEMM through cuBLASLt over FFM (ARCHITECTURE.md, "Bindings"), opened at run time by soname
 * ({@code libcublasLt.so.13}, then {@code .so.12}). cuBLASLt's heuristic proposes up to
 * {@value #CANDIDATES} algorithms for a shape; the first call on each shape times every one on the
 * caller's operands and keeps the fastest (its {@link Search} says what was tried), with a
 * {@value #WORKSPACE_MIB} MiB workspace shared by all plans. Row-major c [m, n] = a [m, k] bᵀ is cuBLASLt's
 * column-major cᵀ = op(b) a with op = transpose: the "TN" layout its int8 tensor-core kernels take.
 */
public final class CublasLt implements AutoCloseable {
    static final int CANDIDATES = 16;
    static final int WORKSPACE_MIB = 32;

    // cublasLt.h / library_types.h values
    private static final int OP_N = 0, OP_T = 1;
    private static final int CUDA_R_8I = 3, CUDA_R_32I = 10, COMPUTE_32I = 72;
    private static final int DESC_TRANSA = 3, DESC_TRANSB = 4, PREF_MAX_WORKSPACE_BYTES = 1;
    /** cublasLtMatmulHeuristicResult_t: algo (8 x uint64), workspaceSize (size_t), state (int), wavesCount (float), reserved (4 x int). */
    private static final long RESULT_BYTES = 96, ALGO_BYTES = 64, RESULT_WORKSPACE = 64, RESULT_STATE = 72;

    /** One algorithm the heuristic proposed: its rank in the heuristic's order, workspace, and measured time (NaN if it failed). */
    public record Candidate(int rank, long workspaceBytes, double ms) {}

    /** What the first call on a shape tried, and which candidate it kept. */
    public record Search(int m, int n, int k, List<Candidate> candidates, int chosen) {
        public Candidate best() {
            return candidates.get(chosen);
        }

        /** The heuristic's own first choice (what a caller that takes the top result gets). */
        public Candidate first() {
            return candidates.get(0);
        }
    }

    private record ShapeKey(int m, int n, int k) {}

    private record Plan(MemorySegment desc, MemorySegment aLayout, MemorySegment bLayout, MemorySegment cLayout, MemorySegment algo, Search search) {}

    private final CudaBackend gpu;
    private final MemorySegment handle;
    private final Arena arena = Arena.ofShared(); // plans, scalars: live as long as this object
    private final MemorySegment one, zero;
    private final Tensor workspace; // in this object's arena
    private final Map<ShapeKey, Plan> plans = new HashMap<>();
    private final MethodHandle matmul, descCreate, descSet, descDestroy, layoutCreate, layoutDestroy, prefCreate, prefSet, prefDestroy, heuristic, destroy;

    private CublasLt(CudaBackend gpu, SymbolLookup lib, MemorySegment handle) {
        this.gpu = gpu;
        this.handle = handle;
        matmul = NativeAccess.downcall(lib, "cublasLtMatmul", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
                ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS), false);
        descCreate = NativeAccess.downcall(lib, "cublasLtMatmulDescCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), false);
        descSet = NativeAccess.downcall(lib, "cublasLtMatmulDescSetAttribute", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG), false);
        descDestroy = NativeAccess.downcall(lib, "cublasLtMatmulDescDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
        layoutCreate = NativeAccess.downcall(lib, "cublasLtMatrixLayoutCreate",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG), false);
        layoutDestroy = NativeAccess.downcall(lib, "cublasLtMatrixLayoutDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
        prefCreate = NativeAccess.downcall(lib, "cublasLtMatmulPreferenceCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
        prefSet = NativeAccess.downcall(lib, "cublasLtMatmulPreferenceSetAttribute", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG),
                false);
        prefDestroy = NativeAccess.downcall(lib, "cublasLtMatmulPreferenceDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
        heuristic = NativeAccess.downcall(lib, "cublasLtMatmulAlgoGetHeuristic",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS), false);
        destroy = NativeAccess.downcall(lib, "cublasLtDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
        one = arena.allocateFrom(JAVA_INT, 1);
        zero = arena.allocateFrom(JAVA_INT, 0);
        workspace = gpu.memory().zeros(arena, DType.I8, (long) WORKSPACE_MIB << 20);
    }

    /** cuBLASLt on {@code gpu}'s stream; an {@link IllegalStateException} saying why when it cannot load or start. */
    public static CublasLt open(CudaBackend gpu) {
        Optional<SymbolLookup> lib = NativeAccess.openSystem("libcublasLt.so.13").or(() -> NativeAccess.openSystem("libcublasLt.so.12"));
        if (lib.isEmpty()) throw new IllegalStateException("cuBLASLt not found: neither libcublasLt.so.13 nor libcublasLt.so.12 is on the library path");
        try (Arena local = Arena.ofConfined()) {
            MemorySegment out = local.allocate(ADDRESS);
            MethodHandle create = NativeAccess.downcall(lib.get(), "cublasLtCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS), false);
            int rc = (int) create.invokeExact(out);
            if (rc != 0) throw new IllegalStateException("cublasLtCreate failed with status " + rc);
            return new CublasLt(gpu, lib.get(), out.get(ADDRESS, 0));
        } catch (IllegalStateException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("cuBLASLt could not start: " + t, t);
        }
    }

    /** c [m, n] (I32) = a [m, k] (I8) bᵀ, b [n, k] (I8), exact in int32; k and n multiples of 4 (cuBLASLt's int8 alignment). */
    public void gemmInt8(Tensor a, Tensor b, Tensor c) {
        ShapeKey s = shape(a, b, c);
        Plan p = plans.get(s);
        if (p == null) {
            p = plan(s, a, b, c);
            plans.put(s, p);
        }
        int rc = run(p, p.algo, a, b, c);
        if (rc != 0) throw new IllegalStateException("cublasLtMatmul failed with status " + rc + " on " + s);
    }

    /** The search made for this shape by an earlier {@link #gemmInt8} call, if any. */
    public Optional<Search> search(int m, int n, int k) {
        Plan p = plans.get(new ShapeKey(m, n, k));
        return p == null ? Optional.empty() : Optional.of(p.search);
    }

    private static ShapeKey shape(Tensor a, Tensor b, Tensor c) {
        for (Tensor t : new Tensor[] {a, b}) {
            if (t == null || t.rank() != 2 || t.dtype() != DType.I8 || t.isHost() || !t.isContiguous()) throw new IllegalArgumentException("a and b must be contiguous I8 device matrices, got " + t);
        }
        if (c == null || c.rank() != 2 || c.dtype() != DType.I32 || c.isHost() || !c.isContiguous()) throw new IllegalArgumentException("c must be a contiguous I32 device matrix, is " + c);
        long m = a.dim(0), k = a.dim(1), n = b.dim(0);
        if (b.dim(1) != k) throw new IllegalArgumentException("a is " + m + "x" + k + " but b is " + n + "x" + b.dim(1) + " (c = a bᵀ needs the same k)");
        if (c.dim(0) != m || c.dim(1) != n) throw new IllegalArgumentException("c must be [" + m + ", " + n + "], is " + c);
        if (k % 4 != 0 || n % 4 != 0) throw new IllegalArgumentException("cuBLASLt int8 needs k and n to be multiples of 4, are " + k + " and " + n);
        if (m > Integer.MAX_VALUE || n > Integer.MAX_VALUE || k > Integer.MAX_VALUE) throw new IllegalArgumentException("dimensions exceed int: " + m + "x" + n + "x" + k);
        return new ShapeKey((int) m, (int) n, (int) k);
    }

    /** Descriptors for the shape, the heuristic's candidates, each timed on the caller's operands; the fastest kept. */
    private Plan plan(ShapeKey s, Tensor a, Tensor b, Tensor c) {
        try (Arena local = Arena.ofConfined()) {
            MemorySegment out = local.allocate(ADDRESS);
            call(descCreate, "cublasLtMatmulDescCreate", out, COMPUTE_32I, CUDA_R_32I);
            MemorySegment desc = out.get(ADDRESS, 0);
            call4(descSet, "set TRANSA", desc, DESC_TRANSA, local.allocateFrom(JAVA_INT, OP_T), 4);
            call4(descSet, "set TRANSB", desc, DESC_TRANSB, local.allocateFrom(JAVA_INT, OP_N), 4);
            MemorySegment al = layout(out, CUDA_R_8I, s.k, s.n, s.k); // b [n, k] row-major = column-major k x n
            MemorySegment bl = layout(out, CUDA_R_8I, s.k, s.m, s.k); // a [m, k] row-major = column-major k x m
            MemorySegment cl = layout(out, CUDA_R_32I, s.n, s.m, s.n); // c [m, n] row-major = column-major n x m
            call(prefCreate, "cublasLtMatmulPreferenceCreate", out);
            MemorySegment pref = out.get(ADDRESS, 0);
            call4(prefSet, "set MAX_WORKSPACE_BYTES", pref, PREF_MAX_WORKSPACE_BYTES, local.allocateFrom(JAVA_LONG, (long) WORKSPACE_MIB << 20), 8);
            MemorySegment results = arena.allocate(RESULT_BYTES * CANDIDATES, 16); // kept: the plan runs the chosen entry in place
            MemorySegment returned = local.allocate(JAVA_INT);
            int rc = (int) heuristic.invokeExact(handle, desc, al, bl, cl, cl, pref, CANDIDATES, results, returned);
            int ignored = (int) prefDestroy.invokeExact(pref);
            int count = returned.get(JAVA_INT, 0);
            if (rc != 0 || count == 0) throw new IllegalStateException("cuBLASLt has no int8 algorithm for " + s + " (status " + rc + ", " + count + " found)");
            Plan draft = new Plan(desc, al, bl, cl, null, null);
            double[] best = new double[count];
            java.util.Arrays.fill(best, Double.NaN);
            for (int round = 0; round < 2; round++) { // two rounds, each candidate's best: one slow moment does not decide
                for (int i = 0; i < count; i++) {
                    MemorySegment r = results.asSlice(i * RESULT_BYTES, RESULT_BYTES);
                    if (r.get(JAVA_INT, RESULT_STATE) != 0) continue;
                    double ms = time(draft, r.asSlice(0, ALGO_BYTES), a, b, c);
                    if (!Double.isNaN(ms) && !(best[i] <= ms)) best[i] = ms;
                }
            }
            List<Candidate> tried = new ArrayList<>();
            int chosen = -1;
            for (int i = 0; i < count; i++) {
                tried.add(new Candidate(i, results.get(JAVA_LONG, i * RESULT_BYTES + RESULT_WORKSPACE), best[i]));
                if (!Double.isNaN(best[i]) && (chosen < 0 || best[i] < best[chosen])) chosen = i;
            }
            if (chosen < 0) throw new IllegalStateException("none of cuBLASLt's " + count + " int8 algorithms ran for " + s);
            MemorySegment algo = results.asSlice(chosen * RESULT_BYTES, ALGO_BYTES);
            return new Plan(desc, al, bl, cl, algo, new Search(s.m, s.n, s.k, List.copyOf(tried), chosen));
        } catch (IllegalStateException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("cuBLASLt planning failed for " + s + ": " + t, t);
        }
    }

    /** Mean ms of a few runs of one algorithm, after a warm-up run; NaN when it fails to run. */
    private double time(Plan p, MemorySegment algo, Tensor a, Tensor b, Tensor c) {
        if (run(p, algo, a, b, c) != 0) return Double.NaN;
        gpu.synchronize();
        int reps = 5;
        long t0 = System.nanoTime();
        for (int i = 0; i < reps; i++) if (run(p, algo, a, b, c) != 0) return Double.NaN;
        gpu.synchronize();
        return (System.nanoTime() - t0) / 1e6 / reps;
    }

    private int run(Plan p, MemorySegment algo, Tensor a, Tensor b, Tensor c) {
        try {
            return (int) matmul.invokeExact(handle, p.desc, one, b.pointer(), p.aLayout, a.pointer(), p.bLayout, zero, c.pointer(), p.cLayout, c.pointer(),
                    p.cLayout, algo, workspace.pointer(), (long) WORKSPACE_MIB << 20, gpu.stream());
        } catch (Throwable t) {
            throw new IllegalStateException("cublasLtMatmul could not be called: " + t, t);
        }
    }

    private MemorySegment layout(MemorySegment out, int type, long rows, long cols, long ld) throws Throwable {
        int rc = (int) layoutCreate.invokeExact(out, type, rows, cols, ld);
        if (rc != 0) throw new IllegalStateException("cublasLtMatrixLayoutCreate failed with status " + rc);
        return out.get(ADDRESS, 0);
    }

    private static void call(MethodHandle h, String what, MemorySegment out, int x, int y) throws Throwable {
        int rc = (int) h.invokeExact(out, x, y);
        if (rc != 0) throw new IllegalStateException(what + " failed with status " + rc);
    }

    private static void call(MethodHandle h, String what, MemorySegment out) throws Throwable {
        int rc = (int) h.invokeExact(out);
        if (rc != 0) throw new IllegalStateException(what + " failed with status " + rc);
    }

    private static void call4(MethodHandle h, String what, MemorySegment target, int attr, MemorySegment value, long size) throws Throwable {
        int rc = (int) h.invokeExact(target, attr, value, size);
        if (rc != 0) throw new IllegalStateException("cuBLASLt " + what + " failed with status " + rc);
    }

    @Override
    public void close() {
        try {
            for (Plan p : plans.values()) {
                int ignored = (int) descDestroy.invokeExact(p.desc);
                for (MemorySegment l : new MemorySegment[] {p.aLayout, p.bLayout, p.cLayout}) ignored = (int) layoutDestroy.invokeExact(l);
            }
            plans.clear();
            int rc = (int) destroy.invokeExact(handle);
            if (rc != 0) throw new IllegalStateException("cublasLtDestroy failed with status " + rc);
        } catch (IllegalStateException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("cuBLASLt could not be closed: " + t, t);
        } finally {
            arena.close();
        }
    }
}
