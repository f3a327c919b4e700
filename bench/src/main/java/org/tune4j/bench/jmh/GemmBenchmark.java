package org.tune4j.bench.jmh;

import java.lang.foreign.Arena;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.tune4j.backend.CpuBackend;
import org.tune4j.tensor.DType;
import org.tune4j.tensor.Tensor;

/**
 * f32 GEMM through {@link CpuBackend}, for researchers who prefer JMH's numbers. Score is ms per call;
 * GFLOP/s = 2·m·n·k / (score · 1e6). {@code tune4j bench gemm} measures the same shapes beside the
 * peers and the machine's peak.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@State(Scope.Benchmark)
public class GemmBenchmark {
    /** "m,n,k,trans" with trans one of NN, NT, TN. */
    @Param({"1024,1024,1024,NN", "128,4096,4096,NN", "512,1024,1024,NT", "512,1024,1024,NN", "512,1024,1024,TN"})
    public String shape;

    @Param({"1", "2"})
    public int threads;

    private Arena arena;
    private Tensor a, b, c;
    private boolean transA, transB;

    @Setup(Level.Trial)
    public void setUp() {
        String[] f = shape.split(",");
        int m = Integer.parseInt(f[0]), n = Integer.parseInt(f[1]), k = Integer.parseInt(f[2]);
        transA = f[3].charAt(0) == 'T';
        transB = f[3].charAt(1) == 'T';
        arena = Arena.ofShared();
        a = fill(Tensor.zeros(arena, DType.F32, transA ? k : m, transA ? m : k));
        b = fill(Tensor.zeros(arena, DType.F32, transB ? n : k, transB ? k : n));
        c = Tensor.zeros(arena, DType.F32, m, n);
        CpuBackend.setThreads(threads);
    }

    static Tensor fill(Tensor t) {
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, ((i * 7919) % 1000) / 1000f - 0.5f);
        return t;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public Tensor gemm() {
        CpuBackend.get().gemm(transA, transB, 1f, a, b, 0f, c);
        return c;
    }
}
