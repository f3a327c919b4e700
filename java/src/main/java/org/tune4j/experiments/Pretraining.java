package org.tune4j.experiments;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.tune4j.backend.Backend;
import org.tune4j.data.FashionMnist;
import org.tune4j.data.ImageDataset;
import org.tune4j.eval.Evaluate;
import org.tune4j.io.ModelFile;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.optim.AdamW;
import org.tune4j.optim.LrSchedule;
import org.tune4j.train.Trainer;

/**
 * Pretrains the main job's ViT on clean Fashion-MNIST and writes it as a safetensors checkpoint whose
 * metadata records the configuration, the data, the seed and the test accuracy. The checkpoint shipped
 * in the jar ({@value ModelFile#SHIPPED}) was made by this with the defaults of {@link Options#defaults()}.
 */
public final class Pretraining {
    /** The main job's ViT: 28x28 images, 7x7 patches (16 tokens + class token), 128 wide, 4 blocks. */
    public static final VisionTransformer.Config VIT = new VisionTransformer.Config(28, 7, 128, 4, 4, 256, 10);

    /** {@code microBatches}: each batch as that many parts ({@link Trainer.Options#microBatches}). */
    public record Options(int epochs, int batchSize, float lr, float weightDecay, float labelSmoothing, long seed, int validation, int microBatches) {
        public Options {
            if (epochs < 1 || batchSize < 1 || validation < 0) throw new IllegalArgumentException("epochs and batchSize must be >= 1 and validation >= 0, are "
                    + epochs + ", " + batchSize + ", " + validation);
            if (!(lr > 0 && lr < Float.POSITIVE_INFINITY)) throw new IllegalArgumentException("lr must be finite and > 0, is " + lr);
            if (!(weightDecay >= 0 && weightDecay < Float.POSITIVE_INFINITY)) throw new IllegalArgumentException("weightDecay must be finite and >= 0, is " + weightDecay);
            if (!(labelSmoothing >= 0 && labelSmoothing < 1)) throw new IllegalArgumentException("labelSmoothing must be in [0, 1), is " + labelSmoothing);
        }

        public static Options defaults() {
            return new Options(12, 128, 2e-3f, 0.05f, 0.05f, 1, 5000, 1);
        }
    }

    public record Result(double testAccuracy, Trainer.History history, String data) {}

    private Pretraining() {}

    /** Pretrains on {@code backend} (the model made on the host, then moved into the backend's memory) and writes the checkpoint to {@code out}. */
    public static Result run(Backend backend, FashionMnist.Source data, Options o, Path out, Trainer.Listener listener) throws IOException {
        ImageDataset.Split split = data.train().split(o.validation(), o.seed());
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = new VisionTransformer(arena, VIT, new SplittableRandom(o.seed()));
            vit.moveTo(backend.memory(), arena);
            long steps = (long) o.epochs() * ((split.train().size() + o.batchSize() - 1) / o.batchSize());
            LrSchedule schedule = LrSchedule.warmupCosine(o.lr(), Math.max(1, steps / 20), steps, o.lr() / 100);
            Trainer.Options options = new Trainer.Options(o.epochs(), o.batchSize(), o.seed(), o.labelSmoothing(), 1.0).withMicroBatches(o.microBatches());
            Trainer.History h = Trainer.fit(backend, vit, AdamW.of(arena, vit.namedParameters(), o.weightDecay(), 1f), schedule, split.train(),
                    split.validation(), options, listener);
            double test = Evaluate.accuracy(backend, vit, data.test(), 256);
            Map<String, String> meta = new LinkedHashMap<>();
            meta.put("data", data.description());
            meta.put("seed", Long.toString(o.seed()));
            meta.put("epochs", Integer.toString(o.epochs()));
            meta.put("test_accuracy", String.format("%.4f", test));
            vit.moveTo(org.tune4j.tensor.Memory.HOST, arena);
            ModelFile.save(out, vit, meta);
            return new Result(test, h, data.description());
        }
    }
}
