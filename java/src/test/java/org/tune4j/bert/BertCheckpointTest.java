package org.tune4j.bert;

import org.tune4j.autograd.SequenceOps;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.autograd.Tape;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.TokenBatch;
import org.tune4j.io.BertCheckpoint;
import org.tune4j.io.HfCheckpoint;
import org.tune4j.io.OnnxImport;
import org.tune4j.io.Safetensors;
import org.tune4j.nn.BertConfig;
import org.tune4j.nn.BertModel;
import org.tune4j.nn.Lora;
import org.tune4j.tensor.Tensor;

/** Hugging Face checkpoint folders: written and read back, the layouts users bring, and what is refused by name. */
class BertCheckpointTest {
    private static final BertConfig SMALL = new BertConfig(11, 8, 2, 2, 12, 8, 2, 1e-12f, "gelu");

    private static void assertSameParameters(BertModel a, BertModel b) {
        Map<String, org.tune4j.autograd.Parameter> pb = b.namedParameters();
        a.namedParameters().forEach((name, p) -> assertEquals(List.of(), diff(p.value(), pb.get(name).value()), name));
    }

    private static List<Long> diff(Tensor a, Tensor b) {
        for (long i = 0; i < a.numel(); i++) if (Float.floatToIntBits(a.getFloat(i)) != Float.floatToIntBits(b.getFloat(i))) return List.of(i);
        return List.of();
    }

    @Test
    void aSavedEncoderLoadsBackBitForBit(@TempDir Path dir) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            BertModel m = new BertModel(arena, SMALL, new SplittableRandom(3));
            BertCheckpoint.save(dir.resolve("ckpt"), m, null);
            assertSameParameters(m, BertCheckpoint.load(arena, dir.resolve("ckpt")));
            try (HfCheckpoint h = HfCheckpoint.read(dir.resolve("ckpt"))) {
                assertEquals(SMALL, h.bertConfig());
            }
        }
    }

    @Test
    void anUnmergedAdapterIsNotSavedAsAModel(@TempDir Path dir) {
        try (Arena arena = Arena.ofConfined()) {
            BertModel m = new BertModel(arena, SMALL, new SplittableRandom(3));
            Lora.inject(m, arena, new Lora.Config(2, 4f, 0f, false, List.of("query"), List.of()), new SplittableRandom(1));
            assertThrows(IllegalStateException.class, () -> BertCheckpoint.save(dir, m, null));
        }
    }

    @Test
    void shardedBf16CheckpointsWithTheTaskPrefixLoad(@TempDir Path dir) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            BertModel m = new BertModel(arena, SMALL, new SplittableRandom(5));
            // round every weight to bfloat16 first, so the widened values are exactly these
            m.namedParameters().values().forEach(p -> {
                for (long i = 0; i < p.numel(); i++) p.value().setFloat(i, Float.intBitsToFloat(Float.floatToIntBits(p.value().getFloat(i)) & 0xffff0000));
            });
            Path ckpt = dir.resolve("bf16");
            Files.createDirectories(ckpt);
            HfCheckpoint.write(ckpt, HfCheckpoint.bertConfigJson(SMALL), Map.of(), null); // config.json (and an empty model.safetensors, removed)
            Files.delete(ckpt.resolve(HfCheckpoint.WEIGHTS));
            Map<String, String> weightMap = new LinkedHashMap<>();
            int shard = 0;
            for (var e : m.namedParameters().entrySet()) {
                String file = "model-0000" + (shard++ % 2 + 1) + "-of-00002.safetensors";
                weightMap.put("bert." + e.getKey(), file);
            }
            for (String file : List.of("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")) {
                writeBf16(ckpt.resolve(file), m, weightMap, file);
            }
            ObjectNode index = new com.fasterxml.jackson.databind.ObjectMapper().createObjectNode();
            weightMap.forEach((k, v) -> index.with("weight_map").put(k, v));
            Files.writeString(ckpt.resolve(HfCheckpoint.INDEX), index.toString());
            assertSameParameters(m, BertCheckpoint.load(arena, ckpt));
        }
    }

    /** A safetensors file of the tensors {@code weightMap} puts in {@code file}, as BF16 (the top halves of their F32 bits). */
    private static void writeBf16(Path path, BertModel m, Map<String, String> weightMap, String file) throws IOException {
        StringBuilder header = new StringBuilder("{");
        java.io.ByteArrayOutputStream data = new java.io.ByteArrayOutputStream();
        for (var e : m.namedParameters().entrySet()) {
            if (!weightMap.get("bert." + e.getKey()).equals(file)) continue;
            Tensor t = e.getValue().value();
            long begin = data.size();
            for (long i = 0; i < t.numel(); i++) {
                int bits = Float.floatToIntBits(t.getFloat(i)) >>> 16;
                data.write(bits & 0xff);
                data.write(bits >>> 8);
            }
            if (header.length() > 1) header.append(',');
            header.append('"').append("bert.").append(e.getKey()).append("\":{\"dtype\":\"BF16\",\"shape\":").append(java.util.Arrays.toString(t.shape()).replace(" ", ""))
                    .append(",\"data_offsets\":[").append(begin).append(',').append(data.size()).append("]}");
        }
        byte[] h = header.append('}').toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
        java.nio.ByteBuffer len = java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(h.length);
        try (var out = Files.newOutputStream(path)) {
            out.write(len.array());
            out.write(h);
            data.writeTo(out);
        }
    }

    @Test
    void badFoldersAreRefusedByName(@TempDir Path dir) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            assertMessage(() -> BertCheckpoint.load(arena, dir.resolve("absent")), "not a folder");
            BertModel m = new BertModel(arena, SMALL, new SplittableRandom(3));
            Path ok = dir.resolve("ok");
            BertCheckpoint.save(ok, m, null);
            Path noWeights = copy(ok, dir.resolve("noweights"));
            Files.delete(noWeights.resolve(HfCheckpoint.WEIGHTS));
            assertMessage(() -> BertCheckpoint.load(arena, noWeights), "neither model.safetensors");
            assertConfigRefused(arena, ok, "llama", "\"bert\"", "\"llama\"", "model_type 'llama' is not supported");
            assertConfigRefused(arena, ok, "heads", "\"num_attention_heads\" : 2", "\"num_attention_heads\" : 3", "not a multiple of num_attention_heads 3");
            assertConfigRefused(arena, ok, "act", "\"gelu\"", "\"swish\"", "hidden_act 'swish'");
            // one layer fewer in the config than in the weights: the extra tensors are named
            assertConfigRefused(arena, ok, "layers", "\"num_hidden_layers\" : 2", "\"num_hidden_layers\" : 1", "does not have: encoder.layer.1");
            // a wider FFN in the config than in the weights: the shape is named
            assertConfigRefused(arena, ok, "ffn", "\"intermediate_size\" : 12", "\"intermediate_size\" : 16", "intermediate.dense");
            // a config far larger than the weights is refused before its parameters are allocated
            assertConfigRefused(arena, ok, "many", "\"num_hidden_layers\" : 2", "\"num_hidden_layers\" : 100000", "num_hidden_layers is 100000, the weights hold 2 layers");
            assertConfigRefused(arena, ok, "wide", "\"hidden_size\" : 8", "\"hidden_size\" : 1000000", "(their word embeddings Tensor[11, 8] F32): they are not the same model");
            Path notOnnx = dir.resolve("x.onnx");
            Files.writeString(notOnnx, "this is not protobuf at all, \u0000\u0001\u0002");
            assertMessage(() -> OnnxImport.bertTensors(arena, notOnnx), "x.onnx");
        }
    }

    @Test
    void aConfigCountsTheParametersItsEncoderHas() {
        try (Arena arena = Arena.ofConfined()) {
            for (BertConfig c : new BertConfig[] {SMALL, new BertConfig(7, 6, 3, 3, 5, 4, 1, 1e-12f, "gelu_new")}) {
                long held = 0;
                for (var p : new BertModel(arena, c, new SplittableRandom(1)).namedParameters().values()) held += p.value().numel();
                assertEquals(held, c.parameterCount(), c.toString());
            }
        }
        assertEquals(22_565_376L, BertConfig.miniLmL6().parameterCount()); // all-MiniLM-L6-v2's 22,713,216 less its pooler's 147,840
    }

    @Test
    void idsOutsideTheVocabularyAndTooLongSequencesAreRefusedByName() {
        try (Arena arena = Arena.ofConfined(); Tape t = new Tape(CpuBackend.get(), false)) {
            BertModel m = new BertModel(arena, SMALL, new SplittableRandom(3));
            var bad = assertThrows(IllegalArgumentException.class, () -> m.forward(t, TokenBatch.of(arena, new int[][] {{1, 11}}, null)));
            assertTrue(bad.getMessage().contains("ids[1] = 11 is outside [0, 11)"), bad.getMessage());
            var longSeq = assertThrows(IllegalArgumentException.class, () -> m.forward(t, TokenBatch.of(arena, new int[][] {new int[9]}, null)));
            assertTrue(longSeq.getMessage().contains("max_position_embeddings 8"), longSeq.getMessage());
            assertThrows(IllegalArgumentException.class, () -> TokenBatch.of(arena, new int[][] {{}}, null));
            assertThrows(IllegalArgumentException.class, () -> TokenBatch.of(arena, new int[][] {{1, 2}}, new int[][] {{0}}));
            var x = t.input(org.tune4j.tensor.Tensor.zeros(arena, org.tune4j.tensor.DType.F32, 6, 4), false);
            var f32Lengths = org.tune4j.tensor.Tensor.zeros(arena, org.tune4j.tensor.DType.F32, 2);
            assertTrue(assertThrows(IllegalArgumentException.class, () -> SequenceOps.meanPool(t, x, f32Lengths, 2)).getMessage().contains("I32"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> SequenceOps.meanPool(t, x, TokenBatch.of(arena, new int[][] {{1}}, null).lengths(), 4))
                    .getMessage().contains("not 4 sequences"));
        }
    }

    private static Path copy(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (var files = Files.list(from)) {
            for (Path p : files.toList()) Files.copy(p, to.resolve(p.getFileName()));
        }
        return to;
    }

    /** A copy of the folder {@code ok} named {@code name} whose config.json has {@code from} replaced by {@code to}: loading it fails saying {@code part}. */
    private static void assertConfigRefused(Arena arena, Path ok, String name, String from, String to, String part) throws IOException {
        Path bad = copy(ok, ok.resolveSibling(name));
        String config = Files.readString(ok.resolve(HfCheckpoint.CONFIG));
        assertTrue(config.contains(from), "config.json holds " + from);
        Files.writeString(bad.resolve(HfCheckpoint.CONFIG), config.replace(from, to));
        assertMessage(() -> BertCheckpoint.load(arena, bad), part);
    }

    interface Io {
        void run() throws Exception;
    }

    private static void assertMessage(Io io, String part) {
        Exception e = assertThrows(Exception.class, io::run);
        assertTrue(e instanceof IOException || e instanceof IllegalArgumentException, e.toString());
        assertTrue(e.getMessage().contains(part), "'" + e.getMessage() + "' should say '" + part + "'");
    }
}
