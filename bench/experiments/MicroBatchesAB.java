import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.tune4j.autograd.MicroBatches;
import org.tune4j.backend.CpuBackend;
import org.tune4j.data.TokenBatch;
import org.tune4j.experiments.Adaptation;
import org.tune4j.experiments.Pretraining;
import org.tune4j.io.BertCheckpoint;
import org.tune4j.io.PretrainedModels;
import org.tune4j.nn.BertClassifier;
import org.tune4j.nn.Lora;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.optim.AdamW;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * One training step with its batch as 1 micro-batch against PARTS, alternated in one process (blocks of steps, the order
 * swapped every round): MODEL vit (the main job's ViT, batch 128, LoRA as the demo's or full) or minilm (MiniLM, batch 16
 * x 128 tokens, LoRA rank 8 on query and value as `bench bert`'s, or full); prints each median and the ratio's:
 *
 *   java --enable-native-access=ALL-UNNAMED -cp bench/target/tune4j-all.jar bench/experiments/MicroBatchesAB.java \
 *       MODEL METHOD THREADS PARTS ROUNDS
 */
public class MicroBatchesAB {
    public static void main(String[] a) throws Exception {
        String model = a[0], method = a[1];
        int threads = Integer.parseInt(a[2]), parts = Integer.parseInt(a[3]), rounds = Integer.parseInt(a[4]);
        CpuBackend.setThreads(threads);
        Arena arena = Arena.ofShared(); // parts that run at once read the model from threads of their own
        Runnable[] steps = new Runnable[2];
        int per;
        if (model.equals("vit")) {
            VisionTransformer vit = new VisionTransformer(arena, Pretraining.VIT, new SplittableRandom(1));
            if (method.equals("lora")) Lora.inject(vit, arena, Adaptation.Options.defaults().lora(), new SplittableRandom(2));
            AdamW opt = AdamW.of(arena, vit.namedParameters(), 0.01f, 1f);
            int batch = 128;
            Tensor x = Tensor.zeros(arena, DType.F32, batch, 784);
            SplittableRandom pixels = new SplittableRandom(5);
            for (long i = 0; i < x.numel(); i++) x.segment().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) pixels.nextDouble());
            for (int k = 0; k < 2; k++) {
                MicroBatches mb = new MicroBatches(CpuBackend.get(), k == 0 ? 1 : parts, new SplittableRandom(3));
                steps[k] = () -> {
                    mb.step(batch, (t, from, to) -> {
                        Tensor y = Tensor.zeros(t.arena(), DType.I32, to - from);
                        for (int i = from; i < to; i++) y.setInt(i - from, i % 10);
                        return t.crossEntropy(vit.logits(t, x.view(from, 0, to - from, 784), false), y, 0f);
                    });
                    opt.step(CpuBackend.get(), 1e-4f);
                };
            }
            per = 10;
        } else {
            Path hf = Files.createTempDirectory("micro-batches-ab").resolve("minilm");
            PretrainedModels.importMiniLm(PretrainedModels.miniLmJar(), hf);
            BertClassifier m = new BertClassifier(arena, BertCheckpoint.load(arena, hf), BertClassifier.Pooling.MEAN, 2, new SplittableRandom(1));
            if (method.equals("lora")) Lora.inject(m, arena, new Lora.Config(8, 16f, 0f, false, List.of("query", "value"), List.of("classifier")), new SplittableRandom(2));
            AdamW opt = AdamW.of(arena, m.namedParameters(), 0.01f, 1f);
            int[] ids = new int[128];
            ids[0] = 101;
            ids[127] = 102;
            for (int i = 1; i < 127; i++) ids[i] = 2000 + (i * 37) % 20000;
            for (int k = 0; k < 2; k++) {
                MicroBatches mb = new MicroBatches(CpuBackend.get(), k == 0 ? 1 : parts, new SplittableRandom(3));
                steps[k] = () -> {
                    mb.step(16, (t, from, to) -> {
                        Tensor y = Tensor.zeros(t.arena(), DType.I32, to - from);
                        for (int b = from; b < to; b++) y.setInt(b - from, b % 2);
                        int[][] seqs = new int[to - from][];
                        Arrays.fill(seqs, ids);
                        return t.crossEntropy(m.logits(t, TokenBatch.of(t.arena(), seqs, null)), y, 0f);
                    });
                    opt.step(CpuBackend.get(), 1e-5f);
                };
            }
            per = 3;
        }
        for (int i = 0; i < per; i++) for (Runnable s : steps) s.run();
        double[][] ms = new double[2][rounds];
        for (int r = 0; r < rounds; r++)
            for (int j = 0; j < 2; j++) {
                int k = r % 2 == 0 ? j : 1 - j;
                long t0 = System.nanoTime();
                for (int i = 0; i < per; i++) steps[k].run();
                ms[k][r] = (System.nanoTime() - t0) / 1e6 / per;
            }
        double[] ratio = new double[rounds];
        for (int r = 0; r < rounds; r++) ratio[r] = ms[1][r] / ms[0][r];
        for (int k = 0; k < 2; k++) {
            double[] s = ms[k].clone();
            Arrays.sort(s);
            System.out.printf("%s %s, %d threads, %d part(s): median %.1f ms a step (min %.1f)%n", model, method, threads, k == 0 ? 1 : parts, s[rounds / 2], s[0]);
        }
        Arrays.sort(ratio);
        System.out.printf("%d parts / 1: median ratio %.3f (range %.3f-%.3f)%n", parts, ratio[rounds / 2], ratio[0], ratio[rounds - 1]);
        System.exit(0);
    }
}
