package org.tune4j.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/** safetensors in the exact Hugging Face layout, corrupt files refused, and PEFT adapter directories. */
class SafetensorsTest {
    @Test
    void roundTripsTensorsAndMetadata(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("m.safetensors");
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            tensors.put("w", Tensor.of(arena, new float[] {1, 2, 3, 4, 5, 6}, 2, 3));
            Tensor ids = Tensor.zeros(arena, DType.I32, 3);
            ids.setInt(2, 7);
            tensors.put("ids", ids);
            Tensor q = Tensor.zeros(arena, DType.I8, 1, 2);
            q.setByte(1, (byte) -5);
            tensors.put("q", q);
            Safetensors.write(file, tensors, Map.of("format", "pt"));
        }
        // the header as Hugging Face defines it: 8-byte little-endian length, JSON padded to 8, offsets back to back
        byte[] bytes = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, n % 8);
        String header = new String(bytes, 8, (int) n, StandardCharsets.UTF_8);
        assertTrue(header.contains("\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}"), header);
        assertTrue(header.contains("\"ids\":{\"dtype\":\"I32\",\"shape\":[3],\"data_offsets\":[24,36]}"), header);
        assertTrue(header.contains("\"__metadata__\":{\"format\":\"pt\"}"), header);
        assertEquals(8 + n + 24 + 12 + 2, bytes.length);
        try (Safetensors.File f = Safetensors.read(file)) {
            assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, f.get("w").toFloatArray());
            assertArrayEquals(new long[] {2, 3}, f.get("w").shape());
            assertEquals(7, f.get("ids").getInt(2));
            assertEquals(-5, f.get("q").getByte(1));
            assertEquals("pt", f.metadata().get("format"));
            assertEquals(List.of("w", "ids", "q"), List.copyOf(f.tensors().keySet()));
            assertThrows(IllegalArgumentException.class, () -> f.get("nope"));
        }
    }

    /**
     * Writers of one file at once (two commands importing a model on first use) each write a partial copy of their own
     * and move it over the file: it always reads as one writer's whole file. With one partial name for every writer they
     * wrote into one file, and one moved it while another still wrote.
     */
    @Test
    void writersOfOneFileAtOnceLeaveOneWholeFile(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("m.safetensors");
        int writers = 4, rounds = 25, n = 1 << 16;
        try (var pool = java.util.concurrent.Executors.newFixedThreadPool(writers)) {
            List<java.util.concurrent.Future<?>> done = new java.util.ArrayList<>();
            for (int w = 0; w < writers; w++) {
                float value = w + 1;
                done.add(pool.submit(() -> {
                    try (Arena arena = Arena.ofConfined()) {
                        Tensor t = Tensor.zeros(arena, DType.F32, n);
                        for (int i = 0; i < n; i++) t.setFloat(i, value);
                        for (int r = 0; r < rounds; r++) Safetensors.write(file, Map.of("w", t), Map.of("writer", Float.toString(value)));
                    }
                    return null;
                }));
            }
            for (var f : done) f.get();
        }
        try (Safetensors.File f = Safetensors.read(file)) {
            float[] w = f.tensors().get("w").toFloatArray();
            float writer = Float.parseFloat(f.metadata().get("writer"));
            for (float v : w) assertEquals(writer, v, "one writer's whole file");
        }
        try (var left = Files.list(dir)) {
            assertEquals(List.of(file), left.toList(), "no partial copy left behind");
        }
    }

    private static Path withHeader(Path dir, String name, String json, int dataBytes) throws IOException {
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Path f = dir.resolve(name);
        Files.write(f, b.array());
        return f;
    }

    @Test
    void halfPrecisionTensorsAreWidenedToF32Exactly(@TempDir Path dir) throws IOException {
        // F16 1.5 (0x3E00), -2 (0xC000), 65504 (0x7BFF, the largest), 2^-24 (0x0001, the smallest subnormal); BF16 3.140625 (0x4049), -0.0 (0x8000)
        String json = "{\"h\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[8,12]}}";
        Path f = withHeader(dir, "half", json, 12);
        byte[] bytes = Files.readAllBytes(f);
        ByteBuffer data = ByteBuffer.wrap(bytes, bytes.length - 12, 12).order(ByteOrder.LITTLE_ENDIAN);
        for (int v : new int[] {0x3E00, 0xC000, 0x7BFF, 0x0001, 0x4049, 0x8000}) data.putShort((short) v);
        Files.write(f, bytes);
        try (Safetensors.File r = Safetensors.read(f)) {
            Tensor h = r.get("h"), b = r.get("b");
            assertEquals(DType.F32, h.dtype());
            assertArrayEquals(new long[] {2, 2}, h.shape());
            assertEquals(1.5f, h.getFloat(0));
            assertEquals(-2f, h.getFloat(1));
            assertEquals(65504f, h.getFloat(2));
            assertEquals((float) Math.pow(2, -24), h.getFloat(3));
            assertEquals(3.140625f, b.getFloat(0));
            assertEquals(Float.floatToIntBits(-0f), Float.floatToIntBits(b.getFloat(1)));
        }
    }

    @Test
    void corruptFilesAreRefusedWithAReason(@TempDir Path dir) throws IOException {
        Files.write(dir.resolve("short"), new byte[] {1, 2});
        assertRefused(dir.resolve("short"), "too short");
        Files.write(dir.resolve("huge"), new byte[] {(byte) 0xff, 0, 0, 0, 0, 0, 0, 0, '{', '}'});
        assertRefused(dir.resolve("huge"), "header length");
        assertRefused(withHeader(dir, "notjson", "{\"w\": [", 0), "not JSON");
        assertRefused(withHeader(dir, "dtype", "{\"w\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8), "F64");
        assertRefused(withHeader(dir, "half", "{\"w\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2), "bytes for shape");
        assertRefused(withHeader(dir, "size", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4), "bytes for shape");
        assertRefused(withHeader(dir, "past", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4), "outside the data");
        assertRefused(withHeader(dir, "gap", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8), "gap");
        assertRefused(withHeader(dir, "tail", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8), "after the last");
        assertRefused(dir.resolve("absent"), "not found");
    }

    private static void assertRefused(Path file, String mustMention) {
        IOException e = assertThrows(IOException.class, () -> Safetensors.read(file).close());
        assertTrue(e.getMessage().contains(mustMention), "'" + e.getMessage() + "' should say " + mustMention);
    }

    @Test
    void peftAdapterRoundTripsInPeftNames(@TempDir Path dir) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Tensor a = Tensor.of(arena, new float[] {1, 2, 3, 4, 5, 6}, 2, 3), b = Tensor.of(arena, new float[] {7, 8, 9, 10}, 2, 2);
            PeftAdapter.Config config = new PeftAdapter.Config(2, 4f, 0.05f, List.of("qkv", "fc1"), false, "tune4j-vit");
            PeftAdapter.save(dir, config, Map.of("blocks.0.attn.qkv", new PeftAdapter.Lora(a, b)));
        }
        String json = Files.readString(dir.resolve(PeftAdapter.CONFIG_FILE));
        assertTrue(json.contains("\"peft_type\" : \"LORA\"") && json.contains("\"lora_alpha\" : 4.0"), json);
        try (Safetensors.File f = Safetensors.read(dir.resolve(PeftAdapter.WEIGHTS_FILE))) {
            assertTrue(f.tensors().containsKey("base_model.model.blocks.0.attn.qkv.lora_A.weight"));
            assertTrue(f.tensors().containsKey("base_model.model.blocks.0.attn.qkv.lora_B.weight"));
        }
        try (PeftAdapter.Loaded loaded = PeftAdapter.load(dir)) {
            assertEquals(2, loaded.config().r());
            assertEquals(List.of("qkv", "fc1"), loaded.config().targetModules());
            PeftAdapter.Lora l = loaded.modules().get("blocks.0.attn.qkv");
            assertArrayEquals(new float[] {7, 8, 9, 10}, l.b().toFloatArray());
            assertArrayEquals(new long[] {2, 3}, l.a().shape());
        }
        assertThrows(IOException.class, () -> PeftAdapter.load(dir.resolve("missing")));
        // weights of a module target_modules does not name: PEFT would leave them out, so they are refused
        Path config = dir.resolve(PeftAdapter.CONFIG_FILE);
        Files.writeString(config, json.replace("\"qkv\", \"fc1\"", "\"fc1\""));
        IOException other = assertThrows(IOException.class, () -> PeftAdapter.load(dir));
        assertTrue(other.getMessage().contains("the weights adapt 'blocks.0.attn.qkv', which target_modules [fc1] does not name"), other.getMessage());
        Files.writeString(config, json.replace("[ \"qkv\", \"fc1\" ]", "\"blocks\\\\.\\\\d+\\\\.attn\\\\.qkv\""));
        try (PeftAdapter.Loaded loaded = PeftAdapter.load(dir)) {
            assertEquals("blocks\\.\\d+\\.attn\\.qkv", loaded.config().targetPattern());
        }
        Files.writeString(config, json.replace("[ \"qkv\", \"fc1\" ]", "\"all-linear\"")); // PEFT's shorthand, unexpanded
        try (PeftAdapter.Loaded loaded = PeftAdapter.load(dir)) {
            assertTrue(loaded.modules().containsKey("blocks.0.attn.qkv"));
        }
    }

    /**
     * A target pattern that backtracks without end (a back-reference turns off the JDK's guard against it): on a BERT
     * module's path this one took 3.6 s at 36 characters and over 15 s at 39, growing twofold a character; a server
     * thread loading such an adapter would never return. It is refused by name in a moment.
     */
    @Test
    void aTargetPatternThatBacktracksWithoutEndIsRefusedByName() {
        PeftAdapter.Config c = new PeftAdapter.Config(8, 16f, 0f, List.of(), false, "minilm", false, "(?:(\\w+)\\.?)+\\1Z");
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(10),
                () -> assertThrows(IllegalArgumentException.class, () -> c.targets("encoder.layer.11.attention.output.dense")));
        assertTrue(e.getMessage().startsWith("target_modules '(?:(\\w+)\\.?)+\\1Z' takes over 1000000 steps"), e.getMessage());
        PeftAdapter.Config plain = new PeftAdapter.Config(8, 16f, 0f, List.of(), false, "minilm", false, ".*\\.attention\\.self\\.(query|value)");
        assertTrue(plain.targets("encoder.layer.11.attention.self.query") && !plain.targets("encoder.layer.11.attention.output.dense"));
    }

    @Test
    void doraMagnitudeRoundTripsAndUnconvertedPissaIsRefused(@TempDir Path dir) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Tensor a = Tensor.of(arena, new float[] {1, 2, 3}, 1, 3), b = Tensor.of(arena, new float[] {4, 5}, 2, 1), m = Tensor.of(arena, new float[] {0.5f, 2f}, 2);
            PeftAdapter.Config dora = new PeftAdapter.Config(1, 2f, 0f, List.of("qkv"), false, "tune4j-vit", true);
            assertThrows(IllegalArgumentException.class, () -> PeftAdapter.save(dir, dora, Map.of("blocks.0.attn.qkv", new PeftAdapter.Lora(a, b))));
            PeftAdapter.save(dir, dora, Map.of("blocks.0.attn.qkv", new PeftAdapter.Lora(a, b, m)));
        }
        assertTrue(Files.readString(dir.resolve(PeftAdapter.CONFIG_FILE)).contains("\"use_dora\" : true"));
        try (PeftAdapter.Loaded loaded = PeftAdapter.load(dir)) {
            assertTrue(loaded.config().useDora());
            assertArrayEquals(new float[] {0.5f, 2f}, loaded.modules().get("blocks.0.attn.qkv").magnitude().toFloatArray());
        }
        Path config = dir.resolve(PeftAdapter.CONFIG_FILE);
        Files.writeString(config, Files.readString(config).replace("\"init_lora_weights\" : true", "\"init_lora_weights\" : \"pissa\""));
        IOException pissa = assertThrows(IOException.class, () -> PeftAdapter.load(dir));
        assertTrue(pissa.getMessage().contains("residual base"), pissa.getMessage());
    }
}
