package org.tune4j.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.tune4j.autograd.Parameter;
import org.tune4j.nn.BertConfig;
import org.tune4j.nn.BertModel;
import org.tune4j.tensor.Tensor;

/** A BERT encoder built from a Hugging Face checkpoint folder ({@link HfCheckpoint}), and written back to one. */
public final class BertCheckpoint {
    private BertCheckpoint() {}

    /**
     * The encoder in {@code dir}, its parameters in {@code arena}: every parameter must be in the checkpoint
     * with its exact shape, and a tensor the encoder does not use is an error unless it is a buffer, the
     * pooler or a task head ({@link HfCheckpoint#unusedByEncoder}).
     */
    public static BertModel load(Arena arena, Path dir) throws IOException {
        try (HfCheckpoint ckpt = HfCheckpoint.read(dir)) {
            BertConfig config = ckpt.bertConfig();
            checkSize(dir, config, ckpt.tensors());
            BertModel model = new BertModel(arena, config, new SplittableRandom(0));
            Map<String, Parameter> params = model.namedParameters();
            TreeSet<String> missing = new TreeSet<>(params.keySet());
            missing.removeAll(ckpt.tensors().keySet());
            if (!missing.isEmpty()) throw new IOException(dir + ": " + missing.size() + " parameters missing, " + HfCheckpoint.list(missing.iterator(), 5));
            TreeSet<String> unused = new TreeSet<>();
            for (String name : ckpt.tensors().keySet()) if (!params.containsKey(name) && !HfCheckpoint.unusedByEncoder(name)) unused.add(name);
            if (!unused.isEmpty()) throw new IOException(dir + ": tensors a BERT encoder does not have: " + HfCheckpoint.list(unused.iterator(), 5));
            for (Map.Entry<String, Parameter> e : params.entrySet()) Checkpoint.copy(dir, e.getKey(), ckpt.tensors().get(e.getKey()), e.getValue().value());
            return model;
        }
    }

    /**
     * Refuses a config.json that describes a far larger encoder than the weights hold, before its parameters are
     * allocated: a config asking for 100,000 layers or a hidden size of millions would otherwise take the machine's
     * memory before the disagreement is named. More layers than the weights hold is named as such; any other size is
     * let through up to twice the numbers the weights hold (an allocation a correct checkpoint's load comes near), and
     * the difference is then named tensor by tensor as the weights are copied.
     */
    static void checkSize(Path dir, BertConfig config, Map<String, Tensor> tensors) throws IOException {
        long held = 0;
        int layersHeld = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            if (HfCheckpoint.unusedByEncoder(e.getKey())) continue;
            held += e.getValue().numel();
            Matcher m = LAYER.matcher(e.getKey());
            if (m.lookingAt()) layersHeld = Math.max(layersHeld, Integer.parseInt(m.group(1)) + 1);
        }
        if (config.layers() > layersHeld)
            throw new IOException(dir + ": config.json's num_hidden_layers is " + config.layers() + ", the weights hold " + layersHeld + " layers");
        if (config.parameterCount() / 2 > held) {
            Tensor words = tensors.get("embeddings.word_embeddings.weight");
            throw new IOException(dir + ": config.json describes an encoder of " + config.parameterCount() + " parameters (vocab_size " + config.vocabSize()
                    + ", hidden_size " + config.hidden() + ", intermediate_size " + config.intermediate() + ", max_position_embeddings "
                    + config.maxPositions() + ", type_vocab_size " + config.typeVocabSize() + "), the weights hold " + held
                    + (words != null ? " (their word embeddings " + words + ")" : "") + ": they are not the same model");
        }
    }

    private static final Pattern LAYER = Pattern.compile("encoder\\.layer\\.(\\d{1,9})\\.");

    /** Writes {@code model} as a Hugging Face checkpoint folder, with the tokenizer files of {@code tokenizerDir} (or none). */
    public static void save(Path dir, BertModel model, Path tokenizerDir) throws IOException {
        Map<String, Tensor> values = new java.util.LinkedHashMap<>();
        model.namedParameters().forEach((name, p) -> values.put(name, p.value()));
        HfCheckpoint.write(dir, HfCheckpoint.bertConfigJson(model.config()), ModelFile.mergedNames(model, values), tokenizerDir);
    }
}
