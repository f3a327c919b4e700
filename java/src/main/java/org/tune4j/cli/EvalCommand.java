package org.tune4j.cli;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.tune4j.data.FashionMnist;
import org.tune4j.data.IdxFile;
import org.tune4j.data.ImageDataset;
import org.tune4j.eval.Evaluate;
import org.tune4j.io.ModelFile;
import org.tune4j.nn.VisionTransformer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code tune4j eval}: a saved ViT's accuracy on any IDX image set. */
@Command(name = "eval", mixinStandardHelpOptions = true, description = "Evaluate a ViT checkpoint on IDX images and labels (default: the Fashion-MNIST test set).")
final class EvalCommand implements Callable<Integer> {
    @Mixin
    DeviceOption device;

    @Option(names = "--checkpoint", paramLabel = "FILE", description = "ViT checkpoint (default: the pretrained one in the jar).")
    Path checkpoint;

    @Option(names = "--images", paramLabel = "FILE", description = "IDX image file (N x 28 x 28, raw or gzip).")
    Path images;

    @Option(names = "--labels", paramLabel = "FILE", description = "IDX label file, with --images.")
    Path labels;

    @Option(names = "--data", paramLabel = "DIR", description = "A Fashion-MNIST directory: its test split is evaluated.")
    Path data;

    @Override
    public Integer call() throws Exception {
        if ((images == null) != (labels == null)) throw new IllegalArgumentException("--images and --labels go together");
        OptionChecks.readableFile("--images", images);
        OptionChecks.readableFile("--labels", labels);
        OptionChecks.readableFile("--checkpoint", checkpoint);
        device.cuda(); // a bad --device fails before the data is read
        ImageDataset set;
        if (images != null) {
            set = ImageDataset.of(IdxFile.read(images), IdxFile.read(labels), FashionMnist.CLASSES, images.toString());
        } else {
            set = FashionMnist.load(data).test();
        }
        try (Arena arena = Arena.ofShared()) {
            VisionTransformer vit = ModelFile.load(arena, checkpoint);
            OptionChecks.imagesFit(images != null ? images.toString() : "the test set", set, vit);
            try (DeviceOption.Compute on = device.open()) {
                if (on.gpuName() != null) System.out.println("device: " + on.gpuName() + " (the ViT's forward, f32)");
                double acc = Evaluate.accuracy(on.backend(), on.place(vit), set, 256);
                if (!on.fallbacks().isEmpty()) System.out.println(on.fallbacks());
                System.out.printf("accuracy %.4f on %d images%n", acc, set.size());
            }
        }
        return 0;
    }
}
