package org.tune4j.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * A ViT checkpoint is loaded only when its metadata, its tensors and the architecture agree: each file here
 * is the shipped model with one thing changed, and each is refused by name before anything large is allocated.
 */
class ModelFileConsistencyTest {
    /** The shipped checkpoint with {@code change} applied to a copy of its tensors and metadata, written to dir/name. */
    private static Path variant(Path dir, String name, BiConsumer<Map<String, Tensor>, Map<String, String>> change) throws IOException {
        Path out = dir.resolve(name + ".safetensors");
        try (Arena arena = Arena.ofConfined(); Safetensors.File f = Safetensors.read(ModelFile.shippedCheckpoint())) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            f.tensors().forEach((k, t) -> tensors.put(k, t.copy(arena)));
            Map<String, String> meta = new LinkedHashMap<>(f.metadata());
            change.accept(tensors, meta);
            Safetensors.write(out, tensors, meta);
        }
        return out;
    }

    private static void assertRefused(Path file, String mustMention) {
        try (Arena arena = Arena.ofConfined()) {
            IOException e = assertThrows(IOException.class, () -> ModelFile.load(arena, file));
            assertTrue(e.getMessage().contains(mustMention), "'" + e.getMessage() + "' should mention " + mustMention);
        }
    }

    @Test
    void savingTheShippedModelWritesTheShippedFile(@TempDir Path dir) throws IOException {
        Path again = dir.resolve("again.safetensors");
        try (Arena arena = Arena.ofConfined(); Safetensors.File shipped = Safetensors.read(ModelFile.shippedCheckpoint())) {
            VisionTransformer vit = ModelFile.load(arena, null);
            Map<String, String> extra = new LinkedHashMap<>(shipped.metadata()); // what pretraining added to the shape
            ModelFile.configMetadata(vit.config()).keySet().forEach(extra::remove);
            ModelFile.save(again, vit, extra);
        }
        assertArrayEquals(Files.readAllBytes(ModelFile.shippedCheckpoint()), Files.readAllBytes(again), "byte for byte");
    }

    @Test
    void theShippedModelLoadsAndRoundTrips(@TempDir Path dir) throws IOException {
        Path same = variant(dir, "same", (t, m) -> {});
        try (Arena arena = Arena.ofConfined()) {
            VisionTransformer vit = ModelFile.load(arena, same);
            assertEquals(ModelFile.load(arena, null).config(), vit.config());
        }
    }

    @Test
    void metadataIsCheckedAgainstTheTensors(@TempDir Path dir) throws IOException {
        assertRefused(variant(dir, "deep", (t, m) -> m.put("depth", "3000")), "blocks.2999.");
        assertRefused(variant(dir, "shallow", (t, m) -> m.put("depth", "1")), "depth 1");
        assertRefused(variant(dir, "classes", (t, m) -> m.put("classes", "12")), "head.weight");
        assertRefused(variant(dir, "wide", (t, m) -> m.put("dim", "1000000")), "outside [1, 65536]");
        assertRefused(variant(dir, "word", (t, m) -> m.put("heads", "four")), "not an integer");
        assertRefused(variant(dir, "zero", (t, m) -> m.put("patch", "0")), "'patch' is 0");
        assertRefused(variant(dir, "nometa", (t, m) -> m.clear()), "not a tune4j ViT checkpoint");
    }

    @Test
    void everyTensorMustBeUsedAndPresent(@TempDir Path dir) throws IOException {
        assertRefused(variant(dir, "extra", (t, m) -> t.put("stray.weight", t.get("head.bias"))), "stray.weight");
        assertRefused(variant(dir, "missing", (t, m) -> t.remove("blocks.0.norm1.bias")), "blocks.0.norm1.bias");
        try (Arena arena = Arena.ofConfined()) { // a 12-row head for the 10 classes the metadata declares
            assertRefused(variant(dir, "head12", (t, m) -> t.put("head.weight", Tensor.zeros(arena, DType.F32, 12, t.get("head.weight").dim(1)))),
                    "head.weight");
        }
    }

    @Test
    void nonFiniteWeightsAreRefusedNamingTheTensor(@TempDir Path dir) throws IOException {
        assertRefused(variant(dir, "nan", (t, m) -> t.get("blocks.1.mlp.fc2.bias").setFloat(3, Float.NaN)), "blocks.1.mlp.fc2.bias");
        assertRefused(variant(dir, "inf", (t, m) -> t.get("pos_embed").setFloat(0, Float.POSITIVE_INFINITY)), "pos_embed");
        Path nan = dir.resolve("nan.safetensors");
        try (Safetensors.File f = Safetensors.read(nan, new Safetensors.Options(false, true))) {
            assertTrue(Float.isNaN(f.get("blocks.1.mlp.fc2.bias").getFloat(3)), "allowNonFinite loads it, for debugging");
        }
    }

    @Test
    void compressedLayersMustFitTheModelAndTheirFormat(@TempDir Path dir) throws IOException {
        // dense weights labelled 2:4 would be pruned on load: a different model than the one saved
        assertRefused(variant(dir, "fake24", (t, m) -> m.put(CompressedCheckpoint.METADATA_KEY, "{\"blocks.0.mlp.fc1\": {\"format\": \"2:4\"}}")),
                "labelled 2:4");
        assertRefused(variant(dir, "nofmt", (t, m) -> m.put(CompressedCheckpoint.METADATA_KEY, "{\"blocks.0.mlp.fc1\": 7}")), "format");
        assertRefused(variant(dir, "nolayer", (t, m) -> m.put(CompressedCheckpoint.METADATA_KEY, "{\"blocks.0.mlp\": {\"format\": \"int8\"}}")),
                "not a linear layer");
    }
}
