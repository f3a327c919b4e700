package org.tune4j.bench.peers;

import java.lang.foreign.Arena;
import java.util.List;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.SimdLevel;
import org.tune4j.bench.BenchData;
import org.tune4j.bench.Measure;
import org.tune4j.tensor.Tensor;

/**
 * Another library's f32 GEMM, measured on the same shapes in the same run. Implementations come from
 * this module (OpenBLAS) and, with the Maven profile {@code peers}, from {@code src/peers/java}
 * (ONNX Runtime), found through {@link java.util.ServiceLoader}.
 */
public interface GemmPeer {
    /** One GEMM to time: C[m,n] = op(A) op(B); tune4j's row runs at {@code level} (a SimdLevel's name). */
    record Shape(boolean transA, boolean transB, int m, int n, int k, int threads, String level) {}

    /** One library's GEMM on one shape, its operands made and its threads set: run() is one call, close() frees them. */
    interface Call extends Runnable, AutoCloseable {
        @Override
        void close();
    }

    /** Makes tune4j's call for a shape ({@link #ours}), for a peer in this process to time in alternation with its own. */
    @FunctionalInterface
    interface Ours {
        Call prepare(Shape shape);
    }

    /** tune4j's GEMM on {@code s}, at its threads and SIMD level (both set here, for the whole process). */
    static Call ours(Shape s) {
        CpuBackend.setThreads(s.threads());
        CpuBackend.setSimdLevel(SimdLevel.valueOf(s.level()));
        Arena arena = Arena.ofConfined();
        Tensor a = BenchData.matrix(arena, s.transA() ? s.k() : s.m(), s.transA() ? s.m() : s.k());
        Tensor b = BenchData.matrix(arena, s.transB() ? s.n() : s.k(), s.transB() ? s.k() : s.n());
        Tensor c = BenchData.matrix(arena, s.m(), s.n());
        CpuBackend cpu = CpuBackend.get();
        return new Call() {
            @Override
            public void run() {
                cpu.gemm(s.transA(), s.transB(), 1f, a, b, 0f, c);
            }

            @Override
            public void close() {
                arena.close();
            }
        };
    }


    /** Short name, as in "onnxruntime 1.23.2 MatMul". */
    String name();

    /**
     * Medians for all shapes, in order, each with ours timed beside it where the peer can ({@link Measure#alternatedCalls}); quick
     * trades precision for time. Never throws: failures are results.
     */
    List<PeerResult> measure(List<Shape> shapes, boolean quick, Ours ours);
}
