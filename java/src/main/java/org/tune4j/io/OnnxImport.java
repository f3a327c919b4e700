package org.tune4j.io;

import com.google.protobuf.CodedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.tune4j.io.onnx.OnnxGraph.GraphProto;
import org.tune4j.io.onnx.OnnxGraph.ModelProto;
import org.tune4j.io.onnx.OnnxGraph.NodeProto;
import org.tune4j.io.onnx.OnnxGraph.TensorProto;
import org.tune4j.nn.BertConfig;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * Turns a BERT exported to ONNX by Hugging Face's exporter (the graphs in langchain4j's embedding jars) into a
 * Hugging Face checkpoint folder. The exporter keeps the biases, embeddings and LayerNorms under their
 * module names but stores each linear layer's weight as an anonymous {@code onnx::MatMul_NNN} initializer
 * laid out [in, out]: it is named here by the MatMul node that consumes it
 * ({@code /encoder/layer.0/attention/self/query/MatMul} → {@code encoder.layer.0.attention.self.query.weight})
 * and transposed to PyTorch's [out, in]. The graph does not record the number of heads, the LayerNorm eps
 * or the activation: the caller gives them ({@link BertConfig}), and the shapes must agree with it.
 */
public final class OnnxImport {
    private OnnxImport() {}

    /** The float initializers of {@code onnx} under Hugging Face names, in {@code arena}. */
    public static Map<String, Tensor> bertTensors(Arena arena, Path onnx) throws IOException {
        GraphProto graph = read(onnx).getGraph();
        Map<String, TensorProto> inits = new LinkedHashMap<>();
        for (TensorProto t : graph.getInitializerList()) inits.put(t.getName(), t);
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (NodeProto node : graph.getNodeList()) {
            if (!node.getOpType().equals("MatMul") || node.getInputCount() != 2 || !inits.containsKey(node.getInput(1))) continue;
            String module = node.getName().replaceFirst("^/", "").replaceFirst("/MatMul$", "").replace('/', '.');
            TensorProto w = inits.remove(node.getInput(1));
            out.put(module + ".weight", transpose(arena, floats(arena, onnx, w), onnx, node.getName()));
        }
        for (TensorProto t : inits.values()) {
            if (t.getName().startsWith("onnx::") || t.getDataType() != TensorProto.DataType.FLOAT_VALUE) continue; // constants of the graph's arithmetic
            out.put(t.getName(), floats(arena, onnx, t));
        }
        if (out.isEmpty()) throw new IOException(onnx + ": no float weights in the graph");
        return out;
    }

    /**
     * The shape of the BERT whose tensors are {@code t}, read off them (vocabulary, width, positions, token
     * types, layers, FFN width); what the weights do not say is given: heads, the LayerNorm eps, the activation.
     */
    public static BertConfig inferConfig(Path onnx, Map<String, Tensor> t, int heads, float layerNormEps, String hiddenAct) throws IOException {
        Tensor word = t.get("embeddings.word_embeddings.weight"), pos = t.get("embeddings.position_embeddings.weight");
        Tensor types = t.get("embeddings.token_type_embeddings.weight"), ffn = t.get("encoder.layer.0.intermediate.dense.weight");
        if (word == null || pos == null || types == null || ffn == null) {
            throw new IOException(onnx + ": not a BERT exported by Hugging Face's exporter (no embeddings or no encoder.layer.0)");
        }
        int layers = 0;
        while (t.containsKey("encoder.layer." + layers + ".attention.self.query.weight")) layers++;
        try {
            BertConfig c = new BertConfig((int) word.dim(0), (int) word.dim(1), layers, heads, (int) ffn.dim(0), (int) pos.dim(0), (int) types.dim(0), layerNormEps, hiddenAct);
            checkShapes(onnx, c, t);
            return c;
        } catch (IllegalArgumentException e) {
            throw new IOException(onnx + ": " + e.getMessage(), e);
        }
    }

    /**
     * Writes the Hugging Face folder {@code dir} for the BERT in {@code onnx}, shaped {@code config}, with
     * {@code tokenizerJson}: first loaded, so that a file that is no tokenizer, or another model's, is refused before
     * anything is written.
     */
    public static void toHuggingFace(Path onnx, BertConfig config, Path tokenizerJson, Path dir) throws IOException {
        if (tokenizerJson != null) org.tune4j.data.TextTokenizer.load(tokenizerJson, config.maxPositions(), config.vocabSize()).close(); // loads, its ids fit
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> tensors = bertTensors(arena, onnx);
            checkShapes(onnx, config, tensors);
            HfCheckpoint.write(dir, HfCheckpoint.bertConfigJson(config), tensors, null);
            if (tokenizerJson != null) Files.copy(tokenizerJson, dir.resolve(HfCheckpoint.TOKENIZER), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** The embedding and per-layer shapes the config implies, so that a wrong --heads or a different model fails here. */
    private static void checkShapes(Path onnx, BertConfig c, Map<String, Tensor> t) throws IOException {
        expect(onnx, t, "embeddings.word_embeddings.weight", c.vocabSize(), c.hidden());
        expect(onnx, t, "embeddings.position_embeddings.weight", c.maxPositions(), c.hidden());
        expect(onnx, t, "embeddings.token_type_embeddings.weight", c.typeVocabSize(), c.hidden());
        for (int i = 0; i < c.layers(); i++) {
            expect(onnx, t, "encoder.layer." + i + ".attention.self.query.weight", c.hidden(), c.hidden());
            expect(onnx, t, "encoder.layer." + i + ".intermediate.dense.weight", c.intermediate(), c.hidden());
        }
        if (t.containsKey("encoder.layer." + c.layers() + ".attention.self.query.weight")) {
            throw new IOException(onnx + ": the graph has more than the " + c.layers() + " layers the config says");
        }
    }

    private static void expect(Path onnx, Map<String, Tensor> t, String name, long rows, long cols) throws IOException {
        Tensor x = t.get(name);
        if (x == null) throw new IOException(onnx + ": no '" + name + "' in the graph (not a BERT exported by Hugging Face's exporter?)");
        if (x.rank() != 2 || x.dim(0) != rows || x.dim(1) != cols) throw new IOException(onnx + ": '" + name + "' is " + x + ", the config says " + rows + "x" + cols);
    }

    private static ModelProto read(Path onnx) throws IOException {
        if (!Files.isRegularFile(onnx)) throw new IOException(onnx + ": no such ONNX file");
        try (InputStream in = Files.newInputStream(onnx)) {
            CodedInputStream coded = CodedInputStream.newInstance(in);
            coded.setSizeLimit(Integer.MAX_VALUE); // protobuf's 64 MiB default is below a BERT's size; files over 2 GiB keep their weights outside
            ModelProto m = ModelProto.parseFrom(coded);
            if (!m.hasGraph()) throw new IOException(onnx + ": not an ONNX model (no graph)");
            return m;
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new IOException(onnx + ": not an ONNX file: " + e.getMessage(), e);
        }
    }

    /** A FLOAT initializer's values (raw little-endian bytes or float_data) as an F32 tensor. */
    private static Tensor floats(Arena arena, Path onnx, TensorProto t) throws IOException {
        String where = onnx + ": initializer '" + t.getName() + "'";
        if (t.getDataLocation() == 1) throw new IOException(where + " keeps its values in an external file, which is not read");
        if (t.getDataType() != TensorProto.DataType.FLOAT_VALUE) throw new IOException(where + " is of ONNX type " + t.getDataType() + ", not FLOAT");
        long[] shape = t.getDimsList().stream().mapToLong(Long::longValue).toArray();
        long n = 1;
        for (long d : shape) {
            if (d < 0) throw new IOException(where + " has a negative dimension " + t.getDimsList());
            n = Math.multiplyExact(n, d);
        }
        Tensor out = Tensor.zeros(arena, DType.F32, shape.length == 0 ? new long[] {1} : shape);
        if (!t.getRawData().isEmpty()) {
            if (t.getRawData().size() != n * 4) throw new IOException(where + ": " + t.getRawData().size() + " bytes for " + n + " floats");
            MemorySegment.copy(MemorySegment.ofBuffer(t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN)),
                    ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, out.segment(), ValueLayout.JAVA_FLOAT, 0, n);
        } else {
            if (t.getFloatDataCount() != n) throw new IOException(where + ": " + t.getFloatDataCount() + " values for " + n + " floats");
            for (int i = 0; i < n; i++) out.setFloat(i, t.getFloatData(i));
        }
        return out;
    }

    /** [in, out] → [out, in]. */
    private static Tensor transpose(Arena arena, Tensor w, Path onnx, String node) throws IOException {
        if (w.rank() != 2) throw new IOException(onnx + ": the weight of " + node + " is " + w + ", not a matrix");
        return w.transposed(arena);
    }
}
