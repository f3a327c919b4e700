import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.tune4j.autograd.Tape;
import org.tune4j.autograd.Var;
import org.tune4j.autograd.Workspace;
import org.tune4j.backend.CpuBackend;
import org.tune4j.experiments.Adaptation;
import org.tune4j.experiments.Pretraining;
import org.tune4j.nn.Lora;
import org.tune4j.nn.VisionTransformer;
import org.tune4j.optim.AdamW;
import org.tune4j.optim.GradClip;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * TrainStep METHOD THREADS STEPS: the CPU training step on the main job's ViT (batch 128: the tape's forward and backward over
 * a kept workspace, global-norm clipping at 1, AdamW), as Trainer.fit stepped before its step moved into TrainingSteps
 * (which runs the same ops in the same order); prints the median ms of STEPS steps after 8. Compiles against jars since
 * 2026-12-01 (run.sh train).
 */
public class TrainStep {
    public static void main(String[] a) throws Exception {
        String method = a[0];
        CpuBackend.setThreads(Integer.parseInt(a[1]));
        int steps = Integer.parseInt(a[2]);
        try (Arena arena = Arena.ofShared(); Workspace ws = new Workspace()) {
            VisionTransformer vit = new VisionTransformer(arena, Pretraining.VIT, new SplittableRandom(1));
            if (method.equals("lora")) Lora.inject(vit, arena, Adaptation.Options.defaults().lora(), new SplittableRandom(2));
            AdamW opt = AdamW.of(arena, vit.namedParameters(), 0.01f, 1f);
            Tensor x = Tensor.zeros(arena, DType.F32, 128, 784), y = Tensor.zeros(arena, DType.I32, 128);
            for (int i = 0; i < 128 * 784; i++) x.setFloat(i, (float) (0.5 + 0.5 * Math.sin(i)));
            for (int i = 0; i < 128; i++) y.setInt(i, i % 10);
            for (int i = 0; i < 8; i++) step(vit, opt, x, y, ws);
            double[] t = new double[steps];
            for (int i = 0; i < steps; i++) {
                long t0 = System.nanoTime();
                step(vit, opt, x, y, ws);
                t[i] = (System.nanoTime() - t0) / 1e6;
            }
            Arrays.sort(t);
            System.out.printf("%s %s threads: median %.2f ms%n", method, a[1], t[steps / 2]);
        }
    }

    static void step(VisionTransformer vit, AdamW opt, Tensor x, Tensor y, Workspace ws) {
        try (Tape t = new Tape(CpuBackend.get(), true, true, ws)) {
            Var loss = t.crossEntropy(vit.logits(t, x, false), y, 0f);
            t.backward(loss);
        }
        GradClip.clipGlobalNorm(CpuBackend.get(), opt.parameters().values(), 1.0);
        opt.step(CpuBackend.get(), 1e-4f);
    }
}
