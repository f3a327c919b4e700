package org.tune4j.cli;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.tune4j.backend.CpuBackend;
import org.tune4j.io.BertAdapter;
import org.tune4j.io.BertCheckpoint;
import org.tune4j.io.HfCheckpoint;
import org.tune4j.io.SentencePipeline;
import org.tune4j.nn.BertModel;
import org.tune4j.nn.Lora;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code tune4j merge}: an encoder folder with a PEFT LoRA (or DoRA) adapter folded into its weights, written as a plain
 * Hugging Face folder (PEFT's merge_and_unload): what transformers, sentence-transformers or ONNX Runtime load without
 * an adapter. The tokenizer and the sentence-transformers modules come along; a classifier head beside the adapter does not.
 */
@Command(name = "merge", mixinStandardHelpOptions = true,
        description = "Fold a LoRA adapter into its encoder and write the result as a Hugging Face folder (config.json, model.safetensors, the tokenizer), "
                + "as PEFT's merge_and_unload: for tools that take no adapter.")
final class MergeCommand implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "NAME|DIR", converter = TextModelOption.Folder.class,
            description = "The encoder the adapter was trained on: minilm or bge-small (imported once into ~/.cache/tune4j/models, as finetune does), or its Hugging Face folder "
                    + "(default: the base model the adapter's adapter_config.json names).")
    Path model;

    @Option(names = "--adapter", required = true, paramLabel = "DIR", description = "The PEFT adapter folder (adapter_config.json, adapter_model.safetensors).")
    Path adapter;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "The folder to write (not the model's own).")
    Path out;

    @Override
    public Integer call() throws Exception {
        OptionChecks.writableDirectory("--out", out);
        if (model == null) model = TextModelOption.baseOf(adapter);
        if (Files.exists(out) && Files.isSameFile(out, model)) throw new IllegalArgumentException("--out " + out + " is the model's own folder: give another");
        try (Arena arena = Arena.ofConfined()) {
            BertModel bert = BertAdapter.loadEncoder(arena, model, adapter);
            int merged = Lora.fold(bert, CpuBackend.get());
            BertCheckpoint.save(out, bert, model);
            var pipeline = SentencePipeline.read(model);
            if (pipeline.isPresent()) pipeline.get().write(out, bert.config().hidden());
            System.out.printf("merged the adapter into %d projections of %s -> %s (%s%s)%n", merged, model, out, HfCheckpoint.WEIGHTS,
                    pipeline.isPresent() ? ", the sentence-transformers modules" : "");
            if (Files.isRegularFile(adapter.resolve(BertAdapter.HEAD_FILE))) {
                System.out.println("the classifier head (" + adapter.resolve(BertAdapter.HEAD_FILE) + ") is not part of the encoder: it stays with the adapter");
            }
        }
        return 0;
    }
}
