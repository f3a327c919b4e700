package org.tune4j.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.tune4j.data.FashionMnist;
import org.tune4j.experiments.Pretraining;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code tune4j pretrain}: reproduces the shipped ViT checkpoint. */
@Command(name = "pretrain", mixinStandardHelpOptions = true,
        description = "Pretrain the main job's ViT on clean Fashion-MNIST and write its checkpoint.")
final class PretrainCommand implements Callable<Integer> {
    @Mixin
    DeviceOption device;

    @Option(names = "--data", paramLabel = "DIR", description = "Fashion-MNIST directory (default: Debian's package, else the subset in the jar).")
    Path data;

    @Option(names = "--out", paramLabel = "FILE", defaultValue = "runs/pretrained/vit-fmnist.safetensors", description = "Checkpoint to write (default: ${DEFAULT-VALUE}).")
    Path out;

    @Option(names = "--epochs", description = "Epochs (default: ${DEFAULT-VALUE}).", defaultValue = "12")
    int epochs;

    @Option(names = "--seed", description = "Seed (default: ${DEFAULT-VALUE}).", defaultValue = "1")
    long seed;

    @Mixin
    MicroBatchesOption microBatches;

    @Override
    public Integer call() throws Exception {
        OptionChecks.atLeast("--epochs", epochs, 1);
        OptionChecks.writableFile("--out", out);
        Pretraining.Options d = Pretraining.Options.defaults();
        int parts = microBatches.parts(d.batchSize());
        device.cuda(); // a bad --device fails before the data is read
        FashionMnist.Source source = FashionMnist.load(data);
        System.out.println("data: " + source.description());
        Pretraining.Options o = new Pretraining.Options(epochs, d.batchSize(), d.lr(), d.weightDecay(), d.labelSmoothing(), seed, d.validation(),
                parts);
        Pretraining.Result r;
        try (DeviceOption.Compute on = device.open(); Progress progress = new Progress("pretrain")) {
            if (on.gpuName() != null) System.out.println("device: " + on.gpuName() + " (training and the test accuracy, f32)");
            r = Pretraining.run(on.backend(), source, o, out, progress);
            if (r.history().deviceSteps() != null) System.out.println("training steps: " + r.history().deviceSteps());
            if (!on.fallbacks().isEmpty()) System.out.println(on.fallbacks());
        }
        System.out.printf("test accuracy %.4f, %.0f images/s; wrote %s%n", r.testAccuracy(), r.history().imagesPerSecond(), out);
        return 0;
    }
}
