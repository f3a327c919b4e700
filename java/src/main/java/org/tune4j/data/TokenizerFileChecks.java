package org.tune4j.data;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;

/**
 * What a {@code tokenizer.json} must hold that the tokenizers library does not check at load:
 * <ul>
 *   <li>an unknown token the model can use: a WordPiece or WordLevel model's {@code unk_token} in its vocabulary, a BPE
 *       model's too if it names one, a Unigram model's {@code unk_id} (unless unknown characters fall back to bytes).
 *       Without one the library fails to encode a text with a word outside the vocabulary; DJL's binding unwraps that
 *       failure in native code, and the Rust panic aborts the JVM (all-MiniLM's tokenizer.json with [UNK] taken out of
 *       its vocabulary loaded, then ended {@code tune4j embed} with exit 134 on such a word);</li>
 *   <li>no more special tokens added to a text than a text keeps: the library then leaves texts untruncated (MiniLM's
 *       template with a third special token, asked to keep 2 tokens, gave 6 for a three-word text), and a long text
 *       would reach past the model's positions.</li>
 * </ul>
 * A file that is not JSON is left to the library, whose message names the line and column.
 */
final class TokenizerFileChecks {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TokenizerFileChecks() {}

    /** Refuses {@code file} for a text of {@code maxLength} tokens, as the class comment says; returns {@link #idEnd}'s bound (-1: not JSON). */
    static int check(Path file, int maxLength) throws IOException {
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (JacksonException e) {
            return -1; // the library says where the JSON breaks
        }
        if (root == null || !root.isObject()) return -1;
        String model = unknownTokenProblem(root.path("model"));
        if (model != null) throw new IOException(file + ": " + model + ": a text with a word outside the vocabulary could not be encoded");
        int added = addedTokens(root.path("post_processor"));
        if (added > maxLength) {
            throw new IllegalArgumentException(file + ": its post-processor adds " + added + " special tokens to a text, more than the " + maxLength + " tokens a text keeps");
        }
        return idEnd(root);
    }

    /** One past the largest id the file's vocabulary and added tokens give a token: the embedding rows its model needs. */
    private static int idEnd(JsonNode root) {
        long end = 0;
        JsonNode vocab = root.path("model").path("vocab");
        if (vocab.isArray()) end = vocab.size(); // Unigram: [piece, score] pairs, the id their place
        else for (JsonNode id : vocab) end = Math.max(end, id.asLong(-1) + 1);
        for (JsonNode added : root.path("added_tokens")) end = Math.max(end, added.path("id").asLong(-1) + 1);
        return (int) Math.min(end, Integer.MAX_VALUE);
    }

    /** Why {@code model}'s unknown token cannot be used, or null when it can (or the model is one this check does not know). */
    private static String unknownTokenProblem(JsonNode model) {
        String type = model.path("type").asText("");
        JsonNode vocab = model.path("vocab");
        switch (type) {
            case "WordPiece", "WordLevel" -> { // the library's default when the file names none
                String unk = model.path("unk_token").asText(type.equals("WordPiece") ? "[UNK]" : "<unk>");
                if (vocab.isObject() && !vocab.has(unk)) return "its " + type + " model's unk_token " + unk + " is not in its vocabulary";
            }
            case "BPE" -> {
                JsonNode unk = model.path("unk_token");
                if (unk.isTextual() && vocab.isObject() && !vocab.has(unk.asText())) return "its BPE model's unk_token " + unk.asText() + " is not in its vocabulary";
            }
            case "Unigram" -> {
                JsonNode unk = model.path("unk_id");
                if (model.path("byte_fallback").asBoolean(false) && (unk.isMissingNode() || unk.isNull())) return null; // unknown characters become bytes
                if (!unk.canConvertToInt() || unk.asInt() < 0 || (vocab.isArray() && unk.asInt() >= vocab.size())) {
                    return "its Unigram model's unk_id " + (unk.isMissingNode() ? "is missing" : unk + " is not an entry of its vocabulary");
                }
            }
            default -> { }
        }
        return null;
    }

    /** The special tokens {@code processor} adds to one text ([CLS] and [SEP]: 2 for BERT). */
    private static int addedTokens(JsonNode processor) {
        return switch (processor.path("type").asText("")) {
            case "BertProcessing", "RobertaProcessing" -> 2;
            case "TemplateProcessing" -> {
                int n = 0;
                for (JsonNode piece : processor.path("single")) if (piece.has("SpecialToken")) n++;
                yield n;
            }
            case "Sequence" -> {
                int n = 0;
                for (JsonNode p : processor.path("processors")) n += addedTokens(p);
                yield n;
            }
            default -> 0;
        };
    }
}
