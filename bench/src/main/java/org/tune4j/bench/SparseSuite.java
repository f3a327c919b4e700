package org.tune4j.bench;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.tune4j.backend.Activation;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.CsrWeights;
import org.tune4j.backend.Sparse24Weights;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * Pruned matmuls on 4096x4096 weights: CSR at 90% unstructured sparsity (M=128, and batch 1 with
 * {@value Int8Suite#ROTATE} weight sets rotated beyond the caches), its input gradient, and 2:4 at
 * M=128 and at batch 1 (rotated likewise), each beside our dense f32 GEMM/GEMV on the same shape in the same run. Rates count the useful
 * work (2 · m · nonzeros); % of peak is against the f32 FMA loop.
 */
final class SparseSuite {
    private static final int N = 4096, K = 4096;
    private static final double SPARSITY = 0.9;

    static List<BenchRow> run(Machine machine, List<Integer> threadCounts, boolean quick, Consumer<String> progress) {
        Measure measure = Measure.standard(quick);
        CpuBackend cpu = CpuBackend.get();
        List<BenchRow> rows = new ArrayList<>();
        int sets = Int8Suite.ROTATE;
        try (Arena arena = Arena.ofShared()) {
            progress.accept("sparse: pruning " + sets + " weight sets of " + N + "x" + K);
            Tensor[] dense = new Tensor[sets];
            CsrWeights[] csr = new CsrWeights[sets];
            for (int r = 0; r < sets; r++) {
                dense[r] = BenchData.matrix(arena, N, K, r);
                Tensor pruned = Tensor.zeros(arena, DType.F32, N, K);
                pruned.copyFrom(dense[r]);
                Tensor mask = Tensor.zeros(arena, DType.I8, N, K);
                cpu.magnitudeMask(dense[r], cpu.magnitudeThreshold(dense[r], Math.round(SPARSITY * N * K)), mask);
                cpu.applyMask(pruned, mask);
                csr[r] = CsrWeights.fromDense(arena, pruned);
            }
            Sparse24Weights[] s24 = new Sparse24Weights[sets];
            for (int r = 0; r < sets; r++) s24[r] = Sparse24Weights.fromDense(arena, dense[r]);
            String csrShape = String.format("%dx%dx%d %.0f%%", 128, N, K, 100 * csr[0].sparsity());
            for (int threads : threadCounts) {
                CpuBackend.setThreads(threads);
                double peak = machine.peakGflops(threads);
                String backend = cpu.name();

                progress.accept("sparse CSR/2:4 M=128 threads=" + threads);
                Tensor x = BenchData.matrix(arena, 128, K), y = BenchData.matrix(arena, 128, N);
                double denseMs = measure.medianMs(() -> cpu.gemm(false, true, 1f, x, dense[0], 0f, y));
                double csrMs = measure.medianMs(() -> cpu.csrLinear(x, csr[0], null, Activation.NONE, y));
                double s24Ms = measure.medianMs(() -> cpu.sparse24Linear(x, s24[0], null, Activation.NONE, y));
                String densePeer = "tune4j dense f32 GEMM (x·Wᵀ)";
                rows.add(row("csr_linear", csrShape, threads, backend, csrMs, 2.0 * 128 * csr[0].nnz(), densePeer, denseMs, peak));
                rows.add(row("2:4_linear", "128x" + N + "x" + K + " 2:4", threads, backend, s24Ms, 2.0 * 128 * N * (K / 2), densePeer, denseMs, peak));

                Tensor g = BenchData.matrix(arena, 128, N), dx = BenchData.matrix(arena, 128, K);
                double denseBack = measure.medianMs(() -> cpu.gemm(false, false, 1f, g, dense[0], 1f, dx));
                double csrBack = measure.medianMs(() -> cpu.csrBackwardInput(g, csr[0], dx));
                rows.add(row("csr_backward_input", csrShape, threads, backend, csrBack, 2.0 * 128 * csr[0].nnz(),
                        "tune4j dense f32 GEMM (G·W)", denseBack, peak));

                progress.accept("sparse CSR/2:4 M=1 rotated threads=" + threads);
                Tensor x1 = BenchData.matrix(arena, 1, K), y1 = BenchData.matrix(arena, 1, N);
                int[] next = {0};
                double gemv = measure.medianMs(() -> cpu.gemm(false, true, 1f, x1, dense[next[0]++ % sets], 0f, y1));
                double spmv = measure.medianMs(() -> cpu.csrLinear(x1, csr[next[0]++ % sets], null, Activation.NONE, y1));
                rows.add(row("csr_linear", String.format("1x%dx%d %.0f%% rotated x%d", N, K, 100 * csr[0].sparsity(), sets), threads,
                        backend, spmv, 2.0 * csr[0].nnz(), "tune4j dense f32 GEMV (x·Wᵀ)", gemv, peak));
                double s24v = measure.medianMs(() -> cpu.sparse24Linear(x1, s24[next[0]++ % sets], null, Activation.NONE, y1));
                rows.add(row("2:4_linear", String.format("1x%dx%d 2:4 rotated x%d", N, K, sets), threads, backend, s24v, 2.0 * N * (K / 2),
                        "tune4j dense f32 GEMV (x·Wᵀ)", gemv, peak));
            }
        }
        CpuBackend.setThreads(machine.cores());
        return rows;
    }

    private static BenchRow row(String kernel, String shape, int threads, String backend, double ms, double flops, String peer,
            double peerMs, double peak) {
        return BenchRow.of("sparse", kernel, shape, "f32", threads, backend, ms, flops, "GFLOP/s", peer, peerMs, peak);
    }
}
