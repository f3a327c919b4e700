package org.tune4j.cli;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.tune4j.data.FashionMnist;
import org.tune4j.data.IdxFile;
import org.tune4j.data.ImageDataset;
import org.tune4j.io.ModelFile;
import org.tune4j.nn.Classifier;
import org.tune4j.robust.DriftMonitor;
import org.tune4j.robust.Predictions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code tune4j drift FILE...}: PSI and KS of each IDX image file of a stream against a reference. */
@Command(name = "drift", mixinStandardHelpOptions = true,
        description = "Watch a stream of IDX image files for drift against a reference set (default: the Fashion-MNIST "
                + "test images): PSI and Kolmogorov-Smirnov on the images' mean intensity and on the model's confidence.")
final class DriftCommand implements Callable<Integer> {
    @Mixin
    DeviceOption device;

    @Parameters(paramLabel = "FILE", arity = "1..*", description = "IDX image files, in stream order.")
    List<Path> stream;

    @Option(names = "--reference", paramLabel = "FILE", description = "IDX image file of the reference (default: the Fashion-MNIST test images).")
    Path reference;

    @Option(names = "--checkpoint", paramLabel = "FILE", description = "ViT for the confidence statistic (default: the pretrained one).")
    Path checkpoint;

    @Option(names = "--warn", defaultValue = "0.1", description = "PSI warning threshold (default: ${DEFAULT-VALUE}).")
    double warn;

    @Option(names = "--alert", defaultValue = "0.25", description = "PSI alert threshold (default: ${DEFAULT-VALUE}).")
    double alert;

    @Override
    public Integer call() throws Exception {
        OptionChecks.positive("--warn", warn);
        OptionChecks.inRange("--alert", alert, warn, 1e6);
        device.cuda(); // a bad --device fails before the data is read
        for (Path file : stream) OptionChecks.readableFile("FILE", file);
        OptionChecks.readableFile("--reference", reference);
        OptionChecks.readableFile("--checkpoint", checkpoint);
        List<ImageDataset> batches = new java.util.ArrayList<>();
        for (Path file : stream) batches.add(images(file)); // every file read and checked before the first line
        ImageDataset ref = reference != null ? images(reference) : FashionMnist.load(null).test();
        try (Arena arena = Arena.ofShared()) {
            org.tune4j.nn.VisionTransformer vit = ModelFile.load(arena, checkpoint);
            OptionChecks.imagesFit(reference != null ? reference.toString() : "the test set", ref, vit);
            for (int i = 0; i < stream.size(); i++) OptionChecks.imagesFit(stream.get(i).toString(), batches.get(i), vit);
            return watch(vit, ref, batches);
        }
    }

    /** Prints each file's drift against the reference; 1 when any file raised an alert, else 0. */
    private int watch(org.tune4j.nn.VisionTransformer vit, ImageDataset ref, List<ImageDataset> batches) {
        int worst = 0;
        try (DeviceOption.Compute on = device.open()) {
            if (on.gpuName() != null) System.out.println("device: " + on.gpuName() + " (the confidence statistic's forward, f32)");
            Classifier model = on.place(vit);
            DriftMonitor intensity = new DriftMonitor(meanIntensity(ref), warn, alert);
            DriftMonitor confidence = new DriftMonitor(confidence(on.backend(), model, ref), warn, alert);
            System.out.printf("%-40s %8s %8s %8s  %8s %8s %8s%n", "file", "psi(int)", "ks", "level", "psi(conf)", "ks", "level");
            for (int i = 0; i < stream.size(); i++) {
                Path file = stream.get(i);
                ImageDataset batch = batches.get(i);
                DriftMonitor.Report a = intensity.observe(meanIntensity(batch)), b = confidence.observe(confidence(on.backend(), model, batch));
                System.out.printf("%-40s %8.3f %8.3f %8s  %8.3f %8.3f %8s%n", file.getFileName(), a.psi(), a.ks(), a.level(), b.psi(), b.ks(), b.level());
                worst = Math.max(worst, Math.max(a.level().ordinal(), b.level().ordinal()));
            }
        }
        return worst == DriftMonitor.Level.ALERT.ordinal() ? 1 : 0;
    }

    private static ImageDataset images(Path file) throws java.io.IOException {
        return ImageDataset.unlabelled(IdxFile.read(file), FashionMnist.CLASSES, file.toString());
    }

    private static double[] meanIntensity(ImageDataset d) {
        double[] out = new double[d.size()];
        for (int i = 0; i < d.size(); i++) {
            double s = 0;
            for (int p = 0; p < d.pixelsPerImage(); p++) s += d.pixel(i, p);
            out[i] = s / d.pixelsPerImage() / 255.0;
        }
        return out;
    }

    /** The model's top softmax probability for each image. */
    private static double[] confidence(org.tune4j.backend.Backend backend, Classifier model, ImageDataset d) {
        float[][] probs = Predictions.probabilities(backend, model, d);
        double[] out = new double[probs.length];
        for (int i = 0; i < probs.length; i++) for (float v : probs[i]) out[i] = Math.max(out[i], v);
        return out;
    }
}
