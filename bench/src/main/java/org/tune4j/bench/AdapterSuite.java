package org.tune4j.bench;

import org.tune4j.autograd.SequenceOps;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Workspace;
import org.tune4j.backend.Backend;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.TokenBatch;
import org.tune4j.io.BertAdapter;
import org.tune4j.io.BertCheckpoint;
import org.tune4j.io.PretrainedModels;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.BertConfig;
import org.tune4j.nn.BertModel;
import org.tune4j.nn.Lora;
import org.tune4j.nn.LoraLinear;
import org.tune4j.serve.AdapterPredictor;
import org.tune4j.serve.AdapterRegistry;
import org.tune4j.tensor.Memory;

/**
 * Many LoRA adapters over all-MiniLM-L6-v2 (issue 20's figures), sequence 128, rank 16, embeddings of a batch of
 * 32 sequences: the batch over 32 different adapters (one encoder pass, the adapters' terms in the segmented
 * shrink/expand kernels) beside, measured in the same run, (a) the same batch on one adapter through the fused
 * LoRA layer (LoraLinear: the best single-adapter path), (b) the per-adapter loop (each adapter's sequence in a
 * forward of its own, batch 1: what a server without mixed batches does), the four measured in alternation (a round
 * runs each once: Measure.interleavedMedianMs). Targets: PEFT's default for BERT
 * (query, value) and every projection. Then the time to load a rank-16 adapter with 512 resident. FLOPs: the
 * encoder's (BertSuite.forwardFlops) plus 2 per multiply-add of the adapters' shrink and expand.
 */
final class AdapterSuite {
    static final int BATCH = 32; // sequences a batch (GpuAdapterBatch's too)
    private static final int SEQ = 128, RANK = 16, FILES = 32, RESIDENT = 512;
    private static final List<List<String>> TARGETS = List.of(List.of("query", "value"), List.of("query", "key", "value", "dense"));

    static List<BenchRow> run(Machine machine, List<Integer> threadCounts, boolean quick, Consumer<String> progress) throws IOException {
        List<BenchRow> rows = new ArrayList<>();
        Path work = Files.createTempDirectory("tune4j-bench-adapters");
        try {
            Path hf = work.resolve("minilm");
            progress.accept("adapters: importing all-MiniLM-L6-v2");
            BertConfig c = PretrainedModels.importMiniLm(PretrainedModels.miniLmJar(), hf);
            int[] ids = BertSuite.sequenceIds(SEQ);
            int files = quick ? 8 : FILES;
            for (List<String> targets : TARGETS) {
                String tag = targets.size() == 2 ? "q,v" : "all projections";
                progress.accept("adapters: writing " + files + " rank-" + RANK + " adapters on " + tag);
                List<Path> dirs = writeAdapters(hf, work.resolve(String.join("-", targets)), targets, files);
                double loraFlops = loraFlops(c, targets) * SEQ * BATCH, flops = BertSuite.forwardFlops(c, SEQ) * BATCH + loraFlops;
                for (int threads : threadCounts) {
                    CpuBackend.setThreads(threads);
                    progress.accept("adapters " + tag + " threads=" + threads);
                    rows.addAll(batchRows(hf, dirs, ids, tag, threads, flops, machine.peakGflops(threads), quick));
                }
            }
            CpuBackend.setThreads(machine.cores());
            progress.accept("adapters: loading with " + RESIDENT + " resident");
            rows.add(loadRow(hf, work.resolve("query-value"), quick));
            progress.accept("adapters: loading new ids, with and without a reserve");
            rows.add(newIdRow(hf, work.resolve("query-value")));
        } finally {
            org.tune4j.io.Folders.deleteTree(work);
        }
        return rows;
    }

    private static List<BenchRow> batchRows(Path hf, List<Path> dirs, int[] ids, String tag, int threads, double flops, double peak, boolean quick) throws IOException {
        int distinct = Math.min(BATCH, dirs.size());
        double[] ms = batchTimes(CpuBackend.get(), Memory.HOST, () -> {}, hf, dirs, ids, quick);
        double mixed = ms[0], sameMixedPath = ms[1], fused = ms[2], loop = ms[3];
        String shape = "MiniLM seq " + SEQ + " batch " + BATCH + " r" + RANK + " " + tag;
        String backend = CpuBackend.get().name();
        return List.of(
                BenchRow.of("adapters", "mixed " + distinct + " adapters", shape, threads, backend, mixed, flops, "one adapter, fused LoRA layer", fused, peak),
                BenchRow.of("adapters", "mixed " + distinct + " adapters", shape, threads, backend, mixed, flops, "per-adapter loop (" + BATCH + " forwards of batch 1)", loop, peak),
                BenchRow.of("adapters", "1 adapter, mixed path", shape, threads, backend, sameMixedPath, flops, "one adapter, fused LoRA layer", fused, peak));
    }

    /**
     * Median milliseconds, measured in alternation, of a batch of 32 sequences ({@code ids} each) on {@code backend}, the
     * model {@code hf}, the adapters {@code dirs} (one an id) and the batch in {@code memory}: [0] over the adapters mixed
     * (32 ids in an arrival order), [1] on one adapter through the same mixed path, [2] on one adapter through the fused
     * LoRA layer, pooled as the predictor pools, [3] the per-adapter loop (each sequence a forward of its own, batch 1).
     * {@code finish} waits for the backend's queued work ([2] alone leaves it on the device: a GPU's synchronize).
     * The CPU's rows here, the GPU's in GpuAdapterBatch.
     */
    static double[] batchTimes(Backend backend, Memory memory, Runnable finish, Path hf, List<Path> dirs, int[] ids, boolean quick) throws IOException {
        Measure measure = Measure.standard(quick);
        int distinct = Math.min(BATCH, dirs.size());
        try (Arena arena = Arena.ofShared()) {
            BertModel served = BertCheckpoint.load(arena, hf);
            served.moveTo(memory, arena);
            try (AdapterRegistry registry = new AdapterRegistry(served, 8L << 30, memory); AdapterPredictor predictor = new AdapterPredictor(backend, served, null, registry, 1)) {
                for (int i = 0; i < dirs.size(); i++) registry.load("a" + i, dirs.get(i));
                int[][] seqs = new int[BATCH][];
                Arrays.fill(seqs, ids);
                TokenBatch in = TokenBatch.of(arena, seqs, null), one = TokenBatch.of(arena, new int[][] {ids}, null);
                TokenBatch inThere = memory.isHost() ? in : in.in(arena, memory);
                List<String> mixedIds = new ArrayList<>();
                for (int b = 0; b < BATCH; b++) mixedIds.add("a" + (b % distinct));
                Collections.shuffle(mixedIds, new java.util.Random(1)); // arrival order; the predictor's segments follow the ids
                List<String> sameIds = Collections.nCopies(BATCH, "a0");
                BertAdapter.Loaded alone = BertAdapter.load(arena, hf, dirs.getFirst());
                alone.model().moveTo(memory, arena);
                try (Workspace ws = new Workspace()) {
                    return measure.interleavedMedianMs(() -> predictor.run(arena, in, mixedIds, false), () -> predictor.run(arena, in, sameIds, false), () -> {
                        try (Tape t = new Tape(backend, false, false, ws)) { // one adapter through LoraLinear, pooled as the predictor pools
                            SequenceOps.meanPool(t, alone.model().bert().forward(t, inThere), inThere.lengths(), inThere.batch());
                        }
                        finish.run();
                    }, () -> {
                        for (String id : mixedIds) predictor.run(arena, one, List.of(id), false);
                    });
                }
            }
        }
    }

    /** The adapter folders writeAdapters made in {@code root}, in order. */
    private static List<Path> adapterDirs(Path root) throws IOException {
        try (var list = Files.list(root)) {
            return list.sorted().toList();
        }
    }

    /** Loading a rank-16 adapter (q,v) into a registry holding 512: the median and the worst of 64 loads. */
    private static BenchRow loadRow(Path hf, Path dirsRoot, boolean quick) throws IOException {
        List<Path> dirs = adapterDirs(dirsRoot);
        try (Arena arena = Arena.ofShared()) {
            BertModel served = BertCheckpoint.load(arena, hf);
            try (AdapterRegistry registry = new AdapterRegistry(served, 8L << 30)) {
                int resident = quick ? 64 : RESIDENT;
                for (int i = 0; i < resident; i++) registry.load("r" + i, dirs.get(i % dirs.size()));
                int loads = 64;
                double[] ms = new double[loads];
                for (int i = 0; i < loads; i++) { // replaces resident ids: the count stays at 512
                    long t0 = System.nanoTime();
                    registry.load("r" + (i * 7 % resident), dirs.get(i % dirs.size()));
                    ms[i] = (System.nanoTime() - t0) / 1e6;
                }
                double median = Measure.median(ms.clone()), worst = Arrays.stream(ms).max().orElseThrow();
                return new BenchRow("adapters", "load adapter", "rank " + RANK + " q,v, " + registry.size() + " resident (" + registry.bytes() / (1 << 20) + " MiB), worst of "
                        + loads + " " + String.format(java.util.Locale.ROOT, "%.2f ms", worst), "f32", 1, CpuBackend.get().name(), median, 1e3 / median, "loads/s",
                        "no peer (PEFT's load_adapter needs PyTorch: GPU machine)", null, null, null);
            }
        }
    }

    /**
     * Loading rank-16 adapters (q,v) under new ids into a registry below its budget, which frees nothing: into a 64 MB
     * reserve mapped when the registry was made, against a registry without one (new memory, a page fault per 4 KiB);
     * the two registries, over the same encoder, take the loads by turns. Median and worst of 48 each.
     */
    private static BenchRow newIdRow(Path hf, Path dirsRoot) throws IOException {
        List<Path> dirs = adapterDirs(dirsRoot);
        int loads = 48;
        double[] reserved = new double[loads], fresh = new double[loads];
        try (Arena arena = Arena.ofShared()) {
            BertModel served = BertCheckpoint.load(arena, hf);
            try (AdapterRegistry withReserve = new AdapterRegistry(served, 8L << 30, org.tune4j.tensor.Memory.HOST, 64L << 20);
                    AdapterRegistry without = new AdapterRegistry(served, 8L << 30)) {
                for (int i = 0; i < loads; i++) {
                    Path d = dirs.get(i % dirs.size());
                    long t0 = System.nanoTime();
                    withReserve.load("n" + i, d);
                    long t1 = System.nanoTime();
                    without.load("n" + i, d);
                    reserved[i] = (t1 - t0) / 1e6;
                    fresh[i] = (System.nanoTime() - t1) / 1e6;
                }
                if (withReserve.memoryReuse()[1] != loads || without.memoryReuse()[2] != loads) {
                    throw new IllegalStateException("expected every load into the reserve and into new memory: " + Arrays.toString(withReserve.memoryReuse()) + ", " + Arrays.toString(without.memoryReuse()));
                }
            }
        }
        double median = Measure.median(reserved.clone()), peer = Measure.median(fresh.clone());
        return new BenchRow("adapters", "load adapter, new id", String.format(java.util.Locale.ROOT, "rank %d q,v, below the budget, into a 64 MB reserve: worst of %d %.2f ms; without one (new memory): median %.2f ms, worst %.2f ms",
                RANK, loads, Arrays.stream(reserved).max().orElseThrow(), peer, Arrays.stream(fresh).max().orElseThrow()), "f32", 1, CpuBackend.get().name(), median, 1e3 / median, "loads/s",
                "the same loads into new memory, by turns", peer, peer / median, null);
    }

    /** Rank-16 adapters on targets with random factors and heads, into dir/00 … */
    static List<Path> writeAdapters(Path hf, Path dir, List<String> targets, int count) throws IOException {
        List<Path> out = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            SplittableRandom rng = new SplittableRandom(20);
            BertClassifier c = new BertClassifier(arena, BertCheckpoint.load(arena, hf), BertClassifier.Pooling.MEAN, 2, rng);
            Lora.Config config = new Lora.Config(RANK, 2f * RANK, 0f, false, targets, List.of());
            Lora.inject(c, arena, config, rng);
            for (int i = 0; i < count; i++) {
                c.namedModules().values().forEach(m -> {
                    if (!(m instanceof LoraLinear l)) return;
                    for (var p : List.of(l.loraA().value(), l.loraB().value())) for (long k = 0; k < p.numel(); k++) p.setFloat(k, (float) ((rng.nextDouble() - 0.5) * 0.05));
                });
                Path d = dir.resolve(String.format("%02d", i));
                BertAdapter.save(d, c, config, "sentence-transformers/all-MiniLM-L6-v2", List.of("ham", "spam"));
                out.add(d);
            }
        }
        return out;
    }

    /** The adapters' FLOPs per token: 2·r·(in + out) for each adapted projection. */
    static double loraFlops(BertConfig c, List<String> targets) {
        double d = c.hidden(), ffn = c.intermediate(), perLayer = 0;
        for (String t : targets) perLayer += t.equals("dense") ? 2 * RANK * (d + d) + 2 * RANK * (d + ffn) * 2 : 2 * RANK * (d + d);
        return c.layers() * perLayer;
    }
}
