package org.tune4j.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tune4j.tensor.Tensor;

/**
 * LoRA adapters in PEFT's layout, so that {@code PeftModel.from_pretrained} reads what tune4j writes and
 * back: a directory with {@code adapter_config.json} and {@code adapter_model.safetensors}, whose tensors
 * are {@code base_model.model.<module>.lora_A.weight} [r, in] and {@code ...lora_B.weight} [out, r], with
 * DoRA ({@code "use_dora": true}) also {@code ...lora_magnitude_vector} [out]. A PiSSA adapter PEFT saved
 * unconverted ({@code "init_lora_weights": "pissa"}) is refused: it applies to a residual base model, not
 * to the one it names; tune4j writes PiSSA adapters converted to plain LoRA, as PEFT does on request.
 */
public final class PeftAdapter {
    public static final String CONFIG_FILE = "adapter_config.json";
    public static final String WEIGHTS_FILE = "adapter_model.safetensors";
    private static final String PREFIX = "base_model.model.";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** The LoRA hyper-parameters PEFT records. */
    public record Config(int r, float alpha, float dropout, List<String> targetModules, boolean useRslora, String baseModel, boolean useDora) {
        public Config {
            if (r < 1) throw new IllegalArgumentException("r must be >= 1, is " + r);
            targetModules = List.copyOf(targetModules);
        }

        public Config(int r, float alpha, float dropout, List<String> targetModules, boolean useRslora, String baseModel) {
            this(r, alpha, dropout, targetModules, useRslora, baseModel, false);
        }
    }

    /** One module's adapter: A [r, in], B [out, r], and DoRA's magnitude [out] (null without DoRA). */
    public record Lora(Tensor a, Tensor b, Tensor magnitude) {
        public Lora(Tensor a, Tensor b) {
            this(a, b, null);
        }
    }

    private PeftAdapter() {}

    /** Writes {@code modules} (by module path, such as "blocks.0.attn.qkv") and the config into {@code dir}. */
    public static void save(Path dir, Config config, Map<String, Lora> modules) throws IOException {
        Files.createDirectories(dir);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, Lora> e : modules.entrySet()) {
            Lora l = e.getValue();
            if (l.a().dim(0) != config.r() || l.b().dim(1) != config.r()) {
                throw new IllegalArgumentException(e.getKey() + ": A is " + l.a() + " and B is " + l.b() + ", the config says r = " + config.r());
            }
            if ((l.magnitude() != null) != config.useDora()) {
                throw new IllegalArgumentException(e.getKey() + (config.useDora() ? " has no DoRA magnitude, the config says use_dora" : " has a DoRA magnitude, the config says no DoRA"));
            }
            tensors.put(PREFIX + e.getKey() + ".lora_A.weight", l.a());
            tensors.put(PREFIX + e.getKey() + ".lora_B.weight", l.b());
            if (l.magnitude() != null) tensors.put(PREFIX + e.getKey() + ".lora_magnitude_vector", l.magnitude());
        }
        Safetensors.write(dir.resolve(WEIGHTS_FILE), tensors, Map.of("format", "pt"));
        ObjectNode c = JSON.createObjectNode();
        c.put("peft_type", "LORA");
        c.putNull("task_type");
        c.put("base_model_name_or_path", config.baseModel());
        c.put("r", config.r());
        c.put("lora_alpha", config.alpha());
        c.put("lora_dropout", config.dropout());
        var targets = c.putArray("target_modules");
        config.targetModules().forEach(targets::add);
        c.put("bias", "none");
        c.put("use_rslora", config.useRslora());
        c.put("fan_in_fan_out", false);
        c.put("init_lora_weights", true);
        c.put("use_dora", config.useDora());
        c.put("inference_mode", true);
        c.putNull("modules_to_save");
        JSON.writeValue(dir.resolve(CONFIG_FILE).toFile(), c);
    }

    /** A loaded adapter; its tensors map the file and are read-only, valid until {@link #close}. */
    public record Loaded(Config config, Map<String, Lora> modules, Safetensors.File file) implements AutoCloseable {
        @Override
        public void close() {
            file.close();
        }
    }

    /** Reads an adapter directory written by tune4j or by PEFT. */
    public static Loaded load(Path dir) throws IOException {
        Path configFile = dir.resolve(CONFIG_FILE);
        if (!Files.isRegularFile(configFile)) throw new IOException("not a PEFT adapter directory (no " + CONFIG_FILE + "): " + dir);
        JsonNode c = JSON.readTree(configFile.toFile());
        if (!"LORA".equals(c.path("peft_type").asText())) throw new IOException(configFile + ": peft_type is " + c.path("peft_type") + ", not LORA");
        if (c.path("init_lora_weights").isTextual() && c.path("init_lora_weights").asText().startsWith("pissa")) {
            throw new IOException(configFile + ": a PiSSA adapter saved unconverted applies to its residual base model, not to "
                    + c.path("base_model_name_or_path").asText("the base") + "; save it with PEFT's path_initial_model_for_weight_conversion");
        }
        List<String> targets = new ArrayList<>();
        c.path("target_modules").forEach(t -> targets.add(t.asText()));
        Config config = new Config(c.path("r").asInt(0), (float) c.path("lora_alpha").asDouble(c.path("r").asInt(0)),
                (float) c.path("lora_dropout").asDouble(0), targets, c.path("use_rslora").asBoolean(false),
                c.path("base_model_name_or_path").asText(""), c.path("use_dora").asBoolean(false));
        Safetensors.File file = Safetensors.read(dir.resolve(WEIGHTS_FILE));
        try {
            Map<String, Lora> modules = new LinkedHashMap<>();
            for (String name : file.tensors().keySet()) {
                if (!name.endsWith(".lora_A.weight")) continue;
                String module = name.substring(0, name.length() - ".lora_A.weight".length());
                String bName = module + ".lora_B.weight";
                if (!file.tensors().containsKey(bName)) throw new IOException(dir + ": " + name + " has no " + bName);
                String mName = module + ".lora_magnitude_vector";
                Tensor magnitude = null;
                if (config.useDora()) {
                    if (!file.tensors().containsKey(mName)) throw new IOException(dir + ": use_dora, but " + module + " has no " + mName);
                    magnitude = file.get(mName);
                }
                modules.put(module.startsWith(PREFIX) ? module.substring(PREFIX.length()) : module, new Lora(file.get(name), file.get(bName), magnitude));
            }
            return new Loaded(config, modules, file);
        } catch (IOException | RuntimeException e) {
            file.close();
            throw e;
        }
    }
}
