package org.tune4j.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tune4j.autograd.Tape;
import org.tune4j.backend.CpuBackend;
import org.tune4j.compress.Int8Quantization;
import org.tune4j.compress.StructuredPruning;
import org.tune4j.data.FashionMnist;
import org.tune4j.data.ImageDataset;
import org.tune4j.experiments.Adaptation;
import org.tune4j.io.ModelFile;
import org.tune4j.io.PeftAdapter;
import org.tune4j.nn.Lora;
import org.tune4j.nn.LoraLinear;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.tensor.Tensor;

/**
 * The predictor gives the tape's logits for every kind of model (f32, int8, 2:4 under an adapter, an
 * unmerged PEFT adapter), the same answers from many threads, makes no memory per call once loaded,
 * and refuses bad input by name.
 */
class PredictorTest {
    private static final List<String> BLOCKS = List.of("qkv", "proj", "fc1", "fc2");

    private static float[] images(ImageDataset data, int from, int n) {
        float[] out = new float[n * data.pixelsPerImage()];
        for (int i = 0; i < n; i++) data.image(from + i, out, i * data.pixelsPerImage());
        return out;
    }

    private static float[] tapeLogits(VisionTransformer vit, float[] images, int n) {
        vit.train(false);
        // a recording tape: the GELU a compressed layer applies in its kernel when nothing records is held to the tape's own
        try (Arena arena = Arena.ofConfined(); Tape t = new Tape(CpuBackend.get(), true)) {
            return vit.logits(t, Tensor.of(arena, images, n, images.length / n), false).value().toFloatArray();
        }
    }

    private static void assertSameLogits(VisionTransformer vit, Predictor p, ImageDataset data, String what) {
        for (int batch : new int[] {1, 3, 8}) {
            float[] x = images(data, 5, batch), got = new float[batch * 10];
            p.logits(x, batch, got);
            float[] want = tapeLogits(vit, x, batch);
            for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], 1e-4 * (1 + Math.abs(want[i])), what + " batch " + batch + " logit " + i);
        }
    }

    @Test
    void matchesTheTapeForDenseInt8AndTwoFourModels() throws IOException {
        ImageDataset data = FashionMnist.embedded().test();
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = ModelFile.load(arena, null);
            try (Predictor p = Predictor.of(CpuBackend.get(), arena, vit, new Predictor.Options(8, 2))) {
                assertSameLogits(vit, p, data, "f32");
            }
            StructuredPruning.prune(arena, CpuBackend.get(), vit, List.of("fc1", "fc2"));
            Lora.inject(vit, arena, new Lora.Config(4, 8f, 0f, false, List.of("fc1", "fc2"), List.of()), new SplittableRandom(1))
                    .values().forEach(l -> fill(l.loraB().value(), 0.02f));
            try (Predictor p = Predictor.of(CpuBackend.get(), arena, vit, new Predictor.Options(8, 2))) {
                assertSameLogits(vit, p, data, "f32 2:4-pruned, LoRA unmerged");
            }
            StructuredPruning.compress(arena, CpuBackend.get(), vit, List.of("fc1", "fc2"));
            Int8Quantization.quantize(arena, CpuBackend.get(), vit, data.first(32), new Int8Quantization.Options(List.of("qkv", "proj", "head"), 0.05), 32);
            try (Predictor p = Predictor.of(CpuBackend.get(), arena, vit, new Predictor.Options(8, 2))) {
                assertSameLogits(vit, p, data, "2:4 + int8");
            }
        }
    }

    private static void fill(Tensor t, float scale) {
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, scale * (float) Math.cos(0.7 * i));
    }

    @Test
    void loadsAnUnmergedPeftAdapterOverTheBase(@TempDir Path dir) throws IOException {
        ImageDataset data = FashionMnist.embedded().test();
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = ModelFile.load(arena, null);
            Map<String, LoraLinear> adapters = Lora.inject(vit, arena, new Lora.Config(2, 4f, 0f, false, BLOCKS, List.of()), new SplittableRandom(2));
            adapters.values().forEach(l -> fill(l.loraB().value(), 0.03f));
            Map<String, PeftAdapter.Lora> modules = new java.util.LinkedHashMap<>();
            adapters.forEach((path, l) -> modules.put(path, new PeftAdapter.Lora(l.loraA().value(), l.loraB().value())));
            PeftAdapter.save(dir.resolve("adapter"), new PeftAdapter.Config(2, 4f, 0f, BLOCKS, false, "test"), modules);
            try (Predictor p = Predictor.load(CpuBackend.get(), ModelFile.shippedCheckpoint(), dir.resolve("adapter"), Predictor.Options.defaults())) {
                assertSameLogits(vit, p, data, "PEFT adapter unmerged");
            }
        }
        IOException missing = assertThrows(IOException.class,
                () -> Predictor.load(CpuBackend.get(), dir.resolve("nothing.safetensors"), null, Predictor.Options.defaults()));
        assertTrue(missing.getMessage().contains("nothing.safetensors"), missing.getMessage());
    }

    @Test
    void loadsADoraAdapterMerged(@TempDir Path dir) throws IOException {
        ImageDataset data = FashionMnist.embedded().test();
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = ModelFile.load(arena, null);
            Map<String, LoraLinear> adapters = Lora.inject(vit, arena, new Lora.Config(2, 4f, 0f, false, BLOCKS, List.of()).withVariant(false, true),
                    new SplittableRandom(2));
            adapters.values().forEach(l -> {
                fill(l.loraB().value(), 0.03f);
                for (long o = 0; o < l.magnitude().value().numel(); o++) l.magnitude().value().setFloat(o, l.magnitude().value().getFloat(o) * (1 + 0.1f * (o % 3)));
            });
            Map<String, PeftAdapter.Lora> modules = new java.util.LinkedHashMap<>();
            adapters.forEach((path, l) -> modules.put(path, new PeftAdapter.Lora(l.loraA().value(), l.loraB().value(), l.magnitude().value())));
            PeftAdapter.save(dir.resolve("adapter"), new PeftAdapter.Config(2, 4f, 0f, BLOCKS, false, "test", true), modules);
            adapters.values().forEach(l -> l.merge(CpuBackend.get())); // the in-memory model serves merged too
            try (Predictor p = Predictor.load(CpuBackend.get(), ModelFile.shippedCheckpoint(), dir.resolve("adapter"), Predictor.Options.defaults())) {
                assertSameLogits(vit, p, data, "DoRA adapter");
            }
            ModelFile.save(dir.resolve("merged.safetensors"), vit, Map.of()); // the merged model as a plain file: no DoRA magnitude left in it
            try (Predictor p = Predictor.load(CpuBackend.get(), dir.resolve("merged.safetensors"), null, Predictor.Options.defaults())) {
                assertSameLogits(vit, p, data, "DoRA merged and saved");
            }
        }
    }

    @Test
    void loadsAPissaAdapterSavedAsPlainLoraOverTheShippedModel(@TempDir Path dir) throws IOException {
        ImageDataset data = FashionMnist.embedded().test();
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = ModelFile.load(arena, null);
            Lora.Config config = new Lora.Config(2, 4f, 0f, false, BLOCKS, List.of()).withVariant(true, false);
            Map<String, LoraLinear> adapters = Lora.inject(vit, arena, config, new SplittableRandom(2));
            adapters.values().forEach(l -> { // as if trained: A and B moved away from the principal directions
                for (long i = 0; i < l.loraB().value().numel(); i++) l.loraB().value().setFloat(i, l.loraB().value().getFloat(i) * (float) (1 + 0.3 * Math.cos(i)));
            });
            Adaptation.saveAdapter(dir.resolve("adapter"), config, adapters);
            try (PeftAdapter.Loaded saved = PeftAdapter.load(dir.resolve("adapter"))) {
                assertEquals(4, saved.config().r());
                assertEquals(8f, saved.config().alpha());
            }
            try (Predictor p = Predictor.load(CpuBackend.get(), ModelFile.shippedCheckpoint(), dir.resolve("adapter"), Predictor.Options.defaults())) {
                assertSameLogits(vit, p, data, "PiSSA adapter as plain LoRA");
            }
        }
    }

    @Test
    void manyThreadsGetTheSingleThreadAnswers() throws Exception {
        ImageDataset data = FashionMnist.embedded().test();
        int n = 64;
        try (Predictor p = Predictor.load(CpuBackend.get(), null, null, new Predictor.Options(4, 3))) {
            int[] expected = new int[n];
            for (int i = 0; i < n; i++) expected[i] = p.classify(images(data, i, 1));
            ExecutorService pool = Executors.newFixedThreadPool(6);
            try {
                List<Future<int[]>> futures = new ArrayList<>();
                for (int t = 0; t < 6; t++) {
                    int shift = t;
                    futures.add(pool.submit(() -> {
                        int[] got = new int[n];
                        for (int k = 0; k < n; k++) {
                            int i = (k + shift * 11) % n;
                            got[i] = p.classify(images(data, i, 1));
                        }
                        return got;
                    }));
                }
                for (Future<int[]> f : futures) assertTrue(java.util.Arrays.equals(expected, f.get()));
            } finally {
                pool.shutdown();
            }
        }
    }

    @Test
    void makesNoMemoryPerCallOnceLoaded() throws IOException {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        ImageDataset data = FashionMnist.embedded().test();
        try (Predictor p = Predictor.load(CpuBackend.get(), null, null, Predictor.Options.defaults())) {
            long sized = p.workspaceBytes(); // each workspace ran a forward at maxBatch when loaded
            assertTrue(sized > 0, "workspaces sized at load");
            float[] image = images(data, 0, 1), batch = images(data, 0, 8), out = new float[80];
            for (int i = 0; i < 1500; i++) {
                p.classify(image);
                p.logits(batch, 8, out);
            }
            long before = threads.getCurrentThreadAllocatedBytes();
            int sum = 0;
            for (int i = 0; i < 500; i++) {
                sum += p.classify(image);
                p.logits(batch, 8, out);
            }
            long perCall = (threads.getCurrentThreadAllocatedBytes() - before) / 1000;
            assertEquals(sized, p.workspaceBytes(), "every call ran in the memory made at load");
            // the heap holds only the tape's op records (its Vars and tensor views), a few KB a call, never activations
            assertTrue(perCall < 32 * 1024, perCall + " heap bytes a call");
            assertTrue(sum >= 0);
        }
    }

    @Test
    void refusesBadInputByName() throws IOException {
        Predictor p = Predictor.load(CpuBackend.get(), null, null, new Predictor.Options(4, 1));
        float[] one = new float[784];
        assertTrue(assertThrows(IllegalArgumentException.class, () -> p.classify(null)).getMessage().contains("null"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> p.classify(new float[100])).getMessage().contains("784"));
        one[17] = Float.NaN;
        assertTrue(assertThrows(IllegalArgumentException.class, () -> p.classify(one)).getMessage().contains("pixel 17"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> p.logits(new float[5 * 784], 5, new float[50])).getMessage().contains("[1, 4]"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> p.logits(new float[784], 1, new float[3])).getMessage().contains("10 logits"));
        one[17] = 0f;
        assertTrue(p.classify(one) >= 0, "still serves after refusing");
        p.close();
        assertThrows(IllegalStateException.class, () -> p.classify(one));
        p.close();
    }

    @Test
    void absurdBuffersAreRefusedAndLeaveNothingBehind() throws IOException {
        assertThrows(IllegalArgumentException.class, () -> new Predictor.Options(1_000_000_000, 1));
        assertThrows(IllegalArgumentException.class, () -> new Predictor.Options(8, 100_000));
        // the largest allowed: 1024 workspaces of 4096 images is more than this machine's memory; refused, and freed
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Predictor.load(CpuBackend.get(), null, null, new Predictor.Options(Predictor.Options.MAX_BATCH, Predictor.Options.MAX_WORKSPACES)));
        assertTrue(e.getMessage().contains("of working memory, more than there is to spare"), e.getMessage());
        try (Predictor p = Predictor.load(CpuBackend.get(), null, null, new Predictor.Options(4, 1))) {
            assertTrue(p.classify(new float[784]) >= 0, "the next load works");
        }
    }
}
