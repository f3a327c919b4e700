package org.tune4j.bench;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.tune4j.backend.Activation;
import org.tune4j.backend.CpuBackend;
import org.tune4j.compress.Int8Quantization;
import org.tune4j.compress.StructuredPruning;
import org.tune4j.data.FashionMnist;
import org.tune4j.data.ImageDataset;
import org.tune4j.io.ModelFile;
import org.tune4j.nn.CompressedLinear;
import org.tune4j.nn.InferenceLayer;
import org.tune4j.nn.Linear;
import org.tune4j.nn.Lora;
import org.tune4j.nn.SparseLinear;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.serve.Latency;
import org.tune4j.serve.Predictor;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * Serving latency and throughput. The main-job ViT through {@link Predictor} at batch 1 (p50 and p99 over
 * single calls) and under as many concurrent callers as cores (images/s), as f32 dense, int8 (post-training,
 * every linear layer), 2:4 (the blocks' layers, a rank-4 adapter unmerged as the demo leaves it) and both
 * (the blocks' 2:4 weights int8 on the int8 kernel's 2:4 packing, the rest int8); then a 1024-wide, 4-layer
 * MLP block (GELU between) at batch 1 the same ways, and with 90% of its weights pruned by magnitude (CSR). The
 * peer of every row is the f32 dense model measured in the same run; rates count the dense model's FLOPs
 * (a multiply-add is 2), and % of peak is against the int8 loop for int8 rows, the f32 FMA loop otherwise.
 */
final class InferSuite {
    private static final List<String> BLOCKS = List.of("qkv", "proj", "fc1", "fc2");
    private static final int MLP_WIDTH = 1024, MLP_DEPTH = 4;
    /** The MLP block's unstructured variant: 90% of each layer's weights pruned by magnitude, CSR. */
    private static final String CSR = "csr 90%";

    static List<BenchRow> run(Machine machine, List<Integer> threadCounts, boolean quick, Consumer<String> progress) throws IOException {
        List<BenchRow> rows = new ArrayList<>();
        CpuBackend cpu = CpuBackend.get();
        int calls = quick ? 300 : 3000;
        ImageDataset test = FashionMnist.embedded().test();
        float[][] images = new float[64][];
        for (int i = 0; i < images.length; i++) images[i] = test.image(i);
        String[] variants = {"f32", "int8", "2:4+lora", "2:4+lora+int8"};
        for (int threads : threadCounts) {
            CpuBackend.setThreads(threads);
            double peak = machine.peakGflops(threads), int8Peak = machine.peakInt8Gops(threads);
            Latency dense = null;
            double denseThroughput = 0;
            double flops = 0;
            for (String variant : variants) {
                progress.accept("infer: ViT " + variant + " batch 1, threads=" + threads);
                try (Arena arena = Arena.ofShared()) {
                    VisionTransformer vit = ModelFile.load(arena, null);
                    if (flops == 0) flops = vitFlops(vit.config());
                    compress(arena, vit, variant, test);
                    try (Predictor p = Predictor.of(cpu, arena, vit, new Predictor.Options(1, Math.max(2, machine.cores())))) {
                        Latency l = Latency.measure(calls, i -> p.classify(images[i % images.length]));
                        double tput = throughput(machine.cores(), quick ? 0.5 : 2.0, i -> p.classify(images[i % images.length]));
                        if (dense == null) {
                            dense = l;
                            denseThroughput = tput;
                        }
                        String shape = "ViT d128x4 b1 " + variant;
                        String peer = "tune4j f32 dense, same run";
                        double pk = variant.endsWith("int8") ? int8Peak : peak;
                        rows.add(BenchRow.of("infer", "vit_p50", shape, variant, threads, cpu.name(), l.p50Ms(), flops, "GFLOP/s", peer, dense.p50Ms(), pk));
                        rows.add(BenchRow.of("infer", "vit_p99", shape, variant, threads, cpu.name(), l.p99Ms(), flops, "GFLOP/s", peer, dense.p99Ms(), pk));
                        rows.add(BenchRow.of("infer", "vit_throughput", machine.cores() + " callers b1 " + variant, variant, threads, cpu.name(),
                                1000.0 / tput, flops, "GFLOP/s", peer + " (ms per image at full load)", 1000.0 / denseThroughput, pk));
                    }
                }
            }
            rows.addAll(mlpBlock(machine, threads, calls, peak, progress));
        }
        CpuBackend.setThreads(machine.cores());
        return rows;
    }

    /** Compresses the freshly loaded ViT as the variant says; calibration on the first 128 test images. */
    private static void compress(Arena arena, VisionTransformer vit, String variant, ImageDataset test) {
        CpuBackend cpu = CpuBackend.get();
        if (variant.startsWith("2:4")) {
            StructuredPruning.prune(arena, cpu, vit, BLOCKS);
            var adapters = Lora.inject(vit, arena, new Lora.Config(4, 8f, 0f, false, BLOCKS, List.of()), new SplittableRandom(1));
            adapters.values().forEach(l -> fill(l.loraB().value())); // an adapter as training leaves it, not zero
            StructuredPruning.compress(arena, cpu, vit, BLOCKS);
        }
        if (variant.equals("int8")) {
            Int8Quantization.quantize(arena, cpu, vit, test.first(128), Int8Quantization.Options.defaults(), 64);
        } else if (variant.endsWith("int8")) {
            StructuredPruning.quantize(arena, cpu, vit);
            Int8Quantization.quantize(arena, cpu, vit, test.first(128), new Int8Quantization.Options(List.of("patch_embed", "head"), 0.05), 64);
        }
    }

    private static void fill(Tensor t) {
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, 0.01f * (float) Math.sin(i));
    }

    /** 2·MACs of the linear layers and attention products of one image. */
    static double vitFlops(VisionTransformer.Config c) {
        long p = c.patches(), s = p + 1, d = c.dim();
        double linear = p * (long) c.patch() * c.patch() * d + c.depth() * s * (3 * d * d + d * d + 2 * d * (long) c.mlpHidden()) + d * c.classes();
        double attention = c.depth() * 2.0 * s * s * d;
        return 2 * (linear + attention);
    }

    private static List<BenchRow> mlpBlock(Machine machine, int threads, int calls, double f32Peak, Consumer<String> progress) {
        List<BenchRow> rows = new ArrayList<>();
        CpuBackend cpu = CpuBackend.get();
        String shape0 = MLP_DEPTH + "x" + MLP_WIDTH + "² GELU b1 ";
        double flops = 2.0 * MLP_DEPTH * MLP_WIDTH * MLP_WIDTH;
        Latency dense = null;
        for (String variant : new String[] {"f32", "int8", "2:4", "int8 2:4", CSR}) {
            progress.accept("infer: MLP block " + variant + " batch 1, threads=" + threads);
            String shape = shape0 + variant;
            double peak = variant.startsWith("int8") ? machine.peakInt8Gops(threads) : f32Peak;
            try (Arena arena = Arena.ofShared()) {
                SplittableRandom rng = new SplittableRandom(7);
                InferenceLayer[] layers = new InferenceLayer[MLP_DEPTH];
                for (int i = 0; i < MLP_DEPTH; i++) {
                    Linear l = new Linear(arena, MLP_WIDTH, MLP_WIDTH, true, rng);
                    if (variant.equals(CSR)) {
                        layers[i] = SparseLinear.fromDense(arena, cpu, l.weight().value(), l.bias().value(), SparseLinear.Format.CSR, 0.9).layer();
                    } else {
                        layers[i] = variant.equals("f32") ? l : CompressedLinear.compress(arena, cpu, CompressedLinear.Format.of(variant),
                                l.weight().value(), l.bias().value(), null, null, 0f);
                    }
                }
                Tensor a = Tensor.zeros(arena, DType.F32, 1, MLP_WIDTH), b = Tensor.zeros(arena, DType.F32, 1, MLP_WIDTH);
                for (int i = 0; i < MLP_WIDTH; i++) a.setFloat(i, (float) Math.sin(i));
                Latency l = Latency.measure(calls, i -> {
                    Tensor in = a, out = b;
                    for (InferenceLayer layer : layers) {
                        layer.infer(cpu, in, out, Activation.GELU, null);
                        Tensor t = in;
                        in = out;
                        out = t;
                    }
                });
                if (dense == null) dense = l;
                String peer = "tune4j f32 dense, same run";
                rows.add(BenchRow.of("infer", "mlp_block_p50", shape, variant, threads, cpu.name(), l.p50Ms(), flops, "GFLOP/s", peer, dense.p50Ms(), peak));
                rows.add(BenchRow.of("infer", "mlp_block_p99", shape, variant, threads, cpu.name(), l.p99Ms(), flops, "GFLOP/s", peer, dense.p99Ms(), peak));
            }
        }
        return rows;
    }

    /** Calls per second with {@code callers} threads calling for {@code seconds}. */
    static double throughput(int callers, double seconds, java.util.function.IntConsumer call) {
        AtomicLong done = new AtomicLong();
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> threads = new ArrayList<>();
        long[] end = new long[1];
        for (int c = 0; c < callers; c++) {
            int id = c;
            Thread t = new Thread(() -> {
                try {
                    start.await();
                } catch (InterruptedException e) {
                    return;
                }
                int i = id * 1000;
                while (System.nanoTime() < end[0]) {
                    call.accept(i++);
                    done.incrementAndGet();
                }
            });
            t.start();
            threads.add(t);
        }
        long t0 = System.nanoTime();
        end[0] = t0 + (long) (seconds * 1e9);
        start.countDown();
        for (Thread t : threads) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        return done.get() / ((System.nanoTime() - t0) / 1e9);
    }
}
