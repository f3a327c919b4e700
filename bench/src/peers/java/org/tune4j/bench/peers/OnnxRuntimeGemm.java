package org.tune4j.bench.peers;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession.SessionOptions;
import ai.onnxruntime.OrtSession;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.tune4j.bench.Measure;

/**
 * ONNX Runtime's CPU MatMul (Gemm for the transposed shapes), with B a constant initializer and the
 * intra-op thread count set to the row's, one inter-op thread, all graph optimizations on; timed in alternation with
 * tune4j's call on the same shape ({@link org.tune4j.bench.Measure#alternatedCalls}).
 */
public final class OnnxRuntimeGemm implements GemmPeer {
    @Override
    public String name() {
        return "onnxruntime " + OrtEnvironment.getEnvironment().getVersion();
    }

    @Override
    public List<PeerResult> measure(List<Shape> shapes, boolean quick, Ours ours) {
        List<PeerResult> out = new ArrayList<>();
        for (Shape s : shapes) {
            String label = name() + (s.transA() || s.transB() ? " Gemm" : " MatMul");
            try {
                out.add(PeerResult.of(label, time(s, quick, ours)));
            } catch (Exception | LinkageError e) {
                out.add(PeerResult.failed(label, e.toString()));
            }
        }
        return out;
    }

    /** Theirs (piece 0) and ours (piece 1) in alternation. */
    private static Measure.Blocks time(Shape s, boolean quick, Ours ours) throws Exception {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        float[] bValues = values((long) s.k() * s.n());
        byte[] model = OnnxModels.gemm(s.transA(), s.transB(), s.m(), s.n(), s.k(), bValues);
        try (SessionOptions opts = new SessionOptions()) {
            opts.setIntraOpNumThreads(s.threads());
            opts.setInterOpNumThreads(1);
            opts.setOptimizationLevel(SessionOptions.OptLevel.ALL_OPT);
            try (OrtSession session = env.createSession(model, opts)) {
                long[] aShape = s.transA() ? new long[] {s.k(), s.m()} : new long[] {s.m(), s.k()};
                FloatBuffer a = ByteBuffer.allocateDirect(s.m() * s.k() * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
                a.put(values((long) s.m() * s.k())).rewind();
                try (OnnxTensor input = OnnxTensor.createTensor(env, a, aShape); GemmPeer.Call mine = ours.prepare(s)) {
                    Map<String, OnnxTensor> feed = Map.of("A", input);
                    return Measure.alternatedCalls(s.threads(), quick, () -> {
                        try (OrtSession.Result r = session.run(feed)) {
                            if (r.size() != 1) throw new IllegalStateException("expected one output");
                        } catch (Exception e) {
                            throw new IllegalStateException(e);
                        }
                    }, mine);
                }
            }
        }
    }

    private static float[] values(long n) {
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = ((i * 7919L) % 1000) / 1000f - 0.5f;
        return v;
    }
}
