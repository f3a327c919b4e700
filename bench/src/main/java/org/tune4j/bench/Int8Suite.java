package org.tune4j.bench;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.tune4j.backend.Activation;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.Int8Weights;
import org.tune4j.backend.Sparse24Weights;
import org.tune4j.tensor.DType;
import org.tune4j.bench.peers.Int8Peer;
import org.tune4j.bench.peers.PeerLoader;
import org.tune4j.bench.peers.PeerResult;
import org.tune4j.tensor.Tensor;

/**
 * int8 inference: the dynamic int8 linear layer (quantize x per row, int8 x int8 → int32, dequantize
 * with the fused epilogue to f32) at M=128, K=N=4096, and at batch 1 with {@value #ROTATE} weight sets
 * rotated (512 MB of f32, 128 MB of int8: four times a 32 MB L3; with four sets, 64 MB, part of the int8 weights came from
 * Zen 4's L3 and the rows read faster than the memory read loop), where reading the weights is the
 * cost; weight-only int8 (f32 activations) at batch 1 and 8. Beside: ONNX Runtime's MatMulInteger and
 * f32 MatMul (with -Ppeers), each timed in alternation with the call of ours it is set against, and our own f32
 * GEMM/GEMV on the same shapes (at batch 1 our f32 GEMV also gets a row of its own against the peer's f32 MatMul, in
 * GB/s of weights read against the read loop's bandwidth). Then the
 * 2:4 int8 kernel on the main-job ViT's layer shapes (17 tokens) and a cached 1024² layer, against the dense int8 kernel on the
 * same (pruned) weights and the f32 2:4 kernel. Rates are GOP/s of the dense product (a multiply-add is
 * 2), % of peak against the native int8 loop (VNNI's; AMX's for the rows whose whole 16-row blocks run on AMX tiles,
 * with the same call with AMX off beside them).
 */
final class Int8Suite {
    static final int ROTATE = 8;
    private static final int N = 4096, K = 4096;

    static List<BenchRow> run(Machine machine, List<Integer> threadCounts, boolean quick, Consumer<String> progress) {
        Measure measure = Measure.standard(quick);
        List<String> problems = new ArrayList<>();
        List<Int8Peer> peers = PeerLoader.load(Int8Peer.class, problems);
        String missing = "onnxruntime: " + (problems.isEmpty() ? "not built; build with -Ppeers" : "failed to load: " + String.join("; ", problems));
        List<BenchRow> rows = new ArrayList<>();
        CpuBackend cpu = CpuBackend.get();
        String backend = cpu.name() + (CpuBackend.int8Vnni() ? "-vnni" : "");
        try (Arena arena = Arena.ofShared()) {
            progress.accept("int8: preparing " + ROTATE + " weight sets of " + N + "x" + K);
            Tensor[] wf = new Tensor[ROTATE];
            Int8Weights[] wq = new Int8Weights[ROTATE];
            for (int r = 0; r < ROTATE; r++) {
                wf[r] = BenchData.matrix(arena, N, K, r);
                wq[r] = Int8Weights.quantize(arena, cpu, wf[r]);
            }
            for (int threads : threadCounts) {
                CpuBackend.setThreads(threads);
                double peak = machine.peakInt8Gops(threads), vnniPeak = machine.peakVnniGops(threads);
                for (int m : new int[] {128, 1, 8}) {
                    boolean rotate = m < 128;
                    int sets = rotate ? ROTATE : 1;
                    String shape = m + "x" + N + "x" + K + (rotate ? " rotated x" + ROTATE : "");
                    double ops = 2.0 * m * N * K;
                    Tensor x = BenchData.matrix(arena, m, K), y = BenchData.matrix(arena, m, N);
                    int[] next = {0};
                    progress.accept("int8 " + shape + " threads=" + threads);
                    Runnable f32Call = () -> cpu.gemm(false, true, 1f, x, wf[next[0]++ % sets], 0f, y);
                    double f32 = measure.medianMs(f32Call);
                    double weightOnly = measure.medianMs(() -> cpu.int8WeightOnlyLinear(x, wq[next[0]++ % sets], null, Activation.NONE, y));
                    String f32Peer = "tune4j f32 " + (m == 1 ? "GEMV" : "GEMM") + " (x·Wᵀ)";
                    boolean amx = CpuBackend.int8Amx() && m >= 16; // whole 16-row blocks on AMX tiles (K a multiple of 64)
                    String rowBackend = amx ? "cpu-" + CpuBackend.int8KernelLabel() : backend;
                    double rowPeak = amx ? peak : vnniPeak;
                    if (m != 8) {
                        Runnable int8 = () -> cpu.int8Linear(x, wq[next[0]++ % sets], null, Activation.NONE, y);
                        double dynamic = measure.medianMs(int8);
                        for (Int8Peer peer : peers) {
                            progress.accept("peer " + peer.name() + " " + shape);
                            // each peer call timed in alternation with ours (PeerResult.oursMs), ours alone where it failed
                            PeerResult r = peer.matMulInteger(m, N, K, threads, sets, quick, int8);
                            rows.add(BenchRow.of("int8", "int8_linear", shape, "s8", threads, rowBackend, r.oursMsOr(dynamic), ops,
                                    "GOP/s", r.label(), r.medianMs(), rowPeak)
                                    .withSpeedupRange(r.speedupRange()));
                            PeerResult f = peer.matMulF32(m, N, K, threads, sets, quick, f32Call);
                            String f32PeerName = f.label();
                            rows.add(BenchRow.of("int8", "int8_linear", shape, "s8", threads, rowBackend, dynamic, ops, "GOP/s", f32PeerName, f.medianMs(), rowPeak));
                            if (rotate) { // our f32 GEMV against the peer's f32 MatMul, as the bytes of weights each call reads
                                rows.add(BenchRow.of("int8", "f32_gemv_weights_read", shape, "f32", threads, cpu.name(), f.oursMsOr(f32),
                                        4.0 * N * K, "GB/s", f32PeerName, f.medianMs(), machine.readGBps(threads)).withSpeedupRange(f.speedupRange()));
                            }
                        }
                        if (peers.isEmpty()) {
                            rows.add(BenchRow.of("int8", "int8_linear", shape, "s8", threads, rowBackend, dynamic, ops, "GOP/s", missing, null, rowPeak));
                        }
                        rows.add(BenchRow.of("int8", "int8_linear", shape, "s8", threads, rowBackend, dynamic, ops, "GOP/s", f32Peer, f32, rowPeak));
                        if (amx) { // the same kernel with AMX off: what the tiles bring, in this run
                            double vnni;
                            CpuBackend.setInt8Amx(false);
                            try {
                                vnni = measure.medianMs(int8);
                            } finally {
                                CpuBackend.setInt8Amx(true);
                            }
                            rows.add(BenchRow.of("int8", "int8_linear", shape, "s8", threads, rowBackend, dynamic, ops, "GOP/s", "tune4j VNNI (AMX off)", vnni, rowPeak));
                        }
                        if (rotate) { // the same call as the bytes of weights it reads from memory, against the read loop's bandwidth
                            double bytes = wq[0].packed().byteSize() + 4.0 * N;
                            rows.add(BenchRow.of("int8", "int8_linear_weights_read", shape, "s8", threads, rowBackend, dynamic, bytes, "GB/s",
                                    "memory read loop of this process (%peak: of its bandwidth)", null, machine.readGBps(threads)));
                        }
                    }
                    rows.add(BenchRow.of("int8", "int8_weight_only", shape, "s8w/f32a", threads, backend, weightOnly, ops, "GOP/s",
                            f32Peer, f32, vnniPeak));
                }
                rows.addAll(twoFour(arena, measure, backend, threads, vnniPeak, progress));
            }
        }
        CpuBackend.setThreads(machine.cores());
        return rows;
    }

    /** m, n, k: the ViT's qkv, fc1 and fc2 at 17 tokens, and a 1024² layer at batch 1 and 64 (weights cached). */
    private static final int[][] TWO_FOUR_SHAPES = {{17, 384, 128}, {17, 512, 128}, {17, 128, 512}, {1, 1024, 1024}, {64, 1024, 1024}};

    private static List<BenchRow> twoFour(Arena arena, Measure measure, String backend, int threads, double peak, Consumer<String> progress) {
        List<BenchRow> rows = new ArrayList<>();
        CpuBackend cpu = CpuBackend.get();
        for (int[] s : TWO_FOUR_SHAPES) {
            int m = s[0], n = s[1], k = s[2];
            String shape = m + "x" + n + "x" + k;
            progress.accept("int8 2:4 " + shape + " threads=" + threads);
            Tensor w = BenchData.matrix(arena, n, k, 7), mask = Tensor.zeros(arena, DType.I8, n, k);
            cpu.mask2to4(w, mask);
            cpu.applyMask(w, mask);
            Int8Weights sparse = Int8Weights.quantizeTwoFour(arena, cpu, w), dense = Int8Weights.of(arena, sparse.values(), sparse.scales());
            Sparse24Weights f32Sparse = Sparse24Weights.fromDense(arena, w);
            Tensor x = BenchData.matrix(arena, m, k), y = BenchData.matrix(arena, m, n);
            double ops = 2.0 * m * n * k;
            double ms = measure.medianMs(() -> cpu.int8Linear(x, sparse, null, Activation.NONE, y));
            double denseMs = measure.medianMs(() -> cpu.int8Linear(x, dense, null, Activation.NONE, y));
            double f32Ms = measure.medianMs(() -> cpu.sparse24Linear(x, f32Sparse, null, Activation.NONE, y));
            rows.add(BenchRow.of("int8", "int8_24_linear", shape, "s8 2:4", threads, backend, ms, ops, "GOP/s",
                    "tune4j dense int8, same weights", denseMs, peak));
            rows.add(BenchRow.of("int8", "int8_24_linear", shape, "s8 2:4", threads, backend, ms, ops, "GOP/s", "tune4j f32 2:4", f32Ms, peak));
        }
        return rows;
    }
}
