package org.tune4j.bench.peers;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.OrtSession.SessionOptions;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.Map;

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
}
