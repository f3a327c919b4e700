package org.tune4j.bench.peers;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.tune4j.bench.Measure;
import org.tune4j.bindings.NativeAccess;

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

    /** "pytorch 2.7.1 (DJL, MKL 2024.0 AVX-512 branch)": every PyTorch row says which of MKL's branches it ran. */
    static String label() {
        return "pytorch " + engine().getVersion() + " (DJL, " + mklBranch() + ")";
    }

    /** Runs {@code work} with PyTorch's intra-op threads set to {@code threads}. */
    static void threads(int threads) {
        JniUtils.setNumThreads(threads);
    }

    static NDArray uniform(NDManager m, long... shape) {
        return m.randomUniform(-0.5f, 0.5f, new Shape(shape));
    }

    /** PyTorch's {@code matmul} in a child JVM ({@link GemmChild}, timed in alternation with ours), MKL told or not. */
    private abstract static class MatMul implements GemmPeer {
        private final String name;
        private final boolean intelBranch;

        MatMul(String name, boolean intelBranch) {
            this.name = name;
            this.intelBranch = intelBranch;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public List<PeerResult> measure(List<Shape> shapes, boolean quick, Ours ours) {
            try {
                return GemmChild.measure(name + " matmul", DjlPytorch.class, MklIntelBranch.childEnvironment(intelBranch), shapes, quick);
            } catch (RuntimeException e) { // the shim is not in this build
                List<PeerResult> out = new ArrayList<>();
                for (int i = 0; i < shapes.size(); i++) out.add(PeerResult.failed(name, e.getMessage()));
                return out;
            }
        }
    }

    /** The GEMM peer as oneMKL picks its code branch on this CPU itself: on a CPU that is not Intel's, its generic one. */
    public static final class Gemm extends MatMul {
        public Gemm() {
            super("pytorch (DJL)", false);
        }
    }

    /**
     * The GEMM peer with oneMKL told that the CPU is Intel's ({@link MklIntelBranch}), so that it picks its branch by the
     * CPU's features on any vendor's CPU, as it does on Intel's: PyTorch at its best.
     */
    public static final class GemmIntelBranch extends MatMul {
        public GemmIntelBranch() {
            super("pytorch (DJL, MKL told the CPU is Intel's)", true);
        }
    }

    /** Child of both GEMM peers: labels its rows with PyTorch's version and MKL's branch, then times matmul. */
    public static void main(String[] args) {
        System.out.println("label=" + engine().getVersion() + ", " + mklBranch());
        GemmChild.run(args, s -> {
            threads(s.threads());
            NDManager m = engine().newBaseManager();
            NDArray a = s.transA() ? uniform(m, s.k(), s.m()) : uniform(m, s.m(), s.k());
            NDArray b = s.transB() ? uniform(m, s.n(), s.k()) : uniform(m, s.k(), s.n());
            // transposes as views made once (torch.mm hands their strides to BLAS as a transpose flag): a call is the
            // product alone, as ours is
            NDArray at = s.transA() ? a.transpose() : a, bt = s.transB() ? b.transpose() : b;
            return new GemmPeer.Call() {
                @Override
                public void run() {
                    try (NDArray c = at.matMul(bt)) {
                        c.getShape();
                    }
                }

                @Override
                public void close() {
                    m.close();
                }
            };
        });
    }

    /**
     * oneMKL's version and the processor branch it runs ("MKL 2024.0 AVX-512 branch"), read from the MKLVersion that
     * libtorch_cpu.so's copy of MKL fills in (mkl_serv_get_version: 3 ints, then ProductStatus, Build, Processor and
     * Platform strings); "MKL branch unknown" where that symbol is not there. Asked once a process (every row names it).
     */
    static String mklBranch() {
        return MklBranch.VALUE;
    }

    private static final class MklBranch {
        static final String VALUE = queryMklBranch();
    }

    private static String queryMklBranch() {
        Optional<SymbolLookup> torch = NativeAccess.openSystem("libtorch_cpu.so");
        if (torch.isEmpty() || !NativeAccess.exports(torch.get(), "mkl_serv_get_version")) return "MKL branch unknown";
        MethodHandle getVersion = NativeAccess.downcall(torch.get(), "mkl_serv_get_version", FunctionDescriptor.ofVoid(ValueLayout.ADDRESS), false);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(64, 8);
            getVersion.invokeExact(v);
            String processor = v.get(ValueLayout.ADDRESS, 32).reinterpret(256).getString(0);
            String branch = processor.contains("AVX-512") ? "AVX-512" : processor.contains("AVX2") ? "AVX2"
                    : processor.contains("AVX") ? "AVX" : processor.contains("Architecture processors") ? "generic" : processor;
            return "MKL " + v.get(ValueLayout.JAVA_INT, 0) + "." + v.get(ValueLayout.JAVA_INT, 4) + " " + branch + " branch";
        } catch (Throwable t) {
            return "MKL branch unknown (" + t + ")";
        }
    }

    /** The LoRA step peer. */
    public static final class Lora implements LoraPeer {
        @Override
        public String name() {
            return label();
        }

        @Override
        public PeerResult stepMs(int t, int dIn, int dOut, int r, int threads, boolean quick, Runnable ours) {
            String label;
            try {
                label = label() + " LoRA step (autograd)";
            } catch (RuntimeException | LinkageError e) {
                return PeerResult.failed("pytorch (DJL)", "engine failed to load: " + e);
            }
            threads(threads);
            float s = 2f;
            try (NDManager m = engine().newBaseManager()) {
                NDArray x = uniform(m, t, dIn), w = uniform(m, dOut, dIn), a = uniform(m, r, dIn), b = uniform(m, dOut, r);
                NDArray g = uniform(m, t, dOut);
                x.setRequiresGradient(true);
                a.setRequiresGradient(true);
                b.setRequiresGradient(true);
                Measure.Blocks blocks = Measure.alternatedCalls(threads, quick, () -> {
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
                }, ours);
                return PeerResult.of(label, blocks);
            } catch (RuntimeException e) {
                return PeerResult.failed(label, e.toString());
            }
        }
    }
}
