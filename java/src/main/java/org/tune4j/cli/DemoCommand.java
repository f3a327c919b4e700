package org.tune4j.cli;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import org.tune4j.backend.CpuBackend;
import org.tune4j.backend.CpuDescription;
import org.tune4j.data.FashionMnist;
import org.tune4j.data.ImageDataset;
import org.tune4j.experiments.Adaptation;
import org.tune4j.experiments.CompressionStudy;
import org.tune4j.io.ModelFile;
import org.tune4j.nn.IntruderDimensions;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.report.HtmlReport;
import org.tune4j.report.Provenance;
import org.tune4j.robust.Attacks;
import org.tune4j.robust.DataQuality;
import org.tune4j.robust.DataQualityReport;
import org.tune4j.robust.Gate;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code tune4j demo} (and {@code finetune}): the main job, LoRA vs full vs head-only adaptation to a shifted domain. */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Adapt the pretrained ViT to a shifted Fashion-MNIST (lower contrast, blur, noise, rotations, shifts) "
                + "with the same budget: LoRA, full fine-tuning, head only, and LoRA with adversarial examples; measure each (shifted, "
                + "clean, corrupted, PGD, calibration, negative flips), gate it against the pretrained model; compress the LoRA model "
                + "(int8, 2:4 with a LoRA recovery) and measure again, with batch-1 latency, gated against f32; check the data's "
                + "quality. Writes metrics.json, report.html, the adapted and compressed models and the LoRA adapters.")
final class DemoCommand implements Callable<Integer> {
    @Mixin
    DeviceOption device;

    private static final int GATE_IMAGES = 500;

    @Mixin
    DataOptions input;

    @Option(names = "--out", paramLabel = "DIR", description = "Output directory (default: a new folder under runs/).")
    Path out;

    @Option(names = "--epochs", description = "Epochs per method (default: ${DEFAULT-VALUE}).", defaultValue = "4")
    int epochs;

    @Option(names = "--target-images", description = "Labelled target images to adapt from (default: ${DEFAULT-VALUE}).", defaultValue = "4000")
    int targetImages;

    @Option(names = "--rank", description = "LoRA rank (default: ${DEFAULT-VALUE}).", defaultValue = "4")
    int rank;

    @Option(names = "--lora-lr", description = "LoRA learning rate (default: ${DEFAULT-VALUE}).", defaultValue = "3e-3")
    float loraLr;

    @Option(names = "--lora-adv-lr", description = "The adversarial LoRA run's learning rate (default: ${DEFAULT-VALUE}).", defaultValue = "1e-3")
    float loraAdvLr;

    @Option(names = "--lora-plus", description = "LoRA+ ratio: lora_B learns this many times faster (default: ${DEFAULT-VALUE}).", defaultValue = "8")
    float loraPlus;

    @Option(names = "--dora", description = "LoRA runs as DoRA: a trained magnitude per output row (PEFT's use_dora; CPU only).")
    boolean dora;

    @Option(names = "--pissa", description = "LoRA adapters start from the weights' principal singular directions (PEFT's init_lora_weights=\"pissa\").")
    boolean pissa;

    @Option(names = "--full-lr", description = "Full fine-tuning's learning rate (default: ${DEFAULT-VALUE}).", defaultValue = "1e-3")
    float fullLr;

    @Option(names = "--head-lr", description = "Head-only fine-tuning's learning rate (default: ${DEFAULT-VALUE}).", defaultValue = "3e-2")
    float headLr;

    @Option(names = "--rehearsal", paramLabel = "N", description = "Clean source images mixed into every method's training set, against forgetting "
            + "(default: ${DEFAULT-VALUE}).", defaultValue = "0")
    int rehearsal;

    @Option(names = "--no-adversarial", description = "Leave out the adversarial LoRA run.")
    boolean noAdversarial;

    @Option(names = "--no-compression", description = "Leave out compressing the LoRA model (int8, 2:4) and its measures.")
    boolean noCompression;

    @Option(names = "--text", description = "The text story instead: a pretrained BERT (--model) fine-tuned by LoRA on older SpamAssassin mail, with drift, OOD, "
            + "leakage, a backdoor, evasion, FreeLB, a continual update and compression, on one seed (tune4j robust-text's study, smaller; about 9 minutes on 2 cores; "
            + "needs data/fetch-text-data.sh). The ViT options do not apply.")
    boolean text;

    @Mixin
    TextModelOption textModel;

    @Mixin
    MicroBatchesOption microBatches;

    @Override
    public Integer call() throws Exception {
        if (text) {
            Path dir = out != null ? out : Path.of("runs", "demo-text-" + LocalDateTime.now().withNano(0).toString().replace(':', '-'));
            OptionChecks.writableDirectory("--out", dir);
            System.out.println("output: " + dir.toAbsolutePath());
            RobustTextCommand.execute(org.tune4j.experiments.TextRobustness.Options.demo().withPooling(textModel.pooling()), textModel, device, dir);
            return 0;
        }
        OptionChecks.atLeast("--epochs", epochs, 1);
        OptionChecks.atLeast("--target-images", targetImages, 1);
        OptionChecks.atLeast("--rank", rank, 1);
        OptionChecks.atLeast("--rehearsal", rehearsal, 0);
        int parts = microBatches.parts(Adaptation.Options.defaults().batchSize());
        OptionChecks.positive("--lora-lr", loraLr);
        OptionChecks.positive("--lora-adv-lr", loraAdvLr);
        OptionChecks.positive("--lora-plus", loraPlus);
        OptionChecks.positive("--full-lr", fullLr);
        OptionChecks.positive("--head-lr", headLr);
        input.check();
        input.checkRank("--rank", rank);
        device.cuda(); // a bad --device fails before the data is read
        Path dir = out != null ? out : Path.of("runs", "demo-" + LocalDateTime.now().withNano(0).toString().replace(':', '-'));
        OptionChecks.writableDirectory("--out", dir);
        FashionMnist.Source source = input.source();
        Files.createDirectories(dir);
        Adaptation.Options d = Adaptation.Options.defaults();
        var lora = new org.tune4j.nn.Lora.Config(rank, 2f * rank, d.lora().dropout(), d.lora().rsLora(), d.lora().targetModules(), d.lora().modulesToSave())
                .withVariant(pissa, dora);
        Adaptation.Options o = new Adaptation.Options(Math.min(targetImages, source.train().size() - d.targetValidation()), d.targetValidation(), epochs,
                d.batchSize(), d.seed(), lora, loraLr, loraAdvLr, loraPlus, fullLr, headLr, noAdversarial ? null : d.adversarial(), rehearsal,
                parts);
        System.out.println("data: " + source.description());
        System.out.println("output: " + dir.toAbsolutePath());
        long t0 = System.nanoTime();
        Adaptation.Baseline baseline;
        Adaptation.Report r;
        String computedOn = "the CPU backend";
        try (DeviceOption.Compute on = device.open()) {
            if (on.gpuName() != null) {
                computedOn = on.gpuName() + " (training and measures, through the tape on the CUDA backend; the compression and the gates on the CPU backend)";
                System.out.println("device: " + on.gpuName() + ": every run trains there and every model's measures (accuracy, PGD, corruptions, calibration) "
                        + "run there, through the same tape as on the CPU (f32); the compression and the gates stay on the CPU (int8 and 2:4 are CPU kernels)");
            }
            baseline = Adaptation.baseline(on.backend(), source, input.checkpoint, o.seed());
            r = Adaptation.run(on.backend(), source, input.checkpoint, o, dir, method -> new Progress(method), baseline);
            if (!on.fallbacks().isEmpty()) System.out.println(on.fallbacks());
        }

        System.out.printf("%nadapting from %d shifted images; test on %d shifted and %d clean images%n", r.targetTrainImages(), r.targetTestImages(),
                r.targetTestImages());
        String fmt = "%-11s %8s %8s %8s %8s %8s %7s %6s %6s %9s %10s %10s %8s %7s%n";
        System.out.printf(fmt, "method", "target", "source", "flips", "PGD.05", "PGD.1", "ECE", "c-err", "mCE", "intruders", "trainable", "memory", "step ms",
                "img/s");
        Adaptation.Evaluation p = r.pretrained();
        System.out.printf(fmt, "pretrained", pct(p.targetAccuracy()), pct(p.sourceAccuracy()), "-", pct(p.pgd005()), pct(p.pgd01()),
                String.format("%.3f", p.targetEce()), String.format("%.3f", p.corruptionError()), "1.00", "-", "-", "-", "-", "-");
        for (Adaptation.MethodResult m : r.methods()) {
            Adaptation.Evaluation e = m.evaluation();
            System.out.printf(fmt, m.method(), pct(e.targetAccuracy()), pct(e.sourceAccuracy()), pct(e.negativeFlipRateSource()), pct(e.pgd005()),
                    pct(e.pgd01()), String.format("%.3f", e.targetEce()), String.format("%.3f", e.corruptionError()), String.format("%.2f", e.mce()),
                    Integer.toString(m.intruderDimensions()), String.format("%,d", m.trainableParameters()), String.format("%.1f MiB", m.peakMemoryMib()),
                    String.format("%.1f", m.stepMillis()), String.format("%.0f", m.imagesPerSecond()));
        }
        System.out.println("target: shifted test images; source: clean ones; flips: clean images the pretrained model got right and this one");
        System.out.println("gets wrong; PGD: accuracy under a 20-step L-inf attack at eps 0.05 / 0.1 (500 / 1000 shifted images); ECE on the");
        System.out.println("shifted test set; c-err: mean error over 11 corruptions x 5 severities (500 clean images); mCE: relative to pretrained;");
        System.out.printf("intruders: new large singular directions in the weights of every %s layer (of each one's %d largest, those with%n",
                String.join("/", o.lora().targetModules()), IntruderDimensions.TOP);
        System.out.printf("|cos| < %.1f against every pretrained direction; Shuttleworth et al. 2024 tie LoRA's forgetting to them).%n", IntruderDimensions.EPS);
        Map<String, Path> adapted = new LinkedHashMap<>();
        r.methods().forEach(m -> adapted.put(m.method(), dir.resolve(m.method() + ".safetensors")));
        Map<String, Object> gates = gate("pretrained model", input.checkpoint, adapted, source, o.seed());
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("report", r);
        doc.put("gate", gates);
        if (!noCompression) {
            Adaptation.Evaluation loraEval = r.methods().stream().filter(m -> m.method().equals("lora")).findFirst().orElseThrow().evaluation();
            CompressionStudy.Report c = CompressionStudy.run(CpuBackend.get(), source, dir.resolve("lora.safetensors"), loraEval, o,
                    CompressionStudy.Options.defaults(), baseline, dir, method -> new Progress(method));
            printCompression(c);
            doc.put("compression", c);
            Map<String, Path> compressed = new LinkedHashMap<>();
            c.variants().stream().filter(v -> !v.name().equals("f32")).forEach(v -> compressed.put(v.name(), CompressionStudy.modelFile(dir, v.name())));
            doc.put("compression_gate", gate("f32 adapted model", dir.resolve("lora.safetensors"), compressed, source, o.seed()));
        }
        DataQualityReport quality = dataQuality(source);
        double seconds = (System.nanoTime() - t0) / 1e9;
        doc.put("data_quality", quality);
        doc.put("seconds", seconds);
        doc.put("machine", Map.of("cpu_features", CpuDescription.cpuFeatures(), "simd", CpuBackend.simdLevel().label(), "threads", CpuBackend.threads()));
        Map<String, Object> provenance = Provenance.of(source, o.seed(), o, input.checkpoint);
        provenance.put("device", computedOn);
        doc.put("provenance", provenance);
        MetricsFile.write(dir, doc);
        Path page = null;
        if (HtmlReport.canDraw()) {
            page = HtmlReport.write(dir);
        } else { // a runtime trimmed without java.desktop (a jlink image, say): the measures are written all the same
            System.err.println("report.html was not written: its charts need the java.desktop module, which this Java runtime lacks; `tune4j report "
                    + dir + "` on a full JDK writes it from metrics.json");
        }
        System.out.printf("%nwrote %s, %sthe adapted %smodels and the LoRA adapters (%.0f s)%n", dir.resolve("metrics.json"),
                page == null ? "" : page + ", ", noCompression ? "" : "and compressed ", seconds);
        return 0;
    }

    private static void printCompression(CompressionStudy.Report c) {
        System.out.printf("%ncompressing the adapted LoRA model (f32): accuracy, robustness and batch-1 latency (%d calls, one thread)%n", c.latencyCalls());
        String fmt = "%-14s %8s %8s %8s %8s %8s %7s %8s %9s %9s %9s%n";
        System.out.printf(fmt, "variant", "target", "source", "PGD.05", "PGD.1", "c-err", "ECE", "flips", "p50 ms", "p99 ms", "weights");
        for (CompressionStudy.Variant v : c.variants()) {
            Adaptation.Evaluation e = v.evaluation();
            System.out.printf(fmt, v.name(), pct(e.targetAccuracy()), pct(e.sourceAccuracy()), pct(e.pgd005()), pct(e.pgd01()),
                    String.format("%.3f", e.corruptionError()), String.format("%.3f", e.targetEce()), pct(v.flipRateVsF32()),
                    String.format("%.3f", v.p50Ms()), String.format("%.3f", v.p99Ms()), String.format("%.0f KiB", v.weightBytes() / 1024.0));
        }
        System.out.println("flips: shifted test images the f32 model got right and the variant gets wrong.");
    }

    /**
     * Each candidate (name → saved model) against {@code baseline} (a saved model; null: the shipped ViT)
     * on the first 500 shifted test images, default limits; the baseline is measured once.
     */
    private Map<String, Object> gate(String against, Path baseline, Map<String, Path> candidates, FashionMnist.Source source, long seed)
            throws java.io.IOException {
        ImageDataset data = Adaptation.targetTest(source, seed).first(GATE_IMAGES);
        Map<String, Object> out = new LinkedHashMap<>();
        System.out.printf("%ngate against the %s (%d shifted test images, default limits):%n", against, data.size());
        int width = candidates.keySet().stream().mapToInt(String::length).max().orElse(0) + 1;
        try (Arena arena = Arena.ofShared()) {
            Attacks.Pgd attack = Attacks.Pgd.standard(0.1f, 20);
            Gate.Measures base = Gate.measure(CpuBackend.get(), ModelFile.load(arena, baseline), data, attack, seed);
            for (Map.Entry<String, Path> c : candidates.entrySet()) {
                VisionTransformer candidate = ModelFile.load(arena, c.getValue());
                Gate.Result g = Gate.compare(base, Gate.measure(CpuBackend.get(), candidate, data, attack, seed), data, Gate.Limits.defaults());
                out.put(c.getKey(), Gate.summary(g));
                System.out.printf("  %-" + width + "s %s%s%n", c.getKey(), g.passed() ? "PASS" : "FAIL: ", String.join("; ", g.violations()));
            }
        }
        return out;
    }

    /** Near-duplicates between the clean splits and label issues of the clean test set, by the pretrained model. */
    private DataQualityReport dataQuality(FashionMnist.Source source) throws java.io.IOException {
        DataQualityReport q;
        try (Arena arena = Arena.ofShared()) {
            q = DataQualityReport.of(CpuBackend.get(), ModelFile.load(arena, input.checkpoint), source.train(), source.test(), 5);
        }
        System.out.printf("%ndata quality: %d of %d test images nearly duplicate one of %d training images (dHash <= %d bits, mean pixel",
                q.duplicates(), q.testImages(), q.trainImages(), q.maxHammingDistance());
        System.out.printf(" difference <= %.0f);%n  %d test labels the pretrained model confidently contradicts%n", q.maxPixelDifference(), q.labelIssues());
        for (DataQuality.Duplicate d : q.duplicateExamples())
            System.out.printf("  duplicate: test #%d ~ train #%d (%d bits, %.1f)%n", d.testIndex(), d.trainIndex(), d.hammingDistance(), d.pixelDifference());
        for (DataQuality.LabelIssue i : q.labelIssueExamples())
            System.out.printf("  label issue: test #%d labelled '%s' (p %.3f), looks like '%s' (p %.3f)%n", i.index(), source.test().classes().get(i.givenLabel()),
                    i.givenProbability(), source.test().classes().get(i.suggestedLabel()), i.suggestedProbability());
        return q;
    }

    private static String pct(double v) {
        return String.format("%.2f%%", 100 * v);
    }
}
