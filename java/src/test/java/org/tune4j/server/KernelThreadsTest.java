package org.tune4j.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.tune4j.server.LoopbackHttp.get;
import static org.tune4j.server.LoopbackHttp.infer;
import static org.tune4j.server.LoopbackHttp.post;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.TextTokenizer;
import org.tune4j.io.PretrainedModels;
import org.tune4j.nn.BertConfig;
import org.tune4j.nn.BertModel;
import org.tune4j.serve.AdapterPredictor;
import org.tune4j.serve.AdapterRegistry;

/** A server's batches run on the busy kernel threads when full or with requests waiting behind them, else on the idle ones. */
class KernelThreadsTest {
    @TempDir
    Path dir;

    @Test
    void checksItsCountsAndRunsTheLarger() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new KernelThreads(-1, 2)).getMessage().contains("busy kernel threads"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new KernelThreads(1, CpuBackend.MAX_THREADS + 1)).getMessage().contains("idle kernel threads"));
        assertEquals(3, new KernelThreads(3, 2).most());
        KernelThreads serving = KernelThreads.serving(1);
        assertEquals(Math.min(Runtime.getRuntime().availableProcessors(), CpuBackend.MAX_THREADS), serving.idle());
        assertEquals(Math.max(1, serving.idle() - 1), serving.busy());
        assertEquals(new KernelThreads(serving.busy(), serving.busy()), KernelThreads.serving(2), "two workers' batches may run at once: each keeps to every core but one");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> InferenceServer.Options.defaults().withKernelThreads(null)).getMessage().contains("kernel threads"));
    }

    @Test
    void aBatchRunsOnTheBusyThreadsWhenFullOrFollowedAndOnTheIdleOnesBelow() throws Exception {
        int process = CpuBackend.threads();
        CpuBackend.setThreads(2);
        try (Arena arena = Arena.ofShared();
                TextTokenizer tok = TextTokenizer.load(PretrainedModels.extract(PretrainedModels.miniLmJar(), "all-minilm-l6-v2-tokenizer.json", dir), 32)) {
            BertModel model = new BertModel(arena, new BertConfig(30522, 16, 1, 2, 32, 64, 2, 1e-12f, "gelu"), new SplittableRandom(1));
            var options = new InferenceServer.Options("127.0.0.1", 0, 4, Duration.ZERO, 512, 1, 1, 1000, Duration.ofSeconds(60)).withKernelThreads(new KernelThreads(1, 2));
            try (AdapterRegistry registry = new AdapterRegistry(model, 1L << 30); AdapterPredictor p = new AdapterPredictor(CpuBackend.get(), model, tok, registry, 1);
                    InferenceServer server = new InferenceServer(p, null, options)) {
                assertEquals(200, embed(server.port()));
                assertEquals(1, batches(server.port(), "2"), "a lone request runs on the idle threads");
                assertEquals(0, batches(server.port(), "1"));
                // bursts of concurrent requests in batches of up to 4: a full batch, or one with others queued behind it, runs on the busy threads
                for (int round = 0; round < 10 && batches(server.port(), "1") == 0; round++) {
                    try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
                        List<Future<Integer>> all = new ArrayList<>();
                        for (int i = 0; i < 32; i++) all.add(clients.submit(() -> embed(server.port())));
                        for (Future<Integer> f : all) assertEquals(200, f.get());
                    }
                }
                assertTrue(batches(server.port(), "1") > 0, "bursts of 32 requests filled a batch");
            }
        } finally {
            CpuBackend.setThreads(process);
        }
    }

    private static int embed(int port) throws Exception {
        return post(port, "/v2/models/" + InferenceServer.BASE + "/infer", infer("embed", "a text to embed")).statusCode();
    }

    /** The batches the server's metrics count on {@code threads} kernel threads. */
    private static long batches(int port, String threads) throws Exception {
        Matcher m = Pattern.compile("tune4j_batches_total\\{kernel_threads=\"" + threads + "\"[^}]*} ([0-9.E]+)").matcher(get(port, "/metrics").body());
        return m.find() ? (long) Double.parseDouble(m.group(1)) : 0;
    }
}
