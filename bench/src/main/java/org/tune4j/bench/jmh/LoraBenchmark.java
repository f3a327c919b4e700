package org.tune4j.bench.jmh;

import static org.tune4j.bench.jmh.GemmBenchmark.fill;

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
 * A LoRA layer's training step (forward + backward, W frozen) and, as its yardstick, the frozen base
 * alone (y = x·Wᵀ and dx = G·W). T=512, d_in=d_out=1024, r=16 by default.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@State(Scope.Benchmark)
public class LoraBenchmark {
    @Param({"512"})
    public int t;

    @Param({"1024"})
    public int d;

    @Param({"16"})
    public int r;

    @Param({"1", "2"})
    public int threads;

    private Arena arena;
    private Tensor x, w, a, b, h, y, g, dx, da, db;

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        x = fill(Tensor.zeros(arena, DType.F32, t, d));
        w = fill(Tensor.zeros(arena, DType.F32, d, d));
        a = fill(Tensor.zeros(arena, DType.F32, r, d));
        b = fill(Tensor.zeros(arena, DType.F32, d, r));
        g = fill(Tensor.zeros(arena, DType.F32, t, d));
        h = Tensor.zeros(arena, DType.F32, t, r);
        y = Tensor.zeros(arena, DType.F32, t, d);
        dx = Tensor.zeros(arena, DType.F32, t, d);
        da = Tensor.zeros(arena, DType.F32, r, d);
        db = Tensor.zeros(arena, DType.F32, d, r);
        CpuBackend.setThreads(threads);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public Tensor loraStep() {
        CpuBackend.get().loraForward(x, null, w, null, a, b, 2f, h, y);
        CpuBackend.get().loraBackward(x, null, w, a, b, 2f, h, g, dx, da, db);
        return dx;
    }

    @Benchmark
    public Tensor frozenBaseStep() {
        CpuBackend.get().gemm(false, true, 1f, x, w, 0f, y);
        CpuBackend.get().gemm(false, false, 1f, g, w, 0f, dx);
        return dx;
    }
}
