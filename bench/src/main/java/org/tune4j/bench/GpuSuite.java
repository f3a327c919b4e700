package org.tune4j.bench;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.CsrWeights;
import org.tune4j.backend.cuda.Cublas;
import org.tune4j.backend.cuda.CublasLt;
import org.tune4j.backend.cuda.CudaBackend;
import org.tune4j.backend.cuda.CudaGraph;
import org.tune4j.backend.cuda.CudaKernels;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * The CUDA kernels against the CPU backend on the same op and shape (the CPU-vs-GPU table): elementwise
 * and row ops at training-step sizes, AdamW over a LoRA-sized and a full-model-sized buffer, int8 row
 * quantization, CSR at 90% sparsity (4096 x 4096 by 4096 columns), the LoRA layer step, the main job's
 * LoRA and full fine-tuning steps ({@link GpuVitStep}); and a line on 2:4, which has no GPU path yet. A GPU
 * time is the mean of a batch of launches queued on the stream and waited for once (what a training
 * step sees); PyTorch and PEFT on the same card are measured by bench/gpu/torch_peers.py in the same
 * check run. % of peak: memory-bound rows (GB/s) against the card's device-to-device copy bandwidth
 * measured first in the same run; compute rows (GFLOP/s) leave it empty (no FMA loop is measured yet).
 */
final class GpuSuite {
    private final double peakGbs; // the card's copy bandwidth, measured first: what GB/s rows are a fraction of

    private GpuSuite(double peakGbs) {
        this.peakGbs = peakGbs;
    }

    /**
     * The suite's rows; {@code sofar} gets the rows measured so far after each one (the JSON written again: a run killed
     * by the GPU check's time limit keeps what it measured).
     */
    static List<BenchRow> run(Machine machine, boolean quick, Consumer<String> progress, Consumer<List<BenchRow>> sofar) {
        List<BenchRow> rows = new ArrayList<>() { // each row is logged as it is measured: a crash later in the run keeps it
            @Override
            public boolean add(BenchRow r) {
                progress.accept(String.format("gpu row: %s %s %s %.4f ms, %.1f %s, peer %s %s ms", r.kernel(), r.shape(), r.dtype(), r.medianMs(), r.rate(),
                        r.unit(), r.peer(), r.peerMedianMs()));
                boolean added = super.add(r);
                sofar.accept(List.copyOf(this));
                return added;
            }
        };
        CpuBackend cpu = CpuBackend.get();
        int reps = quick ? 5 : 50;
        Measure measure = Measure.standard(quick);
        try (CudaBackend gpu = CudaBackend.open(); Arena arena = Arena.ofShared()) {
            String card = gpu.status().deviceName();
            progress.accept("gpu: " + gpu.status().message());
            double copyGbs;
            try (Arena d = Arena.ofConfined()) {
                Tensor src = gpu.memory().zeros(d, DType.F32, 1L << 28), dst = gpu.memory().zeros(d, DType.F32, 1L << 28);
                copyGbs = 2.0 * (1L << 30) / (gpuMs(gpu, quick ? 3 : 20, () -> dst.copyFrom(src)) * 1e6); // read + write
            }
            GpuSuite suite = new GpuSuite(copyGbs);
            rows.add(BenchRow.of("gpu", "copy_d2d", "1 GiB", "f32", 0, "cuda " + card, 2.0 * (1L << 30) / (copyGbs * 1e6), 2.0 * (1L << 30), "GB/s",
                    "none (the bandwidth peak the GB/s rows are measured against)", null, copyGbs));
            long m = 4096, n = 1024;
            Tensor a = BenchData.matrix(arena, m, n, 1), b = BenchData.matrix(arena, m, n, 2), y = Tensor.zeros(arena, DType.F32, m, n);
            Tensor g = BenchData.matrix(arena, 1, n, 3), beta = BenchData.matrix(arena, 1, n, 4);
            Tensor mean = Tensor.zeros(arena, DType.F32, m), rstd = Tensor.zeros(arena, DType.F32, m);
            try (Arena d = Arena.ofConfined()) {
                Tensor da = dev(gpu, d, a), db = dev(gpu, d, b), dy = dev(gpu, d, y), dg = dev(gpu, d, g).reshape(n), dbeta = dev(gpu, d, beta).reshape(n);
                Tensor dmean = dev(gpu, d, mean), drstd = dev(gpu, d, rstd);
                String shape = m + "x" + n;
                double bytes3 = 3.0 * m * n * 4;
                progress.accept("gpu: elementwise and rows " + shape);
                rows.add(suite.row("add", shape, card, gpuMs(gpu, reps, () -> gpu.add(da, db, dy)), bytes3, "GB/s", cpuMs(measure, () -> cpu.add(a, b, y))));
                rows.add(suite.row("gelu_forward", shape, card, gpuMs(gpu, reps, () -> gpu.geluForward(da, dy, false)), 2.0 * m * n * 4, "GB/s",
                        cpuMs(measure, () -> cpu.geluForward(a, y, false))));
                rows.add(suite.row("softmax_forward", shape, card, gpuMs(gpu, reps, () -> gpu.softmaxForward(da, dy)), 2.0 * m * n * 4, "GB/s",
                        cpuMs(measure, () -> cpu.softmaxForward(a, y))));
                rows.add(suite.row("layernorm_forward", shape, card, gpuMs(gpu, reps, () -> gpu.layerNormForward(da, dg, dbeta, 1e-5f, dy, dmean, drstd)),
                        2.0 * m * n * 4, "GB/s", cpuMs(measure, () -> cpu.layerNormForward(a, g.reshape(n), beta.reshape(n), 1e-5f, y, mean, rstd))));
            }
            for (long size : new long[] {1L << 16, 1L << 24}) {
                progress.accept("gpu: adamw " + size);
                Tensor p = BenchData.matrix(arena, 1, size, 5), gr = BenchData.matrix(arena, 1, size, 6);
                Tensor mm = Tensor.zeros(arena, DType.F32, 1, size), vv = Tensor.zeros(arena, DType.F32, 1, size);
                try (Arena d = Arena.ofConfined()) {
                    Tensor dp = dev(gpu, d, p), dgr = dev(gpu, d, gr), dm = dev(gpu, d, mm), dv = dev(gpu, d, vv);
                    long[] step = {1};
                    double g1 = gpuMs(gpu, reps, () -> gpu.adamwStep(dp, dgr, dm, dv, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, step[0]++));
                    long[] cstep = {1};
                    double c1 = cpuMs(measure, () -> cpu.adamwStep(p, gr, mm, vv, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, cstep[0]++));
                    rows.add(suite.row("adamw_step", size + " params", card, g1, 16.0 * size + 12.0 * size, "GB/s", c1));
                }
            }
            progress.accept("gpu: int8 row quantization 4096x4096");
            Tensor x = BenchData.matrix(arena, 4096, 4096, 7), q = Tensor.zeros(arena, DType.I8, 4096, 4096), sc = Tensor.zeros(arena, DType.F32, 4096);
            try (Arena d = Arena.ofConfined()) {
                Tensor dx = dev(gpu, d, x), dq = dev(gpu, d, q), ds = dev(gpu, d, sc);
                rows.add(suite.row("quantize_rows", "4096x4096", card, gpuMs(gpu, reps, () -> gpu.quantizeRows(dx, dq, ds)), 5.0 * 4096 * 4096, "GB/s",
                        cpuMs(measure, () -> cpu.quantizeRows(x, q, sc))));
            }
            part("the CSR and cuBLAS rows", progress, () -> {
                try (Cublas blas = Cublas.open(gpu)) {
                    progress.accept("gpu: CSR 90% 4096x4096 by 4096");
                    Tensor w = BenchData.matrix(arena, 4096, 4096, 8), mask = Tensor.zeros(arena, DType.I8, 4096, 4096);
                    cpu.magnitudeMask(w, cpu.magnitudeThreshold(w, Math.round(0.9 * w.numel())), mask);
                    cpu.applyMask(w, mask);
                    CsrWeights csr = CsrWeights.fromDense(arena, w);
                    Tensor xt = BenchData.matrix(arena, 4096, 4096, 9);
                    try (Arena d = Arena.ofConfined()) {
                        CudaKernels kernels = new CudaKernels(gpu);
                        CudaKernels.DeviceCsr dw = kernels.upload(csr, d);
                        Tensor dwDense = dev(gpu, d, w), dxt = dev(gpu, d, xt), dout = gpu.memory().zeros(d, DType.F32, 4096, 4096);
                        double ms = gpuMs(gpu, quick ? 2 : 20, () -> kernels.csrSpmm(dw, dxt, dout));
                        double dense = gpuMs(gpu, quick ? 2 : 20, () -> blas.gemm(false, false, 1f, dwDense, dxt, 0f, dout, Cublas.Precision.F32));
                        double useful = 2.0 * csr.nnz() * 4096;
                        rows.add(BenchRow.of("gpu", "csr_spmm", "4096x4096 90% x 4096", "f32", 0, "cuda " + card, ms, useful, "GFLOP/s",
                                "cuBLAS f32 dense GEMM on the same operands, same run", dense, 0));
                        Tensor x128 = BenchData.matrix(arena, 128, 4096, 10), y128 = Tensor.zeros(arena, DType.F32, 128, 4096);
                        double cpu128 = cpuMs(measure, () -> cpu.csrLinear(x128, csr, null, org.tune4j.backend.Activation.NONE, y128));
                        rows.add(suite.row("csr_spmm", "4096x4096 90% x 4096 (CPU: M=128 x 32)", card, ms, useful, "GFLOP/s", cpu128 * 32));
                    }
                    cublasRows(rows, gpu, blas, card, quick, progress);
                }
            });
            part("the main job's training steps", progress, () -> GpuVitStep.addRows(rows, gpu, card, quick, progress));
            part("MiniLM's LoRA step", progress, () -> GpuBertStep.addRows(rows, gpu, card, quick, progress));
            part("MiniLM's mixed-adapter batch", progress, () -> GpuAdapterBatch.addRows(rows, gpu, card, quick, progress));
            progress.accept("gpu: " + sparse24Note());
        }
        return rows;
    }

    /** A part of the suite that may throw what a Runnable may not. */
    private interface Part {
        void run() throws java.io.IOException;
    }

    /** Runs one part: its failure is reported and the parts after it still run (the rows so far count; a GPU run has one try). */
    private static void part(String what, Consumer<String> progress, Part body) {
        try {
            body.run();
        } catch (RuntimeException | java.io.IOException e) {
            progress.accept("gpu: " + what + " failed: " + e);
        }
    }

    /** What there is of 2:4 on the GPU: no tune4j path yet; whether cuSPARSELt, which one would use, is on the library path. */
    static String sparse24Note() {
        boolean present = org.tune4j.bindings.NativeAccess.openSystem("libcusparseLt.so.0").isPresent();
        return "2:4 sparse on the GPU: not measured, tune4j has no GPU 2:4 path yet (its 2:4 kernels are the CPU's); cuSPARSELt "
                + (present ? "(libcusparseLt.so.0) is on the library path" : "is absent (libcusparseLt.so.0 is not on the library path)");
    }

    /**
     * GEMMs through cuBLAS (f32, TF32, bf16 with f32 accumulation, int8 → int32) at 4096³, int8 through
     * cuBLASLt (the heuristic's first algorithm, and the fastest of its candidates), and the LoRA layer
     * step (forward + backward, T=4096, d=4096, r=16: the tape's LoRA op on the CUDA backend) in f32 and TF32
     * beside its two frozen-base GEMMs alone (the floor). Operands hold non-zero data (a GPU draws less power, and may clock higher, on
     * zeros). PEFT's step on the same card: torch_peers.py.
     */
    private static void cublasRows(List<BenchRow> rows, CudaBackend gpu, Cublas blas, String card, boolean quick, Consumer<String> progress) {
        int n = 4096, reps = quick ? 3 : 20;
        double flops = 2.0 * n * n * n;
        String self = "cuBLAS f32 pedantic, same run";
        progress.accept("gpu: cuBLAS GEMMs 4096^3");
        CudaKernels kernels = new CudaKernels(gpu);
        try (Arena arena = Arena.ofConfined()) {
            Tensor a = dev(gpu, arena, BenchData.matrix(arena, n, n, 21)), b = dev(gpu, arena, BenchData.matrix(arena, n, n, 22));
            Tensor c = gpu.memory().zeros(arena, DType.F32, n, n), a16 = gpu.memory().zeros(arena, DType.BF16, n, n), b16 = gpu.memory().zeros(arena, DType.BF16, n, n);
            kernels.toBf16(a, a16);
            kernels.toBf16(b, b16);
            double f32 = gpuMs(gpu, reps, () -> blas.gemm(false, false, 1f, a, b, 0f, c, Cublas.Precision.F32));
            String none = "none on the card in this run (torch_peers.py measures PyTorch)";
            rows.add(BenchRow.of("gpu", "gemm_f32", "4096^3", "f32", 0, "cuda " + card, f32, flops, "GFLOP/s", none, null, 0));
            rows.add(BenchRow.of("gpu", "gemm_tf32", "4096^3", "tf32", 0, "cuda " + card,
                    gpuMs(gpu, reps, () -> blas.gemm(false, false, 1f, a, b, 0f, c, Cublas.Precision.TF32)), flops, "GFLOP/s", self, f32, 0));
            rows.add(BenchRow.of("gpu", "gemm_f32_bf16_cores", "4096^3 (f32 tensors, bf16 tensor cores)", "bf16", 0, "cuda " + card,
                    gpuMs(gpu, reps, () -> blas.gemm(false, false, 1f, a, b, 0f, c, Cublas.Precision.BF16)), flops, "GFLOP/s", self, f32, 0));
            rows.add(BenchRow.of("gpu", "gemm_bf16", "4096^3", "bf16", 0, "cuda " + card,
                    gpuMs(gpu, reps, () -> blas.gemm(false, true, 1f, a16, b16, 0f, c, Cublas.Precision.F32)), flops, "GFLOP/s", self, f32, 0));
        }
        progress.accept("gpu: LoRA layer step T=4096 d=4096 r=16 (the tape's LoRA op on the CUDA backend)");
        int r = 16;
        try (Arena arena = Arena.ofConfined()) {
            Tensor w = dev(gpu, arena, BenchData.matrix(arena, n, n, 23)), x = dev(gpu, arena, BenchData.matrix(arena, n, n, 24));
            Tensor la = dev(gpu, arena, BenchData.matrix(arena, r, n, 25)), lb = dev(gpu, arena, BenchData.matrix(arena, n, r, 26));
            Tensor g = dev(gpu, arena, BenchData.matrix(arena, n, n, 27)), y = gpu.memory().zeros(arena, DType.F32, n, n), h = gpu.memory().zeros(arena, DType.F32, n, r);
            Tensor dx = gpu.memory().zeros(arena, DType.F32, n, n), da = gpu.memory().zeros(arena, DType.F32, r, n), db = gpu.memory().zeros(arena, DType.F32, n, r);
            for (Cublas.Precision precision : Cublas.Precision.values()) {
                gpu.setGemmPrecision(precision);
                double floor = gpuMs(gpu, reps, () -> { // the two frozen-base GEMMs alone: y = x Wᵀ, dx += g W
                    gpu.gemm(false, true, 1f, x, w, 0f, y);
                    gpu.gemm(false, false, 1f, g, w, 1f, dx);
                });
                String peer = "the two frozen-base GEMMs alone, same run";
                String dtype = precision.name().toLowerCase(java.util.Locale.ROOT);
                Runnable step = () -> {
                    gpu.loraForward(x, null, w, null, la, lb, 2f, h, y);
                    gpu.loraBackward(x, null, w, la, lb, 2f, h, g, dx, da, db);
                };
                rows.add(BenchRow.of("gpu", "lora_step", "T4096 d4096 r16 fwd+bwd", dtype, 0, "cuda " + card, gpuMs(gpu, reps, step), 3 * flops, "GFLOP/s", peer,
                        floor, 0));
                try (CudaGraph graph = CudaGraph.capture(gpu, step)) {
                    rows.add(BenchRow.of("gpu", "lora_step_graph", "T4096 d4096 r16 fwd+bwd, one CUDA graph", dtype, 0, "cuda " + card,
                            gpuMs(gpu, reps, graph::launch), 3 * flops, "GFLOP/s", peer, floor, 0));
                } catch (IllegalStateException e) {
                    progress.accept("gpu: the LoRA step could not be recorded as a CUDA graph: " + e.getMessage());
                }
            }
            gpu.setGemmPrecision(Cublas.Precision.F32);
        }
        progress.accept("gpu: cuBLASLt int8 4096^3, timing each of the heuristic's candidates");
        try (Arena arena = Arena.ofConfined(); CublasLt lt = CublasLt.open(gpu)) {
            Tensor a = dev(gpu, arena, BenchData.matrix(arena, n, n, 21)), b = dev(gpu, arena, BenchData.matrix(arena, n, n, 22));
            Tensor a8 = gpu.memory().zeros(arena, DType.I8, n, n), b8 = gpu.memory().zeros(arena, DType.I8, n, n), scales = gpu.memory().zeros(arena, DType.F32, n);
            Tensor c32 = gpu.memory().zeros(arena, DType.I32, n, n);
            gpu.quantizeRows(a, a8, scales);
            gpu.quantizeRows(b, b8, scales);
            double gemmEx = gpuMs(gpu, reps, () -> blas.gemmInt8(a8, b8, c32));
            rows.add(BenchRow.of("gpu", "gemm_int8_gemmex", "4096^3", "int8", 0, "cuda " + card, gemmEx, flops, "GOP/s", "none on the card in this run (torch_peers.py measures torch._int_mm)", null, 0));
            progress.accept("gpu: cuBLASLt int8 4096^3, searching the heuristic's candidates");
            double lt8 = gpuMs(gpu, reps, () -> lt.gemmInt8(a8, b8, c32)); // the first call searches; gpuMs times the calls after it
            double again = gpuMs(gpu, 5 * reps, () -> lt.gemmInt8(a8, b8, c32));
            progress.accept(String.format("gpu: cuBLASLt int8 steady state %.4f ms (%d calls), then %.4f ms (%d calls)", lt8, reps, again, 5 * reps));
            lt8 = Math.min(lt8, again);
            CublasLt.Search search = lt.search(n, n, n).orElseThrow();
            rows.add(BenchRow.of("gpu", "gemm_int8_lt_first", "4096^3", "int8", 0, "cuda " + card, search.first().ms(), flops, "GOP/s",
                    "cublasGemmEx int8, same run", gemmEx, 0));
            rows.add(BenchRow.of("gpu", "gemm_int8_lt_best", "4096^3 best of " + search.candidates().size(), "int8", 0, "cuda " + card, lt8, flops, "GOP/s",
                    "cublasGemmEx int8, same run", gemmEx, 0));
            progress.accept("gpu: cuBLASLt candidates (rank, workspace bytes, ms): " + search.candidates());
        }
    }

    /** A device copy of a host tensor, in {@code arena}. */
    private static Tensor dev(CudaBackend gpu, Arena arena, Tensor host) {
        return host.copy(arena, gpu.memory());
    }

    /** Mean ms per call of {@code reps} calls queued back to back and waited for once, after 3 calls that warm up. */
    /**
     * ", ops on the CPU: [...]" when ops ran on the host fallback since {@code gpu.resetFallbacks()}, else "": a row's shape
     * says so (the emulator's CI run looks for these words).
     */
    static String fallbackNote(CudaBackend gpu) {
        return gpu.fallbacks().isEmpty() ? "" : ", ops on the CPU: " + gpu.fallbacks();
    }

    static double gpuMs(CudaBackend gpu, int reps, Runnable op) {
        for (int i = 0; i < 3; i++) op.run();
        gpu.synchronize();
        long t0 = System.nanoTime();
        for (int i = 0; i < reps; i++) op.run();
        gpu.synchronize();
        return (System.nanoTime() - t0) / 1e6 / reps;
    }

    private static double cpuMs(Measure measure, Runnable op) {
        return measure.medianMs(op);
    }

    /** A GPU row whose peer is our CPU backend on the same op (threads: all cores). */
    private BenchRow row(String kernel, String shape, String card, double gpuMs, double work, String unit, double cpuMs) {
        return BenchRow.of("gpu", kernel, shape, "f32", 0, "cuda " + card, gpuMs, work, unit, "tune4j CPU backend, same op", cpuMs,
                unit.equals("GB/s") ? peakGbs : 0);
    }
}
