package org.tune4j.cli;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import org.tune4j.backend.Backend;
import org.tune4j.data.FashionMnist;
import org.tune4j.data.ImageDataset;
import org.tune4j.eval.Evaluate;
import org.tune4j.experiments.Adaptation;
import org.tune4j.io.ModelFile;
import org.tune4j.nn.Classifier;
import org.tune4j.nn.Lora;
import org.tune4j.nn.LoraLinear;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.optim.AdamW;
import org.tune4j.optim.LrSchedule;
import org.tune4j.robust.AttackSanity;
import org.tune4j.robust.Attacks;
import org.tune4j.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code tune4j robust}: adversarial fine-tuning of the pretrained ViT on clean Fashion-MNIST (FGSM with a
 * random start on part of each batch, Wong et al. 2020), then clean accuracy and PGD-20 robust accuracy
 * beside the model it started from.
 */
@Command(name = "robust", mixinStandardHelpOptions = true,
        description = "Fine-tune the pretrained ViT for adversarial robustness on clean Fashion-MNIST (LoRA or full, "
                + "FGSM with random start on a fraction of each batch) and report clean and PGD-20 accuracy before and after.")
final class RobustCommand implements Callable<Integer> {
    private static final int BATCH = 64; // the adversarial fine-tuning's batch
    @Mixin
    DeviceOption device;

    @Mixin
    DataOptions input;

    @Mixin
    MicroBatchesOption microBatches;

    @Option(names = "--method", defaultValue = "lora", description = "lora or full (default: ${DEFAULT-VALUE}).")
    String method;

    @Option(names = "--rank", defaultValue = "16", description = "LoRA rank (default: ${DEFAULT-VALUE}); the head is trained in full.")
    int rank;

    @Option(names = "--epochs", defaultValue = "6", description = "Epochs (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--train-images", defaultValue = "10000", description = "Training images used (default: ${DEFAULT-VALUE}).")
    int trainImages;

    @Option(names = "--attack-steps", description = "Attack steps in training: 1 is FGSM with a random start, k > 1 PGD-k (default: ${DEFAULT-VALUE}).",
            defaultValue = "1")
    int attackSteps;

    @Option(names = "--eps", defaultValue = "0.1", description = "L-inf radius, pixels in [0, 1] (default: ${DEFAULT-VALUE}).")
    float eps;

    @Option(names = "--mix", defaultValue = "0.5", description = "Adversarial fraction of each batch (default: ${DEFAULT-VALUE}).")
    double mix;

    @Option(names = "--lr", defaultValue = "2e-3", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    float lr;

    @Option(names = "--eval-images", defaultValue = "1000", description = "Test images attacked with PGD-20 (default: ${DEFAULT-VALUE}).")
    int evalImages;

    @Option(names = "--out", paramLabel = "FILE", description = "Write the fine-tuned model (LoRA merged) here.")
    Path out;

    @Override
    public Integer call() throws Exception {
        OptionChecks.atLeast("--rank", rank, 1);
        OptionChecks.atLeast("--epochs", epochs, 1);
        OptionChecks.atLeast("--train-images", trainImages, 501); // 500 of them are the validation split
        OptionChecks.atLeast("--eval-images", evalImages, 1);
        OptionChecks.positive("--lr", lr);
        int parts = microBatches.parts(BATCH);
        if (out != null) OptionChecks.writableFile("--out", out);
        input.check();
        if (method.equals("lora")) input.checkRank("--rank", rank);
        device.cuda(); // a bad --device fails before the data is read
        if (!method.equals("lora") && !method.equals("full")) throw new IllegalArgumentException("--method must be lora or full, not " + method);
        if (!(mix >= 0 && mix <= 1)) throw new IllegalArgumentException("--mix must be in [0, 1], not " + mix);
        if (!(eps > 0 && eps <= 1)) throw new IllegalArgumentException("--eps must be in (0, 1], not " + eps);
        if (attackSteps < 1) throw new IllegalArgumentException("--attack-steps must be >= 1, not " + attackSteps);
        FashionMnist.Source source = input.source();
        ImageDataset.Split split = source.train().first(trainImages).split(500, 11);
        ImageDataset test = source.test(), attacked = test.first(evalImages);
        float[] eval = {0.05f, 0.1f};
        try (Arena arena = Arena.ofShared(); DeviceOption.Compute on = device.open()) {
            Backend backend = on.backend();
            if (on.gpuName() != null) System.out.println("device: " + on.gpuName() + " (training, its attacks and the reports, f32)");
            VisionTransformer vit = on.place(ModelFile.load(arena, input.checkpoint));
            report("before", backend, vit, test, attacked, eval);
            vit.moveTo(org.tune4j.tensor.Memory.HOST, arena); // adapters are made from the host's weights (PiSSA's SVD, the head's copy)
            Map<String, LoraLinear> adapters = Map.of();
            if (method.equals("lora"))
                adapters = Lora.inject(vit, arena, new Lora.Config(rank, 2f * rank, 0f, false, List.of("qkv", "proj", "fc1", "fc2"), List.of("head")),
                        new SplittableRandom(11));
            on.place(vit);
            long steps = (long) epochs * ((split.train().size() + BATCH - 1) / BATCH);
            // FGSM with random start (step 1.25 eps, Wong et al. 2020), or PGD-k (step 2.5 eps / k, Madry et al. 2018)
            var attack = attackSteps <= 1 ? new Attacks.Pgd(eps, 1.25f * eps, 1, true) : new Attacks.Pgd(eps, 2.5f * eps / attackSteps, attackSteps, true);
            LrSchedule schedule = LrSchedule.warmupCosine(lr, Math.max(1, steps / 10), steps, lr / 50);
            Trainer.Options options = new Trainer.Options(epochs, BATCH, 11, 0f, 1.0, attack, mix).withMicroBatches(parts);
            try (Progress progress = new Progress("robust-" + method)) {
                Trainer.fit(backend, vit, AdamW.of(arena, vit.namedParameters(), 0.01f, 1f), schedule, split.train(), split.validation(), options, progress);
            }
            double clean = report("after", backend, vit, test, attacked, eval);
            if (out != null) {
                adapters.values().forEach(a -> a.merge(backend));
                vit.moveTo(org.tune4j.tensor.Memory.HOST, arena);
                Adaptation.saveModel(out, vit, "robust-" + method, Double.NaN, clean);
                System.out.println("wrote " + out);
            }
        }
        return 0;
    }

    /**
     * Clean accuracy, PGD-20 at each ε, and the attack-strength check (PGD-5 and FGSM at the largest ε as
     * well): a model whose numbers look like gradient masking is flagged, not reported as robust.
     */
    private double report(String when, Backend backend, Classifier model, ImageDataset test, ImageDataset attacked, float[] eps) {
        double clean = Evaluate.accuracy(backend, model, test, 256);
        StringBuilder line = new StringBuilder(String.format("%-7s clean %.2f%% (%d images)", when, 100 * clean, test.size()));
        List<AttackSanity.Point> points = new java.util.ArrayList<>();
        for (float e : eps) {
            double acc = Attacks.robustAccuracy(backend, model, attacked, Attacks.Pgd.standard(e, 20), 100, 5);
            points.add(new AttackSanity.Point(e, 20, acc));
            line.append(String.format(", PGD-20 eps %.2f %.2f%%", e, 100 * acc));
        }
        float largest = eps[eps.length - 1];
        points.add(new AttackSanity.Point(largest, 5, Attacks.robustAccuracy(backend, model, attacked, Attacks.Pgd.standard(largest, 5), 100, 5)));
        double fgsm = Attacks.robustAccuracy(backend, model, attacked, Attacks.Pgd.fgsm(largest), 100, 5);
        System.out.println(line.append(" (" + attacked.size() + " images)"));
        List<String> problems = AttackSanity.problems(points, fgsm, 0.01);
        System.out.println(problems.isEmpty() ? "        attack check: sound (accuracy falls with eps and steps; PGD no weaker than FGSM)"
                : "        attack check: POSSIBLE GRADIENT MASKING, do not trust these numbers: " + String.join("; ", problems));
        return clean;
    }
}
