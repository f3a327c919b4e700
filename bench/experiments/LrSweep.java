import java.lang.foreign.Arena;
import java.util.List;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.FashionMnist;
import org.tune4j.data.ImageDataset;
import org.tune4j.nn.IntruderDimensions;
import org.tune4j.nn.Lora;
import org.tune4j.nn.LoraLinear;
import org.tune4j.tensor.Tensor;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.eval.Evaluate;
import org.tune4j.experiments.Adaptation;
import org.tune4j.io.ModelFile;
import org.tune4j.train.Trainer;

/**
 * The main job's methods at other learning rates (and LoRA shapes), on the embedded subset with the
 * demo's split, budget and seed: target validation accuracy (what a learning rate is chosen by), then
 * target and clean test accuracy. One run per argument, METHOD:LR[:LORA_PLUS[:RANK[:TARGETS[:SAVE[:DROPOUT]]]]],
 * TARGETS and SAVE as module names joined by '+' (SAVE may be empty), DROPOUT LoRA's input dropout, METHOD full,
 * head, lora or a LoRA variant: lora+pissa, lora+dora, lora+pissa+dora:
 *
 *   java --enable-native-access=ALL-UNNAMED -cp bench/target/tune4j-all.jar bench/experiments/LrSweep.java \
 *       full:3e-4 full:1e-3 lora:1e-3 lora:3e-3:8:4:qkv+proj+fc1+fc2:head head:3e-2
 *
 * A first argument --seeds=7,8,9 repeats every run with each seed (the target split, the shift, the data
 * order and the adapters' init all follow it; the default is the demo's 7) and prints the mean and the
 * sample standard deviation after the runs: one run's point moves by about a point with the seed.
 * --epochs=N gives every method another budget than the demo's 4 epochs. --shrink=L,L,... measures each
 * adapted model again with the intruder dimensions of its adapted layers (k = 10, eps = 0.5: see
 * IntruderDimensions, TOP and EPS) scaled by each L, adapters merged first.
 */
public class LrSweep {
    public static void main(String[] args) throws Exception {
        var backend = CpuBackend.get();
        FashionMnist.Source data = FashionMnist.embedded();
        Adaptation.Options o = Adaptation.Options.defaults();
        long[] seeds = {o.seed()};
        int epochs = o.epochs();
        double[] shrink = {};
        while (args.length > 0 && args[0].startsWith("--")) {
            if (args[0].startsWith("--seeds=")) seeds = java.util.Arrays.stream(args[0].substring(8).split(",")).mapToLong(Long::parseLong).toArray();
            else if (args[0].startsWith("--epochs=")) epochs = Integer.parseInt(args[0].substring(9));
            else if (args[0].startsWith("--shrink=")) shrink = java.util.Arrays.stream(args[0].substring(9).split(",")).mapToDouble(Double::parseDouble).toArray();
            else throw new IllegalArgumentException("unknown option " + args[0] + ": use --seeds=S,S,..., --epochs=N or --shrink=L,L,...");
            args = java.util.Arrays.copyOfRange(args, 1, args.length);
        }
        ImageDataset sourceTest = data.test();
        double pretrainedSource;
        try (Arena arena = Arena.ofConfined()) {
            pretrainedSource = Evaluate.accuracy(backend, ModelFile.load(arena, null), sourceTest, 256);
        }
        System.out.printf("pretrained: clean test %.2f%%%n", 100 * pretrainedSource);
        for (String spec : args) {
            String[] p = spec.split(":");
            String method = p[0].startsWith("lora") ? "lora" : p[0];
            float lr = Float.parseFloat(p[1]);
            Lora.Config d = o.lora();
            int rank = p.length > 3 ? Integer.parseInt(p[3]) : d.r();
            float dropout = p.length > 6 ? Float.parseFloat(p[6]) : d.dropout();
            Lora.Config lora = new Lora.Config(rank, 2f * rank, dropout, d.rsLora(), p.length > 4 ? List.of(p[4].split("\\+")) : d.targetModules(),
                    p.length > 5 && !p[5].isEmpty() ? List.of(p[5].split("\\+")) : d.modulesToSave()).withVariant(p[0].contains("+pissa"), p[0].contains("+dora"));
            double[][] measured = new double[seeds.length][]; // validation, target, clean, forgot
            double[][][] shrunk = new double[shrink.length][seeds.length][];
            for (int i = 0; i < seeds.length; i++) {
                Adaptation.Options run = new Adaptation.Options(o.targetTrain(), o.targetValidation(), epochs, o.batchSize(), seeds[i], lora, o.loraLr(), o.loraAdvLr(),
                        p.length > 2 ? Float.parseFloat(p[2]) : o.loraPlusRatio(), o.fullLr(), o.headLr(), o.adversarial(), o.rehearsal(), o.microBatches());
                ImageDataset.Split split = Adaptation.targetSplit(data, run);
                ImageDataset targetTest = Adaptation.targetTest(data, seeds[i]);
                try (Arena arena = Arena.ofShared()) {
                    VisionTransformer vit = ModelFile.load(arena, null);
                    Adaptation.Adapted adapted = Adaptation.adapt(backend, arena, vit, method, lr, lora, run, split.train(), split.validation(), new Trainer.Listener() {});
                    var h = adapted.history();
                    var adapters = adapted.adapters();
                    double val = h.valAccuracy().get(h.valAccuracy().size() - 1);
                    double target = Evaluate.accuracy(backend, vit, targetTest, 256), source = Evaluate.accuracy(backend, vit, sourceTest, 256);
                    measured[i] = new double[] {100 * val, 100 * target, 100 * source, 100 * (pretrainedSource - source)};
                    System.out.printf("%-45s seed %d  trainable %,7d  validation %.2f%%  target %.2f%%  clean %.2f%%  forgot %.2f  step %.1f ms%n", spec,
                            seeds[i], vit.parameterCount(true), measured[i][0], measured[i][1], measured[i][2], measured[i][3], h.meanStepMillis());
                    if (shrink.length > 0) {
                        // the adapted weights of every target module, adapters merged, against the pretrained ones
                        VisionTransformer pretrained = ModelFile.load(arena, null);
                        for (LoraLinear l : adapters.values()) l.merge(backend);
                        List<IntruderDimensions.WeightPair> pairs = IntruderDimensions.weightPairs(pretrained, vit, lora.targetModules());
                        List<Tensor> trained = pairs.stream().map(pair -> pair.adapted().copy(arena)).toList();
                        for (int s = 0; s < shrink.length; s++) {
                            int intruders = 0;
                            for (int l = 0; l < pairs.size(); l++) {
                                pairs.get(l).adapted().copyFrom(trained.get(l));
                                intruders += IntruderDimensions.shrink(pairs.get(l).pretrained(), pairs.get(l).adapted(), IntruderDimensions.TOP,
                                        IntruderDimensions.EPS, shrink[s]);
                            }
                            double t2 = Evaluate.accuracy(backend, vit, targetTest, 256), s2 = Evaluate.accuracy(backend, vit, sourceTest, 256);
                            shrunk[s][i] = new double[] {100 * t2, 100 * s2, 100 * (pretrainedSource - s2)};
                            System.out.printf("%-45s seed %d  intruders x%.2f (%d in %d layers)  target %.2f%%  clean %.2f%%  forgot %.2f%n", spec, seeds[i],
                                    shrink[s], intruders, pairs.size(), shrunk[s][i][0], shrunk[s][i][1], shrunk[s][i][2]);
                        }
                    }
                }
            }
            if (seeds.length > 1) {
                System.out.println(meanAndSd(String.format("%-45s mean over %d seeds:", spec, seeds.length), measured, "validation", "target", "clean", "forgot"));
                for (int s = 0; s < shrink.length; s++)
                    System.out.println(meanAndSd(String.format("%-45s intruders x%.2f, mean over %d seeds:", spec, shrink[s], seeds.length), shrunk[s],
                            "target", "clean", "forgot"));
            }
        }
    }

    /** {@code head}, then each column's mean ± sample standard deviation over the runs (rows). */
    private static String meanAndSd(String head, double[][] runs, String... columns) {
        StringBuilder line = new StringBuilder(head);
        for (int c = 0; c < columns.length; c++) {
            double mean = 0, var = 0;
            for (double[] r : runs) mean += r[c] / runs.length;
            for (double[] r : runs) var += (r[c] - mean) * (r[c] - mean) / (runs.length - 1);
            line.append(String.format("  %s %.2f ± %.2f", columns[c], mean, Math.sqrt(var)));
        }
        return line.toString();
    }
}
