package org.tune4j.cli;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import org.tune4j.data.FashionMnist;
import org.tune4j.data.ImageDataset;
import org.tune4j.io.ModelFile;
import org.tune4j.robust.Attacks;
import org.tune4j.robust.Gate;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code tune4j gate BASELINE CANDIDATE}: exits 1, naming the limit, when the candidate regresses. */
@Command(name = "gate", mixinStandardHelpOptions = true,
        description = "Compare a candidate ViT checkpoint with a baseline on the same test images: accuracy per class, negative flips, "
                + "calibration, corruptions, PGD. Exits 1 when a limit is broken, naming it.")
final class GateCommand implements Callable<Integer> {
    @Mixin
    DeviceOption device;

    @Parameters(index = "0", paramLabel = "BASELINE", description = "Baseline checkpoint.")
    Path baseline;

    @Parameters(index = "1", paramLabel = "CANDIDATE", description = "Candidate checkpoint.")
    Path candidate;

    @Option(names = "--data", paramLabel = "DIR", description = "Fashion-MNIST directory (default: Debian's, else the subset in the jar).")
    Path data;

    @Option(names = "--limit", description = "Test images used (default: ${DEFAULT-VALUE}).", defaultValue = "1000")
    int limit;

    @Option(names = "--max-accuracy-drop", defaultValue = "0.01", description = "Default: ${DEFAULT-VALUE}.")
    double maxAccuracyDrop;

    @Option(names = "--max-class-drop", defaultValue = "0.05", description = "Default: ${DEFAULT-VALUE}.")
    double maxClassDrop;

    @Option(names = "--max-flip-rate", defaultValue = "0.05", description = "Default: ${DEFAULT-VALUE}.")
    double maxFlipRate;

    @Option(names = "--max-ece-increase", defaultValue = "0.05", description = "Default: ${DEFAULT-VALUE}.")
    double maxEceIncrease;

    @Option(names = "--max-mce", defaultValue = "1.10", description = "Corruption error relative to the baseline (default: ${DEFAULT-VALUE}).")
    double maxMce;

    @Option(names = "--max-robust-drop", defaultValue = "0.05", description = "PGD-10 accuracy at eps 0.03 (default: ${DEFAULT-VALUE}).")
    double maxRobustDrop;

    @Option(names = "--alpha", defaultValue = "0.05", description = "Family-wise error rate of the accuracy tests (exact McNemar, Holm) (default: ${DEFAULT-VALUE}).")
    double alpha;

    @Option(names = "--min-class-size", defaultValue = "100", description = "Classes with fewer test images are reported, not decided (default: ${DEFAULT-VALUE}).")
    int minClassSize;

    @Override
    public Integer call() throws Exception {
        if (!(alpha > 0 && alpha < 1)) throw new IllegalArgumentException("--alpha must be in (0, 1), is " + alpha);
        OptionChecks.atLeast("--min-class-size", minClassSize, 1);
        OptionChecks.atLeast("--limit", limit, 1);
        OptionChecks.inRange("--max-accuracy-drop", maxAccuracyDrop, 0, 1);
        OptionChecks.inRange("--max-class-drop", maxClassDrop, 0, 1);
        OptionChecks.inRange("--max-flip-rate", maxFlipRate, 0, 1);
        OptionChecks.inRange("--max-ece-increase", maxEceIncrease, 0, 1);
        OptionChecks.inRange("--max-mce", maxMce, 0, 1e6);
        OptionChecks.inRange("--max-robust-drop", maxRobustDrop, 0, 1);
        device.cuda(); // a bad --device fails before the data is read
        OptionChecks.readableFile("BASELINE", baseline);
        OptionChecks.readableFile("CANDIDATE", candidate);
        ImageDataset test = FashionMnist.load(data).test();
        int[] first = new int[Math.min(limit, test.size())];
        Arrays.setAll(first, i -> i);
        test = test.subset(first);
        Gate.Limits limits = new Gate.Limits(maxAccuracyDrop, maxClassDrop, maxFlipRate, maxEceIncrease, maxMce, maxRobustDrop, alpha, minClassSize);
        try (Arena arena = Arena.ofShared()) {
            Gate.Result r;
            org.tune4j.nn.VisionTransformer baseVit = ModelFile.load(arena, baseline), candVit = ModelFile.load(arena, candidate);
            OptionChecks.imagesFit("BASELINE " + baseline + " on the test set", test, baseVit);
            OptionChecks.imagesFit("CANDIDATE " + candidate + " on the test set", test, candVit);
            try (DeviceOption.Compute on = device.open()) {
                if (on.gpuName() != null) System.out.println("device: " + on.gpuName() + " (both models' forward and input gradients, f32)");
                r = Gate.compare(on.backend(), on.place(baseVit), on.place(candVit), test, limits, Attacks.Pgd.standard(0.03f, 10), 1);
            }
            Gate.summary(r).forEach((k, v) -> System.out.println(k + ": " + (v instanceof double[] d ? Arrays.toString(d) : v)));
            if (!r.passed()) {
                for (String v : r.violations()) System.err.println("gate: " + v);
                return 1;
            }
            System.out.println("gate: passed");
            return 0;
        }
    }
}
