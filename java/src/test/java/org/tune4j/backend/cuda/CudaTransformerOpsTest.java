package org.tune4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tune4j.backend.ReferenceBackend;
import org.tune4j.backend.TestTensors;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/** The ViT step's own CUDA kernels against the reference (or plain loops), odd sizes included (skips: {@link GpuTest}). */
class CudaTransformerOpsTest extends GpuTest {
    private static final ReferenceBackend REF = new ReferenceBackend();



    @Test
    void attentionMatchesTheReference() {
        CudaTransformerOps ops = new CudaTransformerOps(gpu);
        SplittableRandom rng = new SplittableRandom(3);
        int[][] shapes = {{1, 1, 1, 1}, {3, 2, 5, 8}, {2, 4, 17, 32}, {5, 3, 31, 7}, {1, 1, 32, 64}}; // batch, heads, seq, head width
        for (int[] s : shapes) {
            int batch = s[0], heads = s[1], seq = s[2], dh = s[3], d = heads * dh;
            long rows = (long) batch * seq;
            float scale = (float) (1 / Math.sqrt(dh));
            try (Arena arena = Arena.ofConfined()) {
                Tensor qkv = random(arena, rng, 1, rows, 3L * d), dout = random(arena, rng, 1, rows, d);
                Tensor probs = Tensor.zeros(arena, DType.F32, (long) batch * heads * seq * seq), out = Tensor.zeros(arena, DType.F32, rows, d);
                Tensor q = qkv.view(0, 0, rows, d), k = qkv.view(0, d, rows, d), v = qkv.view(0, 2L * d, rows, d);
                REF.attentionForward(batch, heads, q, k, v, scale, null, probs, out);
                Tensor dqkv = Tensor.zeros(arena, DType.F32, rows, 3L * d);
                REF.attentionBackward(batch, heads, q, k, v, scale, probs, dout, dqkv.view(0, 0, rows, d), dqkv.view(0, d, rows, d), dqkv.view(0, 2L * d, rows, d));
                try (DeviceTensor gQkv = gpu.upload(qkv); DeviceTensor gDout = gpu.upload(dout); DeviceTensor gProbs = gpu.zeros(DeviceTensor.Type.F32, probs.numel());
                        DeviceTensor gOut = gpu.zeros(DeviceTensor.Type.F32, rows, d); DeviceTensor gDqkv = gpu.zeros(DeviceTensor.Type.F32, rows, 3L * d)) {
                    ops.attentionForward(batch, heads, gQkv, scale, gProbs, gOut);
                    ops.attentionBackward(batch, heads, gQkv, gProbs, gDout, scale, gDqkv);
                    String shape = " batch " + batch + " heads " + heads + " seq " + seq + " dh " + dh;
                    TestTensors.assertClose(probs, back(arena, gProbs), 1e-5, "probs" + shape);
                    TestTensors.assertClose(out, back(arena, gOut), 1e-5, "attention" + shape);
                    TestTensors.assertClose(dqkv, back(arena, gDqkv), 1e-4, "attention backward" + shape);
                }
            }
        }
        try (DeviceTensor long33 = gpu.zeros(DeviceTensor.Type.F32, 33, 12); DeviceTensor p = gpu.zeros(DeviceTensor.Type.F32, 33 * 33 * 2);
                DeviceTensor o = gpu.zeros(DeviceTensor.Type.F32, 33, 4)) {
            assertThrows(IllegalArgumentException.class, () -> ops.attentionForward(1, 2, long33, 1f, p, o), "33 tokens exceed the kernel's 32");
        }
    }

    @Test
    void rowsTokensAndClippingMatchPlainLoops() {
        CudaTransformerOps ops = new CudaTransformerOps(gpu);
        SplittableRandom rng = new SplittableRandom(4);
        int batch = 3, p = 4, d = 7;
        try (Arena arena = Arena.ofConfined()) {
            Tensor emb = random(arena, rng, 1, (long) batch * p, d), cls = random(arena, rng, 1, 1, d), pos = random(arena, rng, 1, p + 1, d);
            Tensor bias = random(arena, rng, 1, d);
            Tensor want = Tensor.zeros(arena, DType.F32, (long) batch * (p + 1), d);
            for (int b = 0; b < batch; b++)
                for (int t = 0; t <= p; t++)
                    for (int j = 0; j < d; j++) {
                        float v = t == 0 ? cls.getFloat(j) : emb.getFloat(((long) b * p + t - 1) * d + j);
                        want.setFloat(((long) b * (p + 1) + t) * d + j, v + pos.getFloat((long) t * d + j) + bias.getFloat(j));
                    }
            Tensor src = random(arena, rng, 1, 5, 9), perm = Tensor.zeros(arena, DType.I32, 9), gathered = Tensor.zeros(arena, DType.F32, 5, 9);
            for (int j = 0; j < 9; j++) perm.setInt(j, (j * 4 + 3) % 9);
            for (int i = 0; i < 5; i++)
                for (int j = 0; j < 9; j++) gathered.setFloat(i * 9L + j, src.getFloat(i * 9L + perm.getInt(j)));
            try (DeviceTensor gSrc = gpu.upload(src); DeviceTensor gPerm = gpu.upload(perm); DeviceTensor gDst = gpu.zeros(DeviceTensor.Type.F32, 5, 9)) {
                ops.gatherColumns(gSrc, gPerm, gDst);
                TestTensors.assertClose(gathered, back(arena, gDst), 0, "columns gathered");
            }
            Tensor firstRows = Tensor.zeros(arena, DType.F32, batch, d);
            for (int b = 0; b < batch; b++)
                for (int j = 0; j < d; j++) firstRows.setFloat((long) b * d + j, want.getFloat((long) b * (p + 1) * d + j));
            try (DeviceTensor gEmb = gpu.upload(emb); DeviceTensor gCls = gpu.upload(cls); DeviceTensor gPos = gpu.upload(pos); DeviceTensor gBias = gpu.upload(bias);
                    DeviceTensor x = gpu.zeros(DeviceTensor.Type.F32, (long) batch * (p + 1), d); DeviceTensor rows = gpu.zeros(DeviceTensor.Type.F32, batch, d)) {
                ops.vitTokens(batch, gEmb, gCls, gPos, x);
                ops.addBias(gBias, x);
                TestTensors.assertClose(want, back(arena, x), 1e-6, "tokens + bias");
                ops.copy2d(batch, d, x, (long) (p + 1) * d, rows, d);
                TestTensors.assertClose(firstRows, back(arena, rows), 0, "every sequence's first row");
                assertThrows(IllegalArgumentException.class, () -> ops.copy2d(batch + 1, d, x, (long) (p + 1) * d, rows, d), "overrun");
            }
            Tensor g1 = random(arena, rng, 1, 5, 3), g2 = random(arena, rng, 1, 17);
            double ss1 = 0, ss2 = 0;
            for (float v : g1.toFloatArray()) ss1 += v * v;
            for (float v : g2.toFloatArray()) ss2 += v * v;
            float norm = (float) Math.sqrt(ss1 + ss2);
            try (DeviceTensor a = gpu.upload(g1); DeviceTensor b = gpu.upload(g2); DeviceTensor sums = gpu.zeros(DeviceTensor.Type.F32, 2, 1);
                    DeviceTensor scale = gpu.zeros(DeviceTensor.Type.F32, 1)) {
                ops.sumSquares(a, sums.rows(0, 1));
                ops.sumSquares(b, sums.rows(1, 1));
                ops.clipScale(sums, norm / 2, scale);
                assertEquals((norm / 2) / (norm + 1e-6), back(arena, scale).getFloat(0), 1e-5, "clipped to half the norm");
                ops.clipScale(sums, norm * 2, scale);
                assertEquals(1f, back(arena, scale).getFloat(0), 0f, "under the limit: unchanged");
            }
        }
    }

    @Test
    void adamwWithADeviceGradScaleIsAdamwOnTheScaledGradient() {
        SplittableRandom rng = new SplittableRandom(5);
        try (Arena arena = Arena.ofConfined()) {
            Tensor p = random(arena, rng, 1, 37), g = random(arena, rng, 1, 37), half = Tensor.zeros(arena, DType.F32, 37);
            for (long i = 0; i < 37; i++) half.setFloat(i, g.getFloat(i) * 0.25f);
            Tensor quarter = Tensor.of(arena, new float[] {0.25f}, 1);
            try (DeviceTensor p1 = gpu.upload(p); DeviceTensor p2 = gpu.upload(p); DeviceTensor gFull = gpu.upload(g); DeviceTensor gQuarter = gpu.upload(half);
                    DeviceTensor s = gpu.upload(quarter); DeviceTensor m1 = gpu.zeros(DeviceTensor.Type.F32, 37); DeviceTensor v1 = gpu.zeros(DeviceTensor.Type.F32, 37);
                    DeviceTensor m2 = gpu.zeros(DeviceTensor.Type.F32, 37); DeviceTensor v2 = gpu.zeros(DeviceTensor.Type.F32, 37)) {
                for (int step = 1; step <= 3; step++) {
                    gpu.adamwStep(p1, gFull, s, m1, v1, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, step);
                    gpu.adamwStep(p2, gQuarter, m2, v2, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, step);
                }
                TestTensors.assertClose(back(arena, p2), back(arena, p1), 1e-6, "scaled on the device vs scaled beforehand");
            }
        }
    }
}
