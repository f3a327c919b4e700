package org.tune4j.bench;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.autograd.MicroBatches;
import org.tune4j.autograd.Workspace;
import org.tune4j.backend.Backend;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.PackedLinearWeights;
import org.tune4j.bench.peers.BertPeer;
import org.tune4j.bench.peers.BertStepPeer;
import org.tune4j.bench.peers.PeerLoader;
import org.tune4j.bench.peers.PeerResult;
import org.tune4j.compress.Int8Quantization;
import org.tune4j.eval.EvaluateText;
import org.tune4j.data.TokenBatch;
import org.tune4j.io.BertCheckpoint;
import org.tune4j.io.PretrainedModels;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.BertConfig;
import org.tune4j.nn.BertModel;
import org.tune4j.nn.Lora;
import org.tune4j.nn.LoraLinear;
import org.tune4j.optim.AdamW;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * all-MiniLM-L6-v2 (imported from langchain4j's jar) at sequence 128: the forward pass at batch 1 (latency) and
 * batch 32 (ms per batch) beside ONNX Runtime running the original ONNX file on the same ids (the two timed in
 * alternating blocks after a warm-up of seconds), on projections packed at load as a service runs them
 * ({@link BertModel#packProjections}; ONNX Runtime packs its weights when it opens a session: on AMX tiles where the CPU
 * has AMX-BF16, {@link CpuBackend#linearAmx}), and at batch 1 packed for the FMA kernels ("forward_fma", where the
 * other rows run on AMX) and unpacked ("forward_unpacked"); batch-1 latency at sequences 16, 32, 64 and 256 beside it; sentence embeddings of real texts of mixed length ({@link BertEmbedRows}); and a training step at batch 16 (forward, backward, AdamW) with
 * LoRA (r 8 on query and value, the head trained) and with
 * full fine-tuning, sequences/s and model FLOPs utilization. FLOPs: 2 per multiply-add of the encoder's
 * projections and attention (embeddings and LayerNorms not counted); a step counts 3 forwards (full: input
 * and weight gradients) or 2 (LoRA: the frozen weights get none).
 */
final class BertSuite {
    private static final int SEQ = 128, BATCH = 32, TRAIN_BATCH = 16;
    /** Batch-1 latency at these sequence lengths too (a service embeds queries of a few words and documents of hundreds). */
    private static final int[] SWEEP = {16, 32, 64, 256}, QUICK_SWEEP = {32};
    /** -Dtune4j.bench.bert.ops=true: also print each Backend op's time in the forwards and the training steps (OpTimes), from runs of their own. */
    private static final boolean PER_OP = Boolean.getBoolean("tune4j.bench.bert.ops");
    /** -Dtune4j.bench.bert.scaling=true: also each op's time in LoRA steps on one thread and on the run's most, alternated (StepAlternation). */
    private static final boolean SCALING = Boolean.getBoolean("tune4j.bench.bert.scaling");
    /**
     * -Dtune4j.bench.bert.packingAb=true: also each op's time in LoRA steps with the LoRA layers' frozen bases packed (as
     * TextTrainer trains) and without, alternated (StepAlternation), where the step packs anything (AMX on).
     */
    private static final boolean PACKING_AB = Boolean.getBoolean("tune4j.bench.bert.packingAb");
    /**
     * -Dtune4j.bench.bert.gemmAmxAb=true: also each op's time in full fine-tuning steps with the products on AMX tiles,
     * packed at the call (CpuBackend.gemmOnAmx), and on the FMA kernels, alternated (StepAlternation), where AMX is on.
     */
    private static final boolean GEMM_AMX_AB = Boolean.getBoolean("tune4j.bench.bert.gemmAmxAb");
    /**
     * The training step's batch as this many micro-batches (-Dtune4j.bench.bert.microBatches; by default 2 where there are
     * threads to run them at once, one a thread (autograd.MicroBatches), and 1 on one thread, where parts in turn only cost:
     * 1 part against 2 was 3% faster on the Xeon, BENCHMARKS.md, thirty-fourth session).
     */
    private static int microBatches(int threads) {
        return Integer.getInteger("tune4j.bench.bert.microBatches", threads > 1 ? 2 : 1);
    }

    static List<BenchRow> run(Machine machine, List<Integer> threadCounts, boolean quick, Consumer<String> progress) throws IOException {
        List<BenchRow> rows = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        List<BertPeer> peers = PeerLoader.load(BertPeer.class, problems);
        String missing = problems.isEmpty() ? "onnxruntime: not built; build with -Ppeers" : "onnxruntime failed to load: " + String.join("; ", problems);
        List<String> stepProblems = new ArrayList<>();
        List<BertStepPeer> stepPeers = PeerLoader.load(BertStepPeer.class, stepProblems);
        String stepMissing = stepProblems.isEmpty() ? "pytorch (DJL): not built; build with -Ppeers" : "pytorch (DJL) failed to load: " + String.join("; ", stepProblems);
        Path work = Files.createTempDirectory("tune4j-bench-bert");
        Path hf = work.resolve("minilm"), onnx = PretrainedModels.extract(PretrainedModels.miniLmJar(), "all-minilm-l6-v2.onnx", work);
        progress.accept("bert: importing all-MiniLM-L6-v2");
        BertConfig c = PretrainedModels.importMiniLm(PretrainedModels.miniLmJar(), hf);
        int[] ids = sequenceIds(SEQ);
        double fwdFlops = forwardFlops(c, SEQ);
        try (Arena arena = Arena.ofShared()) {
            BertModel model = BertCheckpoint.load(arena, hf), unpacked = BertCheckpoint.load(arena, hf), fma = null;
            model.packProjections(arena); // as a service loads it (and ONNX Runtime packs its weights when it opens a session)
            if (CpuBackend.linearAmx()) { // packed for AMX tiles: the same forward packed for the FMA kernels too, beside it
                fma = BertCheckpoint.load(arena, hf);
                CpuBackend.setLinearAmx(false);
                try {
                    fma.packProjections(arena);
                } finally {
                    CpuBackend.setLinearAmx(true);
                }
            }
            for (int threads : threadCounts) {
                CpuBackend.setThreads(threads);
                double peak = machine.peakGflops(threads);
                for (int batch : new int[] {1, BATCH}) {
                    progress.accept("bert forward batch " + batch + " threads=" + threads);
                    rows.addAll(forwardRows("forward", "f32", "GFLOP/s", "", model, onnx, arena, ids, batch, threads, fwdFlops, peak, peers, missing, quick));
                }
                for (int seq : quick ? QUICK_SWEEP : SWEEP) {
                    progress.accept("bert forward batch 1, sequence " + seq + ", threads=" + threads);
                    rows.addAll(forwardRows("forward", "f32", "GFLOP/s", "", model, onnx, arena, sequenceIds(seq), 1, threads, forwardFlops(c, seq), peak, peers, missing, quick));
                }
                if (PER_OP) for (int batch : new int[] {1, BATCH}) forwardOps("f32", model, TokenBatch.of(arena, batchOf(ids, batch), null), threads, quick, progress);
                if (fma != null) {
                    progress.accept("bert forward batch 1, weights packed for the FMA kernels, threads=" + threads);
                    rows.addAll(forwardRows("forward_fma", "f32", "GFLOP/s", "", fma, onnx, arena, ids, 1, threads, fwdFlops, peak, peers, missing, quick));
                }
                progress.accept("bert forward batch 1, weights not packed, threads=" + threads);
                rows.addAll(forwardRows("forward_unpacked", "f32", "GFLOP/s", "", unpacked, onnx, arena, ids, 1, threads, fwdFlops, peak, peers, missing, quick));
                rows.addAll(int8Rows(hf, work, ids, threads, machine.peakInt8Gops(threads), fwdFlops, peers, missing, quick, progress));
                progress.accept("bert embed a corpus threads=" + threads);
                rows.addAll(BertEmbedRows.rows(hf, onnx, c, threads, peak, peers, missing, quick));
                for (String method : List.of("lora", "full")) {
                    progress.accept("bert train " + method + " threads=" + threads);
                    rows.addAll(trainStep(hf, c, method, ids, threads, peak, fwdFlops, stepPeers, stepMissing, quick, progress));
                }
            }
        } finally {
            org.tune4j.io.Folders.deleteTree(work);
        }
        CpuBackend.setThreads(machine.cores());
        return rows;
    }

    /** The encoder with every projection int8 (dynamic activations), beside ONNX Runtime running its own int8 model. */
    private static List<BenchRow> int8Rows(Path hf, Path work, int[] ids, int threads, double peak, double fwdFlops, List<BertPeer> peers, String missing, boolean quick,
            Consumer<String> progress) throws IOException {
        List<BenchRow> rows = new ArrayList<>();
        Path qJar = PretrainedModels.miniLmQuantizedJar();
        Path qOnnx = java.nio.file.Files.isRegularFile(qJar) ? PretrainedModels.extract(qJar, "all-minilm-l6-v2-q.onnx", work) : null;
        try (Arena arena = Arena.ofShared()) {
            BertClassifier m = new BertClassifier(arena, BertCheckpoint.load(arena, hf), BertClassifier.Pooling.MEAN, 2, new SplittableRandom(1));
            int[][] one = {ids};
            // every projection int8, whatever its error (the speed of the whole int8 encoder is what is measured here)
            Int8Quantization.quantize(arena, CpuBackend.get(), m, () -> EvaluateText.predict(CpuBackend.get(), m, one, 1), 1,
                    new Int8Quantization.Options(List.of("query", "key", "value", "dense"), 1e9));
            for (int batch : new int[] {1, BATCH}) {
                progress.accept("bert int8 forward batch " + batch + " threads=" + threads);
                if (qOnnx == null) {
                    double ms = forwardMs(m.bert(), TokenBatch.of(arena, batchOf(ids, batch), null), quick);
                    rows.add(BenchRow.of("bert", "forward_int8", shape(SEQ, batch), "int8", threads, "cpu-" + CpuBackend.int8KernelLabel(), ms, fwdFlops * batch, "GOP/s",
                            "onnxruntime -q: " + qJar + " is not there", null, peak));
                } else {
                    rows.addAll(forwardRows("forward_int8", "int8", "GOP/s", " (its -q model)", m.bert(), qOnnx, arena, ids, batch, threads, fwdFlops, peak, peers, missing, quick));
                }
                if (PER_OP) forwardOps("int8", m.bert(), TokenBatch.of(arena, batchOf(ids, batch), null), threads, quick, progress);
            }
        }
        return rows;
    }

    private static List<BenchRow> trainStep(Path hf, BertConfig c, String method, int[] ids, int threads, double peak, double fwdFlops, List<BertStepPeer> peers,
            String missing, boolean quick, Consumer<String> progress) throws IOException {
        try (Arena arena = Arena.ofShared()) {
            BertClassifier m = new BertClassifier(arena, BertCheckpoint.load(arena, hf), BertClassifier.Pooling.MEAN, 2, new SplittableRandom(1));
            if (method.equals("lora")) Lora.inject(m, arena, new Lora.Config(8, 16f, 0f, false, List.of("query", "value"), List.of("classifier")), new SplittableRandom(2));
            AdamW opt = AdamW.of(arena, m.namedParameters(), 0.01f, 1f);
            var packs = org.tune4j.train.TextTrainer.frozenProjectionPacks(CpuBackend.get(), m, arena); // as TextTrainer trains
            List<MicroBatches> made = new ArrayList<>(); // one a backend (ours, the timing proxy), closed with the model
            // a step on the given packings: examples [from, to) of the batch labelled b % 2, inputs in the part's own tape
            java.util.function.Function<Map<Tensor, PackedLinearWeights>, java.util.function.Function<Backend, Runnable>> stepWith = p -> backend -> {
                MicroBatches mb = new MicroBatches(backend, microBatches(threads), new SplittableRandom(3));
                made.add(mb);
                MicroBatches.SliceLoss sliceLoss = (t, from, to) -> {
                    t.packedWeights(p);
                    Tensor labels = Tensor.zeros(t.arena(), DType.I32, to - from);
                    for (int b = from; b < to; b++) labels.setInt(b - from, b % 2);
                    return t.crossEntropy(m.logits(t, TokenBatch.of(t.arena(), batchOf(ids, to - from), null)), labels, 0f);
                };
                return () -> {
                    mb.step(TRAIN_BATCH, sliceLoss);
                    opt.step(backend, 1e-5f);
                };
            };
            try {
                List<BenchRow> rows = trainRows(method, c, threads, peak, fwdFlops, peers, missing, quick, progress, stepWith.apply(packs));
                if (PACKING_AB && method.equals("lora") && !packs.isEmpty()) {
                    Map<Tensor, PackedLinearWeights> withoutBases = new java.util.IdentityHashMap<>(packs);
                    m.namedModules().values().forEach(mod -> {
                        if (mod instanceof LoraLinear l) withoutBases.remove(l.base().weight().value());
                    });
                    StepAlternation.report("lora step, " + threads + " threads", new StepAlternation.Variant(packs.size() + " packed (LoRA bases too)", stepWith.apply(packs), () -> {}),
                            new StepAlternation.Variant(withoutBases.size() + " packed (not the LoRA bases)", stepWith.apply(withoutBases), () -> {}), quick ? 3 : 10, progress);
                }
                if (GEMM_AMX_AB && method.equals("full") && CpuBackend.linearAmx()) {
                    try {
                        StepAlternation.report("full step, " + threads + " threads", new StepAlternation.Variant("on AMX tiles", stepWith.apply(packs), () -> CpuBackend.setLinearAmx(true)),
                                new StepAlternation.Variant("on the FMA kernels", stepWith.apply(packs), () -> CpuBackend.setLinearAmx(false)), quick ? 3 : 10, progress);
                    } finally {
                        CpuBackend.setLinearAmx(true);
                    }
                }
                return rows;
            } finally {
                made.forEach(MicroBatches::close);
            }
        }
    }

    private static List<BenchRow> trainRows(String method, BertConfig c, int threads, double peak, double fwdFlops, List<BertStepPeer> peers, String missing,
            boolean quick, Consumer<String> progress, java.util.function.Function<Backend, Runnable> stepOn) {
        Runnable step = stepOn.apply(CpuBackend.get());
        // ours alone: the row where no peer ran, and the JIT's warm-up before the alternation with a peer
        double ms = new Measure(2, quick ? 3 : 8, quick ? 1 : 5).medianMs(step);
        if (PER_OP) { // steps of their own through the timing proxy, after the measured ones
            OpTimes times = new OpTimes(CpuBackend.get(), true);
            Runnable timed = stepOn.apply(times.backend());
            timed.run();
            times.reset();
            int steps = quick ? 2 : 8;
            for (int i = 0; i < steps; i++) timed.run();
            progress.accept(String.format("  %s step, %d threads: %.1f ms a step inside Backend calls", method, threads, times.insideMs(steps)));
            times.report(method + " step, " + threads + " threads", steps, progress);
        }
        if (SCALING && method.equals("lora") && threads > 1) StepAlternation.threadScaling("lora step", stepOn, threads, quick ? 3 : 10, progress);
        double stepFlops = (method.equals("lora") ? 2 : 3) * fwdFlops * TRAIN_BATCH, mfu = 100 * stepFlops / (ms * 1e6) / peak;
        String shape = shape(SEQ, TRAIN_BATCH) + (microBatches(threads) > 1 ? " (" + microBatches(threads) + " micro-batches)" : "") + (method.equals("lora") ? " r=8 q,v" : "");
        List<BenchRow> rows = new ArrayList<>();
        if (peers.isEmpty()) rows.add(stepRow(method, shape, threads, ms, missing, null, mfu));
        for (BertStepPeer peer : peers) {
            // the peer's step in alternation with ours (its oursMs), ours from above where it failed
            PeerResult r = peer.stepMs(method, c, TRAIN_BATCH, SEQ, 8, threads, quick, step);
            double mine = r.oursMsOr(ms);
            rows.add(stepRow(method, shape, threads, mine, r.label(), r.medianMs(),
                    100 * stepFlops / (mine * 1e6) / peak).withSpeedupRange(r.speedupRange()));
        }
        return rows;
    }

    /**
     * Rows of the encoder's no-grad forward on {@code batch} copies of {@code ids} beside each peer running {@code onnx}:
     * the two timed in alternating blocks after a warm-up of seconds each (Measure.alternatedBlocks), so the
     * ratio holds through the machine's slow spells and our forward is timed JIT-compiled, as a service runs it.
     */
    private static List<BenchRow> forwardRows(String kernel, String dtype, String unit, String peerNote, BertModel model, Path onnx, Arena arena, int[] ids, int batch,
            int threads, double fwdFlops, double peak, List<BertPeer> peers, String missing, boolean quick) {
        TokenBatch in = TokenBatch.of(arena, batchOf(ids, batch), null);
        String shape = shape(ids.length, batch);
        List<BenchRow> rows = new ArrayList<>();
        // int8: AMX, VNNI ...; f32 on packed weights: AMX tiles or the level's FMA kernels
        String backend = dtype.equals("int8") ? "cpu-" + CpuBackend.int8KernelLabel() : kernel.equals("forward") ? "cpu-" + CpuBackend.packedLinearLabel() : CpuBackend.get().name();
        if (peers.isEmpty())
            rows.add(BenchRow.of("bert", kernel, shape, dtype, threads, backend, forwardMs(model, in, quick), fwdFlops * batch, unit, missing, null, peak));
        for (BertPeer peer : peers) {
            Measure.Blocks ms;
            try (Workspace ws = new Workspace(); BertPeer.Session session = peer.open(onnx, ids, batch, threads)) {
                ms = timed(quick, () -> forward(model, in, ws), session::forward);
            } catch (Exception | LinkageError e) {
                rows.add(BenchRow.of("bert", kernel, shape, dtype, threads, backend, forwardMs(model, in, quick), fwdFlops * batch, unit,
                        peer.name() + ": " + e, null, peak));
                continue;
            }
            rows.add(BenchRow.of("bert", kernel, shape, dtype, threads, backend, ms.medianMs()[0], fwdFlops * batch, unit, peer.name() + peerNote,
                    ms.medianMs()[1], peak).withSpeedupRange(ms.ratioRange(1, 0)));
        }
        return rows;
    }

    /** The median time of the encoder's forward alone (no peer to alternate with). */
    private static double forwardMs(BertModel model, TokenBatch in, boolean quick) {
        try (Workspace ws = new Workspace()) {
            return timed(quick, () -> forward(model, in, ws)).medianMs()[0];
        }
    }

    /** Warm-up 3 s each, then 7 rounds of 0.4 s blocks (quick: 0.3 s, 3 rounds of 0.1 s). */
    private static Measure.Blocks timed(boolean quick, Runnable... work) {
        return quick ? Measure.alternatedBlocks(0.3, 3, 0.1, work) : Measure.alternatedBlocks(3, 7, 0.4, work);
    }

    /** One no-grad forward, activations in memory kept from call to call (as a service keeps it). */
    private static void forward(BertModel model, TokenBatch in, Workspace ws) {
        forward(model, in, ws, CpuBackend.get());
    }

    private static void forward(BertModel model, TokenBatch in, Workspace ws, Backend backend) {
        try (Tape t = new Tape(backend, false, false, ws)) {
            model.forward(t, in);
        }
    }

    /** Each op's time in a no-grad forward of {@code in} (through the timing proxy, after the measured forwards). */
    private static void forwardOps(String dtype, BertModel model, TokenBatch in, int threads, boolean quick, Consumer<String> progress) {
        OpTimes times = new OpTimes(CpuBackend.get(), true);
        int batch = in.batch(), runs = Math.max(2, (quick ? 50 : 200) / batch);
        try (Workspace ws = new Workspace()) {
            for (int i = 0; i < runs; i++) forward(model, in, ws, times.backend());
            times.reset();
            for (int i = 0; i < runs; i++) forward(model, in, ws, times.backend());
        }
        String label = dtype + " forward batch " + batch + ", " + threads + " threads";
        progress.accept(String.format("  %s: %.2f ms a forward inside Backend calls", label, times.insideMs(runs)));
        times.report(label, runs, progress);
    }

    static int[][] batchOf(int[] ids, int batch) {
        int[][] seqs = new int[batch][];
        for (int b = 0; b < batch; b++) seqs[b] = ids;
        return seqs;
    }

    private static String shape(int seq, int batch) {
        return "MiniLM-L6 seq " + seq + " batch " + batch;
    }

    private static BenchRow stepRow(String method, String shape, int threads, double ms, String peer, Double peerMs, double mfu) {
        // where AMX is on, LoRA's frozen projections packed for its tiles (trainStep), full fine-tuning's products packed
        // for them at the call (CpuBackend.gemmOnAmx: 1024 or 2048 rows); the rest on the level's kernels
        String backend = CpuBackend.linearAmx() ? CpuBackend.get().name() + "+amx-bf16x6" : CpuBackend.get().name();
        return new BenchRow("bert", "step_" + method, shape, "f32", threads, backend, ms, TRAIN_BATCH * 1e3 / ms, "seq/s", peer, peerMs,
                peerMs == null ? null : peerMs / ms, mfu);
    }

    /** [CLS] w w ... [SEP]: a sequence of real vocabulary ids (BERT's uncased vocabulary), no padding; what every BERT bench runs. */
    static int[] sequenceIds(int seq) {
        int[] ids = new int[seq];
        ids[0] = 101;
        ids[seq - 1] = 102;
        for (int i = 1; i < seq - 1; i++) ids[i] = 2000 + (i * 37) % 20000;
        return ids;
    }

    /** The encoder's forward FLOPs for one sequence: projections 2·tokens·(4d² + 2·d·ffn) and attention 4·tokens²·d, per layer. */
    static double forwardFlops(BertConfig c, int seq) {
        double d = c.hidden(), ffn = c.intermediate();
        return c.layers() * (2.0 * seq * (4 * d * d + 2 * d * ffn) + 4.0 * seq * seq * d);
    }
}
