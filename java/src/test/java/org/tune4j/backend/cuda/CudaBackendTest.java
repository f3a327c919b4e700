package org.tune4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.CsrWeights;
import org.tune4j.backend.ReferenceBackend;
import org.tune4j.backend.TestTensors;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/** Every CUDA op against the CPU backend (or the reference) on random shapes, odd sizes included (skips: {@link GpuTest}). */
class CudaBackendTest extends GpuTest {
    private static final int[][] SHAPES = {{1, 1}, {3, 17}, {17, 33}, {33, 257}, {64, 1024}, {5, 3001}};



    @Test
    void elementwiseMatchesTheCpu() {
        SplittableRandom rng = new SplittableRandom(1);
        CpuBackend cpu = CpuBackend.get();
        for (int[] s : SHAPES) {
            try (Arena arena = Arena.ofConfined()) {
                Tensor a = random(arena, rng, 2, s[0], s[1]), b = random(arena, rng, 2, s[0], s[1]), y = Tensor.zeros(arena, DType.F32, s[0], s[1]);
                try (DeviceTensor da = gpu.upload(a); DeviceTensor db = gpu.upload(b); DeviceTensor dy = gpu.zeros(DeviceTensor.Type.F32, s[0], s[1])) {
                    gpu.add(da, db, dy);
                    cpu.add(a, b, y);
                    TestTensors.assertClose(y, back(arena, dy), 0, "add " + s[0] + "x" + s[1]);
                    gpu.axpy(0.5f, da, dy);
                    cpu.axpy(0.5f, a, y);
                    TestTensors.assertClose(y, back(arena, dy), 1e-6, "axpy");
                    gpu.geluForward(da, dy);
                    cpu.geluForward(a, y, false);
                    TestTensors.assertClose(y, back(arena, dy), 1e-5, "gelu");
                    Tensor dx = Tensor.zeros(arena, DType.F32, s[0], s[1]);
                    try (DeviceTensor ddx = gpu.zeros(DeviceTensor.Type.F32, s[0], s[1])) {
                        gpu.geluBackward(da, db, ddx);
                        cpu.geluBackward(a, b, dx, false);
                        TestTensors.assertClose(dx, back(arena, ddx), 1e-5, "gelu backward");
                    }
                    try (DeviceTensor half = gpu.empty(DeviceTensor.Type.BF16, s[0], s[1]); DeviceTensor round = gpu.empty(DeviceTensor.Type.F32, s[0], s[1])) {
                        gpu.toBf16(da, half);
                        gpu.fromBf16(half, round);
                        TestTensors.assertClose(a, back(arena, round), 1.0 / 256, "bf16 round trip (8 bits of mantissa)");
                    }
                    try (DeviceTensor sum = gpu.empty(DeviceTensor.Type.F32, 1)) {
                        gpu.sum(da, sum);
                        double want = 0;
                        for (long i = 0; i < a.numel(); i++) want += a.getFloat(i);
                        assertEquals(want, back(arena, sum).getFloat(0), 1e-4 * (1 + a.numel()), "sum");
                    }
                }
            }
        }
    }

    @Test
    void rowsMatchTheCpu() {
        SplittableRandom rng = new SplittableRandom(2);
        CpuBackend cpu = CpuBackend.get();
        for (int[] s : SHAPES) {
            int m = s[0], n = s[1];
            try (Arena arena = Arena.ofConfined()) {
                Tensor x = random(arena, rng, 2, m, n), g = random(arena, rng, 2, n), b = random(arena, rng, 2, n), dy = random(arena, rng, 2, m, n);
                Tensor y = Tensor.zeros(arena, DType.F32, m, n), mean = Tensor.zeros(arena, DType.F32, m), rstd = Tensor.zeros(arena, DType.F32, m);
                Tensor dx = Tensor.zeros(arena, DType.F32, m, n), dg = Tensor.zeros(arena, DType.F32, n), db = Tensor.zeros(arena, DType.F32, n);
                try (DeviceTensor gx = gpu.upload(x); DeviceTensor gg = gpu.upload(g); DeviceTensor gb = gpu.upload(b); DeviceTensor gdy = gpu.upload(dy); DeviceTensor gy = gpu.empty(DeviceTensor.Type.F32, m, n);
                        DeviceTensor gm = gpu.empty(DeviceTensor.Type.F32, m); DeviceTensor gr = gpu.empty(DeviceTensor.Type.F32, m);
                        DeviceTensor gdx = gpu.zeros(DeviceTensor.Type.F32, m, n); DeviceTensor gdg = gpu.zeros(DeviceTensor.Type.F32, n); DeviceTensor gdb = gpu.zeros(DeviceTensor.Type.F32, n)) {
                    gpu.softmaxForward(gx, gy);
                    cpu.softmaxForward(x, y);
                    TestTensors.assertClose(y, back(arena, gy), 1e-5, "softmax " + m + "x" + n);
                    gpu.layerNormForward(gx, gg, gb, 1e-5f, gy, gm, gr);
                    cpu.layerNormForward(x, g, b, 1e-5f, y, mean, rstd);
                    TestTensors.assertClose(y, back(arena, gy), 1e-4, "layernorm");
                    TestTensors.assertClose(rstd, back(arena, gr), 1e-4, "layernorm rstd");
                    gpu.layerNormBackward(gx, gg, gm, gr, gdy, gdx, gdg, gdb);
                    cpu.layerNormBackward(x, g, mean, rstd, dy, dx, dg, db);
                    TestTensors.assertClose(dx, back(arena, gdx), 1e-3, "layernorm dx");
                    TestTensors.assertClose(dg, back(arena, gdg), 1e-3, "layernorm dgamma");
                    TestTensors.assertClose(db, back(arena, gdb), 1e-4, "layernorm dbeta");
                }
                Tensor labels = Tensor.zeros(arena, DType.I32, m), probs = Tensor.zeros(arena, DType.F32, m, n), dl = Tensor.zeros(arena, DType.F32, m, n);
                for (int i = 0; i < m; i++) labels.setInt(i, rng.nextInt(n));
                float loss = cpu.crossEntropyForward(x, labels, 0.1f, probs);
                cpu.crossEntropyBackward(probs, labels, 0.1f, 1f, dl);
                try (DeviceTensor gx = gpu.upload(x); DeviceTensor gl = gpu.upload(labels); DeviceTensor gp = gpu.empty(DeviceTensor.Type.F32, m, n);
                        DeviceTensor losses = gpu.empty(DeviceTensor.Type.F32, m); DeviceTensor total = gpu.empty(DeviceTensor.Type.F32, 1); DeviceTensor gd = gpu.zeros(DeviceTensor.Type.F32, m, n)) {
                    gpu.crossEntropyForward(gx, gl, 0.1f, gp, losses);
                    gpu.sum(losses, total);
                    TestTensors.assertClose(probs, back(arena, gp), 1e-5, "cross-entropy probs");
                    assertEquals(loss, back(arena, total).getFloat(0) / m, 1e-4 * (1 + Math.abs(loss)), "mean cross-entropy");
                    gpu.crossEntropyBackward(gp, gl, 0.1f, 1f / m, gd);
                    TestTensors.assertClose(dl, back(arena, gd), 1e-5, "cross-entropy gradient (the CPU's is the mean's)");
                }
            }
        }
    }

    @Test
    void adamwQuantizationSparseAndLoraMatchTheCpu() {
        SplittableRandom rng = new SplittableRandom(3);
        CpuBackend cpu = CpuBackend.get();
        ReferenceBackend ref = new ReferenceBackend();
        try (Arena arena = Arena.ofConfined()) {
            Tensor p = random(arena, rng, 2, 1, 1001), grad = random(arena, rng, 2, 1, 1001), m = Tensor.zeros(arena, DType.F32, 1, 1001), v = Tensor.zeros(arena, DType.F32, 1, 1001);
            try (DeviceTensor gp = gpu.upload(p); DeviceTensor gg = gpu.upload(grad); DeviceTensor gm = gpu.upload(m); DeviceTensor gv = gpu.upload(v)) {
                for (int step = 1; step <= 3; step++) {
                    cpu.adamwStep(p, grad, m, v, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, step);
                    gpu.adamwStep(gp, gg, gm, gv, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, step);
                }
                TestTensors.assertClose(p, back(arena, gp), 1e-5, "adamw, 3 steps");
            }
            for (int[] s : SHAPES) {
                Tensor x = random(arena, rng, 2, s[0], s[1]), q = Tensor.zeros(arena, DType.I8, s[0], s[1]), sc = Tensor.zeros(arena, DType.F32, s[0]);
                ref.quantizeRows(x, q, sc);
                try (DeviceTensor gx = gpu.upload(x); DeviceTensor gq = gpu.empty(DeviceTensor.Type.I8, s[0], s[1]); DeviceTensor gs = gpu.empty(DeviceTensor.Type.F32, s[0])) {
                    gpu.quantizeRows(gx, gq, gs);
                    Tensor q2 = back(arena, gq);
                    for (long i = 0; i < q.numel(); i++) assertEquals(q.getByte(i), q2.getByte(i), "int8 value " + i + " of " + s[0] + "x" + s[1]);
                    TestTensors.assertClose(sc, back(arena, gs), 0, "scales");
                }
            }
            // CSR x dense: partial row tiles, column strips and K chunks (64) of the tiled kernel
            for (int[] s : new int[][] {{37, 130, 77}, {150, 300, 260}, {1, 5, 1}, {70, 64, 129}}) {
                Tensor dense = random(arena, rng, 2, s[0], s[1]), mask = Tensor.zeros(arena, DType.I8, s[0], s[1]);
                cpu.magnitudeMask(dense, cpu.magnitudeThreshold(dense, Math.round(0.9 * dense.numel())), mask);
                cpu.applyMask(dense, mask);
                CsrWeights csr = CsrWeights.fromDense(arena, dense);
                Tensor b = random(arena, rng, 2, s[1], s[2]), c = Tensor.zeros(arena, DType.F32, s[0], s[2]);
                ref.gemm(false, false, 1f, dense, b, 0f, c);
                try (CudaBackend.DeviceCsr w = gpu.upload(csr); DeviceTensor gb = gpu.upload(b); DeviceTensor gc = gpu.empty(DeviceTensor.Type.F32, s[0], s[2])) {
                    gpu.csrSpmm(w, gb, gc);
                    TestTensors.assertClose(c, back(arena, gc), 1e-4, "CSR x dense " + s[0] + "x" + s[1] + " x " + s[2]);
                }
            }
        }
    }

    @Test
    void cublasGemmsMatchTheCpu() {
        SplittableRandom rng = new SplittableRandom(4);
        ReferenceBackend ref = new ReferenceBackend();
        try (Cublas blas = Cublas.open(gpu); Arena arena = Arena.ofConfined()) {
            for (int[] s : new int[][] {{1, 1, 1}, {17, 33, 65}, {128, 257, 64}, {3, 1024, 7}}) {
                int m = s[0], n = s[1], k = s[2];
                for (boolean ta : new boolean[] {false, true})
                    for (boolean tb : new boolean[] {false, true}) {
                        Tensor a = ta ? random(arena, rng, 2, k, m) : random(arena, rng, 2, m, k), b = tb ? random(arena, rng, 2, n, k) : random(arena, rng, 2, k, n);
                        Tensor c = random(arena, rng, 2, m, n);
                        try (DeviceTensor ga = gpu.upload(a); DeviceTensor gb = gpu.upload(b); DeviceTensor gc = gpu.upload(c)) {
                            ref.gemm(ta, tb, 0.5f, a, b, 2f, c);
                            blas.gemm(ta, tb, 0.5f, ga, gb, 2f, gc, Cublas.Precision.F32);
                            TestTensors.assertClose(c, back(arena, gc), 1e-4, "f32 gemm " + m + "x" + n + "x" + k + " " + ta + tb);
                        }
                    }
                Tensor a = random(arena, rng, 2, m, k), b = random(arena, rng, 2, n, k), c = Tensor.zeros(arena, DType.F32, m, n);
                ref.gemm(false, true, 1f, a, b, 0f, c);
                try (DeviceTensor ga = gpu.upload(a); DeviceTensor gb = gpu.upload(b); DeviceTensor gc = gpu.zeros(DeviceTensor.Type.F32, m, n);
                        DeviceTensor ha = gpu.empty(DeviceTensor.Type.BF16, m, k); DeviceTensor hb = gpu.empty(DeviceTensor.Type.BF16, n, k)) {
                    blas.gemm(false, true, 1f, ga, gb, 0f, gc, Cublas.Precision.TF32);
                    TestTensors.assertClose(c, back(arena, gc), 2e-2 * Math.sqrt(k), "tf32 gemm");
                    gpu.toBf16(ga, ha);
                    gpu.toBf16(gb, hb);
                    blas.gemm(false, true, 1f, ha, hb, 0f, gc, Cublas.Precision.F32);
                    TestTensors.assertClose(c, back(arena, gc), 4e-2 * Math.sqrt(k), "bf16 gemm, f32 accumulation");
                }
            }
            int m = 33, n = 65, k = 128;
            Tensor a = Tensor.zeros(arena, DType.I8, m, k), b = Tensor.zeros(arena, DType.I8, n, k);
            for (long i = 0; i < a.numel(); i++) a.setByte(i, (byte) (rng.nextInt(255) - 127));
            for (long i = 0; i < b.numel(); i++) b.setByte(i, (byte) (rng.nextInt(255) - 127));
            try (DeviceTensor ga = gpu.upload(a); DeviceTensor gb = gpu.upload(b); DeviceTensor gc = gpu.empty(DeviceTensor.Type.I32, m, n)) {
                blas.gemmInt8(ga, gb, gc);
                Tensor c = back(arena, gc);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        int want = 0;
                        for (int p = 0; p < k; p++) want += a.getByte((long) i * k + p) * b.getByte((long) j * k + p);
                        assertEquals(want, c.getInt((long) i * n + j), "int8 gemm exact at " + i + "," + j);
                    }
            }
        }
    }

    /**
     * The layer against the CPU kernels. F32 compute to 1e-4; BF16 to a bound from the sizes of the terms
     * (each element's error within 1% of the sum of the absolute values of the products that make it:
     * the same computation on |x|, |W|, |A|, |B|, |g|), since bf16 rounds every input and s h (s gB)
     * before the products. Ranks 4 and 40, and the side stream's work joined before every download.
     */
    @ParameterizedTest
    @ValueSource(ints = {4, 40})
    void loraLayerMatchesTheCpuKernels(int r) {
        SplittableRandom rng = new SplittableRandom(5);
        CpuBackend cpu = CpuBackend.get();
        int t = 37, din = 64, dout = 48;
        float s = 2f;
        try (Cublas blas = Cublas.open(gpu); Arena arena = Arena.ofConfined()) {
            Tensor x = random(arena, rng, 2, t, din), w = random(arena, rng, 2, dout, din), a = random(arena, rng, 2, r, din), b = random(arena, rng, 2, dout, r);
            Tensor g = random(arena, rng, 2, t, dout);
            Tensor[] want = lora(arena, cpu, x, w, a, b, g, s), bound = lora(arena, cpu, abs(arena, x), abs(arena, w), abs(arena, a), abs(arena, b), abs(arena, g), s);
            for (DeviceTensor.Type type : new DeviceTensor.Type[] {DeviceTensor.Type.F32, DeviceTensor.Type.BF16}) {
                try (DeviceTensor gx = gpu.upload(x); DeviceTensor gw = gpu.upload(w); DeviceTensor ga = gpu.upload(a); DeviceTensor gbb = gpu.upload(b);
                        DeviceTensor gg = gpu.upload(g); DeviceTensor gy = gpu.empty(DeviceTensor.Type.F32, t, dout);
                        DeviceTensor gdx = gpu.zeros(DeviceTensor.Type.F32, t, din); DeviceTensor gda = gpu.zeros(DeviceTensor.Type.F32, r, din);
                        DeviceTensor gdb = gpu.zeros(DeviceTensor.Type.F32, dout, r);
                        CudaLoraLayer layer = new CudaLoraLayer(gpu, blas, gw, r, s, 64, type, Cublas.Precision.F32)) {
                    layer.forward(gx, ga, gbb, gy);
                    layer.backward(gx, ga, gbb, gg, gdx, gda, gdb);
                    Tensor[] got = {back(arena, gy), back(arena, gdx), back(arena, gda), back(arena, gdb)};
                    if (type == DeviceTensor.Type.F32) {
                        String[] names = {"y", "dx", "dA", "dB"};
                        for (int i = 0; i < 4; i++) TestTensors.assertClose(want[i], got[i], 1e-4 * (i < 2 ? Math.sqrt(din) : t), "F32 " + names[i]);
                        continue;
                    }
                    assertWithin(want, got, bound, "BF16 compute, F32 in and out");
                    // bf16 activations in and out, as a bf16 training loop holds them
                    try (DeviceTensor x16 = gpu.empty(DeviceTensor.Type.BF16, t, din); DeviceTensor g16 = gpu.empty(DeviceTensor.Type.BF16, t, dout);
                            DeviceTensor y16 = gpu.empty(DeviceTensor.Type.BF16, t, dout); DeviceTensor dx16 = gpu.zeros(DeviceTensor.Type.BF16, t, din);
                            DeviceTensor y32 = gpu.empty(DeviceTensor.Type.F32, t, dout); DeviceTensor dx32 = gpu.empty(DeviceTensor.Type.F32, t, din)) {
                        gpu.toBf16(gx, x16);
                        gpu.toBf16(gg, g16);
                        gpu.zero(gda);
                        gpu.zero(gdb);
                        layer.forward(x16, ga, gbb, y16);
                        layer.backward(x16, ga, gbb, g16, dx16, gda, gdb);
                        gpu.fromBf16(y16, y32);
                        gpu.fromBf16(dx16, dx32);
                        assertWithin(want, new Tensor[] {back(arena, y32), back(arena, dx32), back(arena, gda), back(arena, gdb)}, bound, "BF16 in and out");
                        assertThrows(IllegalArgumentException.class, () -> layer.backward(x16, ga, gbb, gg, gdx, gda, gdb), "g must match x's type");
                    }
                }
            }
        }
    }

    /**
     * bf16 mixed-precision LoRA fine-tuning on the device: a frozen W, a rank-8 adapter (f32 master
     * weights, AdamW on the device) fitted to targets made by W plus a rank-4 change; the mean squared
     * error falls below 5% of its start within 100 steps (an f32 simulation of the same loop on the same
     * distributions falls to 0.8% by step 50 and 0.007% by step 100; bf16's rounding of x and W leaves
     * a floor near 0.1%).
     */
    @Test
    void bf16LoraFineTuningLearns() {
        SplittableRandom rng = new SplittableRandom(11);
        int t = 256, d = 64, r = 8;
        float s = 2f;
        try (Cublas blas = Cublas.open(gpu); Arena arena = Arena.ofConfined()) {
            Tensor x = random(arena, rng, 2, t, d), w = random(arena, rng, 2, d, d), bStar = random(arena, rng, 2, d, 4), aStar = random(arena, rng, 2, 4, d);
            Tensor target = Tensor.zeros(arena, DType.F32, t, d), moved = Tensor.zeros(arena, DType.F32, d, d), a0 = random(arena, rng, 2, r, d);
            ReferenceBackend ref = new ReferenceBackend();
            ref.gemm(false, false, 0.09f, bStar, aStar, 0f, moved); // (0.3 B*)(0.3 A*): a rank-4 change of W
            for (long i = 0; i < moved.numel(); i++) moved.setFloat(i, moved.getFloat(i) + w.getFloat(i));
            ref.gemm(false, true, 1f, x, moved, 0f, target);
            for (long i = 0; i < a0.numel(); i++) a0.setFloat(i, a0.getFloat(i) / 2 / (float) Math.sqrt(d)); // PEFT's A: small random; B: zero
            Tensor y = Tensor.zeros(arena, DType.F32, t, d);
            try (DeviceTensor gx = gpu.upload(x); DeviceTensor gw = gpu.upload(w); DeviceTensor gt = gpu.upload(target); DeviceTensor ga = gpu.upload(a0);
                    DeviceTensor gb = gpu.zeros(DeviceTensor.Type.F32, d, r); DeviceTensor gy = gpu.empty(DeviceTensor.Type.F32, t, d);
                    DeviceTensor gg = gpu.empty(DeviceTensor.Type.F32, t, d); DeviceTensor da = gpu.empty(DeviceTensor.Type.F32, r, d);
                    DeviceTensor db = gpu.empty(DeviceTensor.Type.F32, d, r); DeviceTensor ma = gpu.zeros(DeviceTensor.Type.F32, r, d);
                    DeviceTensor va = gpu.zeros(DeviceTensor.Type.F32, r, d); DeviceTensor mb = gpu.zeros(DeviceTensor.Type.F32, d, r);
                    DeviceTensor vb = gpu.zeros(DeviceTensor.Type.F32, d, r);
                    CudaLoraLayer layer = new CudaLoraLayer(gpu, blas, gw, r, s, t, DeviceTensor.Type.BF16, Cublas.Precision.F32)) {
                double first = Double.NaN, last = Double.NaN;
                for (int step = 1; step <= 100; step++) {
                    layer.forward(gx, ga, gb, gy);
                    gpu.zero(gg); // g = 2 (y - target) / n, the mean squared error's gradient
                    gpu.axpy(2f / (t * d), gy, gg);
                    gpu.axpy(-2f / (t * d), gt, gg);
                    gpu.zero(da);
                    gpu.zero(db);
                    layer.backward(gx, ga, gb, gg, null, da, db);
                    gpu.adamwStep(ga, da, ma, va, 1e-2f, 0.9f, 0.999f, 1e-8f, 0f, step);
                    gpu.adamwStep(gb, db, mb, vb, 1e-2f, 0.9f, 0.999f, 1e-8f, 0f, step);
                    if (step == 1 || step == 100) {
                        gpu.download(gy, y);
                        double loss = 0;
                        for (long i = 0; i < y.numel(); i++) loss += Math.pow(y.getFloat(i) - target.getFloat(i), 2) / y.numel();
                        if (step == 1) first = loss;
                        else last = loss;
                    }
                }
                assertTrue(last < 0.05 * first, "mean squared error from " + first + " to " + last + " in 100 steps");
            }
        }
    }

    /** y, dx, dA, dB of the CPU kernels (dx, dA, dB from zero). */
    private static Tensor[] lora(Arena arena, CpuBackend cpu, Tensor x, Tensor w, Tensor a, Tensor b, Tensor g, float s) {
        long t = x.dim(0), din = x.dim(1), dout = w.dim(0), r = a.dim(0);
        Tensor h = Tensor.zeros(arena, DType.F32, t, r), y = Tensor.zeros(arena, DType.F32, t, dout);
        Tensor dx = Tensor.zeros(arena, DType.F32, t, din), da = Tensor.zeros(arena, DType.F32, r, din), db = Tensor.zeros(arena, DType.F32, dout, r);
        cpu.loraForward(x, null, w, null, a, b, s, h, y);
        cpu.loraBackward(x, null, w, a, b, s, h, g, dx, da, db);
        return new Tensor[] {y, dx, da, db};
    }

    private static Tensor abs(Arena arena, Tensor t) {
        Tensor out = Tensor.zeros(arena, DType.F32, t.shape());
        for (long i = 0; i < t.numel(); i++) out.setFloat(i, Math.abs(t.getFloat(i)));
        return out;
    }

    /** Each element of got within 1% of bound's element (plus 1e-3) of want's. */
    private static void assertWithin(Tensor[] want, Tensor[] got, Tensor[] bound, String what) {
        String[] names = {"y", "dx", "dA", "dB"};
        for (int k = 0; k < want.length; k++)
            for (long i = 0; i < want[k].numel(); i++) {
                double err = Math.abs(want[k].getFloat(i) - got[k].getFloat(i)), limit = 1e-2 * bound[k].getFloat(i) + 1e-3;
                if (!(err <= limit)) throw new AssertionError(what + ", " + names[k] + " element " + i + ": expected " + want[k].getFloat(i) + " got "
                        + got[k].getFloat(i) + " (limit " + limit + " from the terms' size " + bound[k].getFloat(i) + ")");
            }
    }

    @Test
    void scaleIntoWritesABlockOfAWiderMatrix() {
        SplittableRandom rng = new SplittableRandom(12);
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = random(arena, rng, 2, 3, 5);
            for (DeviceTensor.Type type : new DeviceTensor.Type[] {DeviceTensor.Type.F32, DeviceTensor.Type.BF16}) {
                try (DeviceTensor gx = gpu.upload(x); DeviceTensor y = gpu.zeros(type, 3, 9); DeviceTensor y32 = gpu.empty(DeviceTensor.Type.F32, 3, 9)) {
                    gpu.scaleInto(gx, 0.5f, y, 2);
                    if (type == DeviceTensor.Type.BF16) gpu.fromBf16(y, y32);
                    else gpu.copy(y, y32);
                    Tensor got = back(arena, y32);
                    for (int i = 0; i < 3; i++)
                        for (int j = 0; j < 9; j++) {
                            float want = j >= 2 && j < 7 ? 0.5f * x.getFloat(i, j - 2) : 0f;
                            assertEquals(want, got.getFloat(i, j), type == DeviceTensor.Type.BF16 ? 4e-3 * Math.abs(want) : 0, type + " at " + i + "," + j);
                        }
                }
            }
            try (DeviceTensor gx = gpu.upload(x); DeviceTensor y = gpu.zeros(DeviceTensor.Type.F32, 3, 6)) {
                assertThrows(IllegalArgumentException.class, () -> gpu.scaleInto(gx, 1f, y, 2));
            }
        }
    }

    @Test
    void graphsReplayTheRecordedWorkOnNewInputs() {
        SplittableRandom rng = new SplittableRandom(9);
        CpuBackend cpu = CpuBackend.get();
        try (Arena arena = Arena.ofConfined()) {
            Tensor first = random(arena, rng, 2, 3, 17), second = random(arena, rng, 2, 3, 17), twice = Tensor.zeros(arena, DType.F32, 3, 17), want = Tensor.zeros(arena, DType.F32, 3, 17);
            try (DeviceTensor x = gpu.upload(first); DeviceTensor fresh = gpu.upload(second); DeviceTensor y = gpu.empty(DeviceTensor.Type.F32, 3, 17);
                    DeviceTensor z = gpu.empty(DeviceTensor.Type.F32, 3, 17)) {
                try (CudaGraph graph = CudaGraph.capture(gpu, () -> {
                    gpu.add(x, x, y);
                    gpu.geluForward(y, z);
                })) {
                    gpu.copy(fresh, x); // new input at the recorded address
                    graph.launch();
                    cpu.add(second, second, twice);
                    cpu.geluForward(twice, want, false);
                    TestTensors.assertClose(want, back(arena, z), 1e-5, "gelu(2x) replayed on the new x");
                }
                Tensor host = Tensor.zeros(arena, DType.F32, 3, 17);
                IllegalStateException refused = assertThrows(IllegalStateException.class, () -> CudaGraph.capture(gpu, () -> gpu.download(x, host)));
                assertTrue(refused.getMessage().contains("CUDA graph"), refused.getMessage());
                gpu.add(x, x, y); // the stream runs work again after the failed recording
                TestTensors.assertClose(twice, back(arena, y), 1e-6, "add after a failed recording");
            }
        }
    }

    @Test
    void badArgumentsAreRefusedByName() {
        try (DeviceTensor a = gpu.zeros(DeviceTensor.Type.F32, 3, 4); DeviceTensor b = gpu.zeros(DeviceTensor.Type.F32, 4, 4)) {
            assertTrue(assertThrows(IllegalArgumentException.class, () -> gpu.add(a, b, a)).getMessage().contains("must match"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> gpu.quantizeRows(a, a, b)).getMessage().contains("q must be I8"));
            assertThrows(IllegalArgumentException.class, () -> gpu.adamwStep(a, a, a, a, 1f, 0.9f, 0.99f, 1e-8f, 0f, 0));
        }
        DeviceTensor gone = gpu.zeros(DeviceTensor.Type.F32, 2);
        gone.close();
        assertThrows(IllegalStateException.class, gone::pointer);
        long cached = gpu.allocator().cachedBytes();
        assertFalse(cached < 0);
        IllegalStateException oom = assertThrows(IllegalStateException.class, () -> gpu.empty(DeviceTensor.Type.F32, 1L << 40));
        assertTrue(oom.getMessage().contains("out of memory"), oom.getMessage());
        // the refused allocation must not be reported again by the next kernel launch
        try (Arena arena = Arena.ofConfined(); DeviceTensor x = gpu.zeros(DeviceTensor.Type.F32, 1, 5); DeviceTensor y = gpu.empty(DeviceTensor.Type.F32, 1, 5)) {
            gpu.add(x, x, y);
            TestTensors.assertClose(Tensor.zeros(arena, DType.F32, 1, 5), back(arena, y), 0, "add after a refused allocation");
        }
    }
}
