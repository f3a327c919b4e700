package org.tune4j.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.tune4j.nn.BertClassifier;

/**
 * How a sentence vector is made from the encoder's last hidden state, as a sentence-transformers model folder says it
 * ({@code modules.json}: a Transformer at the folder itself, a Pooling module whose {@code config.json} sets one
 * {@code pooling_mode_*} true, and an optional Normalize to unit length; {@code sentence_bert_config.json}'s
 * {@code max_seq_length}, the tokens a text keeps, or 0 where the folder does not say): all-MiniLM-L6-v2 pools the mean
 * and normalizes, 256 tokens, BGE-small-en-v1.5 takes [CLS] and normalizes, 512 tokens. Read by {@code tune4j embed} and {@code tune4j serve}, written by the
 * importer, so that an imported folder says its own pooling as the Hub's copy does. Modules that change the vector in
 * other ways (Dense, a pooling mode other than mean or [CLS]) are refused by name.
 */
public record SentencePipeline(BertClassifier.Pooling pooling, boolean normalize, int maxLength) {
    public static final String MODULES = "modules.json", SETTINGS = "sentence_bert_config.json";
    /** What a folder without modules.json gets: mean pooling to unit length (sentence-transformers' default pipeline), no length said. */
    public static final SentencePipeline DEFAULT = new SentencePipeline(BertClassifier.Pooling.MEAN, true);

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String TYPE = "sentence_transformers.models.", POOLING_DIR = "1_Pooling", NORMALIZE_DIR = "2_Normalize";
    private static final List<String> MODES = List.of("pooling_mode_cls_token", "pooling_mode_mean_tokens", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens",
            "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken");

    public SentencePipeline {
        java.util.Objects.requireNonNull(pooling, "pooling");
        if (maxLength < 0) throw new IllegalArgumentException("maxLength must be >= 0 (0: not said), is " + maxLength);
    }

    /** A pipeline that does not say how many tokens a text keeps. */
    public SentencePipeline(BertClassifier.Pooling pooling, boolean normalize) {
        this(pooling, normalize, 0);
    }

    /** The pipeline {@code dir}'s modules.json describes, or empty when it has none. */
    public static Optional<SentencePipeline> read(Path dir) throws IOException {
        Path modules = dir.resolve(MODULES);
        if (!Files.exists(modules)) return Optional.empty();
        JsonNode list = json(modules);
        if (!list.isArray()) throw new IOException(modules + ": not a JSON array of modules");
        BertClassifier.Pooling pooling = null;
        boolean normalize = false, transformer = false;
        for (JsonNode m : list) {
            String type = m.path("type").asText(""), path = m.path("path").asText("");
            switch (type.startsWith(TYPE) ? type.substring(TYPE.length()) : type) {
                case "Transformer" -> {
                    if (!path.isEmpty()) throw new IOException(modules + ": the Transformer module is in '" + path + "'; tune4j reads the encoder from the folder itself");
                    transformer = true;
                }
                case "Pooling" -> pooling = readPooling(modules, dir, path);
                case "Normalize" -> normalize = true;
                default -> throw new IOException(modules + ": module '" + type + "' is not supported (Transformer, Pooling, Normalize)");
            }
        }
        if (!transformer) throw new IOException(modules + ": no sentence_transformers.models.Transformer module");
        if (pooling == null) throw new IOException(modules + ": no sentence_transformers.models.Pooling module");
        int maxLength = 0;
        if (Files.exists(dir.resolve(SETTINGS))) {
            JsonNode n = json(dir.resolve(SETTINGS)).path("max_seq_length");
            if (!n.isMissingNode() && !n.isNull()) {
                if (!n.canConvertToInt() || !n.isIntegralNumber() || n.asInt() < 2) throw new IOException(dir.resolve(SETTINGS) + ": max_seq_length must be an integer >= 2, is " + n);
                maxLength = n.asInt();
            }
        }
        return Optional.of(new SentencePipeline(pooling, normalize, maxLength));
    }

    /** {@code dir}'s pipeline, or {@link #DEFAULT} when it has no modules.json. */
    public static SentencePipeline readOrDefault(Path dir) throws IOException {
        return read(dir).orElse(DEFAULT);
    }

    /**
     * The tokens a text keeps, [CLS] and [SEP] included, with the model in {@code dir} ({@code positions} of them):
     * {@code asked} when above 0, else the folder's max_seq_length, as sentence-transformers truncates, else 256 or the
     * positions if fewer; more than the positions is refused, naming who asked.
     */
    public static int tokensKept(Path dir, int asked, int positions) throws IOException {
        int said = readOrDefault(dir).maxLength();
        int length = asked > 0 ? asked : said > 0 ? said : Math.min(256, positions);
        if (length > positions) {
            throw new IllegalArgumentException((asked > 0 ? "a max length of " : dir.resolve(SETTINGS) + ": max_seq_length ") + length + " tokens exceeds the model's "
                    + positions + " positions (max_position_embeddings)");
        }
        return length;
    }

    private static BertClassifier.Pooling readPooling(Path modules, Path dir, String path) throws IOException {
        Path folder = dir.resolve(path).normalize();
        if (path.isEmpty() || !folder.startsWith(dir.normalize()) || folder.equals(dir.normalize())) {
            throw new IOException(modules + ": the Pooling module's path '" + path + "' is not a folder inside " + dir);
        }
        Path file = folder.resolve("config.json");
        JsonNode config = json(file);
        if (!config.isObject()) throw new IOException(file + ": not a JSON object");
        List<String> on = new ArrayList<>();
        for (String mode : MODES) if (config.path(mode).asBoolean(false)) on.add(mode);
        if (on.equals(List.of("pooling_mode_mean_tokens"))) return BertClassifier.Pooling.MEAN;
        if (on.equals(List.of("pooling_mode_cls_token"))) return BertClassifier.Pooling.CLS;
        if (on.isEmpty()) throw new IOException(file + ": no pooling_mode_* is true (one of pooling_mode_mean_tokens, pooling_mode_cls_token must be)");
        throw new IOException(file + ": " + String.join(" and ", on) + (on.size() == 1 ? " is" : " are") + " not supported (one of pooling_mode_mean_tokens, pooling_mode_cls_token)");
    }

    /**
     * Writes modules.json, 1_Pooling/config.json, (normalizing) 2_Normalize/ and (a length said) sentence_bert_config.json
     * into {@code dir}, for an encoder of width {@code hidden}.
     */
    public void write(Path dir, int hidden) throws IOException {
        ArrayNode modules = JSON.createArrayNode();
        module(modules, "", "Transformer");
        module(modules, POOLING_DIR, "Pooling");
        if (normalize) module(modules, NORMALIZE_DIR, "Normalize");
        ObjectNode config = JSON.createObjectNode().put("word_embedding_dimension", hidden);
        for (String mode : MODES) config.put(mode, mode.equals(pooling == BertClassifier.Pooling.CLS ? "pooling_mode_cls_token" : "pooling_mode_mean_tokens"));
        config.put("include_prompt", true);
        Files.createDirectories(dir.resolve(POOLING_DIR));
        JSON.writerWithDefaultPrettyPrinter().writeValue(dir.resolve(POOLING_DIR).resolve("config.json").toFile(), config);
        if (normalize) Files.createDirectories(dir.resolve(NORMALIZE_DIR));
        if (maxLength > 0) JSON.writerWithDefaultPrettyPrinter().writeValue(dir.resolve(SETTINGS).toFile(), JSON.createObjectNode().put("max_seq_length", maxLength));
        else Files.deleteIfExists(dir.resolve(SETTINGS)); // the folder says no length, as this pipeline
        JSON.writerWithDefaultPrettyPrinter().writeValue(dir.resolve(MODULES).toFile(), modules);
    }

    private static void module(ArrayNode modules, String path, String type) {
        int idx = modules.size();
        modules.addObject().put("idx", idx).put("name", String.valueOf(idx)).put("path", path).put("type", TYPE + type);
    }

    /** {@code v} scaled to unit Euclidean length (a copy; all zeros stay zeros), Normalize's output. */
    public static float[] unitLength(float[] v) {
        double sum = 0;
        for (float x : v) sum += (double) x * x;
        float[] out = v.clone();
        if (sum == 0) return out;
        double scale = 1 / Math.sqrt(sum);
        for (int i = 0; i < out.length; i++) out[i] = (float) (out[i] * scale);
        return out;
    }

    /** The pooled vector as this pipeline ends it: unit length when it normalizes, else as it is (a copy either way). */
    public float[] finish(float[] pooled) {
        return normalize ? unitLength(pooled) : pooled.clone();
    }

    private static JsonNode json(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new IOException(file + ": not found");
        try {
            JsonNode n = JSON.readTree(file.toFile());
            if (n == null) throw new IOException(file + ": empty");
            return n;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IOException(file + ": not JSON: " + e.getOriginalMessage(), e);
        }
    }
}
