package org.tune4j.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.tune4j.autograd.Parameter;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.Lora;
import org.tune4j.nn.LoraLinear;
import org.tune4j.tensor.Tensor;

/**
 * A text classifier's LoRA adapter in PEFT's layout, named for the encoder alone (Hugging Face's BertModel:
 * {@code base_model.model.encoder.layer.0.attention.self.query.lora_A.weight}), so PEFT puts it on the
 * pretrained encoder the folder came from (sentence-transformers/all-MiniLM-L6-v2 for MiniLM); beside it, in
 * {@value #HEAD_FILE}, the classifier head (PEFT's modules_to_save), its pooling and its class names.
 */
public final class BertAdapter {
    public static final String HEAD_FILE = "classifier.safetensors";

    /** A classifier read back: the model (adapters unmerged) and its class names. */
    public record Loaded(BertClassifier model, List<String> classes) {}

    private BertAdapter() {}

    /** Writes the adapters of {@code model} (LoRA injected by {@code config}, unmerged) and its head into {@code dir}. */
    public static void save(Path dir, BertClassifier model, Lora.Config config, String baseModel, List<String> classes) throws IOException {
        Map<String, PeftAdapter.Lora> modules = new LinkedHashMap<>();
        model.namedModules().forEach((path, m) -> {
            if (!(m instanceof LoraLinear l)) return;
            if (l.merged()) throw new IllegalStateException(path + ": the adapter is merged into its base; save it before merging");
            if (!path.startsWith("bert.")) throw new IllegalStateException(path + ": an adapter outside the encoder");
            modules.put(path.substring("bert.".length()), new PeftAdapter.Lora(l.loraA().value(), l.loraB().value(), l.magnitude() == null ? null : l.magnitude().value()));
        });
        if (modules.isEmpty()) throw new IllegalStateException("the model has no LoRA adapter");
        if (classes.size() != model.namedParameters().get("classifier.bias").numel()) {
            throw new IllegalArgumentException(classes.size() + " class names for a head of " + model.namedParameters().get("classifier.bias").numel() + " classes");
        }
        PeftAdapter.save(dir, new PeftAdapter.Config(config.r(), config.alpha(), config.dropout(), config.targetModules(), config.rsLora(), baseModel, config.useDora()),
                modules);
        Map<String, Tensor> head = new LinkedHashMap<>();
        head.put("classifier.weight", model.namedParameters().get("classifier.weight").value());
        head.put("classifier.bias", model.namedParameters().get("classifier.bias").value());
        Safetensors.write(dir.resolve(HEAD_FILE), head, Map.of("pooling", model.pooling().name().toLowerCase(), "classes", String.join("\n", classes)));
    }

    /** The encoder in {@code modelDir} with the adapter and head in {@code adapterDir}, in {@code arena}. */
    public static Loaded load(Arena arena, Path modelDir, Path adapterDir) throws IOException {
        if (!Files.isDirectory(adapterDir)) throw new IOException(adapterDir + ": no such folder (an adapter folder holds adapter_config.json, its weights and " + HEAD_FILE + ")");
        if (!Files.isRegularFile(adapterDir.resolve(HEAD_FILE))) throw new IOException(adapterDir + ": no " + HEAD_FILE + " (the classifier head tune4j saves beside the adapter)");
        try (PeftAdapter.Loaded peft = PeftAdapter.load(adapterDir); Safetensors.File head = Safetensors.read(adapterDir.resolve(HEAD_FILE))) {
            String pooling = head.metadata().getOrDefault("pooling", "");
            List<String> classes = List.of(head.metadata().getOrDefault("classes", "").split("\n"));
            Tensor w = head.get("classifier.weight");
            if (w.rank() != 2 || w.dim(0) != classes.size()) throw new IOException(adapterDir.resolve(HEAD_FILE) + ": a head of " + w + " for classes " + classes);
            BertClassifier.Pooling p;
            try {
                p = BertClassifier.Pooling.valueOf(pooling.toUpperCase());
            } catch (IllegalArgumentException e) {
                throw new IOException(adapterDir.resolve(HEAD_FILE) + ": pooling '" + pooling + "' is not mean or cls");
            }
            BertClassifier model = new BertClassifier(arena, BertCheckpoint.load(arena, modelDir), p, classes.size(), new SplittableRandom(0));
            inject(arena, model, "bert.", peft, adapterDir);
            Map<String, Parameter> params = model.namedParameters();
            Checkpoint.copy(adapterDir, "classifier.weight", w, params.get("classifier.weight").value());
            Checkpoint.copy(adapterDir, "classifier.bias", head.get("classifier.bias"), params.get("classifier.bias").value());
            model.train(false);
            return new Loaded(model, classes);
        }
    }

    /** The encoder in {@code modelDir} with the PEFT adapter in {@code adapterDir} on it (unmerged; a head beside it is not read), in {@code arena}. */
    public static org.tune4j.nn.BertModel loadEncoder(Arena arena, Path modelDir, Path adapterDir) throws IOException {
        try (PeftAdapter.Loaded peft = PeftAdapter.load(adapterDir)) {
            org.tune4j.nn.BertModel model = BertCheckpoint.load(arena, modelDir);
            inject(arena, model, "", peft, adapterDir);
            model.train(false);
            return model;
        }
    }

    /** LoRA (or DoRA) on exactly the modules {@code peft} adapts, each at {@code prefix} + its encoder path under {@code root}, its factors copied in. */
    private static void inject(Arena arena, org.tune4j.nn.Module root, String prefix, PeftAdapter.Loaded peft, Path adapterDir) throws IOException {
        PeftAdapter.Config c = peft.config();
        List<String> targets = new ArrayList<>();
        peft.modules().keySet().forEach(m -> targets.add(prefix + m)); // exactly the adapted modules, by whole path
        Lora.inject(root, arena, new Lora.Config(c.r(), c.alpha(), 0f, c.useRslora(), targets, List.of()).withVariant(false, c.useDora()), new SplittableRandom(0));
        Map<String, Parameter> params = root.namedParameters();
        for (Map.Entry<String, PeftAdapter.Lora> e : peft.modules().entrySet()) {
            String at = prefix + e.getKey();
            if (!params.containsKey(at + ".lora_A")) throw new IOException(adapterDir + ": the adapter names module '" + e.getKey() + "', which the encoder does not have as a linear layer");
            Checkpoint.copy(adapterDir, at + ".lora_A", e.getValue().a(), params.get(at + ".lora_A").value());
            Checkpoint.copy(adapterDir, at + ".lora_B", e.getValue().b(), params.get(at + ".lora_B").value());
            if (e.getValue().magnitude() != null) Checkpoint.copy(adapterDir, at + ".lora_magnitude_vector", e.getValue().magnitude(), params.get(at + ".lora_magnitude_vector").value());
        }
    }
}
