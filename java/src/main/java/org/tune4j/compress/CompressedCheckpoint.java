package org.tune4j.compress;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import org.tune4j.backend.Backend;
import org.tune4j.io.Safetensors;
import org.tune4j.nn.CompressedLinear;
import org.tune4j.nn.Module;
import org.tune4j.tensor.Tensor;

/**
 * A model with compressed layers in one safetensors file: the f32 parameters under their usual names,
 * each compressed layer's tensors under its path ("blocks.0.mlp.fc1.weight" as I8 with
 * "blocks.0.mlp.fc1.weight_scale" for int8; the pruned F32 weight for 2:4; "lora_A"/"lora_B" for an
 * unmerged adapter), and in the header's metadata, under {@value #METADATA_KEY}, a JSON object giving each
 * compressed layer's format and adapter scale: {"blocks.0.mlp.fc1": {"format": "int8", "lora_scale": 2.0}}.
 */
public final class CompressedCheckpoint {
    /** The metadata entry that lists the compressed layers. */
    public static final String METADATA_KEY = "tune4j.compressed";

    private static final ObjectMapper JSON = new ObjectMapper();

    private CompressedCheckpoint() {}

    /** Every tensor of {@code root} to save, and the metadata entry describing its compressed layers (absent when none). */
    public static Map<String, Tensor> tensors(Module root, Map<String, String> metadata) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        root.namedParameters().forEach((name, p) -> out.put(name, p.value()));
        ObjectNode layers = JSON.createObjectNode();
        root.namedModules().forEach((path, m) -> {
            if (!(m instanceof CompressedLinear c)) return;
            c.tensors().forEach((name, t) -> out.put(path + "." + name, t));
            ObjectNode entry = layers.putObject(path);
            entry.put("format", c.format().label());
            if (c.hasAdapter()) entry.put("lora_scale", c.loraScale());
        });
        if (!layers.isEmpty()) metadata.put(METADATA_KEY, layers.toString());
        return out;
    }

    /**
     * Rebuilds the compressed layers listed in the file's metadata and swaps them into {@code root}
     * (which must have a dense layer at each path); their weights live in {@code arena}. Returns how
     * many; a file without the entry has none.
     */
    public static int restore(Arena arena, Backend backend, Module root, Safetensors.File file, Path where) throws IOException {
        String entry = file.metadata().get(METADATA_KEY);
        if (entry == null) return 0;
        JsonNode layers;
        try {
            layers = JSON.readTree(entry);
        } catch (JsonProcessingException e) {
            throw new IOException(where + ": the '" + METADATA_KEY + "' metadata is not JSON: " + e.getOriginalMessage());
        }
        if (!layers.isObject()) throw new IOException(where + ": the '" + METADATA_KEY + "' metadata must be a JSON object");
        int count = 0;
        for (Iterator<Map.Entry<String, JsonNode>> it = layers.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String path = e.getKey();
            if (!root.namedModules().containsKey(path)) throw new IOException(where + ": compressed layer '" + path + "' is not a layer of this model");
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (String name : new String[] {"weight", "weight_scale", "bias", "lora_A", "lora_B"}) {
                Tensor t = file.tensors().get(path + "." + name);
                if (t != null) tensors.put(name, t);
            }
            try {
                CompressedLinear.Format format = CompressedLinear.Format.of(e.getValue().path("format").asText());
                float scale = (float) e.getValue().path("lora_scale").asDouble(0);
                root.replaceModule(path, CompressedLinear.load(arena, backend, format, tensors, scale));
            } catch (IllegalArgumentException bad) {
                throw new IOException(where + ": compressed layer '" + path + "': " + bad.getMessage());
            }
            count++;
        }
        return count;
    }
}
