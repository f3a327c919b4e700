package org.tune4j.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.tune4j.data.BrownCorpus;
import org.tune4j.data.NpmPackage;
import org.tune4j.data.SpamAssassin;
import org.tune4j.experiments.ProgressText;
import org.tune4j.experiments.TextRobustness;
import org.tune4j.train.TextTrainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code tune4j robust-text}: the robustness story of a LoRA spam filter on the SpamAssassin corpus (drift, OOD, leakage, poisoning, evasion). */
@Command(name = "robust-text", mixinStandardHelpOptions = true,
        description = "Fine-tune a pretrained BERT by LoRA on the older SpamAssassin mail and measure what it costs in robustness: drift on the newer mail, "
                + "out-of-distribution scores, header leakage and near-duplicates, a backdoor and its defences, a character-level evasion attack and Unicode normalisation. "
                + "Needs the npm data sets (data/fetch-text-data.sh).")
final class RobustTextCommand implements Callable<Integer> {
    @Mixin
    TextModelOption model;

    @Mixin
    DeviceOption device;

    @Option(names = "--seeds", defaultValue = "3", paramLabel = "N", description = "Seeds, each its own split, initialisation and samples (default: ${DEFAULT-VALUE}).")
    int seeds;

    @Option(names = "--train", defaultValue = "600", paramLabel = "N", description = "Older-era texts to train on (default: ${DEFAULT-VALUE}).")
    int train;

    @Option(names = "--epochs", defaultValue = "2", paramLabel = "N", description = "Epochs of LoRA (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--poison", defaultValue = "0.01", paramLabel = "SHARE", description = "Share of the training set poisoned (default: ${DEFAULT-VALUE}).")
    double poison;

    @Option(names = "--attacked", defaultValue = "100", paramLabel = "N", description = "Spam texts attacked by the evasion (default: ${DEFAULT-VALUE}).")
    int attacked;

    @Option(names = "--no-poisoning", description = "Skip the poisoning study (two more trainings per seed).")
    boolean noPoisoning;

    @Option(names = "--no-evasion", description = "Skip the evasion study.")
    boolean noEvasion;

    @Option(names = "--freelb-step", paramLabel = "ALPHA", description = "FreeLB's ascent step (3 steps, start 0.1, no bound) (default: 0.1).")
    Float freelbStep;

    @Option(names = "--no-adversarial", description = "Skip adversarial fine-tuning (FreeLB) and the attack on its model.")
    boolean noAdversarial;

    @Option(names = "--no-compression", description = "Skip the compression study (int8, 2:4 with LoRA recovery, both: one more training per seed).")
    boolean noCompression;

    @Option(names = "--no-update", description = "Skip the continual update after the drift alert (two more trainings per seed).")
    boolean noUpdate;

    @Option(names = "--out", paramLabel = "DIR", description = "Write metrics.json here.")
    Path out;

    @Override
    public Integer call() throws Exception {
        device.cuda();
        OptionChecks.atLeast("--seeds", seeds, 1);
        OptionChecks.atLeast("--train", train, 10);
        OptionChecks.atLeast("--epochs", epochs, 1);
        OptionChecks.atLeast("--attacked", attacked, 1);
        if (freelbStep != null) OptionChecks.positive("--freelb-step", freelbStep);
        if (!(poison >= 0 && poison < 0.5)) throw new IllegalArgumentException("--poison must be a share in [0, 0.5), is " + poison);
        if (out != null) OptionChecks.writableDirectory("--out", out);
        List<Long> seedList = new ArrayList<>();
        for (long s = 1; s <= seeds; s++) seedList.add(s);
        var d = TextRobustness.Options.defaults();
        var o = new TextRobustness.Options(seedList, train, d.referenceSize(), d.testSize(), d.batch(), d.eraBatches(), d.streamSize(), d.oodSize(), d.maxLength(), epochs,
                d.lr(), d.lora(), poison, d.trigger(), attacked, d.budgets(), !noPoisoning, !noEvasion, noAdversarial ? null : freelbStep == null ? d.adversarial() : new TextTrainer.FreeLb(d.adversarial().steps(), freelbStep, d.adversarial().maxNorm(), d.adversarial().initMagnitude()), noUpdate ? 0 : d.updateWindow(),
                d.rehearsal(), noCompression ? 0 : d.compressionAttacked(), model.pooling());
        execute(o, model, device, out);
        return 0;
    }

    /** Runs the study {@code o} (its pooling {@code model}'s) and prints its summary; writes metrics.json and report.html into {@code out} (null: nowhere). Shared with {@code demo --text}. */
    static void execute(TextRobustness.Options o, TextModelOption model, DeviceOption device, Path out) throws Exception {
        var mails = SpamAssassin.messages(NpmPackage.cacheDir());
        var brown = BrownCorpus.load(NpmPackage.cacheDir());
        Path dir = model.folder();
        TextRobustness.Result r;
        long t0 = System.nanoTime();
        try (DeviceOption.Compute on = device.open()) {
            System.out.printf("%s on SpamAssassin (%d distinct messages), %s%n", dir.getFileName(), mails.size(), on.backend().name());
            r = TextRobustness.run(on.backend(), dir, mails, brown, o, System.out::println, Progress::forText);
            if (!on.fallbacks().isEmpty()) System.out.println(on.fallbacks());
        }
        System.out.println();
        for (TextRobustness.Run run : r.runs()) {
            System.out.printf(Locale.ROOT, "seed %d (%.0f s): accuracy older %.4f -> newer %.4f, alert after %d messages, false alarms %d/%d; far OOD AUROC %s%n", run.seed(),
                    run.seconds(), run.drift().oldAccuracy(), run.drift().newAccuracy(), run.drift().messagesToAlert(), run.drift().falseAlarms(), run.drift().eraBatches(),
                    ProgressText.scores(run.ood().farAuroc()));
        }
        System.out.printf(Locale.ROOT, "%.1f minutes in all%n", (System.nanoTime() - t0) / 60e9);
        if (out != null) {
            System.out.println("wrote " + MetricsFile.write(out, r));
            if (org.tune4j.report.HtmlReport.canDraw()) System.out.println("wrote " + org.tune4j.report.TextRobustnessReport.write(out));
        }
    }
}
