package org.tune4j.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.tune4j.nn.BertConfig;
import org.tune4j.tensor.Tensor;

/**
 * A checkpoint in the Hugging Face layout, the folder users have: {@code config.json}, the weights in
 * {@code model.safetensors} or in shards listed by {@code model.safetensors.index.json} (F32, F16 or BF16,
 * 16-bit widened on load), {@code tokenizer.json} and {@code tokenizer_config.json}. A task model's
 * {@code bert.} prefix (BertForSequenceClassification) is taken off on read, so the encoder's names are
 * the same either way.
 */
public final class HfCheckpoint implements AutoCloseable {
    public static final String CONFIG = "config.json", WEIGHTS = "model.safetensors", INDEX = "model.safetensors.index.json";
    public static final String TOKENIZER = "tokenizer.json", TOKENIZER_CONFIG = "tokenizer_config.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;
    private final JsonNode config;
    private final Map<String, Tensor> tensors;
    private final List<Safetensors.File> files;

    private HfCheckpoint(Path dir, JsonNode config, Map<String, Tensor> tensors, List<Safetensors.File> files) {
        this.dir = dir;
        this.config = config;
        this.tensors = tensors;
        this.files = files;
    }

    /** Reads the folder {@code dir}; every file is checked as {@link Safetensors#read} checks one. */
    public static HfCheckpoint read(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) throw new IOException(dir + ": not a folder (a Hugging Face checkpoint is a folder with config.json and model.safetensors)");
        JsonNode config = json(dir.resolve(CONFIG));
        List<Path> shards = new ArrayList<>();
        if (Files.isRegularFile(dir.resolve(WEIGHTS))) {
            shards.add(dir.resolve(WEIGHTS));
        } else if (Files.isRegularFile(dir.resolve(INDEX))) {
            JsonNode map = json(dir.resolve(INDEX)).path("weight_map");
            if (!map.isObject() || map.isEmpty()) throw new IOException(dir.resolve(INDEX) + ": no weight_map");
            Set<String> names = new LinkedHashSet<>();
            map.forEach(v -> names.add(v.asText()));
            for (String name : names) {
                Path shard = dir.resolve(name).normalize();
                if (!shard.getParent().equals(dir.normalize())) throw new IOException(dir.resolve(INDEX) + ": shard '" + name + "' is outside the folder");
                shards.add(shard);
            }
        } else {
            throw new IOException(dir + ": neither " + WEIGHTS + " nor " + INDEX + " is there (.bin checkpoints are not read: convert them to safetensors)");
        }
        List<Safetensors.File> files = new ArrayList<>();
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try {
            for (Path shard : shards) {
                Safetensors.File f = Safetensors.read(shard);
                files.add(f);
                for (Map.Entry<String, Tensor> e : f.tensors().entrySet()) {
                    String name = e.getKey().startsWith("bert.") ? e.getKey().substring(5) : e.getKey();
                    if (tensors.put(name, e.getValue()) != null) throw new IOException(shard + ": tensor '" + name + "' appears twice in the checkpoint");
                }
            }
        } catch (IOException | RuntimeException e) {
            files.forEach(Safetensors.File::close);
            throw e;
        }
        return new HfCheckpoint(dir, config, tensors, files);
    }

    /**
     * Writes a checkpoint folder: {@code config} as config.json, {@code tensors} (contiguous F32) as
     * model.safetensors, and the tokenizer files copied from {@code tokenizerDir} when it is not null.
     */
    public static void write(Path dir, ObjectNode config, Map<String, Tensor> tensors, Path tokenizerDir) throws IOException {
        Files.createDirectories(dir);
        JSON.writerWithDefaultPrettyPrinter().writeValue(dir.resolve(CONFIG).toFile(), config);
        Safetensors.write(dir.resolve(WEIGHTS), tensors, Map.of("format", "pt"));
        if (tokenizerDir != null) {
            for (String f : List.of(TOKENIZER, TOKENIZER_CONFIG)) {
                if (Files.isRegularFile(tokenizerDir.resolve(f))) Files.copy(tokenizerDir.resolve(f), dir.resolve(f), StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }

    /** config.json for a BERT encoder of shape {@code c} (model_type "bert", architectures ["BertModel"]). */
    public static ObjectNode bertConfigJson(BertConfig c) {
        ObjectNode o = JSON.createObjectNode();
        o.putArray("architectures").add("BertModel");
        o.put("model_type", "bert");
        o.put("vocab_size", c.vocabSize());
        o.put("hidden_size", c.hidden());
        o.put("num_hidden_layers", c.layers());
        o.put("num_attention_heads", c.heads());
        o.put("intermediate_size", c.intermediate());
        o.put("max_position_embeddings", c.maxPositions());
        o.put("type_vocab_size", c.typeVocabSize());
        o.put("layer_norm_eps", (double) c.layerNormEps());
        o.put("hidden_act", c.hiddenAct());
        o.put("pad_token_id", 0);
        o.put("torch_dtype", "float32");
        return o;
    }

    public Path dir() {
        return dir;
    }

    public JsonNode config() {
        return config;
    }

    /** The encoder's shape from config.json; a model type other than BERT's is refused by name. */
    public BertConfig bertConfig() throws IOException {
        return bertConfig(dir, config);
    }

    /** As {@link #bertConfig()} from {@code dir}'s config.json alone, its weights not read (a check before a model is loaded). */
    public static BertConfig readBertConfig(Path dir) throws IOException {
        return bertConfig(dir, json(dir.resolve(CONFIG)));
    }

    private static BertConfig bertConfig(Path dir, JsonNode config) throws IOException {
        String type = config.path("model_type").asText("");
        if (!type.equals("bert")) throw new IOException(dir.resolve(CONFIG) + ": model_type '" + type + "' is not supported (bert)");
        try {
            return new BertConfig(integer(dir, config, "vocab_size"), integer(dir, config, "hidden_size"), integer(dir, config, "num_hidden_layers"),
                    integer(dir, config, "num_attention_heads"), integer(dir, config, "intermediate_size"), integer(dir, config, "max_position_embeddings"),
                    config.path("type_vocab_size").asInt(2), (float) config.path("layer_norm_eps").asDouble(1e-12), config.path("hidden_act").asText("gelu"));
        } catch (IllegalArgumentException e) {
            throw new IOException(dir.resolve(CONFIG) + ": " + e.getMessage(), e);
        }
    }

    private static int integer(Path dir, JsonNode config, String field) throws IOException {
        JsonNode n = config.get(field);
        if (n == null || !n.canConvertToInt() || !n.isIntegralNumber()) throw new IOException(dir.resolve(CONFIG) + ": " + field + " is missing or not an integer");
        return n.asInt();
    }

    /** Tensors by name (the {@code bert.} prefix taken off), F32. */
    public Map<String, Tensor> tensors() {
        return tensors;
    }

    /** The tokenizer.json of the folder. */
    public Path tokenizer() throws IOException {
        Path p = dir.resolve(TOKENIZER);
        if (!Files.isRegularFile(p)) throw new IOException(dir + ": no " + TOKENIZER);
        return p;
    }

    private static JsonNode json(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new IOException(file + ": not found");
        try {
            JsonNode n = JSON.readTree(file.toFile());
            if (n == null || !n.isObject()) throw new IOException(file + ": not a JSON object");
            return n;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IOException(file + ": not JSON: " + e.getOriginalMessage(), e);
        }
    }

    /** Names that a BERT checkpoint may hold beside the encoder and that loading the encoder leaves: buffers, the pooler, a task head. */
    static boolean unusedByEncoder(String name) {
        return name.equals("embeddings.position_ids") || name.startsWith("pooler.") || name.startsWith("classifier.") || name.startsWith("cls.");
    }

    @Override
    public void close() {
        files.forEach(Safetensors.File::close);
    }

    /** Iterates names for messages. */
    static String list(Iterator<String> names, int max) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; names.hasNext() && i < max; i++) sb.append(i == 0 ? "" : ", ").append(names.next());
        if (names.hasNext()) sb.append(", ...");
        return sb.toString();
    }
}
