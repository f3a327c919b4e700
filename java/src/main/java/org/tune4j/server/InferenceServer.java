package org.tune4j.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.helidon.http.HeaderNames;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.tune4j.io.PeftAdapter;
import org.tune4j.serve.AdapterPredictor;
import org.tune4j.serve.AdapterRegistry;

/**
 * {@code tune4j serve}: one encoder and its many adapters behind the Open Inference Protocol (KServe v2, REST), on
 * Helidon SE's web server (ARCHITECTURE.md "Many adapters"). Each adapter is a model ({@code POST
 * /v2/models/{adapter}/infer}); the base encoder alone is the model {@value #BASE}. Requests are batched across
 * adapters ({@link RequestBatcher}); a full queue answers 429, a server shutting down 503; bad JSON, wrong shapes or an
 * unknown adapter get a 4xx naming the problem; adapters are loaded and unloaded live through the model repository
 * extension ({@code POST /v2/repository/models/{adapter}/load}, from the adapters folder only), and a request for an
 * adapter that is in the adapters folder but not resident (evicted by the budget) loads it first. Health at
 * {@code /v2/health/live} and {@code /v2/health/ready}, Prometheus metrics at {@code /metrics}; OpenAI's embeddings
 * API at {@code /v1/embeddings} ({@link OpenAiEmbeddings}) on the same queue. {@link #close} answers every accepted
 * request before it stops.
 */
public final class InferenceServer implements AutoCloseable {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(InferenceServer.class);
    /** The model name of the base encoder without an adapter (embed only). */
    public static final String BASE = "base";

    /** How the server batches and bounds its work. */
    public record Options(String host, int port, int maxBatch, Duration window, int queue, int workers, int maxTextsPerRequest, int maxChars, Duration requestTimeout,
            long maxQueuedChars, KernelThreads kernelThreads) {
        /** As the canonical form, the texts' characters that may wait in the queue at {@link #defaultQueuedChars}, the process's kernel threads. */
        public Options(String host, int port, int maxBatch, Duration window, int queue, int workers, int maxTextsPerRequest, int maxChars, Duration requestTimeout) {
            this(host, port, maxBatch, window, queue, workers, maxTextsPerRequest, maxChars, requestTimeout, defaultQueuedChars(maxTextsPerRequest, maxChars));
        }

        /** As the canonical form, every batch on the process's kernel threads. */
        public Options(String host, int port, int maxBatch, Duration window, int queue, int workers, int maxTextsPerRequest, int maxChars, Duration requestTimeout,
                long maxQueuedChars) {
            this(host, port, maxBatch, window, queue, workers, maxTextsPerRequest, maxChars, requestTimeout, maxQueuedChars, KernelThreads.PROCESS);
        }

        /** These options with the batches' kernel threads chosen by {@code threads}. */
        public Options withKernelThreads(KernelThreads threads) {
            return new Options(host, port, maxBatch, window, queue, workers, maxTextsPerRequest, maxChars, requestTimeout, maxQueuedChars, threads);
        }

        public Options {
            if (port < 0 || port > 65535) throw new IllegalArgumentException("port must be in [0, 65535], is " + port);
            if (maxBatch < 1 || maxBatch > 4096) throw new IllegalArgumentException("max batch must be in [1, 4096], is " + maxBatch);
            if (window.isNegative() || window.toMillis() > 10_000) throw new IllegalArgumentException("the batching window must be in [0, 10 s], is " + window);
            if (queue < 1) throw new IllegalArgumentException("the queue must hold at least 1 request, is " + queue);
            if (workers < 1 || workers > 64) throw new IllegalArgumentException("workers must be in [1, 64], is " + workers);
            if (maxTextsPerRequest < 1 || maxTextsPerRequest > maxBatch) {
                throw new IllegalArgumentException("texts per request must be in [1, max batch " + maxBatch + "], is " + maxTextsPerRequest);
            }
            if (maxQueuedChars < (long) maxTextsPerRequest * maxChars) {
                throw new IllegalArgumentException("the queue's characters must hold one request of " + maxTextsPerRequest + " texts of " + maxChars
                        + " characters (" + (long) maxTextsPerRequest * maxChars + "), are " + maxQueuedChars);
            }
            if (kernelThreads == null) throw new IllegalArgumentException("kernel threads must be given (KernelThreads.PROCESS: the process's)");
        }

        /**
         * Characters of queued texts (accepted, not yet answered) that may take an eighth of the Java heap (a quarter at
         * two bytes a character), or one request at its largest where that is more: a queue counted in requests alone
         * let {@code --queue} requests of {@code --max-batch} texts of {@code maxChars} characters outgrow the heap.
         */
        public static long defaultQueuedChars(int maxTextsPerRequest, int maxChars) {
            return Math.max((long) maxTextsPerRequest * maxChars, Runtime.getRuntime().maxMemory() / 8);
        }

        /** Loopback, a port the system picks, batches of 32 within 5 ms, 256 queued requests, one worker. */
        public static Options defaults() {
            return new Options("127.0.0.1", 0, 32, Duration.ofMillis(5), 256, 1, 32, 100_000, Duration.ofSeconds(60));
        }
    }

    private final AdapterPredictor predictor;
    private final AdapterRegistry registry;
    private final Path adaptersDir;
    private final Options options;
    private final ServerMetrics metrics;
    private final RequestBatcher batcher;
    private final WebServer server;
    private final ConcurrentHashMap<String, Object> loading = new ConcurrentHashMap<>(); // a lock per adapter loaded on demand
    private final ConcurrentHashMap<String, String> loadFailures = new ConcurrentHashMap<>(); // an adapter's last failed load, for the index
    private boolean closed;

    /** Starts serving; {@code adaptersDir} is where {@code load} finds adapters (null: none can be loaded over HTTP). */
    public InferenceServer(AdapterPredictor predictor, Path adaptersDir, Options options) {
        predictor.refuseBeyondMemory(options.maxBatch(), options.workers()); // before anything starts: a batch beyond it would end the process
        this.predictor = predictor;
        this.registry = predictor.registry();
        this.adaptersDir = adaptersDir;
        this.options = options;
        RequestBatcher[] b = new RequestBatcher[1];
        this.metrics = new ServerMetrics(() -> b[0] == null ? 0 : b[0].queued(), registry::size, registry::bytes);
        this.batcher = b[0] = new RequestBatcher(predictor, options.maxBatch(), options.window().toNanos() / 1000, options.queue(), options.maxQueuedChars(), options.workers(), options.kernelThreads(), metrics);
        try {
            this.server = WebServer.builder().host(options.host()).port(options.port()).shutdownHook(false).maxPayloadSize(4L << 20)
                    .shutdownGracePeriod(Duration.ofSeconds(5)).routing(this::routes).build().start();
        } catch (RuntimeException e) {
            batcher.close();
            throw e;
        }
    }

    public int port() {
        return server.port();
    }

    /**
     * Records that the adapter {@code name} of the adapters folder could not be loaded before the server started (tune4j
     * serve --skip-bad-adapters): the repository index lists it UNAVAILABLE with {@code reason} until a load succeeds.
     */
    public void loadFailed(String name, String reason) {
        loadFailures.put(name, reason);
    }

    /** Infer requests accepted into the batching queue since the start (429s and 503s are not). */
    public long acceptedRequests() {
        return batcher.accepted();
    }

    /** Accepted requests answered, with results or an error; after {@link #close} it equals {@link #acceptedRequests}. */
    public long answeredRequests() {
        return batcher.answered();
    }

    private void routes(HttpRouting.Builder r) {
        r.get("/v2", (req, res) -> json(res, 200, V2Protocol.JSON.createObjectNode().put("name", "tune4j").put("version", org.tune4j.report.Provenance.version())
                        .set("extensions", V2Protocol.JSON.createArrayNode().add("model_repository"))))
                .get("/v2/health/live", (req, res) -> json(res, 200, V2Protocol.JSON.createObjectNode().put("live", true)))
                .get("/v2/health/ready", (req, res) -> json(res, batcher.closing() ? 503 : 200, V2Protocol.JSON.createObjectNode().put("ready", !batcher.closing())))
                .get("/v2/models/{name}", this::metadata)
                .get("/v2/models/{name}/ready", (req, res) -> {
                    String name = req.path().pathParameters().get("name");
                    boolean ready = known(name) && !batcher.closing();
                    json(res, known(name) ? (ready ? 200 : 503) : 404, V2Protocol.JSON.createObjectNode().put("name", name).put("ready", ready));
                })
                .post("/v2/models/{name}/infer", this::infer)
                .post("/v1/embeddings", this::openAiEmbeddings)
                .get("/v1/models", (req, res) -> json(res, 200, OpenAiEmbeddings.models(BASE, registry.ids())))
                .post("/v2/repository/index", this::index)
                .post("/v2/repository/models/{name}/load", this::load)
                .post("/v2/repository/models/{name}/unload", (req, res) -> {
                    String name = req.path().pathParameters().get("name");
                    if (!registry.unload(name)) error(res, 404, "no adapter '" + name + "' is loaded");
                    else json(res, 200, V2Protocol.JSON.createObjectNode().put("name", name).put("state", "UNAVAILABLE"));
                })
                .get("/metrics", (req, res) -> {
                    res.header(HeaderNames.CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
                    res.send(metrics.scrape());
                });
    }

    private boolean known(String name) {
        return BASE.equals(name) || registry.contains(name);
    }

    private void metadata(ServerRequest req, ServerResponse res) {
        String name = req.path().pathParameters().get("name");
        if (!known(name)) {
            error(res, 404, "no adapter '" + name + "' is loaded");
            return;
        }
        ObjectNode m = V2Protocol.JSON.createObjectNode().put("name", name).put("platform", "tune4j");
        m.putArray("inputs").addObject().put("name", "text").put("datatype", "BYTES").putArray("shape").add(-1);
        ArrayNode outputs = m.putArray("outputs");
        outputs.addObject().put("name", "embedding").put("datatype", "FP32").putArray("shape").add(-1).add(-1);
        if (!BASE.equals(name) && registry.hasHead(name)) {
            outputs.addObject().put("name", "label").put("datatype", "BYTES").putArray("shape").add(-1);
            outputs.addObject().put("name", "probabilities").put("datatype", "FP32").putArray("shape").add(-1).add(-1);
        }
        json(res, 200, m);
    }

    private void infer(ServerRequest req, ServerResponse res) {
        answer(res, "unknown", (status, message) -> V2Protocol.error(message), call -> {
            String name = req.path().pathParameters().get("name");
            if (!known(name)) loadOnDemand(name);
            V2Protocol.InferRequest in = V2Protocol.parse(req.content().as(byte[].class), options.maxTextsPerRequest(), options.maxChars());
            String adapter = BASE.equals(name) ? null : name;
            V2Protocol.Task t = in.task() != null ? in.task() : adapter != null && registry.hasHead(adapter) ? V2Protocol.Task.CLASSIFY : V2Protocol.Task.EMBED;
            call.task = t.name().toLowerCase();
            if (t == V2Protocol.Task.CLASSIFY && (adapter == null || !registry.hasHead(adapter))) throw new V2Protocol.HttpError(400, "model '" + name + "' has no classifier head: ask for task embed");
            List<AdapterPredictor.Result> results = batched(res, adapter, in.texts());
            if (t == V2Protocol.Task.CLASSIFY && results.getFirst().probabilities() == null) {
                throw new V2Protocol.HttpError(409, "adapter '" + name + "' was replaced by one without a classifier head while the request waited");
            }
            boolean normalize = in.normalize() != null ? in.normalize() : predictor.pipeline().normalize();
            return V2Protocol.response(name, in.id(), t, normalize, results);
        });
    }

    /** A request's task, for the metrics: known once its body is read. */
    private static final class Call {
        String task;

        Call(String task) {
            this.task = task;
        }
    }

    /** What a protocol's handler computes: the 200 response's body, or an {@link V2Protocol.HttpError} with its status. */
    private interface Handler {
        byte[] body(Call call) throws InterruptedException;
    }

    /**
     * Every protocol's request, answered and counted the same way: 503 once closing; the handler's body with 200, or its
     * refusal's status with the protocol's error body ({@code errorBody}: status, message), 503 when interrupted, 500 for
     * anything else; refusals (429, 503) and every request's task, status and time in the metrics.
     */
    private void answer(ServerResponse res, String task, java.util.function.BiFunction<Integer, String, byte[]> errorBody, Handler handler) {
        long t0 = System.nanoTime();
        Call call = new Call(task);
        int status = 500;
        byte[] body;
        try {
            if (batcher.closing()) throw new V2Protocol.HttpError(503, "the server is shutting down");
            body = handler.body(call);
            status = 200;
        } catch (V2Protocol.HttpError e) {
            status = e.status;
            body = errorBody.apply(status, e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            status = 503;
            body = errorBody.apply(status, "interrupted");
        } catch (RuntimeException e) {
            LOG.error("internal error answering a {} request with 500", call.task, e);
            body = errorBody.apply(status, "internal error: " + e);
        } finally {
            if (status == 429 || status == 503) metrics.refused(status);
            metrics.request(call.task, status, System.nanoTime() - t0);
        }
        send(res, status, body);
    }

    /**
     * {@code texts} for {@code adapter} (null: the base) through the batching queue, waited for: 429 (with Retry-After)
     * when the queue is full, 503 once closing, 504 past the request timeout, 404 or 400 as the batch refused it.
     */
    private List<AdapterPredictor.Result> batched(ServerResponse res, String adapter, List<String> texts) throws InterruptedException {
        RequestBatcher.Job job = new RequestBatcher.Job(adapter, texts);
        if (!batcher.offer(job)) {
            if (batcher.closing()) throw new V2Protocol.HttpError(503, "the server is shutting down");
            res.header(HeaderNames.RETRY_AFTER, "1");
            throw new V2Protocol.HttpError(429, "the queue is full (" + options.queue() + " requests, or " + options.maxQueuedChars()
                    + " characters of texts waiting): retry later");
        }
        try {
            return job.done().get(options.requestTimeout().toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new V2Protocol.HttpError(504, "no answer within " + options.requestTimeout().toMillis() + " ms");
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof AdapterRegistry.UnknownAdapterException u) throw new V2Protocol.HttpError(404, u.getMessage());
            if (cause instanceof IllegalArgumentException bad) throw new V2Protocol.HttpError(400, bad.getMessage());
            LOG.error("a request's batch failed; it is answered 500", cause);
            throw new V2Protocol.HttpError(500, "the batch failed: " + cause);
        }
    }

    /** OpenAI's {@code POST /v1/embeddings} ({@link OpenAiEmbeddings}): the same queue and batches as infer's embed. */
    private void openAiEmbeddings(ServerRequest req, ServerResponse res) {
        answer(res, "embed", OpenAiEmbeddings::error, call -> {
            OpenAiEmbeddings.Request in = OpenAiEmbeddings.parse(req.content().as(byte[].class), options.maxTextsPerRequest(), options.maxChars());
            int width = predictor.model().config().hidden();
            if (in.dimensions() != null && in.dimensions() != width) throw new V2Protocol.HttpError(400, "\"dimensions\" " + in.dimensions() + ": this model's embeddings have " + width);
            if (!known(in.model())) loadOnDemand(in.model());
            List<AdapterPredictor.Result> results = batched(res, BASE.equals(in.model()) ? null : in.model(), in.texts());
            return OpenAiEmbeddings.response(in.model(), results, predictor.pipeline(), in.base64());
        });
    }

    /**
     * An adapter not resident but in the adapters folder (evicted, or never loaded) is loaded for the request that
     * names it, once however many ask at the same time; 404 when there is no such folder.
     */
    private void loadOnDemand(String name) {
        Path dir = adaptersDir == null || BASE.equals(name) || !AdapterRegistry.ID.matcher(name).matches() ? null : adaptersDir.resolve(name);
        if (dir == null || !Files.isDirectory(dir)) throw new V2Protocol.HttpError(404, "no adapter '" + name + "' is loaded" + (adaptersDir == null ? "" : " or in the adapters folder"));
        synchronized (loading.computeIfAbsent(name, k -> new Object())) {
            if (registry.contains(name)) return;
            try {
                loadFromFolder(name, dir);
            } catch (IOException | IllegalArgumentException e) {
                throw new V2Protocol.HttpError(500, "adapter '" + name + "' is in the adapters folder but could not be loaded: " + e.getMessage());
            }
        }
    }

    /** A load of the adapter {@code name} from {@code dir}, and its time. */
    private record Loaded(AdapterRegistry.Adapter adapter, long nanos) {}

    /** Every load from the adapters folder (on request or on demand): timed into the metrics; a failure kept for the index until a load succeeds. */
    private Loaded loadFromFolder(String name, Path dir) throws IOException {
        long t0 = System.nanoTime();
        try {
            AdapterRegistry.Adapter a = registry.load(name, dir);
            loadFailures.remove(name);
            long nanos = System.nanoTime() - t0;
            metrics.adapterLoaded(nanos);
            return new Loaded(a, nanos);
        } catch (IOException | IllegalArgumentException e) {
            loadFailures.put(name, e.getMessage());
            throw e;
        }
    }

    /**
     * The model repository extension's index: every resident adapter (READY) and, unless the body asks {"ready": true},
     * every adapter folder in the adapters folder that is not resident (UNAVAILABLE, with the reason its last load
     * failed, or "not loaded": a request that names it loads it), by name.
     */
    private void index(ServerRequest req, ServerResponse res) {
        JsonNode body;
        try {
            body = req.content().hasEntity() ? V2Protocol.readBody(req.content().as(byte[].class)) : null;
        } catch (V2Protocol.HttpError e) {
            error(res, e.status, e.getMessage());
            return;
        }
        boolean empty = body == null || body.isMissingNode();
        JsonNode ready = empty ? null : body.get("ready");
        if (!empty && !body.isObject() || ready != null && !ready.isBoolean()) {
            error(res, 400, "the body must be empty or a JSON object with an optional boolean \"ready\"");
            return;
        }
        TreeMap<String, String> states = new TreeMap<>();
        if ((ready == null || !ready.asBoolean()) && adaptersDir != null) {
            try (var folders = Files.list(adaptersDir)) {
                folders.filter(d -> AdapterRegistry.ID.matcher(d.getFileName().toString()).matches() && Files.isRegularFile(d.resolve(PeftAdapter.CONFIG_FILE)))
                        .forEach(d -> states.put(d.getFileName().toString(), "UNAVAILABLE"));
            } catch (IOException | java.io.UncheckedIOException e) {
                error(res, 500, "the adapters folder could not be listed: " + e.getMessage());
                return;
            }
        }
        for (String id : registry.ids()) states.put(id, "READY");
        ArrayNode index = V2Protocol.JSON.createArrayNode();
        states.forEach((name, state) -> {
            ObjectNode entry = index.addObject().put("name", name).put("state", state);
            if (!state.equals("READY")) entry.put("reason", loadFailures.getOrDefault(name, "not loaded"));
        });
        json(res, 200, index);
    }

    private void load(ServerRequest req, ServerResponse res) {
        String name = req.path().pathParameters().get("name");
        if (adaptersDir == null) {
            error(res, 400, "the server was started without an adapters folder");
            return;
        }
        if (BASE.equals(name) || !AdapterRegistry.ID.matcher(name).matches()) {
            error(res, 400, "'" + name + "' is not an adapter name (" + AdapterRegistry.ID.pattern() + ", not '" + BASE + "')");
            return;
        }
        Path dir = adaptersDir.resolve(name);
        if (!Files.isDirectory(dir)) {
            error(res, 404, "no folder '" + name + "' in the adapters folder");
            return;
        }
        try {
            Loaded l = loadFromFolder(name, dir);
            json(res, 200, V2Protocol.JSON.createObjectNode().put("name", name).put("state", "READY").put("rank", l.adapter().rank()).put("bytes", l.adapter().bytes())
                    .put("load_ms", l.nanos() / 1e6));
        } catch (IOException | IllegalArgumentException e) {
            error(res, 400, e.getMessage());
        } catch (RuntimeException e) {
            LOG.error("internal error loading adapter {}", name, e);
            error(res, 500, "internal error: " + e);
        }
    }

    private static void json(ServerResponse res, int status, JsonNode body) {
        send(res, status, V2Protocol.bytes(body));
    }

    private static void error(ServerResponse res, int status, String message) {
        send(res, status, V2Protocol.error(message));
    }

    private static void send(ServerResponse res, int status, byte[] body) {
        res.status(status);
        res.header(HeaderNames.CONTENT_TYPE, "application/json");
        res.send(body);
    }

    /** Stops taking requests (readiness and infer answer 503), answers every accepted one, then stops the web server. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        batcher.close();
        server.stop();
    }
}
