package org.tune4j.compress;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.autograd.Tape;
import org.tune4j.backend.Backend;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.FashionMnist;
import org.tune4j.data.ImageDataset;
import org.tune4j.eval.Evaluate;
import org.tune4j.experiments.Adaptation;
import org.tune4j.io.CompressedCheckpoint;
import org.tune4j.io.ModelFile;
import org.tune4j.io.Safetensors;
import org.tune4j.nn.CompressedLinear;
import org.tune4j.nn.Lora;
import org.tune4j.nn.LoraLinear;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.optim.AdamW;
import org.tune4j.optim.LrSchedule;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;
import org.tune4j.train.Trainer;

/** Post-training int8, 2:4 under a LoRA adapter, saving and loading compressed models, on the shipped ViT. */
class CompressionTest {
    private static final Backend CPU = CpuBackend.get();
    private static final List<String> BLOCKS = List.of("qkv", "proj", "fc1", "fc2");

    private static ImageDataset test(int n) throws IOException {
        return FashionMnist.embedded().test().first(n);
    }

    /**
     * Saves {@code vit} to {@code file}, loads it back, runs {@code check} on the loaded model and asserts
     * that it gives vit's logits on {@code data}.
     */
    private static void assertLoadsBackTheSame(VisionTransformer vit, Path file, ImageDataset data, Consumer<VisionTransformer> check) throws IOException {
        float[] saved = logits(vit, data);
        Adaptation.saveModel(file, vit, "test", 0, 0);
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer back = ModelFile.load(arena, file);
            check.accept(back);
            float[] loaded = logits(back, data);
            for (int i = 0; i < saved.length; i++) assertEquals(saved[i], loaded[i], 1e-5 * (1 + Math.abs(saved[i])), "logit " + i);
        }
    }

    private static float[] logits(VisionTransformer vit, ImageDataset data) {
        vit.train(false);
        try (Arena arena = Arena.ofConfined(); Tape t = new Tape(CPU, false)) {
            Tensor x = Tensor.zeros(arena, DType.F32, data.size(), data.pixelsPerImage());
            Tensor y = Tensor.zeros(arena, DType.I32, data.size());
            org.tune4j.data.Batcher b = new org.tune4j.data.Batcher(data, data.size(), 0, false);
            b.fill(b.order(0), 0, x, y);
            return vit.logits(t, x, false).value().toFloatArray();
        }
    }

    @Test
    void int8PostTrainingQuantizationKeepsAccuracyAndRunsOnInt8Layers() throws IOException {
        ImageDataset data = test(600);
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = ModelFile.load(arena, null);
            double f32 = Evaluate.accuracy(CPU, vit, data, 200);
            Int8Quantization.Result r = Int8Quantization.quantize(arena, CPU, vit, FashionMnist.embedded().train().first(128),
                    Int8Quantization.Options.defaults(), 64);
            assertEquals(1 + 4 * 4 + 1, r.layers().size(), "patch_embed, 4 blocks of 4, head");
            for (Int8Quantization.LayerResult l : r.layers()) {
                assertTrue(l.outputError() > 0 && l.outputError() < 0.05, l.path() + " output error " + l.outputError());
                assertTrue(l.quantized());
                assertInstanceOf(CompressedLinear.class, vit.namedModules().get(l.path()));
            }
            double int8 = Evaluate.accuracy(CPU, vit, data, 200);
            assertTrue(Math.abs(int8 - f32) <= 0.01, "int8 " + int8 + " against f32 " + f32);
        }
    }

    @Test
    void aLayerAboveTheToleranceStaysF32() throws IOException {
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = ModelFile.load(arena, null);
            Int8Quantization.Result r = Int8Quantization.quantize(arena, CPU, vit, test(32), new Int8Quantization.Options(List.of("head", "fc1"), 1e-6), 32);
            assertEquals(0, r.quantizedLayers());
            assertInstanceOf(org.tune4j.nn.Linear.class, vit.namedModules().get("head"));
            assertThrows(IllegalArgumentException.class, () -> Int8Quantization.quantize(arena, CPU, vit, test(0), Int8Quantization.Options.defaults(), 8));
            assertThrows(IllegalArgumentException.class, () -> new Int8Quantization.Options(List.of("head"), 0));
        }
    }

    @Test
    void twoFourUnderAnAdapterKeepsItsMaskThroughTrainingAndCompressesToTheSameModel() throws IOException {
        ImageDataset train = FashionMnist.embedded().train().first(256), data = test(64);
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = ModelFile.load(arena, null);
            Map<String, Tensor> masks = StructuredPruning.prune(arena, CPU, vit, BLOCKS);
            assertEquals(16, masks.size());
            Lora.inject(vit, arena, new Lora.Config(4, 8f, 0f, false, BLOCKS, List.of()), new SplittableRandom(1));
            AdamW opt = AdamW.of(arena, vit.namedParameters(), 0.01f, 1f);
            Trainer.fit(CPU, vit, opt, LrSchedule.linear(1e-3f, 100), train, null, new Trainer.Options(1, 64, 1, 0f, 1.0), new Trainer.Listener() {});
            masks.forEach((path, mask) -> {
                Tensor w = ((LoraLinear) vit.namedModules().get(path)).base().weight().value();
                for (long i = 0; i < w.numel(); i++) if (mask.getByte(i) == 0) assertEquals(0f, w.getFloat(i), path + " weight " + i + " stays pruned");
            });
            float[] before = logits(vit, data);
            Map<String, CompressedLinear> sparse = StructuredPruning.compress(arena, CPU, vit, BLOCKS);
            sparse.values().forEach(c -> assertTrue(c.hasAdapter()));
            float[] after = logits(vit, data);
            for (int i = 0; i < before.length; i++) assertEquals(before[i], after[i], 1e-3 * (1 + Math.abs(before[i])), "logit " + i);
            // then int8: the same kept weights on the int8 kernel's 2:4 packing, adapters still unmerged
            Map<String, CompressedLinear> both = StructuredPruning.quantize(arena, CPU, vit);
            assertEquals(sparse.keySet(), both.keySet());
            both.values().forEach(c -> {
                assertEquals(CompressedLinear.Format.INT8_TWO_FOUR, c.format());
                assertTrue(c.hasAdapter());
            });
            float[] quantized = logits(vit, data);
            double err = 0, norm = 0;
            for (int i = 0; i < before.length; i++) {
                err += Math.pow(quantized[i] - before[i], 2);
                norm += Math.pow(before[i], 2);
            }
            assertTrue(Math.sqrt(err / norm) < 0.05, "int8 2:4 logits within 5% of the 2:4 f32 ones: " + Math.sqrt(err / norm));
            assertThrows(IllegalArgumentException.class, () -> StructuredPruning.quantize(arena, CPU, vit), "nothing left to quantize");
        }
    }

    /** targets pruned 2:4 under rank-2 adapters that look trained (B away from its zero init), then compressed. */
    private static void compressedUnderAdapters(Arena arena, VisionTransformer vit, List<String> targets) {
        StructuredPruning.prune(arena, CPU, vit, targets);
        Lora.inject(vit, arena, new Lora.Config(2, 4f, 0f, false, targets, List.of()), new SplittableRandom(2)).values().forEach(l -> {
            Tensor b = l.loraB().value();
            for (long i = 0; i < b.numel(); i++) b.setFloat(i, 0.05f * (float) Math.sin(i));
        });
        StructuredPruning.compress(arena, CPU, vit, targets);
    }

    @Test
    void aCompressedModelSavesAndLoadsBackToTheSameLogits(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("compressed.safetensors");
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = ModelFile.load(arena, null);
            compressedUnderAdapters(arena, vit, List.of("fc1", "fc2"));
            Int8Quantization.quantize(arena, CPU, vit, test(16), new Int8Quantization.Options(List.of("qkv", "proj", "head"), 0.05), 16);
            assertLoadsBackTheSame(vit, file, test(40), back -> {
                assertInstanceOf(CompressedLinear.class, back.namedModules().get("blocks.2.mlp.fc1"));
                assertEquals(CompressedLinear.Format.INT8, ((CompressedLinear) back.namedModules().get("head")).format());
            });
        }
        // a file whose compression entry names a layer the model lacks is refused with its name
        Path bad = dir.resolve("bad.safetensors");
        try (Safetensors.File f = Safetensors.read(file)) {
            Map<String, String> meta = new java.util.LinkedHashMap<>(f.metadata());
            meta.put(CompressedCheckpoint.METADATA_KEY, "{\"blocks.9.mlp.fc1\": {\"format\": \"int8\"}}");
            Safetensors.write(bad, f.tensors(), meta);
        }
        try (Arena arena = Arena.ofShared()) {
            IOException e = assertThrows(IOException.class, () -> ModelFile.load(arena, bad));
            assertTrue(e.getMessage().contains("blocks.9.mlp.fc1"), e.getMessage());
        }
        assertTrue(Files.size(file) > 0);
    }

    @Test
    void anInt8TwoFourModelSavesAndLoadsBackToTheSameLogits(@TempDir Path dir) throws IOException {
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = ModelFile.load(arena, null);
            compressedUnderAdapters(arena, vit, List.of("qkv"));
            StructuredPruning.quantize(arena, CPU, vit);
            assertLoadsBackTheSame(vit, dir.resolve("int8-2_4.safetensors"), test(24), back -> {
                CompressedLinear qkv = (CompressedLinear) back.namedModules().get("blocks.1.attn.qkv");
                assertEquals(CompressedLinear.Format.INT8_TWO_FOUR, qkv.format());
                assertTrue(qkv.hasAdapter());
            });
        }
    }

    @Test
    void gradualPruningFollowsTheCubicScheduleAndHoldsItsMasks() throws IOException {
        GradualPruning.Schedule s = new GradualPruning.Schedule(0, 0.8, 10, 50, 5);
        assertEquals(0, s.sparsityAt(3));
        assertEquals(0.8, s.sparsityAt(80));
        assertEquals(0.8 - 0.8 / 8, s.sparsityAt(30), 1e-12, "halfway: s_f + (s_i - s_f)/8");
        assertThrows(IllegalArgumentException.class, () -> new GradualPruning.Schedule(0.5, 0.4, 0, 1, 1));
        ImageDataset train = FashionMnist.embedded().train().first(640);
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = ModelFile.load(arena, null); // full fine-tuning: the pruned weights are trainable
            AdamW opt = AdamW.of(arena, vit.namedParameters(), 0.01f, 1f);
            try (GradualPruning pruning = new GradualPruning(CPU, vit, List.of("fc1", "fc2"), new GradualPruning.Schedule(0, 0.6, 0, 8, 2))) {
                Trainer.fit(CPU, vit, opt, LrSchedule.linear(1e-3f, 100), train, null, new Trainer.Options(1, 64, 1, 0f, 1.0), pruning.listener());
                assertEquals(10, pruning.steps());
                assertEquals(0.6, pruning.sparsity(), 1e-12);
            }
            for (String path : List.of("blocks.0.mlp.fc1", "blocks.3.mlp.fc2")) {
                Tensor w = ((org.tune4j.nn.Linear) vit.namedModules().get(path)).weight().value();
                long zeros = 0;
                for (long i = 0; i < w.numel(); i++) if (w.getFloat(i) == 0f) zeros++;
                assertEquals(0.6, (double) zeros / w.numel(), 0.01, path + " sparsity after the last steps' updates");
            }
        }
    }

    @Test
    void gradualPruningUnderALoraAdapterPrunesTheFrozenBase() throws IOException {
        ImageDataset train = FashionMnist.embedded().train().first(640);
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = ModelFile.load(arena, null);
            Map<String, LoraLinear> adapters = Lora.inject(vit, arena, new Lora.Config(4, 8f, 0f, false, List.of("fc1", "fc2"), List.of()),
                    new SplittableRandom(5));
            AdamW opt = AdamW.of(arena, vit.namedParameters(), 0.01f, 1f);
            try (GradualPruning pruning = new GradualPruning(CPU, vit, List.of("fc1", "fc2"), new GradualPruning.Schedule(0.1, 0.5, 0, 6, 2))) {
                Trainer.fit(CPU, vit, opt, LrSchedule.linear(1e-3f, 100), train, null, new Trainer.Options(1, 64, 1, 0f, 1.0), pruning.listener());
                assertEquals(0.5, pruning.sparsity(), 1e-12);
            }
            for (LoraLinear l : adapters.values()) {
                Tensor w = l.base().weight().value();
                long zeros = 0;
                for (long i = 0; i < w.numel(); i++) if (w.getFloat(i) == 0f) zeros++;
                assertEquals(0.5, (double) zeros / w.numel(), 0.01, "the frozen base is pruned on the schedule");
                float bMax = 0;
                for (float v : l.loraB().value().toFloatArray()) bMax = Math.max(bMax, Math.abs(v));
                assertTrue(bMax > 0, "the adapter trained over the pruned base (B left zero)");
            }
        }
    }

    @Test
    void sensitivityFallsWithSparsity() throws IOException {
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = ModelFile.load(arena, null);
            List<Sensitivity.Point> points = Sensitivity.scan(CPU, vit, List.of("fc1"), new double[] {0.5, 0.95}, test(200));
            assertEquals(5 * 3, points.size(), "4 layers and 'all', each dense, 0.5 and 0.95");
            Sensitivity.Point dense = points.get(points.size() - 3), all95 = points.getLast();
            assertEquals("all", all95.layer());
            assertTrue(all95.accuracy() < dense.accuracy() - 0.05, "95% of every fc1 pruned hurts: " + all95 + " vs " + dense);
            double again = Evaluate.accuracy(CPU, vit, test(200), 200);
            assertEquals(dense.accuracy(), again, 1e-12, "the weights are restored");
        }
    }
}
