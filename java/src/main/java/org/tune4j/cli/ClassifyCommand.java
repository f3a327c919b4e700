package org.tune4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.tune4j.serve.TextClassifier;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code tune4j classify}: a fine-tuned text classifier (an encoder folder and the adapter finetune saved) on texts ({@link TextClassifier}). */
@Command(name = "classify", mixinStandardHelpOptions = true,
        description = "Classify texts with a BERT folder and a LoRA adapter with its head (tune4j finetune --out DIR writes DIR/adapter-lora): one line per text "
                + "(label, probability, the text's start; --json: a JSON object).")
final class ClassifyCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Option(names = "--model", paramLabel = "NAME|DIR", converter = TextModelOption.Folder.class,
            description = "The encoder the adapter was trained on: minilm or bge-small (imported once into ~/.cache/tune4j/models, as finetune does), or its Hugging Face folder "
                    + "(default: the base model the adapter's adapter_config.json names).")
    Path model;

    @Option(names = "--adapter", required = true, paramLabel = "DIR", description = "The adapter folder (adapter_config.json, adapter_model.safetensors, classifier.safetensors).")
    Path adapter;

    @Mixin
    MaxLengthOption maxLengthOption;

    @Mixin
    BatchOption batchOption;

    @Option(names = "--json", description = "One JSON object a text instead (JSON Lines): its label, probability and every class's probability, "
            + "for a program to read.")
    boolean json;

    @Mixin
    TextInput input;

    @Mixin
    DeviceOption device;

    @Mixin
    WeightsOption weights;

    @Override
    public Integer call() throws Exception {
        int tokens = maxLengthOption.tokens();
        int batch = batchOption.texts();
        var format = weights.format(device);
        input.check();
        if (model == null) model = TextModelOption.baseOf(adapter);
        try (DeviceOption.Compute compute = device.open();
                TextClassifier classifier = TextClassifier.open(compute.backend(), model, adapter, new TextClassifier.Options(tokens, batch, 1, format));
                TextProgress progress = TextProgress.start("classify", input)) {
            weights.report(classifier.weightError());
            // texts sorted by length within a chunk, printed a chunk at a time
            input.forEachChunk(Math.max(batch, 1024), part -> {
                List<TextClassifier.Prediction> predicted = classifier.classify(part);
                for (int i = 0; i < part.size(); i++) {
                    TextClassifier.Prediction p = predicted.get(i);
                    if (json) {
                        ObjectNode line = JSON.createObjectNode().put("label", p.label()).put("probability", p.probability());
                        ObjectNode all = line.putObject("probabilities");
                        for (int c = 0; c < p.probabilities().length; c++) all.put(classifier.classes().get(c), p.probabilities()[c]);
                        System.out.println(JSON.writeValueAsString(line));
                        continue;
                    }
                    String text = part.get(i).replaceAll("\\s+", " ");
                    System.out.printf(Locale.ROOT, "%s\t%.4f\t%s%n", p.label(), p.probability(), text.length() > 60 ? text.substring(0, 57) + "..." : text);
                }
                progress.done(part.size());
            });
        }
        return 0;
    }
}
