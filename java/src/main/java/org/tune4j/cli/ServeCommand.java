package org.tune4j.cli;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.tune4j.data.TextTokenizer;
import org.tune4j.io.BertCheckpoint;
import org.tune4j.io.HfCheckpoint;
import org.tune4j.io.PeftAdapter;
import org.tune4j.nn.BertModel;
import org.tune4j.serve.AdapterPredictor;
import org.tune4j.serve.AdapterRegistry;
import org.tune4j.server.InferenceServer;
import org.tune4j.server.KernelThreads;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code tune4j serve MODEL --adapters DIR}: the encoder and its LoRA adapters over HTTP (KServe v2), until stopped. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Serve a BERT-family encoder and many LoRA adapters over HTTP, speaking the Open Inference Protocol (KServe v2):",
                "POST /v2/models/ADAPTER/infer classifies or embeds, requests for different adapters batched together;",
                "adapters load and unload live (POST /v2/repository/models/ADAPTER/load|unload); /v2/health/ready, /metrics.",
                "Ctrl-C stops it after answering every accepted request."})
final class ServeCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MODEL", converter = TextModelOption.Folder.class,
            description = "The encoder: minilm or bge-small (imported once into ~/.cache/tune4j/models, as finetune does), or a Hugging Face folder (config.json, model.safetensors, tokenizer.json).")
    Path model;

    @Option(names = "--adapters", paramLabel = "DIR", description = "A folder of PEFT adapter folders: each is loaded at start under its folder's name, and load requests read from it.")
    Path adapters;

    @Option(names = "--skip-bad-adapters", description = "Start even when an adapter of --adapters cannot be loaded: it is named on stderr and listed UNAVAILABLE, "
            + "with why, in the repository index (default: such an adapter stops the start, naming it).")
    boolean skipBadAdapters;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "The address to listen on (default: ${DEFAULT-VALUE}; 0.0.0.0 for every interface).")
    String host;

    @Option(names = "--port", defaultValue = "8080", description = "The port (default: ${DEFAULT-VALUE}; 0 picks a free one).")
    int port;

    @Option(names = "--max-batch", defaultValue = "32", paramLabel = "N", description = "Texts per batch (default: ${DEFAULT-VALUE}). A batch's latency grows with it and with --max-length; --max-length 128 bounds it.")
    int maxBatch;

    @Option(names = "--window-ms", defaultValue = "5", paramLabel = "MS", description = "How long a request waits for others to batch with (default: ${DEFAULT-VALUE}).")
    long windowMs;

    @Option(names = "--queue", defaultValue = "256", paramLabel = "N", description = "Requests that may wait; beyond, 429 (default: ${DEFAULT-VALUE}).")
    int queue;

    @Option(names = "--workers", defaultValue = "1", paramLabel = "N", description = "Batches run at a time (default: ${DEFAULT-VALUE}; each uses every kernel thread).")
    int workers;

    @Option(names = "--threads", paramLabel = "N", description = "Kernel threads for a full batch, or one with requests waiting behind it (default: every core but one, which "
            + "the request path keeps: HTTP, JSON; BENCHMARKS.md, \"Many adapters\", measures the trade).")
    Integer threads;

    @Option(names = "--idle-threads", paramLabel = "N", description = "Kernel threads for a batch below that (default: every core with one worker, else as --threads; "
            + "arrivals are fewer than a batch holds then, and a lone request or a short backlog is answered sooner).")
    Integer idleThreads;

    @Option(names = "--adapter-budget-mb", defaultValue = "2048", paramLabel = "MB", description = "Memory for resident adapters; the least recently used are evicted beyond it (default: ${DEFAULT-VALUE}).")
    long budgetMb;

    @Option(names = "--adapter-reserve-mb", defaultValue = "64", paramLabel = "MB", description = "Of the budget, memory for adapters' files mapped at start, so that loads until it is "
            + "spent fault no pages in on the request path (default: ${DEFAULT-VALUE}, at most the budget; about 100 MiniLM rank-16 q,v adapters).")
    long reserveMb;

    @Mixin
    MaxLengthOption maxLengthOption;

    @Option(names = {"--base", "--weights"}, defaultValue = "f32", paramLabel = "FORMAT", description = "How the shared encoder is stored: f32, int8, 2:4 or int8-2:4 (default: ${DEFAULT-VALUE}; compressed bases run on the CPU).")
    String base;

    @Mixin
    DeviceOption device;

    @Override
    public Integer call() throws Exception {
        int tokens = maxLengthOption.tokens();
        OptionChecks.atLeast("--adapter-budget-mb", budgetMb, 1);
        OptionChecks.atLeast("--adapter-reserve-mb", reserveMb, 0);
        if (adapters != null && !Files.isDirectory(adapters)) throw new IllegalArgumentException("--adapters: " + adapters + " is not a folder");
        if (threads != null) OptionChecks.atLeast("--threads", threads, 1);
        if (idleThreads != null) OptionChecks.atLeast("--idle-threads", idleThreads, 1);
        var format = WeightsOption.format("--base", base, device);
        KernelThreads serving = KernelThreads.serving(workers);
        KernelThreads kernelThreads = new KernelThreads(threads != null ? threads : serving.busy(), idleThreads != null ? idleThreads : serving.idle());
        org.tune4j.backend.CpuBackend.setThreads(kernelThreads.most());
        var options = new InferenceServer.Options(host, port, maxBatch, Duration.ofMillis(windowMs), queue, workers, maxBatch, 100_000, Duration.ofSeconds(60))
                .withKernelThreads(kernelThreads);
        CountDownLatch stopped = new CountDownLatch(1);
        org.tune4j.io.SentencePipeline pipeline = org.tune4j.io.SentencePipeline.readOrDefault(model); // the base's pooling, and embeddings' normalization by default
        try (Arena arena = Arena.ofShared(); DeviceOption.Compute compute = device.open()) {
            BertModel bert = BertCheckpoint.load(arena, model);
            int length = org.tune4j.io.SentencePipeline.tokensKept(model, tokens, bert.config().maxPositions());
            if (format != null) {
                double error = bert.compressProjections(arena, compute.backend(), format);
                System.out.printf(java.util.Locale.ROOT, "encoder projections stored as %s (worst relative weight error %.4f)%n", base, error);
            }
            bert = compute.place(bert);
            if (base.equals("f32") && compute.backend().memory().equals(org.tune4j.tensor.Memory.HOST)) bert.packProjections(arena); // packed once for the CPU GEMM
            try (TextTokenizer tok = TextTokenizer.load(model.resolve(HfCheckpoint.TOKENIZER), length, bert.config().vocabSize());
                    AdapterRegistry registry = new AdapterRegistry(bert, budgetMb << 20, compute.backend().memory(), Math.min(reserveMb, budgetMb) << 20);
                    AdapterPredictor predictor = new AdapterPredictor(compute.backend(), bert, tok, registry, workers, pipeline)) {
                Map<String, String> failed = new TreeMap<>();
                if (adapters != null) {
                    try (var dirs = Files.list(adapters)) {
                        for (Path d : dirs.sorted().toList()) {
                            if (!Files.isRegularFile(d.resolve(PeftAdapter.CONFIG_FILE))) continue;
                            String id = d.getFileName().toString();
                            try {
                                registry.load(id, d);
                                System.out.println("adapter " + id + ": loaded");
                            } catch (IOException | IllegalArgumentException e) {
                                if (!skipBadAdapters) throw new IOException(e.getMessage() + " (--skip-bad-adapters starts without it)", e);
                                failed.put(id, e.getMessage());
                                System.err.println("adapter " + id + ": not loaded: " + e.getMessage());
                            }
                        }
                    }
                }
                InferenceServer server = new InferenceServer(predictor, adapters, options);
                failed.forEach(server::loadFailed);
                Thread hook = new Thread(() -> {
                    server.close();
                    stopped.countDown();
                });
                Runtime.getRuntime().addShutdownHook(hook);
                System.out.println("serving " + model.getFileName() + " with " + registry.size() + " adapters (" + (registry.bytes() >> 20) + " MiB) on http://" + host + ":"
                        + server.port() + "/v2 (Ctrl-C stops); embeddings: " + pipeline.pooling().name().toLowerCase(java.util.Locale.ROOT) + " pooling"
                        + (pipeline.normalize() ? ", unit length" : "") + " unless an adapter's head pools otherwise; " + length + " tokens a text"
                        + (compute.backend().memory().isHost() ? "; kernel threads " + kernelThreads.busy() + " for a full batch, " + kernelThreads.idle() + " below" : ""));
                stopped.await();
            }
        }
        return 0;
    }
}
