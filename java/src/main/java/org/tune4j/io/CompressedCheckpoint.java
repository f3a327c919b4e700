package org.tune4j.io;

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
import org.tune4j.nn.CompressedLinear;
import org.tune4j.nn.InferenceLayer;
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
     * (which must have a dense layer of the same shape at each path); their weights live in {@code arena}.
     * Returns the names of the file's tensors they took (none for a file without the entry).
     */
    public static java.util.Set<String> restore(Arena arena, Backend backend, Module root, Safetensors.File file, Path where) throws IOException {
        String entry = file.metadata().get(METADATA_KEY);
        java.util.Set<String> used = new java.util.HashSet<>();
        if (entry == null) return used;
        JsonNode layers;
        try {
            layers = JSON.readTree(entry);
        } catch (JsonProcessingException e) {
            throw new IOException(where + ": the '" + METADATA_KEY + "' metadata is not JSON: " + e.getOriginalMessage());
        }
        if (!layers.isObject()) throw new IOException(where + ": the '" + METADATA_KEY + "' metadata must be a JSON object");
        for (Iterator<Map.Entry<String, JsonNode>> it = layers.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String path = e.getKey();
            if (!(root.namedModules().get(path) instanceof InferenceLayer dense)) {
                throw new IOException(where + ": compressed layer '" + path + "' is not a linear layer of this model");
            }
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (String name : new String[] {"weight", "weight_scale", "bias", "lora_A", "lora_B"}) {
                Tensor t = file.tensors().get(path + "." + name);
                if (t != null) {
                    tensors.put(name, t);
                    used.add(path + "." + name);
                }
            }
            try {
                if (!e.getValue().isObject() || !e.getValue().path("format").isTextual()) throw new IllegalArgumentException("its entry needs a \"format\"");
                CompressedLinear.Format format = CompressedLinear.Format.of(e.getValue().path("format").asText());
                JsonNode loraScale = e.getValue().path("lora_scale");
                if (tensors.containsKey("lora_A") && !loraScale.isNumber()) throw new IllegalArgumentException("it has an adapter but no numeric \"lora_scale\"");
                float scale = (float) loraScale.asDouble(0);
                CompressedLinear layer = CompressedLinear.load(arena, backend, format, tensors, scale);
                if (layer.in() != dense.in() || layer.out() != dense.out()) {
                    throw new IllegalArgumentException("its weight is " + layer.out() + "x" + layer.in() + ", the model's layer is " + dense.out() + "x" + dense.in());
                }
                root.replaceModule(path, layer);
            } catch (IllegalArgumentException bad) {
                throw new IOException(where + ": compressed layer '" + path + "': " + bad.getMessage());
            }
        }
        return used;
    }
}
