import java.lang.foreign.Arena;
import java.util.List;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.FashionMnist;
import org.tune4j.data.ImageDataset;
import org.tune4j.nn.Lora;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.train.Adaptation;
import org.tune4j.train.Trainer;

/**
 * The main job's methods at other learning rates (and LoRA shapes), on the embedded subset with the
 * demo's split, budget and seed: target validation accuracy (what a learning rate is chosen by), then
 * target and clean test accuracy. One run per argument, METHOD:LR[:LORA_PLUS[:RANK[:TARGETS[:SAVE]]]],
 * TARGETS and SAVE as module names joined by '+':
 *
 *   java --enable-native-access=ALL-UNNAMED -cp bench/target/tune4j-all.jar bench/experiments/LrSweep.java \
 *       full:3e-4 full:1e-3 lora:1e-3 lora:3e-3:8:4:qkv+proj+fc1+fc2:head head:3e-2
 */
public class LrSweep {
    public static void main(String[] args) throws Exception {
        var backend = CpuBackend.get();
        FashionMnist.Source data = FashionMnist.embedded();
        Adaptation.Options o = Adaptation.Options.defaults();
        ImageDataset.Split split = Adaptation.targetSplit(data, o);
        ImageDataset targetTest = Adaptation.targetTest(data, o.seed()), sourceTest = data.test();
        double pretrainedSource;
        try (Arena arena = Arena.ofConfined()) {
            pretrainedSource = Trainer.accuracy(backend, Adaptation.load(arena, null), sourceTest, 256);
        }
        System.out.printf("pretrained: clean test %.2f%%%n", 100 * pretrainedSource);
        for (String spec : args) {
            String[] p = spec.split(":");
            String method = p[0];
            float lr = Float.parseFloat(p[1]);
            Lora.Config d = o.lora();
            int rank = p.length > 3 ? Integer.parseInt(p[3]) : d.r();
            Lora.Config lora = new Lora.Config(rank, 2f * rank, d.dropout(), d.rsLora(), p.length > 4 ? List.of(p[4].split("\\+")) : d.targetModules(),
                    p.length > 5 ? List.of(p[5].split("\\+")) : d.modulesToSave());
            Adaptation.Options run = new Adaptation.Options(o.targetTrain(), o.targetValidation(), o.epochs(), o.batchSize(), o.seed(), lora, o.loraLr(),
                    p.length > 2 ? Float.parseFloat(p[2]) : o.loraPlusRatio(), o.fullLr(), o.headLr(), o.adversarial(), o.rehearsal());
            try (Arena arena = Arena.ofShared()) {
                VisionTransformer vit = Adaptation.load(arena, null);
                var h = Adaptation.adapt(backend, arena, vit, method, lr, lora, run, split.train(), split.validation(), new Trainer.Listener() {}).history();
                double val = h.valAccuracy().get(h.valAccuracy().size() - 1);
                double target = Trainer.accuracy(backend, vit, targetTest, 256), source = Trainer.accuracy(backend, vit, sourceTest, 256);
                System.out.printf("%-45s trainable %,7d  validation %.2f%%  target %.2f%%  clean %.2f%%  forgot %.2f%n", spec, vit.parameterCount(true),
                        100 * val, 100 * target, 100 * source, 100 * (pretrainedSource - source));
            }
        }
    }
}
