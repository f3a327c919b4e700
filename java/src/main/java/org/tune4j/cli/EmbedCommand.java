package org.tune4j.cli;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.tune4j.io.SentencePipeline;
import org.tune4j.nn.BertClassifier;
import org.tune4j.serve.SentenceEncoder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Mixin;

/**
 * {@code tune4j embed}: sentence embeddings from a BERT checkpoint folder ({@link SentenceEncoder}), one line of numbers per
 * text, pooled and normalized as the folder's sentence-transformers modules say ({@link SentencePipeline}) unless the
 * options say otherwise.
 */
@Command(name = "embed", mixinStandardHelpOptions = true,
        description = "Sentence embeddings of texts with a BERT in a Hugging Face folder (tune4j import makes one): one line of numbers per text.")
final class EmbedCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "NAME|DIR", converter = TextModelOption.Folder.class,
            description = "minilm or bge-small (imported once into ~/.cache/tune4j/models, as finetune does), or a Hugging Face folder (config.json, model.safetensors, tokenizer.json)."
    )
    Path model;

    @Option(names = "--pooling", paramLabel = "MODE", description = "mean or cls (default: the folder's modules.json, as sentence-transformers reads it; mean without one).")
    String pooling;

    @Mixin
    MaxLengthOption maxLengthOption;

    @Option(names = "--no-normalize", description = "Keep the pooled vector's length (default: unit length when the folder's modules.json has a Normalize, "
            + "as all-MiniLM-L6-v2's and BGE's do, or has no modules.json).")
    boolean noNormalize;

    @Mixin
    BatchOption batchOption;

    @Mixin
    TextInput input;

    @Mixin
    DeviceOption device;

    @Mixin
    WeightsOption weights;

    @Override
    public Integer call() throws Exception {
        if (pooling != null && !pooling.equals("mean") && !pooling.equals("cls")) throw new IllegalArgumentException("--pooling must be mean or cls, is '" + pooling + "'");
        int tokens = maxLengthOption.tokens();
        int batch = batchOption.texts();
        var format = weights.format(device);
        input.check();
        SentencePipeline folder = SentencePipeline.readOrDefault(model);
        SentencePipeline pipeline = new SentencePipeline(pooling == null ? folder.pooling() : BertClassifier.Pooling.valueOf(pooling.toUpperCase(Locale.ROOT)),
                folder.normalize() && !noNormalize);
        StringBuilder line = new StringBuilder();
        try (DeviceOption.Compute compute = device.open();
                SentenceEncoder encoder = SentenceEncoder.open(compute.backend(), model, new SentenceEncoder.Options(pipeline, tokens, batch, 1, format));
                TextProgress progress = TextProgress.start("embed", input)) {
            weights.report(encoder.weightError());
            // texts sorted by length within a chunk, printed a chunk at a time
            input.forEachChunk(Math.max(batch, 1024), part -> {
                for (float[] v : encoder.encode(part)) {
                    line.setLength(0);
                    for (int c = 0; c < v.length; c++) line.append(c == 0 ? "" : " ").append(String.format(Locale.ROOT, "%.6f", v[c]));
                    System.out.println(line);
                }
                progress.done(part.size());
            });
        }
        return 0;
    }
}
