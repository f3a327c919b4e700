package org.tune4j.bench.peers;

import java.util.List;

/**
 * Another library's f32 GEMM, measured on the same shapes in the same run. Implementations come from
 * this module (OpenBLAS) and, with the Maven profile {@code peers}, from {@code src/peers/java}
 * (ONNX Runtime), found through {@link java.util.ServiceLoader}.
 */
public interface GemmPeer {
    /** One GEMM to time: C[m,n] = op(A) op(B); tune4j's row runs at {@code level} (a SimdLevel's name). */
    record Shape(boolean transA, boolean transB, int m, int n, int k, int threads, String level) {}

    /**
     * A measured median in ms, or null with the reason it could not be measured; {@code oursMs}: tune4j's median on the
     * same shape timed in alternation with the peer's (each round runs both), where the peer can do that, else null.
     */
    record Result(String peer, Double medianMs, String whyNot, Double oursMs) {
        public Result(String peer, Double medianMs, String whyNot) {
            this(peer, medianMs, whyNot, null);
        }
    }

    /** Short name, as in "onnxruntime 1.23.2 MatMul". */
    String name();

    /** Medians for all shapes, in order; quick trades precision for time. Never throws: failures are results. */
    List<Result> measure(List<Shape> shapes, boolean quick);
}
