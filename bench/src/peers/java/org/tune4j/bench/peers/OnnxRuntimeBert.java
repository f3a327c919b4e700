package org.tune4j.bench.peers;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.OrtSession.SessionOptions;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/** ONNX Runtime running a BERT's ONNX file (all optimizations on: its fused attention and LayerNorm kernels). */
public final class OnnxRuntimeBert implements BertPeer {
    @Override
    public String name() {
        return "onnxruntime " + OrtEnvironment.getEnvironment().getVersion();
    }

    @Override
    public Session open(Path onnx, int[] ids, int batch, int threads) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        int seq = ids.length;
        long[] in = new long[batch * seq], mask = new long[batch * seq], types = new long[batch * seq];
        for (int b = 0; b < batch; b++)
            for (int s = 0; s < seq; s++) {
                in[b * seq + s] = ids[s];
                mask[b * seq + s] = 1;
            }
        long[] shape = {batch, seq};
        try (SessionOptions opts = new SessionOptions()) {
            opts.setIntraOpNumThreads(threads);
            opts.setInterOpNumThreads(1);
            opts.setOptimizationLevel(SessionOptions.OptLevel.ALL_OPT);
            OrtSession session = env.createSession(onnx.toString(), opts);
            OnnxTensor a = OnnxTensor.createTensor(env, LongBuffer.wrap(in), shape);
            OnnxTensor m = OnnxTensor.createTensor(env, LongBuffer.wrap(mask), shape);
            OnnxTensor t = OnnxTensor.createTensor(env, LongBuffer.wrap(types), shape);
            Map<String, OnnxTensor> feed = Map.of("input_ids", a, "attention_mask", m, "token_type_ids", t);
            return new Session() {
                @Override
                public void forward() {
                    try (OrtSession.Result r = session.run(feed)) {
                        if (r.size() < 1) throw new IllegalStateException("no output");
                    } catch (OrtException e) {
                        throw new IllegalStateException(e);
                    }
                }

                @Override
                public void close() {
                    a.close();
                    m.close();
                    t.close();
                    try {
                        session.close();
                    } catch (OrtException e) {
                        throw new IllegalStateException(e);
                    }
                }
            };
        }
    }

    @Override
    public Embedder embedder(Path onnx, Function<List<String>, int[][]> tokenize, int threads) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (SessionOptions opts = new SessionOptions()) {
            opts.setIntraOpNumThreads(threads);
            opts.setInterOpNumThreads(1);
            opts.setOptimizationLevel(SessionOptions.OptLevel.ALL_OPT);
            OrtSession session = env.createSession(onnx.toString(), opts);
            return new Embedder() {
                @Override
                public float[][] embed(List<List<String>> batches) {
                    List<float[]> out = new ArrayList<>();
                    for (List<String> batch : batches) {
                        int[][] ids = tokenize.apply(batch);
                        int n = ids.length, seq = 0;
                        for (int[] s : ids) seq = Math.max(seq, s.length);
                        long[] in = new long[n * seq], mask = new long[n * seq], types = new long[n * seq];
                        for (int b = 0; b < n; b++)
                            for (int s = 0; s < ids[b].length; s++) {
                                in[b * seq + s] = ids[b][s];
                                mask[b * seq + s] = 1;
                            }
                        long[] shape = {n, seq};
                        try (OnnxTensor a = OnnxTensor.createTensor(env, LongBuffer.wrap(in), shape); OnnxTensor m = OnnxTensor.createTensor(env, LongBuffer.wrap(mask), shape);
                                OnnxTensor t = OnnxTensor.createTensor(env, LongBuffer.wrap(types), shape);
                                OrtSession.Result r = session.run(Map.of("input_ids", a, "attention_mask", m, "token_type_ids", t))) {
                            float[][][] hidden = (float[][][]) r.get(0).getValue(); // last_hidden_state [n, seq, d]
                            for (int b = 0; b < n; b++) {
                                int d = hidden[b][0].length;
                                double[] sum = new double[d];
                                for (int s = 0; s < ids[b].length; s++) for (int j = 0; j < d; j++) sum[j] += hidden[b][s][j];
                                double norm = 0;
                                for (int j = 0; j < d; j++) norm += (sum[j] / ids[b].length) * (sum[j] / ids[b].length);
                                float[] v = new float[d];
                                for (int j = 0; j < d; j++) v[j] = (float) (sum[j] / ids[b].length / Math.sqrt(norm));
                                out.add(v);
                            }
                        } catch (OrtException e) {
                            throw new IllegalStateException(e);
                        }
                    }
                    return out.toArray(new float[0][]);
                }

                @Override
                public void close() {
                    try {
                        session.close();
                    } catch (OrtException e) {
                        throw new IllegalStateException(e);
                    }
                }
            };
        }
    }
}
