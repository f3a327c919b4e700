package org.tune4j.bench.peers;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import java.util.ArrayList;
import java.util.List;
import org.tune4j.bench.Measure;

/**
 * PyTorch's CPU engine through DJL, offline (the native libtorch comes from the pytorch-native-cpu jar
 * on the class path): {@code matmul} for the GEMM rows, and a LoRA layer's training step written the way
 * PEFT's {@code lora.Linear} computes it, {@code y = x Wᵀ + (x Aᵀ) Bᵀ · s}, differentiated by autograd
 * with W frozen (x, A and B require gradients).
 */
final class DjlPytorch {
    private DjlPytorch() {}

    static Engine engine() {
        System.setProperty("ai.djl.offline", "true");
        return Engine.getEngine("PyTorch");
    }

    static String label() {
        return "pytorch " + engine().getVersion() + " (DJL)";
    }

    /** Runs {@code work} with PyTorch's intra-op threads set to {@code threads}. */
    static void threads(int threads) {
        JniUtils.setNumThreads(threads);
    }

    static NDArray uniform(NDManager m, long... shape) {
        return m.randomUniform(-0.5f, 0.5f, new Shape(shape));
    }

    /** The GEMM peer, timed in alternation with tune4j's call on the same shape ({@link GemmPeer#alternate}). */
    public static final class Gemm implements GemmPeer {
        @Override
        public String name() {
            return label();
        }

        @Override
        public List<Result> measure(List<Shape> shapes, boolean quick, Ours ours) {
            List<Result> out = new ArrayList<>();
            String label;
            try {
                label = label() + " matmul";
            } catch (RuntimeException | LinkageError e) {
                for (int i = 0; i < shapes.size(); i++) out.add(new Result("pytorch (DJL)", null, "engine failed to load: " + e));
                return out;
            }
            for (GemmPeer.Shape s : shapes) {
                threads(s.threads());
                try (NDManager m = engine().newBaseManager(); GemmPeer.OursCall mine = ours.prepare(s)) {
                    NDArray a = s.transA() ? uniform(m, s.k(), s.m()) : uniform(m, s.m(), s.k());
                    NDArray b = s.transB() ? uniform(m, s.n(), s.k()) : uniform(m, s.k(), s.n());
                    // transposes as views made once (torch.mm hands their strides to BLAS as a transpose flag): a call is
                    // the product alone, as ours is
                    NDArray at = s.transA() ? a.transpose() : a, bt = s.transB() ? b.transpose() : b;
                    double[] ms = GemmPeer.alternate(s.threads(), quick, () -> {
                        try (NDArray c = at.matMul(bt)) {
                            c.getShape();
                        }
                    }, mine);
                    out.add(new Result(label, ms[0], null, ms[1]));
                } catch (RuntimeException e) {
                    out.add(new Result(label, null, e.toString()));
                }
            }
            return out;
        }
    }

    /** The LoRA step peer. */
    public static final class Lora implements LoraPeer {
        @Override
        public String name() {
            return label();
        }

        @Override
        public Result stepMs(int t, int dIn, int dOut, int r, int threads, boolean quick) {
            String label;
            try {
                label = label() + " LoRA step (autograd)";
            } catch (RuntimeException | LinkageError e) {
                return new Result("pytorch (DJL)", null, "engine failed to load: " + e);
            }
            threads(threads);
            float s = 2f;
            try (NDManager m = engine().newBaseManager()) {
                NDArray x = uniform(m, t, dIn), w = uniform(m, dOut, dIn), a = uniform(m, r, dIn), b = uniform(m, dOut, r);
                NDArray g = uniform(m, t, dOut);
                x.setRequiresGradient(true);
                a.setRequiresGradient(true);
                b.setRequiresGradient(true);
                double ms = Measure.standard(quick).medianMs(() -> {
                    try (GradientCollector gc = engine().newGradientCollector();
                            NDArray wt = w.transpose();
                            NDArray base = x.matMul(wt);
                            NDArray at = a.transpose();
                            NDArray h = x.matMul(at);
                            NDArray bt = b.transpose();
                            NDArray low = h.matMul(bt);
                            NDArray scaled = low.mul(s);
                            NDArray y = base.add(scaled);
                            NDArray yg = y.mul(g);
                            NDArray loss = yg.sum()) {
                        gc.backward(loss);
                    }
                });
                return new Result(label, ms, null);
            } catch (RuntimeException e) {
                return new Result(label, null, e.toString());
            }
        }
    }
}
