package org.tune4j.bench;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Workspace;
import org.tune4j.autograd.Var;
import org.tune4j.backend.Backend;
import org.tune4j.backend.CpuBackend;
import org.tune4j.bench.peers.PeerLoader;
import org.tune4j.bench.peers.PeerResult;
import org.tune4j.bench.peers.TrainPeer;
import org.tune4j.experiments.Adaptation;
import org.tune4j.experiments.Pretraining;
import org.tune4j.nn.Lora;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.optim.AdamW;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * Training steps of the main job's ViT (batch 128, forward, backward, AdamW): images/s for full
 * fine-tuning and for LoRA with the model FLOPs utilization against the measured FMA peak, beside each
 * {@link TrainPeer}'s same step (PyTorch through DJL with -Ppeers), and the share of the step spent
 * outside the Backend's calls (Java, the tape's bookkeeping, batch assembly), timed by {@link OpTimes}.
 */
final class TrainSuite {
    private static final int BATCH = 128;
    /** Steps run before the timed ones: until the JIT has compiled the tape's and the model's code (3 steps were not). */
    private static final double WARM_SECONDS = 3;
    /** -Dtune4j.bench.train.ops=true: also print each Backend op's time a step (where a second thread is lost). */
    private static final boolean PER_OP = Boolean.getBoolean("tune4j.bench.train.ops");

    static List<BenchRow> run(Machine machine, List<Integer> threadCounts, boolean quick, Consumer<String> progress) {
        List<BenchRow> rows = new ArrayList<>();
        int steps = quick ? 4 : 15;
        List<String> problems = new ArrayList<>();
        List<TrainPeer> peers = PeerLoader.load(TrainPeer.class, problems);
        String missing = problems.isEmpty() ? "not built; build with -Ppeers" : "failed to load: " + String.join("; ", problems);
        for (int threads : threadCounts) {
            CpuBackend.setThreads(threads);
            for (String method : List.of("full", "lora")) {
                progress.accept("train " + method + " threads=" + threads);
                OpTimes times = new OpTimes(CpuBackend.get(), PER_OP);
                Backend timed = times.backend();
                try (Arena arena = Arena.ofShared(); Workspace workspace = new Workspace()) {
                    VisionTransformer vit = new VisionTransformer(arena, Pretraining.VIT, new SplittableRandom(1));
                    if (method.equals("lora")) Lora.inject(vit, arena, Adaptation.Options.defaults().lora(), new SplittableRandom(2));
                    AdamW opt = AdamW.of(arena, vit.namedParameters(), 0.01f, 1f);
                    Tensor x = BenchData.matrix(arena, BATCH, 784), y = Tensor.zeros(arena, DType.I32, BATCH);
                    for (int i = 0; i < BATCH; i++) y.setInt(i, i % 10);
                    java.util.function.Function<Backend, Runnable> stepOn = backend -> () -> {
                        try (Tape t = new Tape(backend, true, true, workspace)) {
                            Var loss = t.crossEntropy(vit.logits(t, x, false), y, 0f);
                            t.backward(loss);
                        }
                        opt.step(backend, 1e-4f);
                    };
                    Runnable step = stepOn.apply(timed); // the step with each Backend call timed (the outside-native row)
                    Measure.warmUp(step, quick ? 0.3 : WARM_SECONDS);
                    times.reset();
                    double[] stepMs = new double[steps];
                    for (int i = 0; i < steps; i++) {
                        long t0 = System.nanoTime();
                        step.run();
                        stepMs[i] = (System.nanoTime() - t0) / 1e6;
                    }
                    double mean = java.util.Arrays.stream(stepMs).sum() / steps, insideMs = times.insideMs(steps), ms = Measure.median(stepMs);
                    times.report(method + " step, " + threads + " threads", steps, progress);
                    String shape = "ViT 128x4 batch " + BATCH + (method.equals("lora") ? " r=" + Adaptation.Options.defaults().lora().r() : "");
                    // rate = images / second; % of peak = model FLOPs utilization: the forward's GEMM and attention FLOPs
                    // times 3 (full: forward, input and weight gradients) or 2 (LoRA: the frozen weights get no gradient)
                    double stepFlops = (method.equals("lora") ? 2 : 3) * InferSuite.vitFlops(vit.config()) * BATCH;
                    double pctOfPeak = 100 * stepFlops / (ms * 1e6) / machine.peakGflops(threads);
                    for (TrainPeer peer : peers) {
                        progress.accept("peer " + peer.name() + " " + method + " threads=" + threads);
                        // the peer's step in alternation with ours (untimed calls; its oursMs), ours from above where it failed
                        PeerResult r = peer.stepMs(method, vit.config(), BATCH, Adaptation.Options.defaults().lora().r(), threads, quick,
                                stepOn.apply(CpuBackend.get()));
                        double mine = r.oursMsOr(ms);
                        rows.add(stepRow(method, shape, threads, mine, r.label(), r.medianMs(),
                                pctOfPeak * ms / mine).withSpeedupRange(r.speedupRange()));
                    }
                    if (peers.isEmpty()) rows.add(stepRow(method, shape, threads, ms, "pytorch (DJL): " + missing, null, pctOfPeak));
                    rows.add(new BenchRow("train", "outside_native_" + method, shape, "f32", threads, CpuBackend.get().name(), mean - insideMs,
                            100.0 * (mean - insideMs) / mean, "% of step", "the step's mean time", mean, null, null));
                }
            }
        }
        CpuBackend.setThreads(machine.cores());
        return rows;
    }

    /** A step's row: images/s, the peer's time for the same step (or why there is none), the FLOPs utilization. */
    private static BenchRow stepRow(String method, String shape, int threads, double ms, String peer, Double peerMs, double pctOfPeak) {
        return new BenchRow("train", "step_" + method, shape, "f32", threads, CpuBackend.get().name(), ms, BATCH * 1e3 / ms, "img/s", peer, peerMs,
                peerMs == null ? null : peerMs / ms, pctOfPeak);
    }
}
