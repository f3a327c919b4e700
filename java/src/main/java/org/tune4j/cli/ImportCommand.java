package org.tune4j.cli;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.tune4j.io.OnnxImport;
import org.tune4j.io.PretrainedModels;
import org.tune4j.nn.BertConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code tune4j import}: a BERT in ONNX (a file, or langchain4j's all-MiniLM-L6-v2 jar) → a Hugging Face checkpoint folder. */
@Command(name = "import", mixinStandardHelpOptions = true,
        description = "Import a BERT exported to ONNX into a Hugging Face checkpoint folder (config.json, model.safetensors, tokenizer.json).")
final class ImportCommand implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "NAME",
            description = "minilm (all-MiniLM-L6-v2) or bge-small (BGE-small-en-v1.5), from langchain4j's jar in the local Maven repository (or --jar).")
    String model;

    @Option(names = "--jar", paramLabel = "FILE", description = "With --model: the model's langchain4j-embeddings jar.")
    Path jar;

    @Option(names = "--onnx", paramLabel = "FILE", description = "A BERT exported to ONNX by Hugging Face's exporter (instead of --model).")
    Path onnx;

    @Option(names = "--tokenizer", paramLabel = "FILE", description = "With --onnx: the model's tokenizer.json.")
    Path tokenizer;

    @Option(names = "--heads", paramLabel = "N", defaultValue = "12", description = "Attention heads (the graph does not record them; default: ${DEFAULT-VALUE}).")
    int heads;

    @Option(names = "--layer-norm-eps", paramLabel = "EPS", defaultValue = "1e-12", description = "LayerNorm eps (default: ${DEFAULT-VALUE}).")
    float eps;

    @Option(names = "--hidden-act", paramLabel = "ACT", defaultValue = "gelu", description = "gelu (erf), gelu_new or gelu_pytorch_tanh (default: ${DEFAULT-VALUE}).")
    String act;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "The checkpoint folder to write.")
    Path out;

    @Override
    public Integer call() throws Exception {
        if ((model == null) == (onnx == null)) throw new IllegalArgumentException("give --model or --onnx (one of them)");
        PretrainedModels.Known known = model == null ? null : PretrainedModels.Known.of(model);
        if (model != null && known == null) throw new IllegalArgumentException("--model must be minilm or bge-small, is '" + model + "' (or give --onnx)");
        OptionChecks.readableFile("--onnx", onnx);
        OptionChecks.readableFile("--tokenizer", tokenizer);
        OptionChecks.readableFile("--jar", jar);
        OptionChecks.atLeast("--heads", heads, 1);
        OptionChecks.positive("--layer-norm-eps", eps);
        OptionChecks.writableDirectory("--out", out);
        if (known != null) {
            Path from = jar != null ? jar : known.localJar();
            BertConfig c = PretrainedModels.importKnown(known, from, out);
            System.out.printf("imported %s (%s): BERT, %d layers of %d, %d heads -> %s%n", known.name, from.getFileName(), c.layers(), c.hidden(), c.heads(), out);
            return 0;
        }
        BertConfig config;
        try (Arena arena = Arena.ofConfined()) {
            config = OnnxImport.inferConfig(onnx, OnnxImport.bertTensors(arena, onnx), heads, eps, act);
        }
        OnnxImport.toHuggingFace(onnx, config, tokenizer, out);
        System.out.printf("imported %s: BERT, %d layers of %d, %d heads, FFN %d, vocabulary %d -> %s%n", onnx, config.layers(), config.hidden(), config.heads(),
                config.intermediate(), config.vocabSize(), out);
        return 0;
    }
}
