package org.tune4j.bench;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.TextTokenizer;
import org.tune4j.data.TokenBatch;
import org.tune4j.io.BertCheckpoint;
import org.tune4j.io.HfCheckpoint;
import org.tune4j.io.PretrainedModels;
import org.tune4j.nn.BertConfig;
import org.tune4j.nn.BertModel;
import org.tune4j.serve.AdapterPredictor;
import org.tune4j.serve.AdapterRegistry;
import org.tune4j.server.InferenceServer;
import org.tune4j.server.KernelThreads;

/**
 * {@code bench serve} (issue 20): all-MiniLM-L6-v2 with rank-16 adapters (query, value), sequence 128. (1) In
 * process: a batch's time against the resident adapters (1, 8, 64, 512), the adapters in the batch and the batch
 * size, beside the same batch on one adapter. (2) Over HTTP on loopback ({@code tune4j serve}'s server, the client
 * in the same process, on the same cores): the saturation throughput (closed loop), then an open-loop fixed rate at
 * 70% of it, latency measured from each request's scheduled send time (no coordinated omission): p50, p99,
 * errors; during it, a rank-16 adapter loaded every 5 s into the 512 resident, by turns a new version of one
 * resident since before the run (which frees the one it replaces) and one never loaded; the loads apart by where their
 * memory came from (a freed adapter's, the registry's reserve mapped at start, new memory): their time and the requests in flight around
 * them against the p99 of the time before, and as a control the same count for windows as long, half a load period
 * after each load, when none runs (at this rate a batch's phase alone leaves a few requests above a p99 in any window).
 */
final class ServeSuite {
    private static final int SEQ = 128, RANK = 16, FILES = 64, RESIDENT = 512;
    /** The registry's reserve (-Dtune4j.serve.reserveMb; 0: none, every new adapter into new memory): room for the 512 and the loads during the run. */
    private static final long RESERVE_MB = Long.getLong("tune4j.serve.reserveMb", 512);
    /** Where a load's memory came from: AdapterRegistry.memoryReuse's counts, in its order (the ordinal is the index). */
    private enum MemoryKind {
        REUSED("memory reused", "into memory a freed adapter left"),
        RESERVE("reserve", "into the reserve, mapped at start"),
        NEW("new memory", "into new memory (page faults)");

        final String label, where;

        MemoryKind(String label, String where) {
            this.label = label;
            this.where = where;
        }
    }
    private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper(); // reads each load's answer
    /** An adapter loaded every 5 s during the 70% load (-Dtune4j.serve.loadPeriodMs: more often, to look for the loads' tail). */
    private static final long LOAD_PERIOD_NANOS = Long.getLong("tune4j.serve.loadPeriodMs", 5000) * 1_000_000L;

    static List<BenchRow> run(Machine machine, boolean quick, Consumer<String> progress) throws IOException, InterruptedException {
        List<BenchRow> rows = new ArrayList<>();
        Path work = Files.createTempDirectory("tune4j-bench-serve");
        try {
            Path hf = work.resolve("minilm");
            progress.accept("serve: importing all-MiniLM-L6-v2");
            BertConfig c = PretrainedModels.importMiniLm(PretrainedModels.miniLmJar(), hf);
            int files = quick ? 16 : FILES;
            progress.accept("serve: writing " + files + " rank-" + RANK + " adapters");
            List<Path> dirs = AdapterSuite.writeAdapters(hf, work.resolve("adapters"), List.of("query", "value"), files);
            int threads = machine.cores();
            CpuBackend.setThreads(threads);
            try (Arena arena = Arena.ofShared(); TextTokenizer tok = TextTokenizer.load(hf.resolve(HfCheckpoint.TOKENIZER), SEQ)) {
                BertModel served = BertCheckpoint.load(arena, hf);
                served.packProjections(arena); // as tune4j serve runs an f32 base
                try (AdapterRegistry registry = new AdapterRegistry(served, 8L << 30, org.tune4j.tensor.Memory.HOST, RESERVE_MB << 20); AdapterPredictor predictor = new AdapterPredictor(CpuBackend.get(), served, tok, registry, Integer.getInteger("tune4j.serve.workers", 1))) {
                    int[] ids = BertSuite.sequenceIds(SEQ);
                    double seqFlops = BertSuite.forwardFlops(c, SEQ), peak = machine.peakGflops(threads);
                    int loaded = 0;
                    for (int resident : Boolean.getBoolean("tune4j.serve.httpOnly") ? new int[0] : quick ? new int[] {1, 64} : new int[] {1, 8, 64, RESIDENT}) {
                        for (; loaded < resident; loaded++) registry.load("r" + loaded, dirs.get(loaded % dirs.size()));
                        for (int batch : resident == RESIDENT || quick ? new int[] {1, 8, 32} : new int[] {32}) {
                            for (int perBatch : new int[] {1, 8, 32}) {
                                if (perBatch > Math.min(resident, batch) || (perBatch == 8 && batch == 8 && resident != RESIDENT)) continue;
                                progress.accept("serve: " + resident + " resident, batch " + batch + " over " + perBatch + " adapters");
                                rows.add(batchRow("serve", servedBackend(), "MiniLM", arena, predictor, ids, resident, batch, perBatch, threads, seqFlops * batch, peak, quick));
                            }
                        }
                    }
                    for (; loaded < RESIDENT; loaded++) registry.load("r" + loaded, dirs.get(loaded % dirs.size()));
                    // over HTTP with the kernel threads tune4j serve runs with unless told (every core but one for a
                    // full batch or one with requests behind it, every core below)
                    KernelThreads serving = KernelThreads.serving(Integer.getInteger("tune4j.serve.workers", 1));
                    KernelThreads kernel = new KernelThreads(Integer.getInteger("tune4j.serve.httpThreads", serving.busy()), Integer.getInteger("tune4j.serve.idleThreads", serving.idle()));
                    CpuBackend.setThreads(kernel.most());
                    rows.addAll(httpRows(predictor, dirs, kernel, quick, progress));
                    CpuBackend.setThreads(machine.cores());
                }
            }
        } finally {
            org.tune4j.io.Folders.deleteTree(work);
        }
        return rows;
    }

    /** The CPU backend as it serves the packed f32 base: "cpu-" and its products' kernel (AMX tiles, or the level's FMA kernels). */
    private static String servedBackend() {
        return "cpu-" + CpuBackend.packedLinearLabel();
    }

    /**
     * A batch of {@code batch} copies of {@code ids} over {@code perBatch} of the {@code resident} adapters r0, r1, ...
     * (drawn with a seed), alternated with the same batch on one of them through the same path: the row of {@code suite}
     * on {@code backend} (its name) for {@code model} (its name in the row). The GPU's rows of the same sweep: GpuAdapterBatch.
     */
    static BenchRow batchRow(String suite, String backend, String model, Arena arena, AdapterPredictor predictor, int[] ids, int resident, int batch, int perBatch, int threads,
            double flops, double peak, boolean quick) {
        int[][] seqs = new int[batch][];
        Arrays.fill(seqs, ids);
        TokenBatch in = TokenBatch.of(arena, seqs, null);
        List<String> mixed = new ArrayList<>(), one = new ArrayList<>();
        SplittableRandom rng = new SplittableRandom(resident * 31L + batch);
        List<Integer> chosen = new ArrayList<>();
        while (chosen.size() < perBatch) {
            int r = rng.nextInt(resident);
            if (!chosen.contains(r)) chosen.add(r);
        }
        for (int b = 0; b < batch; b++) {
            mixed.add("r" + chosen.get(b % perBatch));
            one.add("r" + chosen.getFirst());
        }
        double[] both = Measure.standard(quick).interleavedMedianMs(() -> predictor.run(arena, in, mixed, false), () -> predictor.run(arena, in, one, false));
        double ms = both[0], oneMs = both[1];
        return BenchRow.of(suite, "batch over " + perBatch + " adapter" + (perBatch > 1 ? "s" : ""), model + " seq " + ids.length + " batch " + batch + " r" + RANK + " q,v, "
                + resident + " resident", threads, backend, ms, flops, "the batch on 1 adapter, same path", oneMs, peak);
    }

    /** One request's life: when it was due (open loop) or sent, when it was answered, and its status (-1: no answer). */
    private record Sample(long dueNanos, long doneNanos, int status) {
        double ms() {
            return (doneNanos - dueNanos) / 1e6;
        }
    }

    private static List<BenchRow> httpRows(AdapterPredictor predictor, List<Path> dirs, KernelThreads kernel, boolean quick, Consumer<String> progress)
            throws IOException, InterruptedException {
        int threads = kernel.most();
        String text = longText();
        List<BenchRow> rows = new ArrayList<>();
        // the server's batching, as tune4j serve's options (-D for experiments; each row says what ran)
        int maxBatch = Integer.getInteger("tune4j.serve.maxBatch", 32), workers = Integer.getInteger("tune4j.serve.workers", 1);
        long windowMicros = Long.getLong("tune4j.serve.windowMicros", 5000);
        var options = new InferenceServer.Options("127.0.0.1", 0, maxBatch, Duration.ofNanos(windowMicros * 1000), 1024, workers, Math.min(32, maxBatch), 100_000, Duration.ofSeconds(60))
                .withKernelThreads(kernel);
        String setup = "batches of " + maxBatch + " within " + windowMicros / 1000.0 + " ms, " + workers + " worker" + (workers > 1 ? "s" : "") + ", kernel threads "
                + kernel.busy() + " for a full batch or one with requests behind it, " + kernel.idle() + " below";
        try (InferenceServer server = new InferenceServer(predictor, dirs.getFirst().getParent(), options);
                ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
            HttpClient http = HttpClient.newBuilder().executor(clients).connectTimeout(Duration.ofSeconds(5)).build();
            String base = "http://127.0.0.1:" + server.port();
            SplittableRandom pick = new SplittableRandom(7);
            // saturation: 64 clients in a closed loop, each request one text for a random one of the 512 adapters
            progress.accept("serve: saturation over HTTP");
            double seconds = quick ? 5 : 15;
            AtomicLong done = new AtomicLong();
            AtomicBoolean stop = new AtomicBoolean();
            ConcurrentLinkedQueue<Sample> warm = new ConcurrentLinkedQueue<>();
            List<java.util.concurrent.Future<?>> loop = new ArrayList<>();
            long t0 = System.nanoTime();
            for (int cl = 0; cl < 64; cl++) {
                long seed = cl;
                loop.add(clients.submit(() -> {
                    SplittableRandom r = new SplittableRandom(seed);
                    while (!stop.get()) {
                        warm.add(send(http, base, "r" + r.nextInt(RESIDENT), text, System.nanoTime()));
                        done.incrementAndGet();
                    }
                    return null;
                }));
            }
            // warm-up: at least 2 s and 4 full batches (the first batch of 32 grows the workspace: seconds on a VM
            // whose page faults are slow, which counted in the rate before)
            while (System.nanoTime() - t0 < 2e9 || done.get() < 4L * Math.min(maxBatch, 64)) Thread.sleep(50);
            long window0 = System.nanoTime();
            Thread.sleep((long) (seconds * 1000));
            long window1 = System.nanoTime();
            stop.set(true);
            for (var f : loop) {
                try {
                    f.get();
                } catch (java.util.concurrent.ExecutionException e) {
                    throw new IOException("a saturation client failed", e.getCause());
                }
            }
            double saturation = batchedRate(warm.stream().mapToLong(Sample::doneNanos).filter(t -> t >= window0 && t <= window1).sorted().toArray());
            if (Double.isNaN(saturation)) throw new IOException("saturation: fewer than two batches answered in " + seconds + " s");
            long satErrors = warm.stream().filter(s -> s.status() != 200).count();
            rows.add(new BenchRow("serve", "http saturation", "MiniLM seq " + SEQ + " r" + RANK + ", 512 resident, " + setup + ", 1 text a request, 64 clients closed loop, " + satErrors + " errors",
                    "f32", threads, servedBackend(), 1e3 / saturation, saturation, "req/s", "client in the same process", null, null, null));

            // 70% of saturation, open loop, with adapter loads during it
            double rate = 0.7 * saturation, runSeconds = quick ? 15 : 60;
            progress.accept(String.format(Locale.ROOT, "serve: %.1f req/s (70%%) for %.0f s with adapter loads", rate, runSeconds));
            ConcurrentLinkedQueue<Sample> samples = new ConcurrentLinkedQueue<>();
            List<long[]> loads = new ArrayList<>(); // start, end (nanos), as the client saw them
            List<Double> serverLoadMs = new ArrayList<>(); // the registry's own time for each (the server's load_ms)
            int half = dirs.size() / 2;
            for (Path dir : dirs.subList(0, half)) { // resident before the run, as a server's adapters after a while
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/v2/repository/models/" + dir.getFileName() + "/load"))
                        .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() != 200) throw new IOException("loading an adapter: " + r.body());
            }
            long start = System.nanoTime(), interval = (long) (1e9 / rate), nextLoad = start + LOAD_PERIOD_NANOS;
            String dump = System.getProperty("tune4j.serve.samplesFile"); // the run's record, when asked for (writeSamples)
            ConcurrentLinkedQueue<long[]> steal = new ConcurrentLinkedQueue<>(); // (time, stolen ms so far) every 100 ms
            Thread stealSampler = dump == null ? null : Thread.ofPlatform().daemon(true).start(() -> {
                while (!Thread.currentThread().isInterrupted()) {
                    steal.add(new long[] {System.nanoTime(), stolenMillis()});
                    try {
                        Thread.sleep(100);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
            int loadCount = 0;
            for (long i = 0; ; i++) {
                long due = start + i * interval;
                if (due - start > runSeconds * 1e9) break;
                long now;
                while ((now = System.nanoTime()) < due) {
                    if (now >= nextLoad) { // a load between sends: the fixed rate goes on in the virtual threads
                        long l0 = System.nanoTime();
                        // by turns a new version of an adapter resident since before the run (the one it replaces is
                        // freed, and its memory kept for a later load) and an id never loaded; each load counted as the
                        // registry served it: into memory a freed adapter left, into the reserve, or into new memory (page faults)
                        boolean reload = loadCount % 2 == 0;
                        Path dir = dirs.get(reload ? (loadCount / 2) % half : half + (loadCount / 2) % (dirs.size() - half));
                        long[] before = predictor.registry().memoryReuse();
                        long stolenBefore = stolenMillis();
                        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/v2/repository/models/" + dir.getFileName() + "/load"))
                                .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
                        if (r.statusCode() != 200) throw new IOException("loading an adapter: " + r.body());
                        loads.add(new long[] {l0, System.nanoTime(), memoryKind(before, predictor.registry().memoryReuse())});
                        serverLoadMs.add(JSON.readTree(r.body()).path("load_ms").asDouble(Double.NaN));
                        progress.accept(String.format(Locale.ROOT, "serve: load %d at %s, %s, %.2f ms in the registry, %.2f ms round trip, of which the hypervisor took %d ms from this VM's vCPUs",
                                loadCount + 1, java.time.LocalTime.now(), MemoryKind.values()[(int) loads.getLast()[2]].label, serverLoadMs.getLast(),
                                (loads.getLast()[1] - l0) / 1e6, stolenMillis() - stolenBefore));
                        loadCount++;
                        nextLoad += LOAD_PERIOD_NANOS;
                    }
                    long left = due - System.nanoTime();
                    if (left > 200_000) Thread.sleep(Duration.ofNanos(left - 100_000));
                }
                String adapter = "r" + pick.nextInt(RESIDENT);
                clients.submit(() -> samples.add(send(http, base, adapter, text, due)));
            }
            Thread.sleep(3000); // the last answers
            List<Sample> all = new ArrayList<>(samples);
            if (dump != null) {
                stealSampler.interrupt();
                writeSamples(Path.of(dump), start, all, loads, steal);
                Files.writeString(Path.of(dump + ".metrics"), http.send(HttpRequest.newBuilder(URI.create(base + "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body());
            }
            double[] ms = all.stream().filter(s -> s.status() == 200).mapToDouble(Sample::ms).sorted().toArray();
            long errors = all.stream().filter(s -> s.status() != 200).count();
            double p50 = percentile(ms, 0.5), p99 = percentile(ms, 0.99);
            double achieved = all.size() / runSeconds;
            rows.add(new BenchRow("serve", "http 70% load", String.format(Locale.ROOT, "%s: %d requests in %.0f s, p99 %.1f ms = %.2fx p50, %d errors", setup, all.size(), runSeconds, p99, p99 / p50, errors),
                    "f32", threads, servedBackend(), p50, achieved, "req/s", String.format(Locale.ROOT, "saturation %.1f req/s", saturation), null, null, null));

            for (MemoryKind kind : MemoryKind.values()) {
                if (loads.stream().anyMatch(l -> l[2] == kind.ordinal())) rows.add(loadRow(kind, loads, serverLoadMs, all, threads));
            }
        }
        return rows;
    }

    /**
     * The 70% run's raw record, for looking at where its tail comes from (-Dtune4j.serve.samplesFile): one line per
     * request ("req", due and answered in ms from the start, status), per adapter load ("load", start and end) and per
     * steal sample ("steal", time, the hypervisor's stolen ms so far).
     */
    private static void writeSamples(Path file, long start, List<Sample> all, List<long[]> loads, java.util.Collection<long[]> steal) throws IOException {
        StringBuilder sb = new StringBuilder();
        long uptimeAtStart = java.lang.management.ManagementFactory.getRuntimeMXBean().getUptime() - (System.nanoTime() - start) / 1_000_000;
        sb.append("start ").append(uptimeAtStart).append(" ms after the JVM started (as -Xlog's uptime)\n");
        for (Sample s : all) sb.append(String.format(Locale.ROOT, "req %.3f %.3f %d%n", (s.dueNanos() - start) / 1e6, (s.doneNanos() - start) / 1e6, s.status()));
        for (long[] l : loads) sb.append(String.format(Locale.ROOT, "load %.3f %.3f%n", (l[0] - start) / 1e6, (l[1] - start) / 1e6));
        for (long[] t : steal) sb.append(String.format(Locale.ROOT, "steal %.3f %d%n", (t[0] - start) / 1e6, t[1]));
        Files.writeString(file, sb);
    }

    /** Which MemoryKind (its ordinal) a load's allocation was: the count that grew. */
    private static long memoryKind(long[] before, long[] after) {
        for (int k = 0; k < before.length; k++) if (after[k] > before[k]) return k;
        throw new IllegalStateException("the load allocated no memory: " + Arrays.toString(before) + " -> " + Arrays.toString(after));
    }

    /**
     * CPU time the hypervisor gave other guests while this one's vCPUs wanted it (steal, /proc/stat, all vCPUs, in steps of
     * 10 ms), so far; -1 where there is no /proc/stat. A load that stalls with it rising stalled on the host, not here.
     */
    private static long stolenMillis() {
        try {
            String[] f = Files.readAllLines(Path.of("/proc/stat")).getFirst().trim().split("\\s+");
            return f.length > 8 ? Long.parseLong(f[8]) * 10 : -1; // "cpu user nice system idle iowait irq softirq steal", in 1/100 s
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /**
     * Of the requests in flight in [from, to] or due within 1 s after it: how many were above the p99 of the minute
     * before {@code from} (or failed), and how many there were.
     */
    private static int[] aboveBefore(List<Sample> all, long from, long to) {
        double[] before = all.stream().filter(s -> s.status() == 200 && s.doneNanos() < from && s.doneNanos() > from - 60_000_000_000L).mapToDouble(Sample::ms).sorted().toArray();
        double p99Before = percentile(before, 0.99);
        int above = 0, around = 0;
        for (Sample s : all) {
            if (s.dueNanos() >= to + 1_000_000_000L || s.doneNanos() <= from) continue;
            around++;
            if (s.status() != 200 || s.ms() > p99Before) above++;
        }
        return new int[] {above, around};
    }

    /**
     * The loads of one kind: each one's time, and the requests in flight while it ran or due within
     * 1 s after, against the p99 of the minute before it, beside the same for its control window.
     */
    private static BenchRow loadRow(MemoryKind kind, List<long[]> loads, List<Double> serverLoadMs, List<Sample> all, int threads) {
        double worstLoad = 0, sumLoad = 0;
        int above = 0, around = 0, aboveControl = 0, aroundControl = 0, windowsAbove = 0, controlWindowsAbove = 0, count = 0;
        List<Double> inRegistryOfKind = new ArrayList<>();
        for (int i = 0; i < loads.size(); i++) {
            long[] l = loads.get(i);
            if (l[2] != kind.ordinal()) continue;
            count++;
            inRegistryOfKind.add(serverLoadMs.get(i));
            double loadMs = (l[1] - l[0]) / 1e6;
            worstLoad = Math.max(worstLoad, loadMs);
            sumLoad += loadMs;
            int[] near = aboveBefore(all, l[0], l[1]);
            above += near[0];
            around += near[1];
            if (near[0] > 0) windowsAbove++;
            // the control: a window as long, half the loads' period later, when no load runs
            int[] far = aboveBefore(all, l[0] + LOAD_PERIOD_NANOS / 2, l[1] + LOAD_PERIOD_NANOS / 2);
            aboveControl += far[0];
            aroundControl += far[1];
            if (far[0] > 0) controlWindowsAbove++;
        }
        double[] inRegistry = inRegistryOfKind.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        double median = percentile(inRegistry, 0.5);
        return new BenchRow("serve", "load adapter, " + kind.label, String.format(Locale.ROOT,
                "rank %d q,v, %s, %d resident, over HTTP, %d loads: in the registry median %.2f ms worst %.2f ms, round trip mean %.2f worst %.2f ms; %d of %d requests around a load above the prior minute's p99, around %d of the loads (with no load, %.1f s later: %d of %d, in %d windows)",
                RANK, kind.where, RESIDENT, count, median, inRegistry.length == 0 ? Double.NaN : inRegistry[inRegistry.length - 1], count == 0 ? 0 : sumLoad / count, worstLoad,
                above, around, windowsAbove, LOAD_PERIOD_NANOS / 2e9, aboveControl, aroundControl, controlWindowsAbove), "f32", threads, servedBackend(), median, 1e3 / median, "loads/s", "no peer", null, null, null);
    }

    /**
     * Answers a second from answer times that come in bursts, a batch at a time: the answers of every burst but the
     * first over the time from the first burst's start to the last's (counting answers in a fixed window moves
     * in steps of a whole batch: 2 req/s in 15 s at batch 32). A burst starts after a gap of more than half the
     * longest: a batch's answers leave over some milliseconds, batches are a batch's run apart.
     */
    static double batchedRate(long[] sortedNanos) {
        long first = -1, last = -1, maxGap = 0;
        for (int i = 1; i < sortedNanos.length; i++) maxGap = Math.max(maxGap, sortedNanos[i] - sortedNanos[i - 1]);
        int inFirst = 0;
        for (int i = 0; i < sortedNanos.length; i++) {
            boolean starts = i == 0 || 2 * (sortedNanos[i] - sortedNanos[i - 1]) > maxGap;
            if (starts && i > 0) last = sortedNanos[i];
            if (i == 0) first = sortedNanos[i];
            if (last < 0) inFirst++;
        }
        if (last < 0) return Double.NaN;
        return (sortedNanos.length - inFirst) / ((last - first) / 1e9);
    }

    private static Sample send(HttpClient http, String base, String adapter, String text, long due) {
        String body = "{\"parameters\":{\"task\":\"embed\"},\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[\"" + text + "\"]}]}";
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/v2/models/" + adapter + "/infer")).timeout(Duration.ofSeconds(60))
                    .POST(HttpRequest.BodyPublishers.ofString(body)).header("Content-Type", "application/json").build(), HttpResponse.BodyHandlers.ofString());
            return new Sample(due, System.nanoTime(), r.statusCode());
        } catch (IOException | InterruptedException e) {
            return new Sample(due, System.nanoTime(), -1);
        }
    }

    /** About 150 words: more than 128 tokens, so every request is cut to sequence 128. */
    private static String longText() {
        String[] words = {"the", "quarterly", "report", "shows", "revenue", "growth", "in", "every", "region", "while", "costs", "stayed", "flat", "and", "margins", "improved"};
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 150; i++) sb.append(words[(i * 7) % words.length]).append(' ');
        return sb.toString().strip();
    }

    private static double percentile(double[] sorted, double q) {
        if (sorted.length == 0) return Double.NaN;
        return sorted[(int) Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    }
}
