package org.tune4j.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.backend.CpuBackend;
import org.tune4j.io.ModelFile;
import org.tune4j.io.PeftAdapter;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * PEFT adapters as PEFT reads them: {@code target_modules} as a list of names or as one regular expression
 * over the whole module path; an adapter whose targets and weights disagree is refused, naming the layers.
 */
class AdapterMatchingTest {
    private static final int DIM = 128, DEPTH = 4;

    /** An adapter for the qkv layers of the given blocks of the shipped ViT, with {@code targets} (a list or a String pattern) in its config. */
    private static Path adapter(Path dir, String name, Object targets, int... blocks) throws IOException {
        Path out = dir.resolve(name);
        try (Arena arena = Arena.ofConfined()) {
            Map<String, PeftAdapter.Lora> modules = new LinkedHashMap<>();
            for (int b : blocks) {
                modules.put("blocks." + b + ".attn.qkv", new PeftAdapter.Lora(Tensor.zeros(arena, DType.F32, 2, DIM), Tensor.zeros(arena, DType.F32, 3 * DIM, 2)));
            }
            PeftAdapter.Config c = targets instanceof String pattern ? new PeftAdapter.Config(2, 4f, 0f, List.of(), false, "test", false, pattern)
                    : new PeftAdapter.Config(2, 4f, 0f, castList(targets), false, "test");
            PeftAdapter.save(out, c, modules);
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    private static List<String> castList(Object o) {
        return (List<String>) o;
    }

    private static Predictor load(Path adapter) throws IOException {
        return Predictor.load(CpuBackend.get(), ModelFile.shippedCheckpoint(), adapter, new Predictor.Options(1, 1));
    }

    @Test
    void aListAndARegularExpressionPickTheSameLayers(@TempDir Path dir) throws IOException {
        List<String> all = List.of("blocks.0.attn.qkv", "blocks.1.attn.qkv", "blocks.2.attn.qkv", "blocks.3.attn.qkv");
        try (Predictor p = load(adapter(dir, "list", List.of("qkv"), 0, 1, 2, 3))) {
            assertEquals(all, p.adaptedLayers());
        }
        try (Predictor p = load(adapter(dir, "regex", "blocks\\.[0-3]\\.attn\\.qkv", 0, 1, 2, 3))) {
            assertEquals(all, p.adaptedLayers());
        }
        try (Predictor p = load(adapter(dir, "some", "blocks\\.[12]\\.attn\\.qkv", 1, 2))) {
            assertEquals(List.of("blocks.1.attn.qkv", "blocks.2.attn.qkv"), p.adaptedLayers());
        }
        assertEquals(DEPTH, all.size());
    }

    @Test
    void targetsAndWeightsMustAgree(@TempDir Path dir) throws IOException {
        // the targets match four layers, the file holds weights for two: PEFT would fail to load it too
        IOException fewer = assertThrows(IOException.class, () -> load(adapter(dir, "fewer", List.of("qkv"), 0, 1)));
        assertTrue(fewer.getMessage().contains("[blocks.2.attn.qkv, blocks.3.attn.qkv]"), fewer.getMessage());
        IOException other = assertThrows(IOException.class, () -> load(adapter(dir, "other", "blocks\\.0\\.attn\\.qkv", 0, 3)));
        assertTrue(other.getMessage().contains("blocks.3.attn.qkv"), other.getMessage());
    }

    @Test
    void aBadConfigIsRefusedByField(@TempDir Path dir) throws IOException {
        Path good = adapter(dir, "good", List.of("qkv"), 0, 1, 2, 3);
        ObjectMapper json = new ObjectMapper();
        Object[][] cases = {{"r", 0, "r must be >= 1"}, {"r", "two", "r must be an integer"}, {"lora_alpha", "NaN", "lora_alpha"},
            {"lora_dropout", 1.5, "lora_dropout"}, {"target_modules", 3, "target_modules"}, {"target_modules", "blocks[", "not a regular expression"}};
        for (Object[] c : cases) {
            ObjectNode config = (ObjectNode) json.readTree(good.resolve(PeftAdapter.CONFIG_FILE).toFile());
            config.set((String) c[0], json.valueToTree(c[1]));
            json.writeValue(good.resolve(PeftAdapter.CONFIG_FILE).toFile(), config);
            IOException e = assertThrows(IOException.class, () -> PeftAdapter.load(good));
            assertTrue(e.getMessage().contains((String) c[2]), c[0] + ": " + e.getMessage());
            config.set("r", json.valueToTree(2));
            config.set("lora_alpha", json.valueToTree(4));
            config.set("lora_dropout", json.valueToTree(0));
            config.set("target_modules", json.valueToTree(List.of("qkv")));
            json.writeValue(good.resolve(PeftAdapter.CONFIG_FILE).toFile(), config);
        }
        try (PeftAdapter.Loaded ok = PeftAdapter.load(good)) {
            assertEquals(4, ok.modules().size());
        }
    }
}
