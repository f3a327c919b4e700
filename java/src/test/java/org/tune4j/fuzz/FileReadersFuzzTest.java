package org.tune4j.fuzz;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
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
import java.util.zip.GZIPOutputStream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import org.tune4j.data.FashionMnist;
import org.tune4j.data.IdxFile;
import org.tune4j.data.ImageDataset;
import org.tune4j.io.ModelFile;
import org.tune4j.io.PeftAdapter;
import org.tune4j.io.Safetensors;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * Property tests of every file reader (safetensors, IDX raw and gzip, PEFT adapter folders, ViT
 * checkpoints): from a valid file, jqwik draws byte flips, truncations and headers rewritten with hostile
 * values (shapes that overflow, offsets past the end, wrong types, metadata that lies); every reader must
 * return a consistent result or throw IOException / IllegalArgumentException naming the problem, never
 * anything else, and never allocate more than the file can hold. jqwik shrinks a failure to its smallest
 * input. Budget: {@code jqwik.tries.default} in junit-platform.properties (200 in CI).
 */
class FileReadersFuzzTest {
    private static final Path DIR;
    private static final byte[] SAFETENSORS;
    private static final byte[] IDX;

    static {
        try {
            DIR = Files.createTempDirectory("tune4j-fuzz");
            Path st = DIR.resolve("valid.safetensors");
            try (Arena arena = Arena.ofConfined()) {
                Map<String, Tensor> t = new LinkedHashMap<>();
                t.put("a", Tensor.of(arena, new float[] {1, 2, 3, 4, 5, 6}, 2, 3));
                t.put("b", Tensor.zeros(arena, DType.I8, 5));
                t.put("c", Tensor.zeros(arena, DType.I32, 1, 2));
                Safetensors.write(st, t, Map.of("depth", "2", "note", "x"));
            }
            SAFETENSORS = Files.readAllBytes(st);
            ByteBuffer idx = ByteBuffer.allocate(16 + 2 * 3 * 3);
            idx.put(new byte[] {0, 0, 8, 3}).putInt(2).putInt(3).putInt(3);
            IDX = idx.array();
        } catch (IOException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @AfterContainer
    static void cleanUp() throws IOException {
        org.tune4j.io.Folders.deleteTree(DIR);
    }

    /** A valid file's bytes with 1 to 4 bytes changed, or cut short, or with bytes appended. */
    private static Arbitrary<byte[]> mutated(byte[] valid) {
        Arbitrary<byte[]> flips = Arbitraries.integers().between(0, valid.length - 1).list().ofMinSize(1).ofMaxSize(4)
                .flatMap(positions -> Arbitraries.bytes().list().ofSize(positions.size()).map(values -> {
                    byte[] b = valid.clone();
                    for (int i = 0; i < positions.size(); i++) b[positions.get(i)] = values.get(i);
                    return b;
                }));
        Arbitrary<byte[]> cut = Arbitraries.integers().between(0, valid.length - 1).map(n -> java.util.Arrays.copyOf(valid, n));
        Arbitrary<byte[]> longer = Arbitraries.bytes().array(byte[].class).ofMinSize(1).ofMaxSize(64).map(extra -> {
            byte[] b = java.util.Arrays.copyOf(valid, valid.length + extra.length);
            System.arraycopy(extra, 0, b, valid.length, extra.length);
            return b;
        });
        return Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(6, flips), net.jqwik.api.Tuple.of(2, cut), net.jqwik.api.Tuple.of(1, longer));
    }

    private static final List<String> HOSTILE_NUMBERS = List.of("0", "1", "2", "3", "6", "24", "-1", "1.5", "\"2\"", "null", "2147483648",
            "4294967296", "4611686018427387904", "9223372036854775807", "1e30", "[]", "{}");

    /** A safetensors header rebuilt with hostile dtypes, shapes and offsets over 24 data bytes. */
    @Provide
    Arbitrary<byte[]> hostileHeaders() {
        Arbitrary<String> number = Arbitraries.of(HOSTILE_NUMBERS);
        Arbitrary<String> dtype = Arbitraries.of("\"F32\"", "\"I8\"", "\"I32\"", "\"BF16\"", "\"\"", "7", "null");
        Arbitrary<String> tensor = Combinators.combine(dtype, number.list().ofMaxSize(3), number, number)
                .as((d, shape, begin, end) -> "{\"dtype\":" + d + ",\"shape\":" + shape + ",\"data_offsets\":[" + begin + "," + end + "]}");
        Arbitrary<String> meta = Arbitraries.of("", "\"__metadata__\":{\"k\":\"v\"},", "\"__metadata__\":{\"k\":1},", "\"__metadata__\":[],");
        return Combinators.combine(meta, tensor, tensor).as((m, a, b) -> {
            byte[] h = ("{" + m + "\"a\":" + a + ",\"b\":" + b + "}").getBytes(StandardCharsets.UTF_8);
            return ByteBuffer.allocate(8 + h.length + 24).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).put(h).array();
        });
    }

    @Provide
    Arbitrary<byte[]> mutatedSafetensors() {
        return mutated(SAFETENSORS);
    }

    @Property
    void safetensorsReadsConsistentlyOrRefuses(@ForAll("mutatedSafetensors") byte[] bytes) throws IOException {
        checkSafetensors(bytes);
    }

    @Property
    void safetensorsRefusesHostileHeaders(@ForAll("hostileHeaders") byte[] bytes) throws IOException {
        checkSafetensors(bytes);
    }

    private static void checkSafetensors(byte[] bytes) throws IOException {
        Path f = Files.write(DIR.resolve("case.safetensors"), bytes);
        try (Safetensors.File file = Safetensors.read(f)) {
            long total = 0;
            for (Tensor t : file.tensors().values()) {
                total += t.dtype().bytes(t.numel());
                for (long i = 0; i < t.numel(); i++) { // every element is readable
                    if (t.dtype() == DType.F32) assertTrue(Float.isFinite(t.getFloat(i)));
                    else if (t.dtype() == DType.I32) t.getInt(i);
                    else t.getByte(i);
                }
            }
            assertTrue(total <= bytes.length, "tensors hold more bytes than the file");
        } catch (IOException refused) {
            assertTrue(refused.getMessage() != null && refused.getMessage().contains(f.toString()), "the message names the file: " + refused.getMessage());
        }
    }

    @Provide
    Arbitrary<byte[]> mutatedIdx() {
        Arbitrary<byte[]> dims = Arbitraries.integers().between(-2, 70000).list().ofMinSize(0).ofMaxSize(4).map(d -> {
            ByteBuffer b = ByteBuffer.allocate(4 + 4 * d.size() + 18);
            b.put(new byte[] {0, 0, 8, (byte) d.size()});
            d.forEach(b::putInt);
            return b.array();
        });
        return Arbitraries.oneOf(mutated(IDX), dims);
    }

    @Property
    void idxReadsConsistentlyOrRefuses(@ForAll("mutatedIdx") byte[] bytes, @ForAll boolean gzip) throws IOException {
        byte[] content = bytes;
        if (gzip) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            try (GZIPOutputStream z = new GZIPOutputStream(out)) {
                z.write(bytes);
            }
            content = out.toByteArray();
        }
        Path f = Files.write(DIR.resolve("case-idx3-ubyte"), content);
        IdxFile.Contents c;
        try {
            c = IdxFile.read(f);
        } catch (IOException refused) {
            assertTrue(refused.getMessage().contains(f.toString()), refused.getMessage());
            return;
        }
        long count = 1;
        for (int d : c.dims()) count *= d;
        assertTrue(count == c.values().length && count <= bytes.length, "dims and values agree, within the file");
        try {
            ImageDataset.unlabelled(c, FashionMnist.CLASSES, f.toString());
        } catch (IllegalArgumentException refused) {
            assertTrue(refused.getMessage().contains(f.toString()), refused.getMessage());
        }
    }

    /** An adapter_config.json whose fields take hostile values. */
    @Provide
    Arbitrary<String> hostileConfigs() {
        Arbitrary<String> value = Arbitraries.of("2", "0", "-1", "1.5", "\"2\"", "null", "\"NaN\"", "1e40", "[]", "{}", "true", "[\"qkv\"]", "\"qkv\"",
                "\"blocks[\"", "\"blocks\\\\.0\\\\.attn\\\\.qkv\"", "[1]");
        return Combinators.combine(value, value, value, value, Arbitraries.of("\"LORA\"", "\"IA3\"", "null"))
                .as((r, alpha, dropout, targets, type) -> "{\"peft_type\":" + type + ",\"r\":" + r + ",\"lora_alpha\":" + alpha + ",\"lora_dropout\":" + dropout
                        + ",\"target_modules\":" + targets + ",\"use_dora\":false}");
    }

    @Property
    void peftAdaptersLoadOrRefuse(@ForAll("hostileConfigs") String config, @ForAll("mutatedSafetensors") byte[] weights) throws IOException {
        Path dir = Files.createDirectories(DIR.resolve("adapter"));
        Files.writeString(dir.resolve(PeftAdapter.CONFIG_FILE), config);
        Files.write(dir.resolve(PeftAdapter.WEIGHTS_FILE), weights);
        try (PeftAdapter.Loaded a = PeftAdapter.load(dir)) {
            assertTrue(a.config().r() >= 1 && !a.modules().isEmpty());
        } catch (IOException refused) {
            assertTrue(refused.getMessage() != null && !refused.getMessage().isBlank());
        }
    }

    /** The shipped ViT's metadata with one entry set to a hostile value. */
    @Provide
    Arbitrary<Map.Entry<String, String>> hostileMetadata() {
        return Combinators.combine(Arbitraries.of("image", "patch", "dim", "depth", "heads", "mlp_hidden", "classes", "tune4j.compressed"),
                Arbitraries.of("0", "-1", "3", "5", "7", "28", "64", "3000", "2147483647", "99999999999", "x", "", " 4", "{}",
                        "{\"blocks.0.mlp.fc1\":{\"format\":\"int8\"}}", "{\"head\":{\"format\":\"2:4\"}}", "{\"nope\":{\"format\":\"int8\"}}"))
                .as(Map::entry);
    }

    @Property
    void vitCheckpointsLoadOnlyWhenConsistent(@ForAll("hostileMetadata") Map.Entry<String, String> change) throws IOException {
        Path f = DIR.resolve("vit.safetensors");
        try (Arena arena = Arena.ofConfined(); Safetensors.File shipped = Safetensors.read(ModelFile.shippedCheckpoint())) {
            Map<String, String> meta = new LinkedHashMap<>(shipped.metadata());
            meta.put(change.getKey(), change.getValue());
            Safetensors.write(f, shipped.tensors(), meta);
        }
        try (Arena arena = Arena.ofConfined()) {
            var vit = ModelFile.load(arena, f);
            assertTrue(vit.config().depth() == 4 && vit.config().dim() == 128, "only the true shape loads: " + vit.config());
        } catch (IOException refused) {
            assertTrue(refused.getMessage().contains(f.toString()), refused.getMessage());
        }
    }
}
