package org.tune4j.bench;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.tune4j.backend.CpuBackend;
import org.tune4j.bench.peers.LoraPeer;
import org.tune4j.bench.peers.PeerLoader;
import org.tune4j.bench.peers.PeerResult;
import org.tune4j.tensor.Tensor;

/**
 * A LoRA layer's training step (forward + backward, W frozen) against: our own frozen-base step
 * (x·Wᵀ and G·W, the two GEMMs a frozen layer cannot avoid), PyTorch's LoRA step through DJL (with
 * {@code -Ppeers}), and for the forward alone, our unfused forward (base GEMM, then the low-rank
 * product as a second pass over y), which shows what the fusion buys.
 */
final class LoraSuite {
    record Case(int t, int dIn, int dOut, int r) {
        String shape() {
            return "T=" + t + " d_in=" + dIn + " d_out=" + dOut + " r=" + r;
        }

        double baseFlops() {
            return 2.0 * 2 * t * (double) dIn * dOut;
        }

        /** Base GEMMs plus the six low-rank products (h, y term, g·B, dB, dA, dx term). */
        double stepFlops() {
            return baseFlops() + 2.0 * t * r * (3.0 * dIn + 3.0 * dOut);
        }

        double forwardFlops() {
            return 2.0 * t * dIn * dOut + 2.0 * t * r * ((double) dIn + dOut);
        }
    }

    static List<Case> cases(boolean quick) {
        List<Case> out = new ArrayList<>(List.of(new Case(512, 1024, 1024, 16)));
        if (!quick) out.add(new Case(128, 4096, 4096, 16));
        return out;
    }


    static List<BenchRow> run(Machine machine, List<Integer> threadCounts, boolean quick, Consumer<String> progress) {
        Measure measure = Measure.standard(quick);
        List<BenchRow> rows = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        List<LoraPeer> peers = PeerLoader.load(LoraPeer.class, problems);
        String missing = problems.isEmpty() ? "not built; build with -Ppeers" : "failed to load: " + String.join("; ", problems);
        CpuBackend cpu = CpuBackend.get();
        for (int threads : threadCounts) {
            for (Case c : cases(quick)) {
                progress.accept("lora " + c.shape() + " threads=" + threads);
                CpuBackend.setThreads(threads);
                double peak = machine.peakGflops(threads);
                try (Arena arena = Arena.ofConfined()) {
                    Tensor x = BenchData.matrix(arena, c.t(), c.dIn()), w = BenchData.matrix(arena, c.dOut(), c.dIn());
                    Tensor a = BenchData.matrix(arena, c.r(), c.dIn()), b = BenchData.matrix(arena, c.dOut(), c.r());
                    Tensor h = BenchData.matrix(arena, c.t(), c.r()), y = BenchData.matrix(arena, c.t(), c.dOut());
                    Tensor g = BenchData.matrix(arena, c.t(), c.dOut()), dx = BenchData.matrix(arena, c.t(), c.dIn());
                    Tensor da = BenchData.matrix(arena, c.r(), c.dIn()), db = BenchData.matrix(arena, c.dOut(), c.r());
                    float s = 2f;

                    // The step and its baseline in alternation, and the two forwards: their ratios are the figures, and one
                    // measured after the other differed by up to 10% on a noisy VM (Measure.interleavedMedianMs).
                    Runnable loraStep = () -> {
                        cpu.loraForward(x, null, w, null, a, b, s, h, y);
                        cpu.loraBackward(x, null, w, a, b, s, h, g, dx, da, db);
                    };
                    double[] steps = measure.interleavedMedianMs(() -> {
                        cpu.gemm(false, true, 1f, x, w, 0f, y);   // y = x Wᵀ
                        cpu.gemm(false, false, 1f, g, w, 0f, dx); // dx = G W
                    }, loraStep);
                    double base = steps[0], step = steps[1];
                    double[] forwards = measure.interleavedMedianMs(() -> cpu.loraForward(x, null, w, null, a, b, s, h, y), () -> {
                        cpu.gemm(false, true, 1f, x, a, 0f, h);   // h = x Aᵀ
                        cpu.gemm(false, true, 1f, x, w, 0f, y);   // y = x Wᵀ
                        cpu.gemm(false, true, s, h, b, 1f, y);    // y += s h Bᵀ: a second pass over y
                    });
                    double fused = forwards[0], unfused = forwards[1];
                    String backend = cpu.name();
                    rows.add(BenchRow.of("lora", "frozen_base_step", c.shape(), threads, backend, base, c.baseFlops(),
                            "none: the baseline lora_step is held to", null, peak));
                    rows.add(BenchRow.of("lora", "lora_step", c.shape(), threads, backend, step, c.stepFlops(),
                            "tune4j frozen_base_step (x·Wᵀ + G·W)", base, peak));
                    for (LoraPeer peer : peers) {
                        progress.accept("peer " + peer.name() + " " + c.shape());
                        // the peer's step in alternation with ours (PeerResult.oursMs), ours from above where it failed
                        PeerResult r = peer.stepMs(c.t(), c.dIn(), c.dOut(), c.r(), threads, quick, loraStep);
                        rows.add(BenchRow.of("lora", "lora_step", c.shape(), threads, backend, r.oursMsOr(step),
                                c.stepFlops(), r.label(), r.medianMs(), peak).withSpeedupRange(r.speedupRange()));
                    }
                    if (peers.isEmpty()) {
                        rows.add(BenchRow.of("lora", "lora_step", c.shape(), threads, backend, step, c.stepFlops(),
                                "pytorch (DJL): " + missing, null, peak));
                    }
                    rows.add(BenchRow.of("lora", "lora_forward", c.shape(), threads, backend, fused, c.forwardFlops(),
                            "tune4j unfused forward (GEMM + low-rank pass over y)", unfused, peak));
                }
            }
        }
        CpuBackend.setThreads(machine.cores());
        return rows;
    }
}
