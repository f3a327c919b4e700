package org.tune4j.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
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

    /**
     * The LoRA hyper-parameters PEFT records. {@code target_modules} is, as in PEFT, either a list of names
     * (a module matches when its path equals one or ends with "." + one) or one regular expression that must
     * match a module's whole path ({@code targetPattern}, null for a list).
     */
    public record Config(int r, float alpha, float dropout, List<String> targetModules, boolean useRslora, String baseModel, boolean useDora,
            String targetPattern) {
        public Config {
            if (r < 1) throw new IllegalArgumentException("r must be >= 1, is " + r);
            if (!Float.isFinite(alpha)) throw new IllegalArgumentException("lora_alpha must be finite, is " + alpha);
            if (!(dropout >= 0 && dropout < 1)) throw new IllegalArgumentException("lora_dropout must be in [0, 1), is " + dropout);
            targetModules = List.copyOf(targetModules);
            if (targetPattern != null) {
                if (!targetModules.isEmpty()) throw new IllegalArgumentException("target_modules is a list or a pattern, not both");
                try {
                    Pattern.compile(targetPattern);
                } catch (PatternSyntaxException e) {
                    throw new IllegalArgumentException("target_modules '" + targetPattern + "' is not a regular expression: " + e.getDescription());
                }
            } else if (targetModules.isEmpty()) {
                throw new IllegalArgumentException("target_modules is empty");
            }
        }

        public Config(int r, float alpha, float dropout, List<String> targetModules, boolean useRslora, String baseModel, boolean useDora) {
            this(r, alpha, dropout, targetModules, useRslora, baseModel, useDora, null);
        }

        public Config(int r, float alpha, float dropout, List<String> targetModules, boolean useRslora, String baseModel) {
            this(r, alpha, dropout, targetModules, useRslora, baseModel, false);
        }

        /** Whether the module at {@code path} is a target, as PEFT decides it. */
        public boolean targets(String path) {
            if (targetPattern != null) return Pattern.compile(targetPattern).matcher(new BoundedReads(path, targetPattern)).matches();
            return org.tune4j.nn.Lora.matches(path, path.substring(path.lastIndexOf('.') + 1), targetModules);
        }
    }

    /**
     * A module path that a target pattern may read a bounded number of characters of. The JDK's regular expressions
     * guard against most runaway backtracking, but not where a back-reference turns the guard off: a pattern such as
     * {@code (?:(\w+)\.?)+\1Z} in an adapter's config took 3.6 s on a 36-character BERT module path, twice that for
     * each character more, and would hang the command or the server thread loading the adapter. A pattern that names
     * modules reads a path a few times; past a million reads it is refused by name.
     */
    private static final class BoundedReads implements CharSequence {
        private static final int LIMIT = 1_000_000;
        private final String path, pattern;
        private int reads;

        BoundedReads(String path, String pattern) {
            this.path = path;
            this.pattern = pattern;
        }

        @Override
        public char charAt(int index) {
            if (++reads > LIMIT) {
                throw new IllegalArgumentException("target_modules '" + pattern + "' takes over " + LIMIT + " steps to match the module path '" + path
                        + "' (a pattern that backtracks without end): give the module names, or a simpler pattern");
            }
            return path.charAt(index);
        }

        @Override
        public int length() {
            return path.length();
        }

        @Override
        public CharSequence subSequence(int start, int end) {
            return path.subSequence(start, end);
        }

        @Override
        public String toString() {
            return path;
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
        if (config.targetPattern() != null) {
            c.put("target_modules", config.targetPattern());
        } else {
            var targets = c.putArray("target_modules");
            config.targetModules().forEach(targets::add);
        }
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

    /**
     * Reads an adapter directory written by tune4j or by PEFT, checking it: the config's numbers, every
     * module with both factors of rank r (and a magnitude with DoRA), and no tensor it does not use.
     */
    public static Loaded load(Path dir) throws IOException {
        return load(dir, null);
    }

    /** As {@link #load(Path)}, the tensors in memory from {@code arena} (null: an arena of their own), which {@link Loaded#close} closes. */
    public static Loaded load(Path dir, Arena arena) throws IOException {
        try {
            return read(dir, arena);
        } catch (IOException | RuntimeException e) {
            if (arena != null && arena.scope().isAlive()) arena.close();
            throw e;
        }
    }

    /** The base model {@code dir}'s adapter_config.json names (base_model_name_or_path: a Hub id or a folder), or "" where it names none. */
    public static String baseModel(Path dir) throws IOException {
        return configJson(dir).path("base_model_name_or_path").asText("");
    }

    /** {@code dir}'s adapter_config.json as a JSON object; a missing, unreadable or non-object file is an IOException naming it. */
    private static JsonNode configJson(Path dir) throws IOException {
        Path configFile = dir.resolve(CONFIG_FILE);
        if (!Files.isRegularFile(configFile)) throw new IOException("not a PEFT adapter directory (no " + CONFIG_FILE + "): " + dir);
        JsonNode c;
        try {
            c = JSON.readTree(configFile.toFile());
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IOException(configFile + ": not valid JSON: " + e.getOriginalMessage());
        }
        if (c == null || !c.isObject()) throw new IOException(configFile + ": not a JSON object");
        return c;
    }

    private static Loaded read(Path dir, Arena arena) throws IOException {
        Path configFile = dir.resolve(CONFIG_FILE);
        JsonNode c = configJson(dir);
        if (!"LORA".equals(c.path("peft_type").asText())) throw new IOException(configFile + ": peft_type is " + c.path("peft_type") + ", not LORA");
        if (c.path("init_lora_weights").isTextual() && c.path("init_lora_weights").asText().startsWith("pissa")) {
            throw new IOException(configFile + ": a PiSSA adapter saved unconverted applies to its residual base model, not to "
                    + c.path("base_model_name_or_path").asText("the base") + "; save it with PEFT's path_initial_model_for_weight_conversion");
        }
        Config config;
        try {
            config = config(c);
        } catch (IllegalArgumentException e) {
            throw new IOException(configFile + ": " + e.getMessage());
        }
        Safetensors.File file = arena == null ? Safetensors.read(dir.resolve(WEIGHTS_FILE)) : Safetensors.read(dir.resolve(WEIGHTS_FILE), Safetensors.Options.defaults(), arena);
        try {
            Map<String, Lora> modules = new LinkedHashMap<>();
            java.util.Set<String> used = new java.util.HashSet<>();
            for (String name : file.tensors().keySet()) {
                if (!name.endsWith(".lora_A.weight")) continue;
                String module = name.substring(0, name.length() - ".lora_A.weight".length());
                String bName = module + ".lora_B.weight";
                if (!file.tensors().containsKey(bName)) throw new IOException(dir + ": " + name + " has no " + bName);
                Tensor a = file.get(name), b = file.get(bName);
                if (a.rank() != 2 || b.rank() != 2 || a.dim(0) != config.r() || b.dim(1) != config.r()) {
                    throw new IOException(dir + ": " + module + ": lora_A is " + a + " and lora_B is " + b + ", the config says r = " + config.r());
                }
                String mName = module + ".lora_magnitude_vector";
                Tensor magnitude = null;
                if (config.useDora()) {
                    if (!file.tensors().containsKey(mName)) throw new IOException(dir + ": use_dora, but " + module + " has no " + mName);
                    magnitude = file.get(mName);
                    used.add(mName);
                }
                used.add(name);
                used.add(bName);
                String path = module.startsWith(PREFIX) ? module.substring(PREFIX.length()) : module;
                // PEFT makes LoRA layers where target_modules says and reads only their weights: weights of another module
                // would be left out there, so they are refused here (a task model's names have its "bert." before the path;
                // PEFT's "all-linear", which it saves expanded to the names it found, picks every linear layer)
                boolean allLinear = "all-linear".equalsIgnoreCase(config.targetPattern());
                if (!allLinear && !config.targets(path) && !config.targets("bert." + path)) {
                    throw new IOException(dir + ": the weights adapt '" + path + "', which target_modules "
                            + (config.targetPattern() != null ? "'" + config.targetPattern() + "'" : config.targetModules().toString()) + " does not name");
                }
                modules.put(path, new Lora(a, b, magnitude));
            }
            List<String> left = file.tensors().keySet().stream().filter(n -> !used.contains(n)).sorted().limit(5).toList();
            if (!left.isEmpty()) throw new IOException(dir + ": tensors a LoRA adapter does not use: " + String.join(", ", left));
            if (modules.isEmpty()) throw new IOException(dir + ": the adapter holds no lora_A / lora_B weights");
            return new Loaded(config, modules, file);
        } catch (IOException | RuntimeException e) {
            file.close();
            throw e;
        }
    }

    /** The config's fields; an IllegalArgumentException names the one that is wrong. */
    private static Config config(JsonNode c) {
        JsonNode t = c.path("target_modules");
        List<String> targets = new ArrayList<>();
        String pattern = null;
        if (t.isTextual()) {
            pattern = t.asText();
        } else if (t.isArray()) {
            t.forEach(n -> {
                if (!n.isTextual()) throw new IllegalArgumentException("target_modules holds " + n + ", not a module name");
                targets.add(n.asText());
            });
        } else {
            throw new IllegalArgumentException("target_modules must be a list of names or a regular expression, is " + t);
        }
        if (!c.path("r").canConvertToInt() || !c.path("r").isIntegralNumber()) throw new IllegalArgumentException("r must be an integer, is " + c.path("r"));
        int r = c.path("r").asInt();
        if (c.has("lora_alpha") && !c.path("lora_alpha").isNumber()) throw new IllegalArgumentException("lora_alpha must be a number, is " + c.path("lora_alpha"));
        if (c.has("lora_dropout") && !c.path("lora_dropout").isNumber()) throw new IllegalArgumentException("lora_dropout must be a number, is " + c.path("lora_dropout"));
        return new Config(r, (float) c.path("lora_alpha").asDouble(r), (float) c.path("lora_dropout").asDouble(0), targets, c.path("use_rslora").asBoolean(false),
                c.path("base_model_name_or_path").asText(""), c.path("use_dora").asBoolean(false), pattern);
    }
}
