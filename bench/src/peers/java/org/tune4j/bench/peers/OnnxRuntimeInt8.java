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
 * ONNX Runtime's MatMulInteger (u8 activations x s8 weights → s32, weights packed at session creation,
 * no dequantization) and f32 MatMul, one session per rotated weight set; each timed in alternation with the call of ours
 * it is compared with.
 */
public final class OnnxRuntimeInt8 implements Int8Peer {
    @Override
    public String name() {
        return "onnxruntime " + OrtEnvironment.getEnvironment().getVersion();
    }

    @Override
    public PeerResult matMulInteger(int m, int n, int k, int threads, int rotate, boolean quick, Runnable ours) {
        String label = name() + " MatMulInteger";
        List<byte[]> models = new ArrayList<>();
        for (int r = 0; r < rotate; r++) {
            byte[] b = new byte[k * n];
            for (int i = 0; i < b.length; i++) b[i] = (byte) (((i * 7919L + r * 104729L) % 255) - 127);
            models.add(OnnxModels.matMulInteger(m, n, k, b));
        }
        ByteBuffer a = ByteBuffer.allocateDirect(m * k);
        for (int i = 0; i < m * k; i++) a.put((byte) ((i * 31) % 256));
        a.rewind();
        return time(label, models, env -> OnnxTensor.createTensor(env, a, new long[] {m, k}, ai.onnxruntime.OnnxJavaType.UINT8), threads, quick, ours);
    }

    @Override
    public PeerResult matMulF32(int m, int n, int k, int threads, int rotate, boolean quick, Runnable ours) {
        String label = name() + " MatMul f32";
        List<byte[]> models = new ArrayList<>();
        for (int r = 0; r < rotate; r++) {
            float[] b = new float[k * n];
            for (int i = 0; i < b.length; i++) b[i] = ((i * 7919L + r * 104729L) % 1000) / 1000f - 0.5f;
            models.add(OnnxModels.gemm(false, false, m, n, k, b));
        }
        FloatBuffer a = ByteBuffer.allocateDirect(m * k * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
        for (int i = 0; i < m * k; i++) a.put(((i * 31) % 1000) / 1000f - 0.5f);
        a.rewind();
        return time(label, models, env -> OnnxTensor.createTensor(env, a, new long[] {m, k}), threads, quick, ours);
    }

    private interface Input {
        OnnxTensor create(OrtEnvironment env) throws Exception;
    }

    private static PeerResult time(String label, List<byte[]> models, Input input, int threads, boolean quick, Runnable ours) {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        List<OrtSession> sessions = new ArrayList<>();
        try (SessionOptions opts = new SessionOptions(); OnnxTensor a = input.create(env)) {
            opts.setIntraOpNumThreads(threads);
            opts.setInterOpNumThreads(1);
            opts.setOptimizationLevel(SessionOptions.OptLevel.ALL_OPT);
            for (byte[] model : models) sessions.add(env.createSession(model, opts));
            Map<String, OnnxTensor> feed = Map.of("A", a);
            int[] next = {0};
            Measure.Blocks blocks = Measure.alternatedCalls(threads, quick, () -> {
                try (OrtSession.Result r = sessions.get(next[0]++ % sessions.size()).run(feed)) {
                    if (r.size() != 1) throw new IllegalStateException("expected one output");
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }, ours);
            return PeerResult.of(label, blocks);
        } catch (Exception | LinkageError e) {
            return PeerResult.failed(label, e.toString());
        } finally {
            for (OrtSession s : sessions) {
                try {
                    s.close();
                } catch (Exception ignored) {
                    // closing a session that failed half-way: nothing more to free
                }
            }
        }
    }
}
