package org.tune4j.cli;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Workspace;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.TextTokenizer;
import org.tune4j.data.TokenBatch;
import org.tune4j.eval.Evaluate;
import org.tune4j.io.BertAdapter;
import org.tune4j.io.HfCheckpoint;
import org.tune4j.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Mixin;

/** {@code tune4j classify}: a fine-tuned text classifier (an encoder folder and the adapter finetune saved) on texts. */
@Command(name = "classify", mixinStandardHelpOptions = true,
        description = "Classify texts with a BERT folder and a LoRA adapter with its head (tune4j finetune --out DIR writes DIR/adapter-lora): one line per text.")
final class ClassifyCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "The encoder's Hugging Face folder (finetune imports minilm into ~/.cache/tune4j/models/minilm, bge-small beside it).")
    Path model;

    @Option(names = "--adapter", required = true, paramLabel = "DIR", description = "The adapter folder (adapter_config.json, adapter_model.safetensors, classifier.safetensors).")
    Path adapter;

    @Option(names = "--max-length", defaultValue = "256", paramLabel = "N", description = "Tokens kept per text (default: ${DEFAULT-VALUE}).")
    int maxLength;

    @Mixin
    TextInput input;

    @Override
    public Integer call() throws Exception {
        OptionChecks.atLeast("--max-length", maxLength, 2);
        List<String> all = input.read();
        try (Arena arena = Arena.ofShared(); TextTokenizer tok = TextTokenizer.load(model.resolve(HfCheckpoint.TOKENIZER), maxLength);
                Workspace ws = new Workspace()) {
            BertAdapter.Loaded c = BertAdapter.load(arena, model, adapter);
            c.model().bert().packProjections(arena); // the projections without an adapter, packed once for the GEMM
            for (int from = 0; from < all.size(); from += 32) {
                List<String> chunk = all.subList(from, Math.min(all.size(), from + 32));
                try (Arena step = Arena.ofConfined(); Tape t = new Tape(CpuBackend.get(), false, false, ws)) {
                    TokenBatch in = tok.encode(step, chunk);
                    Tensor logits = c.model().logits(t, in).value(), probs = t.zeros(logits.shape());
                    CpuBackend.get().softmaxForward(logits, probs);
                    int[] best = new int[in.batch()];
                    Evaluate.argmaxRows(logits, in.batch(), best, 0);
                    for (int b = 0; b < in.batch(); b++) {
                        String text = chunk.get(b).replaceAll("\\s+", " ");
                        System.out.printf(Locale.ROOT, "%s\t%.4f\t%s%n", c.classes().get(best[b]), probs.getFloat(b, best[b]),
                                text.length() > 60 ? text.substring(0, 57) + "..." : text);
                    }
                }
            }
        }
        return 0;
    }
}
