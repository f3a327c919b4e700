package org.tune4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.FashionMnist;
import org.tune4j.train.Adaptation;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code tune4j demo} (and {@code finetune}): the main job, LoRA vs full vs head-only adaptation to a shifted domain. */
@Command(name = "demo", aliases = "finetune", mixinStandardHelpOptions = true,
        description = {"Adapt the pretrained ViT to a shifted Fashion-MNIST (lower contrast, blur, noise, rotations, shifts)",
                "three ways with the same budget: LoRA, full fine-tuning, head only. Writes metrics.json and the LoRA adapter."})
final class DemoCommand implements Callable<Integer> {
    @Option(names = "--data", paramLabel = "DIR", description = "Fashion-MNIST directory (default: Debian's package, else the subset in the jar).")
    Path data;

    @Option(names = "--embedded", description = "Use the subset shipped in the jar even when the full set is installed.")
    boolean embedded;

    @Option(names = "--checkpoint", paramLabel = "FILE", description = "Pretrained ViT (default: the one shipped in the jar).")
    Path checkpoint;

    @Option(names = "--out", paramLabel = "DIR", description = "Output directory (default: a new folder under runs/).")
    Path out;

    @Option(names = "--epochs", description = "Epochs per method (default: ${DEFAULT-VALUE}).", defaultValue = "4")
    int epochs;

    @Option(names = "--target-images", description = "Labelled target images to adapt from (default: ${DEFAULT-VALUE}).", defaultValue = "4000")
    int targetImages;

    @Option(names = "--rank", description = "LoRA rank (default: ${DEFAULT-VALUE}).", defaultValue = "4")
    int rank;

    @Option(names = "--lora-lr", description = "LoRA learning rate (default: ${DEFAULT-VALUE}).", defaultValue = "1e-3")
    float loraLr;

    @Option(names = "--lora-plus", description = "LoRA+ ratio: lora_B learns this many times faster (default: ${DEFAULT-VALUE}).", defaultValue = "8")
    float loraPlus;

    @Override
    public Integer call() throws Exception {
        FashionMnist.Source source = embedded ? FashionMnist.embedded() : FashionMnist.load(data);
        Path dir = out != null ? out : Path.of("runs", "demo-" + LocalDateTime.now().withNano(0).toString().replace(':', '-'));
        Files.createDirectories(dir);
        Adaptation.Options d = Adaptation.Options.defaults();
        var lora = new org.tune4j.nn.Lora.Config(rank, 2f * rank, d.lora().dropout(), d.lora().rsLora(), d.lora().targetModules(), d.lora().modulesToSave());
        Adaptation.Options o = new Adaptation.Options(Math.min(targetImages, source.train().size() - d.targetValidation()), d.targetValidation(), epochs,
                d.batchSize(), d.seed(), lora, loraLr, loraPlus, d.fullLr(), d.headLr());
        System.out.println("data: " + source.description());
        System.out.println("output: " + dir.toAbsolutePath());
        long t0 = System.nanoTime();
        Adaptation.Report r = Adaptation.run(CpuBackend.get(), source, checkpoint, o, dir, method -> new Progress(method));
        double seconds = (System.nanoTime() - t0) / 1e9;

        System.out.printf("%nadapting from %d shifted images; test on %d shifted and %d clean images%n", r.targetTrainImages(), r.targetTestImages(),
                r.targetTestImages());
        String fmt = "%-11s %10s %10s %12s %10s %9s %9s%n";
        System.out.printf(fmt, "method", "target", "source", "trainable", "memory", "step ms", "img/s");
        System.out.printf(fmt, "pretrained", pct(r.pretrainedTarget()), pct(r.pretrainedSource()), "-", "-", "-", "-");
        for (Adaptation.MethodResult m : r.methods()) {
            System.out.printf(fmt, m.method(), pct(m.targetAccuracy()), pct(m.sourceAccuracy()), String.format("%,d", m.trainableParameters()),
                    String.format("%.1f MiB", m.peakMemoryMib()), String.format("%.1f", m.stepMillis()), String.format("%.0f", m.imagesPerSecond()));
        }
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("report", r);
        doc.put("seconds", seconds);
        doc.put("machine", Map.of("cpu_features", CpuBackend.cpuFeatures(), "simd", CpuBackend.simdLevel().label(), "threads", CpuBackend.threads()));
        new ObjectMapper().setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE).enable(SerializationFeature.INDENT_OUTPUT)
                .writeValue(dir.resolve("metrics.json").toFile(), doc);
        System.out.printf("%nwrote %s and %s (%.0f s)%n", dir.resolve("metrics.json"), dir.resolve("lora-adapter"), seconds);
        return 0;
    }

    private static String pct(double v) {
        return String.format("%.2f%%", 100 * v);
    }
}
