package org.tune4j.train;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.tune4j.autograd.Parameter;
import org.tune4j.backend.Backend;
import org.tune4j.data.DomainShift;
import org.tune4j.data.FashionMnist;
import org.tune4j.data.ImageDataset;
import org.tune4j.io.Checkpoint;
import org.tune4j.io.PeftAdapter;
import org.tune4j.io.Safetensors;
import org.tune4j.nn.Lora;
import org.tune4j.nn.LoraLinear;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.optim.AdamW;
import org.tune4j.optim.LrSchedule;

/**
 * The main job: a ViT pretrained on clean Fashion-MNIST is adapted to a shifted target domain
 * ({@link DomainShift}) from a few thousand labelled target images, three ways with the same budget
 * (epochs, batch, schedule shape): LoRA on the attention and MLP projections (plus the head), full
 * fine-tuning, and the head alone. Each is measured on the shifted test set (target), the clean test set
 * (what was forgotten), and by its trainable parameters, training memory, step time and images/s.
 */
public final class Adaptation {
    /** The experiment's settings. */
    public record Options(int targetTrain, int targetValidation, int epochs, int batchSize, long seed, Lora.Config lora,
            float loraLr, float loraPlusRatio, float fullLr, float headLr) {
        public static Options defaults() {
            return new Options(4000, 500, 4, 64, 7, new Lora.Config(4, 8f, 0f, false, List.of("qkv", "proj", "fc1", "fc2"), List.of()),
                    1e-3f, 8f, 3e-4f, 3e-3f);
        }
    }

    /** One method's outcome. */
    public record MethodResult(String method, double targetAccuracy, double sourceAccuracy, long trainableParameters,
            long totalParameters, double peakMemoryMib, double stepMillis, double imagesPerSecond, double seconds) {}

    /** The whole experiment. */
    public record Report(String data, int targetTrainImages, int targetTestImages, double pretrainedTarget, double pretrainedSource,
            List<MethodResult> methods) {}

    private Adaptation() {}

    /** Runs every method; the LoRA adapter is saved in PEFT's layout under {@code out/lora-adapter}. */
    public static Report run(Backend backend, FashionMnist.Source data, Path checkpoint, Options o, Path out,
            Function<String, Trainer.Listener> listeners) throws IOException {
        ImageDataset target = DomainShift.apply(data.train().subset(firstN(o.targetTrain() + o.targetValidation())), o.seed());
        ImageDataset.Split split = target.split(o.targetValidation(), o.seed());
        ImageDataset targetTest = DomainShift.apply(data.test(), o.seed() + 1);
        ImageDataset sourceTest = data.test();
        List<MethodResult> results = new ArrayList<>();
        double preTarget, preSource;
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer base = load(arena, checkpoint);
            preTarget = Trainer.accuracy(backend, base, targetTest, 256);
            preSource = Trainer.accuracy(backend, base, sourceTest, 256);
        }
        for (String method : List.of("lora", "full", "head")) {
            try (Arena arena = Arena.ofShared()) {
                VisionTransformer vit = load(arena, checkpoint);
                float lr;
                Map<String, LoraLinear> adapters = Map.of();
                switch (method) {
                    case "lora" -> {
                        adapters = Lora.inject(vit, arena, o.lora(), new SplittableRandom(o.seed()));
                        lr = o.loraLr();
                    }
                    case "full" -> lr = o.fullLr();
                    default -> {
                        vit.setTrainable(false);
                        vit.namedModules().get("head").setTrainable(true);
                        lr = o.headLr();
                    }
                }
                AdamW opt = AdamW.of(arena, vit.namedParameters(), 0.01f, method.equals("lora") ? o.loraPlusRatio() : 1f);
                long steps = (long) o.epochs() * ((split.train().size() + o.batchSize() - 1) / o.batchSize());
                long t0 = System.nanoTime();
                Trainer.History h = Trainer.fit(backend, vit, opt, LrSchedule.warmupCosine(lr, Math.max(1, steps / 10), steps, lr / 50),
                        split.train(), split.validation(), new Trainer.Options(o.epochs(), o.batchSize(), o.seed(), 0f, 1.0), listeners.apply(method));
                double seconds = (System.nanoTime() - t0) / 1e9;
                double targetAcc = Trainer.accuracy(backend, vit, targetTest, 256), sourceAcc = Trainer.accuracy(backend, vit, sourceTest, 256);
                results.add(new MethodResult(method, targetAcc, sourceAcc, vit.parameterCount(true), vit.parameterCount(false),
                        trainingMemory(vit, h) / (1024.0 * 1024.0), h.meanStepMillis(), h.imagesPerSecond(), seconds));
                if (method.equals("lora")) {
                    saveAdapter(out.resolve("lora-adapter"), o.lora(), adapters);
                    adapters.values().forEach(a -> a.merge(backend)); // the checkpoint holds the merged weights
                }
                saveModel(out.resolve(method + ".safetensors"), vit, method, targetAcc, sourceAcc);
            }
        }
        return new Report(data.description(), split.train().size(), targetTest.size(), preTarget, preSource, results);
    }

    /** Parameters, the gradients and AdamW moments of the trainable ones, and the largest step's activations. */
    private static long trainingMemory(VisionTransformer vit, Trainer.History h) {
        long bytes = h.peakStepBytes();
        for (Parameter p : vit.namedParameters().values()) bytes += p.numel() * 4 * (p.trainable() ? 4 : 1);
        return bytes;
    }

    /** The model as a plain ViT checkpoint (LoRA layers merged, their base's names), loadable by {@link #load}. */
    private static void saveModel(Path file, VisionTransformer vit, String method, double target, double source) throws IOException {
        Map<String, Parameter> plain = new LinkedHashMap<>();
        vit.namedParameters().forEach((name, p) -> {
            if (name.endsWith(".lora_A") || name.endsWith(".lora_B")) return;
            plain.put(name.replace(".base.", "."), p);
        });
        Map<String, String> meta = new LinkedHashMap<>(Pretraining.configMetadata(vit.config()));
        meta.put("adapted_by", method);
        meta.put("target_accuracy", String.format("%.4f", target));
        meta.put("source_accuracy", String.format("%.4f", source));
        Checkpoint.save(file, plain, null, meta);
    }

    private static void saveAdapter(Path dir, Lora.Config c, Map<String, LoraLinear> adapters) throws IOException {
        Map<String, PeftAdapter.Lora> modules = new LinkedHashMap<>();
        adapters.forEach((path, l) -> modules.put(path, new PeftAdapter.Lora(l.loraA().value(), l.loraB().value())));
        PeftAdapter.save(dir, new PeftAdapter.Config(c.r(), c.alpha(), c.dropout(), c.targetModules(), c.rsLora(), "tune4j/vit-fmnist"), modules);
    }

    /** The pretrained ViT: from {@code checkpoint}, or the one shipped in the jar when it is null. */
    public static VisionTransformer load(Arena arena, Path checkpoint) throws IOException {
        Path file = checkpoint != null ? checkpoint : shippedCheckpoint();
        Map<String, String> meta;
        try (Safetensors.File f = Safetensors.read(file)) {
            meta = f.metadata();
        }
        VisionTransformer.Config c = new VisionTransformer.Config(num(meta, "image", file), num(meta, "patch", file), num(meta, "dim", file),
                num(meta, "depth", file), num(meta, "heads", file), num(meta, "mlp_hidden", file), num(meta, "classes", file));
        VisionTransformer vit = new VisionTransformer(arena, c, new SplittableRandom(0));
        Checkpoint.load(file, vit.namedParameters(), null);
        return vit;
    }

    private static int num(Map<String, String> meta, String key, Path file) throws IOException {
        String v = meta.get(key);
        if (v == null) throw new IOException(file + ": not a tune4j ViT checkpoint (no '" + key + "' in its metadata)");
        return Integer.parseInt(v);
    }

    /** The shipped checkpoint, copied out of the jar once (memory mapping needs a file). */
    public static Path shippedCheckpoint() throws IOException {
        Path file = Path.of(System.getProperty("java.io.tmpdir"), "tune4j-vit-fmnist-" + Pretraining.VIT.hashCode() + ".safetensors");
        try (InputStream in = Adaptation.class.getResourceAsStream(Pretraining.SHIPPED)) {
            if (in == null) throw new IOException("the pretrained ViT is missing from the jar (" + Pretraining.SHIPPED + "); run tune4j pretrain");
            byte[] bytes = in.readAllBytes();
            if (!Files.isRegularFile(file) || Files.size(file) != bytes.length) {
                Path tmp = Files.createTempFile(file.getParent(), "tune4j-vit", ".part");
                Files.write(tmp, bytes);
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            }
        }
        return file;
    }

    private static int[] firstN(int n) {
        int[] idx = new int[n];
        Arrays.setAll(idx, i -> i);
        return idx;
    }
}
