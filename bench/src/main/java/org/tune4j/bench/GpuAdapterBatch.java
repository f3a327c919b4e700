package org.tune4j.bench;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import org.tune4j.backend.cuda.CudaBackend;
import org.tune4j.io.BertCheckpoint;
import org.tune4j.nn.BertConfig;
import org.tune4j.nn.BertModel;
import org.tune4j.serve.AdapterPredictor;
import org.tune4j.serve.AdapterRegistry;

/**
 * Issue 20's GPU figure: {@link AdapterSuite}'s batch ({@link AdapterSuite#batchTimes}) on the CUDA backend. A batch of
 * 32 sequences over 32 different rank-16 adapters on query and value (the registry in device memory, the base GEMMs
 * once for the batch, the adapters' terms in the mixed-adapter kernels), measured in alternation with the same batch on
 * one adapter through the fused LoRA layer and with the per-adapter loop (each sequence in a forward of its own with
 * its adapter, batch 1). Every variant ends with its embeddings computed (the predictor's copied to the host). The
 * encoder's weights and the adapters' factors are drawn at random in MiniLM's shapes: no checkpoint has to travel to the
 * GPU machine. PEFT's mixed batch and its loop on the same shapes: torch_peers.py. Then {@code bench serve}'s in-process
 * sweep over resident adapters, batch sizes and adapters a batch, on the GPU. {@code --quick}: 2 layers, 32 tokens,
 * 8 adapters (what the CUDA emulator runs).
 */
final class GpuAdapterBatch {
    private static final int BATCH = AdapterSuite.BATCH;
    private static final List<String> TARGETS = List.of("query", "value");

    private GpuAdapterBatch() {}

    static void addRows(List<BenchRow> rows, CudaBackend gpu, String card, boolean quick, Consumer<String> progress) throws IOException {
        BertConfig mini = BertConfig.miniLmL6();
        BertConfig c = quick ? new BertConfig(mini.vocabSize(), mini.hidden(), 2, mini.heads(), mini.intermediate(), 64, 2, mini.layerNormEps(), mini.hiddenAct()) : mini;
        int seq = quick ? 32 : 128, distinct = quick ? 8 : BATCH;
        Path work = Files.createTempDirectory("tune4j-bench-gpu-adapters");
        try {
            Path base = work.resolve("base");
            try (Arena arena = Arena.ofConfined()) {
                BertCheckpoint.save(base, new BertModel(arena, c, new SplittableRandom(1)), null);
            }
            progress.accept("gpu: writing " + distinct + " rank-16 adapters on query and value");
            List<Path> dirs = AdapterSuite.writeAdapters(base, work.resolve("adapters"), TARGETS, distinct);
            progress.accept("gpu: a batch of " + BATCH + " over " + distinct + " adapters, one adapter, the per-adapter loop");
            gpu.resetFallbacks();
            double[] ms = AdapterSuite.batchTimes(gpu, gpu.memory(), gpu::synchronize, base, dirs, BertSuite.sequenceIds(seq), quick);
            double mixed = ms[0], sameMixedPath = ms[1], fused = ms[2], loop = ms[3];
            double flops = BertSuite.forwardFlops(c, seq) * BATCH + AdapterSuite.loraFlops(c, TARGETS) * seq * BATCH;
            String fellBack = GpuSuite.fallbackNote(gpu);
            String shape = String.format("%s seq %d batch %d r16 q,v%s", quick ? "2-layer MiniLM" : "MiniLM-L6", seq, BATCH, fellBack);
            String backend = "cuda " + card;
            rows.add(BenchRow.of("gpu", "adapters_mixed", distinct + " adapters, " + shape, "f32", 0, backend, mixed, flops, "GFLOP/s",
                    "one adapter, fused LoRA layer, same run", fused, 0));
            rows.add(BenchRow.of("gpu", "adapters_mixed_vs_loop", distinct + " adapters, " + shape, "f32", 0, backend, mixed, flops, "GFLOP/s",
                    "per-adapter loop (" + BATCH + " forwards of batch 1), same run", loop, 0));
            rows.add(BenchRow.of("gpu", "adapters_one_mixed_path", "1 adapter, " + shape, "f32", 0, backend, sameMixedPath, flops, "GFLOP/s",
                    "one adapter, fused LoRA layer, same run", fused, 0));
            residentRows(rows, gpu, backend, c, base, dirs, BertSuite.sequenceIds(seq), quick, progress);
        } finally {
            org.tune4j.io.Folders.deleteTree(work);
        }
    }

    /**
     * {@code bench serve}'s in-process sweep on the GPU (issue 20's item 5): batches of 1, 8 and 32 sequences over 1, 8
     * or 32 of 1, 8, 64 and 512 resident adapters (the adapter files reused under new names, as ServeSuite does), each
     * beside the same batch on one adapter (ServeSuite.batchRow). {@code --quick}: 1 and 8 resident.
     */
    private static void residentRows(List<BenchRow> rows, CudaBackend gpu, String backend, BertConfig c, Path base, List<Path> dirs, int[] ids, boolean quick,
            Consumer<String> progress) throws IOException {
        double seqFlops = BertSuite.forwardFlops(c, ids.length);
        try (Arena arena = Arena.ofShared()) {
            BertModel served = BertCheckpoint.load(arena, base);
            served.moveTo(gpu.memory(), arena);
            try (AdapterRegistry registry = new AdapterRegistry(served, 8L << 30, gpu.memory()); AdapterPredictor predictor = new AdapterPredictor(gpu, served, null, registry, 1)) {
                int loaded = 0;
                for (int resident : quick ? new int[] {1, 8} : new int[] {1, 8, 64, 512}) {
                    for (; loaded < resident; loaded++) registry.load("r" + loaded, dirs.get(loaded % dirs.size()));
                    for (int batch : new int[] {1, 8, 32}) {
                        for (int perBatch : new int[] {1, 8, 32}) {
                            if (perBatch > Math.min(resident, batch)) continue;
                            progress.accept("gpu: " + resident + " resident, batch " + batch + " over " + perBatch + " adapters");
                            gpu.resetFallbacks();
                            BenchRow row = ServeSuite.batchRow("gpu", backend, quick ? "2-layer MiniLM" : "MiniLM-L6", arena, predictor, ids, resident, batch, perBatch, 0,
                                    seqFlops * batch, 0, quick);
                            rows.add(row.withShapeNote(GpuSuite.fallbackNote(gpu)));
                        }
                    }
                }
            }
        }
    }
}
