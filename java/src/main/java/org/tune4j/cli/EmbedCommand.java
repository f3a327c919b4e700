package org.tune4j.cli;

import org.tune4j.autograd.SequenceOps;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.autograd.Workspace;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.TextTokenizer;
import org.tune4j.data.TokenBatch;
import org.tune4j.io.BertCheckpoint;
import org.tune4j.io.HfCheckpoint;
import org.tune4j.nn.BertModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Mixin;

/** {@code tune4j embed}: sentence embeddings from a BERT checkpoint folder, one line of numbers per text. */
@Command(name = "embed", mixinStandardHelpOptions = true,
        description = "Sentence embeddings of texts with a BERT in a Hugging Face folder (tune4j import makes one): one line of numbers per text.")
final class EmbedCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "The checkpoint folder (config.json, model.safetensors, tokenizer.json).")
    Path model;

    @Option(names = "--pooling", defaultValue = "mean", paramLabel = "MODE", description = "mean (sentence-transformers) or cls (default: ${DEFAULT-VALUE}).")
    String pooling;

    @Option(names = "--max-length", defaultValue = "256", paramLabel = "N", description = "Tokens kept per text, [CLS] and [SEP] included (default: ${DEFAULT-VALUE}).")
    int maxLength;

    @Option(names = "--no-normalize", description = "Keep the pooled vector's length (default: unit length, as all-MiniLM-L6-v2's Normalize).")
    boolean noNormalize;

    @Option(names = "--batch", defaultValue = "32", paramLabel = "N", description = "Texts per forward pass (default: ${DEFAULT-VALUE}).")
    int batch;

    @Mixin
    TextInput input;

    @Override
    public Integer call() throws Exception {
        if (!pooling.equals("mean") && !pooling.equals("cls")) throw new IllegalArgumentException("--pooling must be mean or cls, is '" + pooling + "'");
        OptionChecks.atLeast("--max-length", maxLength, 2);
        OptionChecks.atLeast("--batch", batch, 1);
        List<String> all = input.read();
        try (Arena arena = Arena.ofShared(); TextTokenizer tok = TextTokenizer.load(model.resolve(HfCheckpoint.TOKENIZER), maxLength);
                Workspace workspace = new Workspace()) {
            BertModel bert = BertCheckpoint.load(arena, model);
            bert.packProjections(arena); // inference only: the weights packed once for the GEMM
            if (maxLength > bert.config().maxPositions()) {
                throw new IllegalArgumentException("--max-length " + maxLength + " exceeds the model's " + bert.config().maxPositions() + " positions");
            }
            StringBuilder line = new StringBuilder();
            for (int from = 0; from < all.size(); from += batch) {
                try (Arena step = Arena.ofConfined(); Tape t = new Tape(CpuBackend.get(), false, false, workspace)) {
                    TokenBatch in = tok.encode(step, all.subList(from, Math.min(all.size(), from + batch)));
                    Var hidden = bert.forward(t, in);
                    Var pooled = pooling.equals("mean") ? SequenceOps.meanPool(t, hidden, in.lengths(), in.batch()) : t.everyNthRow(hidden, in.seq(), 0);
                    float[] v = pooled.value().toFloatArray();
                    int d = (int) pooled.value().dim(1);
                    for (int b = 0; b < in.batch(); b++) {
                        double norm = 0;
                        for (int c = 0; c < d; c++) norm += (double) v[b * d + c] * v[b * d + c];
                        double scale = noNormalize || norm == 0 ? 1 : 1 / Math.sqrt(norm);
                        line.setLength(0);
                        for (int c = 0; c < d; c++) line.append(c == 0 ? "" : " ").append(String.format(Locale.ROOT, "%.6f", v[b * d + c] * scale));
                        System.out.println(line);
                    }
                }
            }
        }
        return 0;
    }
}
